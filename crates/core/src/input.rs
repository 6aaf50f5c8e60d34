//! What goes into the state machine: inputs, and the typed failures of IMDS they may carry.
//!
//! Failures of the environment (IMDS timing out, answering 500, sending garbage) are *data*
//! inside an input, never an `Err` of [`step`](crate::step): they are expected, and the lifecycle
//! has a rule for each. Misuse by the caller is the only `Err` (see [`UsageError`](crate::UsageError)).

use core::fmt;

use crate::creds::{AccessKeyId, Credentials, RoleName};

/// Identifies one request the machine asked for, so that its reply can be matched. A reply whose
/// id is not the outstanding request's is ignored and counted ([`Rule::StaleReply`](crate::Rule)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why IMDS did not give an answer the machine can use. Produced by transports and codecs
/// (`credcycle-imds`), consumed by the lifecycle rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ImdsFailure {
    /// No answer in time. Also how IMDS throttling and a too-low hop limit look from inside.
    #[error("IMDS did not answer in time")]
    Timeout,
    /// The connection was refused or reset: nothing listens at the endpoint.
    #[error("IMDS refused or reset the connection")]
    ConnectionRefused,
    /// IMDS answered with an HTTP status the request cannot succeed with (for example 401, 403,
    /// 429 or a 5xx).
    #[error("IMDS answered HTTP {0}")]
    HttpStatus(u16),
    /// The reply could not be read as what was asked for (bad JSON, missing field, bad date...).
    #[error("IMDS sent a malformed reply")]
    Malformed,
    /// The credentials reply carried a `Code` other than `Success`.
    #[error("IMDS answered Code {code:?} instead of Success")]
    NotSuccess {
        /// The `Code` field as IMDS sent it (never a secret).
        code: String,
    },
    /// The role listing answered 404: no instance profile is attached (INV-2: the credentials
    /// of the previous role must be dropped at once).
    #[error("no instance profile is attached to this instance")]
    NoInstanceProfile,
    /// The role's credentials path answered 404: the role was removed or changed (INV-2).
    #[error("the role is no longer attached to this instance")]
    RoleNotFound,
}

/// One input to the lifecycle. Each comes with the current time ([`Now`](crate::Now)) when it
/// is handed to [`step`](crate::step) or [`Machine::handle_input`](crate::Machine::handle_input).
///
/// Rule ids (`[R1]`...) refer to [`Rule`](crate::Rule) and to the formal model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// A caller wants credentials. Starts the lifecycle on first use `[R1]`; afterwards it only
    /// lets time-based rules run, like [`Input::Tick`]: a demand never triggers a request while
    /// backing off (INV-4).
    Demand,
    /// Time has passed; the caller woke up at [`Machine::poll_timeout`](crate::Machine::poll_timeout)
    /// or for any other reason `[R9]`-`[R12]`.
    Tick,
    /// The answer to [`Action::DiscoverRole`](crate::Action) `[R2]` `[R3]` `[R7]`.
    RoleReply {
        /// The outstanding request's, or the reply is stale and ignored `[R17]`.
        id: RequestId,
        /// The role name, or why there is none.
        result: Result<RoleName, ImdsFailure>,
    },
    /// The answer to [`Action::FetchCredentials`](crate::Action) `[R3]`-`[R8]`. The credentials
    /// are passed in with their secrets; the state keeps only their key id and expiry.
    CredentialsReply {
        /// The outstanding request's, or the reply is stale and ignored `[R17]`.
        id: RequestId,
        /// The credentials, or why there are none.
        result: Result<Credentials, ImdsFailure>,
    },
    /// A caller's AWS request was rejected with `ExpiredToken`/`InvalidToken` for this key:
    /// that set (and only that set) must never be handed out again, and a refresh is due at
    /// once, still rate-limited by backoff `[R13]`.
    Invalidate {
        /// The access key id the service rejected.
        access_key_id: AccessKeyId,
    },
    /// Stop: drop everything and refuse from now on `[R14]`.
    Shutdown,
}

/// The fieldless mirror of [`Input`], for the transition table and diagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum InputKind {
    /// [`Input::Demand`].
    Demand,
    /// [`Input::Tick`].
    Tick,
    /// [`Input::RoleReply`].
    RoleReply,
    /// [`Input::CredentialsReply`].
    CredentialsReply,
    /// [`Input::Invalidate`].
    Invalidate,
    /// [`Input::Shutdown`].
    Shutdown,
}

impl Input {
    /// The kind of this input.
    #[must_use]
    pub fn kind(&self) -> InputKind {
        match self {
            Self::Demand => InputKind::Demand,
            Self::Tick => InputKind::Tick,
            Self::RoleReply { .. } => InputKind::RoleReply,
            Self::CredentialsReply { .. } => InputKind::CredentialsReply,
            Self::Invalidate { .. } => InputKind::Invalidate,
            Self::Shutdown => InputKind::Shutdown,
        }
    }
}

impl InputKind {
    /// Every input kind, in spec order.
    pub const ALL: [Self; 6] = [
        Self::Demand,
        Self::Tick,
        Self::RoleReply,
        Self::CredentialsReply,
        Self::Invalidate,
        Self::Shutdown,
    ];

    /// The name used in diagrams.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Demand => "Demand",
            Self::Tick => "Tick",
            Self::RoleReply => "RoleReply",
            Self::CredentialsReply => "CredentialsReply",
            Self::Invalidate => "Invalidate",
            Self::Shutdown => "Shutdown",
        }
    }
}
