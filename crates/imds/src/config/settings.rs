//! A validated IMDS client configuration, and where each setting came from.

use core::str::FromStr;
use core::time::Duration;

use credcycle_core::RoleName;

use super::error::ValueError;
use super::shared::SharedConfig;
use crate::endpoint::Endpoint;
use crate::protocol::MAX_TOKEN_TTL_SECS;

/// Which default endpoint to use (the SDKs' endpoint mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointMode {
    /// `http://169.254.169.254`.
    Ipv4,
    /// `http://[fd00:ec2::254]`.
    Ipv6,
}

impl EndpointMode {
    /// The endpoint of this mode.
    #[must_use]
    pub fn endpoint(self) -> Endpoint {
        match self {
            Self::Ipv4 => Endpoint::IPV4,
            Self::Ipv6 => Endpoint::IPV6,
        }
    }
}

impl FromStr for EndpointMode {
    type Err = ValueError;
    /// `IPv4` or `IPv6`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("ipv4") {
            Ok(Self::Ipv4)
        } else if s.eq_ignore_ascii_case("ipv6") {
            Ok(Self::Ipv6)
        } else {
            Err(ValueError::NotEndpointMode)
        }
    }
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettingSource {
    /// An explicit option of [`ImdsConfigBuilder`](crate::ImdsConfigBuilder).
    Explicit,
    /// The named environment variable.
    Env(&'static str),
    /// The named key of the profile in the shared config file
    /// ([`ImdsConfig::shared_config`] says which file and profile).
    Profile(&'static str),
    /// Nothing set it: the default.
    Default,
}

/// A validated IMDS client configuration. Build one with [`ImdsConfig::builder`], or read the
/// environment with [`ImdsConfig::from_env`]; the [module docs](crate::config) have the precedence
/// table. `Debug` is safe to log: the configuration holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsConfig {
    pub(super) endpoint: Endpoint,
    pub(super) endpoint_source: SettingSource,
    pub(super) disabled: bool,
    pub(super) timeout: Duration,
    pub(super) num_attempts: u32,
    pub(super) token_ttl_secs: u32,
    pub(super) allow_imds_v1: bool,
    pub(super) imds_v1_forbidden_by_env: bool,
    pub(super) pinned_role: Option<RoleName>,
    pub(super) extended_credentials: bool,
    pub(super) backoff_base: Duration,
    pub(super) backoff_cap: Duration,
    pub(super) jitter_seed: u64,
    pub(super) shared_config: Option<SharedConfig>,
}

impl Default for ImdsConfig {
    /// The defaults, without reading the environment.
    fn default() -> Self {
        Self {
            endpoint: Endpoint::IPV4,
            endpoint_source: SettingSource::Default,
            disabled: false,
            timeout: Self::DEFAULT_TIMEOUT,
            num_attempts: Self::DEFAULT_NUM_ATTEMPTS,
            token_ttl_secs: MAX_TOKEN_TTL_SECS,
            allow_imds_v1: false,
            imds_v1_forbidden_by_env: false,
            pinned_role: None,
            extended_credentials: false,
            backoff_base: Self::DEFAULT_BACKOFF_BASE,
            backoff_cap: Self::DEFAULT_BACKOFF_CAP,
            jitter_seed: 0,
            shared_config: None,
        }
    }
}

impl ImdsConfig {
    /// The default timeout of one attempt (the SDKs' default).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// The longest timeout accepted.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    /// The default number of attempts per request (the SDKs use 1).
    pub const DEFAULT_NUM_ATTEMPTS: u32 = 3;
    /// The most attempts per request accepted.
    pub const MAX_NUM_ATTEMPTS: u32 = 10;
    /// The default first retry delay (doubled after each failed attempt, with jitter).
    pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);
    /// The default longest retry delay.
    pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(2);
    /// The longest backoff cap accepted.
    pub const MAX_BACKOFF_CAP: Duration = Duration::from_secs(60);
    /// The endpoint requests go to.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Where the endpoint came from.
    #[must_use]
    pub fn endpoint_source(&self) -> SettingSource {
        self.endpoint_source
    }

    /// Whether `AWS_EC2_METADATA_DISABLED=true`: every operation then fails with
    /// [`ImdsError::Disabled`](crate::ImdsError::Disabled) without sending anything.
    #[must_use]
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The timeout of one attempt (connect, send and read the whole reply).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many attempts each request gets (on timeouts, connection errors, 429 and 5xx).
    #[must_use]
    pub fn num_attempts(&self) -> u32 {
        self.num_attempts
    }

    /// The session-token TTL asked for, in seconds.
    #[must_use]
    pub fn token_ttl_secs(&self) -> u32 {
        self.token_ttl_secs
    }

    /// Whether falling back to IMDSv1 (requests without a token) is allowed when the token
    /// request answers 404 or 405: the explicit option, unless vetoed by
    /// `AWS_EC2_METADATA_V1_DISABLED=true`.
    #[must_use]
    pub fn allow_imds_v1(&self) -> bool {
        self.allow_imds_v1 && !self.imds_v1_forbidden_by_env
    }

    /// Whether `AWS_EC2_METADATA_V1_DISABLED=true` (or, with the variable unset, the profile's
    /// `ec2_metadata_v1_disabled = true`) forbids IMDSv1.
    #[must_use]
    pub fn imds_v1_forbidden_by_env(&self) -> bool {
        self.imds_v1_forbidden_by_env
    }

    /// The shared config file's profile that was read, if a file was found.
    #[must_use]
    pub fn shared_config(&self) -> Option<&SharedConfig> {
        self.shared_config.as_ref()
    }

    /// The role to use without listing (`AWS_EC2_INSTANCE_PROFILE_NAME`). Pass it to the core's
    /// `PolicyBuilder::pinned_role` too, so the machine skips discovery as well.
    #[must_use]
    pub fn pinned_role(&self) -> Option<&RoleName> {
        self.pinned_role.as_ref()
    }

    /// Whether the extended credentials path is tried first.
    #[must_use]
    pub fn extended_credentials(&self) -> bool {
        self.extended_credentials
    }

    /// The first retry delay.
    #[must_use]
    pub fn backoff_base(&self) -> Duration {
        self.backoff_base
    }

    /// The longest retry delay.
    #[must_use]
    pub fn backoff_cap(&self) -> Duration {
        self.backoff_cap
    }

    /// The seed of the retry jitter.
    #[must_use]
    pub fn jitter_seed(&self) -> u64 {
        self.jitter_seed
    }

    /// An upper bound on the time one request (with its retries) can take: every attempt
    /// timing out, every backoff at the cap (7 s with the defaults). An operation usually
    /// sends one or two requests; when IMDS does not answer at all it ends after the token
    /// request's attempts. Keep the core's `Policy::request_timeout` (30 s by default) above
    /// this, so that the core does not give up on a request that is still being retried.
    #[must_use]
    pub fn max_request_time(&self) -> Duration {
        let attempts = self.num_attempts;
        self.timeout
            .saturating_mul(attempts)
            .saturating_add(self.backoff_cap.saturating_mul(attempts.saturating_sub(1)))
    }
}
