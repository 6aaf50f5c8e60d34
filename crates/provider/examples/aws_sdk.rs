//! Plug a credcycle `Provider` into aws-sdk-rust, offline: against an in-process IMDS
//! simulator, resolve credentials the way an SDK client would.
//!
//! `cargo run -p credcycle --example aws_sdk --features aws-sdk-example`

use aws_credential_types::provider::ProvideCredentials as _;
use credcycle::{ImdsConfig, Provider};
use credcycle_sim::{SimConfig, SimServer};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = SimServer::start("127.0.0.1:0".parse()?, SimConfig::default())?;
    let provider = Provider::builder()
        .imds(ImdsConfig::builder().endpoint(sim.url()).build()?)
        .build()?;

    // What a real program writes: every client built from this config signs with credcycle's
    // credentials, refreshed ahead of expiry and never past it.
    let config = aws_config::from_env()
        .credentials_provider(provider)
        .region("us-east-1")
        .load()
        .await;

    let resolved = config
        .credentials_provider()
        .ok_or("no credentials provider")?
        .provide_credentials()
        .await?;
    println!(
        "aws-sdk-rust resolved {} (expires {:?}) through credcycle",
        resolved.access_key_id(),
        resolved.expiry()
    );
    Ok(())
}
