//! The hot path's bounds against coarse clocks that lag *and* lead (INV-1 on the precise clocks,
//! at the moment a hand-out leaves `credentials()`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use credcycle::Provider;
use credcycle_clock::ManualClock;
use credcycle_core::{Action, ImdsFailure, Input, MonoTime, Now, Policy, WallTime};

const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// IMDS answers the first fetch, then is down: the set held at the start is the only one, so
/// the hot path is what decides where hand-outs stop.
fn one_set_then_outage(clock: &ManualClock) -> impl FnMut(&Action) -> Option<Input> + Send + use<> {
    let fetches = Arc::new(AtomicU64::new(0));
    let wall = clock.clone();
    let mut first = crate::scripted(move || wall.now().wall, LIFETIME, fetches, "hot");
    let mut answered = false;
    move |action| match action {
        Action::FetchCredentials { id, .. } if answered => Some(Input::CredentialsReply {
            id: *id,
            result: Err(ImdsFailure::HttpStatus(500)),
        }),
        Action::FetchCredentials { .. } => {
            answered = true;
            first(action)
        }
        other => first(other),
    }
}

/// Publishes while the coarse clocks lead by the most they may, then reads them lagging by the
/// most they may (and the other combinations): every hand-out must still keep the margin on the
/// precise clocks. The wall clock is stepped after the first fetch so that each of the two bounds
/// is the one that binds in turn: an hour back (only the monotonic bound stops hand-outs; a
/// monotonic bound that ignores the lead hands out up to the lead past the deadline), and 30 s
/// forward (the wall bound stops them first; one that ignores the lag hands out inside the
/// margin).
#[test]
fn hand_outs_stop_at_the_precise_deadline_whatever_the_coarse_skew() {
    let lag = Duration::from_millis(10);
    let lead = Duration::from_millis(100);
    let margin = Policy::default().expiry_margin();
    for wall_step_ms in [-3_600_000_i64, 30_000] {
        for (skew_at_publish, skew_at_handout) in
            [(100, -10), (100, 100), (-10, -10), (-10, 100), (0, 0)]
        {
            let case =
                format!("wall step {wall_step_ms} ms, skew {skew_at_publish}/{skew_at_handout} ms");
            let clock = ManualClock::new(Now::new(
                MonoTime::from_millis(1_000),
                WallTime::from_unix_secs(1_795_862_471),
            ))
            .with_coarse_skew(lag, lead);
            clock.skew_coarse(skew_at_publish);
            let provider = Provider::builder()
                .fetcher(one_set_then_outage(&clock))
                .clock(Arc::new(clock.clone()))
                .background_refresh(false)
                .seed(3)
                .build()
                .expect("provider");
            let first = provider.credentials().expect("first fetch");
            let expiration = first.expiration();
            // The set was issued at the start, so its monotonic deadline is LIFETIME from it.
            let usable_mono = clock.now().mono.saturating_add(LIFETIME - margin);
            drop(first);
            clock.jump_wall(wall_step_ms);
            // Where hand-outs must stop, on the monotonic clock: the earlier of the two bounds.
            let binding = if wall_step_ms > 0 {
                usable_mono.saturating_sub(Duration::from_millis(wall_step_ms.unsigned_abs()))
            } else {
                usable_mono
            };
            // Walk to 300 ms before it with the publishing skew (retries in the outage
            // republish the snapshot), then in 1 ms steps past it with the hand-out skew.
            let walk_to = binding.saturating_sub(Duration::from_millis(300));
            while clock.now().mono < walk_to {
                let step =
                    Duration::from_secs(1).min(walk_to.saturating_duration_since(clock.now().mono));
                clock.advance(step);
                let _ = provider.credentials();
            }
            clock.skew_coarse(skew_at_handout);
            let mut last_handout = None;
            for _ in 0..600 {
                if let Ok(creds) = provider.credentials() {
                    let now = clock.now();
                    assert!(
                        now.mono <= usable_mono,
                        "{case}: handed out {} ms past the monotonic deadline",
                        now.mono.saturating_duration_since(usable_mono).as_millis()
                    );
                    assert!(
                        now.wall.saturating_add(margin) <= creds.expiration(),
                        "{case}: handed out {} ms inside the margin on the wall clock",
                        now.wall
                            .saturating_add(margin)
                            .saturating_duration_since(creds.expiration())
                            .as_millis()
                    );
                    assert_eq!(creds.expiration(), expiration);
                    last_handout = Some(now.mono);
                }
                clock.advance(Duration::from_millis(1));
            }
            // The bounds cost little: hand-outs went on to within the skew allowances of the
            // deadline (so the walk did reach it).
            let last = last_handout.expect("hand-outs before the deadline");
            let early = binding.saturating_duration_since(last);
            assert!(
                early <= lag + lead + lead,
                "{case}: stopped {} ms early",
                early.as_millis()
            );
        }
    }
}
