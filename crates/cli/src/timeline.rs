//! A timeline of credential sets, hand-outs, errors and IMDS requests, drawn as SVG with
//! plotters: the picture in `credcycle conform`'s reports and `credcycle demo --timeline`.
//!
//! The renderer takes plain data ([`Timeline`]), in seconds since the start of the run, and
//! knows nothing about where it came from. The output depends only on the data: the same data
//! draws the same bytes.
//!
//! Rows, top to bottom: one bar per credential set (issue to `Expiration`, the refresh window
//! and the margin before expiry lighter, a revocation as a black tick), with the hand-outs of
//! that set as marks on its bar (red where the set had expired, orange where it had been
//! revoked); the lifecycle state as a band (when known); one strip per worker with its hand-outs
//! and refusals per second (when known); a row of errors the client surfaced (unless there are
//! strips and no errors); a row of IMDS requests coloured by outcome. Scripted faults are shaded
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
    /// When the client began refreshing it (the start of its refresh window), if known.
    pub(crate) refresh: Option<f64>,
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
    /// The lifecycle state over time (a band of labelled segments); empty: no band.
    pub(crate) states: Vec<Span>,
    /// Hand-outs and refusals per second, one strip per worker; empty: no strips.
    pub(crate) strips: Vec<Strip>,
}

/// What one worker got in one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) handouts: u32,
    pub(crate) refusals: u32,
    /// Hand-outs of a set that had expired when it was used (must be 0).
    pub(crate) expired: u32,
}

/// One worker's calls, counted per interval of `width` seconds from 0.
#[derive(Clone, Debug, Default)]
pub(crate) struct Strip {
    pub(crate) label: String,
    pub(crate) width: f64,
    pub(crate) cells: Vec<Cell>,
}

/// Where the time axis lies in the picture, in pixels: for pages that point into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The pixel column of second 0 and of the run's end.
    pub(crate) x0: i32,
    pub(crate) x1: i32,
    /// The picture's size.
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// One row of the picture, top to bottom.
enum Row {
    Set(usize),
    State,
    Strip(usize),
    Errors,
    Imds,
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
const REFRESH: RGBColor = RGBColor(130, 178, 222);
const NAVY: RGBColor = RGBColor(30, 60, 200);
const HANDOUT: RGBColor = RGBColor(70, 110, 170);
const REFUSED: RGBColor = RGBColor(235, 170, 40);

/// The colour of a request's outcome: green 200, blue not rotated (the same set again), grey
/// other 2xx-4xx, orange 401/404, red 5xx, purple no answer (timeouts, drops and resets).
fn outcome_colour(outcome: &str) -> RGBColor {
    match outcome {
        "200" => GREEN,
        "not rotated" => NAVY,
        "drop" | "reset" | "timeout" => PURPLE,
        s if s.starts_with('5') => RED,
        s if s == "404" || s == "401" => ORANGE,
        _ => GREY,
    }
}

/// The colour of a lifecycle state in the band.
fn state_colour(state: &str) -> RGBColor {
    match state {
        "Fresh" => RGBColor(150, 210, 150),
        "Refreshing" => RGBColor(190, 230, 205),
        "BackingOff" => RGBColor(245, 205, 120),
        "Unavailable" => RGBColor(240, 150, 140),
        "Detached" => RGBColor(175, 175, 175),
        "Discovering" | "Fetching" => RGBColor(195, 205, 240),
        _ => RGBColor(225, 225, 225),
    }
}

impl Timeline {
    /// The picture as an SVG document.
    ///
    /// # Errors
    ///
    /// A drawing error from plotters (none is expected for finite data), as text.
    pub(crate) fn to_svg(&self) -> Result<String, String> {
        self.to_svg_with_axis().map(|(svg, _)| svg)
    }

    /// The rows, top to bottom.
    fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = (0..self.sets.len()).map(Row::Set).collect();
        if !self.states.is_empty() {
            rows.push(Row::State);
        }
        rows.extend((0..self.strips.len()).map(Row::Strip));
        if self.strips.is_empty() || !self.errors.is_empty() {
            rows.push(Row::Errors);
        }
        rows.push(Row::Imds);
        rows
    }

    fn legend(&self) -> Vec<&'static str> {
        let mut lines = vec![
            "bars: set valid (dark) / refreshing (middle) / inside the margin (light) / black tick: revoked;  \
             dots: hand-outs (red: expired or revoked, orange: inside the margin);  x: errors;  shaded: scripted events",
            "IMDS ticks: green 200, blue not rotated (the same set again), orange 401/404, red 5xx, purple no answer (timeout, drop, reset), grey other",
        ];
        if !self.strips.is_empty() {
            lines.push(
                "workers: calls per second, stacked: hand-outs (blue), refusals (amber), uses of an expired set (red, must never appear)",
            );
        }
        lines
    }

    /// The picture as an SVG document, and where its time axis lies.
    ///
    /// # Errors
    ///
    /// As [`to_svg`](Self::to_svg).
    pub(crate) fn to_svg_with_axis(&self) -> Result<(String, Axis), String> {
        let rows = self.rows();
        let legend = u32::try_from(self.legend().len()).unwrap_or(3);
        let headroom = if self.spans.is_empty() { 0 } else { ROW / 2 };
        let height = FIXED
            .saturating_add(14 * legend)
            .saturating_add(headroom)
            .saturating_add(ROW.saturating_mul(u32::try_from(rows.len()).unwrap_or(u32::MAX)));
        let length = if self.length.is_finite() && self.length > 0.0 {
            self.length
        } else {
            1.0
        };
        let mut svg = String::new();
        let axis;
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            let (x0, x1) = self.draw(&root, &rows, length).map_err(|e| e.to_string())?;
            axis = Axis {
                x0,
                x1,
                width: WIDTH,
                height,
            };
            root.present().map_err(|e| e.to_string())?;
        }
        Ok((svg, axis))
    }

    #[allow(clippy::too_many_lines, reason = "one row kind after the other")]
    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        rows: &[Row],
        length: f64,
    ) -> Result<(i32, i32), DrawingAreaErrorKind<std::io::Error>> {
        root.fill(&WHITE)?;
        let labels: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Row::Set(i) => self.sets[*i].label.clone(),
                Row::State => "state".to_owned(),
                Row::Strip(i) => self.strips[*i].label.clone(),
                Row::Errors => "errors".to_owned(),
                Row::Imds => "IMDS".to_owned(),
            })
            .collect();
        let n = rows.len();
        // Half a row of headroom above the top row, for the names of the scripted events.
        let top = n as f64 - 0.5 + if self.spans.is_empty() { 0.0 } else { 0.5 };
        let label_width = labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .saturating_mul(7)
            .saturating_add(16);
        let label_width = u32::try_from(label_width).unwrap_or(110).clamp(110, 240);
        let legend = self.legend();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .margin_bottom(10 + 14 * i32::try_from(legend.len()).unwrap_or(3))
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..length, -0.5f64..top)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("seconds since the start")
            // The rows are named below, one label each, whatever ticks plotters would choose.
            .y_label_formatter(&|_| String::new())
            .draw()?;
        // The y of the row at `from_top` (0: the top row).
        let y_of = |from_top: usize| (n - 1 - from_top) as f64;
        for (from_top, label) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, y_of(from_top)));
            root.draw(&Text::new(
                label.clone(),
                (x - 6, y),
                TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(HPos::Right, VPos::Center))
                    .color(&BLACK),
            ))?;
        }
        let find = |want: &dyn Fn(&Row) -> bool| rows.iter().position(want).map_or(0.0, y_of);
        let errors_row = find(&|r| matches!(r, Row::Errors));
        let imds_row = find(&|r| matches!(r, Row::Imds));
        let row_of_set = |i: usize| find(&|r| matches!(r, Row::Set(j) if *j == i));
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
                format!(" {}", span.label),
                (from, top),
                style,
            )))?;
        }

        // Sets: validity, then the refresh window, then the margin before expiry, then a
        // revocation tick.
        for (i, set) in self.sets.iter().enumerate() {
            let y = row_of_set(i);
            let (issued, expires) = (clamp(set.issued), clamp(set.expires));
            let usable = clamp(set.expires - set.margin).max(issued);
            let refresh = set
                .refresh
                .map_or(usable, |r| clamp(r).clamp(issued, usable));
            for (from, until, colour) in [
                (issued, refresh, SET),
                (refresh, usable, REFRESH),
                (usable, expires, MARGIN),
            ] {
                if until > from {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(from, y - 0.3), (until, y + 0.3)],
                        colour.filled(),
                    )))?;
                }
            }
            if let Some(revoked) = set.revoked {
                let r = clamp(revoked);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(r, y - 0.45), (r, y + 0.45)],
                    BLACK.stroke_width(3),
                )))?;
            }
        }

        // The lifecycle state, as labelled segments.
        if let Some(from_top) = rows.iter().position(|r| matches!(r, Row::State)) {
            let y = y_of(from_top);
            for s in &self.states {
                let (from, until) = (clamp(s.from), clamp(s.until));
                if until <= from {
                    continue;
                }
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(from, y - 0.4), (until, y + 0.4)],
                    state_colour(&s.label).filled(),
                )))?;
                let px = chart.backend_coord(&(until, y)).0 - chart.backend_coord(&(from, y)).0;
                let fits = usize::try_from(px).unwrap_or(0) > s.label.len() * 6 + 4;
                if fits {
                    let style = TextStyle::from(("sans-serif", 10).into_font())
                        .pos(Pos::new(HPos::Left, VPos::Center))
                        .color(&BLACK);
                    chart.draw_series(std::iter::once(Text::new(
                        format!(" {}", s.label),
                        (from, y),
                        style,
                    )))?;
                }
            }
        }

        // Workers: calls per interval, stacked (hand-outs, refusals, expired uses).
        let most = self
            .strips
            .iter()
            .flat_map(|s| &s.cells)
            .map(|c| c.handouts + c.refusals + c.expired)
            .max()
            .unwrap_or(0)
            .max(1);
        for (i, strip) in self.strips.iter().enumerate() {
            let y = find(&|r| matches!(r, Row::Strip(j) if *j == i));
            let bottom = y - 0.4;
            let scale = 0.8 / f64::from(most);
            for (j, cell) in strip.cells.iter().enumerate() {
                let (from, until) = (
                    clamp(j as f64 * strip.width),
                    clamp((j + 1) as f64 * strip.width),
                );
                let mut level = bottom;
                for (count, colour) in [
                    (cell.handouts, HANDOUT),
                    (cell.refusals, REFUSED),
                    (cell.expired, RED),
                ] {
                    if count == 0 || until <= from {
                        continue;
                    }
                    let next = level + f64::from(count) * scale;
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(from, level), (until, next)],
                        colour.filled(),
                    )))?;
                    level = next;
                }
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
                outcome_colour(&r.outcome).stroke_width(2),
            )
        }))?;

        // The legend, as lines of text under the chart.
        let bottom = i32::try_from(root.dim_in_pixel().1).unwrap_or(0);
        for (k, line) in legend.iter().enumerate() {
            let k = i32::try_from(legend.len() - k).unwrap_or(1);
            root.draw(&Text::new(
                *line,
                (10, bottom - 14 * k + 2),
                ("sans-serif", 10).into_font().color(&GREY),
            ))?;
        }
        let x0 = chart.backend_coord(&(0.0, 0.0)).0;
        let x1 = chart.backend_coord(&(length, 0.0)).0;
        Ok((x0, x1))
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
                    refresh: Some(30.0),
                },
                SetBar {
                    label: "…BBBB".to_owned(),
                    issued: 40.0,
                    expires: 100.0,
                    margin: 10.0,
                    revoked: Some(80.0),
                    refresh: None,
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
            ..Timeline::default()
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
    fn draws_the_state_band_and_the_worker_strips() {
        let mut t = sample();
        t.states = vec![
            Span {
                from: 0.0,
                until: 50.0,
                label: "Fresh".to_owned(),
            },
            Span {
                from: 50.0,
                until: 100.0,
                label: "BackingOff".to_owned(),
            },
        ];
        let cell = |handouts, refusals, expired| Cell {
            handouts,
            refusals,
            expired,
        };
        t.strips = vec![Strip {
            label: "worker 1".to_owned(),
            width: 50.0,
            cells: vec![cell(20, 0, 0), cell(5, 15, 0)],
        }];
        let (svg, axis) = t.to_svg_with_axis().unwrap();
        assert!(
            svg.contains("\nerrors\n"),
            "the sample has errors: the row stays"
        );
        assert!(svg.contains("\nstate\n") && svg.contains("\nworker 1\n"));
        assert!(svg.contains("Fresh") && svg.contains("BackingOff"));
        // Hand-outs blue, refusals amber; no expired use, so no red but the 500's tick and
        // the sample's expired hand-out.
        assert!(svg.contains("#466EAA") && svg.contains("#EBAA28"));
        assert!(axis.x0 < axis.x1 && axis.x1 <= i32::try_from(axis.width).unwrap());
        // With strips and no errors, the errors row is left out.
        let no_errors = Timeline {
            errors: Vec::new(),
            ..t
        };
        assert!(!no_errors.to_svg().unwrap().contains("\nerrors\n"));
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
