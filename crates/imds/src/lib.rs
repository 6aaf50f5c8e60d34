//! # credcycle-imds: talking to the EC2 Instance Metadata Service
//!
//! The IMDS adapter of credcycle. It fetches what `credcycle-core`'s state machine asks for
//! (the role attached to the instance, then that role's temporary credentials) over IMDSv2, and
//! turns each answer into the core's typed values, or a typed error that says what went wrong
//! and, where there is one, how to fix it. `docs/imds.md` is the reference: the protocol as
//! implemented, the configuration and its precedence, retries, every error with its message,
//! and how the client is tested.
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
//! ## Modules, from the bottom up
//!
//! | module | what it holds |
//! |---|---|
//! | (vocabulary, re-exported here and in [`codec`]) | the protocol's paths, headers and limits, [`Method`], [`RequestKind`], [`Endpoint`], [`ImdsToken`], [`HttpRequest`] and [`HttpResponse`] |
//! | [`codec`] | **pure**: builds each request, parses each reply body into a typed value or a [`ParseError`]; the fuzzing surface (`fuzz/`) |
//! | [`config`] | [`ImdsConfig`]: explicit options, then the SDKs' environment variables, then the shared config file's profile, then defaults |
//! | [`exchange`] | **sans-IO** session logic: a [`Session`] and one [`Exchange`] per [`Operation`], which says "send this", "wait this long" or "done" |
//! | [`Transport`] | sends one request, blocking: [`UreqTransport`], [`FnTransport`], `MockTransport` (feature `mock`, a [mockall](https://docs.rs/mockall) mock) |
//! | [`ImdsClient`] | the driver: an exchange over a transport, with a clock; [`answer`](ImdsClient::answer) turns the core's `Action`s into its `Input`s |
//! | [`container`] | the container-credentials endpoint (ECS task roles, EKS Pod Identity) and its client, which answers the same core requests |
//!
//! Errors ([`ImdsError`], [`TransportError`], [`ParseError`], [`ConfigError`]) are one line
//! each, hold no secret and no raw body, and are listed in `docs/imds.md` (section 4).
//! [`ImdsError::failure`] reduces an error to the core's `ImdsFailure`. Secrets (the session
//! token, reply bodies, the credentials) are zeroized on drop, redacted in `Debug` and read
//! through `expose_*` methods; `docs/secrets.md` has the guarantees and their limits. Async
//! programs use the `credcycle` Provider's `credentials_async`; `docs/provider.md` says why
//! there is no async client here.

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
