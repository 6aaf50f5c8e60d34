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
//!
//! [`step`]: credcycle_core::step

use core::fmt;
use core::time::Duration;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use credcycle_core::oracle::{Books, Violation};
use credcycle_core::table::Edge;
use credcycle_core::testing::world::ImdsModel;
use credcycle_core::{
    ImdsFailure, InputKind, Jitter, MonoTime, Now, Policy, Request, RequestId, RoleName, Rule,
    State, StateKind, WallTime,
};

mod canonical;
mod explore;
mod format;

pub use format::{human, ms, rel_mono};

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
    /// Kept beside the machine from its inputs and outputs, and hashed with the rest: two
    /// worlds whose books differ are different states.
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
    /// A caller wants credentials; the jitter is the one the machine draws, if it draws.
    Demand(Jitter),
    /// A tick at the current time, deadline or not.
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
    /// Shut the machine down `[R14]`: from then on it refuses every demand.
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
    /// For the worlds that do not start pinned.
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
}
