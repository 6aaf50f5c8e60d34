//! The world the proofs run in: an IMDS and clocks that behave as EC2's do, and a driver around
//! the real [`Machine`](crate::Machine) that checks every invariant with the
//! [`oracle`](crate::oracle). Behind the `world` feature (no proptest needed), so that tests, the
//! model and examples can all use it.
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

mod check;
mod clocks;
mod harness;
mod healthy;
mod imds;

pub use check::{check_edge, check_step};
pub use harness::{Harness, HarnessConfig, Oracle, TraceRow};
pub use healthy::HealthyRun;
#[cfg(feature = "proptest")]
pub(super) use imds::role;
pub use imds::{Answer, ImdsModel, Issued, SENTINEL, credentials_for};
