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
//!
//! [`codec::parse_credentials`]: crate::codec::parse_credentials

mod client;
mod config;
mod error;

pub use client::ContainerClient;
pub use config::{
    ContainerConfig, ContainerConfigBuilder, ContainerConfigError, ROLE_LABEL, TokenSource,
    TokenValue, vars,
};
pub use error::ContainerError;

pub use crate::endpoint::{ContainerEndpoint, ECS_BASE, UriProblem};
pub use crate::token::{AuthorizationToken, TokenProblem};

#[cfg(test)]
mod tests;
