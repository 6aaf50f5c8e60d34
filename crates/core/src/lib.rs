//! # credcycle-core: how EC2 instance-profile credentials live, as a pure state machine
//!
//! An EC2 instance with an instance profile gets temporary credentials for the profile's IAM role
//! from the Instance Metadata Service (IMDS). They expire; they must be refreshed in time; they
//! must never be used past expiration. This crate decides *when* to ask IMDS, *what* to do with
//! its answers, and *whether* the credentials held may be handed out at a given moment. It is
//! the reference implementation of that lifecycle, and the part of credcycle that is proven
//! (property tests here; model checks and trace replay in `credcycle-model`).
//!
//! ## What it does not do
//!
//! No IO, no clock reads, no threads, no global randomness (sans-IO, like quinn-proto and
//! str0m). The caller owns the sockets, the clock and the waiting: inputs go in with the current
//! time, requests come out, and the caller answers them. `credcycle-imds` speaks HTTP to IMDS,
//! `credcycle-clock` reads clocks, and the `credcycle` crate puts them together into a `Provider`.
//!
//! ## The drive loop
//!
//! ```
//! use core::time::Duration;
//! use credcycle_core::*;
//!
//! // A stand-in for IMDS: one role, credentials valid for six hours from "now".
//! fn imds(action: &Action, now: Now) -> Option<Input> {
//!     match action {
//!         Action::DiscoverRole { id } => {
//!             Some(Input::RoleReply { id: *id, result: Ok(RoleName::new("web").unwrap()) })
//!         }
//!         Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
//!             id: *id,
//!             result: Ok(Credentials::new(
//!                 AccessKeyId::new(format!("ASIA{}", now.mono.as_millis())),
//!                 SecretAccessKey::new("secret".into()),
//!                 SessionToken::new("token".into()),
//!                 now.wall.saturating_add(Duration::from_secs(6 * 3600)),
//!             )),
//!         }),
//!         Action::Notify(_) => None,
//!     }
//! }
//!
//! let mut machine = Machine::new(Policy::default(), 42);
//! let mut now = Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_795_862_471));
//! let mut inputs = vec![Input::Demand];
//! for _ in 0..20 {
//!     // 1. Feed the inputs, with the time.
//!     for input in inputs.drain(..) {
//!         machine.handle_input(now, input)?;
//!     }
//!     // 2. Drain every action; answer the requests (here at once, in real life over HTTP).
//!     while let Some(action) = machine.poll_action() {
//!         inputs.extend(imds(&action, now));
//!     }
//!     // 3. Use credentials: the INV-1 check runs on every hand-out.
//!     if let Ok(handout) = machine.credentials(now) {
//!         assert!(handout.credentials().expiration() > now.wall);
//!     }
//!     // 4. Sleep until the machine's next deadline, then tick.
//!     if inputs.is_empty() {
//!         let wake = machine.poll_timeout().expect("a deadline while running");
//!         now = now.advance(wake.saturating_duration_since(now.mono));
//!         inputs.push(Input::Tick);
//!     }
//! }
//! assert!(machine.state().generation() >= 3, "refreshed ahead of expiry, more than once");
//! # Ok::<(), UsageError>(())
//! ```
//!
//! ## Time
//!
//! Every input carries [`Now`]: a [`MonoTime`] (milliseconds on a monotonic clock, for
//! deadlines, backoff and timeouts) and a [`WallTime`] (UTC milliseconds, what IMDS's
//! `Expiration` is written in). When credentials arrive, their expiry is converted once into a
//! monotonic deadline: request start + (`Expiration` - wall time at receipt). A hand-out must
//! pass both checks (INV-1), so a wall clock that jumps back cannot make expired credentials look
//! valid, and a monotonic clock cannot drift past what AWS wrote. Randomness comes in as
//! [`Jitter`]: [`step`] takes it as an argument, [`Machine`] draws it from a seeded generator.
//!
//! ## The lifecycle
//!
//! [`StateKind`] names what is true now: `Idle`, `Discovering`, `Fetching`, `Fresh`,
//! `Refreshing`, `BackingOff`, `Unavailable`, `Detached`, `Stopped`. The rules that move between
//! them are the variants of [`Rule`], `[R1]` to `[R19]`, and [`table::TABLE`] lists every edge;
//! `docs/state-machine.md` is generated from it. The policy (margin, refresh-ahead windows,
//! backoff, grace) is [`Policy`].
//!
//! ## Invariants
//!
//! Code comments cite these ids; property tests in `credcycle-tests` are named after them.
//!
//! - **INV-1** no expired hand-out: `wall + margin <= Expiration` and `mono + margin <=
//!   monotonic deadline` at every hand-out (plus grace, only where opted in and while failing).
//! - **INV-2** no revoked hand-out: after the role is removed or changed, or a set is
//!   invalidated, that set is never handed out again.
//! - **INV-3** single flight: at most one IMDS request outstanding.
//! - **INV-4** no hammering: failed attempts are separated by the backoff delay; a demand during
//!   backoff or a not-rotated answer never causes an immediate request.
//! - **INV-5** no regression: for one role, hand-outs never switch to a set expiring earlier.
//! - **INV-6** totality and determinism: no input panics; the same inputs give the same outputs.
//! - **LIVE-1** recovery: once IMDS answers again, usable credentials follow within a bound.
//! - **LIVE-2** continuity: with a healthy IMDS that rotates at least 5 minutes before expiry,
//!   there is no moment without usable credentials after the first fetch.
//!
//! ## Errors and panics
//!
//! Failures of IMDS are inputs ([`ImdsFailure`] inside a reply). Misuse by the caller is an
//! `Err` ([`UsageError`]) and changes nothing; a reply to a request that is not outstanding is
//! ignored and counted. Nothing panics: [`step`] is total over every input (INV-6), which the
//! property tests check over random input sequences.
//!
//! ## Secrets
//!
//! [`SecretAccessKey`] and [`SessionToken`] are zeroized on drop, redacted in `Debug`, have no
//! `Display` and no `Serialize`, and are read only through `expose_secret()`. The [`State`]
//! holds no secret at all (only the access key id, expiry and a generation number);
//! [`Machine`] keeps the payload beside it and drops it with the state's reference to it. So
//! states, traces, events and shrunk counterexamples are secret-free by construction.
//!
//! ## Feature flags
//!
//! - `world`: the [`testing`] module's realistic world (an IMDS that re-serves its current set
//!   until it rotates, clocks that step and are corrected) and its driver around the real
//!   machine, without proptest. Implies `oracle`.
//! - `proptest`: public proptest strategies over that world, to test this crate or any other
//!   credentials client. Implies `world`.
//! - `oracle`: the [`oracle`] module: the invariants' oracle (books kept from the machine's
//!   inputs and outputs), without proptest, for model checkers and other harnesses; and the
//!   [`internals`] module, which reads the state's phase and rewrites its parts (for model
//!   checkers that canonicalise states), outside the stable API.
//! - `serde`: `Serialize`/`Deserialize` for the secret-free value types.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod creds;
mod failure;
mod input;
#[cfg(feature = "oracle")]
pub mod internals;
mod machine;
#[cfg(feature = "oracle")]
pub mod oracle;
mod output;
mod policy;
mod rng;
mod state;
mod step;
pub mod table;
#[cfg(feature = "world")]
pub mod testing;
mod time;

pub use creds::{
    AccessKeyId, Credentials, InvalidRoleName, REDACTED, RoleName, SecretAccessKey, SessionToken,
};
pub use failure::Failure;
pub use input::{ImdsFailure, Input, InputKind, RequestId};
pub use machine::{
    Handout, HumanDuration, Machine, Refusal, Stats, UsageError, consumer_expiration,
};
pub use output::{Action, DropReason, Event};
pub use policy::{Policy, PolicyBuilder, PolicyError};
pub use rng::SplitMix64;
pub use state::{Failing, Held, Request, Revoked, ServeMode, State, StateKind};
pub use step::{Rule, Transition, step};
pub use time::{Jitter, MonoTime, Now, WallTime};
