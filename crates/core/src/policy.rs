//! The policy: every timing decision the core makes, with defaults chosen against the AWS SDKs.
//!
//! | setting | default | serves |
//! |---|---|---|
//! | [expiry margin](PolicyBuilder::expiry_margin) | 60 s | INV-1: a request signed now still arrives before expiry |
//! | refresh window for lifetimes <= 20 min / <= 90 min / longer | 5 / 15 / 60 min | LIVE-2: refresh before the margin is reached |
//! | [refresh jitter](PolicyBuilder::refresh_jitter_percent) | up to 20 % of the window | no lockstep refreshes across processes |
//! | [backoff base](PolicyBuilder::backoff_base) | 1 s, doubling, jitter over the upper half | INV-4 |
//! | [backoff cap while serving](PolicyBuilder::backoff_cap_serving) | 5 min, and never past three quarters of the usable time left; never below the base | INV-4, LIVE-2 |
//! | [backoff cap while refusing](PolicyBuilder::backoff_cap_refusing) | 10 s | LIVE-1: recover in seconds once IMDS is back |
//! | [retry floor](PolicyBuilder::retry_floor) | 250 ms | INV-4: no jitter value gives an immediate retry while refusing |
//! | [request timeout](PolicyBuilder::request_timeout) | 30 s | LIVE-1: a lost reply cannot wedge the machine |
//! | [grace](PolicyBuilder::grace) | off | opt-in: serve past expiry while IMDS fails, bounded |
//!
//! Every value is validated by [`PolicyBuilder::build`]; a policy that could break an invariant is
//! a [`PolicyError`], never silently adjusted.

mod builder;
mod schedule;

use core::time::Duration;

use crate::creds::RoleName;

pub use builder::{PolicyBuilder, PolicyError};

/// The timing policy of the lifecycle. Build one with [`Policy::builder`]; the
/// [`Default`] is the documented default policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    expiry_margin: Duration,
    short_lifetime: Duration,
    short_window: Duration,
    medium_lifetime: Duration,
    medium_window: Duration,
    long_window: Duration,
    refresh_jitter_percent: u32,
    backoff_base: Duration,
    backoff_cap_serving: Duration,
    backoff_cap_refusing: Duration,
    retry_floor: Duration,
    request_timeout: Duration,
    http_attempts: u32,
    grace: Duration,
    pinned_role: Option<RoleName>,
}

impl Policy {
    /// The longest duration any setting accepts (365 days): keeps every sum far from overflow.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

    /// A builder starting from the default policy.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder(Self::DEFAULT)
    }

    const DEFAULT: Self = Self {
        expiry_margin: Duration::from_secs(60),
        short_lifetime: Duration::from_secs(20 * 60),
        short_window: Duration::from_secs(5 * 60),
        medium_lifetime: Duration::from_secs(90 * 60),
        medium_window: Duration::from_secs(15 * 60),
        long_window: Duration::from_secs(60 * 60),
        refresh_jitter_percent: 20,
        backoff_base: Duration::from_secs(1),
        backoff_cap_serving: Duration::from_secs(5 * 60),
        backoff_cap_refusing: Duration::from_secs(10),
        retry_floor: Duration::from_millis(250),
        request_timeout: Duration::from_secs(30),
        http_attempts: 1,
        grace: Duration::ZERO,
        pinned_role: None,
    };

    /// A builder starting from this policy, to change some of its settings.
    pub fn to_builder(&self) -> PolicyBuilder {
        PolicyBuilder(self.clone())
    }

    /// Credentials are handed out only with at least this much validity left (INV-1).
    #[must_use]
    pub fn expiry_margin(&self) -> Duration {
        self.expiry_margin
    }

    /// How long past expiry credentials may still be served while IMDS is failing; zero (the
    /// default) means never.
    #[must_use]
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The backoff base: the first retry waits up to this long.
    #[must_use]
    pub fn backoff_base(&self) -> Duration {
        self.backoff_base
    }

    /// The backoff cap while usable credentials are held.
    #[must_use]
    pub fn backoff_cap_serving(&self) -> Duration {
        self.backoff_cap_serving
    }

    /// The backoff cap while nothing usable is held.
    #[must_use]
    pub fn backoff_cap_refusing(&self) -> Duration {
        self.backoff_cap_refusing
    }

    /// The least delay between a failed attempt and the next one, whatever the jitter (INV-4).
    #[must_use]
    pub fn retry_floor(&self) -> Duration {
        self.retry_floor
    }

    /// How long a request may stay unanswered before the core gives up on it.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How many HTTP attempts the transport makes for one request before it reports a timeout,
    /// a 429 or a 5xx (the SDKs' `AWS_METADATA_SERVICE_NUM_ATTEMPTS`; 1 by default).
    #[must_use]
    pub fn http_attempts(&self) -> u32 {
        self.http_attempts
    }

    /// The role to use without asking IMDS (the SDKs' `AWS_EC2_INSTANCE_PROFILE_NAME`).
    #[must_use]
    pub fn pinned_role(&self) -> Option<&RoleName> {
        self.pinned_role.as_ref()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn policy_defaults_and_settings_are_what_the_docs_say() {
        let p = Policy::default();
        let grace = Policy::builder()
            .grace(5 * MIN)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            (p.backoff_cap_serving(), 5 * MIN),
            (p.backoff_cap_refusing(), Duration::from_secs(10)),
            (p.retry_floor(), Duration::from_millis(250)),
            (p.grace(), Duration::ZERO),
            (grace.grace(), 5 * MIN),
            (Policy::MAX_DURATION, Duration::from_secs(31_536_000)),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
