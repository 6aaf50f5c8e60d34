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

use core::time::Duration;

use crate::creds::RoleName;
use crate::failure::Failure;
use crate::input::ImdsFailure;
use crate::time::Jitter;

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

/// Why a [`PolicyBuilder`] refused to build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A duration that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The setting at fault.
        field: &'static str,
    },
    /// A duration is longer than [`Policy::MAX_DURATION`].
    #[error("{field} is longer than one year")]
    TooLong {
        /// The setting at fault.
        field: &'static str,
    },
    /// The expiry margin is not shorter than the shortest refresh window, so a refresh could be
    /// scheduled after the credentials stopped being usable.
    #[error(
        "expiry margin ({margin:?}) must be shorter than the shortest refresh window ({window:?})"
    )]
    MarginNotBelowWindow {
        /// The margin asked for.
        margin: Duration,
        /// The shortest refresh window.
        window: Duration,
    },
    /// The refresh windows or lifetime tiers are not in increasing order.
    #[error(
        "refresh tiers must increase: lifetimes {short_lifetime:?} < {medium_lifetime:?}, windows short <= medium <= long"
    )]
    TiersOutOfOrder {
        /// The short-lifetime threshold.
        short_lifetime: Duration,
        /// The medium-lifetime threshold.
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
        /// The cap at fault.
        field: &'static str,
        /// Its value.
        cap: Duration,
        /// The base.
        base: Duration,
    },
    /// The retry floor is above the backoff base.
    #[error("retry floor ({floor:?}) must be at most the backoff base ({base:?})")]
    FloorAboveBase {
        /// The floor.
        floor: Duration,
        /// The base.
        base: Duration,
    },
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

    /// How many attempts of the retry schedule a failure used up (INV-4, "one retry schedule"):
    /// a timeout, a 429 or a 5xx comes after the transport made all its
    /// [`http_attempts`](Self::http_attempts), and each of those counts, so that HTTP-level
    /// retries advance the backoff instead of multiplying the requests; any other failure is one
    /// attempt.
    #[must_use]
    pub fn attempts_spent(&self, failure: &Failure) -> u32 {
        match failure {
            Failure::Imds(ImdsFailure::Timeout) => self.http_attempts,
            Failure::Imds(ImdsFailure::HttpStatus(status))
                if *status == 429 || (500..=599).contains(status) =>
            {
                self.http_attempts
            }
            _ => 1,
        }
    }

    /// The role to use without asking IMDS (the SDKs' `AWS_EC2_INSTANCE_PROFILE_NAME`).
    #[must_use]
    pub fn pinned_role(&self) -> Option<&RoleName> {
        self.pinned_role.as_ref()
    }

    /// The refresh window before the usable deadline for credentials whose lifetime at fetch is
    /// `lifetime` and which stay usable for `usable_left`: the tier's window plus `jitter` times
    /// the jitter share of it, never more than half of `usable_left` (no refresh storm for
    /// short-lived credentials).
    #[must_use]
    pub fn refresh_window(
        &self,
        lifetime: Duration,
        usable_left: Duration,
        jitter: Jitter,
    ) -> Duration {
        let tier = if lifetime <= self.short_lifetime {
            self.short_window
        } else if lifetime <= self.medium_lifetime {
            self.medium_window
        } else {
            self.long_window
        };
        let spread = tier.saturating_mul(self.refresh_jitter_percent) / 100;
        tier.saturating_add(jitter.scale(spread))
            .min(usable_left / 2)
    }

    /// The delay before the next attempt after `failures` consecutive failed attempts (1 for the
    /// first failure), not-rotated answers included (INV-4). The ceiling doubles from the
    /// backoff base with each failure, and the delay is drawn from the ceiling's upper half
    /// ("equal jitter"), so that the schedule grows exponentially whatever the jitter.
    ///
    /// `serving_left` is how long the held credentials stay servable, if any are held:
    ///
    /// - **Serving.** The ceiling is at most the serving cap, and the delay never goes past
    ///   three quarters of the time left (so that an attempt always lands with a quarter of it
    ///   to spare: LIVE-2) and never below the backoff base (INV-4).
    /// - **Refusing.** The ceiling is at most the refusing cap, so that recovery takes seconds
    ///   once IMDS answers (LIVE-1); never below the retry floor.
    ///
    /// A not-rotated answer while serving is scheduled by [`polling_delay`](Self::polling_delay)
    /// instead.
    #[must_use]
    pub fn backoff_delay(
        &self,
        failures: u32,
        serving_left: Option<Duration>,
        jitter: Jitter,
    ) -> Duration {
        let doubling = self.doubling(failures);
        match serving_left {
            Some(left) => self.serving(doubling, left, jitter),
            None => {
                upper_half(doubling.min(self.backoff_cap_refusing), jitter).max(self.retry_floor)
            }
        }
    }

    /// The delay before polling again after IMDS answered "not rotated yet" (the set already
    /// held, or one that may not be taken) while usable credentials are held, `left` being how
    /// long they stay servable. As [`backoff_delay`](Self::backoff_delay) while serving, but
    /// the ceiling is the doubling delay or half the time left, whichever is longer: a late
    /// rotation is then polled about five times per usable window however short it is (with
    /// 90 s credentials rotated at the usable deadline, at most 12 polls a minute), and never
    /// closer than the backoff base (INV-4).
    #[must_use]
    pub fn polling_delay(&self, failures: u32, left: Duration, jitter: Jitter) -> Duration {
        self.serving(self.doubling(failures).max(left / 2), left, jitter)
    }

    /// The backoff base doubled for each failure after the first.
    fn doubling(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        self.backoff_base.saturating_mul(1u32 << exponent)
    }

    /// A delay under `ceiling` while `left` of servable time remains.
    fn serving(&self, ceiling: Duration, left: Duration, jitter: Jitter) -> Duration {
        upper_half(ceiling.min(self.backoff_cap_serving), jitter)
            .min(left.saturating_mul(3) / 4)
            .max(self.backoff_base)
    }
}

/// A delay in the upper half of `ceiling`, placed by `jitter` ("equal jitter").
fn upper_half(ceiling: Duration, jitter: Jitter) -> Duration {
    let half = ceiling / 2;
    half + jitter.scale(ceiling - half)
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
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
pub struct PolicyBuilder(Policy);

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
    fn refresh_window_follows_the_lifetime_tiers() {
        let p = Policy::default();
        let plenty = 24 * 60 * MIN;
        assert_eq!(p.refresh_window(15 * MIN, plenty, Jitter::ZERO), 5 * MIN);
        assert_eq!(p.refresh_window(20 * MIN, plenty, Jitter::ZERO), 5 * MIN);
        assert_eq!(p.refresh_window(60 * MIN, plenty, Jitter::ZERO), 15 * MIN);
        assert_eq!(
            p.refresh_window(6 * 60 * MIN, plenty, Jitter::ZERO),
            60 * MIN
        );
        assert_eq!(
            p.refresh_window(6 * 60 * MIN, plenty, Jitter::ONE),
            72 * MIN
        );
    }

    #[test]
    fn refresh_window_never_exceeds_half_the_usable_time() {
        let p = Policy::default();
        // 6-minute credentials: usable for 5 minutes, so refresh at most 2.5 minutes ahead.
        assert_eq!(
            p.refresh_window(6 * MIN, 5 * MIN, Jitter::ONE),
            Duration::from_secs(150)
        );
    }

    #[test]
    fn backoff_doubles_caps_and_respects_the_floor() {
        let p = Policy::default();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // Refusing: doubling, capped at 10 s, drawn from the upper half of the ceiling.
        assert_eq!(p.backoff_delay(1, None, Jitter::ONE), s(1));
        assert_eq!(p.backoff_delay(1, None, Jitter::ZERO), ms(500));
        assert_eq!(p.backoff_delay(2, None, Jitter::ONE), s(2));
        assert_eq!(p.backoff_delay(4, None, Jitter::ONE), s(8));
        assert_eq!(p.backoff_delay(4, None, Jitter::ZERO), s(4));
        assert_eq!(p.backoff_delay(5, None, Jitter::ONE), s(10), "refusing cap");
        assert_eq!(p.backoff_delay(9, None, Jitter::ZERO), s(5), "half the cap");
        assert_eq!(
            p.backoff_delay(u32::MAX, None, Jitter::HALF),
            ms(7_499),
            "no overflow"
        );
        // Serving: doubling, capped at 5 min, at most three quarters of the time left, at
        // least the base.
        assert_eq!(
            p.backoff_delay(40, Some(s(86_400)), Jitter::ONE),
            s(300),
            "serving cap"
        );
        assert_eq!(p.backoff_delay(1, Some(s(86_400)), Jitter::ZERO), s(1));
        assert_eq!(p.backoff_delay(3, Some(s(86_400)), Jitter::ZERO), s(2));
        assert_eq!(
            p.backoff_delay(8, Some(s(100)), Jitter::ONE),
            s(75),
            "three quarters of the time left"
        );
        assert_eq!(
            p.backoff_delay(1, Some(ms(800)), Jitter::ZERO),
            s(1),
            "never below the base"
        );
        assert_eq!(p.backoff_delay(1, Some(Duration::ZERO), Jitter::ONE), s(1));
        // Polling a not-yet-rotated IMDS: the longer of doubling and half the time left.
        assert_eq!(
            p.polling_delay(1, s(86_400), Jitter::ZERO),
            s(150),
            "half the time left, capped"
        );
        assert_eq!(
            p.polling_delay(1, s(100), Jitter::ONE),
            s(50),
            "half the time left"
        );
        assert_eq!(p.polling_delay(7, s(100), Jitter::ONE), s(64), "doubling");
        assert_eq!(p.polling_delay(1, ms(800), Jitter::ZERO), s(1), "the base");
    }

    #[test]
    fn http_attempts_count_against_the_schedule() {
        let p = Policy::builder().http_attempts(3).build().expect("valid");
        let timeout = Failure::Imds(ImdsFailure::Timeout);
        assert_eq!(p.attempts_spent(&timeout), 3);
        assert_eq!(
            p.attempts_spent(&Failure::Imds(ImdsFailure::HttpStatus(503))),
            3
        );
        assert_eq!(
            p.attempts_spent(&Failure::Imds(ImdsFailure::HttpStatus(429))),
            3
        );
        assert_eq!(
            p.attempts_spent(&Failure::Imds(ImdsFailure::HttpStatus(404))),
            1
        );
        assert_eq!(p.attempts_spent(&Failure::NotRotated), 1);
        assert_eq!(Policy::default().attempts_spent(&timeout), 1);
        for bad in [0, 11] {
            assert_eq!(
                Policy::builder().http_attempts(bad).build(),
                Err(PolicyError::HttpAttemptsOutOfRange(bad))
            );
        }
    }

    /// The schedule of a late rotation: 30 s of usable time, refresh from the middle, IMDS
    /// answering "not rotated" until the end. Five polls at most, whatever the jitter.
    #[test]
    fn late_rotation_polls_stay_few() {
        let p = Policy::default();
        for raw in [0, u32::MAX / 4, u32::MAX / 2, u32::MAX] {
            let jitter = Jitter::from_raw(raw);
            let (mut t, mut polls) = (Duration::from_secs(15), 0);
            let end = Duration::from_secs(30);
            while t < end {
                polls += 1;
                t += p.polling_delay(polls, end - t, jitter);
            }
            assert!(polls <= 6, "{polls} polls with jitter {raw}");
        }
    }

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
