//! Errors: what a transport reports, and what an IMDS operation fails with.

use core::time::Duration;

use credcycle_core::{ImdsFailure, RoleName};

use crate::codec::{ParseError, not_success_hint};
use crate::endpoint::Endpoint;
use crate::message::{Attempts, Secs};
use crate::protocol::{MAX_BODY_LEN, RequestKind};

/// Why a transport got no HTTP reply (an HTTP reply of any status is not a transport error).
///
/// Messages hold no secret: [`Other`](Self::Other) carries a description the transport writes
/// from the error's kind, never a header or a body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Connected (or unable to tell whether it connected), but no complete reply within the
    /// timeout.
    #[error("timed out")]
    Timeout,
    /// No connection within the timeout: nothing answered the connection attempt.
    #[error("timed out connecting")]
    ConnectTimeout,
    /// The connection was refused: nothing listens at the endpoint.
    #[error("connection refused")]
    ConnectionRefused,
    /// The endpoint cannot be reached from here: no route to it, its address is not available,
    /// or its host name does not resolve. The text says which.
    #[error("{0}")]
    Unreachable(String),
    /// The connection was reset or closed before a complete reply.
    #[error("connection reset or closed before a complete reply")]
    ConnectionReset,
    /// The reply body is longer than [`MAX_BODY_LEN`]: the transport stopped reading at one byte
    /// over the limit.
    #[error("reply body over the limit of {MAX_BODY_LEN} bytes")]
    BodyTooLarge,
    /// Anything else (an HTTP protocol error...).
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Whether no connection was made at all ([`ConnectTimeout`](Self::ConnectTimeout),
    /// [`ConnectionRefused`](Self::ConnectionRefused), [`Unreachable`](Self::Unreachable)):
    /// nothing was sent, and a request to an endpoint that was never reached is not retried.
    #[must_use]
    pub fn is_connect_failure(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout | Self::ConnectionRefused | Self::Unreachable(_)
        )
    }
}

/// Why no connection to IMDS was made (in [`ImdsError::CouldNotConnect`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The connection was refused: nothing listens at the endpoint.
    #[error("connection refused")]
    Refused,
    /// Nothing answered the connection attempt within the timeout.
    #[error("no connection within {}", Secs(*.0))]
    TimedOut(Duration),
    /// No route to the endpoint, its address not available here, or its host not found.
    #[error("{0}")]
    Unreachable(String),
}

/// Why an IMDS operation failed: rich, one line, lowercase, naming the cause (and the fix where
/// there is one). Never holds a secret or a raw body: statuses, lengths and field names only.
///
/// [`failure`](Self::failure) gives the core's coarser [`ImdsFailure`] to feed the state machine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImdsError {
    /// `AWS_EC2_METADATA_DISABLED=true`: nothing was sent.
    #[error("IMDS access is disabled by AWS_EC2_METADATA_DISABLED=true")]
    Disabled,
    /// The token request was sent over an open connection but got no answer in time, on every
    /// attempt: the classic symptom of a response hop limit of 1 seen from inside a container.
    /// (A connection that cannot even be opened is [`CouldNotConnect`](Self::CouldNotConnect).)
    #[error(
        "IMDS did not answer the token request within {} ({}): from inside a container, the \
         instance's HttpPutResponseHopLimit may need to be 2 (aws ec2 \
         modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2)",
        Secs(*.timeout), Attempts(*.attempts)
    )]
    TokenTimeout {
        /// The timeout of each attempt.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// A metadata request got no answer in time, on every attempt (IMDS throttling looks like
    /// this too: it drops packets rather than answering 429).
    #[error("IMDS did not answer {request} within {} ({})", Secs(*.timeout), Attempts(*.attempts))]
    Timeout {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// The timeout of each attempt.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// No connection could be made (refused, unreachable, or no connection within the
    /// timeout). When the endpoint has never answered in this session (`first_contact`), this
    /// fails at the first attempt, without retries, and the message says that this is probably
    /// not an EC2 instance (or the endpoint is wrong): off EC2 a `get` then fails at once
    /// instead of spending its retries. Once the endpoint has answered, a connect failure is
    /// retried like any other transport failure (a throttled IMDS can drop a `SYN` too).
    #[error(
        "could not connect to IMDS at {endpoint} for {request}: {reason} ({}){}",
        Attempts(*.attempts),
        if *.first_contact { "; not on EC2, or the endpoint is wrong" } else { "" }
    )]
    CouldNotConnect {
        /// The configured endpoint that could not be reached.
        endpoint: Endpoint,
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// Why no connection was made.
        reason: ConnectFailure,
        /// Attempts made.
        attempts: u32,
        /// Whether the endpoint had never answered in this session.
        first_contact: bool,
    },
    /// The connection was reset or closed before a reply, on every attempt.
    #[error(
        "IMDS reset or closed the connection before answering {request} ({})",
        Attempts(*.attempts)
    )]
    ConnectionReset {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// Attempts made.
        attempts: u32,
    },
    /// Another transport failure, on every attempt.
    #[error("could not reach IMDS for {request}: {detail} ({})", Attempts(*.attempts))]
    Transport {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// What the transport reported (never a secret).
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The reply was longer than [`MAX_BODY_LEN`]; it was not read to the end.
    #[error(
        "IMDS sent more than {MAX_BODY_LEN} bytes in reply to {request}: refused without reading on"
    )]
    BodyTooLarge {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
    },
    /// IMDS answered 403 to the token request.
    #[error(
        "IMDS refused the token request (HTTP 403, {body_len} bytes): IMDS is disabled on this \
         instance (http-endpoint disabled) or refuses the request (IMDS refuses token requests \
         that carry X-Forwarded-For)"
    )]
    TokenForbidden {
        /// The reply body's length.
        body_len: usize,
    },
    /// IMDS answered 400 to the token request: the TTL header was refused, which is a bug here.
    #[error(
        "IMDS rejected the token request as malformed (HTTP 400, {body_len} bytes) with a TTL \
         of {ttl_secs}s: this is a bug in credcycle-imds"
    )]
    TokenBadRequest {
        /// The TTL asked for.
        ttl_secs: u32,
        /// The reply body's length.
        body_len: usize,
    },
    /// The token request answered 404 or 405 (an IMDS without session tokens) and falling back
    /// to IMDSv1 is not allowed.
    #[error(
        "IMDS offers no session tokens (HTTP {status} to the token request) and IMDSv1 is not \
         allowed: {}",
        if *.forbidden_by_env {
            "AWS_EC2_METADATA_V1_DISABLED=true (or ec2_metadata_v1_disabled = true in the AWS \
             config file's profile) forbids it"
        } else {
            "allow the IMDSv1 fallback explicitly if this endpoint really has no tokens (an old \
             emulator, for example)"
        }
    )]
    ImdsV1Disabled {
        /// The status of the token request (404 or 405).
        status: u16,
        /// Whether `AWS_EC2_METADATA_V1_DISABLED=true` (or the profile's
        /// `ec2_metadata_v1_disabled = true`) forbade it (rather than the default).
        forbidden_by_env: bool,
    },
    /// IMDS answered 401 to a request that carried a fresh token (or to an IMDSv1 request and
    /// then to one with a fresh token).
    #[error("IMDS rejected the session token for {request} (HTTP 401), even a fresh one")]
    Unauthorized {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
    },
    /// The role listing answered 404: no instance profile is attached.
    #[error("no instance profile is attached to this instance (HTTP 404 on the role listing)")]
    NoInstanceProfile,
    /// The role's credentials path answered 404: the role was removed or changed. When the
    /// listing was read again, `listed` is the role it names now (the next discovery answers
    /// it without a request).
    #[error(
        "IMDS has no credentials for role {role} (HTTP 404): the instance profile's role was \
         removed or changed{}",
        match .listed { Some(now) => format!("; IMDS now lists {now}"), None => String::new() }
    )]
    RoleNotFound {
        /// The role asked for.
        role: RoleName,
        /// The role the listing names now, when it was read again and names one.
        listed: Option<RoleName>,
    },
    /// The credentials reply's `Code` is not `Success`.
    #[error(
        "IMDS answered Code {code:?} instead of Success: {message}{}",
        not_success_hint(code)
    )]
    NotSuccess {
        /// The `Code` (shortened, control characters replaced).
        code: String,
        /// The `Message` (shortened, control characters replaced; empty when absent).
        message: String,
    },
    /// An HTTP status that cannot succeed (after every attempt, for 429 and 5xx).
    #[error(
        "IMDS answered HTTP {status} to {request} ({body_len} bytes, {})",
        Attempts(*.attempts)
    )]
    HttpStatus {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// The HTTP status of the last reply.
        status: u16,
        /// The last reply body's length.
        body_len: usize,
        /// Attempts made.
        attempts: u32,
    },
    /// The reply could not be read as what was asked for.
    #[error("IMDS sent a malformed reply to {request}: {error}")]
    Malformed {
        /// The request that failed (its `Display` is what the message shows).
        request: RequestKind,
        /// What is wrong with it.
        error: ParseError,
    },
}

impl ImdsError {
    /// The core's view of this error, to answer the state machine with.
    ///
    /// | error | failure |
    /// |---|---|
    /// | `TokenTimeout`, `Timeout` | `Timeout` |
    /// | `CouldNotConnect`, `ConnectionReset`, `Transport` | `ConnectionRefused` |
    /// | `Disabled` | `HttpStatus(403)` (what IMDS answers when it is turned off) |
    /// | `TokenForbidden`, `TokenBadRequest`, `ImdsV1Disabled`, `Unauthorized`, `HttpStatus` | `HttpStatus(status)` |
    /// | `BodyTooLarge`, `Malformed` | `Malformed` |
    /// | `NotSuccess` | `NotSuccess { code }` |
    /// | `NoInstanceProfile` | `NoInstanceProfile` |
    /// | `RoleNotFound` | `RoleNotFound` |
    #[must_use]
    pub fn failure(&self) -> ImdsFailure {
        match self {
            Self::TokenTimeout { .. } | Self::Timeout { .. } => ImdsFailure::Timeout,
            Self::CouldNotConnect { .. }
            | Self::ConnectionReset { .. }
            | Self::Transport { .. } => ImdsFailure::ConnectionRefused,
            Self::Disabled | Self::TokenForbidden { .. } => ImdsFailure::HttpStatus(403),
            Self::TokenBadRequest { .. } => ImdsFailure::HttpStatus(400),
            Self::ImdsV1Disabled { status, .. } | Self::HttpStatus { status, .. } => {
                ImdsFailure::HttpStatus(*status)
            }
            Self::Unauthorized { .. } => ImdsFailure::HttpStatus(401),
            Self::BodyTooLarge { .. } | Self::Malformed { .. } => ImdsFailure::Malformed,
            Self::NotSuccess { code, .. } => ImdsFailure::NotSuccess { code: code.clone() },
            Self::NoInstanceProfile => ImdsFailure::NoInstanceProfile,
            Self::RoleNotFound { .. } => ImdsFailure::RoleNotFound,
        }
    }

    /// The request that failed, when the error is about one.
    #[must_use]
    pub fn request(&self) -> Option<RequestKind> {
        match self {
            Self::Timeout { request, .. }
            | Self::CouldNotConnect { request, .. }
            | Self::ConnectionReset { request, .. }
            | Self::Transport { request, .. }
            | Self::BodyTooLarge { request }
            | Self::Unauthorized { request }
            | Self::HttpStatus { request, .. }
            | Self::Malformed { request, .. } => Some(*request),
            Self::TokenTimeout { .. }
            | Self::TokenForbidden { .. }
            | Self::TokenBadRequest { .. }
            | Self::ImdsV1Disabled { .. } => Some(RequestKind::Token),
            Self::NoInstanceProfile => Some(RequestKind::RoleListing),
            Self::RoleNotFound { .. } | Self::NotSuccess { .. } => Some(RequestKind::Credentials),
            Self::Disabled => None,
        }
    }
}
