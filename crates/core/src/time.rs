//! Time as plain integers: the core never reads a clock.
//!
//! - [`MonoTime`]: a monotonic instant, in milliseconds since an epoch the caller chooses (for
//!   example the moment the process started). Deadlines, backoff delays and timeouts.
//! - [`WallTime`]: UTC, in milliseconds since the Unix epoch. What IMDS writes `Expiration` in.
//! - [`Now`]: both at once; every input carries one. [`Jitter`]: randomness as an input.
//!
//! Why two clocks, and why a hand-out is checked on both: `docs/lifecycle.md#two-clocks`.
//!
//! Both are integers so that property tests can generate them, traces can print them and a formal
//! model can mirror them. Adapters (`credcycle-clock`) convert from `Instant` and `SystemTime`.

use core::fmt;
use core::time::Duration;

/// A monotonic instant: milliseconds since an arbitrary, caller-chosen epoch.
///
/// Deadlines, backoff and timeouts are kept on this clock. Arithmetic saturates, so no input can
/// make it overflow (INV-6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MonoTime(u64);

impl MonoTime {
    /// The epoch of the monotonic clock.
    pub const ZERO: Self = Self(0);

    /// An instant `ms` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `d`, saturating at the far future.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(d)))
    }

    /// This instant minus `d`, saturating at the epoch.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(d)))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for MonoTime {
    /// Formats as seconds with millisecond precision, for example `t+12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("t+{}.{:03}s", self.0 / 1000, self.0 % 1000))
    }
}

/// UTC wall-clock time: milliseconds since the Unix epoch (negative before 1970).
///
/// IMDS's `Expiration` and `LastUpdated` are on this clock. Arithmetic saturates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WallTime(i64);

impl WallTime {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The instant `ms` milliseconds after the Unix epoch.
    #[must_use]
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The instant `secs` seconds after the Unix epoch (saturating).
    #[must_use]
    pub const fn from_unix_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `d`, saturating.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis_i64(d)))
    }

    /// This instant minus `d`, saturating.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis_i64(d)))
    }

    /// This instant moved by `ms` milliseconds (negative: backwards), saturating.
    #[must_use]
    pub const fn offset_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        let ms = self.0.saturating_sub(earlier.0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// The same instant as a `chrono` UTC date-time, or `None` outside chrono's range.
    #[must_use]
    pub fn to_datetime(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }

    /// RFC 3339 in UTC with a `Z` suffix, as IMDS writes it: `2026-11-28T10:41:11Z`, with
    /// milliseconds only when they are not zero.
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        use chrono::SecondsFormat;
        match self.to_datetime() {
            Some(dt) if self.0.rem_euclid(1000) == 0 => {
                dt.to_rfc3339_opts(SecondsFormat::Secs, true)
            }
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => format!("@{}ms", self.0),
        }
    }
}

impl From<chrono::DateTime<chrono::Utc>> for WallTime {
    fn from(dt: chrono::DateTime<chrono::Utc>) -> Self {
        Self(dt.timestamp_millis())
    }
}

impl fmt::Display for WallTime {
    /// Formats as RFC 3339 UTC (see [`WallTime::to_rfc3339`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.to_rfc3339())
    }
}

/// The current time on both clocks: every input to the core comes with one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Now {
    /// The monotonic clock: deadlines, backoff and timeouts.
    pub mono: MonoTime,
    /// The UTC wall clock: what `Expiration` is compared with.
    pub wall: WallTime,
}

impl Now {
    /// Both clocks at once.
    #[must_use]
    pub const fn new(mono: MonoTime, wall: WallTime) -> Self {
        Self { mono, wall }
    }

    /// Both clocks moved forward by `d` (time passing normally).
    #[must_use]
    pub fn advance(self, d: Duration) -> Self {
        Self {
            mono: self.mono.saturating_add(d),
            wall: self.wall.saturating_add(d),
        }
    }

    /// Both clocks moved forward to the monotonic instant `to` (unchanged if `to` is not
    /// later): for jumping to a [`Machine::poll_timeout`](crate::Machine::poll_timeout).
    #[must_use]
    pub fn advance_to(self, to: MonoTime) -> Self {
        self.advance(to.saturating_duration_since(self.mono))
    }
}

/// A random fraction in `[0, 1]`, supplied by the caller, used to spread refreshes and retries.
///
/// The core has no random source of its own (INV-6: the same inputs give the same outputs).
/// [`Machine`](crate::Machine) draws it from a seeded generator; model checkers and tests choose it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Jitter(u32);

impl Jitter {
    /// The fraction 0: no spread at all.
    pub const ZERO: Self = Self(0);
    /// The fraction 1/2.
    pub const HALF: Self = Self(u32::MAX / 2);
    /// The fraction 1: the whole range.
    pub const ONE: Self = Self(u32::MAX);

    /// The fraction `raw / u32::MAX`.
    #[must_use]
    pub const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }

    /// The raw value; the fraction is `raw / u32::MAX`.
    #[must_use]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// `d` scaled by this fraction, rounded down to whole milliseconds.
    #[must_use]
    pub fn scale(self, d: Duration) -> Duration {
        let ms = u128::from(duration_millis(d));
        let scaled = ms * u128::from(self.0) / u128::from(u32::MAX);
        Duration::from_millis(u64::try_from(scaled).unwrap_or(u64::MAX))
    }
}

/// Whole milliseconds of `d`, saturating at `u64::MAX`.
pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn duration_millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_arithmetic_saturates() {
        let t = MonoTime::from_millis(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_millis(),
            u64::MAX
        );
        assert_eq!(
            MonoTime::ZERO.saturating_sub(Duration::from_secs(1)),
            MonoTime::ZERO
        );
        assert_eq!(MonoTime::ZERO.saturating_duration_since(t), Duration::ZERO);
    }

    #[test]
    fn mono_arithmetic_is_exact_away_from_the_bounds() {
        let t = MonoTime::from_millis(5_000);
        assert_eq!(
            t.saturating_add(Duration::from_millis(1_500)).as_millis(),
            6_500
        );
        assert_eq!(
            t.saturating_sub(Duration::from_millis(1_500)).as_millis(),
            3_500
        );
        assert_eq!(
            t.saturating_duration_since(MonoTime::from_millis(2_000)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn wall_time_formats_like_imds() {
        let t = WallTime::from_unix_secs(1_795_862_471); // 2026-11-28T10:41:11Z
        assert_eq!(t.to_rfc3339(), "2026-11-28T10:41:11Z");
        assert_eq!(
            t.offset_millis(250).to_rfc3339(),
            "2026-11-28T10:41:11.250Z"
        );
        assert_eq!(
            WallTime::from_unix_millis(i64::MAX).to_rfc3339(),
            format!("@{}ms", i64::MAX)
        );
    }

    #[test]
    fn jitter_scales_within_range() {
        let d = Duration::from_secs(10);
        assert_eq!(Jitter::ZERO.scale(d), Duration::ZERO);
        assert_eq!(Jitter::ONE.scale(d), d);
        assert_eq!(Jitter::HALF.scale(d), Duration::from_millis(4999));
        assert_eq!(
            Jitter::ONE.scale(Duration::MAX),
            Duration::from_millis(u64::MAX)
        );
    }

    #[test]
    fn mono_display() {
        assert_eq!(MonoTime::from_millis(12_345).to_string(), "t+12.345s");
    }

    #[test]
    fn now_advances_both_clocks_to_a_later_instant_only() {
        let now = Now::new(
            MonoTime::from_millis(1_000_000),
            WallTime::from_unix_secs(1_795_862_471),
        );
        let five = Duration::from_secs(5);
        let cases = [
            (
                now.mono.saturating_add(five),
                Now::new(now.mono.saturating_add(five), now.wall.saturating_add(five)),
            ),
            (now.mono.saturating_sub(five), now),
        ];
        for (to, want) in cases {
            assert_eq!(now.advance_to(to), want);
        }
        assert_eq!(Jitter::from_raw(123_456).raw(), 123_456);
        assert_eq!(Jitter::ONE.raw(), u32::MAX);
    }
}
