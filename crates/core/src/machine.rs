//! [`Machine`]: the state, the secret payload beside it, a queue of actions and a jitter source.

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::creds::Credentials;
use crate::failure::Failure;
use crate::input::Input;
use crate::output::Action;
use crate::policy::Policy;
use crate::rng::SplitMix64;
use crate::state::{Phase, ServeMode, State, StateKind};
use crate::step::{Rule, step};
use crate::time::{Jitter, MonoTime, Now, WallTime};

/// The lifecycle, ready to drive: owns the [`State`], keeps the secret payload of the held
/// credentials beside it, queues [`Action`]s and supplies jitter from a seeded generator.
///
/// # Methods, by group, in call order
///
/// - **Getters**: [`state`](Self::state), [`kind`](Self::kind), [`policy`](Self::policy),
///   [`stats`](Self::stats), and [`credentials`](Self::credentials), the only way to get
///   credentials out: it checks INV-1 at the time you pass.
/// - **Input**: [`handle_input`](Self::handle_input), with the current time.
/// - **Polls**: [`poll_action`](Self::poll_action), then [`poll_timeout`](Self::poll_timeout).
///
/// The drain contract: **after every input, take every action with `poll_action`, carry out the
/// requests, then read `poll_timeout`** and feed [`Input::Tick`] no later than that instant.
/// Answer each request with the reply input carrying its id. Nothing here blocks, sleeps, reads a
/// clock or does IO.
///
/// ```
/// use credcycle_core::{AccessKeyId, Action, Credentials, Input, Machine, MonoTime, Now, Policy,
///     RoleName, SecretAccessKey, SessionToken, StateKind, WallTime};
///
/// let mut m = Machine::new(Policy::default(), 7);
/// let mut now = Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_795_862_471));
/// m.handle_input(now, Input::Demand)?;
/// let Some(Action::DiscoverRole { id }) = m.poll_action() else { unreachable!() };
/// m.handle_input(now, Input::RoleReply { id, result: Ok(RoleName::new("web")?) })?;
/// // An event comes first (RoleDiscovered), then the request.
/// let id = std::iter::from_fn(|| m.poll_action())
///     .find_map(|a| match a { Action::FetchCredentials { id, .. } => Some(id), _ => None })
///     .expect("a credentials request");
/// let creds = Credentials::new(
///     AccessKeyId::new("ASIAEXAMPLE"),
///     SecretAccessKey::new("secret".into()),
///     SessionToken::new("token".into()),
///     now.wall.offset_millis(6 * 3600 * 1000), // six hours from now
/// );
/// m.handle_input(now, Input::CredentialsReply { id, result: Ok(creds) })?;
/// assert_eq!(m.kind(), StateKind::Fresh);
/// assert_eq!(m.credentials(now)?.credentials().access_key_id().as_str(), "ASIAEXAMPLE");
///
/// // Six hours later they are past the margin: refused, whatever happened in between.
/// now = now.advance(core::time::Duration::from_secs(6 * 3600));
/// assert!(m.credentials(now).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Machine {
    state: State,
    policy: Policy,
    rng: SplitMix64,
    actions: VecDeque<Action>,
    payload: Option<Arc<Credentials>>,
    stats: Stats,
    /// Every jitter draw, when fixed (test support, see `Machine::resume`); `None`: from `rng`.
    fixed_jitter: Option<Jitter>,
}

/// Counters of inputs the machine ignored or refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Inputs handled, refused ones included.
    pub inputs: u64,
    /// Replies to requests that were not outstanding (late, duplicated or made up).
    pub stale_replies: u64,
    /// Inputs refused because the monotonic clock went backwards.
    pub clock_regressions: u64,
}

/// Misuse of the machine by its caller: the only errors it returns. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The monotonic time went backwards: the input was refused.
    #[error("monotonic time went backwards: {now} is before {last}")]
    TimeWentBackwards {
        /// The latest time the machine had seen.
        last: MonoTime,
        /// The time passed with the refused input.
        now: MonoTime,
    },
    /// The credentials given to `Machine::resume` (the `world` feature) are not the held
    /// set's.
    #[error("the credentials given are not those of the held set")]
    PayloadMismatch,
}

/// Credentials that passed the INV-1 check at [`checked_at`](Self::checked_at): a witness only
/// this crate can construct.
#[derive(Clone, Debug)]
pub struct Handout {
    credentials: Arc<Credentials>,
    checked_at: Now,
    mode: ServeMode,
    generation: u64,
    consumer_expiration: WallTime,
}

impl Handout {
    /// Valid at [`checked_at`](Self::checked_at); tell a consumer that caches them
    /// [`consumer_expiration`](Self::consumer_expiration), not their `Expiration`.
    #[must_use]
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A shared handle to the credentials (no copy of the secrets).
    #[must_use]
    pub fn shared(&self) -> Arc<Credentials> {
        Arc::clone(&self.credentials)
    }

    /// The time at which the check passed.
    #[must_use]
    pub fn checked_at(&self) -> Now {
        self.checked_at
    }

    /// Whether this hand-out is inside the opt-in grace period (past the margin or past
    /// `Expiration`, while IMDS is failing).
    #[must_use]
    pub fn in_grace(&self) -> bool {
        self.mode == ServeMode::Grace
    }

    /// The generation of the set handed out.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The expiry to tell a consumer that caches these credentials until the expiry it is told
    /// (an AWS SDK, a `credential_process` caller, a container-credentials client): INV-1 on
    /// both clocks, computed at [`checked_at`](Self::checked_at).
    ///
    /// It is the earlier of `Expiration - margin` and `wall + (usable deadline - mono)` at the
    /// hand-out (the time left on the monotonic clock, carried over to the wall clock), rounded
    /// down to a whole second. A consumer that uses the set until then keeps the margin on the
    /// wall clock, and on the monotonic clock too as long as its wall clock is not stepped: the
    /// raw `Expiration` would let it use the set inside the margin, or, after a wall-clock step
    /// back, past its real expiry. For a grace hand-out it is at or before the moment of the
    /// hand-out, so that the consumer asks again at every use.
    #[must_use]
    pub fn consumer_expiration(&self) -> WallTime {
        self.consumer_expiration
    }
}

/// `min(expiration - margin, now.wall + (usable_until - now.mono))`, the monotonic difference
/// signed, rounded down to a whole second: see [`Handout::consumer_expiration`].
#[must_use]
pub fn consumer_expiration(
    expiration: WallTime,
    margin: Duration,
    usable_until: MonoTime,
    now: Now,
) -> WallTime {
    let left = i128::from(usable_until.as_millis()) - i128::from(now.mono.as_millis());
    let left = i64::try_from(left).unwrap_or(if left < 0 { i64::MIN } else { i64::MAX });
    let told = expiration
        .saturating_sub(margin)
        .min(now.wall.offset_millis(left));
    let ms = told.as_unix_millis();
    WallTime::from_unix_millis(ms.saturating_sub(ms.rem_euclid(1000)))
}

/// Why [`Machine::credentials`] handed nothing out. Each variant but `Expired` is named after
/// the [`StateKind`] it is returned in; `Expired` is returned in any kind that holds a set the
/// clocks no longer let through (`Fresh`, `Refreshing` or `BackingOff`, before the next input
/// drops it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// [`StateKind::Idle`]: nothing was asked yet; send [`Input::Demand`] first.
    #[error("no credentials yet: the lifecycle has not started")]
    Idle,
    /// [`StateKind::Discovering`]: asking IMDS which role is attached.
    #[error("no credentials yet: discovering the instance profile's role")]
    Discovering,
    /// [`StateKind::Fetching`]: fetching credentials; nothing usable is held.
    #[error("no usable credentials: fetching from IMDS{}", cause_suffix(.cause.as_ref()))]
    Fetching {
        /// Why the previous attempt failed, if it did.
        cause: Option<Failure>,
    },
    /// The held credentials are inside the expiry margin or expired, on the wall clock or on
    /// the monotonic one.
    #[error("credentials expiring at {expiration} are inside the expiry margin or expired")]
    Expired {
        /// As IMDS wrote it; the monotonic deadline may have been passed first.
        expiration: WallTime,
    },
    /// [`StateKind::Unavailable`]: nothing usable is held; the next attempt waits for the backoff
    /// delay.
    #[error("no usable credentials: next IMDS attempt in {}{}", HumanDuration(*.retry_in), cause_suffix(.cause.as_ref()))]
    Unavailable {
        /// A demand before then sends nothing (INV-4).
        retry_at: MonoTime,
        /// How long from the time asked about until then.
        retry_in: Duration,
        /// `None` if no attempt failed since the last accepted set (it was dropped by a clock or
        /// by AWS).
        cause: Option<Failure>,
    },
    /// [`StateKind::Detached`]: no instance profile is attached to the instance.
    #[error("no instance profile is attached; looking again in {}", HumanDuration(*.retry_in))]
    Detached {
        /// When IMDS is asked again (the backoff while refusing).
        retry_at: MonoTime,
        /// How long from the time asked about until then.
        retry_in: Duration,
    },
    /// [`StateKind::Stopped`]: the machine was shut down.
    #[error("the credential lifecycle was shut down")]
    Stopped,
}

/// A duration for people: `250ms`, `1.25s`, `4m54s`, `2h05m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let text = match ms {
            0..1_000 => format!("{ms}ms"),
            1_000..60_000 => format!("{}.{:02}s", ms / 1000, ms % 1000 / 10),
            60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
            _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
        };
        f.pad(&text)
    }
}

fn cause_suffix(cause: Option<&Failure>) -> String {
    cause
        .map(|c| format!(" (last attempt: {c})"))
        .unwrap_or_default()
}

impl Machine {
    /// A machine in [`StateKind::Idle`]. `seed` drives the jitter: the same seed and inputs
    /// give the same actions (INV-6).
    #[must_use]
    pub fn new(policy: Policy, seed: u64) -> Self {
        Self {
            state: State::new(&policy),
            policy,
            rng: SplitMix64::new(seed),
            actions: VecDeque::new(),
            payload: None,
            stats: Stats::default(),
            fixed_jitter: None,
        }
    }

    /// A machine that takes over in `state`: a state a model checker reached, run on from there
    /// (test support, behind the `world` feature). `credentials` are the held set's, or `None`
    /// when nothing is held; `jitter` fixes every jitter draw (the worst case of a bound, say),
    /// `None` draws them from `seed`.
    ///
    /// # Errors
    ///
    /// [`UsageError::PayloadMismatch`] when `credentials` are not the held set's (another key
    /// or `Expiration`, or a set given when none is held, or none when one is).
    #[cfg(feature = "world")]
    pub fn resume(
        policy: Policy,
        state: State,
        credentials: Option<Credentials>,
        seed: u64,
        jitter: Option<Jitter>,
    ) -> Result<Self, UsageError> {
        let held = state
            .held
            .as_ref()
            .map(|h| (&h.access_key_id, h.expiration));
        let given = credentials
            .as_ref()
            .map(|c| (c.access_key_id(), c.expiration()));
        if held != given {
            return Err(UsageError::PayloadMismatch);
        }
        Ok(Self {
            state,
            policy,
            rng: SplitMix64::new(seed),
            actions: VecDeque::new(),
            payload: credentials.map(Arc::new),
            stats: Stats::default(),
            fixed_jitter: jitter,
        })
    }

    // ---- getters ----

    /// The current state (secret-free).
    #[must_use]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What is true now, as users see it.
    #[must_use]
    pub fn kind(&self) -> StateKind {
        self.state.kind()
    }

    /// Fixed when the machine is built: a new policy needs a new machine.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Counters of ignored and refused inputs.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The held credentials if they may be handed out at `now` (INV-1, checked on both clocks),
    /// or why not. Does not change the state: send [`Input::Demand`] to let the machine react.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] saying why nothing is handed out and, where known, until when.
    pub fn credentials(&self, now: Now) -> Result<Handout, Refusal> {
        let s = &self.state;
        if let (Some(held), Some(payload)) = (&s.held, &self.payload) {
            if let Some(mode) = held.serve_mode(now, s.failing(), &self.policy) {
                return Ok(Handout {
                    credentials: Arc::clone(payload),
                    checked_at: now,
                    mode,
                    generation: s.generation,
                    consumer_expiration: consumer_expiration(
                        held.expiration,
                        self.policy.expiry_margin(),
                        held.usable_until(&self.policy),
                        now,
                    ),
                });
            }
            return Err(Refusal::Expired {
                expiration: held.expiration,
            });
        }
        Err(match &s.phase {
            Phase::Idle => Refusal::Idle,
            Phase::Stopped => Refusal::Stopped,
            Phase::Detached { until } => Refusal::Detached {
                retry_at: *until,
                retry_in: until.saturating_duration_since(now.mono),
            },
            Phase::Requesting { .. } if s.kind() == StateKind::Discovering => Refusal::Discovering,
            Phase::Requesting { .. } => Refusal::Fetching {
                cause: s.last_failure().cloned(),
            },
            Phase::Waiting { until } => Refusal::Unavailable {
                retry_at: *until,
                retry_in: until.saturating_duration_since(now.mono),
                cause: s.last_failure().cloned(),
            },
        })
    }

    // ---- input ----

    /// Applies one input at time `now`, then queues its actions for [`poll_action`](Self::poll_action).
    ///
    /// Returns the rule that fired. A reply to a request that is not outstanding is ignored and
    /// counted ([`Rule::StaleReply`]).
    ///
    /// # Errors
    ///
    /// [`UsageError::TimeWentBackwards`] when `now.mono` is earlier than a time already seen;
    /// the input is then ignored.
    pub fn handle_input(&mut self, now: Now, input: Input) -> Result<Rule, UsageError> {
        self.stats.inputs += 1;
        let jitter = self
            .fixed_jitter
            .unwrap_or_else(|| Jitter::from_raw(self.rng.next_u32()));
        let t = step(&self.state, &input, now, jitter, &self.policy);
        match t.rule {
            Rule::ClockRegression => {
                self.stats.clock_regressions += 1;
                return Err(UsageError::TimeWentBackwards {
                    last: self.state.last_mono,
                    now: now.mono,
                });
            }
            Rule::StaleReply => self.stats.stale_replies += 1,
            _ => {}
        }
        let accepted = t.state.held.as_ref().map(|_| t.state.generation);
        if accepted != self.state.held.as_ref().map(|_| self.state.generation) {
            // The payload follows the state: a new generation can only come from this reply;
            // anything else means the held set was dropped, and its secrets go with it.
            self.payload = match (accepted, input) {
                (
                    Some(_),
                    Input::CredentialsReply {
                        result: Ok(creds), ..
                    },
                ) => Some(Arc::new(creds)),
                _ => None,
            };
        }
        self.state = t.state;
        self.actions.extend(t.actions);
        Ok(t.rule)
    }

    // ---- polls ----

    /// The next action to carry out, in order; `None` when the queue is empty.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to send the next [`Input::Tick`] at the latest; `None` when idle or stopped.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<MonoTime> {
        self.state.next_deadline(&self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_secs(60);

    #[test]
    fn consumer_expiration_keeps_the_margin_on_both_clocks() {
        let exp = WallTime::from_unix_secs(10_000);
        let at = |mono_ms: u64, wall_ms: i64| {
            Now::new(
                MonoTime::from_millis(mono_ms),
                WallTime::from_unix_millis(wall_ms),
            )
        };
        // Clocks agree: Expiration - margin binds.
        let usable = MonoTime::from_millis(9_940_000);
        assert_eq!(
            consumer_expiration(exp, MARGIN, usable, at(1_000_000, 1_000_000)),
            WallTime::from_unix_secs(9_940)
        );
        // Wall clock stepped back an hour: the monotonic time left binds.
        assert_eq!(
            consumer_expiration(exp, MARGIN, usable, at(9_000_000, 9_000_000 - 3_600_000)),
            WallTime::from_unix_millis(9_940_000 - 3_600_000)
        );
        // Past the usable deadline (a grace hand-out): before the hand-out, rounded down.
        assert_eq!(
            consumer_expiration(exp, MARGIN, usable, at(9_950_500, 5_000_000)),
            WallTime::from_unix_millis(4_989_000)
        );
        // Rounded down to a whole second, before 1970 too.
        assert_eq!(
            consumer_expiration(exp, MARGIN, usable, at(9_939_999, -1_500)),
            WallTime::from_unix_millis(-2_000)
        );
    }

    #[test]
    fn human_durations_use_the_unit_that_fits() {
        let cases = [
            (0, "0ms"),
            (250, "250ms"),
            (999, "999ms"),
            (1_000, "1.00s"),
            (1_250, "1.25s"),
            (59_999, "59.99s"),
            (60_000, "1m00s"),
            (294_000, "4m54s"),
            (3_599_999, "59m59s"),
            (3_600_000, "1h00m"),
            (7_500_000, "2h05m"),
        ];
        for (ms, want) in cases {
            assert_eq!(HumanDuration(Duration::from_millis(ms)).to_string(), want);
        }
    }

    #[test]
    fn a_refusal_names_the_last_failure_only_when_there_was_one() {
        let cases = [
            (
                Some(Failure::Imds(crate::ImdsFailure::Timeout)),
                "no usable credentials: fetching from IMDS (last attempt: IMDS did not answer in time)",
            ),
            (None, "no usable credentials: fetching from IMDS"),
        ];
        for (cause, want) in cases {
            assert_eq!(Refusal::Fetching { cause }.to_string(), want);
        }
    }
}
