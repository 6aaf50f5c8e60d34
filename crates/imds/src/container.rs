//! Container credentials: the endpoint that ECS task roles and EKS Pod Identity serve.
//!
//! Every AWS SDK reads the same four variables. The endpoint, highest precedence first:
//!
//! | setting | explicit option | environment variable | rule |
//! |---|---|---|---|
//! | endpoint | [`endpoint`](ContainerConfigBuilder::endpoint) | `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, then `AWS_CONTAINER_CREDENTIALS_FULL_URI` | relative: a path (starting with `/`) on `http://169.254.170.2`; full and explicit: see below |
//! | token | [`token`](ContainerConfigBuilder::token) or [`token_file`](ContainerConfigBuilder::token_file) | `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, then `AWS_CONTAINER_AUTHORIZATION_TOKEN` | sent verbatim in `Authorization`; the file is read again for every request |
//! | timeout per attempt | [`timeout`](ContainerConfigBuilder::timeout) | none | 2 s |
//! | attempts per request | [`num_attempts`](ContainerConfigBuilder::num_attempts) | none | 3 |
//!
//! The relative URI wins over the full URI, and the token file over the token, as in botocore
//! and aws-config (both read the file again at each fetch, and refuse a token holding CR or LF,
//! which could not go in a header). An empty variable counts as unset.
//!
//! A full URI (or an explicit endpoint) over plain `http` must name one of these hosts, as in
//! the SDKs; anything else is refused with a [`ContainerConfigError::HostNotAllowed`], before
//! any connection:
//!
//! - a loopback address: `127.0.0.0/8`, `[::1]`, or the name `localhost`;
//! - `169.254.170.2` (the ECS agent);
//! - `169.254.170.23` or `[fd00:ec2::23]` (the EKS Pod Identity agent).
//!
//! `https` is allowed to any host by the same rule, but this crate's transports speak plain
//! HTTP only, so a configuration that needs TLS is refused with
//! [`ContainerConfigError::TlsUnavailable`] rather than failing at the first request. Host names
//! other than `localhost` are not looked up to validate them (aws-config resolves them and
//! checks every address): name the address instead.
//!
//! ```
//! use credcycle_imds::container::{ContainerConfig, ContainerConfigError};
//!
//! let env = |name: &str| match name {
//!     "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some("http://169.254.170.23/v1/credentials".to_owned()),
//!     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" => Some("/var/run/secrets/token".to_owned()),
//!     _ => None,
//! };
//! let config = ContainerConfig::from_env_source(env)?;
//! assert_eq!(config.endpoint().as_str(), "http://169.254.170.23/v1/credentials");
//!
//! // Plain HTTP to any other host is refused, with the reason in one line.
//! let err = ContainerConfig::from_env_source(|name| {
//!     (name == "AWS_CONTAINER_CREDENTIALS_FULL_URI").then(|| "http://10.0.0.1/".to_owned())
//! })
//! .unwrap_err();
//! assert!(matches!(err, ContainerConfigError::HostNotAllowed { .. }));
//! assert_eq!(
//!     err.to_string(),
//!     "AWS_CONTAINER_CREDENTIALS_FULL_URI is refused: plain http to 10.0.0.1 is allowed only \
//!      for loopback (127.0.0.0/8, [::1], localhost), 169.254.170.2 (ECS), 169.254.170.23 or \
//!      [fd00:ec2::23] (EKS Pod Identity); use https for any other host"
//! );
//! # Ok::<(), ContainerConfigError>(())
//! ```
//!
//! The reply is JSON with `AccessKeyId`, `SecretAccessKey`, `Token` and `Expiration`, and
//! optionally `AccountId` and `RoleArn`; it is read by the same strict parser as IMDS's
//! ([`codec::parse_credentials`]), so its secrets are zeroized and redacted the same way.
//! [`ContainerClient`] carries out the core's requests against it: no role discovery and no
//! session token, only `GET`s of the one URL.

use core::fmt;
use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use credcycle_core::{Action, Credentials, ImdsFailure, Input, RequestId, RoleName};
use zeroize::Zeroizing;

use crate::codec::{self, HttpRequest, MAX_BODY_LEN, ParseError, sanitize};
use crate::error::TransportError;
use crate::transport::{Transport, UreqTransport};

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

/// The host a relative URI is resolved against.
pub const ECS_BASE: &str = "http://169.254.170.2";

/// The role name the lifecycle is pinned to for a container source: the endpoint serves one
/// set, so there is no role to discover (see [`ContainerClient::answer`]).
pub const ROLE_LABEL: &str = "container-credentials";

/// A validated container-credentials URL: `http` (to an allowed host) or `https`, with a host,
/// and no user info.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContainerEndpoint {
    url: String,
    path_start: usize,
    host: String,
    https: bool,
}

impl ContainerEndpoint {
    /// `path` resolved against `http://169.254.170.2` (the SDKs'
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`).
    ///
    /// ```
    /// use credcycle_imds::container::ContainerEndpoint;
    ///
    /// let e = ContainerEndpoint::relative("/v2/credentials/3f7c?x=1")?;
    /// assert_eq!(e.as_str(), "http://169.254.170.2/v2/credentials/3f7c?x=1");
    /// assert!(ContainerEndpoint::relative("@evil.example/x").is_err());
    /// # Ok::<(), credcycle_imds::container::UriProblem>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`UriProblem`] when `path` does not start with `/` (it could otherwise change the
    /// host) or does not make a valid URL.
    pub fn relative(path: &str) -> Result<Self, UriProblem> {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(UriProblem::NotAPath);
        }
        let endpoint = Self::parse(&format!("{ECS_BASE}{path}"))?;
        if endpoint.host != "169.254.170.2" {
            return Err(UriProblem::NotAPath);
        }
        Ok(endpoint)
    }

    /// A full URL (the SDKs' `AWS_CONTAINER_CREDENTIALS_FULL_URI`), checked against the allowed
    /// hosts (see the [module docs](self)).
    ///
    /// ```
    /// use credcycle_imds::container::{ContainerEndpoint, UriProblem};
    ///
    /// for ok in ["http://127.0.0.1:8080/creds", "http://localhost/x", "http://[::1]/x",
    ///            "http://169.254.170.2/v2/credentials/1", "http://169.254.170.23/v1/credentials",
    ///            "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x"] {
    ///     assert!(ContainerEndpoint::full(ok).is_ok(), "{ok}");
    /// }
    /// assert!(matches!(
    ///     ContainerEndpoint::full("http://10.0.0.1/"),
    ///     Err(UriProblem::HostNotAllowed { host }) if host == "10.0.0.1"
    /// ));
    /// # Ok::<(), UriProblem>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`UriProblem`] naming what is wrong.
    pub fn full(uri: &str) -> Result<Self, UriProblem> {
        let endpoint = Self::parse(uri)?;
        if !endpoint.https && !endpoint.host_allowed_over_http() {
            return Err(UriProblem::HostNotAllowed {
                host: endpoint.host,
            });
        }
        Ok(endpoint)
    }

    fn parse(text: &str) -> Result<Self, UriProblem> {
        let url = url::Url::parse(text.trim()).map_err(|e| UriProblem::Invalid {
            reason: e.to_string(),
        })?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(UriProblem::Scheme {
                    scheme: sanitize(other, 16),
                });
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UriProblem::UserInfo);
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(UriProblem::NoHost),
        };
        let text = url.as_str().to_owned();
        let path_start = text.len() - url[url::Position::BeforePath..].len();
        Ok(Self {
            url: text,
            path_start,
            host,
            https,
        })
    }

    /// Whether plain HTTP to this host is allowed: loopback, or one of the agents' addresses.
    fn host_allowed_over_http(&self) -> bool {
        const ECS: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
        const EKS: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
        const EKS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23);
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip == ECS || ip == EKS,
            Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip == EKS_V6,
            Err(_) => self.host == "localhost",
        }
    }

    /// The URL, normalized (lowercase scheme and host, IPv6 compressed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host: a name, an IPv4 address, or a bracketed IPv6 address.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the URL is `https`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Where the path starts in [`as_str`](Self::as_str).
    pub(crate) fn path_start(&self) -> usize {
        self.path_start
    }
}

impl fmt::Debug for ContainerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ContainerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a text is not a usable container-credentials URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriProblem {
    /// The URL does not parse.
    #[error("not a valid URL ({reason})")]
    Invalid {
        /// What the URL parser said (never the URL itself).
        reason: String,
    },
    /// A relative URI that is not a path.
    #[error("must be a path starting with a single /")]
    NotAPath,
    /// A scheme other than `http` or `https`.
    #[error("the scheme must be http or https, not {scheme:?}")]
    Scheme {
        /// The scheme given.
        scheme: String,
    },
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// `user:password@` before the host (it would be sent nowhere useful, and logged).
    #[error("the URL must not have user info")]
    UserInfo,
    /// Plain HTTP to a host outside the allowed ones.
    #[error(
        "plain http to {host} is allowed only for loopback (127.0.0.0/8, [::1], localhost), \
         169.254.170.2 (ECS), 169.254.170.23 or [fd00:ec2::23] (EKS Pod Identity); use https \
         for any other host"
    )]
    HostNotAllowed {
        /// The host.
        host: String,
    },
}

/// A container-credentials authorization token: a secret, held like one (zeroized on drop,
/// redacted in `Debug`, read only through [`expose_secret`](Self::expose_secret)).
///
/// It is sent verbatim as the `Authorization` header, so it must be one line: a token holding
/// CR or LF is refused (as botocore and aws-config refuse it), and so is any other control
/// character but tab, and an empty token.
///
/// ```
/// use credcycle_imds::container::AuthorizationToken;
///
/// let token = AuthorizationToken::new("Bearer abc".to_owned(), "a test")?;
/// assert_eq!(format!("{token:?}"), "AuthorizationToken(** redacted **)");
/// let err = AuthorizationToken::new("abc\n".to_owned(), "the file /run/token").unwrap_err();
/// assert_eq!(err.to_string(), "the authorization token in the file /run/token contains a CR or \
///     LF (a trailing newline?), which cannot be sent in an HTTP header");
/// # Ok::<(), credcycle_imds::container::TokenProblem>(())
/// ```
#[derive(Clone)]
pub struct AuthorizationToken(Zeroizing<String>);

impl AuthorizationToken {
    /// The longest token accepted, in bytes (EKS Pod Identity tokens are about 1 KB).
    pub const MAX_LEN: usize = 16 * 1024;

    /// Validates a token; `origin` says where it came from, for the error message (e.g.
    /// `"AWS_CONTAINER_AUTHORIZATION_TOKEN"` or `"the file /run/token"`).
    ///
    /// # Errors
    ///
    /// A [`TokenProblem`] when the token is empty, too long, or not one line of text.
    pub fn new(token: String, origin: &str) -> Result<Self, TokenProblem> {
        let token = Zeroizing::new(token);
        let origin = origin.to_owned();
        if token.is_empty() {
            return Err(TokenProblem::Empty { origin });
        }
        if token.len() > Self::MAX_LEN {
            return Err(TokenProblem::TooLong {
                origin,
                len: token.len(),
            });
        }
        if token.contains(['\r', '\n']) {
            return Err(TokenProblem::LineBreak { origin });
        }
        if token.chars().any(|c| c.is_control() && c != '\t') {
            return Err(TokenProblem::Control { origin });
        }
        Ok(Self(token))
    }

    /// The token itself. Every read of the token goes through this one method.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorizationToken({})", credcycle_core::REDACTED)
    }
}

/// Why an authorization token cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Empty.
    #[error("the authorization token in {origin} is empty")]
    Empty {
        /// Where it came from.
        origin: String,
    },
    /// Longer than [`AuthorizationToken::MAX_LEN`].
    #[error(
        "the authorization token in {origin} is {len} bytes, over the limit of {}",
        AuthorizationToken::MAX_LEN
    )]
    TooLong {
        /// Where it came from.
        origin: String,
        /// Its length.
        len: usize,
    },
    /// It holds CR or LF.
    #[error(
        "the authorization token in {origin} contains a CR or LF (a trailing newline?), which \
         cannot be sent in an HTTP header"
    )]
    LineBreak {
        /// Where it came from.
        origin: String,
    },
    /// It holds another control character (or the file is not UTF-8).
    #[error("the authorization token in {origin} is not one line of text")]
    Control {
        /// Where it came from.
        origin: String,
    },
}

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
    endpoint: ContainerEndpoint,
    endpoint_origin: &'static str,
    token: TokenSource,
    timeout: Duration,
    num_attempts: u32,
    label: RoleName,
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
        /// The host.
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
        /// The option.
        option: &'static str,
        /// The rule it breaks.
        problem: &'static str,
    },
}

/// Why fetching container credentials failed: one line naming the cause, never a secret or a
/// body (statuses, lengths, field names only). [`failure`](Self::failure) gives the core's
/// coarser view.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The token file cannot be read (nothing was sent).
    #[error(
        "cannot read the container authorization token file {path}: {reason} (nothing was sent)"
    )]
    TokenFile {
        /// The file.
        path: String,
        /// The IO error's kind.
        reason: String,
    },
    /// The token file's content cannot be sent (nothing was sent).
    #[error("{0} (nothing was sent)")]
    Token(TokenProblem),
    /// No complete reply in time, on every attempt.
    #[error(
        "the container credentials endpoint {endpoint} did not answer within {} ({})",
        codec::Secs(*.timeout), Attempts(*.attempts)
    )]
    Timeout {
        /// The endpoint's host.
        endpoint: String,
        /// The timeout of each attempt.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// No connection, or no complete reply for another reason, on every attempt.
    #[error(
        "could not reach the container credentials endpoint {endpoint}: {reason} ({})",
        Attempts(*.attempts)
    )]
    Unreachable {
        /// The endpoint's host.
        endpoint: String,
        /// What the transport reported.
        reason: TransportError,
        /// Attempts made.
        attempts: u32,
    },
    /// 401 or 403: the endpoint refused the token.
    #[error(
        "the container credentials endpoint refused the authorization token (HTTP {status}): \
         check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// Another status that cannot succeed (after every attempt, for 429 and 5xx).
    #[error(
        "the container credentials endpoint answered HTTP {status} ({body_len} bytes, {})",
        Attempts(*.attempts)
    )]
    HttpStatus {
        /// The status.
        status: u16,
        /// The last reply body's length.
        body_len: usize,
        /// Attempts made.
        attempts: u32,
    },
    /// The reply is not usable credentials.
    #[error("the container credentials endpoint sent a malformed reply: {0}")]
    Malformed(ParseError),
}

impl ContainerError {
    /// The core's view of this error, to answer the state machine with.
    ///
    /// | error | failure |
    /// |---|---|
    /// | `Timeout` | `Timeout` |
    /// | `Unreachable` | `ConnectionRefused` |
    /// | `TokenFile`, `Token` | `HttpStatus(401)` (what the endpoint answers without a valid token; nothing was sent) |
    /// | `Unauthorized`, `HttpStatus` | `HttpStatus(status)` |
    /// | `Malformed` | `Malformed`, or `NotSuccess` for a `Code` other than `Success` |
    ///
    /// Never `NoInstanceProfile` or `RoleNotFound`: a 404 here is an endpoint answering
    /// nothing, not AWS's evidence that a role was removed, so it is retried on the backoff
    /// schedule (`[R7]`) and revokes nothing.
    #[must_use]
    pub fn failure(&self) -> ImdsFailure {
        match self {
            Self::Timeout { .. } => ImdsFailure::Timeout,
            Self::Unreachable { .. } => ImdsFailure::ConnectionRefused,
            Self::TokenFile { .. } | Self::Token(_) => ImdsFailure::HttpStatus(401),
            Self::Unauthorized { status } | Self::HttpStatus { status, .. } => {
                ImdsFailure::HttpStatus(*status)
            }
            Self::Malformed(ParseError::NotSuccess { code, .. }) => {
                ImdsFailure::NotSuccess { code: code.clone() }
            }
            Self::Malformed(_) => ImdsFailure::Malformed,
        }
    }
}

/// `1 attempt`, `3 attempts`.
struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

/// A blocking container-credentials client: `GET`s the endpoint over a [`Transport`], with the
/// token read anew for every request, retrying timeouts, connection errors, 429 and 5xx.
///
/// It answers the core's requests with [`answer`](Self::answer), so the same
/// `credcycle_core::Machine` drives it as drives IMDS, with the policy's role pinned to
/// [`ROLE_LABEL`]: the machine then never asks for a role listing, and there is no session
/// token to ask for (that step lives in the IMDS client, not in the core).
///
/// ```
/// use std::time::Duration;
/// use credcycle_imds::{FnTransport, HttpRequest, HttpResponse};
/// use credcycle_imds::container::{ContainerClient, ContainerConfig};
///
/// let endpoint = FnTransport(|req: &HttpRequest, _timeout: Duration| {
///     assert_eq!(req.url(), "http://169.254.170.2/v2/credentials/task");
///     Ok(HttpResponse::new(200, r#"{"AccessKeyId": "ASIAEXAMPLE",
///         "SecretAccessKey": "secret", "Token": "session",
///         "Expiration": "2026-11-28T16:41:11Z", "RoleArn": "arn:aws:iam::1:role/task"}"#))
/// });
/// let config = ContainerConfig::from_env_source(|name| {
///     (name == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").then(|| "/v2/credentials/task".into())
/// })?;
/// let mut client = ContainerClient::new(config, endpoint);
/// let creds = client.fetch_credentials()?;
/// assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ContainerClient<T> {
    config: ContainerConfig,
    transport: T,
    sleep: Box<dyn Fn(Duration) + Send + Sync>,
    last_error: Option<ContainerError>,
    requests: u64,
}

impl ContainerClient<UreqTransport> {
    /// A client with these settings over [`UreqTransport`].
    #[must_use]
    pub fn with_config(config: ContainerConfig) -> Self {
        Self::new(config, UreqTransport::new())
    }
}

impl<T: Transport> ContainerClient<T> {
    /// The first delay between attempts; it doubles, up to [`Self::RETRY_CAP`].
    pub const RETRY_BASE: Duration = Duration::from_millis(250);
    /// The longest delay between attempts.
    pub const RETRY_CAP: Duration = Duration::from_secs(2);

    /// A client over `transport`.
    #[must_use]
    pub fn new(config: ContainerConfig, transport: T) -> Self {
        Self {
            config,
            transport,
            sleep: Box::new(std::thread::sleep),
            last_error: None,
            requests: 0,
        }
    }

    /// Replaces the function that sleeps between attempts (tests pass one that does not).
    #[must_use]
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// The request to send now, the token read from its source: what
    /// [`fetch_credentials`](Self::fetch_credentials) sends, built without sending it (to
    /// check a URL without connecting).
    ///
    /// # Errors
    ///
    /// [`ContainerError::TokenFile`] or [`ContainerError::Token`] when the token cannot be read
    /// or sent.
    pub fn request(&self) -> Result<HttpRequest, ContainerError> {
        let token = self.config.token.read()?;
        Ok(codec::container_credentials_request(
            &self.config.endpoint,
            token.as_ref(),
        ))
    }

    /// Fetches the credentials: reads the token, sends the `GET`, retries what can be retried,
    /// parses the reply.
    ///
    /// # Errors
    ///
    /// A [`ContainerError`] naming the cause.
    pub fn fetch_credentials(&mut self) -> Result<Credentials, ContainerError> {
        let result = self.fetch();
        self.last_error = result.as_ref().err().cloned();
        result
    }

    fn fetch(&mut self) -> Result<Credentials, ContainerError> {
        let attempts = self.config.num_attempts;
        let mut delay = Self::RETRY_BASE;
        let mut attempt = 1;
        loop {
            // Read for every attempt: a token file rotated in between is picked up.
            let request = self.request()?;
            self.requests = self.requests.saturating_add(1);
            let outcome = self.transport.send(&request, self.config.timeout);
            drop(request);
            let error = match outcome {
                Ok(reply) if reply.status() == 200 => {
                    return codec::parse_credentials(reply.expose_body())
                        .map_err(ContainerError::Malformed);
                }
                Ok(reply) => match reply.status() {
                    status @ (401 | 403) => return Err(ContainerError::Unauthorized { status }),
                    status @ (429 | 500..=599) => ContainerError::HttpStatus {
                        status,
                        body_len: reply.body_len(),
                        attempts: attempt,
                    },
                    status => {
                        return Err(ContainerError::HttpStatus {
                            status,
                            body_len: reply.body_len(),
                            attempts: attempt,
                        });
                    }
                },
                Err(TransportError::BodyTooLarge) => {
                    return Err(ContainerError::Malformed(ParseError::BodyTooLarge {
                        len: MAX_BODY_LEN + 1,
                    }));
                }
                Err(TransportError::Timeout | TransportError::ConnectTimeout) => {
                    ContainerError::Timeout {
                        endpoint: self.config.endpoint.host().to_owned(),
                        timeout: self.config.timeout,
                        attempts: attempt,
                    }
                }
                Err(reason) => ContainerError::Unreachable {
                    endpoint: self.config.endpoint.host().to_owned(),
                    reason,
                    attempts: attempt,
                },
            };
            if attempt >= attempts {
                return Err(error);
            }
            (self.sleep)(delay);
            delay = (delay * 2).min(Self::RETRY_CAP);
            attempt += 1;
        }
    }

    /// Carries out one of the core's requests and returns the input that answers it:
    /// [`Action::FetchCredentials`] becomes [`Input::CredentialsReply`] (the role is only the
    /// pinned label, and is not sent); [`Action::DiscoverRole`], which a machine pinned to
    /// [`ROLE_LABEL`] never asks for, is answered locally with that label, without a request;
    /// events are `None`. The full error is kept in [`last_error`](Self::last_error).
    pub fn answer(&mut self, action: &Action) -> Option<Input> {
        match action {
            Action::DiscoverRole { id } => Some(Input::RoleReply {
                id: *id,
                result: Ok(self.config.label.clone()),
            }),
            Action::FetchCredentials { id, .. } => Some(self.credentials_reply(*id)),
            Action::Notify(_) => None,
        }
    }

    fn credentials_reply(&mut self, id: RequestId) -> Input {
        Input::CredentialsReply {
            id,
            result: self.fetch_credentials().map_err(|e| e.failure()),
        }
    }

    /// The full error behind the last failed fetch (cleared by a successful one).
    #[must_use]
    pub fn last_error(&self) -> Option<&ContainerError> {
        self.last_error.as_ref()
    }

    /// Requests sent so far, retries included.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }
}

impl<T> fmt::Debug for ContainerClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerClient")
            .field("config", &self.config)
            .field("last_error", &self.last_error)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
