//! Test kit: the realistic world ([`world`], feature `world`) and, with feature `proptest`,
//! proptest strategies over it.
//!
//! The pieces are public so that other projects can test their own credential clients the same
//! way:
//!
//! - [`world`]: the environment ([`ImdsModel`]: an IMDS that re-serves its current set until it
//!   rotates) and the driver ([`Harness`]) that runs the real machine in it and checks INV-1..INV-5
//!   with an [`Oracle`] that keeps its own books. Needs no proptest.
//! - [`Op`] and [`ops`] (feature `proptest`): random sequences of environment events, time steps
//!   (small and large), wall-clock steps of up to two hours and their corrections, demands,
//!   invalidations (AWS-side rejections), stale replies. [`Harness::apply`] plays one.
//! - [`policies`], [`imds_failures`], [`inputs`]: smaller strategies.
//!
//! ```
//! # #[cfg(feature = "proptest")] {
//! use credcycle_core::testing::{Harness, HarnessConfig, ops};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(16), |(ops in ops(1..60))| {
//!     let mut h = Harness::new(HarnessConfig::default());
//!     for op in &ops {
//!         h.apply(op).map_err(|v| TestCaseError::fail(v.to_string()))?;
//!     }
//! });
//! # }
//! ```

pub mod world;

pub use crate::oracle::{Books, Violation, check_structure};
pub use world::{
    Answer, Harness, HarnessConfig, ImdsModel, Issued, Oracle, SENTINEL, TraceRow, credentials_for,
};

#[cfg(feature = "proptest")]
mod strategies;
#[cfg(feature = "proptest")]
pub use strategies::*;
