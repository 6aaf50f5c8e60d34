//! The report: each step's verdict and what it found, written as text or (through serde) JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Step {
    pub(super) step: &'static str,
    pub(super) verdict: Verdict,
    pub(super) detail: String,
    pub(super) fix: Option<String>,
    pub(super) data: Value,
}

impl Step {
    pub(super) fn new(step: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            step,
            verdict,
            detail: detail.into(),
            fix: None,
            data: json!({}),
        }
    }

    pub(super) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub(super) fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
    /// A failed step whose request (`what`) got no reply at all, for this reason.
    pub(super) fn no_reply(step: &'static str, what: &str, error: &impl std::fmt::Display) -> Self {
        Self::new(step, Verdict::Fail, format!("{what} got no reply: {error}"))
            .data(json!({ "status": null, "error": error.to_string() }))
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) endpoint: Option<String>,
    pub(super) result: Verdict,
    pub(super) failed_step: Option<&'static str>,
    pub(super) steps: Vec<Step>,
}

/// A duration in seconds, e.g. `1 s`, `0.25 s`.
pub(super) fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{secs} s")
    }
}

/// Whole seconds as `5h 59m`, `12m 3s`, `45s` (negative: `-45s`).
pub(super) fn span(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m {s}s")
    } else {
        format!("{sign}{s}s")
    }
}

pub(super) fn text(report: &Report) -> String {
    let mut out = String::new();
    for step in &report.steps {
        let _ = writeln!(
            out,
            "{:<5} {:<12} {}",
            step.verdict.as_str(),
            step.step,
            step.detail
        );
        if let Some(fix) = &step.fix {
            let _ = writeln!(out, "{:<18} fix: {fix}", "");
        }
    }
    let warnings = report
        .steps
        .iter()
        .filter(|s| s.verdict == Verdict::Warn)
        .count();
    let _ = match report.failed_step {
        Some(step) => writeln!(out, "result: fail at {step}"),
        None if warnings > 0 => writeln!(out, "result: ok, {warnings} warning(s)"),
        None => writeln!(out, "result: ok"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_seconds() {
        assert_eq!(span(6 * 3600), "6h 0m");
        assert_eq!(span(21_599), "5h 59m");
        assert_eq!(span(723), "12m 3s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(-45), "-45s");
        assert_eq!(seconds(Duration::from_secs(1)), "1 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
    }
}
