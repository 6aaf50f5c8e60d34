//! # credcycle: EC2 instance-profile credentials, done right
//!
//! A [`Provider`] hands out the credentials of the EC2 instance profile (or of a container
//! endpoint) to any number of threads: fetched once, refreshed ahead of expiry, and never handed
//! out with less than the expiry margin left, on the wall clock and on the monotonic clock (why
//! two: `docs/lifecycle.md#two-clocks`).
//!
//! ```
//! use credcycle::{ImdsConfig, Provider};
//! use credcycle_sim::{SimConfig, SimServer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = SimServer::start("127.0.0.1:0".parse()?, SimConfig::default())?; // a local IMDS
//! let provider = Provider::builder()
//!     .imds(ImdsConfig::builder().endpoint(sim.url()).build()?)
//!     .build()?; // a background thread fetches now and refreshes ahead of expiry
//! let creds = provider.credentials()?; // waits for the first fetch; a few tens of ns after
//! assert!(creds.access_key_id().as_str().starts_with("ASIA"));
//! # Ok(()) }
//! ```
//!
//! ## Map
//!
//! - [`Provider`], built with [`ProviderBuilder`] from a [`Source`]: the lock-free hot path, the
//!   slow path that waits for the one request in flight, and the background refresh.
//! - [`ProvidedCredentials`]: one hand-out; tell whoever caches it its
//!   [`consumer_expiration`](ProvidedCredentials::consumer_expiration).
//! - [`ProviderError`]: why nothing was handed out, or why the settings are invalid.
//! - [`Fetcher`]: who carries out the lifecycle's requests (IMDS, a container endpoint, a test).
//! - [`ProviderStats`]: what the Provider is doing and has done, for monitoring.
//! - `aws_sdk` (feature `aws-sdk`): the Provider as aws-sdk-rust's `ProvideCredentials`.
//! - Re-exports from [`credcycle_core`], [`credcycle_clock`] and [`credcycle_imds`]: what a user
//!   of the Provider needs, so that `credcycle` is the only dependency.
//!
//! ## Docs
//!
//! - `docs/provider.md`: using it, configuration, errors, the threading model, testing with it.
//! - `docs/performance.md`: the measured cost of a hand-out, and why the coarse clocks are safe.
//! - `docs/lifecycle.md`: the states, rules and invariants (INV-1 to INV-5) it drives.

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
/// `ImdsConfigBuilder::jitter_seed` when building your own IMDS settings (why a seed of its own:
/// `docs/provider.md`, "Seeds").
///
/// Should the operating system have no randomness to give, the seed comes from the standard
/// library's randomly keyed hasher (keyed from the operating system too, once per thread).
#[must_use]
pub fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one("credcycle jitter seed")
    })
}
