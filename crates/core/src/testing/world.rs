//! The world the proofs run in: an IMDS and clocks that behave as EC2's do, and a driver around
//! the real [`Machine`] that checks every invariant with the [`oracle`](crate::oracle). Behind the
//! `world` feature (no proptest needed), so that tests, the model and examples can all use it.
//!
//! - [`ImdsModel`]: one instance and its IMDS. It holds one current set per role and re-serves
//!   it unchanged until its rotation point (`rotate_before` its expiry: 5 minutes on EC2); a new
//!   set always expires later than the last; detach, attach and role changes; an AWS-side
//!   rejection or a 404 makes it issue a new set next time. It can also be told to answer
//!   anything at all: a new set, a replay, an expired or too-short set, an error.
//! - [`Harness`]: the driver, in the spirit of quinn-proto's `Pair`. It owns the machine, the
//!   environment and the client's clocks (monotonic and wall advance together; the wall clock
//!   steps and is corrected), feeds inputs ([`input`](Harness::input)), answers requests
//!   ([`answer`](Harness::answer)), moves time ([`advance`](Harness::advance),
//!   [`wake_up`](Harness::wake_up)), drives until credentials are served
//!   ([`recover`](Harness::recover)) or for a span of healthy service
//!   ([`run_healthy`](Harness::run_healthy)), and probes for a hand-out after every step.

#![expect(
    clippy::expect_used,
    reason = "test support: an expect that fails is a bug in the kit itself"
)]

use core::time::Duration;
use std::collections::BTreeSet;

use crate::creds::{AccessKeyId, Credentials, RoleName, SecretAccessKey, SessionToken};
use crate::input::InputKind;
use crate::input::{ImdsFailure, Input, RequestId};
use crate::machine::{Handout, Machine};
use crate::oracle::{Before, Books, Violation, check_structure};
use crate::output::Action;
use crate::policy::Policy;
use crate::state::{Phase, Request, State, StateKind};
use crate::step::Rule;
use crate::table::{self, Edge};
use crate::time::{MonoTime, Now, WallTime};

/// The prefix of every secret the [`ImdsModel`] issues: a test can search any output for it.
pub const SENTINEL: &str = "SENTINEL-SECRET";

/// A credential set the simulated IMDS issued.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Issued {
    /// Its access key id (unique per issue).
    pub access_key_id: AccessKeyId,
    /// Its expiry, on the true clock.
    pub expiration: WallTime,
}

/// The environment: one instance and its IMDS, on the *true* wall clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImdsModel {
    /// Lifetime of the credentials IMDS issues.
    pub lifetime: Duration,
    /// New credentials become available this long before the current ones expire.
    pub rotate_before: Duration,
    /// The role attached now, if any.
    pub attached: Option<RoleName>,
    current: Option<Issued>,
    /// The `Expiration` of the last set issued by rotation.
    last_rotation: Option<WallTime>,
    /// A rotation a scenario scheduled, overriding the usual point (once).
    scheduled: Option<WallTime>,
    sent: Vec<Issued>,
    issued: u64,
    roles: u64,
}

impl ImdsModel {
    /// An instance with role `role-0` attached, issuing credentials of `lifetime`, rotated
    /// `rotate_before` expiry.
    #[must_use]
    pub fn new(lifetime: Duration, rotate_before: Duration) -> Self {
        Self {
            lifetime,
            rotate_before,
            attached: Some(role(0)),
            current: None,
            last_rotation: None,
            scheduled: None,
            sent: Vec::new(),
            issued: 0,
            roles: 0,
        }
    }

    /// An instance with `role` attached whose IMDS already holds `current` as its current set
    /// (a run that starts in the middle of a set's life), and whose next sets expire later than
    /// `newest`.
    #[must_use]
    pub fn serving(
        lifetime: Duration,
        rotate_before: Duration,
        role: RoleName,
        current: Option<Issued>,
        newest: Option<WallTime>,
    ) -> Self {
        Self {
            attached: Some(role),
            last_rotation: newest.max(current.as_ref().map(|c| c.expiration)),
            current,
            ..Self::new(lifetime, rotate_before)
        }
    }

    /// The set IMDS serves now, if it has one (it may be due to rotate).
    #[must_use]
    pub fn current(&self) -> Option<&Issued> {
        self.current.as_ref()
    }

    /// The sets IMDS sent, oldest first (the last eight): what [`Answer::Same`] and
    /// [`Answer::Older`] replay.
    #[must_use]
    pub fn sent(&self) -> &[Issued] {
        &self.sent
    }

    /// Moves every instant it keeps back by `d`: for a model checker that keeps time relative
    /// to "now" (when time passes, everything it stored moves into the past instead).
    pub fn shift_back(&mut self, d: Duration) {
        let back = |t: &mut WallTime| *t = t.saturating_sub(d);
        for set in self.current.iter_mut().chain(self.sent.iter_mut()) {
            back(&mut set.expiration);
        }
        self.last_rotation.iter_mut().for_each(back);
        self.scheduled.iter_mut().for_each(back);
    }

    /// Renames every key id it keeps with `rename` (a model checker's canonical names).
    pub fn rename_keys(&mut self, rename: impl Fn(&AccessKeyId) -> AccessKeyId) {
        for set in self.current.iter_mut().chain(self.sent.iter_mut()) {
            set.access_key_id = rename(&set.access_key_id);
        }
    }

    /// Forgets all but what an IMDS that may answer anything still needs: the last `replays`
    /// sets sent (what [`Answer::Same`] and [`Answer::Older`] can send again). The attached role,
    /// the current set and the rotation schedule are erased, and key numbering restarts (a
    /// model checker renames every key it keeps, so the next new key is still new). For a model
    /// checker whose every answer is chosen by the search: it attaches the role an answer needs
    /// before giving it, and two states differing only in what is erased behave the same.
    pub fn keep_only_replays(&mut self, replays: usize) {
        let excess = self.sent.len().saturating_sub(replays);
        self.sent.drain(..excess);
        self.attached = None;
        self.current = None;
        self.last_rotation = None;
        self.scheduled = None;
        self.issued = 0;
        self.roles = 0;
    }

    /// Detaches the instance profile.
    pub fn detach(&mut self) {
        self.attached = None;
        self.current = None;
    }

    /// Attaches a profile: the previous role again if `same`, a new role otherwise.
    pub fn attach(&mut self, same: bool) {
        if !same {
            self.roles += 1;
        }
        self.attach_role(role(self.roles));
    }

    /// Attaches `role` (keeping the current set if it is already attached).
    pub fn attach_role(&mut self, role: RoleName) {
        if self.attached.as_ref() != Some(&role) {
            self.attached = Some(role);
            self.current = None;
        }
    }

    /// AWS rejected `key` (a caller saw `InvalidToken`): if it is the current set, IMDS serves a
    /// new one from the next request on.
    pub fn reject(&mut self, key: &AccessKeyId) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| &c.access_key_id == key)
        {
            self.current = None;
        }
    }

    /// Replaces the attached role with a new one.
    pub fn change_role(&mut self) {
        self.roles += 1;
        self.attached = Some(role(self.roles));
        self.current = None;
    }

    /// Schedules the next rotation at `at` (true time) instead of `rotate_before` the current
    /// set's expiry: a scenario in which IMDS rotates earlier, or later than the client's
    /// refresh window opens. It applies once; later rotations follow the usual schedule.
    pub fn schedule_rotation(&mut self, at: WallTime) {
        self.scheduled = Some(at);
    }

    /// The set IMDS serves at `now` (true time): the current one, or a new one once the
    /// current one is within `rotate_before` of its expiry (or a scheduled rotation is due).
    pub fn serve(&mut self, now: WallTime) -> Issued {
        match &self.current {
            Some(c) if now < self.rotation_point(c) => c.clone(),
            _ => self.rotate(now),
        }
    }

    /// When IMDS replaces `current`: at the scheduled rotation, if any, else `rotate_before`
    /// its expiry.
    fn rotation_point(&self, current: &Issued) -> WallTime {
        self.scheduled
            .unwrap_or_else(|| current.expiration.saturating_sub(self.rotate_before))
    }

    /// Issues a new set at `now` (true time), rotating early. A new set always expires later
    /// than the one it replaces, as on EC2, even when both are issued in the same second.
    pub fn rotate(&mut self, now: WallTime) -> Issued {
        self.issued += 1;
        let mut expiration = now.saturating_add(self.lifetime);
        if let Some(previous) = self.last_rotation {
            expiration = expiration.max(previous.saturating_add(Duration::from_secs(1)));
        }
        self.last_rotation = Some(expiration);
        self.scheduled = None;
        let set = Issued {
            access_key_id: AccessKeyId::new(format!("ASIA{:012}", self.issued)),
            expiration,
        };
        self.current = Some(set.clone());
        set
    }

    fn odd_set(&mut self, prefix: &str, expiration: WallTime) -> Issued {
        self.issued += 1;
        Issued {
            access_key_id: AccessKeyId::new(format!("{prefix}{:09}", self.issued)),
            expiration,
        }
    }

    /// Answers a role listing.
    pub fn answer_role(&mut self, answer: &Answer) -> Result<RoleName, ImdsFailure> {
        match (answer, &self.attached) {
            (Answer::Fail(f), _) => Err(f.clone()),
            (Answer::NotFound, _) | (_, None) => {
                // A 404 on the listing is AWS saying no profile is attached: whatever was
                // attached is gone, and a later attachment gets new credentials.
                self.current = None;
                Err(ImdsFailure::NoInstanceProfile)
            }
            (_, Some(r)) => Ok(r.clone()),
        }
    }

    /// Answers a credentials request for `role` at `now` (true time); `margin` is the client's
    /// expiry margin, used to make a too-short-lived set.
    pub fn answer_credentials(
        &mut self,
        role: &RoleName,
        answer: &Answer,
        now: WallTime,
        margin: Duration,
    ) -> Result<Credentials, ImdsFailure> {
        match (&self.attached, answer) {
            (_, Answer::Fail(f)) => return Err(f.clone()),
            (None, _) => return Err(ImdsFailure::NoInstanceProfile),
            (Some(r), _) if r != role => return Err(ImdsFailure::RoleNotFound),
            (_, Answer::NotFound) => {
                // The role was removed (and perhaps attached again): its old set is gone.
                self.current = None;
                return Err(ImdsFailure::RoleNotFound);
            }
            _ => {}
        }
        let set = match answer {
            Answer::Fresh => self.rotate(now),
            Answer::Same => match self.sent.last() {
                Some(s) => s.clone(),
                None => self.serve(now),
            },
            Answer::Older => match self
                .sent
                .len()
                .checked_sub(2)
                .and_then(|i| self.sent.get(i))
            {
                Some(s) => s.clone(),
                None => self.serve(now),
            },
            Answer::Expired => self.odd_set("ASIAOLD", now.saturating_sub(Duration::from_secs(1))),
            Answer::ShortLived => self.odd_set("ASIASHORT", now.saturating_add(margin / 2)),
            Answer::Lasting(d) => self.odd_set("ASIANEW", now.saturating_add(*d)),
            // Failures returned above.
            Answer::Healthy | Answer::Fail(_) | Answer::NotFound => self.serve(now),
        };
        if self.sent.len() >= 8 {
            self.sent.remove(0);
        }
        self.sent.push(set.clone());
        Ok(credentials_for(&set))
    }
}

/// The credentials for an issued set, with sentinel secrets derived from the key id.
#[must_use]
pub fn credentials_for(set: &Issued) -> Credentials {
    Credentials::new(
        set.access_key_id.clone(),
        SecretAccessKey::new(format!("{SENTINEL}-key-{}", set.access_key_id)),
        SessionToken::new(format!("{SENTINEL}-token-{}", set.access_key_id)),
        set.expiration,
    )
    .with_kind("AWS-HMAC")
}

pub(super) fn role(n: u64) -> RoleName {
    RoleName::new(format!("role-{n}")).expect("role-N is a valid role name")
}

/// How the simulated IMDS answers the outstanding request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// What a healthy IMDS serves now: the current set, rotated on schedule.
    Healthy,
    /// A brand-new set (an early rotation).
    Fresh,
    /// The set sent last time again (not rotated, or a replay across a role change).
    Same,
    /// The set sent the time before last again (an older set replayed, perhaps of an old role).
    Older,
    /// A set that has already expired.
    Expired,
    /// A set living no longer than the client's margin (half of it).
    ShortLived,
    /// A brand-new set valid for exactly this long, outside the rotation schedule (a set of
    /// another lifetime, one living exactly the margin, or just over it).
    Lasting(Duration),
    /// A failure.
    Fail(ImdsFailure),
    /// 404 on the path asked for.
    NotFound,
}

/// Settings of a [`Harness`].
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    /// The machine's policy.
    pub policy: Policy,
    /// The machine's jitter seed.
    pub seed: u64,
    /// Lifetime of the credentials the simulated IMDS issues.
    pub lifetime: Duration,
    /// How long before expiry IMDS makes new credentials available.
    pub rotate_before: Duration,
    /// The true wall-clock time at the start.
    pub start: WallTime,
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            seed: 1,
            lifetime: Duration::from_secs(6 * 3600),
            rotate_before: Duration::from_secs(5 * 60),
            start: WallTime::from_unix_secs(1_795_862_471),
        }
    }
}

/// The harness's oracle: the shared [`Books`] and two counters.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    /// The books, kept from what went in and out of the machine.
    pub books: Books,
    /// Hand-outs seen.
    pub handouts: u64,
    /// Requests seen.
    pub requests: u64,
}

/// One row of the harness's trace: enough to compare two runs (INV-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// When.
    pub now: Now,
    /// The input kind.
    pub input: InputKind,
    /// The rule that fired.
    pub rule: Rule,
    /// The state kind after.
    pub kind: StateKind,
    /// The actions, formatted.
    pub actions: Vec<String>,
}

/// Drives a [`Machine`] against an [`ImdsModel`] and checks the invariants after every input.
#[derive(Debug)]
pub struct Harness {
    /// The machine under test.
    pub machine: Machine,
    /// The environment.
    pub imds: ImdsModel,
    /// The client's clocks.
    pub now: Now,
    skew_ms: i64,
    pending: Option<(RequestId, Request, MonoTime)>,
    issued_ids: u64,
    /// The oracle.
    pub oracle: Oracle,
    /// Every edge taken.
    pub edges: BTreeSet<Edge>,
    /// Edges taken that the transition table lacks ([`check_edge`]): recorded, not returned, so
    /// that an edge missing from the table never hides an invariant violation coming after it
    /// (the transition-table tests assert this stays empty).
    pub unexpected_edges: BTreeSet<Edge>,
    /// Every input, with its rule and result (kept while [`record`](Self::record) is set).
    pub trace: Vec<TraceRow>,
    /// Whether to keep the [`trace`](Self::trace) and the [`edges`](Self::edges): on by
    /// default, off in a [resumed](Self::resume) harness (a model checker runs one per state).
    pub record: bool,
    /// What the machine asked for in answer to the last input (events and its request).
    pub actions: Vec<Action>,
}

impl Harness {
    /// A harness in its initial state: machine idle, role attached, both clocks at `start`
    /// (the monotonic one at 1 s).
    #[must_use]
    pub fn new(config: HarnessConfig) -> Self {
        Self {
            machine: Machine::new(config.policy, config.seed),
            imds: ImdsModel::new(config.lifetime, config.rotate_before),
            now: Now::new(MonoTime::from_millis(1_000), config.start),
            skew_ms: 0,
            pending: None,
            issued_ids: 0,
            oracle: Oracle::default(),
            edges: BTreeSet::new(),
            unexpected_edges: BTreeSet::new(),
            trace: Vec::new(),
            record: true,
            actions: Vec::new(),
        }
    }

    /// A harness that takes over a run in the middle: `machine` in the state reached (see
    /// [`Machine::resume`]), `imds` as it is, the client's clocks at `now` with its wall clock
    /// `skew_ms` off the true one, and the oracle's `books` of the run so far (so that every
    /// step from here on is checked as if the harness had seen the whole run). A request the
    /// state says is outstanding is the one [`answer`](Self::answer) answers.
    #[must_use]
    pub fn resume(machine: Machine, imds: ImdsModel, now: Now, skew_ms: i64, books: Books) -> Self {
        let pending = match &machine.state().phase {
            Phase::Requesting { id, request, since } => Some((*id, *request, *since)),
            _ => None,
        };
        Self {
            machine,
            imds,
            now,
            skew_ms,
            pending,
            issued_ids: 0,
            oracle: Oracle {
                books,
                ..Oracle::default()
            },
            edges: BTreeSet::new(),
            unexpected_edges: BTreeSet::new(),
            trace: Vec::new(),
            record: false,
            actions: Vec::new(),
        }
    }

    /// The true wall-clock time (the client's wall clock minus its skew).
    #[must_use]
    pub fn true_wall(&self) -> WallTime {
        self.now.wall.offset_millis(-self.skew_ms)
    }

    /// Sets the client's wall clock to the true time: the clocks agree again.
    pub fn correct_wall(&mut self) {
        self.now.wall = self.true_wall();
        self.skew_ms = 0;
    }

    /// Whether a request is waiting for an answer.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The request waiting for an answer, if any.
    #[must_use]
    pub fn pending(&self) -> Option<&Request> {
        self.pending.as_ref().map(|(_, request, _)| request)
    }

    /// Answers the outstanding role listing with `result`, as a test scripts it (nothing
    /// happens when no listing is outstanding).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn reply_role(&mut self, result: Result<RoleName, ImdsFailure>) -> Result<(), Violation> {
        match self.pending.take() {
            Some((id, Request::DiscoverRole, _)) => self.input(Input::RoleReply { id, result }),
            other => {
                self.pending = other;
                Ok(())
            }
        }
    }

    /// Answers the outstanding credentials request with `result`, as a test scripts it
    /// (nothing happens when no credentials request is outstanding).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn reply_credentials(
        &mut self,
        result: Result<Credentials, ImdsFailure>,
    ) -> Result<(), Violation> {
        match self.pending.take() {
            Some((id, Request::FetchCredentials, _)) => {
                self.input(Input::CredentialsReply { id, result })
            }
            other => {
                self.pending = other;
                Ok(())
            }
        }
    }

    /// Steps the client's wall clock alone by `ms` milliseconds, keeping it within two hours
    /// of the true time (an NTP step; [`correct_wall`](Self::correct_wall) undoes it).
    pub fn jump_wall(&mut self, ms: i64) {
        let skew = self.skew_ms.saturating_add(ms).clamp(-7_200_000, 7_200_000);
        self.now.wall = self.now.wall.offset_millis(skew - self.skew_ms);
        self.skew_ms = skew;
    }

    /// A reply with an id that is not outstanding.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn stale_reply(&mut self) -> Result<(), Violation> {
        let id = RequestId(self.machine.state().next_request.saturating_add(7));
        self.input(Input::RoleReply {
            id,
            result: Err(ImdsFailure::Timeout),
        })
    }

    /// Moves both clocks forward by `d`, probing for a hand-out just before the end (the worst
    /// moment: the state is about to change, the credentials are at their oldest).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen by the probe.
    pub fn advance(&mut self, d: Duration) -> Result<(), Violation> {
        self.now = self.now.advance(d);
        self.probe().map(|_| ())
    }

    /// Moves to the machine's next deadline (if it is in the future) and ticks.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn wake_up(&mut self) -> Result<(), Violation> {
        if let Some(at) = self.machine.poll_timeout()
            && at > self.now.mono
        {
            self.advance(at.saturating_duration_since(self.now.mono))?;
        }
        self.input(Input::Tick)
    }

    /// Answers the outstanding request, if any, at the current time.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn answer(&mut self, answer: &Answer) -> Result<(), Violation> {
        let Some((id, request, _)) = self.pending.take() else {
            return Ok(());
        };
        let input = match request {
            Request::DiscoverRole => Input::RoleReply {
                id,
                result: self.imds.answer_role(answer),
            },
            Request::FetchCredentials => {
                // The role asked for: a credentials request goes out only with a role known,
                // and the role changes only on a reply.
                let Some(role) = self.machine.state().role().cloned() else {
                    return Ok(());
                };
                let margin = self.machine.policy().expiry_margin();
                let result = self
                    .imds
                    .answer_credentials(&role, answer, self.true_wall(), margin);
                Input::CredentialsReply { id, result }
            }
        };
        self.input(input)
    }

    /// Checks for a hand-out at the current time, as a caller would.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of INV-1, INV-2 or INV-5.
    pub fn probe(&mut self) -> Result<Option<Handout>, Violation> {
        let Ok(h) = self.machine.credentials(self.now) else {
            return Ok(None);
        };
        self.oracle.handouts += 1;
        self.check_handout(&h)?;
        Ok(Some(h))
    }

    fn check_handout(&mut self, h: &Handout) -> Result<(), Violation> {
        let c = h.credentials();
        self.oracle.books.check_handout(
            self.machine.policy(),
            self.now,
            c.access_key_id(),
            c.expiration(),
            h.in_grace(),
            self.machine.state().failing(),
        )
    }

    /// Feeds one input to the machine and checks everything that came out.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] seen.
    pub fn input(&mut self, input: Input) -> Result<(), Violation> {
        let before = self.machine.kind();
        let noted = self
            .oracle
            .books
            .before(self.machine.state(), &input, self.now);
        let kind = input.kind();
        let rule = match self.machine.handle_input(self.now, input) {
            Ok(rule) => rule,
            Err(e) => {
                return Err(Violation::new(
                    "INV-6",
                    format!("usage error with a monotonic clock: {e}"),
                ));
            }
        };
        let after = self.machine.kind();
        let edge = Edge {
            from: before,
            input: kind,
            to: after,
            rule,
        };
        let mut actions = Vec::new();
        while let Some(a) = self.machine.poll_action() {
            actions.push(a);
        }
        if self.record {
            self.edges.insert(edge);
            self.trace.push(TraceRow {
                now: self.now,
                input: kind,
                rule,
                kind: after,
                actions: actions.iter().map(|a| format!("{a:?}")).collect(),
            });
        }
        let issued = check_step(
            &mut self.oracle.books,
            self.machine.policy(),
            self.now,
            noted,
            edge,
            self.machine.state(),
            &actions,
        );
        self.actions = actions;
        if check_edge(&edge).is_err() {
            self.unexpected_edges.insert(edge);
        }
        if let Some((id, request)) = issued? {
            self.oracle.requests += 1;
            self.issued_ids += 1;
            self.pending = Some((id, request, self.now.mono));
        }
        Ok(())
    }

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

/// Checks one transition of the real machine after it happened: the oracle's books (every
/// invariant a transition can break: INV-1..5) and the new state's structure. `before` is what
/// [`Books::before`] noted of the input before the machine saw it; `edge` says what happened.
/// Returns the request the transition issued, if any. [`check_edge`] checks the edge against
/// the transition table.
///
/// Every driver checks its steps with these two functions: the [`Harness`] (property tests,
/// scenario tests, the example, the liveness checks) and the exhaustive model.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_step(
    books: &mut Books,
    policy: &Policy,
    now: Now,
    before: Before,
    edge: Edge,
    state: &State,
    actions: &[Action],
) -> Result<Option<(RequestId, Request)>, Violation> {
    let issued = books.after(policy, now, before, edge.rule, state, actions)?;
    check_structure(state, edge.to, state.next_deadline(policy), now.mono)?;
    Ok(issued)
}

/// Checks that `edge` is one of [`table::TABLE`]'s.
///
/// # Errors
///
/// A `TABLE` [`Violation`] naming the edge.
pub fn check_edge(edge: &Edge) -> Result<(), Violation> {
    if table::allows(edge) {
        return Ok(());
    }
    Err(Violation::new(
        "TABLE",
        format!(
            "edge {} --{}/{}--> {} is not in credcycle_core::table::TABLE",
            edge.from,
            edge.input.name(),
            edge.rule,
            edge.to
        ),
    ))
}
