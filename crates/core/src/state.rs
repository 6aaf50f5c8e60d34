//! The lifecycle's state: only metadata, never a secret.
//!
//! [`State`] is a small struct of orthogonal parts (what is happening now, which role, which
//! credentials are held, how many attempts failed in a row) rather than one enum with a dozen
//! variants, the way hyper splits reading from writing. [`StateKind`] is the fieldless view that
//! users see in diagrams, logs and metrics; it is derived from the parts.
//!
//! Because the secrets live beside the state (in [`Machine`](crate::Machine)), everything here
//! may be printed, hashed, traced and shrunk by a property test without leaking anything.

use core::fmt;
use core::num::NonZeroU32;
use core::time::Duration;

use crate::creds::{AccessKeyId, RoleName};
use crate::failure::Failure;
use crate::input::RequestId;
use crate::policy::Policy;
use crate::time::{MonoTime, Now, WallTime};

/// Which request is outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Request {
    /// Listing the role attached to the instance.
    DiscoverRole,
    /// Fetching credentials for the role known ([`State::role`]).
    FetchCredentials,
}

/// What the machine is doing now: the representation behind [`State::kind`], reachable with the
/// `oracle` feature through `credcycle_core::internals` only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(not(feature = "oracle"), allow(unreachable_pub))]
pub enum Phase {
    /// Nothing asked yet; the first [`Demand`](crate::Input::Demand) starts the lifecycle.
    Idle,
    /// One request is outstanding (INV-3: never more than one).
    Requesting {
        /// Only a reply with this id is taken; any other is stale `[R17]`.
        id: RequestId,
        /// Tells [`Discovering`](StateKind::Discovering) from fetching and refreshing.
        request: Request,
        /// When it was issued (the start of the monotonic deadline computation).
        since: MonoTime,
    },
    /// No request outstanding; the next one is due at `until` (the refresh-ahead point when
    /// fresh, the end of the backoff delay otherwise).
    Waiting {
        /// A demand before then sends nothing (INV-4).
        until: MonoTime,
    },
    /// No instance profile is attached; the next probe is due at `until`.
    Detached {
        /// The end of the backoff delay: nothing is held, so at most the refusing cap
        /// ([`Policy::backoff_cap_refusing`]) away.
        until: MonoTime,
    },
    /// Shut down: every input is ignored and every demand refused.
    Stopped,
}

/// The credentials currently held, without their secrets. Their generation is
/// [`State::generation`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Held {
    /// Not a secret: safe to log and to keep in traces.
    pub access_key_id: AccessKeyId,
    /// IMDS's `Expiration`, on the wall clock.
    pub expiration: WallTime,
    /// The same expiry on the monotonic clock: request start + (`Expiration` - wall time at
    /// receipt). Computed once, when the set arrives.
    pub deadline: MonoTime,
}

/// How a hand-out may be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServeMode {
    /// Both clocks show at least the expiry margin left (INV-1).
    Normal,
    /// Past the margin but inside the opt-in grace period, while IMDS is failing (INV-1 with
    /// grace). Such hand-outs are marked.
    Grace,
}

impl Held {
    /// Whether these credentials may be handed out at `now`: the INV-1 check, on **both**
    /// clocks (why both: `docs/lifecycle.md#two-clocks`). `failing` says whether the last
    /// attempt failed, the only time grace applies.
    #[must_use]
    pub fn serve_mode(&self, now: Now, failing: bool, policy: &Policy) -> Option<ServeMode> {
        let margin = policy.expiry_margin();
        // INV-1: wall(t) + margin <= Expiration and mono(t) + margin <= monotonic deadline.
        if now.wall.saturating_add(margin) <= self.expiration
            && now.mono.saturating_add(margin) <= self.deadline
        {
            return Some(ServeMode::Normal);
        }
        let grace = policy.grace();
        // INV-1 (grace opted in): never past Expiration + grace, and only while failing.
        if failing
            && !grace.is_zero()
            && now.wall <= self.expiration.saturating_add(grace)
            && now.mono <= self.deadline.saturating_add(grace)
        {
            return Some(ServeMode::Grace);
        }
        None
    }

    /// The monotonic instant from which these credentials stop being servable in normal mode.
    #[must_use]
    pub fn usable_until(&self, policy: &Policy) -> MonoTime {
        self.deadline.saturating_sub(policy.expiry_margin())
    }

    /// The first monotonic instant at which they may no longer be served at all (`failing` as
    /// for [`Held::serve_mode`]). A monotonic bound only: the wall clock is checked at hand-out.
    #[must_use]
    pub fn unservable_from(&self, failing: bool, policy: &Policy) -> MonoTime {
        let last = if failing && !policy.grace().is_zero() {
            self.deadline.saturating_add(policy.grace())
        } else {
            self.usable_until(policy)
        };
        last.saturating_add(Duration::from_millis(1))
    }
}

/// Failed attempts in a row, and why the last one failed: present from the first failure to the
/// next accepted set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Failing {
    /// Failed attempts in a row (including not-rotated answers, and each HTTP attempt the
    /// transport spent).
    pub count: NonZeroU32,
    /// The cause a [`Refusal`](crate::Refusal) reports while nothing usable is held.
    pub last: Failure,
}

/// A set that must never be taken back (INV-2): AWS rejected it (invalidated), its role was
/// removed or changed, or a newer set replaced it. The last [`State::MAX_REVOKED`] are
/// remembered, even past their expiry. Also the shape of [`State::expired`], the set dropped
/// only because a clock said it was too old, which is *not* revoked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Revoked {
    /// A revoked set is recognised by this alone ([`State::is_revoked`]).
    pub access_key_id: AccessKeyId,
    /// With the key id, recognises the set a clock dropped when IMDS serves it again
    /// ([`State::expired`]).
    pub expiration: WallTime,
    /// Kept for traces and model checkers; no rule reads it.
    pub deadline: MonoTime,
}

impl Revoked {
    /// The record of a held set.
    #[must_use]
    pub fn of(held: &Held) -> Self {
        Self {
            access_key_id: held.access_key_id.clone(),
            expiration: held.expiration,
            deadline: held.deadline,
        }
    }
}

/// The whole state of the lifecycle. Secret-free; cheap to clone; `Eq + Hash` so that model
/// checkers can store it.
///
/// Its parts are private, each fact kept once; read them with the accessors below. Model
/// checkers and harnesses that must see the phase or rewrite the parts (to put states in
/// canonical form) use `credcycle_core::internals`, behind the `oracle` feature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct State {
    /// What is happening now.
    pub(crate) phase: Phase,
    /// The role, once discovered (or pinned by the policy).
    pub(crate) role: Option<RoleName>,
    /// The credentials held for that role, if any.
    pub(crate) held: Option<Held>,
    /// The latest `Expiration` accepted for this role: a new set must expire later (INV-5).
    /// Cleared when the role is removed or changed.
    pub(crate) newest: Option<WallTime>,
    /// Failed attempts in a row and the last failure; `None` after a success.
    pub(crate) failing: Option<Failing>,
    /// Sets revoked on evidence from AWS, never to be taken back (INV-2), at most
    /// [`State::MAX_REVOKED`].
    pub(crate) revoked: Vec<Revoked>,
    /// The last set dropped because a clock said it could no longer be served (`[R11]`). Not
    /// revoked: our clock is no evidence from AWS. If the clock was wrong (a wall-clock step
    /// later corrected) and IMDS serves this same set again, it is judged again against the
    /// corrected clocks, like a new set, and taken back if usable (LIVE-1; INV-5 holds, since
    /// it is still the newest). Cleared when a set is accepted; revoked with its role.
    pub(crate) expired: Option<Revoked>,
    /// The id the next request will get.
    pub(crate) next_request: u64,
    /// Counts accepted sets: the generation of the last one, and of the held set if any.
    pub(crate) generation: u64,
    /// The latest monotonic time seen; an input with an earlier time is refused (INV-6).
    pub(crate) last_mono: MonoTime,
}

/// The state as users see it: what is true now. Derived from [`State`] by [`State::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum StateKind {
    /// Nothing asked yet.
    Idle,
    /// Asking IMDS which role is attached; nothing to serve.
    Discovering,
    /// Asking IMDS for credentials; nothing usable to serve.
    Fetching,
    /// Usable credentials held; the refresh is not due yet.
    Fresh,
    /// Usable credentials held and served while a refresh is in flight.
    Refreshing,
    /// Credentials held and served while waiting to retry a failed (or not-rotated) refresh.
    BackingOff,
    /// Nothing usable held; waiting to retry after a failure. Every caller is refused.
    Unavailable,
    /// No instance profile attached; waiting to look again. Every caller is refused.
    Detached,
    /// Shut down.
    Stopped,
}

impl StateKind {
    /// Every kind, in spec order.
    pub const ALL: [Self; 9] = [
        Self::Idle,
        Self::Discovering,
        Self::Fetching,
        Self::Fresh,
        Self::Refreshing,
        Self::BackingOff,
        Self::Unavailable,
        Self::Detached,
        Self::Stopped,
    ];

    /// The name used in diagrams and logs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Discovering => "Discovering",
            Self::Fetching => "Fetching",
            Self::Fresh => "Fresh",
            Self::Refreshing => "Refreshing",
            Self::BackingOff => "BackingOff",
            Self::Unavailable => "Unavailable",
            Self::Detached => "Detached",
            Self::Stopped => "Stopped",
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl State {
    /// At most this many dropped sets are remembered; the oldest is forgotten first.
    pub const MAX_REVOKED: usize = 16;

    /// The state before anything happened.
    #[must_use]
    pub fn new(policy: &Policy) -> Self {
        Self {
            phase: Phase::Idle,
            role: policy.pinned_role().cloned(),
            held: None,
            newest: None,
            failing: None,
            revoked: Vec::new(),
            expired: None,
            next_request: 1,
            generation: 0,
            last_mono: MonoTime::ZERO,
        }
    }

    /// What is true now, as users see it.
    #[must_use]
    pub fn kind(&self) -> StateKind {
        match (&self.phase, self.held.is_some()) {
            (Phase::Idle, _) => StateKind::Idle,
            (Phase::Stopped, _) => StateKind::Stopped,
            (Phase::Detached { .. }, _) => StateKind::Detached,
            (
                Phase::Requesting {
                    request: Request::DiscoverRole,
                    ..
                },
                _,
            ) => StateKind::Discovering,
            (Phase::Requesting { .. }, true) => StateKind::Refreshing,
            (Phase::Requesting { .. }, false) => StateKind::Fetching,
            (Phase::Waiting { .. }, true) => match self.failing {
                None => StateKind::Fresh,
                Some(_) => StateKind::BackingOff,
            },
            (Phase::Waiting { .. }, false) => StateKind::Unavailable,
        }
    }

    /// Whether the last attempt failed (the only time grace may apply).
    #[must_use]
    pub fn failing(&self) -> bool {
        self.failing.is_some()
    }

    /// Failed attempts in a row and why the last one failed; `None` since the last accepted set
    /// (or before any attempt).
    #[must_use]
    pub fn failures(&self) -> Option<&Failing> {
        self.failing.as_ref()
    }

    /// Why the last attempt failed, while attempts are failing.
    #[must_use]
    pub fn last_failure(&self) -> Option<&Failure> {
        self.failing.as_ref().map(|f| &f.last)
    }

    /// Failed attempts in a row: 0 after a success.
    #[must_use]
    pub fn failure_count(&self) -> u32 {
        self.failing.as_ref().map_or(0, |f| f.count.get())
    }

    /// The role, once discovered (or pinned by the policy).
    #[must_use]
    pub fn role(&self) -> Option<&RoleName> {
        self.role.as_ref()
    }

    /// The credentials held for that role, if any (their generation is
    /// [`generation`](Self::generation)).
    #[must_use]
    pub fn held(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    /// The latest `Expiration` accepted for this role: a new set must expire later (INV-5).
    #[must_use]
    pub fn newest(&self) -> Option<WallTime> {
        self.newest
    }

    /// Sets revoked on evidence from AWS, oldest first (at most [`State::MAX_REVOKED`]).
    #[must_use]
    pub fn revoked(&self) -> &[Revoked] {
        &self.revoked
    }

    /// The last set dropped because a clock said it could no longer be served (`[R11]`), not
    /// revoked: judged anew if IMDS serves it again.
    #[must_use]
    pub fn expired(&self) -> Option<&Revoked> {
        self.expired.as_ref()
    }

    /// The id the next request will get.
    #[must_use]
    pub fn next_request(&self) -> RequestId {
        RequestId(self.next_request)
    }

    /// How many sets were accepted: the generation of the last one, which is the held set's
    /// while one is held.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The latest monotonic time seen; an input with an earlier time is refused (INV-6).
    #[must_use]
    pub fn last_mono(&self) -> MonoTime {
        self.last_mono
    }

    /// The outstanding request, if any (INV-3: at most one).
    #[must_use]
    pub fn outstanding(&self) -> Option<(RequestId, Request)> {
        match &self.phase {
            Phase::Requesting { id, request, .. } => Some((*id, *request)),
            _ => None,
        }
    }

    /// When the next request is due while none is outstanding: the refresh point, the end of
    /// the backoff delay, or the next look for a role while detached. `None` while requesting,
    /// idle or stopped.
    #[must_use]
    pub fn due_at(&self) -> Option<MonoTime> {
        match &self.phase {
            Phase::Waiting { until } | Phase::Detached { until } => Some(*until),
            Phase::Idle | Phase::Requesting { .. } | Phase::Stopped => None,
        }
    }

    /// Whether `access_key_id` was revoked (INV-2).
    #[must_use]
    pub fn is_revoked(&self, access_key_id: &AccessKeyId) -> bool {
        self.revoked
            .iter()
            .any(|r| &r.access_key_id == access_key_id)
    }

    /// The next monotonic instant at which a [`Tick`](crate::Input::Tick) has something to do,
    /// or `None` when idle or stopped.
    #[must_use]
    pub fn next_deadline(&self, policy: &Policy) -> Option<MonoTime> {
        let phase = match &self.phase {
            Phase::Idle | Phase::Stopped => return None,
            Phase::Requesting { since, .. } => since.saturating_add(policy.request_timeout()),
            Phase::Waiting { until } | Phase::Detached { until } => *until,
        };
        let held = self
            .held
            .as_ref()
            .map(|h| h.unservable_from(self.failing(), policy));
        Some(held.map_or(phase, |h| h.min(phase)))
    }
}
