//! # credcycle-core: how EC2 instance-profile credentials live, as a pure state machine
//!
//! An EC2 instance with an instance profile gets temporary credentials for the profile's IAM role
//! from the Instance Metadata Service (IMDS). They expire; they must be refreshed in time; they
//! must never be used past expiration. This crate decides *when* to ask IMDS, *what* to do with
//! its answers, and *whether* the credentials held may be handed out at a given moment. It is
//! the reference implementation of that lifecycle, and the part of credcycle that is proven
//! (property tests here; model checks and trace replay in `credcycle-model`).
//!
//! No IO, no clock reads, no threads, no global randomness (sans-IO, like quinn-proto and
//! str0m): inputs go in with the current time, requests come out, and the caller owns the
//! sockets, the clock and the waiting. `credcycle-imds` speaks HTTP to IMDS, `credcycle-clock`
//! reads clocks, and the `credcycle` crate puts them together into a `Provider`.
//!
//! ## Map
//!
//! - [`step`]: the transition function, total and deterministic (INV-6); each transition is a
//!   [`Rule`] with its id, `[R1]` to `[R19]`. [`table::TABLE`] lists every edge
//!   (`docs/state-machine.md` is generated from it).
//! - [`Machine`]: owns a [`State`], queues [`Action`]s (`poll_action`), says when to wake it
//!   (`poll_timeout`), and answers `credentials(now)` with a [`Handout`] or a [`Refusal`]. Misuse
//!   is a [`UsageError`] and changes nothing.
//! - [`State`] and [`StateKind`]: the secret-free state and the kind users see; [`Failure`]: why
//!   an attempt failed.
//! - [`Input`] (with [`ImdsFailure`] inside replies) in; [`Action`] and [`Event`] out.
//! - [`Policy`]: margin, refresh windows, backoff, grace; built and validated by
//!   [`PolicyBuilder`].
//! - [`Now`], [`MonoTime`], [`WallTime`]: the two clocks (why two: `docs/lifecycle.md#two-clocks`);
//!   [`Jitter`] and [`SplitMix64`]: randomness as an input.
//! - [`Credentials`], [`SecretAccessKey`], [`SessionToken`]: zeroized on drop, redacted in
//!   `Debug`, read only through `expose_secret()`; the [`State`] holds none of them
//!   (`docs/secrets.md`).
//! - Behind features (below): the `oracle`, `internals` and `testing` modules.
//!
//! The invariants (INV-1 to INV-6, LIVE-1, LIVE-2), cited by id in code comments and by name in
//! the property tests of `credcycle-tests`, are stated in `docs/lifecycle.md` (section 6), with
//! the states, the rules and the policy's defaults.
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
//! ## Feature flags
//!
//! - `world`: the `testing` module's realistic world (an IMDS that re-serves its current set
//!   until it rotates, clocks that step and are corrected) and its driver around the real
//!   machine, without proptest. Implies `oracle`.
//! - `proptest`: public proptest strategies over that world, to test this crate or any other
//!   credentials client. Implies `world`.
//! - `oracle`: the `oracle` module: the invariants' oracle (books kept from the machine's
//!   inputs and outputs), without proptest, for model checkers and other harnesses; and the
//!   `internals` module, which reads the state's phase and rewrites its parts (for model
//!   checkers that canonicalise states), outside the stable API.
//! - `serde`: `Serialize`/`Deserialize` for the secret-free value types.
//!
//! (The feature-gated modules are named without links, so that these docs also build with the
//! default features.)

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
