//! Measures how far the coarse clocks (`CLOCK_*_COARSE`) lag and lead the precise ones on this
//! machine, to check the tolerances that `SystemClock` declares.
//!
//! ```sh
//! cargo run --release -p credcycle-clock --example coarse_skew -- 20   # seconds, default 10
//! ```
//!
//! Run it once on an idle machine and once while both cores are busy (a release build, say):
//! virtual machines show leads only under load. It prints the worst lag and lead seen on each
//! clock, in microseconds, beside the bounds `SystemClock::coarse_lag` and `coarse_lead` declare.

use std::time::Duration;

use credcycle_clock::{Clock, SystemClock};

#[cfg(any(target_os = "linux", target_os = "android"))]
fn main() {
    use rustix::time::{ClockId, Timespec, clock_gettime};

    fn micros(ts: Timespec) -> i64 {
        ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
    }

    let seconds: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(10), |s| s.parse())
        .unwrap_or_else(|e| {
            eprintln!("coarse_skew: the duration must be whole seconds: {e}");
            std::process::exit(2)
        });
    let clock = SystemClock::new();
    let until = clock
        .now()
        .mono
        .saturating_add(Duration::from_secs(seconds));
    let (mut wall_lead, mut wall_lag, mut mono_lead, mut mono_lag) = (0i64, 0i64, 0i64, 0i64);
    let mut reads = 0u64;
    while clock.now().mono < until {
        for (coarse_id, precise_id, lead, lag) in [
            (
                ClockId::RealtimeCoarse,
                ClockId::Realtime,
                &mut wall_lead,
                &mut wall_lag,
            ),
            (
                ClockId::MonotonicCoarse,
                ClockId::Monotonic,
                &mut mono_lead,
                &mut mono_lag,
            ),
        ] {
            // A coarse read, then a precise one: a positive difference is a lead (the precise
            // read came later, so it can only make a lead look smaller, never invent one).
            let coarse = micros(clock_gettime(coarse_id));
            let precise = micros(clock_gettime(precise_id));
            *lead = (*lead).max(coarse - precise);
            // A precise read, then a coarse one: a positive difference is a lag.
            let precise = micros(clock_gettime(precise_id));
            let coarse = micros(clock_gettime(coarse_id));
            *lag = (*lag).max(precise - coarse);
        }
        reads += 1;
    }
    println!("{reads} rounds over {seconds} s");
    println!("wall: worst lag {wall_lag} us, worst lead {wall_lead} us");
    println!("mono: worst lag {mono_lag} us, worst lead {mono_lead} us");
    println!(
        "declared: lag {} us, lead {} us",
        clock.coarse_lag().as_micros(),
        clock.coarse_lead().as_micros()
    );
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn main() {
    let clock = SystemClock::new();
    println!(
        "no coarse clocks on this platform: coarse readings are precise (lag {:?}, lead {:?})",
        clock.coarse_lag(),
        clock.coarse_lead()
    );
}
