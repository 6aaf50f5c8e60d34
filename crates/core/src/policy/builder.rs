//! Building a [`Policy`] and validating it: every value that could break an invariant is a
//! [`PolicyError`], never silently adjusted.

use core::time::Duration;

use super::Policy;
use crate::creds::RoleName;

/// Why a [`PolicyBuilder`] refused to build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A duration that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The setting's name in words, as the message says it (`"backoff base"`).
        field: &'static str,
    },
    /// A duration is longer than [`Policy::MAX_DURATION`].
    #[error("{field} is longer than one year")]
    TooLong {
        /// The setting's name in words, as the message says it (`"grace"`).
        field: &'static str,
    },
    /// The expiry margin is not shorter than the shortest refresh window, so a refresh could be
    /// scheduled after the credentials stopped being usable.
    #[error(
        "expiry margin ({margin:?}) must be shorter than the shortest refresh window ({window:?})"
    )]
    MarginNotBelowWindow {
        /// As given to [`PolicyBuilder::expiry_margin`].
        margin: Duration,
        /// The short tier's window, the shortest when the tiers are in order.
        window: Duration,
    },
    /// The refresh windows or lifetime tiers are not in increasing order.
    #[error(
        "refresh tiers must increase: lifetimes {short_lifetime:?} < {medium_lifetime:?}, windows short <= medium <= long"
    )]
    TiersOutOfOrder {
        /// As given to [`PolicyBuilder::refresh_tiers`] (the windows are not repeated here).
        short_lifetime: Duration,
        /// As given to [`PolicyBuilder::refresh_tiers`].
        medium_lifetime: Duration,
    },
    /// The refresh jitter is more than 100 % of the window.
    #[error("refresh jitter must be at most 100 percent, got {0}")]
    JitterTooLarge(u32),
    /// The number of HTTP attempts per request is not between 1 and 10.
    #[error("HTTP attempts per request ({0}) must be between 1 and 10")]
    HttpAttemptsOutOfRange(u32),
    /// A backoff cap is below the backoff base.
    #[error("{field} ({cap:?}) must be at least the backoff base ({base:?})")]
    CapBelowBase {
        /// `"backoff cap while serving"` or `"backoff cap while refusing"`.
        field: &'static str,
        /// As given (or the default, if only the base was changed).
        cap: Duration,
        /// As given to [`PolicyBuilder::backoff_base`], or the default 1 s.
        base: Duration,
    },
    /// The retry floor is above the backoff base.
    #[error("retry floor ({floor:?}) must be at most the backoff base ({base:?})")]
    FloorAboveBase {
        /// As given to [`PolicyBuilder::retry_floor`], or the default 250 ms.
        floor: Duration,
        /// As given to [`PolicyBuilder::backoff_base`], or the default 1 s.
        base: Duration,
    },
}

/// Builds a validated [`Policy`]; start with [`Policy::builder`].
///
/// ```
/// use core::time::Duration;
/// use credcycle_core::Policy;
///
/// let policy = Policy::builder()
///     .expiry_margin(Duration::from_secs(120))
///     .grace(Duration::from_secs(300))
///     .build()?;
/// assert_eq!(policy.expiry_margin(), Duration::from_secs(120));
///
/// // A margin as long as the shortest refresh window is refused.
/// assert!(Policy::builder().expiry_margin(Duration::from_secs(300)).build().is_err());
/// # Ok::<(), credcycle_core::PolicyError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct PolicyBuilder(pub(super) Policy);

impl PolicyBuilder {
    /// Least validity left at hand-out (default 60 s).
    pub fn expiry_margin(mut self, d: Duration) -> Self {
        self.0.expiry_margin = d;
        self
    }

    /// Refresh tiers: credentials living at most `short_lifetime` refresh `short_window` before
    /// the usable deadline, at most `medium_lifetime` refresh `medium_window` before it, longer
    /// ones `long_window` before it (defaults 20 min: 5 min, 90 min: 15 min, else 60 min).
    pub fn refresh_tiers(
        mut self,
        short_lifetime: Duration,
        short_window: Duration,
        medium_lifetime: Duration,
        medium_window: Duration,
        long_window: Duration,
    ) -> Self {
        self.0.short_lifetime = short_lifetime;
        self.0.short_window = short_window;
        self.0.medium_lifetime = medium_lifetime;
        self.0.medium_window = medium_window;
        self.0.long_window = long_window;
        self
    }

    /// Extra random spread added to the refresh window, in percent of it (default 20).
    pub fn refresh_jitter_percent(mut self, percent: u32) -> Self {
        self.0.refresh_jitter_percent = percent;
        self
    }

    /// First backoff delay, doubled after each further failure (default 1 s).
    pub fn backoff_base(mut self, d: Duration) -> Self {
        self.0.backoff_base = d;
        self
    }

    /// Backoff cap while usable credentials are held (default 5 min).
    pub fn backoff_cap_serving(mut self, d: Duration) -> Self {
        self.0.backoff_cap_serving = d;
        self
    }

    /// Backoff cap while nothing usable is held (default 10 s).
    pub fn backoff_cap_refusing(mut self, d: Duration) -> Self {
        self.0.backoff_cap_refusing = d;
        self
    }

    /// Least delay after a failed attempt, whatever the jitter (default 250 ms).
    pub fn retry_floor(mut self, d: Duration) -> Self {
        self.0.retry_floor = d;
        self
    }

    /// How long to wait for a reply before counting the request as failed (default 30 s).
    /// Transports should time out sooner than this.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.0.request_timeout = d;
        self
    }

    /// How many HTTP attempts the transport makes per request before reporting a timeout, a 429
    /// or a 5xx (default 1; 1 to 10). Those attempts count against the retry schedule: see
    /// [`Policy::attempts_spent`]. The Provider sets it from its IMDS settings.
    pub fn http_attempts(mut self, attempts: u32) -> Self {
        self.0.http_attempts = attempts;
        self
    }

    /// Opt-in bounded grace: keep serving up to this long past `Expiration` while IMDS is
    /// failing, marking each such hand-out (default zero: off).
    pub fn grace(mut self, d: Duration) -> Self {
        self.0.grace = d;
        self
    }

    /// Use this role without listing roles first.
    pub fn pinned_role(mut self, role: Option<RoleName>) -> Self {
        self.0.pinned_role = role;
        self
    }

    /// Validates the policy.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the first setting that could break an invariant.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let p = self.0;
        let durations = [
            ("expiry margin", p.expiry_margin, false),
            ("short lifetime", p.short_lifetime, true),
            ("short refresh window", p.short_window, true),
            ("medium lifetime", p.medium_lifetime, true),
            ("medium refresh window", p.medium_window, true),
            ("long refresh window", p.long_window, true),
            ("backoff base", p.backoff_base, true),
            ("backoff cap while serving", p.backoff_cap_serving, true),
            ("backoff cap while refusing", p.backoff_cap_refusing, true),
            ("retry floor", p.retry_floor, true),
            ("request timeout", p.request_timeout, true),
            ("grace", p.grace, false),
        ];
        for (field, d, positive) in durations {
            if positive && d.is_zero() {
                return Err(PolicyError::Zero { field });
            }
            if d > Policy::MAX_DURATION {
                return Err(PolicyError::TooLong { field });
            }
        }
        if !(p.short_lifetime < p.medium_lifetime
            && p.short_window <= p.medium_window
            && p.medium_window <= p.long_window)
        {
            return Err(PolicyError::TiersOutOfOrder {
                short_lifetime: p.short_lifetime,
                medium_lifetime: p.medium_lifetime,
            });
        }
        if p.expiry_margin >= p.short_window {
            return Err(PolicyError::MarginNotBelowWindow {
                margin: p.expiry_margin,
                window: p.short_window,
            });
        }
        if p.refresh_jitter_percent > 100 {
            return Err(PolicyError::JitterTooLarge(p.refresh_jitter_percent));
        }
        if !(1..=10).contains(&p.http_attempts) {
            return Err(PolicyError::HttpAttemptsOutOfRange(p.http_attempts));
        }
        for (field, cap) in [
            ("backoff cap while serving", p.backoff_cap_serving),
            ("backoff cap while refusing", p.backoff_cap_refusing),
        ] {
            if cap < p.backoff_base {
                return Err(PolicyError::CapBelowBase {
                    field,
                    cap,
                    base: p.backoff_base,
                });
            }
        }
        if p.retry_floor > p.backoff_base {
            return Err(PolicyError::FloorAboveBase {
                floor: p.retry_floor,
                base: p.backoff_base,
            });
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn default_builds() {
        assert_eq!(Policy::builder().build(), Ok(Policy::default()));
    }

    #[test]
    fn invalid_policies_are_errors() {
        let cases: Vec<(PolicyBuilder, &str)> = vec![
            (
                Policy::builder().expiry_margin(5 * MIN),
                "expiry margin (300s) must be shorter",
            ),
            (
                Policy::builder().backoff_cap_serving(Duration::ZERO),
                "backoff cap while serving must be greater than zero",
            ),
            (
                Policy::builder().backoff_base(Duration::ZERO),
                "backoff base must be greater than zero",
            ),
            (
                Policy::builder().retry_floor(Duration::ZERO),
                "retry floor must be greater than zero",
            ),
            (
                Policy::builder().retry_floor(Duration::from_secs(2)),
                "retry floor (2s) must be at most",
            ),
            (
                Policy::builder().backoff_cap_refusing(Duration::from_millis(500)),
                "backoff cap while refusing (500ms)",
            ),
            (
                Policy::builder().refresh_jitter_percent(101),
                "refresh jitter must be at most 100 percent, got 101",
            ),
            (
                Policy::builder().grace(Duration::MAX),
                "grace is longer than one year",
            ),
            (
                Policy::builder().refresh_tiers(20 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 60 * MIN),
                "refresh tiers must increase",
            ),
            (
                Policy::builder().refresh_tiers(20 * MIN, 20 * MIN, 90 * MIN, 15 * MIN, 60 * MIN),
                "refresh tiers must increase",
            ),
            (
                Policy::builder().request_timeout(Duration::ZERO),
                "request timeout must be greater than zero",
            ),
        ];
        for (builder, want) in cases {
            let err = builder.build().expect_err(want).to_string();
            assert!(
                err.starts_with(want),
                "{err:?} does not start with {want:?}"
            );
        }
    }

    #[test]
    fn policy_validation_boundaries_are_inclusive_where_documented() {
        let year = Duration::from_secs(365 * 24 * 3600);
        let tiers = |short: u64, medium: u64| {
            Policy::builder().refresh_tiers(
                Duration::from_secs(short * 60),
                5 * MIN,
                Duration::from_secs(medium * 60),
                15 * MIN,
                60 * MIN,
            )
        };
        let base = Duration::from_secs(10);
        // (builder, the error it must give or None, what)
        let cases = [
            // Exactly one year is accepted; a millisecond more is not.
            (Policy::builder().request_timeout(year), None, "a year"),
            (
                Policy::builder().request_timeout(year + Duration::from_millis(1)),
                Some(PolicyError::TooLong {
                    field: "request timeout",
                }),
                "a year and a millisecond",
            ),
            // The short tier must be strictly shorter than the medium one.
            (tiers(20, 21), None, "tiers in order"),
            // Jitter up to 100 % is accepted.
            (Policy::builder().refresh_jitter_percent(100), None, "100 %"),
            (
                Policy::builder().refresh_jitter_percent(101),
                Some(PolicyError::JitterTooLarge(101)),
                "101 %",
            ),
            // A cap equal to the base, and a floor equal to the base, are accepted.
            (
                Policy::builder()
                    .backoff_base(base)
                    .backoff_cap_refusing(base)
                    .backoff_cap_serving(base),
                None,
                "caps equal to the base",
            ),
            (
                Policy::builder()
                    .backoff_base(Duration::from_secs(1))
                    .retry_floor(Duration::from_secs(1)),
                None,
                "floor equal to the base",
            ),
        ];
        for (builder, want, what) in cases {
            match (builder.build(), want) {
                (Ok(_), None) => {}
                (Err(got), Some(want)) => assert_eq!(got, want, "{what}"),
                (got, want) => panic!("{what}: {got:?}, want {want:?}"),
            }
        }
        // Equal tiers are refused.
        assert!(matches!(
            tiers(20, 20).build(),
            Err(PolicyError::TiersOutOfOrder { .. })
        ));
    }
}
