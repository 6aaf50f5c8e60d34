//! The coarse clocks behind [`SystemClock`](crate::SystemClock)'s cheap readings, and the slack
//! their bounds allow.

use std::time::Duration;

/// The slack [`SystemClock`](crate::SystemClock) allows its coarse readings on Linux beyond one
/// kernel tick, in either direction: [`coarse_lead`](crate::Clock::coarse_lead) is this, and
/// [`coarse_lag`](crate::Clock::coarse_lag) is one tick plus a millisecond of rounding plus this.
///
/// On loaded 2-core VMs the coarse clocks were seen to lead the precise ones by up to 7 ms, and to
/// lag them by up to 11 ms with a 4 ms tick (a late tick: the vCPU that keeps time was not
/// running). The slack is more than ten times the worst of those, and still nothing against a
/// 60 s expiry margin: a hand-out on the hot path stops at most this much (twice, plus a tick)
/// early, and the slow path's precise check takes over from there.
pub const COARSE_SLACK: Duration = Duration::from_millis(100);

/// The coarse clocks: Linux's `CLOCK_*_COARSE`, read with rustix's safe API.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use core::time::Duration;

    use credcycle_core::{MonoTime, Now, WallTime};
    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    pub(crate) const LEAD: Duration = super::COARSE_SLACK;

    fn millis(ts: Timespec) -> i64 {
        ts.tv_sec
            .saturating_mul(1000)
            .saturating_add(ts.tv_nsec / 1_000_000)
    }

    pub(crate) fn now() -> Option<Now> {
        let mono = u64::try_from(millis(clock_gettime(ClockId::MonotonicCoarse))).ok()?;
        let wall = millis(clock_gettime(ClockId::RealtimeCoarse));
        Some(Now::new(
            MonoTime::from_millis(mono),
            WallTime::from_unix_millis(wall),
        ))
    }

    /// One tick of the coarser of the two clocks, plus a millisecond lost to truncation, plus
    /// the slack for late ticks.
    pub(crate) fn lag() -> Duration {
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
mod os {
    use core::time::Duration;

    use credcycle_core::Now;

    pub(crate) const LEAD: Duration = Duration::ZERO;

    pub(crate) fn now() -> Option<Now> {
        None
    }

    pub(crate) fn lag() -> Duration {
        Duration::ZERO
    }
}

pub(crate) use os::{LEAD, lag, now};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, SystemClock};

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
}
