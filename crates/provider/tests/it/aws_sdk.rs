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
    // The SDK is told Expiration minus the margin, so its cache re-asks in time (INV-1).
    let usable_until = ours.expiration().saturating_sub(provider.policy_margin());
    let expected = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(
            u64::try_from(usable_until.as_unix_millis()).expect("after 1970"),
        );
    assert_eq!(expiry, expected);
    // The SDK's Debug redacts too.
    assert!(!format!("{sdk_view:?}").contains(ours.secret_access_key().expose_secret()));
    // Refused: the SDK sees a provider error naming the cause.
    sim.detach();
    provider.invalidate(ours.access_key_id());
    drop(ours);
    let err = provider.provide_credentials().await.expect_err("detached");
    assert!(format!("{err:?}").contains("instance profile"), "{err:?}");
}
