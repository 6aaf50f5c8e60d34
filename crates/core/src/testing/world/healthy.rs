//! Runs of a healthy IMDS: [`Harness::recover`] (LIVE-1) and [`Harness::run_healthy`] (LIVE-2).

use core::time::Duration;

use super::{Answer, Harness};
use crate::input::Input;
use crate::oracle::Violation;
use crate::time::MonoTime;

impl Harness {
    /// Runs in healthy mode: the wall clock is corrected (the clocks agree again), every request
    /// is answered at once by a healthy IMDS that serves its *current* set (re-serving the one
    /// it served before until it rotates, as real IMDS does), the machine is woken at each
    /// deadline and asked for credentials, until a hand-out succeeds or `limit` of time has
    /// passed. Returns how long it took, or `None` if it did not happen within `limit`.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn recover(&mut self, limit: Duration) -> Result<Option<Duration>, Violation> {
        let start = self.now.mono;
        self.correct_wall();
        if let Some(pinned) = self.machine.policy().pinned_role() {
            self.imds.attach_role(pinned.clone());
        } else if self.imds.attached.is_none() {
            self.imds.attach(true);
        }
        for _ in 0..10_000 {
            self.input(Input::Demand)?;
            if self.probe()?.is_some() {
                return Ok(Some(self.now.mono.saturating_duration_since(start)));
            }
            if self.pending.is_some() {
                self.answer(&Answer::Healthy)?;
                continue;
            }
            match self.machine.poll_timeout() {
                Some(at) if at.saturating_duration_since(start) <= limit => self.wake_up()?,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Runs a healthy IMDS that rotates on schedule for `span` of time, waking the machine at
    /// every deadline, and answering each request after `latency`. Returns the longest stretch
    /// without usable credentials after the first hand-out (zero for LIVE-2 to hold).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn run_healthy(
        &mut self,
        span: Duration,
        latency: Duration,
    ) -> Result<Duration, Violation> {
        Ok(self
            .run_healthy_until(span, latency, |_| false)?
            .longest_gap)
    }

    /// [`run_healthy`](Self::run_healthy), stopping early once `done` holds after a step.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn run_healthy_until(
        &mut self,
        span: Duration,
        latency: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<HealthyRun, Violation> {
        let end = self.now.mono.saturating_add(span);
        let mut gap = Gap::default();
        // A machine whose deadlines never move the clock would make a driver spin: fail rather
        // than hang (a healthy run needs a handful of steps at any one instant).
        let mut steps_at_this_instant = 0_u32;
        self.input(Input::Demand)?;
        while self.now.mono < end {
            let started = self.now.mono;
            let next = if self.pending.is_some() {
                self.now.mono.saturating_add(latency)
            } else {
                self.machine
                    .poll_timeout()
                    .unwrap_or(end)
                    .min(end)
                    .max(self.now.mono)
            };
            // Probe just before the state changes: the credentials are at their oldest.
            if next > self.now.mono {
                self.now = self.now.advance(
                    next.saturating_duration_since(self.now.mono)
                        .saturating_sub(Duration::from_millis(1)),
                );
                self.note_gap(&mut gap)?;
                self.now = self.now.advance(Duration::from_millis(1));
            }
            self.note_gap(&mut gap)?;
            if self.pending.is_some() {
                self.answer(&Answer::Healthy)?;
            } else {
                self.input(Input::Tick)?;
            }
            self.note_gap(&mut gap)?;
            if done(self) {
                return Ok(gap.run(true));
            }
            steps_at_this_instant = if self.now.mono == started {
                steps_at_this_instant + 1
            } else {
                0
            };
            if steps_at_this_instant > 1_000 {
                return Err(Violation::new(
                    "LIVE-2",
                    format!(
                        "no progress: {steps_at_this_instant} steps at {} without the clock moving \
                         (next deadline {:?}, state {})",
                        self.now.mono,
                        self.machine.poll_timeout(),
                        self.machine.kind()
                    ),
                ));
            }
        }
        Ok(gap.run(false))
    }

    fn note_gap(&mut self, gap: &mut Gap) -> Result<(), Violation> {
        let served = self.probe()?.is_some();
        let now = self.now.mono;
        match (served, gap.start) {
            (true, _) => gap.start = None,
            (false, None) if gap.served_once => gap.start = Some(now),
            (false, _) => {}
        }
        gap.served_once |= served;
        if let Some(start) = gap.start {
            gap.first.get_or_insert(start);
            // A refusal seen at a single instant still counts as a gap of at least 1 ms.
            gap.longest = gap.longest.max(
                now.saturating_duration_since(start)
                    .max(Duration::from_millis(1)),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Gap {
    served_once: bool,
    start: Option<MonoTime>,
    first: Option<MonoTime>,
    longest: Duration,
}

impl Gap {
    fn run(&self, done: bool) -> HealthyRun {
        HealthyRun {
            longest_gap: self.longest,
            first_gap: self.first,
            done,
        }
    }
}

/// How a [`Harness::run_healthy_until`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthyRun {
    /// The longest stretch without usable credentials after the first hand-out.
    pub longest_gap: Duration,
    /// When the first such stretch began, if there was one.
    pub first_gap: Option<MonoTime>,
    /// Whether the run stopped because its condition held (else its span ran out).
    pub done: bool,
}
