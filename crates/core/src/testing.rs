//! Property-testing kit: proptest strategies, a simulated IMDS, and an oracle that checks the
//! invariants after every step. Behind the `proptest` feature.
//!
//! The pieces are public so that other projects can test their own credential clients the same
//! way:
//!
//! - [`ImdsModel`]: the environment. An instance whose profile can be attached, detached or
//!   changed, whose IMDS issues credentials of a fixed lifetime and makes new ones available
//!   `rotate_before` their expiry (5 minutes on EC2), and which can be told to answer anything
//!   at all: the current set, a new one, the same one again, an expired one, an error.
//! - [`Op`] and [`ops`]: random sequences of environment events, time steps (small and large),
//!   wall-clock jumps of up to two hours, demands, invalidations, stale replies.
//! - [`Harness`]: drives a [`Machine`] through a sequence of [`Op`]s, answering its requests
//!   from the [`ImdsModel`], probing for a hand-out after every step, and checking INV-1..INV-5
//!   with an [`Oracle`] that keeps its own books (its own monotonic deadlines, its own list of
//!   revoked keys, its own record of outstanding requests). It records every edge taken, for the
//!   transition-table check, and a trace, for the determinism check (INV-6).
//! - [`policies`], [`imds_failures`], [`inputs`]: smaller strategies.
//!
//! ```
//! use credcycle_core::testing::{Harness, HarnessConfig, ops};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(16), |(ops in ops(1..60))| {
//!     let mut h = Harness::new(HarnessConfig::default());
//!     for op in &ops {
//!         h.apply(op).map_err(|v| TestCaseError::fail(v.to_string()))?;
//!     }
//! });
//! ```

#![expect(
    clippy::expect_used,
    reason = "test support: an expect that fails is a bug in the kit itself"
)]

use core::time::Duration;
use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::creds::{AccessKeyId, Credentials, RoleName, SecretAccessKey, SessionToken};
use crate::input::{ImdsFailure, Input, InputKind, RequestId};
use crate::machine::{Handout, Machine};
use crate::policy::Policy;
use crate::state::{Request, StateKind};
use crate::step::Rule;
use crate::table::{self, Edge};
use crate::time::{Jitter, MonoTime, Now, WallTime};

pub use crate::oracle::{Books, Violation, check_structure};

/// The prefix of every secret the [`ImdsModel`] issues: a test can search any output for it.
pub const SENTINEL: &str = "SENTINEL-SECRET";

/// A credential set the simulated IMDS issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Its access key id (unique per issue).
    pub access_key_id: AccessKeyId,
    /// Its expiry, on the true clock.
    pub expiration: WallTime,
}

/// The environment: one instance and its IMDS, on the *true* wall clock.
#[derive(Clone, Debug)]
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
            sent: Vec::new(),
            issued: 0,
            roles: 0,
        }
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

    /// The set IMDS serves at `now` (true time): the current one, or a new one once the
    /// current one is within `rotate_before` of its expiry.
    pub fn serve(&mut self, now: WallTime) -> Issued {
        match &self.current {
            Some(c) if now < c.expiration.saturating_sub(self.rotate_before) => c.clone(),
            _ => self.rotate(now),
        }
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

fn role(n: u64) -> RoleName {
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
    /// A set living no longer than the client's margin.
    ShortLived,
    /// A failure.
    Fail(ImdsFailure),
    /// 404 on the path asked for.
    NotFound,
}

/// One step of the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Both clocks move forward by this many milliseconds.
    Advance(u64),
    /// The client's wall clock alone jumps by this many milliseconds (kept within +-2 h of the
    /// true time).
    JumpWall(i64),
    /// The client's wall clock is corrected to the true time (NTP after a step).
    CorrectWall,
    /// A caller wants credentials ([`Input::Demand`]).
    Demand,
    /// A tick at the current time.
    Tick,
    /// Time moves to the machine's next deadline, then a tick.
    WakeUp,
    /// IMDS answers the outstanding request (nothing happens when none is).
    Answer(Answer),
    /// A caller reports the held key rejected (`held`), or some other key.
    Invalidate {
        /// Whether the held key is reported (else a key never issued).
        held: bool,
    },
    /// A reply with an id that is not outstanding.
    StaleReply,
    /// The instance profile is detached.
    Detach,
    /// A profile is attached: the previous role again (`same`) or a new one.
    Attach {
        /// Whether the same role comes back.
        same: bool,
    },
    /// The attached role is replaced.
    ChangeRole,
    /// The machine is shut down.
    Shutdown,
}

/// Random [`ImdsFailure`]s.
pub fn imds_failures() -> impl Strategy<Value = ImdsFailure> {
    prop_oneof![
        Just(ImdsFailure::Timeout),
        Just(ImdsFailure::ConnectionRefused),
        prop::sample::select(vec![400u16, 401, 403, 404, 405, 429, 500, 502, 503])
            .prop_map(ImdsFailure::HttpStatus),
        Just(ImdsFailure::Malformed),
        Just(ImdsFailure::NotSuccess {
            code: "AssumeRoleUnauthorizedAccess".into()
        }),
    ]
}

/// Random IMDS answers, weighted towards the useful ones.
pub fn answers() -> impl Strategy<Value = Answer> {
    prop_oneof![
        8 => Just(Answer::Healthy),
        2 => Just(Answer::Fresh),
        3 => Just(Answer::Same),
        1 => Just(Answer::Older),
        1 => Just(Answer::Expired),
        1 => Just(Answer::ShortLived),
        3 => imds_failures().prop_map(Answer::Fail),
        1 => Just(Answer::NotFound),
    ]
}

/// Random environment steps. Time steps are mostly short (under 2 s, to probe backoff gates)
/// with some long ones (up to 3 h, to cross refresh points and expiries).
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..2_000).prop_map(Op::Advance),
        2 => (0u64..3 * 3_600_000).prop_map(Op::Advance),
        2 => (-7_200_000i64..=7_200_000).prop_map(Op::JumpWall),
        1 => Just(Op::CorrectWall),
        3 => Just(Op::Demand),
        2 => Just(Op::Tick),
        8 => Just(Op::WakeUp),
        10 => answers().prop_map(Op::Answer),
        2 => any::<bool>().prop_map(|held| Op::Invalidate { held }),
        1 => Just(Op::StaleReply),
        1 => Just(Op::Detach),
        1 => any::<bool>().prop_map(|same| Op::Attach { same }),
        1 => Just(Op::ChangeRole),
        1 => Just(Op::Shutdown),
    ]
}

/// Random sequences of [`op`]s.
pub fn ops(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), len)
}

/// Random valid policies: margins, windows, backoff and grace vary; every one passes
/// [`PolicyBuilder::build`](crate::PolicyBuilder::build).
pub fn policies() -> impl Strategy<Value = Policy> {
    (
        0u64..=240,
        prop::sample::select(vec![0u32, 20, 50, 100]),
        prop::sample::select(vec![250u64, 500, 1_000, 2_000]),
        prop::sample::select(vec![2u64, 10, 60]),
        prop::sample::select(vec![60u64, 300, 600]),
        prop::sample::select(vec![0u64, 60, 300, 900]),
        prop::sample::select(vec![5u64, 30]),
        prop::bool::weighted(0.2),
        prop::sample::select(vec![1u32, 3]),
    )
        .prop_map(
            |(margin, jitter, base_ms, refusing, serving, grace, timeout, pinned, attempts)| {
                Policy::builder()
                    .expiry_margin(Duration::from_secs(margin))
                    .refresh_jitter_percent(jitter)
                    .backoff_base(Duration::from_millis(base_ms))
                    .retry_floor(Duration::from_millis(base_ms / 4))
                    .backoff_cap_refusing(Duration::from_secs(refusing))
                    .backoff_cap_serving(Duration::from_secs(serving))
                    .grace(Duration::from_secs(grace))
                    .request_timeout(Duration::from_secs(timeout))
                    .pinned_role(pinned.then(|| role(0)))
                    .http_attempts(attempts)
                    .build()
                    .unwrap_or_default()
            },
        )
}

/// Arbitrary raw inputs, including replies with made-up ids and absurd expiries: for totality.
pub fn inputs() -> impl Strategy<Value = Input> {
    let id = (0u64..8).prop_map(RequestId);
    let creds = ("[A-Z0-9]{1,20}", any::<i64>()).prop_map(|(akid, exp)| {
        credentials_for(&Issued {
            access_key_id: AccessKeyId::new(akid),
            expiration: WallTime::from_unix_millis(exp),
        })
    });
    prop_oneof![
        Just(Input::Demand),
        Just(Input::Tick),
        (
            id.clone(),
            prop::result::maybe_ok(
                "[a-z]{1,8}".prop_map(|r| role_or_default(&r)),
                imds_failures()
            )
        )
            .prop_map(|(id, result)| Input::RoleReply { id, result }),
        (id, prop::result::maybe_ok(creds, imds_failures()))
            .prop_map(|(id, result)| Input::CredentialsReply { id, result }),
        "[A-Z0-9]{1,20}".prop_map(|k| Input::Invalidate {
            access_key_id: AccessKeyId::new(k)
        }),
        Just(Input::Shutdown),
    ]
}

fn role_or_default(name: &str) -> RoleName {
    RoleName::new(name).unwrap_or_else(|_| role(0))
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

/// Random harness settings: policy, seed, lifetime (15 min to 12 h) and rotation lead.
pub fn harness_configs() -> impl Strategy<Value = HarnessConfig> {
    (
        policies(),
        any::<u64>(),
        prop::sample::select(vec![15u64, 60, 360, 720]),
    )
        .prop_map(|(policy, seed, minutes)| HarnessConfig {
            policy,
            seed,
            lifetime: Duration::from_secs(minutes * 60),
            rotate_before: Duration::from_secs(5 * 60),
            ..HarnessConfig::default()
        })
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
    /// Edges taken that the transition table does not allow (should stay empty).
    pub unexpected_edges: BTreeSet<Edge>,
    /// Every input, with its rule and result.
    pub trace: Vec<TraceRow>,
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

    /// Applies one environment step, then probes for a hand-out.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] seen.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        match op {
            Op::Advance(ms) => self.advance(Duration::from_millis(*ms))?,
            Op::JumpWall(ms) => {
                let skew = self
                    .skew_ms
                    .saturating_add(*ms)
                    .clamp(-7_200_000, 7_200_000);
                self.now.wall = self.now.wall.offset_millis(skew - self.skew_ms);
                self.skew_ms = skew;
            }
            Op::CorrectWall => self.correct_wall(),
            Op::Demand => self.input(Input::Demand)?,
            Op::Tick => self.input(Input::Tick)?,
            Op::WakeUp => self.wake_up()?,
            Op::Answer(answer) => self.answer(answer)?,
            Op::Invalidate { held } => {
                let key = match (held, &self.machine.state().held) {
                    (true, Some(h)) => h.access_key_id.clone(),
                    _ => AccessKeyId::new("ASIANEVERISSUED"),
                };
                // AWS rejected it, so IMDS stops serving it too.
                self.imds.reject(&key);
                self.input(Input::Invalidate { access_key_id: key })?;
            }
            Op::StaleReply => {
                let id = RequestId(self.machine.state().next_request.saturating_add(7));
                self.input(Input::RoleReply {
                    id,
                    result: Err(ImdsFailure::Timeout),
                })?;
            }
            Op::Detach => self.imds.detach(),
            Op::Attach { same } => self.imds.attach(*same),
            Op::ChangeRole => self.imds.change_role(),
            Op::Shutdown => self.input(Input::Shutdown)?,
        }
        self.probe().map(|_| ())
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
            Request::FetchCredentials(role) => {
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
        if !table::allows(&edge) {
            // Recorded, not returned: an unexpected edge must not hide an invariant violation
            // behind it. The transition-table tests assert this set stays empty.
            self.unexpected_edges.insert(edge);
        }
        self.edges.insert(edge);
        let mut actions = Vec::new();
        while let Some(a) = self.machine.poll_action() {
            actions.push(a);
        }
        self.trace.push(TraceRow {
            now: self.now,
            input: kind,
            rule,
            kind: after,
            actions: actions.iter().map(|a| format!("{a:?}")).collect(),
        });
        let issued = self.oracle.books.after(
            self.machine.policy(),
            self.now,
            noted,
            rule,
            self.machine.state(),
            &actions,
        )?;
        if let Some((id, request)) = issued {
            self.oracle.requests += 1;
            self.issued_ids += 1;
            self.pending = Some((id, request, self.now.mono));
        }
        check_structure(
            self.machine.state(),
            after,
            self.machine.poll_timeout(),
            self.now.mono,
        )
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
        Ok(gap.longest)
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
    longest: Duration,
}

/// Steps the pure transition function over arbitrary inputs and times (which may go
/// backwards), returning the rules that fired: for totality and determinism checks (INV-6).
#[must_use]
pub fn run_raw(policy: &Policy, steps: &[(Input, u64, i64, u32)]) -> Vec<Rule> {
    let mut state = crate::State::new(policy);
    let mut rules = Vec::with_capacity(steps.len());
    for (input, mono, wall, jitter) in steps {
        let now = Now::new(
            MonoTime::from_millis(*mono),
            WallTime::from_unix_millis(*wall),
        );
        let t = crate::step(&state, input, now, Jitter::from_raw(*jitter), policy);
        rules.push(t.rule);
        state = t.state;
    }
    rules
}
