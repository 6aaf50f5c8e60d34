//! Plug a credcycle `Provider` into aws-sdk-rust, offline: against an in-process IMDS
//! simulator, resolve credentials the way an SDK client would.
//!
//! `cargo run -p credcycle --example aws_sdk --features aws-sdk-example`
//!
//! With the argument `interop`, it is aws-config's leg of `scripts/sdk-interop.sh`: against the
//! `credcycle sim` at `SIM_URL` and the `credcycle serve` and `credcycle get` the script set up,
//! it resolves credentials four ways and prints one JSON line for each (`sdk`, `version` from
//! `AWS_CONFIG_VERSION`, `method`, `key`, `expires` in Unix seconds) for the script to audit:
//!
//! - `credcycle-provider`: this crate's `Provider` plugged into aws-config, reading `SIM_URL`;
//! - `imds`: aws-config's own IMDS provider, reading `SIM_URL`;
//! - `credential_process`: aws-config's profile provider, profile `via-process` of
//!   `AWS_CONFIG_FILE` (which runs `credcycle get --format process`);
//! - `container`: aws-config's container provider, from `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//!   and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (which point at `credcycle serve`).

use std::error::Error;
use std::time::UNIX_EPOCH;

use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use credcycle::{ImdsConfig, Provider};
use credcycle_sim::{SimConfig, SimServer};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    match std::env::args().nth(1).as_deref() {
        None => demo().await,
        Some("interop") => interop().await,
        Some(other) => Err(format!("unknown argument {other:?}: expected none, or interop").into()),
    }
}

/// The plug-in, against an in-process simulator.
async fn demo() -> Result<(), Box<dyn Error>> {
    let sim = SimServer::start("127.0.0.1:0".parse()?, SimConfig::default())?;
    let resolved = through_aws_config(&sim.url()).await?;
    println!(
        "aws-sdk-rust resolved {} (expires {:?}) through credcycle",
        resolved.access_key_id(),
        resolved.expiry()
    );
    Ok(())
}

/// What a real program writes: every client built from this config signs with credcycle's
/// credentials, refreshed ahead of expiry and never past it.
async fn through_aws_config(imds: &str) -> Result<Credentials, Box<dyn Error>> {
    let provider = Provider::builder()
        .imds(ImdsConfig::builder().endpoint(imds).build()?)
        .build()?;
    let config = aws_config::from_env()
        .credentials_provider(provider)
        .region("us-east-1")
        .load()
        .await;
    Ok(config
        .credentials_provider()
        .ok_or("no credentials provider")?
        .provide_credentials()
        .await?)
}

/// aws-config's leg of `scripts/sdk-interop.sh` (see the module docs).
async fn interop() -> Result<(), Box<dyn Error>> {
    let sim = std::env::var("SIM_URL").map_err(|_| "SIM_URL is not set")?;
    // Plain HTTP on loopback needs no TLS stack: aws-smithy-http-client's hyper client without
    // TLS (`build_http`, public though left out of its docs).
    let http = aws_smithy_http_client::Builder::new().build_http();
    // The process environment (AWS_CONFIG_FILE, AWS_CONTAINER_*), as aws-config reads it.
    let config = ProviderConfig::default().with_http_client(http);

    report("credcycle-provider", &through_aws_config(&sim).await?)?;

    let imds = aws_config::imds::Client::builder()
        .configure(&config)
        .endpoint(&sim)
        .map_err(|e| format!("SIM_URL: {e}"))?
        .build();
    let creds = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .configure(&config)
        .imds_client(imds)
        .build()
        .provide_credentials()
        .await?;
    report("imds", &creds)?;

    let creds = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .configure(&config)
        .profile_name("via-process")
        .build()
        .provide_credentials()
        .await?;
    report("credential_process", &creds)?;

    let creds = aws_config::ecs::EcsCredentialsProvider::builder()
        .configure(&config)
        .build()
        .provide_credentials()
        .await?;
    report("container", &creds)?;
    Ok(())
}

/// One JSON line: which way, which key, and the expiry aws-config was told (no secret).
fn report(method: &str, creds: &Credentials) -> Result<(), Box<dyn Error>> {
    let expires = creds
        .expiry()
        .ok_or_else(|| format!("{method}: no expiry"))?
        .duration_since(UNIX_EPOCH)?
        .as_secs_f64();
    if creds.secret_access_key().is_empty() || creds.session_token().is_none() {
        return Err(format!("{method}: incomplete credentials").into());
    }
    println!(
        "{{\"sdk\":\"aws-config (Rust)\",\"version\":\"{}\",\"method\":\"{method}\",\"key\":\"{}\",\"expires\":{expires}}}",
        std::env::var("AWS_CONFIG_VERSION").unwrap_or_default(),
        creds.access_key_id()
    );
    Ok(())
}
