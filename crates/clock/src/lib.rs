//! Clocks for credcycle: the one crate that reads the time.
//!
//! The core (`credcycle-core`) never reads a clock: every input carries a
//! [`Now`](credcycle_core::Now), a reading of the monotonic and the wall clock together, and this
//! crate is where that value comes from. Why two clocks (monotonic for deadlines, wall for
//! `Expiration`): `docs/lifecycle.md#two-clocks`.
//!
//! - `clock`: [`Clock`], the trait adapters take, implemented for `&T`, `Arc<T>` and `Box<T>`;
//!   with feature `mock`, `MockClock`, a [mockall] mock of it for tests that script exact readings.
//! - `system`: [`SystemClock`], the operating system's clocks (`Instant` and `SystemTime`).
//! - `coarse`: the cheap readings behind [`Clock::coarse`] (`CLOCK_*_COARSE` on Linux) and
//!   [`COARSE_SLACK`], the slack in their lag and lead bounds; the measurements behind it are in
//!   `docs/performance.md#why-the-coarse-clocks-are-safe-inv-1`.
//! - `manual`: [`ManualClock`], a shared, hand-driven clock for tests, which can also step the wall
//!   clock alone, forwards or backwards, as NTP does, and skew its coarse readings within bounds.
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

mod clock;
mod coarse;
mod manual;
mod system;
#[cfg(test)]
mod testing;

pub use clock::Clock;
#[cfg(any(test, feature = "mock"))]
pub use clock::MockClock;
pub use coarse::COARSE_SLACK;
pub use manual::ManualClock;
pub use system::SystemClock;
