//! # credcycle-imds: talking to the EC2 Instance Metadata Service
//!
//! The IMDS adapter of credcycle. It fetches what `credcycle-core`'s state machine asks for
//! (the role attached to the instance, then that role's temporary credentials) over IMDSv2, and
//! turns each answer into the core's typed values, or a typed error that says what went wrong
//! and, where there is one, how to fix it.
//!
//! Three layers, each usable on its own:
//!
//! 1. [`codec`]: **pure**, no IO. Builds each request ([`HttpRequest`]: method, URL, headers)
//!    and parses each reply body into an [`ImdsToken`], a [`RoleName`](credcycle_core::RoleName)
//!    or [`Credentials`](credcycle_core::Credentials), or a [`ParseError`]. This is the fuzzing
//!    surface (`fuzz/`).
//! 2. [`Session`] and [`Exchange`]: **sans-IO** session logic, one small state machine per
//!    operation: the token cache and its renewal, the single 401 retry, the IMDSv1 fallback
//!    rules, retries with jittered backoff, the role cache and the single re-listing, the
//!    extended-path fallback. It says "send this", "wait this long" or "done"; the caller does
//!    the IO.
//! 3. **The driver**: [`ImdsClient`], a short loop around an [`Exchange`] over a blocking
//!    [`Transport`] ([`UreqTransport`]). Its [`answer`](ImdsClient::answer) turns the core's
//!    `Action`s into its `Input`s. Async programs use the `credcycle` Provider's
//!    `credentials_async`; its docs (docs/provider.md) say why there is no async client here.
//!
//! ```
//! use std::time::Duration;
//! use credcycle_clock::ManualClock;
//! use credcycle_imds::{FnTransport, HttpRequest, HttpResponse, ImdsClient, ImdsConfig};
//!
//! let imds = FnTransport(|req: &HttpRequest, _timeout: Duration| {
//!     Ok(match req.path() {
//!         "/latest/api/token" => HttpResponse::new(200, "a-session-token")
//!             .with_header("X-aws-ec2-metadata-token-ttl-seconds", "21600"),
//!         "/latest/meta-data/iam/security-credentials/" => HttpResponse::new(200, "web-role"),
//!         "/latest/meta-data/iam/security-credentials/web-role" => HttpResponse::new(200, r#"{
//!             "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLE",
//!             "SecretAccessKey": "wJalrXUtnFEMI", "Token": "IQoJb3JpZ2lu",
//!             "Expiration": "2026-11-28T10:41:11Z", "LastUpdated": "2026-11-28T04:41:11Z"}"#),
//!         _ => HttpResponse::new(404, ""),
//!     })
//! });
//! let mut client = ImdsClient::new(ImdsConfig::default(), imds, ManualClock::default());
//! let creds = client.credentials()?;
//! assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
//! assert_eq!(client.counts().total(), 3);
//!
//! // Steady state: the token and the role are cached, a refresh is one request.
//! let role = client.discover_role()?;
//! client.fetch_credentials(&role)?;
//! assert_eq!(client.counts().total(), 4);
//! # Ok::<(), credcycle_imds::ImdsError>(())
//! ```
//!
//! ## The protocol as implemented
//!
//! | step | request | outcome |
//! |---|---|---|
//! | token | `PUT /latest/api/token`, `X-aws-ec2-metadata-token-ttl-seconds: 21600` | 200: the body is the token, cached for the echoed TTL (else the TTL asked for), renewed when less than min(60 s, TTL/4) is left; 403: [`ImdsError::TokenForbidden`]; 400: [`ImdsError::TokenBadRequest`]; 404/405: IMDSv1 if explicitly allowed, else [`ImdsError::ImdsV1Disabled`]; no answer over an open connection: [`ImdsError::TokenTimeout`] (hop limit); no connection while the endpoint has never answered: [`ImdsError::CouldNotConnect`] at once (not on EC2) |
//! | role | `GET /latest/meta-data/iam/security-credentials/` with `X-aws-ec2-metadata-token` | 200: first non-empty line, cached; 404: [`ImdsError::NoInstanceProfile`] |
//! | credentials | `GET .../security-credentials/<role>` (or `-extended/<role>` first, if enabled) | 200: JSON parsed by [`codec::parse_credentials`]; 404 on the extended path: the classic path, for good; 404 on the classic path: one re-listing, then [`ImdsError::RoleNotFound`] |
//! | any `GET` | | 401: new token, one retry; 429, 5xx, timeouts, connection errors: retried with backoff up to the attempt limit; other statuses: [`ImdsError::HttpStatus`] |
//!
//! [`exchange`] has the details and the reasons, and [`codec`] what each reply
//! must look like.
//!
//! ## Container credentials
//!
//! [`container`]: the endpoint of ECS task roles and EKS Pod Identity
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`, `AWS_CONTAINER_AUTHORIZATION_TOKEN` /
//! `_TOKEN_FILE`), with the SDKs' allowed hosts and a [`ContainerClient`](container::ContainerClient)
//! that answers the same core requests as [`ImdsClient`]: the same lifecycle, minus role
//! discovery and the session token.
//!
//! ## Configuration
//!
//! [`ImdsConfig`]: explicit options, then the AWS SDKs' environment variables, then the profile
//! of the shared config file (`~/.aws/config`), then defaults. [`config`] has the full
//! precedence table:
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`,
//! `AWS_EC2_METADATA_DISABLED`, `AWS_METADATA_SERVICE_TIMEOUT` (default 1 s),
//! `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (default **3**), `AWS_EC2_INSTANCE_PROFILE_NAME` and
//! `AWS_EC2_METADATA_V1_DISABLED`, and (all but `..._DISABLED`) the profile keys of the same
//! names in lower case without `AWS_` ([`config::shared`]). IMDSv1 is off unless explicitly
//! allowed. Invalid values are [`ConfigError`]s naming the variable (or the file, line and
//! key), never replaced by defaults.
//!
//! ## Errors
//!
//! - [`ImdsError`]: why an operation failed, one lowercase line naming the cause and the fix
//!   (`Disabled`, `TokenTimeout`, `Timeout`, `CouldNotConnect`, `ConnectionReset`,
//!   `Transport`, `BodyTooLarge`, `TokenForbidden`, `TokenBadRequest`, `ImdsV1Disabled`,
//!   `Unauthorized`, `NoInstanceProfile`, `RoleNotFound`, `NotSuccess`, `HttpStatus`,
//!   `Malformed`). [`ImdsError::failure`] reduces it to the core's `ImdsFailure`.
//! - [`ParseError`]: why a reply body is unusable (inside [`ImdsError::Malformed`]).
//! - [`TransportError`]: why a transport got no reply (`Timeout`, `ConnectTimeout`,
//!   `ConnectionRefused`, `Unreachable`, `ConnectionReset`, `BodyTooLarge`, `Other`), and
//!   [`ConnectFailure`]: why no connection was made (inside [`ImdsError::CouldNotConnect`]).
//! - [`ConfigError`] (with [`ValueError`] and [`EndpointError`]): an invalid option or variable.
//!
//! Each error's message contains its causes, so printing it with `{}` says everything (no
//! `source()` chain to walk). No message, and no `Debug` output, contains a secret or a raw
//! reply body: statuses, lengths, field names and JSON line/column only.
//!
//! ## Secrets
//!
//! The session token ([`ImdsToken`]), reply bodies ([`HttpResponse`]) and the credentials'
//! secrets are zeroized on drop and redacted in `Debug`; the token header is redacted in
//! [`HttpRequest`]'s `Debug`. Reads go through `expose_secret()`, `expose_body()` and
//! `expose_headers()`, easy to audit. The limits are honest: the HTTP libraries and
//! `serde_json` make copies this crate cannot zeroize (socket buffers,
//! `serde_json`'s scratch buffer for escaped strings), and a growing buffer may leave an old
//! allocation behind (the transports preallocate to make that rare).
//!
//! ## Feature flags
//!
//! - `mock`: `MockTransport`, a [mockall](https://docs.rs/mockall) mock of [`Transport`].

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
pub mod codec;
pub mod config;
pub mod container;
mod endpoint;
mod error;
pub mod exchange;
mod http;
mod message;
mod protocol;
mod token;
mod transport;

pub use client::ImdsClient;
pub use codec::{JsonErrorCategory, ParseError};
pub use config::{
    ConfigError, EndpointMode, ImdsConfig, ImdsConfigBuilder, SettingSource, ValueError, vars,
};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{ConnectFailure, ImdsError, TransportError};
pub use exchange::{
    Exchange, Operation, PendingRequest, RequestCounts, Session, Step, TokenStatus, Waiting,
};
pub use http::{HttpRequest, HttpResponse};
pub use protocol::{Method, RequestKind};
pub use token::{ImdsToken, InvalidImdsToken};
#[cfg(any(test, feature = "mock"))]
pub use transport::MockTransport;
pub use transport::{FnTransport, Transport, UreqTransport};
