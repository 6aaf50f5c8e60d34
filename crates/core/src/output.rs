//! What comes out of the state machine: requests for the caller to make, and events to report.

use crate::creds::{AccessKeyId, RoleName};
use crate::failure::Failure;
use crate::input::RequestId;
use crate::time::{MonoTime, WallTime};

/// Something the caller must do. Requests are answered with the matching [`Input`](crate::Input)
/// carrying the same [`RequestId`]; events are for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Action {
    /// List the role attached to the instance (`GET /latest/meta-data/iam/security-credentials/`)
    /// and answer with [`Input::RoleReply`](crate::Input::RoleReply) `[R1]` `[R10]`.
    DiscoverRole {
        /// To put in the reply; a reply with any other id is stale and ignored `[R17]`.
        id: RequestId,
    },
    /// Fetch the role's credentials (`GET .../security-credentials/<role>`) and answer with
    /// [`Input::CredentialsReply`](crate::Input::CredentialsReply) `[R1]` `[R2]` `[R9]` `[R10]`.
    FetchCredentials {
        /// To put in the reply; a reply with any other id is stale and ignored `[R17]`.
        id: RequestId,
        /// The last segment of the path: the role discovered, or the one the policy pins.
        role: RoleName,
    },
    /// Something worth reporting happened (never carries a secret).
    Notify(Event),
}

/// A notable change, for logs, metrics and timelines. Secret-free by construction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// IMDS named the attached role `[R2]`.
    RoleDiscovered {
        /// Credentials are fetched for it from now on, until its path answers 404.
        role: RoleName,
    },
    /// A new set was accepted `[R4]`.
    Accepted {
        /// How many sets were accepted so far, this one included; hand-outs of it carry the
        /// same number.
        generation: u64,
        /// Not a secret: safe to log.
        access_key_id: AccessKeyId,
        /// IMDS's `Expiration`, as received.
        expiration: WallTime,
        /// The usable deadline minus the refresh window (jitter included).
        refresh_at: MonoTime,
    },
    /// The held set was dropped and will not be served again `[R3]` `[R8]` `[R11]` `[R13]` `[R14]`.
    Dropped {
        /// Not a secret: safe to log.
        access_key_id: AccessKeyId,
        /// Every reason but [`Expired`](DropReason::Expired) and [`Shutdown`](DropReason::Shutdown)
        /// also revokes the set (INV-2).
        reason: DropReason,
    },
    /// An attempt failed; the next one is due at `retry_at` `[R3]` `[R5]`-`[R8]` `[R12]`.
    AttemptFailed {
        /// A not-rotated answer counts as a failure too ([`Failure::NotRotated`]).
        failure: Failure,
        /// Failed attempts in a row, this one included.
        failures: u32,
        /// When the next attempt is due: the backoff delay after this one (INV-4).
        retry_at: MonoTime,
    },
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(match self {
            Self::Expired => "inside the expiry margin or expired",
            Self::RoleGone => "the role was removed or changed",
            Self::NoInstanceProfile => "no instance profile is attached",
            Self::Invalidated => "AWS rejected them",
            Self::Shutdown => "shut down",
        })
    }
}

/// Why held credentials were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DropReason {
    /// They can no longer be served: inside the expiry margin (or past the grace period) on
    /// either clock (INV-1).
    Expired,
    /// Their role's path answered 404: the role was removed or changed (INV-2).
    RoleGone,
    /// The role listing answered 404: no instance profile is attached (INV-2).
    NoInstanceProfile,
    /// A caller reported that AWS rejected them.
    Invalidated,
    /// The machine was shut down.
    Shutdown,
}
