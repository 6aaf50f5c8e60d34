//! [`ManualClock`]: a hand-driven clock for tests.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use credcycle_core::{MonoTime, Now, WallTime};

use crate::Clock;

/// A hand-driven clock for tests: time moves only when told to.
///
/// A `ManualClock` is a handle: clones share one reading, so a test can keep a clone and move time
/// while the code under test holds another (across threads too). Both clocks are kept under one
/// lock, so every [`now`](Self::now) sees a consistent pair.
///
/// - [`advance`](Self::advance) moves both clocks forward together (time passing normally).
/// - [`jump_wall`](Self::jump_wall) and [`set_wall`](Self::set_wall) move the wall clock alone,
///   forwards or backwards, as an NTP step or an operator does.
/// - [`advance_mono_only`](Self::advance_mono_only) moves the monotonic clock alone, as when the
///   wall clock is held back and corrected later.
/// - [`with_coarse_skew`](Self::with_coarse_skew) and [`skew_coarse`](Self::skew_coarse) make
///   its [`coarse`](Clock::coarse) readings lag or lead the precise ones, as real coarse clocks
///   do, within declared bounds. Without them the coarse reading is exact.
///
/// There is no way to move the monotonic clock backwards, so the [`Clock`] contract holds by
/// construction (the coarse monotonic reading never goes backwards either, whatever the skew).
/// All arithmetic saturates. Each mutator returns the reading just after it.
///
/// A panic in another thread cannot poison the clock: the lock guards a plain `Copy` value that
/// every operation leaves whole, so a poisoned lock is simply taken over.
///
/// ```
/// use std::time::Duration;
///
/// use credcycle_clock::{Clock, ManualClock};
/// use credcycle_core::{MonoTime, Now, WallTime};
///
/// let clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_000)));
/// let handle = clock.clone();
///
/// handle.advance(Duration::from_secs(10));
/// assert_eq!(clock.now().mono, MonoTime::from_millis(10_000));
/// assert_eq!(clock.now().wall, WallTime::from_unix_secs(1_010));
///
/// // NTP steps the wall clock back by five seconds; the monotonic clock does not move.
/// let after = handle.jump_wall(-5_000);
/// assert_eq!(after.mono, MonoTime::from_millis(10_000));
/// assert_eq!(after.wall, WallTime::from_unix_secs(1_005));
///
/// // Coarse readings that lead by 7 ms, inside a declared 10 ms lag and 100 ms lead.
/// let skewed = ManualClock::new(after)
///     .with_coarse_skew(Duration::from_millis(10), Duration::from_millis(100));
/// skewed.skew_coarse(7);
/// assert_eq!(skewed.coarse().wall, after.wall.offset_millis(7));
/// assert_eq!(skewed.coarse_lead(), Duration::from_millis(100));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    /// The shared reading.
    inner: Arc<Mutex<Reading>>,
}

/// What a [`ManualClock`] reads, under its lock.
#[derive(Clone, Copy, Debug, Default)]
struct Reading {
    now: Now,
    /// Coarse minus precise, in milliseconds: negative lags, positive leads.
    skew_ms: i64,
    /// The last coarse monotonic reading, so that coarse monotonic time never goes backwards
    /// when the skew shrinks.
    coarse_mono: MonoTime,
    /// The declared bounds of the skew.
    lag: Duration,
    lead: Duration,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    #[must_use]
    pub fn new(start: Now) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Reading {
                now: start,
                ..Reading::default()
            })),
        }
    }

    /// Declares how far coarse readings may lag and lead (what [`Clock::coarse_lag`] and
    /// [`Clock::coarse_lead`] report); the skew itself starts at zero.
    #[must_use]
    pub fn with_coarse_skew(self, lag: Duration, lead: Duration) -> Self {
        {
            let mut reading = self.lock();
            reading.lag = lag;
            reading.lead = lead;
        }
        self
    }

    /// The current reading (the same as [`Clock::now`]).
    #[must_use]
    pub fn now(&self) -> Now {
        self.lock().now
    }

    /// Moves both clocks forward by `d`, as time passing normally does.
    pub fn advance(&self, d: Duration) -> Now {
        self.update(|now| now.advance(d))
    }

    /// Moves the wall clock alone by `ms` milliseconds, forwards (positive) or backwards
    /// (negative), as an NTP step does. The monotonic clock does not move.
    pub fn jump_wall(&self, ms: i64) -> Now {
        self.update(|now| Now::new(now.mono, now.wall.offset_millis(ms)))
    }

    /// Sets the wall clock alone to `wall`, which may be earlier or later than its current
    /// reading. The monotonic clock does not move.
    pub fn set_wall(&self, wall: WallTime) -> Now {
        self.update(|now| Now::new(now.mono, wall))
    }

    /// Moves the monotonic clock alone forward by `d`; the wall clock stands still.
    ///
    /// Models a wall clock that lags and is corrected later with [`jump_wall`](Self::jump_wall)
    /// or [`set_wall`](Self::set_wall), for example a guest whose wall clock was frozen by a VM
    /// pause while its monotonic clock kept counting.
    pub fn advance_mono_only(&self, d: Duration) -> Now {
        self.update(|now| Now::new(now.mono.saturating_add(d), now.wall))
    }

    /// Sets how far coarse readings are from the precise ones from now on, in milliseconds:
    /// negative lags, positive leads. It is clamped to the bounds declared with
    /// [`with_coarse_skew`](Self::with_coarse_skew) (zero without them); the clamped value is
    /// returned.
    pub fn skew_coarse(&self, ms: i64) -> i64 {
        let mut reading = self.lock();
        let lag = i64::try_from(reading.lag.as_millis()).unwrap_or(i64::MAX);
        let lead = i64::try_from(reading.lead.as_millis()).unwrap_or(i64::MAX);
        reading.skew_ms = ms.clamp(-lag, lead);
        reading.skew_ms
    }

    /// Applies `f` to the reading under the lock and returns the new reading.
    fn update(&self, f: impl FnOnce(Now) -> Now) -> Now {
        let mut guard = self.lock();
        guard.now = f(guard.now);
        guard.now
    }

    /// The lock, taken over if a panicking thread poisoned it: the guarded reading is `Copy`
    /// and is only ever replaced field by field under it, each write whole, so it cannot be
    /// left half-updated.
    fn lock(&self) -> MutexGuard<'_, Reading> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        Self::now(self)
    }

    fn coarse(&self) -> Now {
        let mut reading = self.lock();
        let now = reading.now;
        let mono = if reading.skew_ms >= 0 {
            now.mono
                .saturating_add(Duration::from_millis(reading.skew_ms.unsigned_abs()))
        } else {
            now.mono
                .saturating_sub(Duration::from_millis(reading.skew_ms.unsigned_abs()))
        };
        // A coarse monotonic clock never goes backwards, even when the skew shrinks.
        reading.coarse_mono = reading.coarse_mono.max(mono);
        Now::new(reading.coarse_mono, now.wall.offset_millis(reading.skew_ms))
    }

    fn coarse_lag(&self) -> Duration {
        self.lock().lag
    }

    fn coarse_lead(&self) -> Duration {
        self.lock().lead
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::testing::{WALL_START, start};

    #[test]
    fn manual_clock_coarse_skew_lags_and_leads_within_its_bounds() {
        let clock = ManualClock::new(start())
            .with_coarse_skew(Duration::from_millis(4), Duration::from_millis(10));
        assert_eq!(Clock::coarse_lag(&clock), Duration::from_millis(4));
        assert_eq!(Clock::coarse_lead(&clock), Duration::from_millis(10));
        assert_eq!(Clock::coarse(&clock), start(), "no skew until told");

        assert_eq!(clock.skew_coarse(7), 7);
        let lead = Clock::coarse(&clock);
        assert_eq!(lead.wall, WALL_START.offset_millis(7));
        assert_eq!(lead.mono, MonoTime::from_millis(1_007));

        // Clamped to the declared bounds.
        assert_eq!(clock.skew_coarse(500), 10);
        assert_eq!(clock.skew_coarse(-500), -4);
        let lag = Clock::coarse(&clock);
        assert_eq!(lag.wall, WALL_START.offset_millis(-4));
        // The coarse monotonic clock does not go back when the skew turns from lead to lag.
        assert_eq!(lag.mono, MonoTime::from_millis(1_007));
        clock.advance(Duration::from_millis(20));
        assert_eq!(Clock::coarse(&clock).mono, MonoTime::from_millis(1_016));
        // Precise readings are untouched by the skew.
        assert_eq!(clock.now(), start().advance(Duration::from_millis(20)));
    }

    #[test]
    fn manual_clock_without_declared_bounds_has_no_skew() {
        let clock = ManualClock::new(start());
        assert_eq!(clock.skew_coarse(9), 0);
        assert_eq!(Clock::coarse(&clock), start());
    }

    #[test]
    fn manual_clock_coarse_is_exact() {
        let clock = ManualClock::new(Now::new(
            MonoTime::from_millis(5),
            WallTime::from_unix_secs(7),
        ));
        assert_eq!(Clock::coarse(&clock), clock.now());
        assert_eq!(Clock::coarse_lag(&clock), Duration::ZERO);
        assert_eq!(Clock::coarse_lead(&clock), Duration::ZERO);
    }

    #[test]
    fn manual_clock_reads_its_start_until_moved() {
        let clock = ManualClock::new(start());
        assert_eq!(clock.now(), start());
        assert_eq!(clock.now(), start());
        assert_eq!(ManualClock::default().now(), Now::default());
    }

    #[test]
    fn manual_clock_advance_moves_both_clocks() {
        let clock = ManualClock::new(start());
        let after = clock.advance(Duration::from_millis(1_500));
        assert_eq!(after, start().advance(Duration::from_millis(1_500)));
        assert_eq!(after.mono, MonoTime::from_millis(2_500));
        assert_eq!(after.wall, WALL_START.offset_millis(1_500));
        assert_eq!(clock.now(), after);
    }

    #[test]
    fn manual_clock_wall_jumps_leave_mono_alone() {
        let clock = ManualClock::new(start());
        let back = clock.jump_wall(-60_000);
        assert_eq!(back.mono, start().mono);
        assert_eq!(back.wall, WALL_START.offset_millis(-60_000));

        let forward = clock.jump_wall(3_600_000);
        assert_eq!(forward.mono, start().mono);
        assert_eq!(forward.wall, WALL_START.offset_millis(3_540_000));

        let set = clock.set_wall(WallTime::UNIX_EPOCH);
        assert_eq!(set, Now::new(start().mono, WallTime::UNIX_EPOCH));
        assert_eq!(clock.now(), set);
    }

    #[test]
    fn manual_clock_mono_only_leaves_wall_alone() {
        let clock = ManualClock::new(start());
        let after = clock.advance_mono_only(Duration::from_secs(30));
        assert_eq!(after, Now::new(MonoTime::from_millis(31_000), WALL_START));
        // The wall clock is corrected later.
        let corrected = clock.jump_wall(30_000);
        assert_eq!(corrected, start().advance(Duration::from_secs(30)));
    }

    #[test]
    fn manual_clock_saturates() {
        let clock = ManualClock::new(Now::new(
            MonoTime::from_millis(u64::MAX - 1),
            WallTime::from_unix_millis(i64::MIN + 1),
        ));
        assert_eq!(
            clock.advance_mono_only(Duration::MAX).mono,
            MonoTime::from_millis(u64::MAX)
        );
        assert_eq!(
            clock.jump_wall(i64::MIN).wall,
            WallTime::from_unix_millis(i64::MIN)
        );
    }

    #[test]
    fn manual_clock_clones_share_state() {
        let clock = ManualClock::new(start());
        let handle = clock.clone();
        handle.advance(Duration::from_secs(1));
        clock.jump_wall(-500);
        let expected = Now::new(MonoTime::from_millis(2_000), WALL_START.offset_millis(500));
        assert_eq!(clock.now(), expected);
        assert_eq!(handle.now(), expected);
    }

    #[test]
    fn manual_clock_works_across_threads() {
        let clock = ManualClock::new(start());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let handle = clock.clone();
                thread::spawn(move || {
                    for _ in 0..100 {
                        handle.advance(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker thread panicked");
        }
        assert_eq!(clock.now(), start().advance(Duration::from_millis(400)));
    }

    #[test]
    fn manual_clock_survives_a_poisoned_lock() {
        let clock = ManualClock::new(start());
        let handle = clock.clone();
        let result = thread::spawn(move || {
            let _guard = handle.inner.lock();
            panic!("poisoning the clock on purpose");
        })
        .join();
        assert!(result.is_err());
        assert!(clock.inner.is_poisoned());
        assert_eq!(clock.now(), start());
        assert_eq!(
            clock.advance(Duration::from_secs(1)),
            start().advance(Duration::from_secs(1))
        );
    }

    #[test]
    fn debug_shows_the_reading() {
        let clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::UNIX_EPOCH));
        assert_eq!(
            format!("{clock:?}"),
            "ManualClock { now: Now { mono: MonoTime(0), wall: WallTime(0) } }"
        );
    }
}
