//! Why an attempt did not end in usable new credentials: shared by the state (the last failure)
//! and the policy (how much of the retry schedule a failure used up).

use core::time::Duration;

use crate::input::ImdsFailure;
use crate::time::WallTime;

/// Why an attempt did not end in usable new credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Failure {
    /// IMDS failed (see [`ImdsFailure`]).
    #[error(transparent)]
    Imds(#[from] ImdsFailure),
    /// The credentials had already expired when they arrived: a failure, not a success.
    #[error("IMDS sent credentials that had already expired at {expiration}")]
    Stale {
        /// Their `Expiration`.
        expiration: WallTime,
    },
    /// The credentials' whole remaining lifetime is not longer than the expiry margin, so they
    /// could never be handed out.
    #[error("IMDS sent credentials valid for {lifetime:?}, not more than the expiry margin")]
    TooShortLived {
        /// Their remaining lifetime at receipt.
        lifetime: Duration,
    },
    /// IMDS sent the set already held (or one expiring no later): not yet rotated. Retried on
    /// the backoff schedule, never sooner (INV-4, INV-5).
    #[error("IMDS has not rotated the credentials yet")]
    NotRotated,
    /// IMDS sent a set that was revoked before: rejected by AWS (invalidated), of a removed or
    /// changed role, or superseded by a newer set (INV-2).
    #[error("IMDS sent credentials that were already dropped or replaced")]
    Revoked,
}
