//! Building a [`Provider`]: its settings ([`ProviderBuilder`]), which source answers its
//! requests ([`Source`]: IMDS or a container endpoint, in the AWS SDKs' order), and the start of
//! the shared state and of the background thread.

use core::time::Duration;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};

use arc_swap::ArcSwapOption;
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{Machine, Policy};
use credcycle_imds::container::{ContainerClient, ContainerConfig};
use credcycle_imds::{ImdsClient, ImdsConfig, UreqTransport};

use super::refresh::{BackgroundControl, run_background};
use super::{Lifecycle, Provider, Shared};
use crate::error::ProviderError;
use crate::fetch::Fetcher;
use crate::stats::{ImdsStatusCounts, RefreshOutcomes, RefusalCounts, Striped};

/// Where a [`Provider`] gets its credentials from.
///
/// Both sources drive the same lifecycle (`credcycle_core::Machine`, the same rules and
/// invariants); they differ only in who answers its requests. See
/// [`ProviderBuilder::source`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The AWS SDKs' order: the container endpoint when its settings are given
    /// ([`ProviderBuilder::container`]) or its variables are set
    /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`), else IMDS. IMDS settings given
    /// with [`ProviderBuilder::imds`] (and no container settings) pick IMDS.
    #[default]
    Auto,
    /// The EC2 Instance Metadata Service (instance-profile credentials).
    Imds,
    /// A container-credentials endpoint (ECS task roles, EKS Pod Identity).
    Container,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(match self {
            Self::Auto => "auto",
            Self::Imds => "imds",
            Self::Container => "container",
        })
    }
}

/// Settings of a [`Provider`]; start with [`Provider::builder`].
#[must_use]
pub struct ProviderBuilder {
    policy: Policy,
    source: Source,
    container: Option<ContainerConfig>,
    imds: Option<ImdsConfig>,
    fetcher: Option<Box<dyn Fetcher>>,
    clock: Option<Arc<dyn Clock>>,
    wait_timeout: Duration,
    background: bool,
    seed: Option<u64>,
}

impl Provider {
    /// A builder with the default policy, IMDS settings from the environment, the system
    /// clock, background refresh on and a 10 s wait timeout.
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder {
            policy: Policy::default(),
            source: Source::Auto,
            container: None,
            imds: None,
            fetcher: None,
            clock: None,
            wait_timeout: Duration::from_secs(10),
            background: true,
            seed: None,
        }
    }

    /// A provider with every default, in the AWS SDKs' order: container credentials when
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` is set (ECS, EKS Pod Identity),
    /// else IMDS, each with its settings from the SDKs' environment variables.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Container`] or [`ProviderError::Imds`] when an environment variable is
    /// invalid (a `FULL_URI` to a host that is not allowed, for one); see
    /// [`build`](ProviderBuilder::build).
    pub fn from_env() -> Result<Self, ProviderError> {
        Self::builder().build()
    }
}

impl ProviderBuilder {
    /// The lifecycle policy (margin, refresh windows, backoff, grace).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// IMDS settings (default: [`ImdsConfig::from_env`]). With [`Source::Auto`] and no
    /// container settings, giving them picks IMDS.
    pub fn imds(mut self, config: ImdsConfig) -> Self {
        self.imds = Some(config);
        self
    }

    /// Container-credentials settings (default: [`ContainerConfig::from_env`]). With
    /// [`Source::Auto`], giving them picks the container source.
    pub fn container(mut self, config: ContainerConfig) -> Self {
        self.container = Some(config);
        self
    }

    /// Which source to use (default [`Source::Auto`]: the SDKs' order, container variables
    /// first). Ignored when a [`fetcher`](Self::fetcher) is given.
    ///
    /// The container source drives the same lifecycle with its role pinned to a label
    /// ([`ContainerConfig::label`]), so the core never asks for a role listing, and there is no
    /// session token to fetch: every request is one `GET` of the container endpoint, with the
    /// authorization token read anew (from its file, when it has one).
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Who carries out the requests (default: an [`ImdsClient`] over ureq with the IMDS
    /// settings). Tests use this to script IMDS.
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Box::new(fetcher));
        self
    }

    /// The clock of every deadline and check (default: a new [`SystemClock`]; tests give a
    /// `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long a caller waits for another caller's request before giving up (default 10 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Whether a background thread refreshes ahead of expiry (default on).
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Seed of the jitter: of the core's refresh and backoff jitter, and of the default IMDS
    /// client's retry jitter (default: a seed from the operating system's randomness, see
    /// [`random_seed`](crate::random_seed), so that processes that hold the same set refresh at
    /// different moments). Give one only to make a run reproducible.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the provider and, with background refresh, starts fetching at once.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Imds`] or [`ProviderError::Container`] when the settings of the source
    /// (or their environment variables) are invalid, [`ProviderError::Policy`] when the policy
    /// adjusted to the source is, and [`ProviderError::Spawn`] when the refresh thread cannot
    /// start.
    pub fn build(self) -> Result<Provider, ProviderError> {
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
        let seed = self.seed.unwrap_or_else(crate::random_seed);
        let mut policy = self.policy;
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => {
                let source = match self.source {
                    Source::Auto if self.container.is_some() => Source::Container,
                    Source::Auto if self.imds.is_some() => Source::Imds,
                    Source::Auto if ContainerConfig::configured_in(env_var) => Source::Container,
                    Source::Auto => Source::Imds,
                    explicit => explicit,
                };
                if source == Source::Container {
                    let config = match self.container {
                        Some(config) => config,
                        None => ContainerConfig::from_env()?,
                    };
                    // No role to discover: the core fetches for the pinned label at once
                    // ([R1]) and, since the endpoint never answers "no such role", never drops
                    // the label either. One retry schedule (INV-4), as for IMDS.
                    policy = policy
                        .to_builder()
                        .pinned_role(Some(config.label().clone()))
                        .http_attempts(config.num_attempts())
                        .build()?;
                    Box::new(ContainerClient::with_config(config))
                } else {
                    imds_fetcher(self.imds, seed, &mut policy, &clock)?
                }
            }
        };
        let background = self.background.then(|| {
            Arc::new(BackgroundControl {
                stop: Mutex::new(false),
                wake: Condvar::new(),
            })
        });
        let shared = Arc::new(Shared {
            snapshot: ArcSwapOption::empty(),
            lifecycle: Mutex::new(Lifecycle {
                machine: Machine::new(policy, seed),
                fetcher: Some(fetcher),
                last_error: None,
                queued: None,
                slow_calls: 0,
                requests: 0,
                refusals: RefusalCounts::default(),
                outcomes: RefreshOutcomes::default(),
                imds: ImdsStatusCounts::default(),
            }),
            request_done: Condvar::new(),
            clock,
            wait_timeout: self.wait_timeout,
            background: background.clone(),
            waiting: AtomicU64::new(0),
            handouts: Striped::new(),
        });
        if let Some(control) = background {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("credcycle-refresh".into())
                .spawn(move || run_background(&weak, &control))
                .map_err(ProviderError::Spawn)?;
        }
        Ok(Provider { shared })
    }
}

/// Reads an environment variable as the SDKs do (lossily, for the presence check).
fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The IMDS client for `config` (default: from the environment), and the policy adjusted to it.
fn imds_fetcher(
    config: Option<ImdsConfig>,
    seed: u64,
    policy: &mut Policy,
    clock: &Arc<dyn Clock>,
) -> Result<Box<dyn Fetcher>, ProviderError> {
    let config = match config {
        Some(config) => config,
        None => ImdsConfig::builder().jitter_seed(seed).build_with_env()?,
    };
    if let (Some(role), None) = (config.pinned_role(), policy.pinned_role()) {
        // AWS_EC2_INSTANCE_PROFILE_NAME: the core skips discovery too.
        *policy = policy
            .to_builder()
            .pinned_role(Some(role.clone()))
            .build()?;
    }
    // One retry schedule (INV-4): the client's HTTP attempts count against the core's backoff
    // instead of multiplying it.
    *policy = policy
        .to_builder()
        .http_attempts(config.num_attempts())
        .build()?;
    Ok(Box::new(ImdsClient::new(
        config,
        UreqTransport::new(),
        Arc::clone(clock),
    )))
}
