//! The timeline: how the day is printed.

use credcycle_core::{Rule, StateKind};

use crate::day::Day;
use crate::format::{dur, hms};
use crate::{BOOT, Res, STAMP_WIDTH};

impl Day {
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
