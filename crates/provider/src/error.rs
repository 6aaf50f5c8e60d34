//! Errors of the Provider.

use core::time::Duration;

use credcycle_core::{PolicyError, Refusal};
use credcycle_imds::ConfigError as ImdsConfigError;
use credcycle_imds::container::ContainerConfigError;

/// Why the Provider handed out nothing, or could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The lifecycle refused: nothing usable is held, and no request can be made now (backing
    /// off, no instance profile, shut down). `cause` is the IMDS client's description of the
    /// last failure, when there was one.
    #[error("{refusal}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Refused {
        /// What the lifecycle was doing instead (fetching, backing off until `retry_at`...).
        refusal: Refusal,
        /// The source's one-line description of its last failure (never a secret).
        cause: Option<String>,
    },
    /// Another caller's request to IMDS did not finish within the wait timeout.
    #[error("no credentials after waiting {}: {refusal}", credcycle_core::HumanDuration(*waited))]
    TimedOut {
        /// Measured on the Provider's clock, from the start of the call.
        waited: Duration,
        /// The core's refusal at the end of the wait.
        refusal: Refusal,
    },
    /// The IMDS settings, or their environment variables, are invalid (the message names the
    /// setting).
    #[error("invalid provider settings: {0}")]
    Imds(#[from] ImdsConfigError),
    /// The container-credentials settings, or their environment variables, are invalid (the
    /// message names the setting).
    #[error("invalid provider settings: {0}")]
    Container(#[from] ContainerConfigError),
    /// The policy, adjusted to the source (its pinned role, its HTTP attempts), is invalid.
    #[error("invalid provider settings: {0}")]
    Policy(#[from] PolicyError),
    /// The background refresh thread could not be started.
    #[error("invalid provider settings: cannot start the refresh thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The blocking task behind `credentials_async` panicked or was cancelled.
    #[error("the credentials task failed: {0}")]
    Task(String),
}

impl ProviderError {
    /// The core's refusal behind this error, if any.
    #[must_use]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused { refusal, .. } | Self::TimedOut { refusal, .. } => Some(refusal),
            Self::Imds(_)
            | Self::Container(_)
            | Self::Policy(_)
            | Self::Spawn(_)
            | Self::Task(_) => None,
        }
    }
}
