//! The `aws-sdk` feature: credentials resolved through aws-sdk-rust's `ProvideCredentials`,
//! against the simulator.

use aws_credential_types::provider::ProvideCredentials;
use credcycle::Provider;
use credcycle_imds::ImdsConfig;
use credcycle_sim::{SimConfig, SimServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_resolve_through_the_sdk_trait() {
    let sim =
        SimServer::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default()).expect("sim");
    let provider = Provider::builder()
        .imds(
            ImdsConfig::builder()
                .endpoint(sim.url())
                .build()
                .expect("imds"),
        )
        .build()
        .expect("provider");
    let sdk_view = provider.provide_credentials().await.expect("resolved");
    let ours = provider.credentials().expect("ours");
    assert_eq!(sdk_view.access_key_id(), ours.access_key_id().as_str());
    assert_eq!(
        sdk_view.secret_access_key(),
        ours.secret_access_key().expose_secret()
    );
    assert_eq!(
        sdk_view.session_token(),
        Some(ours.session_token().expose_secret())
    );
    let expiry = sdk_view.expiry().expect("an expiry");
    // The SDK is told the consumer expiry (INV-1 on both clocks, so its cache re-asks in time):
    // at least the margin before the Expiration the simulator issued, and not much more (the
    // coarse clocks' allowances, the request's duration and the rounding to a second).
    let at = |t: credcycle_core::WallTime| {
        std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(
                u64::try_from(t.as_unix_millis()).expect("after 1970"),
            )
    };
    let usable_until = at(ours.expiration().saturating_sub(provider.policy_margin()));
    assert!(
        expiry <= usable_until,
        "told {expiry:?}, later than Expiration - margin {usable_until:?}"
    );
    assert!(
        expiry + std::time::Duration::from_secs(5) >= usable_until,
        "told {expiry:?}, needlessly earlier than {usable_until:?}"
    );
    // The SDK's Debug redacts too.
    assert!(!format!("{sdk_view:?}").contains(ours.secret_access_key().expose_secret()));
    // Refused: the SDK sees a provider error naming the cause.
    sim.detach();
    provider.invalidate(ours.access_key_id());
    drop(ours);
    let err = provider.provide_credentials().await.expect_err("detached");
    assert!(format!("{err:?}").contains("instance profile"), "{err:?}");
}

/// After a wall-clock step back, the SDK is told an expiry from the monotonic time left, not
/// `Expiration - margin` on the (now wrong) wall clock: its cache would otherwise keep the set
/// an hour past its real expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_is_told_an_expiry_that_survives_a_wall_clock_step_back() {
    use credcycle_clock::ManualClock;
    use credcycle_core::{MonoTime, Now, WallTime};
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    let clock = ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ));
    let sim = SimServer::start_with_clock(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig::default().with_lifetime(Duration::from_secs(3600)),
        Arc::new(clock.clone()),
    )
    .expect("sim");
    let provider = Provider::builder()
        .imds(
            ImdsConfig::builder()
                .endpoint(sim.url())
                .build()
                .expect("imds"),
        )
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .expect("provider");
    let first = provider.provide_credentials().await.expect("resolved");
    let issued = provider.credentials().expect("ours").expiration();
    let ms = |t: std::time::SystemTime| {
        i64::try_from(
            t.duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis(),
        )
        .expect("fits")
    };
    let margin = provider.policy_margin();
    assert!(ms(first.expiry().expect("expiry")) <= issued.saturating_sub(margin).as_unix_millis());
    // Ten minutes later the wall clock steps back an hour.
    clock.advance(Duration::from_secs(600));
    let now = clock.jump_wall(-3_600_000);
    let after = provider.provide_credentials().await.expect("still usable");
    // 3600 s issued, 600 s gone: at most 3000 s - margin from the wall clock's reading now.
    let bound = now.wall.saturating_add(Duration::from_secs(3000) - margin);
    let told = ms(after.expiry().expect("expiry"));
    assert!(
        told <= bound.as_unix_millis(),
        "told {told}, more than the monotonic time left allows ({bound})"
    );
    assert!(told < issued.saturating_sub(margin).as_unix_millis() - 3_000_000);
}
