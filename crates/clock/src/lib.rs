//! Clocks for credcycle: the one crate that reads the time.
//!
//! The core (`credcycle-core`) never reads a clock: every input carries a [`Now`], the current
//! time on two clocks at once. This crate is where that value comes from.
//!
//! # Two clocks, and why both
//!
//! - **Monotonic** ([`MonoTime`]): milliseconds since an arbitrary epoch. It never goes backwards,
//!   so deadlines, backoff delays and timeouts are kept on it. Its epoch means nothing outside the
//!   process, so it cannot be compared with anything IMDS says.
//! - **Wall** ([`WallTime`]): UTC milliseconds since the Unix epoch. IMDS writes a credential's
//!   `Expiration` on this clock, so the expiry must be checked against it. But the wall clock
//!   *jumps*: NTP steps it, a VM resumed from a snapshot corrects it, an operator runs `date -s`.
//!
//! Neither clock alone is enough. The core converts each `Expiration` into a monotonic deadline
//! once, when the credentials arrive, and a hand-out must pass the check on **both** clocks: a
//! wall clock stepped backwards then cannot make expired credentials look valid, and a monotonic
//! clock that stood still (see [`SystemClock`] on suspend) cannot either.
//!
//! # What is here
//!
//! - [`Clock`]: the trait adapters take; `now()` reads both clocks together.
//! - [`SystemClock`]: the real clocks (`Instant` and `SystemTime`).
//! - [`ManualClock`]: a shared, hand-driven clock for tests, which can also step the wall clock
//!   alone, forwards or backwards, as NTP does.
//! - `MockClock` (feature `mock`): a [mockall] mock of [`Clock`], for tests that script exact
//!   readings.
//!
//! ```
//! use std::time::Duration;
//!
//! use credcycle_clock::{Clock, ManualClock, SystemClock};
//! use credcycle_core::{MonoTime, Now, WallTime};
//!
//! // An adapter takes any clock.
//! fn seconds_until(clock: &impl Clock, deadline: MonoTime) -> u64 {
//!     deadline.saturating_duration_since(clock.now().mono).as_secs()
//! }
//!
//! // In production: the real clocks.
//! let system = SystemClock::new();
//! assert!(seconds_until(&system, MonoTime::from_millis(60_000)) <= 60);
//!
//! // In tests: time moves only when told to.
//! let start = Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_795_862_471));
//! let clock = ManualClock::new(start);
//! clock.advance(Duration::from_secs(15));
//! assert_eq!(seconds_until(&clock, MonoTime::from_millis(60_000)), 45);
//!
//! // An NTP step moves the wall clock alone; deadlines on the monotonic clock are unaffected.
//! clock.jump_wall(-3_600_000);
//! assert_eq!(seconds_until(&clock, MonoTime::from_millis(60_000)), 45);
//! assert_eq!(clock.now().wall, start.wall.offset_millis(15_000 - 3_600_000));
//! ```
//!
//! [mockall]: https://docs.rs/mockall

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use credcycle_core::{MonoTime, Now, WallTime};

/// A source of the current time on both clocks.
///
/// `now()` reads the monotonic and the wall clock together, so that callers cannot mix a reading
/// of one with a later reading of the other. Successive calls on one clock value must never return
/// a smaller [`Now::mono`]; [`Now::wall`] may move either way.
///
/// Implemented by [`SystemClock`], [`ManualClock`] and (feature `mock`) `MockClock`, and by
/// `&T`, `Arc<T>` and `Box<T>` for any `T: Clock`, including `dyn Clock`.
///
/// ```
/// use std::sync::Arc;
///
/// use credcycle_clock::{Clock, SystemClock};
///
/// let shared: Arc<dyn Clock> = Arc::new(SystemClock::new());
/// let a = shared.now();
/// let b = shared.now();
/// assert!(b.mono >= a.mono);
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current time on both clocks.
    fn now(&self) -> Now;

    /// A cheap reading of both clocks for hot paths. Each part may **lag** the precise reading
    /// by up to [`coarse_lag`](Self::coarse_lag) and **lead** it by up to
    /// [`coarse_lead`](Self::coarse_lead). The monotonic part has an epoch of its own: compare
    /// coarse readings only with coarse readings. The default is [`now`](Self::now), exact.
    fn coarse(&self) -> Now {
        self.now()
    }

    /// How far [`coarse`](Self::coarse) may lag the precise clocks (read later than it).
    fn coarse_lag(&self) -> Duration {
        Duration::ZERO
    }

    /// How far [`coarse`](Self::coarse) may lead the precise clocks (read later than it).
    ///
    /// A coarse clock is the precise clock as of the last kernel tick, so one would expect it
    /// never to lead; on virtual machines it does, by a few milliseconds under load (the
    /// timekeeper's tick-time value and the precise interpolation disagree). Every bound built
    /// on coarse readings subtracts this too.
    fn coarse_lead(&self) -> Duration {
        Duration::ZERO
    }
}

macro_rules! delegate_clock {
    ($($ty:ty),*) => {$(
        impl<T: Clock + ?Sized> Clock for $ty {
            fn now(&self) -> Now {
                (**self).now()
            }
            fn coarse(&self) -> Now {
                (**self).coarse()
            }
            fn coarse_lag(&self) -> Duration {
                (**self).coarse_lag()
            }
            fn coarse_lead(&self) -> Duration {
                (**self).coarse_lead()
            }
        }
    )*};
}

delegate_clock!(&T, Arc<T>, Box<T>);

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
/// core checks expiry on both clocks.
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
/// also been seen to *lead* the precise clocks; both bounds include [`COARSE_SLACK`] for that.
/// Elsewhere `coarse` is the precise reading.
/// The `coarse_skew` example measures both on the machine at hand.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    /// The monotonic epoch: `MonoTime::ZERO` is this instant.
    origin: Instant,
    /// How far the coarse clocks may lag.
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

/// The slack [`SystemClock`] allows its coarse readings on Linux beyond one kernel tick, in either
/// direction: [`coarse_lead`](Clock::coarse_lead) is this, and
/// [`coarse_lag`](Clock::coarse_lag) is one tick plus a millisecond of rounding plus this.
///
/// On loaded 2-core VMs the coarse clocks were seen to lead the precise ones by up to 7 ms, and to
/// lag them by up to 11 ms with a 4 ms tick (a late tick: the vCPU that keeps time was not
/// running). The slack is more than ten times the worst of those, and still nothing against a
/// 60 s expiry margin: a hand-out on the hot path stops at most this much (twice, plus a tick)
/// early, and the slow path's precise check takes over from there.
pub const COARSE_SLACK: Duration = Duration::from_millis(100);

/// The coarse clocks: Linux's `CLOCK_*_COARSE`, read with rustix's safe API.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use core::time::Duration;

    use credcycle_core::{MonoTime, Now, WallTime};
    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    pub(super) const LEAD: Duration = super::COARSE_SLACK;

    fn millis(ts: Timespec) -> i64 {
        ts.tv_sec
            .saturating_mul(1000)
            .saturating_add(ts.tv_nsec / 1_000_000)
    }

    pub(super) fn now() -> Option<Now> {
        let mono = u64::try_from(millis(clock_gettime(ClockId::MonotonicCoarse))).ok()?;
        let wall = millis(clock_gettime(ClockId::RealtimeCoarse));
        Some(Now::new(
            MonoTime::from_millis(mono),
            WallTime::from_unix_millis(wall),
        ))
    }

    /// One tick of the coarser of the two clocks, plus a millisecond lost to truncation, plus
    /// the slack for late ticks.
    pub(super) fn lag() -> Duration {
        let tick = |id| {
            let r = clock_getres(id);
            Duration::new(
                u64::try_from(r.tv_sec).unwrap_or(0),
                u32::try_from(r.tv_nsec).unwrap_or(0),
            )
        };
        tick(ClockId::MonotonicCoarse).max(tick(ClockId::RealtimeCoarse))
            + Duration::from_millis(1)
            + super::COARSE_SLACK
    }
}

/// Elsewhere there is no coarse clock: `coarse` is the precise reading.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    use core::time::Duration;

    use credcycle_core::Now;

    pub(super) const LEAD: Duration = Duration::ZERO;

    pub(super) fn now() -> Option<Now> {
        None
    }

    pub(super) fn lag() -> Duration {
        Duration::ZERO
    }
}

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
    use std::thread;

    use super::*;

    /// 2026-11-28T10:41:11Z.
    const WALL_START: WallTime = WallTime::from_unix_secs(1_795_862_471);

    fn start() -> Now {
        Now::new(MonoTime::from_millis(1_000), WALL_START)
    }

    /// What holds on a loaded VM: coarse readings stay within the declared lag and lead of a
    /// precise reading taken between them. Preemption between the reads only widens the gap in
    /// the safe direction (a later precise read makes a lead look smaller; a later coarse read
    /// makes a lag look smaller), so this cannot fail for scheduling noise, only for a lead or
    /// lag beyond the declared bounds.
    #[test]
    fn coarse_readings_stay_within_the_declared_lag_and_lead() {
        let clock = SystemClock::new();
        let (lag, lead) = (clock.coarse_lag(), clock.coarse_lead());
        // One tick (at most 10 ms) and a millisecond of rounding, plus the slack.
        assert!(
            lag <= COARSE_SLACK + Duration::from_millis(11),
            "lag {lag:?}"
        );
        assert!(lead <= COARSE_SLACK, "lead {lead:?}");
        for _ in 0..1_000 {
            let before = clock.coarse();
            let precise = clock.now();
            let after = clock.coarse();
            assert!(
                before.wall <= precise.wall.saturating_add(lead),
                "coarse wall led by more than {lead:?}: {before:?} {precise:?}"
            );
            assert!(
                precise.wall <= after.wall.saturating_add(lag),
                "coarse wall lagged by more than {lag:?}: {precise:?} {after:?}"
            );
            assert!(after.mono >= before.mono, "coarse monotonic went backwards");
        }
    }

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

    #[test]
    fn blanket_impls_delegate() {
        fn read(clock: &impl Clock) -> Now {
            clock.now()
        }
        let clock = ManualClock::new(start());
        let by_ref: &ManualClock = &clock;
        let by_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let by_box: Box<dyn Clock> = Box::new(clock.clone());
        clock.advance(Duration::from_secs(2));
        let expected = start().advance(Duration::from_secs(2));
        assert_eq!(read(&by_ref), expected);
        assert_eq!(read(&by_arc), expected);
        assert_eq!(read(&by_box), expected);
        assert_eq!(read(&&by_arc), expected);
    }

    #[test]
    fn mock_clock_scripts_readings() {
        let mut mock = MockClock::new();
        let mut next = start();
        mock.expect_now().times(3).returning(move || {
            let now = next;
            next = next.advance(Duration::from_secs(10));
            now
        });
        let clock: Box<dyn Clock> = Box::new(mock);
        assert_eq!(clock.now(), start());
        assert_eq!(clock.now().mono, MonoTime::from_millis(11_000));
        assert_eq!(clock.now().wall, WALL_START.offset_millis(20_000));
    }

    #[test]
    fn mock_clock_can_step_the_wall_clock_back() {
        let mut mock = MockClock::new();
        let mut seq = mockall::Sequence::new();
        mock.expect_now()
            .times(1)
            .in_sequence(&mut seq)
            .return_const(start());
        mock.expect_now()
            .times(1)
            .in_sequence(&mut seq)
            .return_const(Now::new(
                MonoTime::from_millis(1_001),
                WALL_START.offset_millis(-3_600_000),
            ));
        let first = mock.now();
        let second = mock.now();
        assert!(second.mono > first.mono);
        assert!(second.wall < first.wall);
    }
}
