//! The world the exhaustive check explores: the core's real [`State`], the environment around it
//! (an IMDS that may answer anything, the client's clocks) and an oracle's books, all in one
//! hashable value.
//!
//! # Time is relative
//!
//! Every time in a [`World`] is stored relative to "now": the monotonic clock always reads
//! [`MONO0`] and the true wall clock [`WALL0`] (the client's wall clock reads `WALL0 + skew`).
//! When time passes by `d`, every stored instant is moved back by `d` instead. Two histories
//! that leave the machine in the same situation *relative to now* are then the same state, which
//! is what makes exhaustive search possible: [`step`] is invariant under such a translation (its
//! arithmetic only compares instants and adds durations; nothing comes near saturation so far
//! from both ends of the `u64`/`i64` ranges).
//!
//! # Canonical form
//!
//! After every action the world is put in a canonical form ([`Lifecycle::canonicalize`]): data
//! that no later step can read is erased or clamped, so that it does not split states. Each
//! rewrite is justified where it is made; none changes what [`step`] or the oracle will do from
//! that state on.

use core::fmt;
use core::num::NonZeroU32;
use core::time::Duration;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use credcycle_core::internals::{self, Phase};
use credcycle_core::oracle::{self, Books, Violation, signed as human_signed};
use credcycle_core::table::Edge;
use credcycle_core::testing::world::{
    Answer as Given, ImdsModel, Issued, check_edge, check_step, credentials_for,
};
use credcycle_core::{
    AccessKeyId, Action, Event, Failure, ImdsFailure, Input, InputKind, Jitter, MonoTime, Now,
    Policy, Request, RequestId, RoleName, Rule, ServeMode, State, StateKind, Transition, WallTime,
    step,
};

/// The monotonic clock's reading "now", in every world (far from zero, so that nothing the
/// machine computes saturates at the epoch).
pub const MONO0: MonoTime = MonoTime::from_millis(1_000_000_000_000);
/// The true wall clock's reading "now", in every world (2026-11-28T10:41:11Z).
pub const WALL0: WallTime = WallTime::from_unix_secs(1_795_862_471);
/// The id the next request gets, in every world (ids are shifted like times).
const NEXT_ID: u64 = 1_000;
/// The access key id a caller reports when it reports a key that was never issued.
pub const NEVER_ISSUED: &str = "ASIANEVERISSUED";
/// What a revoked key that can never arrive again is renamed to.
const DEAD: &str = "DEAD";
/// How far the client's wall clock may be from the true one.
pub const MAX_SKEW_MS: i64 = 3_600_000;
/// Lifetime of the long-lived sets the model's IMDS issues.
pub const LONG_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// Lifetime of the short-lived sets (a chained role, a test rig).
pub const SHORT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The two roles an instance profile may carry in the model.
#[must_use]
pub fn role(b: bool) -> RoleName {
    // Both names are valid role names; the fallback is never taken.
    RoleName::new(if b { "role-b" } else { "role-a" }).unwrap_or_else(|_| unreachable_role())
}

#[cold]
fn unreachable_role() -> RoleName {
    RoleName::new("role").unwrap_or_else(|_| unreachable_role())
}

/// One state of the exhaustive search. Its `Debug` names the machine's state kind first (what
/// the explorer shows); it holds no secret (the core's state keeps none, nor does the IMDS's).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct World {
    /// The real machine's state (times relative to now).
    pub core: State,
    /// The client's wall clock minus the true one, in ms (within +-[`MAX_SKEW_MS`]).
    pub skew_ms: i64,
    /// The environment: the realistic world's IMDS ([`ImdsModel`]), here answering whatever
    /// the search chooses. It keeps the last two sets it sent (what a replay sends again);
    /// everything else it would keep is erased after each step (see
    /// [`ImdsModel::keep_only_replays`]).
    pub imds: ImdsModel,
    /// The last request the machine made, until it is answered (it may have been abandoned).
    pub pending: Option<(RequestId, Request)>,
    /// The oracle's books.
    pub books: Books,
    /// Whether the machine runs with a pinned role (`role-a`, the SDKs'
    /// `AWS_EC2_INSTANCE_PROFILE_NAME`): it then never lists roles.
    pub pinned: bool,
    /// The first invariant broken on the way here; nothing is explored past it.
    pub violation: Option<Violation>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("kind", &self.core.kind())
            .field("core", &self.core)
            .field("skew_ms", &self.skew_ms)
            .field("imds", &self.imds)
            .field("pending", &self.pending)
            .field("books", &self.books)
            .field("pinned", &self.pinned)
            .field("violation", &self.violation)
            .finish()
    }
}

/// How IMDS answers the pending request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Listing: this role is attached (`false`: role-a, `true`: role-b).
    Role(bool),
    /// A brand-new set, valid for [`LONG_LIFETIME`] (success).
    Fresh,
    /// A brand-new set, valid for [`SHORT_LIFETIME`] (success, short tier).
    FreshShort,
    /// The set sent last time, again (not rotated).
    Same,
    /// The set sent the time before last (a replay, perhaps of another role).
    Older,
    /// A set that expired a second ago (stale).
    Expired,
    /// A set valid for half the expiry margin (too short-lived).
    TooShort,
    /// A set valid for exactly the expiry margin (the boundary: too short-lived, just).
    AtMargin,
    /// A set valid for the expiry margin plus one second: usable only if it arrives within a
    /// second of its request (the other half of R6: the monotonic deadline, counted from the
    /// request's start, must also be more than the margin away).
    OverMargin,
    /// 404 on the role's credentials path (role removed or changed).
    RoleGone,
    /// 404 on the listing, or "no instance profile" on the credentials path.
    NoProfile,
    /// An IMDS failure of each class.
    Fail(ImdsFailure),
}

/// What may happen next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// A caller wants credentials.
    Demand(Jitter),
    /// A tick, now.
    Tick(Jitter),
    /// Time passes to the machine's next deadline, then a tick (a caller keeping the contract).
    Wake(Jitter),
    /// Time passes, with nothing else happening: a symbolic jump.
    Wait(Jump, u64),
    /// The client's wall clock alone jumps by this many ms.
    JumpWall(i64),
    /// IMDS answers the pending request.
    Answer(Answer, Jitter),
    /// A reply with a made-up id that is not outstanding: to a listing (`false`), or to a
    /// credentials request (`true`), carrying a brand-new set that must not be taken (R17).
    StaleReply(bool),
    /// A caller reports the held key rejected (`true`), or a key never issued.
    Invalidate(bool),
    /// Shut down.
    Shutdown,
    /// A tick with a monotonic time 1 ms before the latest one seen.
    Regress,
}

/// The symbolic time jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Jump {
    /// The retry floor: a small step, to probe backoff gates and "before refresh".
    Floor,
    /// Up to 1 ms before the machine's next deadline (the worst moment to be asked).
    BeforeDeadline,
    /// To the machine's next deadline, without a tick.
    ToDeadline,
    /// To the last instant the held set is servable on the wall clock.
    LastWall,
    /// To the first instant the held set is no longer servable on the wall clock.
    PastWall,
    /// To the first instant the held set is no longer servable on the monotonic clock.
    PastMono,
    /// One second past the held set's `Expiration` (on the client's wall clock): a caller that
    /// slept through everything.
    PastExpiry,
}

/// Information about one step, for traces and edge checks.
#[derive(Clone, Debug)]
pub struct StepInfo {
    /// The input fed to the machine, if any.
    pub input: Option<InputKind>,
    /// The rule that fired, if an input was fed.
    pub rule: Option<Rule>,
    /// The state kinds before and after.
    pub kinds: (StateKind, StateKind),
    /// How much time passed.
    pub elapsed_ms: u64,
    /// The actions the machine emitted, formatted.
    pub actions: Vec<String>,
    /// Whether a hand-out was possible after the step, and of which key.
    pub handout: Option<String>,
}

/// The model: the policies, and where to record the edges seen.
#[derive(Debug)]
pub struct Lifecycle {
    /// The machine's policy.
    pub policy: Policy,
    /// A policy that pins `role-a`, for the worlds that start pinned (if any).
    pub pinned_policy: Option<Policy>,
    /// Edges `(from, input, to, rule)` taken by the real `step`.
    pub edges: Arc<Mutex<BTreeSet<Edge>>>,
    /// The largest failure count that still changes behaviour (see [`Lifecycle::canonicalize`]).
    failure_cap: u32,
}

impl Lifecycle {
    /// A model of the machine under `policy`, and also under `pinned_policy` (which should be
    /// the same policy with `role-a` pinned) if given.
    #[must_use]
    pub fn new(policy: Policy, pinned_policy: Option<Policy>) -> Self {
        // Past this many failures in a row the uncapped backoff exceeds both caps, so one more
        // failure changes nothing but the count.
        let cap = policy
            .backoff_cap_serving()
            .max(policy.backoff_cap_refusing());
        let mut failure_cap = 1u32;
        while failure_cap < 40
            && policy
                .backoff_base()
                .saturating_mul(1u32 << (failure_cap - 1).min(31))
                < cap
        {
            failure_cap += 1;
        }
        Self {
            policy,
            pinned_policy,
            edges: Arc::new(Mutex::new(BTreeSet::new())),
            failure_cap: failure_cap + 1,
        }
    }

    /// The policy of the machine in a world with `pinned` set or not.
    #[must_use]
    pub fn pol(&self, pinned: bool) -> &Policy {
        match &self.pinned_policy {
            Some(p) if pinned => p,
            _ => &self.policy,
        }
    }

    /// The client's clocks in `w`.
    #[must_use]
    pub fn now(w: &World) -> Now {
        Now::new(MONO0, WALL0.offset_millis(w.skew_ms))
    }

    /// The initial worlds: without a pinned role, and with one if there is a pinned policy.
    #[must_use]
    pub fn inits(&self) -> Vec<World> {
        let mut out = vec![self.init(false)];
        if self.pinned_policy.is_some() {
            out.push(self.init(true));
        }
        out
    }

    /// The initial world: the machine idle, nothing sent, clocks agreeing; with or without a
    /// pinned role.
    #[must_use]
    pub fn init(&self, pinned: bool) -> World {
        let mut w = World {
            core: State::new(self.pol(pinned)),
            skew_ms: 0,
            imds: ImdsModel::new(LONG_LIFETIME, Duration::from_secs(5 * 60)),
            pending: None,
            books: Books::default(),
            pinned,
            violation: None,
        };
        self.canonicalize(&mut w);
        w
    }

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

    /// Puts `w` in canonical form. Every rewrite erases only what no later step of the machine
    /// or of the oracle can read:
    ///
    /// - `last_mono` := now: the model feeds inputs at now, or 1 ms before the latest time seen
    ///   ([`Act::Regress`]), so only "is it before the latest time" matters, and now is latest.
    /// - a `Waiting`/`Detached` deadline already reached := now: [`step`] only asks whether it
    ///   was reached, and the wait it is cut to (`min(until, now + cap)`) is then reached too.
    /// - the failure count capped where the uncapped backoff exceeds both caps (counted in events
    ///   only).
    /// - `generation` := 0 (only counted and reported), the last failure's details erased (read
    ///   by `Machine`'s refusal messages, never by `step`), revoked entries' times erased (`step`
    ///   matches revoked sets by key id only).
    /// - key ids renamed in order of appearance (`step` only compares them); a revoked key that
    ///   IMDS can no longer send (not held, not among the sets it may replay) renamed `DEAD`,
    ///   keeping the list's length (its eviction order still matters).
    /// - request ids shifted so that the next one is always the same (only compared).
    /// - the oracle forgets what cannot matter again: deadlines and revocations of keys that can
    ///   never be handed out again, requests that timed out, failures older than the retry floor.
    pub fn canonicalize(&self, w: &mut World) {
        let policy = self.pol(w.pinned);
        let now = MONO0;
        let current = w.core.outstanding().map(|(id, _)| id);
        let s = internals::parts_mut(&mut w.core);
        *s.last_mono = now;
        if let Phase::Waiting { until } | Phase::Detached { until } = &mut *s.phase
            && *until < now
        {
            *until = now;
        }
        *s.generation = 0;
        if let Some(f) = s.failing.as_mut() {
            f.count = NonZeroU32::new(f.count.get().min(self.failure_cap)).unwrap_or(f.count);
            if let Failure::Stale { expiration } = &mut f.last {
                *expiration = WallTime::UNIX_EPOCH;
            }
            if let Failure::TooShortLived { lifetime } = &mut f.last {
                *lifetime = Duration::ZERO;
            }
        }
        // The environment: only the last two sets sent can matter again (a replay).
        w.imds.keep_only_replays(2);
        // Keys: the live ones in order of appearance, the rest dead.
        let mut order: Vec<AccessKeyId> = Vec::new();
        for k in s
            .held
            .iter()
            .map(|h| &h.access_key_id)
            .chain(w.imds.sent().iter().map(|x| &x.access_key_id))
        {
            if !order.contains(k) {
                order.push(k.clone());
            }
        }
        let rename = |k: &AccessKeyId| -> AccessKeyId {
            match order.iter().position(|o| o == k) {
                Some(i) => AccessKeyId::new(format!("K{i}")),
                None => AccessKeyId::new(DEAD),
            }
        };
        if let Some(h) = s.held.as_mut() {
            h.access_key_id = rename(&h.access_key_id);
        }
        for r in s.revoked.iter_mut() {
            r.access_key_id = rename(&r.access_key_id);
            r.expiration = WallTime::UNIX_EPOCH;
            r.deadline = MonoTime::ZERO;
        }
        if let Some(e) = s.expired.as_mut() {
            // `step` matches it by key id and `Expiration`; its deadline is never read.
            e.access_key_id = rename(&e.access_key_id);
            e.deadline = MonoTime::ZERO;
        }
        w.imds.rename_keys(rename);
        let live = |k: &AccessKeyId| order.contains(k);
        let b = &mut w.books;
        b.deadlines = core::mem::take(&mut b.deadlines)
            .into_iter()
            .filter(|((k, _), _)| live(k))
            .map(|((k, e), d)| ((rename(&k), e), d))
            .collect();
        b.revoked = core::mem::take(&mut b.revoked)
            .into_iter()
            .filter(|k| live(k))
            .map(|k| rename(&k))
            .collect();
        b.accepted_since_removal = core::mem::take(&mut b.accepted_since_removal)
            .into_iter()
            .filter(|k| live(k))
            .map(|k| rename(&k))
            .collect();
        // A timed-out request still matters while the machine has not abandoned it (its reply
        // may still be accepted, and the oracle needs its start time).
        let timeout = policy.request_timeout();
        b.outstanding
            .retain(|(id, since)| Some(*id) == current || now < since.saturating_add(timeout));
        if b.last_failure
            .is_some_and(|f| f.saturating_add(policy.retry_floor()) <= now)
        {
            b.last_failure = None;
        }
        // A backoff that has ended no longer constrains anything; the count is capped with the
        // machine's (the oracle checks that the two agree).
        if b.earliest_retry.is_some_and(|t| t <= now) {
            b.earliest_retry = None;
        }
        b.failures = b.failures.min(self.failure_cap);
        if let Some((k, _)) = &mut b.held {
            *k = rename(k);
        }
        // Request ids.
        let delta = NEXT_ID as i64 - *s.next_request as i64;
        let shift_id = |id: &mut RequestId| id.0 = (id.0 as i64 + delta).max(0) as u64;
        *s.next_request = NEXT_ID;
        if let Phase::Requesting { id, .. } = &mut *s.phase {
            shift_id(id);
        }
        if let Some((id, _)) = &mut w.pending {
            shift_id(id);
        }
        for (id, _) in &mut b.outstanding {
            shift_id(id);
        }
    }
}

fn shift(w: &mut World, d: u64) {
    let dm = Duration::from_millis(d);
    let back_mono = |t: &mut MonoTime| *t = t.saturating_sub(dm);
    let back_wall = |t: &mut WallTime| *t = t.saturating_sub(dm);
    let s = internals::parts_mut(&mut w.core);
    match &mut *s.phase {
        Phase::Requesting { since, .. } => back_mono(since),
        Phase::Waiting { until } | Phase::Detached { until } => back_mono(until),
        Phase::Idle | Phase::Stopped => {}
    }
    if let Some(h) = s.held.as_mut() {
        back_wall(&mut h.expiration);
        back_mono(&mut h.deadline);
    }
    if let Some(n) = s.newest.as_mut() {
        back_wall(n);
    }
    if let Some(e) = s.expired.as_mut() {
        back_wall(&mut e.expiration);
        back_mono(&mut e.deadline);
    }
    w.imds.shift_back(dm);
    let b = &mut w.books;
    b.deadlines = core::mem::take(&mut b.deadlines)
        .into_iter()
        .map(|((k, mut e), mut dl)| {
            back_wall(&mut e);
            back_mono(&mut dl);
            ((k, e), dl)
        })
        .collect();
    for (_, since) in &mut b.outstanding {
        back_mono(since);
    }
    if let Some(f) = &mut b.last_failure {
        back_mono(f);
    }
    if let Some(f) = &mut b.earliest_retry {
        back_mono(f);
    }
    if let Some((_, e)) = &mut b.held {
        back_wall(e);
    }
    if let Some(l) = &mut b.last_handed_out {
        back_wall(l);
    }
}

/// A key id no part of `w` uses (canonicalisation renames it later).
fn fresh_key(w: &World) -> AccessKeyId {
    AccessKeyId::new(format!("NEW{}", w.imds.sent().len() + 100))
}

fn v(id: &'static str, detail: impl Into<String>) -> Violation {
    Violation::new(id, detail)
}

/// Whole milliseconds of `d`.
#[must_use]
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn mono_diff(a: MonoTime, b: MonoTime) -> i64 {
    a.as_millis() as i64 - b.as_millis() as i64
}

/// A monotonic instant relative to now, for people: `now+4h45m`, `now-30s`.
#[must_use]
pub fn rel_mono(t: MonoTime) -> String {
    oracle::relative(t, MONO0)
}

/// A duration in ms, for people.
#[must_use]
pub fn human(ms: u64) -> String {
    credcycle_core::HumanDuration(Duration::from_millis(ms)).to_string()
}

fn format_action(a: &Action) -> String {
    match a {
        Action::DiscoverRole { id } => format!("DiscoverRole {id}"),
        Action::FetchCredentials { id, role } => format!("FetchCredentials {id} {role}"),
        Action::Notify(Event::Accepted {
            access_key_id,
            refresh_at,
            ..
        }) => format!(
            "Accepted {access_key_id}, refresh at {}",
            rel_mono(*refresh_at)
        ),
        Action::Notify(Event::AttemptFailed {
            failure, retry_at, ..
        }) => format!(
            "AttemptFailed ({failure}), retry at {}",
            rel_mono(*retry_at)
        ),
        Action::Notify(Event::Dropped {
            access_key_id,
            reason,
        }) => format!("Dropped {access_key_id} ({reason})"),
        Action::Notify(Event::RoleDiscovered { role }) => format!("RoleDiscovered {role}"),
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn j(j: &Jitter) -> &'static str {
            match *j {
                Jitter::ZERO => "",
                Jitter::HALF => " (jitter 1/2)",
                Jitter::ONE => " (jitter 1)",
                _ => " (jitter ?)",
            }
        }
        match self {
            Self::Demand(x) => write!(f, "Demand{}", j(x)),
            Self::Tick(x) => write!(f, "Tick{}", j(x)),
            Self::Wake(x) => write!(f, "wait to the next deadline, Tick{}", j(x)),
            Self::Wait(jump, d) => write!(f, "wait {} ({jump:?})", human(*d)),
            Self::JumpWall(d) => write!(f, "wall clock jumps {}", human_signed(*d)),
            Self::Answer(a, x) => write!(f, "IMDS answers {a:?}{}", j(x)),
            Self::StaleReply(false) => write!(f, "a listing reply with a made-up id"),
            Self::StaleReply(true) => {
                write!(
                    f,
                    "a credentials reply with a made-up id, carrying a new set"
                )
            }
            Self::Invalidate(true) => write!(f, "Invalidate the held key"),
            Self::Invalidate(false) => write!(f, "Invalidate a key never issued"),
            Self::Shutdown => write!(f, "Shutdown"),
            Self::Regress => write!(f, "Tick 1 ms in the past"),
        }
    }
}
