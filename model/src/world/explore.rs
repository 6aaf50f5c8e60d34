//! The search's moves: what may happen in a world ([`Lifecycle::actions_of`]) and what it leads
//! to ([`Lifecycle::apply`]), each step checked by the oracle.

use core::time::Duration;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use credcycle_core::internals::{self, Phase};
use credcycle_core::oracle::Violation;
use credcycle_core::table::Edge;
use credcycle_core::testing::world::{
    Answer as Given, Issued, check_edge, check_step, credentials_for,
};
use credcycle_core::{
    AccessKeyId, ImdsFailure, Input, Jitter, MonoTime, Now, Request, RequestId, ServeMode,
    Transition, step,
};

use super::canonical::shift;
use super::format::{format_action, mono_diff, ms, v};
use super::{
    Act, Answer, Jump, LONG_LIFETIME, Lifecycle, MAX_SKEW_MS, MONO0, NEVER_ISSUED, NEXT_ID,
    SHORT_LIFETIME, StepInfo, WALL0, World, role,
};

impl Lifecycle {
    /// Every action possible in `w`, in a fixed order.
    pub fn actions_of(&self, w: &World, out: &mut Vec<Act>) {
        let policy = self.pol(w.pinned);
        if w.violation.is_some() {
            return;
        }
        let requesting = matches!(internals::phase(&w.core), Phase::Requesting { .. });
        // Jitter is used only to plan a refresh or a backoff, which happens only in a step that
        // answers or abandons a request: elsewhere one value is enough.
        let jitters: &[Jitter] = if requesting {
            &[Jitter::ZERO, Jitter::HALF, Jitter::ONE]
        } else {
            &[Jitter::ZERO]
        };
        for &j in jitters {
            out.push(Act::Demand(j));
        }
        for &j in jitters {
            out.push(Act::Tick(j));
        }
        if w.core.next_deadline(policy).is_some() {
            for &j in jitters {
                out.push(Act::Wake(j));
            }
        }
        for (jump, ms) in self.jumps(w) {
            out.push(Act::Wait(jump, ms));
        }
        for d in [-MAX_SKEW_MS, MAX_SKEW_MS] {
            if (w.skew_ms + d).abs() <= MAX_SKEW_MS {
                out.push(Act::JumpWall(d));
            }
        }
        if let Some((_, request)) = &w.pending {
            for answer in self.answers(w, request) {
                for &j in jitters {
                    out.push(Act::Answer(answer.clone(), j));
                }
            }
        }
        out.push(Act::StaleReply(false));
        out.push(Act::StaleReply(true));
        out.push(Act::Invalidate(false));
        if w.core.held().is_some() {
            out.push(Act::Invalidate(true));
        }
        out.push(Act::Shutdown);
        out.push(Act::Regress);
    }

    fn answers(&self, w: &World, request: &Request) -> Vec<Answer> {
        let fails = [
            ImdsFailure::Timeout,
            ImdsFailure::ConnectionRefused,
            ImdsFailure::HttpStatus(500),
            ImdsFailure::Malformed,
            ImdsFailure::NotSuccess {
                code: "AssumeRoleUnauthorizedAccess".into(),
            },
        ];
        let mut out = match request {
            Request::DiscoverRole => vec![Answer::Role(false), Answer::Role(true)],
            Request::FetchCredentials => {
                let mut v = vec![Answer::Fresh, Answer::FreshShort];
                if !w.imds.sent().is_empty() {
                    v.push(Answer::Same);
                }
                if w.imds.sent().len() >= 2 {
                    v.push(Answer::Older);
                }
                v.extend([
                    Answer::Expired,
                    Answer::TooShort,
                    Answer::AtMargin,
                    Answer::OverMargin,
                    Answer::RoleGone,
                ]);
                v
            }
        };
        out.push(Answer::NoProfile);
        out.extend(fails.into_iter().map(Answer::Fail));
        out
    }

    /// The symbolic jumps from `w`: positive, distinct, in a fixed order.
    fn jumps(&self, w: &World) -> Vec<(Jump, u64)> {
        let policy = self.pol(w.pinned);
        let now = Self::now(w);
        let margin = ms(policy.expiry_margin()) as i64;
        let mut out: Vec<(Jump, i64)> = vec![(Jump::Floor, ms(policy.retry_floor()) as i64)];
        if let Some(at) = w.core.next_deadline(policy) {
            let d = mono_diff(at, now.mono);
            out.push((Jump::BeforeDeadline, d - 1));
            out.push((Jump::ToDeadline, d));
        }
        if let Some(h) = w.core.held() {
            let wall_left = h.expiration.as_unix_millis() - now.wall.as_unix_millis();
            out.push((Jump::LastWall, wall_left - margin));
            out.push((Jump::PastWall, wall_left - margin + 1));
            out.push((Jump::PastMono, mono_diff(h.deadline, now.mono) - margin + 1));
            out.push((Jump::PastExpiry, wall_left + 1_000));
        }
        let mut seen = BTreeSet::new();
        out.into_iter()
            .filter(|&(_, d)| d > 0 && seen.insert(d))
            .map(|(j, d)| (j, d as u64))
            .collect()
    }

    /// The world after `act`, with what happened; `None` if `act` does not apply.
    #[must_use]
    pub fn apply(&self, w: &World, act: &Act) -> Option<(World, StepInfo)> {
        let policy = self.pol(w.pinned);
        let mut next = w.clone();
        let mut info = StepInfo {
            input: None,
            rule: None,
            kinds: (w.core.kind(), w.core.kind()),
            elapsed_ms: 0,
            actions: Vec::new(),
            handout: None,
        };
        let result = match act {
            Act::Demand(j) => self.input(&mut next, Input::Demand, *j, 0, &mut info),
            Act::Tick(j) => self.input(&mut next, Input::Tick, *j, 0, &mut info),
            Act::Wake(j) => {
                let at = w.core.next_deadline(policy)?;
                let d = mono_diff(at, MONO0).max(0) as u64;
                self.pass(&mut next, d, &mut info)
                    .and_then(|()| self.input(&mut next, Input::Tick, *j, 0, &mut info))
            }
            Act::Wait(_, d) => self.pass(&mut next, *d, &mut info),
            Act::JumpWall(d) => {
                next.skew_ms += d;
                Ok(())
            }
            Act::Answer(answer, j) => {
                let input = self.answer(&mut next, answer)?;
                self.input(&mut next, input, *j, 0, &mut info)
            }
            Act::StaleReply(creds) => {
                // Never outstanding: ids are normalised so that the next one is NEXT_ID.
                let id = RequestId(NEXT_ID + 7);
                let input = if *creds {
                    let set = Issued {
                        access_key_id: fresh_key(w),
                        expiration: WALL0.saturating_add(LONG_LIFETIME),
                    };
                    Input::CredentialsReply {
                        id,
                        result: Ok(credentials_for(&set)),
                    }
                } else {
                    Input::RoleReply {
                        id,
                        result: Err(ImdsFailure::Timeout),
                    }
                };
                self.input(&mut next, input, Jitter::ZERO, 0, &mut info)
            }
            Act::Invalidate(held) => {
                // Not the held key: the set a clock dropped, if any (AWS rejected it after
                // all), else one never issued.
                let key = match (held, w.core.held(), w.core.expired()) {
                    (true, Some(h), _) => h.access_key_id.clone(),
                    (true, None, _) => return None,
                    (false, _, Some(dropped)) => dropped.access_key_id.clone(),
                    (false, _, None) => AccessKeyId::new(NEVER_ISSUED),
                };
                let input = Input::Invalidate { access_key_id: key };
                self.input(&mut next, input, Jitter::ZERO, 0, &mut info)
            }
            Act::Shutdown => self.input(&mut next, Input::Shutdown, Jitter::ZERO, 0, &mut info),
            Act::Regress => self.input(&mut next, Input::Tick, Jitter::ZERO, 1, &mut info),
        };
        if let Err(v) = result {
            next.violation = Some(v);
        } else if let Err(v) = self.probe(&mut next, &mut info) {
            next.violation = Some(v);
        }
        info.kinds.1 = next.core.kind();
        self.canonicalize(&mut next);
        Some((next, info))
    }

    /// Time passes by `d` ms: every stored instant moves back by `d`. A hand-out is probed just
    /// before the end, the worst moment (the state is about to change).
    fn pass(&self, w: &mut World, d: u64, info: &mut StepInfo) -> Result<(), Violation> {
        if d == 0 {
            return Ok(());
        }
        info.elapsed_ms += d;
        shift(w, d - 1);
        self.probe(w, info)?;
        shift(w, 1);
        self.probe(w, info)
    }

    /// The reply the world's IMDS gives to the pending request, as the search chose it. The
    /// role an answer needs is attached first: the search plays AWS too.
    fn answer(&self, w: &mut World, answer: &Answer) -> Option<Input> {
        let policy = self.pol(w.pinned);
        let (id, request) = w.pending.take()?;
        let margin = policy.expiry_margin();
        match request {
            Request::DiscoverRole => {
                let imds = &mut w.imds;
                let result = match answer {
                    Answer::Role(b) => {
                        imds.attach_role(role(*b));
                        imds.answer_role(&Given::Healthy)
                    }
                    Answer::NoProfile => {
                        imds.detach();
                        imds.answer_role(&Given::Healthy)
                    }
                    Answer::Fail(f) => imds.answer_role(&Given::Fail(f.clone())),
                    _ => return None,
                };
                Some(Input::RoleReply { id, result })
            }
            Request::FetchCredentials => {
                // A credentials request goes out only with a role known, and the role changes
                // only on a reply: the role known now is the one asked for.
                let asked = w.core.role()?.clone();
                let imds = &mut w.imds;
                let given = match answer {
                    Answer::Fresh => Given::Fresh,
                    Answer::FreshShort => Given::Lasting(SHORT_LIFETIME),
                    Answer::Same if !imds.sent().is_empty() => Given::Same,
                    Answer::Older if imds.sent().len() >= 2 => Given::Older,
                    Answer::Expired => Given::Expired,
                    Answer::TooShort => Given::ShortLived,
                    Answer::AtMargin => Given::Lasting(margin),
                    Answer::OverMargin => Given::Lasting(margin + Duration::from_secs(1)),
                    Answer::RoleGone => Given::NotFound,
                    Answer::NoProfile => Given::Healthy,
                    Answer::Fail(f) => Given::Fail(f.clone()),
                    Answer::Same | Answer::Older | Answer::Role(_) => return None,
                };
                if *answer == Answer::NoProfile {
                    imds.detach();
                } else {
                    imds.attach_role(asked.clone());
                }
                let result = imds.answer_credentials(&asked, &given, WALL0, margin);
                Some(Input::CredentialsReply { id, result })
            }
        }
    }

    /// Feeds one input to the real `step` and checks everything that came out, with the same
    /// checker as every other driver ([`check_step`]), after INV-6 (no panic, and the same
    /// input gives the same transition).
    fn input(
        &self,
        w: &mut World,
        input: Input,
        jitter: Jitter,
        back_ms: u64,
        info: &mut StepInfo,
    ) -> Result<(), Violation> {
        let policy = self.pol(w.pinned);
        let now = Now::new(
            MonoTime::from_millis(MONO0.as_millis() - back_ms),
            WALL0.offset_millis(w.skew_ms),
        );
        let before = w.core.kind();
        let noted = w.books.before(&w.core, &input, now);
        let kind = input.kind();
        info.input = Some(kind);
        // INV-6: no input panics, and the same input gives the same transition.
        let run = || {
            catch_unwind(AssertUnwindSafe(|| {
                step(&w.core, &input, now, jitter, policy)
            }))
        };
        let t: Transition = match (run(), run()) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                return Err(v("INV-6", "the same input gave two different transitions"));
            }
            _ => return Err(v("INV-6", format!("step panicked on {kind:?}"))),
        };
        info.rule = Some(t.rule);
        let edge = Edge {
            from: before,
            input: kind,
            to: t.state.kind(),
            rule: t.rule,
        };
        if let Ok(mut edges) = self.edges.lock() {
            edges.insert(edge);
        }
        info.actions = t.actions.iter().map(format_action).collect();
        w.core = t.state;
        if let Some(issued) =
            check_step(&mut w.books, policy, now, noted, edge, &w.core, &t.actions)?
        {
            w.pending = Some(issued);
        }
        check_edge(&edge)
    }

    /// Checks a hand-out at the current time, as a caller would: `Machine::credentials` serves
    /// the held set exactly when [`Held::serve_mode`](credcycle_core::Held::serve_mode) says so.
    fn probe(&self, w: &mut World, info: &mut StepInfo) -> Result<(), Violation> {
        let policy = self.pol(w.pinned);
        let now = Self::now(w);
        let Some(held) = w.core.held() else {
            info.handout = None;
            return Ok(());
        };
        let Some(mode) = held.serve_mode(now, w.core.failing(), policy) else {
            info.handout = None;
            return Ok(());
        };
        info.handout = Some(held.access_key_id.to_string());
        let (key, expiration) = (held.access_key_id.clone(), held.expiration);
        let failing = w.core.failing();
        w.books.check_handout(
            policy,
            now,
            &key,
            expiration,
            mode == ServeMode::Grace,
            failing,
        )
    }
}

/// A key id no part of `w` uses (canonicalisation renames it later).
pub(super) fn fresh_key(w: &World) -> AccessKeyId {
    AccessKeyId::new(format!("NEW{}", w.imds.sent().len() + 100))
}
