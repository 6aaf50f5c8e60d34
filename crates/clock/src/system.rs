//! [`SystemClock`]: the operating system's clocks.

use std::time::{Duration, Instant, SystemTime};

use credcycle_core::{MonoTime, Now, WallTime};

use crate::{Clock, coarse};

/// The real clocks: `Instant` for monotonic time, `SystemTime` for wall time.
///
/// - **Monotonic**: milliseconds elapsed since this clock was created with [`SystemClock::new`],
///   truncated to whole milliseconds. It starts near zero and never goes backwards. Clones share
///   the same origin, so their readings can be compared; two clocks made by separate calls to
///   `new` have different origins, and their [`MonoTime`]s must not be mixed. Create one per
///   process (or per `Provider`) and share it.
/// - **Wall**: `SystemTime` as milliseconds since the Unix epoch, truncated towards the past
///   (negative before 1970). It follows the operating system's clock, and so it can **jump**,
///   forwards or backwards, whenever that clock is stepped.
///
/// Resolution is one millisecond on both clocks; the operating system's clocks are usually much
/// finer, but credentials live for minutes to hours. The two clocks are read one after the other,
/// not atomically, so they may disagree by the few microseconds between the reads.
///
/// Platform caveat: `Instant` is `CLOCK_MONOTONIC` on Linux, which does not advance while the
/// machine is suspended (and a paused VM's guest clocks may stand still too). After a resume the
/// monotonic clock lags real time; the wall clock, once corrected, does not. This is one reason the
/// core checks expiry on both clocks (`docs/lifecycle.md#two-clocks`).
///
/// ```
/// use credcycle_clock::{Clock, SystemClock};
/// use credcycle_core::WallTime;
///
/// let clock = SystemClock::new();
/// let now = clock.now();
/// assert!(now.mono.as_millis() < 60_000); // just created
/// assert!(now.wall > WallTime::from_unix_secs(1_577_836_800)); // after 2020-01-01
/// ```
///
/// [`coarse`](Clock::coarse) reads `CLOCK_MONOTONIC_COARSE` and `CLOCK_REALTIME_COARSE` on
/// Linux (a few nanoseconds each through the vDSO, against about 20 ns for a precise read); they
/// lag the precise clocks by at most one kernel tick (1 to 10 ms), which
/// [`coarse_lag`](Clock::coarse_lag) reports from `clock_getres`, plus a millisecond of
/// rounding. On virtual machines under load they lag by more when a tick comes late, and have
/// also been seen to *lead* the precise clocks; both bounds include
/// [`COARSE_SLACK`](crate::COARSE_SLACK) for that. Elsewhere `coarse` is the precise reading.
/// The `coarse_skew` example measures both on the machine at hand.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    /// The monotonic epoch: `MonoTime::ZERO` is this instant.
    origin: Instant,
    coarse_lag: Duration,
}

impl SystemClock {
    /// A clock whose monotonic epoch is the moment of this call.
    #[must_use]
    #[expect(
        clippy::disallowed_methods,
        reason = "credcycle-clock is the one place that reads clocks"
    )]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            coarse_lag: coarse::lag(),
        }
    }

    /// The current time on both clocks (the same as [`Clock::now`]).
    #[must_use]
    #[expect(
        clippy::disallowed_methods,
        reason = "credcycle-clock is the one place that reads clocks"
    )]
    pub fn now(&self) -> Now {
        let mono = mono_from_elapsed(self.origin.elapsed());
        let wall = wall_from_system_time(SystemTime::now());
        Now::new(mono, wall)
    }
}

impl Default for SystemClock {
    /// The same as [`SystemClock::new`]: the epoch is the moment of this call.
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Self::now(self)
    }

    fn coarse(&self) -> Now {
        coarse::now().unwrap_or_else(|| Self::now(self))
    }

    fn coarse_lag(&self) -> Duration {
        self.coarse_lag
    }

    fn coarse_lead(&self) -> Duration {
        coarse::LEAD
    }
}

/// Whole milliseconds in `elapsed`, saturating (after some 584 million years).
fn mono_from_elapsed(elapsed: Duration) -> MonoTime {
    MonoTime::from_millis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

/// `t` as milliseconds since the Unix epoch, rounded towards the past and saturating.
fn wall_from_system_time(t: SystemTime) -> WallTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => {
            WallTime::from_unix_millis(i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
        }
        Err(err) => {
            // `t` is before the epoch by `before`; round the millisecond count up so that the
            // result, being negative, rounds towards the past like the positive case.
            let before = err.duration();
            let whole = before.as_millis();
            let ms = if before.subsec_nanos() % 1_000_000 == 0 {
                whole
            } else {
                whole.saturating_add(1)
            };
            WallTime::from_unix_millis(i64::try_from(ms).map_or(i64::MIN, |ms| -ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_mono_never_decreases() {
        let clock = SystemClock::new();
        let mut last = clock.now().mono;
        for _ in 0..1_000 {
            let next = clock.now().mono;
            assert!(next >= last, "{next} < {last}");
            last = next;
        }
    }

    #[test]
    fn system_clock_mono_starts_near_zero_and_clones_share_origin() {
        let clock = SystemClock::default();
        let first = clock.now().mono;
        assert!(first.as_millis() < 60_000, "{first}");
        let copy = clock;
        assert!(copy.now().mono >= first);
    }

    #[test]
    fn system_clock_wall_is_plausible() {
        let wall = SystemClock::new().now().wall;
        // After 2020-01-01T00:00:00Z and before 2200-01-01T00:00:00Z.
        assert!(wall > WallTime::from_unix_secs(1_577_836_800), "{wall}");
        assert!(wall < WallTime::from_unix_secs(7_258_118_400), "{wall}");
    }

    #[test]
    fn wall_conversion_rounds_towards_the_past() {
        let epoch = SystemTime::UNIX_EPOCH;
        let cases = [
            (epoch, 0),
            (epoch + Duration::from_micros(1_999), 1),
            (
                epoch + Duration::from_secs(1_795_862_471),
                1_795_862_471_000,
            ),
            (epoch - Duration::from_millis(2), -2),
            (epoch - Duration::from_micros(1_500), -2),
            (epoch - Duration::from_nanos(1), -1),
        ];
        for (t, want) in cases {
            assert_eq!(
                wall_from_system_time(t),
                WallTime::from_unix_millis(want),
                "{t:?}"
            );
        }
    }

    #[test]
    fn mono_conversion_truncates_and_saturates() {
        assert_eq!(
            mono_from_elapsed(Duration::from_micros(2_999)),
            MonoTime::from_millis(2)
        );
        assert_eq!(
            mono_from_elapsed(Duration::MAX),
            MonoTime::from_millis(u64::MAX)
        );
    }
}
