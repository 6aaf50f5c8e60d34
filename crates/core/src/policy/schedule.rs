//! The policy's arithmetic: refresh windows, the backoff and polling schedule, and what a
//! failure costs of it.

use core::time::Duration;

use super::Policy;
use crate::failure::Failure;
use crate::input::ImdsFailure;
use crate::time::Jitter;

impl Policy {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyError;

    const MIN: Duration = Duration::from_secs(60);

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
}
