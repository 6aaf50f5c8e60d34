//! The report: `report.json` (everything), `report.md` (tables), one SVG timeline per
//! scenario.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use credcycle_clock::SystemClock;
use serde::Serialize;

use super::judge::{Judgement, Metrics, event_label};
use super::run::{Line, Run};
use crate::Failure;
use crate::timeline::{HandOut, Judged, Request, SetBar, Span, Timeline};

#[derive(Serialize)]
struct JsonReport<'a> {
    client: &'a str,
    margin: f64,
    when: String,
    scenarios: Vec<JsonScenario<'a>>,
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    #[serde(flatten)]
    judgement: &'a Judgement,
    run: &'a Run,
}

/// Writes the report into `out`; returns the summary table (Markdown).
pub(crate) fn write(
    out: &Path,
    client: &str,
    margin: f64,
    judged: &[(Run, Judgement)],
) -> Result<String, Failure> {
    let when = SystemClock::new().now().wall.to_string();
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))
    };
    let json = JsonReport {
        client,
        margin,
        when: when.clone(),
        scenarios: judged
            .iter()
            .map(|(run, judgement)| JsonScenario { judgement, run })
            .collect(),
    };
    let json = serde_json::to_string_pretty(&json).map_err(|e| Failure(e.to_string()))?;
    write("report.json", &json)?;

    let summary = summary(judged);
    let mut md = String::new();
    let _ = writeln!(md, "# credcycle conform: `{client}`\n");
    let _ = writeln!(
        md,
        "Run at {when}. Margin {margin} s: a hand-out of a valid set with less left is counted \
         as inside the margin. Times are seconds since the scenario started.\n"
    );
    md.push_str(&summary);
    for (run, j) in judged {
        let _ = writeln!(md, "\n## {}\n", run.name);
        if !run.description.is_empty() {
            let _ = writeln!(md, "{}\n", run.description);
        }
        let _ = writeln!(
            md,
            "Sets live {} s, rotated {} s before expiry; the run lasts {} s; {} set(s) issued.\n",
            run.lifetime,
            run.rotate_before,
            run.length,
            run.sets.len()
        );
        if j.verdicts.is_empty() {
            md.push_str("Client: ran as the contract asks.\n\n");
        } else {
            for v in &j.verdicts {
                let _ = writeln!(md, "- **client:** {}", v.replace('|', "\\|"));
            }
            md.push('\n');
        }
        for r in &j.recoveries {
            let after = r
                .after
                .map_or_else(|| "never".to_owned(), |a| format!("{a:.1} s"));
            let _ = writeln!(
                md,
                "- recovery after {} (ended at {:.0} s): {after}",
                r.fault, r.ended
            );
        }
        if !j.recoveries.is_empty() {
            md.push('\n');
        }
        md.push_str(&phase_table(&j.phases));
        let svg = format!("{}.svg", run.name);
        let _ = writeln!(md, "\n![timeline of {}]({svg})", run.name);
        let svg_text = timeline(run, margin, client)
            .to_svg()
            .map_err(|e| Failure(format!("timeline of {}: {e}", run.name)))?;
        write(&svg, &svg_text)?;
    }
    write("report.md", &md)?;
    Ok(summary)
}

fn summary(judged: &[(Run, Judgement)]) -> String {
    let mut md = String::from(
        "| scenario | hand-outs | expired | expired % | max s past expiry | inside margin | revoked | errors | IMDS req/min | recovery | longest gap s | client |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n",
    );
    for (run, j) in judged {
        let t = &j.total;
        let recovery = if j.recoveries.is_empty() {
            "-".to_owned()
        } else {
            j.recoveries
                .iter()
                .map(|r| {
                    r.after
                        .map_or_else(|| "never".to_owned(), |a| format!("{a:.1} s"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let client = if j.client_ok && j.verdicts.is_empty() {
            "ok"
        } else if j.client_ok {
            "see below"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {recovery} | {:.1} | {client} |",
            run.name,
            t.handouts,
            t.expired,
            t.expired_pct,
            t.max_past_expiry,
            t.inside_margin,
            t.revoked,
            t.errors,
            t.imds_requests_per_minute,
            t.longest_gap,
        );
    }
    md
}

fn phase_table(phases: &[Metrics]) -> String {
    let mut md = String::from(
        "| phase | hand-outs | expired | max s past expiry | inside margin | revoked | errors | IMDS req/min | longest gap s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in phases {
        let _ = writeln!(
            md,
            "| {:.0}-{:.0} s: {} | {} | {} | {:.1} | {} | {} | {} | {:.1} | {:.1} |",
            p.from,
            p.until,
            p.label,
            p.handouts,
            p.expired,
            p.max_past_expiry,
            p.inside_margin,
            p.revoked,
            p.errors,
            p.imds_requests_per_minute,
            p.longest_gap
        );
    }
    md
}

/// Seconds since the start of an IMDS timestamp.
fn secs(run: &Run, stamp: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|d| (d.timestamp_millis() - run.start_unix_ms) as f64 / 1000.0)
}

/// The picture of one run.
pub(crate) fn timeline(run: &Run, margin: f64, client: &str) -> Timeline {
    let mut index = BTreeMap::new();
    let mut sets = Vec::new();
    for s in &run.sets {
        let (Some(issued), Some(expires)) = (secs(run, &s.issued_at), secs(run, &s.expiration))
        else {
            continue;
        };
        index.insert(s.access_key_id.clone(), sets.len());
        let tail: String = s
            .access_key_id
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        sets.push(SetBar {
            label: format!("…{tail} {}", s.role.trim_start_matches("credcycle-sim-")),
            issued,
            expires,
            margin,
            revoked: s.revoked_at.as_deref().and_then(|r| secs(run, r)),
            refresh: None,
        });
    }
    let mut handouts = Vec::new();
    let mut errors = Vec::new();
    for line in &run.lines {
        match line {
            Line::HandOut(h) => handouts.push(HandOut {
                at: h.at,
                set: index.get(&h.access_key_id).copied(),
                judged: if h.expired {
                    Judged::Expired
                } else if h.revoked || !h.known {
                    Judged::Revoked
                } else if h.left < margin {
                    Judged::InsideMargin
                } else {
                    Judged::Valid
                },
            }),
            Line::Error { at, .. } | Line::Garbage { at, .. } => errors.push(*at),
        }
    }
    let spans = run
        .events
        .iter()
        .map(|e| {
            let from = e.at().as_secs_f64();
            let until = if e.is_instant() {
                from
            } else {
                e.duration().map_or(run.length, |d| from + d.as_secs_f64())
            };
            Span {
                from,
                until,
                label: event_label(e),
            }
        })
        .collect();
    Timeline {
        title: format!("{}: {client}", run.name),
        length: run.length,
        sets,
        handouts,
        errors,
        requests: run
            .requests
            .iter()
            .map(|r| Request {
                at: r.at_ms as f64 / 1000.0,
                outcome: r.outcome.clone(),
            })
            .collect(),
        spans,
        ..Timeline::default()
    }
}
