//! Building an [`ImdsConfig`]: explicit options over the environment over the profile over the
//! defaults.

use core::str::FromStr;
use core::time::Duration;

use credcycle_core::RoleName;

use super::error::{ConfigError, ValueError};
use super::settings::{EndpointMode, ImdsConfig, SettingSource};
use super::shared::{SharedConfig, keys};
use super::vars;
use crate::endpoint::Endpoint;
use crate::message::sanitize;
use crate::protocol::MAX_TOKEN_TTL_SECS;

impl ImdsConfig {
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

pub(super) const TIMEOUT_RANGE: ValueError = ValueError::OutOfRange {
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
