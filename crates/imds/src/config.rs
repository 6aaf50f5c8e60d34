//! Configuration: explicit options, then the SDKs' environment variables, then the profile of
//! the shared config file (`~/.aws/config`), then defaults.
//!
//! | setting | explicit option | environment variable | profile key ([`shared`]) | default |
//! |---|---|---|---|---|
//! | endpoint | [`endpoint`](ImdsConfigBuilder::endpoint) | `AWS_EC2_METADATA_SERVICE_ENDPOINT` | `ec2_metadata_service_endpoint` | from the endpoint mode |
//! | endpoint mode | [`endpoint_mode`](ImdsConfigBuilder::endpoint_mode) | `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4` \| `IPv6`, any case) | `ec2_metadata_service_endpoint_mode` | IPv4: `http://169.254.169.254` (IPv6: `http://[fd00:ec2::254]`) |
//! | disabled | none (environment only, as in every SDK) | `AWS_EC2_METADATA_DISABLED` (`true` \| `false`, any case) | none | `false` |
//! | timeout per attempt | [`timeout`](ImdsConfigBuilder::timeout) | `AWS_METADATA_SERVICE_TIMEOUT` (seconds, may be fractional, 0.001 to 600) | `metadata_service_timeout` | 1 s |
//! | attempts per request | [`num_attempts`](ImdsConfigBuilder::num_attempts) | `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (integer, 1 to 10) | `metadata_service_num_attempts` | **3** (the SDKs' 1 is too few: botocore#1791) |
//! | role | [`pinned_role`](ImdsConfigBuilder::pinned_role) | `AWS_EC2_INSTANCE_PROFILE_NAME` (skips discovery) | `ec2_instance_profile_name` | discovered from the listing |
//! | IMDSv1 fallback | [`allow_imds_v1`](ImdsConfigBuilder::allow_imds_v1) | `AWS_EC2_METADATA_V1_DISABLED=true` forbids it | `ec2_metadata_v1_disabled = true` forbids it | **off** |
//! | token TTL | [`token_ttl_secs`](ImdsConfigBuilder::token_ttl_secs) (1 to 21600) | none | none | 21600 s |
//! | extended credentials path | [`extended_credentials`](ImdsConfigBuilder::extended_credentials) | none | none | off |
//! | retry backoff | [`retry_backoff`](ImdsConfigBuilder::retry_backoff) | none | none | 250 ms doubling, capped at 2 s, with jitter |
//! | jitter seed | [`jitter_seed`](ImdsConfigBuilder::jitter_seed) | none | none | 0 |
//! | which profile | [`profile`](ImdsConfigBuilder::profile) | `AWS_PROFILE` | | `default` |
//! | which file | none | `AWS_CONFIG_FILE` | | `~/.aws/config` (`HOME`) |
//!
//! Precedence, highest first: explicit option, environment variable, profile key, default. The
//! endpoint follows the SDKs (aws-config's IMDS client): an explicit endpoint, then
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, then the profile's `ec2_metadata_service_endpoint`,
//! then an explicit mode, then `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`, then the profile's
//! `ec2_metadata_service_endpoint_mode`, then IPv4. The [`shared`] module says how the file and
//! the profile are found and what the parser accepts; a missing file or profile is an empty
//! layer, not an error.
//!
//! Two deliberate exceptions:
//!
//! - **IMDSv1 is only ever allowed by the explicit option.** `AWS_EC2_METADATA_V1_DISABLED=true`
//!   (or the profile's `ec2_metadata_v1_disabled = true`) forbids it even then (it is the
//!   administrator's veto); `false` does not allow it, because credcycle's default is off and a
//!   value left at `false` by a template should not quietly turn on a weaker protocol.
//! - An empty (or all-whitespace) variable or profile value counts as unset, as a shell's
//!   `VAR=` usually means.
//!
//! Every value read is validated; an invalid one is a [`ConfigError`] naming the variable,
//! profile key (with its file and line) or option, never silently replaced by a default. A
//! variable or key shadowed by a higher-precedence setting is not read at all. Surrounding
//! whitespace is ignored.
//!
//! The environment is read through a function (`|name| -> Option<String>`), so tests need not
//! touch the process environment:
//!
//! ```
//! use std::time::Duration;
//! use credcycle_imds::{ImdsConfig, SettingSource};
//!
//! let env = |name: &str| match name {
//!     "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE" => Some("ipv6".to_owned()),
//!     "AWS_METADATA_SERVICE_TIMEOUT" => Some("2.5".to_owned()),
//!     _ => None,
//! };
//! let config = ImdsConfig::from_env_source(env)?;
//! assert_eq!(config.endpoint().as_str(), "http://[fd00:ec2::254]");
//! assert_eq!(config.endpoint_source(), SettingSource::Env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
//! assert_eq!(config.timeout(), Duration::from_millis(2500));
//! assert_eq!(config.num_attempts(), 3);
//!
//! // An explicit option wins over the environment.
//! let config = ImdsConfig::builder().endpoint("http://127.0.0.1:1338").build_with_env_source(env)?;
//! assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:1338");
//!
//! // Invalid values are errors naming the variable.
//! let err = ImdsConfig::from_env_source(|name| {
//!     (name == "AWS_METADATA_SERVICE_NUM_ATTEMPTS").then(|| "0".to_owned())
//! })
//! .unwrap_err();
//! assert_eq!(err.to_string(), "environment variable AWS_METADATA_SERVICE_NUM_ATTEMPTS is invalid (\"0\"): must be between 1 and 10");
//! # Ok::<(), credcycle_imds::ConfigError>(())
//! ```

use core::fmt;
use core::str::FromStr;
use core::time::Duration;
use std::borrow::Cow;

use credcycle_core::{InvalidRoleName, RoleName};

use crate::codec::{MAX_TOKEN_TTL_SECS, sanitize};

/// The names of the environment variables read by [`ImdsConfig::from_env`].
pub mod vars {
    /// `true` disables IMDS access altogether (environment only).
    pub const DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
    /// The endpoint URL, for example `http://127.0.0.1:1338`.
    pub const ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
    /// `IPv4` or `IPv6`: which default endpoint to use.
    pub const ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
    /// `true` forbids falling back to IMDSv1.
    pub const V1_DISABLED: &str = "AWS_EC2_METADATA_V1_DISABLED";
    /// The timeout of one attempt, in seconds (may be fractional).
    pub const TIMEOUT: &str = "AWS_METADATA_SERVICE_TIMEOUT";
    /// How many attempts each request gets.
    pub const NUM_ATTEMPTS: &str = "AWS_METADATA_SERVICE_NUM_ATTEMPTS";
    /// The role to use without listing (skips discovery).
    pub const INSTANCE_PROFILE_NAME: &str = "AWS_EC2_INSTANCE_PROFILE_NAME";
    /// The shared config file (default `~/.aws/config`).
    pub const CONFIG_FILE: &str = "AWS_CONFIG_FILE";
    /// The profile read from the shared config file (default `default`).
    pub const PROFILE: &str = "AWS_PROFILE";

    /// Every variable read, in the order of the precedence table.
    pub const ALL: [&str; 9] = [
        ENDPOINT,
        ENDPOINT_MODE,
        DISABLED,
        TIMEOUT,
        NUM_ATTEMPTS,
        INSTANCE_PROFILE_NAME,
        V1_DISABLED,
        PROFILE,
        CONFIG_FILE,
    ];
}

pub mod shared;
pub use shared::{DEFAULT_PROFILE, SharedConfig, keys};

/// An IMDS endpoint: `http://` and a host, with an optional port, and nothing else.
///
/// IMDS speaks plain HTTP on a link-local address, so `https`, a path, a query, a fragment and
/// user info are all refused; one trailing `/` is allowed and dropped.
///
/// ```
/// use credcycle_imds::Endpoint;
///
/// assert_eq!(Endpoint::parse("HTTP://LocalHost:1338/")?.as_str(), "http://localhost:1338");
/// assert_eq!(Endpoint::parse("http://[fd00:ec2::254]")?, Endpoint::IPV6);
/// assert!(Endpoint::parse("https://169.254.169.254").is_err());
/// assert!(Endpoint::parse("http://169.254.169.254/latest").is_err());
/// # Ok::<(), credcycle_imds::EndpointError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(Cow<'static, str>);

impl Endpoint {
    /// The IPv4 endpoint, `http://169.254.169.254`.
    pub const IPV4: Self = Self(Cow::Borrowed("http://169.254.169.254"));
    /// The IPv6 endpoint, `http://[fd00:ec2::254]` (Nitro instances with IPv6 IMDS enabled).
    pub const IPV6: Self = Self(Cow::Borrowed("http://[fd00:ec2::254]"));

    /// Validates an endpoint URL and normalizes it (lowercase scheme and host, no trailing `/`).
    ///
    /// # Errors
    ///
    /// An [`EndpointError`] naming what is wrong.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(EndpointError::NoScheme);
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(EndpointError::NotHttp {
                scheme: sanitize(scheme, 16),
            });
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['?', '#']) {
            return Err(EndpointError::QueryOrFragment);
        }
        if authority.contains('/') {
            return Err(EndpointError::Path);
        }
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let host = host.to_ascii_lowercase();
        Ok(Self(Cow::Owned(match port {
            Some(port) => format!("http://{host}:{port}"),
            None => format!("http://{host}"),
        })))
    }

    /// The endpoint as a URL without a trailing `/`, for example `http://169.254.169.254`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits `host[:port]` or `[v6]:port`, validating both.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), EndpointError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(EndpointError::BadHost)?;
        let valid = !inside.is_empty()
            && inside.contains(':')
            && inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(EndpointError::BadHost);
        }
        let host = authority
            .get(..inside.len() + 2)
            .ok_or(EndpointError::BadHost)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(EndpointError::BadHost)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(EndpointError::NoHost);
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(EndpointError::BadHost);
    }
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
            _ => Err(EndpointError::BadPort),
        })
        .transpose()?;
    Ok((host, port))
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a text is not a valid [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://`.
    #[error("endpoint must start with http://")]
    NoScheme,
    /// A scheme other than `http`.
    #[error("endpoint scheme must be http (IMDS speaks plain HTTP), not {scheme:?}")]
    NotHttp {
        /// The scheme given.
        scheme: String,
    },
    /// Nothing between `http://` and the port.
    #[error("endpoint has no host")]
    NoHost,
    /// The host holds characters a host name or an IP address cannot.
    #[error("endpoint host is not a host name, an IPv4 address or a bracketed IPv6 address")]
    BadHost,
    /// The port is not a number from 1 to 65535.
    #[error("endpoint port must be a number from 1 to 65535")]
    BadPort,
    /// A path after the host (only one trailing `/` is allowed).
    #[error("endpoint must not have a path (the client adds /latest/...)")]
    Path,
    /// A query or a fragment.
    #[error("endpoint must not have a query or a fragment")]
    QueryOrFragment,
    /// `user@` before the host.
    #[error("endpoint must not have user info")]
    UserInfo,
}

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
    /// An explicit option of [`ImdsConfigBuilder`].
    Explicit,
    /// The named environment variable.
    Env(&'static str),
    /// The named key of the profile in the shared config file
    /// ([`ImdsConfig::shared_config`] says which file and profile).
    Profile(&'static str),
    /// The default.
    Default,
}

/// A validated IMDS client configuration. Build one with [`ImdsConfig::builder`], or read the
/// environment with [`ImdsConfig::from_env`]; the [module docs](self) have the precedence
/// table. `Debug` is safe to log: the configuration holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsConfig {
    endpoint: Endpoint,
    endpoint_source: SettingSource,
    disabled: bool,
    timeout: Duration,
    num_attempts: u32,
    token_ttl_secs: u32,
    allow_imds_v1: bool,
    imds_v1_forbidden_by_env: bool,
    pinned_role: Option<RoleName>,
    extended_credentials: bool,
    backoff_base: Duration,
    backoff_cap: Duration,
    jitter_seed: u64,
    shared_config: Option<SharedConfig>,
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

    /// A builder with nothing set: unset settings come from the environment (if read) or the
    /// defaults.
    pub fn builder() -> ImdsConfigBuilder {
        ImdsConfigBuilder::default()
    }

    /// The defaults overridden by the shared config file's profile, overridden by the process
    /// environment (which also says where the file is and which profile to read).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a variable or a profile key holds an invalid value, or the config
    /// file cannot be read or parsed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().build_with_env()
    }

    /// The defaults overridden by the shared config file's profile, overridden by the
    /// environment as `env` reports it (`env(name)` is the variable's value, `None` when unset).
    /// The file is found through `env` too (`AWS_CONFIG_FILE`, else `HOME`), so an `env` that
    /// sets neither reads no file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a variable or a profile key holds an invalid value, or the config
    /// file cannot be read or parsed.
    pub fn from_env_source(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::builder().build_with_env_source(env)
    }

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

/// Builds an [`ImdsConfig`]: set what must be explicit, then choose whether the environment is
/// read ([`build_with_env`](Self::build_with_env),
/// [`build_with_env_source`](Self::build_with_env_source)) or not ([`build`](Self::build)).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ImdsConfigBuilder {
    endpoint: Option<String>,
    endpoint_mode: Option<EndpointMode>,
    timeout: Option<Duration>,
    num_attempts: Option<u32>,
    token_ttl_secs: Option<u32>,
    allow_imds_v1: Option<bool>,
    pinned_role: Option<RoleName>,
    extended_credentials: Option<bool>,
    backoff: Option<(Duration, Duration)>,
    jitter_seed: Option<u64>,
    profile: Option<String>,
}

impl ImdsConfigBuilder {
    /// The endpoint URL (validated by [`Endpoint::parse`] when built). Wins over every other
    /// endpoint setting.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The endpoint mode. Wins over `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`, but not over
    /// an endpoint URL (explicit or `AWS_EC2_METADATA_SERVICE_ENDPOINT`), as in the SDKs.
    pub fn endpoint_mode(mut self, mode: EndpointMode) -> Self {
        self.endpoint_mode = Some(mode);
        self
    }

    /// The timeout of one attempt: more than zero (at least 1 ms), at most
    /// [`ImdsConfig::MAX_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attempts per request: 1 to [`ImdsConfig::MAX_NUM_ATTEMPTS`].
    pub fn num_attempts(mut self, attempts: u32) -> Self {
        self.num_attempts = Some(attempts);
        self
    }

    /// The session-token TTL to ask for: 1 to 21600 seconds.
    pub fn token_ttl_secs(mut self, secs: u32) -> Self {
        self.token_ttl_secs = Some(secs);
        self
    }

    /// Allow IMDSv1 (requests without a session token) when the token request answers 404 or
    /// 405, as an IMDS without tokens (an old emulator) does. Off by default;
    /// `AWS_EC2_METADATA_V1_DISABLED=true` overrides it.
    pub fn allow_imds_v1(mut self, allow: bool) -> Self {
        self.allow_imds_v1 = Some(allow);
        self
    }

    /// Use this role without listing roles (wins over `AWS_EC2_INSTANCE_PROFILE_NAME`).
    pub fn pinned_role(mut self, role: RoleName) -> Self {
        self.pinned_role = Some(role);
        self
    }

    /// Try the extended credentials path (which adds `AccountId`) first, falling back to the
    /// classic path for good after a 404.
    pub fn extended_credentials(mut self, enabled: bool) -> Self {
        self.extended_credentials = Some(enabled);
        self
    }

    /// The retry delays: the first is `base`, each later one doubles, none exceeds `cap`; each
    /// is then jittered to between half and all of itself. `base <= cap <=`
    /// [`ImdsConfig::MAX_BACKOFF_CAP`]; a zero `base` retries at once (for tests).
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = Some((base, cap));
        self
    }

    /// The seed of the retry jitter. Give each process its own (for example from its pid), so
    /// that processes on one host do not retry in lockstep; the same seed gives the same delays.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The profile to read from the shared config file (wins over `AWS_PROFILE`).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Validates the explicit options over the defaults, without reading the environment or
    /// any file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Option`] naming the first invalid option.
    pub fn build(self) -> Result<ImdsConfig, ConfigError> {
        self.build_with_env_source(|_| None)
    }

    /// Validates the explicit options over the process environment over the shared config
    /// file's profile over the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid option, variable or profile key, or why the
    /// config file cannot be read.
    pub fn build_with_env(self) -> Result<ImdsConfig, ConfigError> {
        self.build_with_env_source(|name| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            // Not Unicode: pass it on, lossily, so that it is reported as invalid.
            Err(std::env::VarError::NotUnicode(raw)) => Some(raw.to_string_lossy().into_owned()),
        })
    }

    /// Validates the explicit options over the environment as `env` reports it over the shared
    /// config file's profile over the defaults. The file is found and the profile chosen
    /// through `env` ([`SharedConfig::load`]): an `env` that sets neither `AWS_CONFIG_FILE`
    /// nor `HOME` reads no file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid option, variable or profile key, or why the
    /// config file cannot be read.
    pub fn build_with_env_source(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ImdsConfig, ConfigError> {
        let shared = SharedConfig::load(&env, self.profile.as_deref())?;
        self.build_with_sources(env, shared)
    }

    /// Validates the explicit options over the environment as `env` reports it over `shared`
    /// (a profile already read, or `None` for no file) over the defaults. Reads no file: the
    /// way to test the profile layer.
    ///
    /// ```
    /// use credcycle_imds::{ImdsConfig, SettingSource};
    /// use credcycle_imds::config::{SharedConfig, keys};
    ///
    /// let file = "[profile lab]\nec2_metadata_service_endpoint = http://127.0.0.1:1338\n";
    /// let lab = SharedConfig::parse("config", file, "lab")?;
    ///
    /// let config = ImdsConfig::builder().build_with_sources(|_| None, Some(lab.clone()))?;
    /// assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:1338");
    /// assert_eq!(config.endpoint_source(), SettingSource::Profile(keys::ENDPOINT));
    ///
    /// // The environment wins over the profile.
    /// let env = |name: &str| {
    ///     (name == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| "http://127.0.0.1:9999".to_owned())
    /// };
    /// let config = ImdsConfig::builder().build_with_sources(env, Some(lab))?;
    /// assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:9999");
    /// # Ok::<(), credcycle_imds::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid option, variable or profile key.
    pub fn build_with_sources(
        self,
        env: impl Fn(&str) -> Option<String>,
        shared: Option<SharedConfig>,
    ) -> Result<ImdsConfig, ConfigError> {
        let env = Env(&env);
        let profile = Profile(shared.as_ref());
        let defaults = ImdsConfig::default();

        let disabled = env.parse(vars::DISABLED, parse_bool)?.unwrap_or(false);

        let (endpoint, endpoint_source) = if let Some(url) = self.endpoint {
            let endpoint = Endpoint::parse(url.trim()).map_err(|e| option("endpoint", e))?;
            (endpoint, SettingSource::Explicit)
        } else if let Some(endpoint) = env.parse(vars::ENDPOINT, |v| Ok(Endpoint::parse(v)?))? {
            (endpoint, SettingSource::Env(vars::ENDPOINT))
        } else if let Some(endpoint) = profile.parse(keys::ENDPOINT, |v| Ok(Endpoint::parse(v)?))? {
            (endpoint, SettingSource::Profile(keys::ENDPOINT))
        } else if let Some(mode) = self.endpoint_mode {
            (mode.endpoint(), SettingSource::Explicit)
        } else if let Some(mode) = env.parse(vars::ENDPOINT_MODE, EndpointMode::from_str)? {
            (mode.endpoint(), SettingSource::Env(vars::ENDPOINT_MODE))
        } else if let Some(mode) = profile.parse(keys::ENDPOINT_MODE, EndpointMode::from_str)? {
            (mode.endpoint(), SettingSource::Profile(keys::ENDPOINT_MODE))
        } else {
            (defaults.endpoint, SettingSource::Default)
        };

        let timeout = match self.timeout {
            Some(t) => check_timeout(t).map_err(|e| option("timeout", e))?,
            None => match env.parse(vars::TIMEOUT, parse_seconds)? {
                Some(t) => t,
                None => profile
                    .parse(keys::TIMEOUT, parse_seconds)?
                    .unwrap_or(defaults.timeout),
            },
        };

        let num_attempts = match self.num_attempts {
            Some(n) => check_attempts(n).map_err(|e| option("num_attempts", e))?,
            None => match env.parse(vars::NUM_ATTEMPTS, parse_attempts)? {
                Some(n) => n,
                None => profile
                    .parse(keys::NUM_ATTEMPTS, parse_attempts)?
                    .unwrap_or(defaults.num_attempts),
            },
        };

        let pinned_role = match self.pinned_role {
            Some(role) => Some(check_role(role).map_err(|e| option("pinned_role", e))?),
            None => match env.parse(vars::INSTANCE_PROFILE_NAME, parse_role)? {
                Some(role) => Some(role),
                None => profile.parse(keys::INSTANCE_PROFILE_NAME, parse_role)?,
            },
        };

        let imds_v1_forbidden_by_env = match env.parse(vars::V1_DISABLED, parse_bool)? {
            Some(forbidden) => forbidden,
            None => profile
                .parse(keys::V1_DISABLED, parse_bool)?
                .unwrap_or(false),
        };

        let token_ttl_secs = self.token_ttl_secs.unwrap_or(defaults.token_ttl_secs);
        if !(1..=MAX_TOKEN_TTL_SECS).contains(&token_ttl_secs) {
            return Err(option(
                "token_ttl_secs",
                ValueError::OutOfRange {
                    range: "1 and 21600",
                },
            ));
        }

        let (backoff_base, backoff_cap) = self
            .backoff
            .unwrap_or((defaults.backoff_base, defaults.backoff_cap));
        if backoff_cap > ImdsConfig::MAX_BACKOFF_CAP {
            return Err(option(
                "retry_backoff",
                ValueError::OutOfRange {
                    range: "0 and 60 seconds",
                },
            ));
        }
        if backoff_base > backoff_cap {
            return Err(option("retry_backoff", ValueError::BaseAboveCap));
        }

        Ok(ImdsConfig {
            endpoint,
            endpoint_source,
            disabled,
            timeout,
            num_attempts,
            token_ttl_secs,
            allow_imds_v1: self.allow_imds_v1.unwrap_or(false),
            imds_v1_forbidden_by_env,
            pinned_role,
            extended_credentials: self.extended_credentials.unwrap_or(false),
            backoff_base,
            backoff_cap,
            jitter_seed: self.jitter_seed.unwrap_or(defaults.jitter_seed),
            shared_config: shared,
        })
    }
}

/// The profile layer: empty without a file.
struct Profile<'a>(Option<&'a SharedConfig>);

impl Profile<'_> {
    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.0 {
            Some(shared) => shared.parse_value(key, parse),
            None => Ok(None),
        }
    }
}

/// The environment as a function, with the reading rules: trimmed, empty means unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn parse<T>(
        &self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = (self.0)(var) else {
            return Ok(None);
        };
        let value = raw.trim();
        if value.is_empty() {
            return Ok(None);
        }
        parse(value).map(Some).map_err(|problem| ConfigError::Env {
            var,
            value: sanitize(value, 64),
            problem,
        })
    }
}

fn option(option: &'static str, problem: impl Into<ValueError>) -> ConfigError {
    ConfigError::Option {
        option,
        problem: problem.into(),
    }
}

fn parse_bool(v: &str) -> Result<bool, ValueError> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ValueError::NotBool)
    }
}

fn parse_seconds(v: &str) -> Result<Duration, ValueError> {
    let secs: f64 = v.parse().map_err(|_| ValueError::NotSeconds)?;
    if !secs.is_finite() {
        return Err(ValueError::NotSeconds);
    }
    if !(0.001..=ImdsConfig::MAX_TIMEOUT.as_secs_f64()).contains(&secs) {
        return Err(TIMEOUT_RANGE);
    }
    check_timeout(Duration::from_secs_f64(secs))
}

const TIMEOUT_RANGE: ValueError = ValueError::OutOfRange {
    range: "0.001 and 600 seconds",
};

fn check_timeout(t: Duration) -> Result<Duration, ValueError> {
    if t < Duration::from_millis(1) || t > ImdsConfig::MAX_TIMEOUT {
        return Err(TIMEOUT_RANGE);
    }
    Ok(t)
}

fn parse_attempts(v: &str) -> Result<u32, ValueError> {
    check_attempts(v.parse().map_err(|_| ValueError::NotInteger)?)
}

fn parse_role(v: &str) -> Result<RoleName, ValueError> {
    check_role(RoleName::new(v)?)
}

fn check_attempts(n: u32) -> Result<u32, ValueError> {
    if !(1..=ImdsConfig::MAX_NUM_ATTEMPTS).contains(&n) {
        return Err(ValueError::OutOfRange { range: "1 and 10" });
    }
    Ok(n)
}

fn check_role(role: RoleName) -> Result<RoleName, ValueError> {
    if matches!(role.as_str(), "." | "..") {
        return Err(ValueError::DotRoleName);
    }
    Ok(role)
}

/// An invalid configuration value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds an invalid value.
    #[error("environment variable {var} is invalid ({value:?}): {problem}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value, shortened to 64 characters with control characters replaced.
        value: String,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// A key of the shared config file's profile holds an invalid value.
    #[error("{path}:{line}: {key} in profile {profile} is invalid ({value:?}): {problem}")]
    Profile {
        /// The config file.
        path: String,
        /// The line of the key (1-based).
        line: usize,
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// Its value, shortened to 64 characters with control characters replaced.
        value: String,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// The shared config file is not in the config file format.
    #[error("{path}:{line}: not a valid AWS config file: {problem}")]
    SharedConfigSyntax {
        /// The config file.
        path: String,
        /// The offending line (1-based).
        line: usize,
        /// What is wrong there.
        problem: String,
    },
    /// The shared config file exists but cannot be read.
    #[error("cannot read the AWS config file {path}: {problem}")]
    SharedConfigRead {
        /// The config file.
        path: String,
        /// Why (the I/O error's kind, or "not UTF-8").
        problem: String,
    },
    /// An explicit option holds an invalid value.
    #[error("option {option} is invalid: {problem}")]
    Option {
        /// The option (the builder method's name).
        option: &'static str,
        /// What is wrong with it.
        problem: ValueError,
    },
}

/// What is wrong with a configuration value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not `true` or `false` (in any case).
    #[error("expected true or false")]
    NotBool,
    /// Not a number of seconds.
    #[error("expected a number of seconds, such as 1 or 2.5")]
    NotSeconds,
    /// Not a whole number.
    #[error("expected a whole number")]
    NotInteger,
    /// Outside the accepted range.
    #[error("must be between {range}")]
    OutOfRange {
        /// The range, in words.
        range: &'static str,
    },
    /// Not `IPv4` or `IPv6`.
    #[error("expected IPv4 or IPv6")]
    NotEndpointMode,
    /// Not a valid endpoint URL.
    #[error("{0}")]
    Endpoint(EndpointError),
    /// Not a valid role name.
    #[error("{0}")]
    RoleName(InvalidRoleName),
    /// `.` or `..`, which are path segments, not roles.
    #[error("role name must not be '.' or '..'")]
    DotRoleName,
    /// The backoff base is above its cap.
    #[error("the backoff base must not exceed the cap")]
    BaseAboveCap,
}

// Causes are part of each message (one line says everything), so they are not also
// `source()`s: a chain printer would repeat them.
impl From<EndpointError> for ValueError {
    fn from(e: EndpointError) -> Self {
        Self::Endpoint(e)
    }
}

impl From<InvalidRoleName> for ValueError {
    fn from(e: InvalidRoleName) -> Self {
        Self::RoleName(e)
    }
}

#[cfg(test)]
mod tests;
