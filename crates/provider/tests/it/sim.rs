//! The Provider against the IMDS simulator over loopback.

use std::sync::Arc;
use std::time::Duration;

use credcycle::{Provider, ProviderError};
use credcycle_clock::{Clock, ManualClock};
use credcycle_core::{MonoTime, Now, Policy, Refusal, StateKind, WallTime};
use credcycle_imds::ImdsConfig;
use credcycle_sim::{SimConfig, SimServer};

fn start(clock: &ManualClock, config: SimConfig) -> (SimServer, Provider) {
    let sim = SimServer::start_with_clock(
        "127.0.0.1:0".parse().expect("addr"),
        config.with_seed(11),
        Arc::new(clock.clone()),
    )
    .expect("sim");
    let imds = ImdsConfig::builder()
        .endpoint(sim.url())
        .timeout(Duration::from_millis(300))
        .num_attempts(1)
        .build()
        .expect("imds");
    let provider = Provider::builder()
        .imds(imds)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .seed(5)
        .build()
        .expect("provider");
    (sim, provider)
}

fn manual() -> ManualClock {
    ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ))
}

#[test]
fn cold_start_takes_three_requests_and_each_refresh_one() {
    let clock = manual();
    // One-hour credentials: several refreshes within the 6 h life of one session token.
    let (sim, provider) = start(
        &clock,
        SimConfig::default().with_lifetime(Duration::from_secs(3600)),
    );
    let first = provider.credentials().expect("credentials");
    let report = sim.report();
    assert_eq!(report.token_puts, 1);
    assert_eq!(report.count("role-list", "200"), 1);
    assert_eq!(report.count("credentials", "200"), 1);
    // Hot path: no more requests.
    for _ in 0..1_000 {
        assert_eq!(
            provider.credentials().expect("cached").access_key_id(),
            first.access_key_id()
        );
    }
    assert_eq!(sim.report().count("credentials", "200"), 1);
    // Steady state: past each refresh point (IMDS rotates 5 min before expiry, so walk to just
    // after that), one request per refresh.
    let mut last = first.access_key_id().clone();
    drop(first);
    for round in 1..=4 {
        clock.advance(Duration::from_secs(3600 - 290));
        // Without a background thread, the first caller past the refresh point carries out the
        // refresh, waits for it, and gets what passes INV-1 when it returns: the new set (not
        // the one it checked before the refresh, which may have run out meanwhile).
        let creds = provider.credentials().expect("refreshed");
        assert_ne!(creds.access_key_id(), &last, "round {round}: rotated");
        last = creds.access_key_id().clone();
        drop(creds);
        let slow_calls = provider.stats().slow_calls;
        assert_eq!(
            provider.credentials().expect("cached").access_key_id(),
            &last
        );
        assert_eq!(
            provider.stats().slow_calls,
            slow_calls,
            "round {round}: the next caller takes the hot path"
        );
        let report = sim.report();
        assert_eq!(
            report.count("credentials", "200"),
            1 + round,
            "round {round}: one request per refresh"
        );
        assert_eq!(report.token_puts, 1, "round {round}: token cached");
        assert_eq!(
            report.count("role-list", "200"),
            1,
            "round {round}: role cached"
        );
    }
}

#[test]
fn expired_credentials_are_never_handed_out_while_imds_is_down() {
    let clock = manual();
    let (sim, provider) = start(
        &clock,
        SimConfig::default().with_lifetime(Duration::from_secs(900)),
    );
    let creds = provider.credentials().expect("first");
    let expiration = creds.expiration();
    drop(creds);
    drop(sim); // IMDS gone
    // Walk through the last minutes: every hand-out keeps the 60 s margin, on both clocks.
    for _ in 0..200 {
        clock.advance(Duration::from_secs(5));
        match provider.credentials() {
            Ok(c) => {
                assert!(clock.now().wall.saturating_add(Duration::from_secs(60)) <= c.expiration())
            }
            Err(e) => assert!(
                clock.now().wall.saturating_add(Duration::from_secs(60)) > expiration,
                "{e}"
            ),
        }
    }
    let err = provider.credentials().expect_err("expired");
    assert!(
        matches!(
            err.refusal(),
            Some(Refusal::Unavailable { .. } | Refusal::Expired { .. })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("refused") || text.contains("IMDS"),
        "names the cause: {text}"
    );
}

#[test]
fn a_backing_off_provider_refuses_at_once_without_asking_imds() {
    let clock = manual();
    let (sim, provider) = start(&clock, SimConfig::default().detached());
    let err = provider.credentials().expect_err("no profile");
    assert!(
        matches!(
            err,
            ProviderError::Refused {
                refusal: Refusal::Detached { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let before = sim.report().count("role-list", "404");
    for _ in 0..100 {
        assert!(provider.credentials().is_err());
    }
    assert_eq!(
        sim.report().count("role-list", "404"),
        before,
        "INV-4: demands during backoff ask nothing"
    );
    assert_eq!(provider.state(), StateKind::Detached);
    // Attached again: found within the refusing backoff cap.
    sim.attach(credcycle_core::RoleName::new("back").expect("role"));
    clock.advance(Policy::default().backoff_cap_refusing());
    provider.credentials().expect("re-attached");
}

#[test]
fn invalidation_drops_only_the_rejected_set() {
    let clock = manual();
    let (sim, provider) = start(&clock, SimConfig::default());
    let first = provider
        .credentials()
        .expect("first")
        .access_key_id()
        .clone();
    provider.invalidate(&credcycle_core::AccessKeyId::new("ASIASOMEONEELSE"));
    assert_eq!(
        provider.credentials().expect("kept").access_key_id(),
        &first
    );
    clock.advance(Duration::from_secs(60));
    sim.rotate().expect("rotate");
    provider.invalidate(&first);
    let second = provider
        .credentials()
        .expect("replaced")
        .access_key_id()
        .clone();
    assert_ne!(second, first);
}

#[test]
fn background_refresh_keeps_credentials_fresh_without_callers_waiting() {
    // Real time, short lifetimes: the one test here that needs a running clock.
    let sim = SimServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig::default()
            .with_lifetime(Duration::from_secs(8))
            .with_rotate_before(Duration::from_secs(6))
            .with_seed(2),
    )
    .expect("sim");
    let policy = Policy::builder()
        .expiry_margin(Duration::from_secs(1))
        .build()
        .expect("policy");
    let provider = Provider::builder()
        .imds(
            ImdsConfig::builder()
                .endpoint(sim.url())
                .build()
                .expect("imds"),
        )
        .policy(policy)
        .build()
        .expect("provider");
    let first = provider
        .credentials()
        .expect("first")
        .access_key_id()
        .clone();
    // Usable for 7 s; the refresh is due within half of that, and IMDS rotates 2 s after
    // issue. Ask (bounded) until the background thread has brought the new set: the simulator
    // counting a second 200 is not enough, since that reply may still be on its way into the
    // Provider, or may be the same set (asked before the rotation).
    let slow_calls = provider.stats().slow_calls;
    let deadline = provider
        .clock()
        .now()
        .mono
        .saturating_add(Duration::from_secs(10));
    loop {
        let key = provider
            .credentials()
            .expect("fresh")
            .access_key_id()
            .clone();
        assert_eq!(
            provider.stats().slow_calls,
            slow_calls,
            "every caller took the hot path"
        );
        if key != first {
            break;
        }
        assert!(
            provider.clock().now().mono < deadline,
            "the background thread did not rotate the set within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sim.report().count("credentials", "200") >= 2,
        "the new set came from IMDS"
    );
}
