//! Proptest strategies over the [`world`](super::world), and [`Harness::apply`].

use core::time::Duration;

use proptest::prelude::*;

use super::world::{Answer, Harness, HarnessConfig, Issued, credentials_for, role};
use crate::creds::{AccessKeyId, RoleName};
use crate::input::{ImdsFailure, Input, RequestId};
use crate::oracle::Violation;
use crate::policy::Policy;
use crate::step::Rule;
use crate::time::{Jitter, MonoTime, Now, WallTime};

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

impl Harness {
    /// Applies one environment step, then probes for a hand-out.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] seen.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        match op {
            Op::Advance(ms) => self.advance(Duration::from_millis(*ms))?,
            Op::JumpWall(ms) => self.jump_wall(*ms),
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
            Op::StaleReply => self.stale_reply()?,
            Op::Detach => self.imds.detach(),
            Op::Attach { same } => self.imds.attach(*same),
            Op::ChangeRole => self.imds.change_role(),
            Op::Shutdown => self.input(Input::Shutdown)?,
        }
        self.probe().map(|_| ())
    }
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
