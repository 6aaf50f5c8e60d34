//! The driver: the world's harness, what the story says of IMDS, and what the timeline saw.

use core::time::Duration;
use std::collections::BTreeMap;

use credcycle_core::testing::world::{Answer, Harness, HarnessConfig};
use credcycle_core::{
    Action, Event, ImdsFailure, Input, Machine, MonoTime, Now, Request, Rule, StateKind,
};

use crate::format::{drop_reason, dur, hms, refusal_label};
use crate::{BOOT, HTTP_TIMEOUT, MAX_WAKES, Res, path, wall_of};

/// What IMDS was asked, and how it answered.
#[derive(Default)]
pub(crate) struct ImdsCounts {
    pub(crate) listings: u32,
    pub(crate) fetches: u32,
    pub(crate) errors: u32,
    pub(crate) not_rotated: u32,
}

impl ImdsCounts {
    pub(crate) fn requests(&self) -> u32 {
        self.listings + self.fetches
    }
}

/// Attempts hidden from the timeline while folding, so that a long outage fits on a screen.
#[derive(Default)]
pub(crate) struct Fold {
    pub(crate) attempts: u32,
    pub(crate) min_gap: Option<Duration>,
    pub(crate) max_gap: Option<Duration>,
}

/// The example's world: the harness (machine, clocks, IMDS, oracle), what the story says of
/// IMDS, and what the timeline saw.
pub(crate) struct Day {
    pub(crate) h: Harness,
    /// While set, every IMDS request fails: odd ones time out, even ones answer HTTP 500.
    pub(crate) down: bool,
    pub(crate) imds: ImdsCounts,
    pub(crate) folding: bool,
    pub(crate) fold: Fold,
    /// When the last reply came in: a retry's gap, that is its backoff delay, counts from it.
    pub(crate) last_reply: Option<MonoTime>,
    pub(crate) handouts: u32,
    pub(crate) least_left: Option<Duration>,
    pub(crate) refusals: BTreeMap<&'static str, u32>,
}

impl Day {
    pub(crate) fn new(config: HarnessConfig) -> Self {
        let mut h = Harness::new(config);
        // The story counts the monotonic clock from boot.
        h.now = Now::new(MonoTime::ZERO, BOOT);
        Self {
            h,
            down: false,
            imds: ImdsCounts::default(),
            folding: false,
            fold: Fold::default(),
            last_reply: None,
            handouts: 0,
            least_left: None,
            refusals: BTreeMap::new(),
        }
    }

    // ---- driving the machine ----

    /// Feeds one input, prints what changed, and answers the request it made, if any.
    /// `note` describes the input when it is IMDS's reply.
    pub(crate) fn send(&mut self, input: Input, note: Option<String>) -> Res<Rule> {
        let from = self.h.machine.kind();
        self.h.input(input)?;
        self.show(from, note)
    }

    /// Prints what the last input changed (from state `from`), and answers the request it
    /// made, if any.
    pub(crate) fn show(&mut self, from: StateKind, note: Option<String>) -> Res<Rule> {
        let rule = self
            .h
            .trace
            .last()
            .map(|row| row.rule)
            .ok_or("no input yet")?;
        let to = self.h.machine.kind();
        let mut detail: Vec<String> = note.into_iter().collect();
        for action in std::mem::take(&mut self.h.actions) {
            if let Action::Notify(event) = action {
                detail.extend(self.describe(&event));
            }
        }
        let request = self.h.pending().copied();
        if let Some(request) = request {
            detail.push(format!(
                "GET {}",
                path(request, self.h.machine.state().role())
            ));
            self.count_request();
        }
        if from != to || !detail.is_empty() {
            self.state_line(from, to, rule, &detail.join("; "));
        }
        if let Some(request) = request {
            self.answer(&request)?;
        }
        Ok(rule)
    }

    /// IMDS answers the outstanding request: with failures while it is down, else as a
    /// healthy IMDS does (the current set, again until it rotates).
    pub(crate) fn answer(&mut self, request: &Request) -> Res<Rule> {
        match request {
            Request::DiscoverRole => self.imds.listings += 1,
            Request::FetchCredentials => self.imds.fetches += 1,
        }
        let from = self.h.machine.kind();
        let note = if self.down {
            self.imds.errors += 1;
            if self.imds.requests() % 2 == 1 {
                self.h.advance(HTTP_TIMEOUT)?;
                self.h.answer(&Answer::Fail(ImdsFailure::Timeout))?;
                format!("<- no answer within {}", dur(HTTP_TIMEOUT))
            } else {
                self.h.answer(&Answer::Fail(ImdsFailure::HttpStatus(500)))?;
                "<- HTTP 500".to_owned()
            }
        } else {
            self.healthy_answer(request)?
        };
        self.last_reply = Some(self.h.now.mono);
        self.show(from, Some(note))
    }

    /// A healthy IMDS's answer, and how the timeline says it.
    pub(crate) fn healthy_answer(&mut self, request: &Request) -> Res<String> {
        let attached = self.h.imds.attached.clone();
        let asked = self.h.machine.state().role().cloned();
        let before = self.h.imds.current().map(|c| c.access_key_id.clone());
        self.h.answer(&Answer::Healthy)?;
        let note = match (request, attached) {
            (_, None) => "<- 404: no instance profile".to_owned(),
            (Request::DiscoverRole, Some(role)) => return Ok(format!("<- 200 \"{role}\"")),
            (Request::FetchCredentials, Some(role)) if asked.as_ref() != Some(&role) => {
                "<- 404: no such role".to_owned()
            }
            (Request::FetchCredentials, Some(_)) => {
                let set = self.h.imds.current().ok_or("IMDS served no set")?;
                if before.as_ref() == Some(&set.access_key_id) {
                    self.imds.not_rotated += 1;
                    return Ok(format!(
                        "<- 200 {} again: not rotated yet",
                        set.access_key_id
                    ));
                }
                return Ok(format!(
                    "<- 200 {}, expires {}",
                    set.access_key_id,
                    hms(set.expiration)
                ));
            }
        };
        self.imds.errors += 1;
        Ok(note)
    }

    /// Sleeps until the machine's next deadline, then ticks.
    pub(crate) fn wake(&mut self) -> Res<Rule> {
        if self.h.machine.poll_timeout().is_none() {
            return Err("the machine has no deadline".into());
        }
        let from = self.h.machine.kind();
        self.h.wake_up()?;
        self.show(from, None)
    }

    /// Wakes the machine at every deadline up to `end`, then moves the clock to `end`.
    pub(crate) fn run_until(&mut self, end: MonoTime) -> Res {
        for _ in 0..MAX_WAKES {
            match self.h.machine.poll_timeout() {
                Some(at) if at <= end => {
                    self.wake()?;
                }
                _ => return self.advance_to(end),
            }
        }
        Err("too many wake-ups".into())
    }

    pub(crate) fn run_for(&mut self, d: Duration) -> Res {
        self.run_until(self.h.now.mono.saturating_add(d))
    }

    /// Wakes the machine at its deadlines until `done` holds.
    pub(crate) fn wake_until(&mut self, what: &str, done: impl Fn(&Machine) -> bool) -> Res {
        for _ in 0..MAX_WAKES {
            if done(&self.h.machine) {
                return Ok(());
            }
            self.wake()?;
        }
        Err(format!("never reached: {what}").into())
    }

    /// Moves both clocks to `t` (the oracle checks a hand-out on the way).
    pub(crate) fn advance_to(&mut self, t: MonoTime) -> Res {
        Ok(self
            .h
            .advance(t.saturating_duration_since(self.h.now.mono))?)
    }

    // ---- callers ----

    /// One caller wants credentials: a demand, then the hand-out, checked by the oracle.
    pub(crate) fn demand(&mut self) -> Res {
        let first = (self.h.machine.kind() == StateKind::Idle).then(|| "first demand".to_owned());
        self.send(Input::Demand, first)?;
        if let Some(handout) = self.h.probe()? {
            let creds = handout.credentials();
            let key = creds.access_key_id().clone();
            let left = creds
                .expiration()
                .saturating_duration_since(self.h.now.wall);
            self.handouts += 1;
            self.least_left = Some(self.least_left.map_or(left, |l| l.min(left)));
            let kind = self.h.machine.kind();
            self.caller_line(&format!("gets {key}, {} left ({kind})", dur(left)));
        } else if let Err(refusal) = self.h.machine.credentials(self.h.now) {
            *self.refusals.entry(refusal_label(&refusal)).or_default() += 1;
            self.caller_line(&format!("refused: {refusal}"));
        }
        Ok(())
    }

    /// `n` callers at the same moment: shows that demands alone cause no IMDS request while
    /// backing off (INV-4).
    pub(crate) fn callers(&mut self, n: u32) -> Res {
        let before = self.imds.requests();
        for _ in 0..n {
            self.demand()?;
        }
        let kind = self.h.machine.kind();
        let requests = self.imds.requests() - before;
        self.note(&format!(
            "{n} demands while {kind}: {requests} IMDS requests (INV-4)"
        ));
        Ok(())
    }

    // ---- reading the machine ----

    /// The monotonic instant from which the held credentials are no longer served.
    pub(crate) fn usable_until(&self) -> Option<MonoTime> {
        let held = self.h.machine.state().held()?;
        Some(held.usable_until(self.h.machine.policy()))
    }

    /// A short text for an event, or `None` when the line already says it.
    pub(crate) fn describe(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::RoleDiscovered { .. } => None,
            Event::Accepted { refresh_at, .. } => {
                Some(format!("refresh due {}", hms(wall_of(*refresh_at))))
            }
            Event::Dropped {
                access_key_id,
                reason,
            } => Some(format!(
                "dropped {access_key_id} ({})",
                drop_reason(*reason)
            )),
            Event::AttemptFailed {
                failures, retry_at, ..
            } => Some(format!(
                "failure #{failures}, retry in {}",
                dur(retry_at.saturating_duration_since(self.h.now.mono))
            )),
        }
    }
}
