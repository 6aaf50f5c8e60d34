//! Container-credentials settings: the endpoint, the token's source, timeouts.

use core::fmt;
use core::time::Duration;
use std::path::{Path, PathBuf};

use credcycle_core::RoleName;
use zeroize::Zeroizing;

use super::error::ContainerError;
use crate::endpoint::{ContainerEndpoint, UriProblem};
use crate::message::sanitize;
use crate::token::{AuthorizationToken, TokenProblem};

/// The names of the environment variables read by [`ContainerConfig::from_env`].
pub mod vars {
    /// A path on `http://169.254.170.2` (ECS sets it, e.g. `/v2/credentials/<id>`).
    pub const RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    /// A full URL (EKS Pod Identity sets `http://169.254.170.23/v1/credentials`).
    pub const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    /// A file holding the authorization token, read again for every request.
    pub const AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    /// The authorization token itself.
    pub const AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

    /// Every variable read, in precedence order.
    pub const ALL: [&str; 4] = [
        RELATIVE_URI,
        FULL_URI,
        AUTHORIZATION_TOKEN_FILE,
        AUTHORIZATION_TOKEN,
    ];
}

/// The role name the lifecycle is pinned to for a container source: the endpoint serves one
/// set, so there is no role to discover (see
/// [`ContainerClient::answer`](crate::container::ContainerClient::answer)).
pub const ROLE_LABEL: &str = "container-credentials";

/// Where the authorization token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// No token: no `Authorization` header (ECS task roles over the relative URI need none).
    None,
    /// A fixed token, validated once.
    Value {
        /// The token (redacted in `Debug`).
        token: TokenValue,
        /// Where it came from (an option, or `AWS_CONTAINER_AUTHORIZATION_TOKEN`).
        origin: &'static str,
    },
    /// A file, read again (and validated again) for every request: EKS rotates it in place.
    File {
        /// The file.
        path: PathBuf,
        /// Where the path came from (an option, or `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
        origin: &'static str,
    },
}

/// A validated token inside a [`TokenSource::Value`]; equal tokens compare equal.
#[derive(Clone, Debug)]
pub struct TokenValue(AuthorizationToken);

impl PartialEq for TokenValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for TokenValue {}

impl TokenSource {
    /// The token to send now: the fixed one, or the file's current content.
    ///
    /// # Errors
    ///
    /// [`ContainerError::TokenFile`] when the file cannot be read, and
    /// [`ContainerError::Token`] when its content cannot be sent.
    pub fn read(&self) -> Result<Option<AuthorizationToken>, ContainerError> {
        match self {
            Self::None => Ok(None),
            Self::Value { token, .. } => Ok(Some(token.0.clone())),
            Self::File { path, .. } => read_token_file(path).map(Some),
        }
    }
}

fn read_token_file(path: &Path) -> Result<AuthorizationToken, ContainerError> {
    let shown = sanitize(&path.display().to_string(), 256);
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| ContainerError::TokenFile {
        path: shown.clone(),
        reason: e.kind().to_string(),
    })?);
    let origin = format!("the file {shown}");
    let text = match core::str::from_utf8(&bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => return Err(ContainerError::Token(TokenProblem::Control { origin })),
    };
    AuthorizationToken::new(text, &origin).map_err(ContainerError::Token)
}

/// Settings of a container-credentials source; start with [`ContainerConfig::builder`] or
/// [`ContainerConfig::from_env`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConfig {
    pub(super) endpoint: ContainerEndpoint,
    endpoint_origin: &'static str,
    pub(super) token: TokenSource,
    pub(super) timeout: Duration,
    pub(super) num_attempts: u32,
    pub(super) label: RoleName,
}

impl ContainerConfig {
    /// The default timeout of one attempt (botocore's; aws-config allows 2 s to connect).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    /// The default number of attempts per request.
    pub const DEFAULT_NUM_ATTEMPTS: u32 = 3;
    /// The most attempts allowed.
    pub const MAX_NUM_ATTEMPTS: u32 = 10;
    /// The longest timeout allowed.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

    /// A builder with no endpoint and the defaults.
    pub fn builder() -> ContainerConfigBuilder {
        ContainerConfigBuilder::default()
    }

    /// Settings from the process environment.
    ///
    /// # Errors
    ///
    /// [`ContainerConfigError::NotConfigured`] when neither URI variable is set; any other
    /// [`ContainerConfigError`] when a variable is invalid.
    pub fn from_env() -> Result<Self, ContainerConfigError> {
        Self::builder().build_with_env()
    }

    /// Settings from `env` (a function from a variable's name to its value).
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_source(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ContainerConfigError> {
        Self::builder().build_with_env_source(env)
    }

    /// Whether `env` sets either URI variable (non-empty): the SDKs then use container
    /// credentials, and so does [`credcycle`'s `Provider::from_env`].
    ///
    /// [`credcycle`'s `Provider::from_env`]: https://docs.rs/credcycle
    #[must_use]
    pub fn configured_in(env: impl Fn(&str) -> Option<String>) -> bool {
        [vars::RELATIVE_URI, vars::FULL_URI]
            .into_iter()
            .any(|name| read_var(&env, name).is_some())
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &ContainerEndpoint {
        &self.endpoint
    }

    /// Where the endpoint came from: `"endpoint"` (the option) or the variable's name.
    #[must_use]
    pub fn endpoint_origin(&self) -> &'static str {
        self.endpoint_origin
    }

    /// Where the token comes from.
    #[must_use]
    pub fn token(&self) -> &TokenSource {
        &self.token
    }

    /// The timeout of one attempt.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Attempts per request (timeouts, connection errors, 429 and 5xx are retried).
    #[must_use]
    pub fn num_attempts(&self) -> u32 {
        self.num_attempts
    }

    /// The role name the lifecycle is pinned to (default [`ROLE_LABEL`]): a label only, never
    /// sent (the endpoint serves one set).
    #[must_use]
    pub fn label(&self) -> &RoleName {
        &self.label
    }
}

/// Builds a [`ContainerConfig`]: explicit options first, then (with
/// [`build_with_env`](Self::build_with_env)) the environment.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ContainerConfigBuilder {
    endpoint: Option<String>,
    token: Option<TokenOption>,
    timeout: Option<Duration>,
    num_attempts: Option<u32>,
    label: Option<RoleName>,
}

#[derive(Clone)]
enum TokenOption {
    Value(Zeroizing<String>),
    File(PathBuf),
}

impl fmt::Debug for TokenOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => write!(f, "Value({})", credcycle_core::REDACTED),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl ContainerConfigBuilder {
    /// The endpoint URL, checked like `AWS_CONTAINER_CREDENTIALS_FULL_URI` (wins over both
    /// URI variables).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// A fixed authorization token (wins over both token variables).
    pub fn token(mut self, token: String) -> Self {
        self.token = Some(TokenOption::Value(Zeroizing::new(token)));
        self
    }

    /// A file holding the authorization token, read again for every request (wins over both
    /// token variables).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token = Some(TokenOption::File(path.into()));
        self
    }

    /// The timeout of one attempt (default 2 s; 1 ms to 600 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attempts per request (default 3; 1 to 10).
    pub fn num_attempts(mut self, attempts: u32) -> Self {
        self.num_attempts = Some(attempts);
        self
    }

    /// The role name to pin the lifecycle to (default [`ROLE_LABEL`]); shown where a role is
    /// shown (`credcycle get --format json`), never sent.
    pub fn label(mut self, label: RoleName) -> Self {
        self.label = Some(label);
        self
    }

    /// Builds from the options alone.
    ///
    /// # Errors
    ///
    /// [`ContainerConfigError::NotConfigured`] without an endpoint; any other
    /// [`ContainerConfigError`] for an invalid option.
    pub fn build(self) -> Result<ContainerConfig, ContainerConfigError> {
        self.build_with_env_source(|_| None)
    }

    /// Builds from the options, then the process environment.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and for invalid variables.
    pub fn build_with_env(self) -> Result<ContainerConfig, ContainerConfigError> {
        self.build_with_env_source(|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// Builds from the options, then `env`.
    ///
    /// # Errors
    ///
    /// As [`build_with_env`](Self::build_with_env).
    pub fn build_with_env_source(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ContainerConfig, ContainerConfigError> {
        let uri_error = |origin: &'static str, problem: UriProblem| match problem {
            UriProblem::HostNotAllowed { host } => {
                ContainerConfigError::HostNotAllowed { origin, host }
            }
            problem => ContainerConfigError::Uri { origin, problem },
        };
        let (endpoint, endpoint_origin) = if let Some(url) = &self.endpoint {
            (
                ContainerEndpoint::full(url).map_err(|p| uri_error("the endpoint option", p))?,
                "endpoint",
            )
        } else if let Some(path) = read_var(&env, vars::RELATIVE_URI) {
            (
                ContainerEndpoint::relative(&path).map_err(|p| uri_error(vars::RELATIVE_URI, p))?,
                vars::RELATIVE_URI,
            )
        } else if let Some(url) = read_var(&env, vars::FULL_URI) {
            (
                ContainerEndpoint::full(&url).map_err(|p| uri_error(vars::FULL_URI, p))?,
                vars::FULL_URI,
            )
        } else {
            return Err(ContainerConfigError::NotConfigured);
        };
        if endpoint.is_https() {
            return Err(ContainerConfigError::TlsUnavailable {
                origin: endpoint_origin,
            });
        }
        let token = match self.token {
            Some(TokenOption::Value(value)) => TokenSource::Value {
                token: TokenValue(
                    AuthorizationToken::new(value.to_string(), "the token option")
                        .map_err(ContainerConfigError::Token)?,
                ),
                origin: "the token option",
            },
            Some(TokenOption::File(path)) => TokenSource::File {
                path,
                origin: "the token file option",
            },
            None => {
                if let Some(path) = read_var(&env, vars::AUTHORIZATION_TOKEN_FILE) {
                    TokenSource::File {
                        path: PathBuf::from(path),
                        origin: vars::AUTHORIZATION_TOKEN_FILE,
                    }
                } else if let Some(value) = env(vars::AUTHORIZATION_TOKEN).map(Zeroizing::new)
                    && !value.trim().is_empty()
                {
                    // Verbatim, as the SDKs send it: not trimmed.
                    TokenSource::Value {
                        token: TokenValue(
                            AuthorizationToken::new(value.to_string(), vars::AUTHORIZATION_TOKEN)
                                .map_err(ContainerConfigError::Token)?,
                        ),
                        origin: vars::AUTHORIZATION_TOKEN,
                    }
                } else {
                    TokenSource::None
                }
            }
        };
        let timeout = self.timeout.unwrap_or(ContainerConfig::DEFAULT_TIMEOUT);
        if timeout < Duration::from_millis(1) || timeout > ContainerConfig::MAX_TIMEOUT {
            return Err(ContainerConfigError::Option {
                option: "timeout",
                problem: "must be between 1 ms and 600 s",
            });
        }
        let num_attempts = self
            .num_attempts
            .unwrap_or(ContainerConfig::DEFAULT_NUM_ATTEMPTS);
        if !(1..=ContainerConfig::MAX_NUM_ATTEMPTS).contains(&num_attempts) {
            return Err(ContainerConfigError::Option {
                option: "num_attempts",
                problem: "must be between 1 and 10",
            });
        }
        let label = match self.label {
            Some(label) => label,
            None => RoleName::new(ROLE_LABEL).map_err(|_| ContainerConfigError::Option {
                option: "label",
                problem: "must be a valid role name",
            })?,
        };
        Ok(ContainerConfig {
            endpoint,
            endpoint_origin,
            token,
            timeout,
            num_attempts,
            label,
        })
    }
}

/// A variable's value, with an empty (or all-whitespace) one counted as unset.
fn read_var(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// Why container-credentials settings were refused. One line, no secret: a token's value and a
/// URL's user info are never shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerConfigError {
    /// Neither URI variable is set (and no endpoint option was given).
    #[error(
        "container credentials are not configured: neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
         nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"
    )]
    NotConfigured,
    /// Plain HTTP to a host that is not allowed.
    #[error("{origin} is refused: {}", UriProblem::HostNotAllowed { host: host.clone() })]
    HostNotAllowed {
        /// The variable or option.
        origin: &'static str,
        /// The host refused, as parsed (an IPv6 address in brackets).
        host: String,
    },
    /// Any other problem with a URI.
    #[error("{origin} is invalid: {problem}")]
    Uri {
        /// The variable or option.
        origin: &'static str,
        /// What is wrong.
        problem: UriProblem,
    },
    /// An `https` endpoint, and this build has no TLS.
    #[error(
        "{origin} is https, which is allowed, but this build of credcycle speaks plain HTTP only \
         (no TLS): use an http endpoint on an allowed host"
    )]
    TlsUnavailable {
        /// The variable or option.
        origin: &'static str,
    },
    /// A fixed token that cannot be sent.
    #[error("{0}")]
    Token(TokenProblem),
    /// An option out of range.
    #[error("the container credentials {option} is invalid: {problem}")]
    Option {
        /// The builder method's name.
        option: &'static str,
        /// The rule it breaks.
        problem: &'static str,
    },
}
