//! credcycle's client for `credcycle conform`: one `Provider`, asked for credentials every
//! `CREDCYCLE_CONFORM_INTERVAL` seconds (default 0.5), one JSON line per answer on stdout.
//! Default policy; the IMDS endpoint and its settings come from the environment
//! (`AWS_EC2_METADATA_SERVICE_ENDPOINT`...), as conform sets them.
//!
//! `cargo build --release -p credcycle --example conform_client`, then
//! `credcycle conform -- target/release/examples/conform_client`

use std::io::Write as _;
use std::time::Duration;

use credcycle::{ImdsConfig, Provider};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interval: f64 = std::env::var("CREDCYCLE_CONFORM_INTERVAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .unwrap_or(0.5);
    let provider = Provider::builder()
        .imds(ImdsConfig::builder().build_with_env()?)
        .build()?;
    let mut out = std::io::stdout().lock();
    loop {
        let line = match provider.credentials() {
            Ok(c) => serde_json::json!({
                "access_key_id": c.access_key_id().as_str(),
                "expiration": c.expiration().to_rfc3339(),
            }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(()); // conform stopped reading
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}
