//! Errors of the Provider.

use core::time::Duration;

use credcycle_core::Refusal;

/// Why the Provider handed out nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The lifecycle refused: nothing usable is held, and no request can be made now (backing
    /// off, no instance profile, shut down). `cause` is the IMDS client's description of the
    /// last failure, when there was one.
    #[error("{refusal}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Refused {
        /// The core's refusal.
        refusal: Refusal,
        /// The last IMDS failure, in one line.
        cause: Option<String>,
    },
    /// Another caller's request to IMDS did not finish within the wait timeout.
    #[error("no credentials after waiting {}: {refusal}", credcycle_core::HumanDuration(*waited))]
    TimedOut {
        /// How long this caller waited.
        waited: Duration,
        /// The core's refusal at the end of the wait.
        refusal: Refusal,
    },
    /// The settings are invalid (the message names the setting).
    #[error("invalid provider settings: {0}")]
    Config(String),
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
            Self::Config(_) | Self::Task(_) => None,
        }
    }
}
