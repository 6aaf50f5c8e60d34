//! Why fetching container credentials failed.

use core::time::Duration;

use credcycle_core::ImdsFailure;

use crate::codec::ParseError;
use crate::error::TransportError;
use crate::message::{Attempts, Secs};
use crate::token::TokenProblem;

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
        /// The file's path, control characters replaced.
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
        Secs(*.timeout), Attempts(*.attempts)
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
        /// The HTTP status of the last reply.
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
