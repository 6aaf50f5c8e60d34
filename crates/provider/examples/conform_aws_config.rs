//! aws-config's IMDS credentials provider (aws-sdk-rust) as a `credcycle conform` client.
//!
//! `ImdsCredentialsProvider` with its defaults, the endpoint from the environment
//! (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, as conform sets it), asked every
//! `CREDCYCLE_CONFORM_INTERVAL` seconds (default 0.5); one JSON line per answer. The provider is
//! called directly: the identity cache that each SDK service client puts in front of it is not
//! in the loop, so every attempt reaches the provider (which keeps its own last set for "static
//! stability"). The version is the workspace's pinned aws-config (Cargo.lock).
//!
//! `cargo build --release -p credcycle --example conform_aws_config --features aws-sdk-example`

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials as _;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let interval: f64 = std::env::var("CREDCYCLE_CONFORM_INTERVAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .unwrap_or(0.5);
    // aws-config is built without its default HTTPS client here (no TLS stack in the
    // workspace); IMDS is plain HTTP, so the SDK's own hyper client without TLS serves.
    let http = aws_smithy_http_client::Builder::new().build_http();
    let provider = ImdsCredentialsProvider::builder()
        .configure(&ProviderConfig::default().with_http_client(http))
        .build();
    loop {
        let line = match provider.provide_credentials().await {
            Ok(c) => {
                let mut line = serde_json::json!({ "access_key_id": c.access_key_id() });
                if let Some(expiry) = c.expiry().and_then(|e| e.duration_since(UNIX_EPOCH).ok()) {
                    line["expiration"] = rfc3339(expiry).into();
                }
                line
            }
            Err(e) => {
                serde_json::json!({ "error": format!("{e}: {:?}", std::error::Error::source(&e).map(ToString::to_string)) })
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return;
        }
        drop(out);
        tokio::time::sleep(Duration::from_secs_f64(interval)).await;
    }
}

/// `since_epoch` as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(since_epoch: Duration) -> String {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    credcycle::WallTime::from_unix_secs(secs).to_rfc3339()
}
