//! The [`Clock`] trait, its impls for pointers, and (feature `mock`) `MockClock`.

use std::sync::Arc;
use std::time::Duration;

use credcycle_core::Now;

/// A source of the current time on both clocks.
///
/// `now()` reads the monotonic and the wall clock together, so that callers cannot mix a reading
/// of one with a later reading of the other. Successive calls on one clock value must never return
/// a smaller [`Now::mono`]; [`Now::wall`] may move either way.
///
/// Implemented by [`SystemClock`](crate::SystemClock), [`ManualClock`](crate::ManualClock) and
/// (feature `mock`) `MockClock`, and by `&T`, `Arc<T>` and `Box<T>` for any `T: Clock`,
/// including `dyn Clock`.
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

    /// How far [`coarse`](Self::coarse) may lead the precise clocks (read earlier than it).
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

#[cfg(test)]
mod tests {
    use credcycle_core::MonoTime;

    use super::*;
    use crate::ManualClock;
    use crate::testing::{WALL_START, start};

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
