//! The figures of a run: per scenario and per phase (the spans between scripted events).

use credcycle_sim::{Event, Fault, OutageMode};
use serde::Serialize;

use super::run::{HandOut, Line, Run};

/// The figures of one span of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Metrics {
    /// Seconds since the start.
    pub(crate) from: f64,
    pub(crate) until: f64,
    /// What was going on (`no fault`, `outage (http 500)`, `after detach`...).
    pub(crate) label: String,
    pub(crate) handouts: u64,
    pub(crate) expired: u64,
    /// Expired hand-outs, percent of hand-outs.
    pub(crate) expired_pct: f64,
    /// How far past expiry the worst expired hand-out was, in seconds.
    pub(crate) max_past_expiry: f64,
    /// Hand-outs of a valid set with less than the margin left.
    pub(crate) inside_margin: u64,
    /// Hand-outs of a set whose role had been removed or changed.
    pub(crate) revoked: u64,
    /// Hand-outs of a key the simulator never issued.
    pub(crate) unknown: u64,
    pub(crate) errors: u64,
    pub(crate) garbage: u64,
    pub(crate) imds_requests: u64,
    pub(crate) imds_requests_per_minute: f64,
    /// The longest time without a valid hand-out (after the first one), in seconds.
    pub(crate) longest_gap: f64,
}

/// How long after a fault window ended the client handed out valid credentials again.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Recovery {
    pub(crate) fault: String,
    /// When the window ended, seconds since the start.
    pub(crate) ended: f64,
    /// Seconds from the end to the first valid hand-out; `None` if none came.
    pub(crate) after: Option<f64>,
}

/// A scenario's figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Judgement {
    pub(crate) total: Metrics,
    pub(crate) phases: Vec<Metrics>,
    pub(crate) recoveries: Vec<Recovery>,
    /// Problems with the client itself (it exited, hung, printed garbage...), one line each.
    pub(crate) verdicts: Vec<String>,
    /// Whether the client ran as the contract asks (a run that proves something).
    pub(crate) client_ok: bool,
}

/// A hand-out that was fine to use: issued, unexpired, not revoked.
fn valid(h: &HandOut) -> bool {
    h.known && !h.expired && !h.revoked
}

/// A label for a scripted event.
pub(crate) fn event_label(e: &Event) -> String {
    match e.fault() {
        Fault::Outage(OutageMode::Http { status, .. }) => format!("outage (http {status})"),
        Fault::Outage(OutageMode::Timeout) => "outage (timeouts)".to_owned(),
        Fault::Outage(OutageMode::Reset) => "outage (resets)".to_owned(),
        Fault::Outage(_) => "outage".to_owned(),
        Fault::Malformed(m) => format!("malformed ({})", m.as_str()),
        Fault::Delay(d) => format!("slow ({} s)", d.as_secs_f64()),
        Fault::Throttle { per_second } => format!("throttled ({per_second}/s)"),
        Fault::Expired { by } => format!("expired sets ({} s)", by.as_secs_f64()),
        Fault::Attach(role) => format!("attach {}", role.as_str()),
        Fault::Change(role) => format!("role → {}", role.as_str()),
        other => other.kind().to_owned(),
    }
}

/// The figures of `run`, with `margin` seconds as the margin.
pub(crate) fn judge(run: &Run, margin: f64, interval: f64) -> Judgement {
    let length = run.length;
    // Phase boundaries: every event's start and end inside the run.
    let mut bounds = vec![0.0, length];
    for e in &run.events {
        let at = e.at().as_secs_f64();
        bounds.push(at);
        if let Some(d) = e.duration() {
            bounds.push(at + d.as_secs_f64());
        }
    }
    bounds.retain(|b| (0.0..=length).contains(b));
    bounds.sort_by(f64::total_cmp);
    bounds.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let phases = bounds
        .windows(2)
        .map(|w| {
            let (from, until) = (w[0], w[1]);
            let active: Vec<String> = run
                .events
                .iter()
                .filter(|e| {
                    let at = e.at().as_secs_f64();
                    match (e.is_instant(), e.duration()) {
                        (true, _) => false,
                        (false, Some(d)) => at <= from && until <= at + d.as_secs_f64(),
                        (false, None) => at <= from,
                    }
                })
                .map(event_label)
                .collect();
            let after: Vec<String> = run
                .events
                .iter()
                .filter(|e| e.is_instant() && (e.at().as_secs_f64() - from).abs() < 1e-9)
                .map(|e| format!("after {}", event_label(e)))
                .collect();
            let mut label: Vec<String> = after.into_iter().chain(active).collect();
            if label.is_empty() {
                label.push("no fault".to_owned());
            }
            metrics(run, from, until, &label.join(", "), margin)
        })
        .collect();
    let total = metrics(run, 0.0, length, "whole run", margin);

    let handouts: Vec<&HandOut> = handouts(run).collect();
    let recoveries = run
        .events
        .iter()
        .filter_map(|e| {
            let ended = e.at().as_secs_f64() + e.duration()?.as_secs_f64();
            // A fault that another window continues has not ended yet.
            let continued = run.events.iter().any(|o| {
                let at = o.at().as_secs_f64();
                !o.is_instant()
                    && at <= ended
                    && o.duration().is_none_or(|d| ended < at + d.as_secs_f64())
            });
            (ended < length && !continued).then(|| Recovery {
                fault: event_label(e),
                ended,
                after: handouts
                    .iter()
                    .find(|h| h.at >= ended && valid(h))
                    .map(|h| h.at - ended),
            })
        })
        .collect();

    let (verdicts, client_ok) = verdicts(run, &total, interval);
    Judgement {
        total,
        phases,
        recoveries,
        verdicts,
        client_ok,
    }
}

fn handouts(run: &Run) -> impl Iterator<Item = &HandOut> {
    run.lines.iter().filter_map(|l| match l {
        Line::HandOut(h) => Some(h),
        _ => None,
    })
}

fn metrics(run: &Run, from: f64, until: f64, label: &str, margin: f64) -> Metrics {
    let inside = |at: f64| at >= from && (at < until || (until >= run.length && at <= until));
    let mut m = Metrics {
        from,
        until,
        label: label.to_owned(),
        ..Metrics::default()
    };
    for line in &run.lines {
        match line {
            Line::HandOut(h) if inside(h.at) => {
                m.handouts += 1;
                if !h.known {
                    m.unknown += 1;
                } else if h.expired {
                    m.expired += 1;
                    m.max_past_expiry = m.max_past_expiry.max(-h.left);
                } else if h.left < margin {
                    m.inside_margin += 1;
                }
                if h.revoked {
                    m.revoked += 1;
                }
            }
            Line::Error { at, .. } if inside(*at) => m.errors += 1,
            Line::Garbage { at, .. } if inside(*at) => m.garbage += 1,
            _ => {}
        }
    }
    if m.handouts > 0 {
        m.expired_pct = 100.0 * m.expired as f64 / m.handouts as f64;
    }
    m.imds_requests = run
        .requests
        .iter()
        .filter(|r| inside(r.at_ms as f64 / 1000.0))
        .count() as u64;
    let span = until - from;
    if span > 0.0 {
        m.imds_requests_per_minute = m.imds_requests as f64 * 60.0 / span;
    }
    // The longest time without a valid hand-out, counted from the first valid one of the run.
    let valid_times: Vec<f64> = handouts(run).filter(|h| valid(h)).map(|h| h.at).collect();
    m.longest_gap = match valid_times.first() {
        None => span,
        Some(&first) => {
            let start = from.max(first);
            if start >= until {
                0.0
            } else {
                let mut last = start;
                let mut gap: f64 = 0.0;
                for &t in valid_times.iter().filter(|&&t| t >= start && t <= until) {
                    gap = gap.max(t - last);
                    last = t;
                }
                gap.max(until - last)
            }
        }
    };
    m
}

fn verdicts(run: &Run, total: &Metrics, interval: f64) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut ok = true;
    let stderr = run
        .client
        .last_stderr
        .clone()
        .unwrap_or_else(|| "(nothing on stderr)".to_owned());
    if let Some(e) = &run.client.start_error {
        out.push(e.clone());
        return (out, false);
    }
    if let Some((how, at)) = &run.client.early_exit {
        out.push(format!("client {how} after {at:.0} s: {stderr}"));
        ok = false;
    }
    if run.requests.is_empty() {
        out.push("client never asked IMDS".to_owned());
        ok = false;
    }
    if run.lines.is_empty() {
        out.push(format!(
            "client printed nothing in {:.0} s (last stderr: {stderr})",
            run.length
        ));
        ok = false;
    } else if total.garbage > 0 {
        let first = run.lines.iter().find_map(|l| match l {
            Line::Garbage { at, text } => Some((at, text)),
            _ => None,
        });
        if let Some((at, text)) = first {
            out.push(format!(
                "client printed {} line(s) that are not the contract's JSON; the first, at {at:.1} s: {text:?}",
                total.garbage
            ));
        }
        if total.handouts == 0 && total.errors == 0 {
            ok = false;
        }
    }
    if total.unknown > 0 {
        out.push(format!(
            "client handed out {} key(s) the simulator never issued",
            total.unknown
        ));
        ok = false;
    }
    if run.client.early_exit.is_none() {
        let last = run
            .lines
            .iter()
            .map(|l| match l {
                Line::HandOut(h) => h.at,
                Line::Error { at, .. } | Line::Garbage { at, .. } => *at,
            })
            .fold(None, |acc: Option<f64>, t| {
                Some(acc.map_or(t, |a| a.max(t)))
            });
        let silent_for = run.length - last.unwrap_or(0.0);
        if last.is_some() && silent_for > (20.0 * interval).max(5.0) {
            out.push(format!(
                "client printed nothing for the last {silent_for:.0} s (hung?)"
            ));
        }
    }
    if total.handouts > 0 && total.handouts == total.unknown + total.expired + total.revoked {
        // Nothing valid at all: still a result, not a client failure.
    } else if total.handouts == 0 && ok && run.lines.iter().all(|l| matches!(l, Line::Error { .. }))
    {
        out.push("client never handed out credentials".to_owned());
    }
    (out, ok)
}

#[cfg(test)]
mod tests {
    use credcycle_sim::LoggedRequest;

    use super::super::run::ClientOutcome;
    use super::*;

    fn hand(at: f64, expired: bool, left: f64) -> Line {
        Line::HandOut(HandOut {
            at,
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
            believed_expiration: None,
            known: true,
            expired,
            revoked: false,
            left,
        })
    }

    fn run(lines: Vec<Line>, events: Vec<Event>) -> Run {
        Run {
            name: "t".to_owned(),
            description: String::new(),
            length: 100.0,
            lifetime: 150.0,
            rotate_before: 80.0,
            events,
            start_unix_ms: 0,
            lines,
            requests: vec![
                serde_json::from_value::<LoggedRequest>(serde_json::json!({
                    "at_ms": 50_000, "class": "credentials", "outcome": "200"
                }))
                .unwrap(),
            ],
            sets: vec![],
            client: ClientOutcome::default(),
        }
    }

    #[test]
    fn phases_metrics_and_recovery() {
        let outage = credcycle_sim::Scenario::from_toml_str(
            "[[event]]\nat = 20\nduration = 30\nfault = \"outage\"\nmode = \"http\"\nstatus = 500\n",
        )
        .unwrap()
        .events()
        .to_vec();
        let lines = vec![
            hand(1.0, false, 100.0),
            hand(10.0, false, 30.0),
            Line::Error {
                at: 30.0,
                message: "x".to_owned(),
            },
            hand(40.0, true, -2.5),
            hand(45.0, true, -7.0),
            hand(58.0, false, 120.0),
        ];
        let j = judge(&run(lines, outage), 60.0, 0.5);
        let labels: Vec<&str> = j.phases.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["no fault", "outage (http 500)", "no fault"]);
        assert_eq!(j.total.handouts, 5);
        assert_eq!(j.total.expired, 2);
        assert!((j.total.expired_pct - 40.0).abs() < 1e-9);
        assert!((j.total.max_past_expiry - 7.0).abs() < 1e-9);
        assert_eq!(j.total.inside_margin, 1);
        assert_eq!(j.total.errors, 1);
        assert_eq!(j.phases[1].expired, 2);
        assert_eq!(j.phases[0].expired, 0);
        // Valid hand-outs at 1, 10, 58: the longest gap is 10 -> 58.
        assert!((j.total.longest_gap - 48.0).abs() < 1e-9);
        assert!(
            (j.phases[2].longest_gap - 42.0).abs() < 1e-9,
            "{:?}",
            j.phases[2]
        );
        assert_eq!(j.recoveries.len(), 1);
        assert!((j.recoveries[0].after.unwrap() - 8.0).abs() < 1e-9);
        assert_eq!(j.total.imds_requests, 1);
        assert!((j.total.imds_requests_per_minute - 0.6).abs() < 1e-9);
        assert!(j.client_ok, "{:?}", j.verdicts);
    }

    #[test]
    fn recovery_is_measured_where_the_faults_end_not_between_two_windows() {
        let events = credcycle_sim::Scenario::from_toml_str(
            "[[event]]\nat = 10\nduration = 10\nfault = \"malformed\"\nbody = \"truncated\"\n\
             [[event]]\nat = 20\nduration = 10\nfault = \"malformed\"\nbody = \"not-json\"\n",
        )
        .unwrap()
        .events()
        .to_vec();
        let j = judge(&run(vec![hand(33.0, false, 100.0)], events), 60.0, 0.5);
        assert_eq!(j.recoveries.len(), 1, "{:?}", j.recoveries);
        assert!((j.recoveries[0].ended - 30.0).abs() < 1e-9);
        assert!((j.recoveries[0].after.unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn client_problems_get_verdicts() {
        let mut r = run(vec![], vec![]);
        r.requests.clear();
        r.client.early_exit = Some(("exited with 1".to_owned(), 3.2));
        r.client.last_stderr = Some("boom".to_owned());
        let j = judge(&r, 60.0, 0.5);
        assert!(!j.client_ok);
        assert_eq!(j.verdicts[0], "client exited with 1 after 3 s: boom");
        assert!(j.verdicts.iter().any(|v| v == "client never asked IMDS"));

        let r = run(
            vec![Line::Garbage {
                at: 1.0,
                text: "hello".to_owned(),
            }],
            vec![],
        );
        let j = judge(&r, 60.0, 0.5);
        assert!(!j.client_ok);
        assert!(
            j.verdicts[0].contains("not the contract's JSON"),
            "{:?}",
            j.verdicts
        );

        let r = run(vec![hand(2.0, false, 100.0)], vec![]);
        let j = judge(&r, 60.0, 0.5);
        assert!(j.client_ok);
        assert_eq!(
            j.verdicts,
            ["client printed nothing for the last 98 s (hung?)"]
        );
    }
}
