//! Clocks for credcycle: the one crate that reads the time.
//!
//! The core (`credcycle-core`) never reads a clock: every input carries a [`Now`](credcycle_core::Now), the current
//! time on two clocks at once. This crate is where that value comes from.
//!
//! # Two clocks, and why both
//!
//! - **Monotonic** ([`MonoTime`](credcycle_core::MonoTime)): milliseconds since an arbitrary epoch. It never goes backwards,
//!   so deadlines, backoff delays and timeouts are kept on it. Its epoch means nothing outside the
//!   process, so it cannot be compared with anything IMDS says.
//! - **Wall** ([`WallTime`](credcycle_core::WallTime)): UTC milliseconds since the Unix epoch. IMDS writes a credential's
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
