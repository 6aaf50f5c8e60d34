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
        /// The request's id.
        id: RequestId,
    },
    /// Fetch the role's credentials (`GET .../security-credentials/<role>`) and answer with
    /// [`Input::CredentialsReply`](crate::Input::CredentialsReply) `[R1]` `[R2]` `[R9]` `[R10]`.
    FetchCredentials {
        /// The request's id.
        id: RequestId,
        /// The role to fetch for.
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
        /// The role.
        role: RoleName,
    },
    /// A new set was accepted `[R4]`.
    Accepted {
        /// Its generation.
        generation: u64,
        /// Its access key id.
        access_key_id: AccessKeyId,
        /// Its `Expiration`.
        expiration: WallTime,
        /// When its refresh is due.
        refresh_at: MonoTime,
    },
    /// The held set was dropped and will not be served again `[R3]` `[R8]` `[R11]` `[R13]` `[R14]`.
    Dropped {
        /// Its access key id.
        access_key_id: AccessKeyId,
        /// Why.
        reason: DropReason,
    },
    /// An attempt failed; the next one is due at `retry_at` `[R3]` `[R5]`-`[R8]` `[R12]`.
    AttemptFailed {
        /// Why it failed.
        failure: Failure,
        /// Failed attempts in a row, this one included.
        failures: u32,
        /// When the next attempt is due.
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
