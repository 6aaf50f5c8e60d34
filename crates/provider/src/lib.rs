//! # credcycle: EC2 instance-profile credentials, done right
//!
//! A [`Provider`] hands out the credentials of the EC2 instance profile to any number of
//! threads (or tasks, with the `tokio` feature): fetched from IMDS once, refreshed ahead of
//! expiry, and **never handed out with less than the expiry margin left**, on the wall clock and
//! on the monotonic clock. It drives the pure lifecycle of [`credcycle_core`] with a clock
//! ([`credcycle_clock`]) and the IMDSv2 client of [`credcycle_imds`].
//!
//! This crate re-exports what a user of the `Provider` needs from those three (the credentials,
//! the policy, the IMDS settings, the clocks, and the inputs and actions a [`Fetcher`] sees), so
//! one line in `Cargo.toml` is enough:
//!
//! ```toml
//! [dependencies]
//! credcycle = "0.1"
//! ```
//!
//! ```no_run
//! use std::time::Duration;
//! use credcycle::{ImdsConfig, Policy, Provider};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Provider::builder()
//!     .policy(Policy::builder().expiry_margin(Duration::from_secs(120)).build()?)
//!     // IMDS settings from the AWS SDKs' environment variables, then these defaults.
//!     .imds(ImdsConfig::builder().timeout(Duration::from_secs(2)).build_with_env()?)
//!     .build()?; // a background thread fetches now and refreshes ahead of expiry
//! for _ in 0..3 {
//!     let creds = provider.credentials()?; // a few tens of ns once fetched
//!     // ... sign a request with creds.access_key_id(), creds.secret_access_key()
//!     //     .expose_secret(), creds.session_token().expose_secret() ...
//! #   let _ = creds;
//! }
//! # Ok(()) }
//! ```
//!
//! Against a local IMDS simulator (what the tests and `credcycle demo` do):
//!
//! ```
//! use credcycle::{ImdsConfig, Provider};
//! use credcycle_sim::{SimConfig, SimServer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = SimServer::start("127.0.0.1:0".parse()?, SimConfig::default())?;
//! let provider = Provider::builder()
//!     .imds(ImdsConfig::builder().endpoint(sim.url()).build()?)
//!     .build()?;
//! let creds = provider.credentials()?;
//! assert!(creds.access_key_id().as_str().starts_with("ASIA"));
//! # Ok(()) }
//! ```
//!
//! See `docs/provider.md` for configuration, errors and the threading model, and
//! `docs/performance.md` for the measured cost of a hand-out.

#![forbid(unsafe_code)]

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
mod error;
mod fetch;
mod provider;
mod stats;

pub use error::ProviderError;
pub use fetch::Fetcher;
pub use provider::{ProvidedCredentials, Provider, ProviderBuilder, Source};
pub use stats::{ImdsStatusCounts, ProviderStats, RefreshOutcomes, RefusalCounts};

// What a user of the Provider needs from the other crates, so that `credcycle` is the only
// dependency. The crates themselves stay reachable for everything else.
pub use credcycle_clock::{Clock, ManualClock, SystemClock};
pub use credcycle_core::{
    AccessKeyId, Action, Credentials, ImdsFailure, Input, InvalidRoleName, MonoTime, Now, Policy,
    PolicyBuilder, PolicyError, Refusal, RequestId, RoleName, SecretAccessKey, SessionToken,
    StateKind, WallTime,
};
pub use credcycle_imds::container::{
    ContainerConfig, ContainerConfigBuilder, ContainerConfigError, ContainerError,
};
pub use credcycle_imds::{
    ConfigError as ImdsConfigError, EndpointMode, ImdsConfig, ImdsConfigBuilder, ImdsError,
};
pub use {credcycle_clock, credcycle_core, credcycle_imds};

/// A seed from the operating system's randomness (the `getrandom` crate): what a [`Provider`]
/// seeds its jitter with unless [`ProviderBuilder::seed`] is given, and what to give
/// `ImdsConfigBuilder::jitter_seed` when building your own IMDS settings.
///
/// Refresh jitter exists so that processes holding the same set (every container on a host sees
/// the same `Expiration`) do not refresh in lockstep; a seed they share, such as the process id
/// (every container's main process is PID 1), would undo it. Should the operating system have
/// no randomness to give, the seed comes from the standard library's randomly keyed hasher
/// (keyed from the operating system too, once per thread).
#[must_use]
pub fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one("credcycle jitter seed")
    })
}
