//! Requests in flight: a caller's wait is bounded by the wait timeout (also the caller that
//! started the request), `invalidate` does not wait for its refresh and the rejected set is not
//! handed out meanwhile, a panicking fetcher does not wedge the Provider, and two Providers
//! holding the same set plan different refresh points (jitter from the operating system).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credcycle::{Provider, ProviderError};
use credcycle_clock::{ManualClock, SystemClock};
use credcycle_core::{
    AccessKeyId, Action, Credentials, Input, MonoTime, Now, Refusal, RoleName, SecretAccessKey,
    SessionToken, WallTime,
};

fn set(key: &str, expiration: WallTime) -> Credentials {
    Credentials::new(
        AccessKeyId::new(key),
        SecretAccessKey::new(format!("secret-{key}")),
        SessionToken::new(format!("token-{key}")),
        expiration,
    )
}

fn role(id: credcycle_core::RequestId) -> Option<Input> {
    Some(Input::RoleReply {
        id,
        result: Ok(RoleName::new("web").ok()?),
    })
}

/// Waits (at most 30 s) until no request is in flight.
fn settle(provider: &Provider) {
    for _ in 0..30_000 {
        if !provider.stats().in_flight {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("a request stayed in flight for 30 s");
}

/// IMDS answers each fetch only when the test says so (or after 30 s, which fails the test):
/// the caller that starts a request gives up after the wait timeout while it still runs, and so
/// do callers after an invalidation, which get nothing rather than the rejected set.
#[test]
fn waits_are_bounded_and_an_invalidated_set_is_not_handed_out_while_its_refresh_runs() {
    let clock = SystemClock::new();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let fetches = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&fetches);
    let fetcher = move |action: &Action| match action {
        Action::DiscoverRole { id } => role(*id),
        Action::FetchCredentials { id, .. } => {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = released
                .lock()
                .expect("channel")
                .recv_timeout(Duration::from_secs(30));
            Some(Input::CredentialsReply {
                id: *id,
                result: Ok(set(
                    &format!("ASIAFLIGHT{n}"),
                    clock.now().wall.saturating_add(Duration::from_secs(3600)),
                )),
            })
        }
        Action::Notify(_) => None,
    };
    let provider = Provider::builder()
        .fetcher(fetcher)
        .clock(Arc::new(clock))
        .background_refresh(false)
        .wait_timeout(Duration::from_millis(200))
        .build()
        .expect("provider");
    let timed_out = |err: ProviderError| {
        assert!(
            matches!(
                err,
                ProviderError::TimedOut {
                    refusal: Refusal::Fetching { .. },
                    ..
                }
            ),
            "{err:?}"
        );
    };

    // The first caller starts the fetch, which IMDS holds: it gives up after the wait timeout.
    timed_out(provider.credentials().expect_err("IMDS holds the fetch"));
    assert!(provider.stats().in_flight, "the fetch still runs");
    release.send(()).expect("release");
    settle(&provider);
    let first = provider.credentials().expect("fetched").shared();
    assert_eq!(first.access_key_id().as_str(), "ASIAFLIGHT1");

    // AWS rejects the set: invalidate returns without waiting for the refresh, which IMDS holds.
    provider.invalidate(first.access_key_id());
    assert!(provider.stats().in_flight, "the refresh runs");
    // Meanwhile the rejected set is not handed out: callers wait for the refresh (at most the
    // wait timeout) and give up while it still runs.
    for _ in 0..3 {
        timed_out(
            provider
                .credentials()
                .expect_err("nothing usable while refreshing"),
        );
    }
    release.send(()).expect("release");
    settle(&provider);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "one request for the refresh"
    );
    let second = provider.credentials().expect("refreshed");
    assert_eq!(second.access_key_id().as_str(), "ASIAFLIGHT2");
}

#[test]
fn a_panicking_fetcher_counts_as_a_failed_request_and_does_not_wedge_the_provider() {
    let clock = ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ));
    let fetches = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&fetches);
    let wall = clock.clone();
    let fetcher = move |action: &Action| match action {
        Action::DiscoverRole { id } => role(*id),
        Action::FetchCredentials { id, .. } => {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(n != 1, "the first fetch panics (SENTINEL-SECRET-{n})");
            Some(Input::CredentialsReply {
                id: *id,
                result: Ok(set(
                    "ASIAAFTERPANIC",
                    wall.now().wall.saturating_add(Duration::from_secs(3600)),
                )),
            })
        }
        Action::Notify(_) => None,
    };
    let provider = Provider::builder()
        .fetcher(fetcher)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .expect("provider");
    let err = provider.credentials().expect_err("the fetch panicked");
    let Some(Refusal::Unavailable { retry_in, .. }) = err.refusal().cloned() else {
        panic!("a failed attempt, backing off: {err:?}");
    };
    let text = err.to_string();
    assert!(text.contains("fetcher panicked"), "{text}");
    assert!(
        !text.contains("SENTINEL"),
        "not the panic's payload: {text}"
    );
    assert!(!provider.stats().in_flight, "the fetcher is back");
    assert_eq!(provider.stats().requests, 2, "the listing and the fetch");
    // After the backoff the next attempt goes out, through the same fetcher.
    clock.advance(retry_in);
    let creds = provider.credentials().expect("recovered");
    assert_eq!(creds.access_key_id().as_str(), "ASIAAFTERPANIC");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

/// The refresh point a Provider without a seed plans for a set, found by walking a ManualClock
/// in 1 ms steps through the window where it may fall: the moment its second fetch goes out.
fn refresh_point(expiration_secs: i64) -> MonoTime {
    let clock = ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ));
    let refreshed_at = Arc::new(Mutex::new(None));
    let (at, wall) = (Arc::clone(&refreshed_at), clock.clone());
    let fetches = AtomicU64::new(0);
    let fetcher = move |action: &Action| match action {
        Action::DiscoverRole { id } => role(*id),
        Action::FetchCredentials { id, .. } => {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let expiration = if n == 1 {
                // The set every process on the host holds.
                WallTime::from_unix_secs(expiration_secs)
            } else {
                *at.lock().expect("slot") = Some(wall.now().mono);
                wall.now().wall.saturating_add(Duration::from_secs(1200))
            };
            Some(Input::CredentialsReply {
                id: *id,
                result: Ok(set(&format!("ASIASHARED{n}"), expiration)),
            })
        }
        Action::Notify(_) => None,
    };
    let provider = Provider::builder()
        .fetcher(fetcher)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .expect("provider");
    provider.credentials().expect("the shared set");
    // 20-minute credentials: usable until 1140 s; the window is 5 min plus up to 20 % of it.
    clock.advance(Duration::from_secs(1140 - 361));
    for _ in 0..63_000 {
        if let Some(at) = *refreshed_at.lock().expect("slot") {
            return at;
        }
        clock.advance(Duration::from_millis(1));
        let _ = provider.credentials();
    }
    panic!("no refresh within the window");
}

#[test]
fn two_providers_holding_the_same_set_plan_different_refresh_points() {
    let expiration = 1_795_862_471 + 1200;
    let a = refresh_point(expiration);
    let b = refresh_point(expiration);
    // Both inside the jittered window (5 min to 6 min before the usable deadline)...
    for at in [a, b] {
        assert!(
            (779_000..=840_000).contains(&at.as_millis()),
            "refresh at {at}"
        );
    }
    // ...at different points of it: seeded from the operating system, not the process id
    // (which these two share, as every container's PID 1 does). Equal by chance once in
    // about 60,000 runs.
    assert_ne!(a, b, "both refresh at {a}");
}
