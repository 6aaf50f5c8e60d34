//! The timeline: how the day is printed.

use core::time::Duration;

use credcycle_core::{DropReason, Refusal, Rule, StateKind, WallTime};

use crate::day::Day;
use crate::{BOOT, Res, STAMP_WIDTH};

/// Attempts hidden from the timeline while folding, so that a long outage fits on a screen.
#[derive(Default)]
pub(crate) struct Fold {
    pub(crate) attempts: u32,
    pub(crate) min_gap: Option<Duration>,
    pub(crate) max_gap: Option<Duration>,
}

impl Day {
    // ---- the timeline ----

    pub(crate) fn header(&self) {
        let p = self.h.machine.policy();
        println!(
            "credcycle: one day of an EC2 instance's credentials (manual clock, simulated IMDS)"
        );
        println!(
            "boot {BOOT}; expiry margin {}; backoff from {}, capped at {} while serving, {} while refusing",
            dur(p.expiry_margin()),
            dur(p.backoff_base()),
            dur(p.backoff_cap_serving()),
            dur(p.backoff_cap_refusing()),
        );
        println!(
            "columns: wall time, monotonic time, state change, rule, what happened (<- IMDS answer)"
        );
    }

    pub(crate) fn chapter(&mut self, title: &str) {
        self.unfold();
        println!("\n== {title}");
    }

    pub(crate) fn stamp(&self) -> String {
        format!(
            "{}  {:>12}",
            hms(self.h.now.wall),
            self.h.now.mono.to_string()
        )
    }

    pub(crate) fn state_line(&mut self, from: StateKind, to: StateKind, rule: Rule, detail: &str) {
        let attempt = matches!(
            rule,
            Rule::Refresh
                | Rule::Retry
                | Rule::Fail
                | Rule::NotRotated
                | Rule::RejectStale
                | Rule::Abandon
                | Rule::Detach
        );
        if self.folding && attempt {
            return;
        }
        self.flush_fold();
        let rule = format!("{} {rule:?}", rule.id());
        let (from, to) = (from.name(), to.name());
        println!(
            "{}  {from:>11} -> {to:<11}  {rule:<14} {detail}",
            self.stamp()
        );
    }

    pub(crate) fn caller_line(&mut self, text: &str) {
        self.flush_fold();
        println!("{}  {:>11} {text}", self.stamp(), "caller");
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.flush_fold();
        println!("{:STAMP_WIDTH$}  {:>11} {text}", "", "note");
    }

    /// From now on, hide attempt lines (retries and their failures), counting them.
    pub(crate) fn fold(&mut self) {
        self.folding = true;
    }

    pub(crate) fn unfold(&mut self) {
        self.flush_fold();
        self.folding = false;
    }

    pub(crate) fn count_request(&mut self) {
        let gap = self
            .last_reply
            .map(|t| self.h.now.mono.saturating_duration_since(t));
        if self.folding {
            let fold = &mut self.fold;
            fold.attempts += 1;
            if let Some(gap) = gap {
                fold.min_gap = Some(fold.min_gap.map_or(gap, |g| g.min(gap)));
                fold.max_gap = Some(fold.max_gap.map_or(gap, |g| g.max(gap)));
            }
        }
    }

    pub(crate) fn flush_fold(&mut self) {
        let fold = std::mem::take(&mut self.fold);
        if fold.attempts == 0 {
            return;
        }
        let n = fold.attempts;
        let what = if n == 1 { "attempt" } else { "attempts" };
        let gaps = match (fold.min_gap, fold.max_gap) {
            (Some(min), Some(max)) if min == max => {
                format!(", retried {} after the failure", dur(min))
            }
            (Some(min), Some(max)) => {
                format!(", retried {} to {} after each failure", dur(min), dur(max))
            }
            _ => String::new(),
        };
        println!(
            "{:STAMP_WIDTH$}  {:>11} {n} more {what} like these{gaps}",
            "", "(folded)"
        );
    }

    /// Prints the totals and what the oracle checked; an error if a step was not in the table.
    pub(crate) fn summary(&mut self) -> Res {
        self.unfold();
        println!("\n== summary");
        let least = self.least_left.map_or_else(|| "-".to_owned(), dur);
        println!(
            "hand-outs   {:>3}  (least validity left at a hand-out: {least})",
            self.handouts
        );
        let total: u32 = self.refusals.values().sum();
        let by_reason: Vec<String> = self
            .refusals
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        println!("refusals    {total:>3}  ({})", by_reason.join(", "));
        let imds = &self.imds;
        println!(
            "IMDS        {:>3}  requests ({} role listings, {} credential fetches): {} failed, {} not rotated",
            imds.requests(),
            imds.listings,
            imds.fetches,
            imds.errors,
            imds.not_rotated,
        );
        let stats = self.h.machine.stats();
        println!(
            "machine     {:>3}  inputs, {} stale replies",
            stats.inputs, stats.stale_replies
        );
        if let Some(edge) = self.h.unexpected_edges.first() {
            return Err(format!("a step the transition table lacks: {edge:?}").into());
        }
        println!(
            "checks      OK    the oracle checked {} hand-outs and {} requests as they happened: \
                 each hand-out had at least {} left (INV-1), no dropped set came back (INV-2), \
                 the retry schedule held (INV-4), every step was in the transition table",
            self.h.oracle.handouts,
            self.h.oracle.requests,
            dur(self.h.machine.policy().expiry_margin()),
        );
        Ok(())
    }
}

// ---- formatting ----

/// `HH:MM:SS` of a wall time (UTC).
pub(crate) fn hms(t: WallTime) -> String {
    let secs = t.as_unix_millis().div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A duration as people read it: `5h59m58s`, `4m05s`, `0.61s`.
pub(crate) fn dur(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}.{:02}s", d.subsec_millis() / 10)
    }
}

pub(crate) fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Expired => "inside the margin, INV-1",
        DropReason::RoleGone => "role gone, INV-2",
        DropReason::NoInstanceProfile => "no instance profile, INV-2",
        DropReason::Invalidated => "rejected by AWS",
        DropReason::Shutdown => "shutdown",
    }
}

pub(crate) fn refusal_label(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Idle => "not started",
        Refusal::Discovering => "discovering",
        Refusal::Fetching { .. } => "fetching",
        Refusal::Expired { .. } => "expired",
        Refusal::Unavailable { .. } => "backing off",
        Refusal::Detached { .. } => "no instance profile",
        Refusal::Stopped => "stopped",
        _ => "other",
    }
}
