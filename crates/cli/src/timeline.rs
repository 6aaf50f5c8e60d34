//! A timeline of credential sets, hand-outs, errors and IMDS requests, drawn as SVG with
//! plotters: the picture in `credcycle conform`'s reports (and meant for `demo --timeline`).
//!
//! The renderer takes plain data ([`Timeline`]), in seconds since the start of the run, and
//! knows nothing about where it came from. The output depends only on the data: the same data
//! draws the same bytes.
//!
//! Rows, top to bottom: one bar per credential set (issue to `Expiration`, the margin before
//! expiry lighter, a revocation as a black tick), with the hand-outs of that set as marks on its
//! bar (red where the set had expired, orange where it had been revoked); a row of errors the
//! client surfaced; a row of IMDS requests coloured by status. Scripted faults are shaded
//! across every row and named at the top.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One credential set: when it was issued and when it expires, in seconds since the start.
#[derive(Clone, Debug)]
pub(crate) struct SetBar {
    /// A short label (the access key id's last characters).
    pub(crate) label: String,
    pub(crate) issued: f64,
    pub(crate) expires: f64,
    /// The margin before `expires` inside which a careful client no longer hands the set out.
    pub(crate) margin: f64,
    /// When its role was removed or changed, if it was.
    pub(crate) revoked: Option<f64>,
}

/// How a hand-out was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    Valid,
    InsideMargin,
    Expired,
    Revoked,
}

/// One hand-out of set number `set` (an index into [`Timeline::sets`]; `None` for a key the
/// simulator never issued).
#[derive(Clone, Debug)]
pub(crate) struct HandOut {
    pub(crate) at: f64,
    pub(crate) set: Option<usize>,
    pub(crate) judged: Judged,
}

/// One IMDS request and how it ended (`200`, `404`, `500`, `drop`, `reset`...).
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) at: f64,
    pub(crate) outcome: String,
}

/// A shaded span (a scripted fault window), or an instant (a role change) when `until ==
/// from`.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) from: f64,
    pub(crate) until: f64,
    pub(crate) label: String,
}

/// Everything one picture shows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    pub(crate) title: String,
    /// The run's length in seconds (the x axis).
    pub(crate) length: f64,
    pub(crate) sets: Vec<SetBar>,
    pub(crate) handouts: Vec<HandOut>,
    /// When the client surfaced an error.
    pub(crate) errors: Vec<f64>,
    pub(crate) requests: Vec<Request>,
    pub(crate) spans: Vec<Span>,
}

const WIDTH: u32 = 1000;
const ROW: u32 = 26;
const FIXED: u32 = 130;

const SET: RGBColor = RGBColor(86, 140, 200);
const MARGIN: RGBColor = RGBColor(180, 205, 235);
const SHADE: RGBColor = RGBColor(250, 226, 200);
const GREEN: RGBColor = RGBColor(40, 150, 60);
const ORANGE: RGBColor = RGBColor(230, 130, 0);
const GREY: RGBColor = RGBColor(120, 120, 120);
const PURPLE: RGBColor = RGBColor(140, 60, 170);

/// The colour of a request's outcome: green 200, grey other 2xx-4xx, red 5xx, purple drops
/// and resets.
fn outcome_colour(outcome: &str) -> RGBColor {
    match outcome {
        "200" => GREEN,
        "drop" | "reset" => PURPLE,
        s if s.starts_with('5') => RED,
        s if s == "404" || s == "401" => ORANGE,
        _ => GREY,
    }
}

impl Timeline {
    /// The picture as an SVG document.
    ///
    /// # Errors
    ///
    /// A drawing error from plotters (none is expected for finite data), as text.
    pub(crate) fn to_svg(&self) -> Result<String, String> {
        let rows = self.sets.len() + 2;
        let height =
            FIXED.saturating_add(ROW.saturating_mul(u32::try_from(rows).unwrap_or(u32::MAX)));
        let length = if self.length.is_finite() && self.length > 0.0 {
            self.length
        } else {
            1.0
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            self.draw(&root, rows, length).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        rows: usize,
        length: f64,
    ) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
        root.fill(&WHITE)?;
        let labels: Vec<String> = self
            .sets
            .iter()
            .map(|s| s.label.clone())
            .chain(["errors".to_owned(), "IMDS".to_owned()])
            .collect();
        let top = rows as f64 - 0.5;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..length, -0.5f64..top)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("seconds since the start")
            .y_labels(rows)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                // Row 0 is at the bottom: IMDS, then errors, then the sets (first set on top).
                let from_top = rows.saturating_sub(1).saturating_sub(i as usize);
                labels.get(from_top).cloned().unwrap_or_default()
            })
            .draw()?;
        let row_of_set = |i: usize| (rows - 1 - i) as f64;
        let (errors_row, imds_row) = (1.0, 0.0);
        let clamp = |t: f64| t.clamp(0.0, length);

        // Fault windows, shaded across every row, named at the top.
        for span in &self.spans {
            let (from, until) = (clamp(span.from), clamp(span.until));
            if until > from {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(from, -0.5), (until, top)],
                    SHADE.filled(),
                )))?;
            } else {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(from, -0.5), (from, top)],
                    BLACK.stroke_width(1),
                )))?;
            }
            let style = TextStyle::from(("sans-serif", 11).into_font())
                .pos(Pos::new(HPos::Left, VPos::Top))
                .color(&BLACK);
            chart.draw_series(std::iter::once(Text::new(
                span.label.clone(),
                (from, top),
                style,
            )))?;
        }

        // Sets: validity, then the margin before expiry, then a revocation tick.
        for (i, set) in self.sets.iter().enumerate() {
            let y = row_of_set(i);
            let (issued, expires) = (clamp(set.issued), clamp(set.expires));
            let usable = clamp(set.expires - set.margin).max(issued);
            if usable > issued {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(issued, y - 0.3), (usable, y + 0.3)],
                    SET.filled(),
                )))?;
            }
            if expires > usable {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(usable, y - 0.3), (expires, y + 0.3)],
                    MARGIN.filled(),
                )))?;
            }
            if let Some(revoked) = set.revoked {
                let r = clamp(revoked);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(r, y - 0.45), (r, y + 0.45)],
                    BLACK.stroke_width(3),
                )))?;
            }
        }

        // Hand-outs on their set's row (unknown keys on the errors row), coloured by judgement.
        chart.draw_series(self.handouts.iter().map(|h| {
            let y = h.set.map_or(errors_row, row_of_set);
            let colour = match h.judged {
                Judged::Valid => BLACK,
                Judged::InsideMargin => ORANGE,
                Judged::Expired | Judged::Revoked => RED,
            };
            let size = if h.judged == Judged::Valid { 2 } else { 3 };
            Circle::new((clamp(h.at), y), size, colour.filled())
        }))?;

        // Errors surfaced to the caller.
        chart.draw_series(
            self.errors
                .iter()
                .map(|&t| Cross::new((clamp(t), errors_row), 3, RED.stroke_width(1))),
        )?;

        // IMDS requests, one tick each.
        chart.draw_series(self.requests.iter().map(|r| {
            let t = clamp(r.at);
            PathElement::new(
                vec![(t, imds_row - 0.35), (t, imds_row + 0.35)],
                outcome_colour(&r.outcome).stroke_width(1),
            )
        }))?;

        // The legend, as a line of text under the chart.
        let legend = "bars: set valid (dark) / inside the margin (light) / black tick: revoked;  \
             dots: hand-outs (red: expired or revoked, orange: inside the margin);  \
             x: errors;  IMDS ticks: green 200, orange 401/404, red 5xx, purple no answer, grey other;  \
             shaded: scripted faults";
        root.draw(&Text::new(
            legend,
            (10, i32::try_from(root.dim_in_pixel().1).unwrap_or(0) - 12),
            ("sans-serif", 10).into_font().color(&GREY),
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        Timeline {
            title: "sample".to_owned(),
            length: 100.0,
            sets: vec![
                SetBar {
                    label: "…AAAA".to_owned(),
                    issued: 0.0,
                    expires: 60.0,
                    margin: 10.0,
                    revoked: None,
                },
                SetBar {
                    label: "…BBBB".to_owned(),
                    issued: 40.0,
                    expires: 100.0,
                    margin: 10.0,
                    revoked: Some(80.0),
                },
            ],
            handouts: vec![
                HandOut {
                    at: 1.0,
                    set: Some(0),
                    judged: Judged::Valid,
                },
                HandOut {
                    at: 61.0,
                    set: Some(0),
                    judged: Judged::Expired,
                },
            ],
            errors: vec![70.0],
            requests: vec![
                Request {
                    at: 0.5,
                    outcome: "200".to_owned(),
                },
                Request {
                    at: 30.0,
                    outcome: "500".to_owned(),
                },
            ],
            spans: vec![Span {
                from: 20.0,
                until: 50.0,
                label: "outage (500)".to_owned(),
            }],
        }
    }

    #[test]
    fn draws_every_element_and_is_deterministic() {
        let svg = sample().to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("outage (500)"));
        assert!(svg.contains("…AAAA") && svg.contains("…BBBB"));
        assert!(svg.contains("errors") && svg.contains("IMDS"));
        // The expired hand-out and the 500 are red; the 200 is green.
        assert!(svg.contains("#FF0000"), "no red in the picture");
        assert!(svg.contains("#28963C"), "no green request tick");
        assert_eq!(svg, sample().to_svg().unwrap());
    }

    #[test]
    fn empty_or_degenerate_data_still_draws() {
        let t = Timeline {
            length: f64::NAN,
            ..Timeline::default()
        };
        assert!(t.to_svg().unwrap().starts_with("<svg"));
    }
}
