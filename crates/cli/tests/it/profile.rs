//! The shared config file (`AWS_CONFIG_FILE`, `AWS_PROFILE`): `credcycle get` reads its IMDS
//! keys, below the flags and the environment. Every file here is written by the test: the
//! binary runs with an empty environment, so the machine's own ~/.aws/config is never read.
//!
//! Where the endpoint is meant to come from the profile, a broken profile layer would send the
//! binary to the default endpoint (169.254.169.254), which no test may contact. So each such
//! test first resolves the settings with the library the binary uses ([`resolved_endpoint`]),
//! and runs the binary only once they point at loopback; the other tests set an environment
//! endpoint on loopback as a backstop.

use std::path::{Path, PathBuf};
use std::process::Output;

use credcycle_sim::{SimConfig, SimServer};

use crate::{closed_port, credcycle, stderr};

fn sim() -> SimServer {
    SimServer::start("127.0.0.1:0".parse().unwrap(), SimConfig::default()).unwrap()
}

/// A loopback URL where nothing listens.
fn closed_url() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

/// A config file with a `lab` profile that points at `endpoint`, and a `default` profile that
/// points nowhere useful.
fn config_file(dir: &Path, endpoint: &str) -> PathBuf {
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "[default]\nec2_metadata_service_endpoint = {closed}\n\n\
             [profile lab] # the simulator\nregion = eu-west-1\n\
             ec2_metadata_service_endpoint = {endpoint}\nmetadata_service_num_attempts = 1\n",
            closed = closed_url()
        ),
    )
    .unwrap();
    path
}

/// The endpoint the library resolves for `AWS_CONFIG_FILE=config` and `AWS_PROFILE=profile`
/// alone, without sending anything: the binary resolves it with the same code.
pub(crate) fn resolved_endpoint(config: &Path, profile: Option<&str>) -> String {
    let config = config.to_str().unwrap().to_owned();
    let profile = profile.map(str::to_owned);
    credcycle_imds::ImdsConfig::from_env_source(move |name| match name {
        "AWS_CONFIG_FILE" => Some(config.clone()),
        "AWS_PROFILE" => profile.clone(),
        _ => None,
    })
    .unwrap()
    .endpoint()
    .to_string()
}

fn get(config: &Path, profile: Option<&str>, extra: &[(&str, &str)]) -> Output {
    let mut command = credcycle();
    command
        .args(["get", "--format", "json"])
        .env("AWS_CONFIG_FILE", config);
    if let Some(profile) = profile {
        command.env("AWS_PROFILE", profile);
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn token_puts(sim: &SimServer) -> u64 {
    sim.report().token_puts
}

#[test]
fn get_uses_the_endpoint_of_the_profile() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &sim.url());
    assert_eq!(resolved_endpoint(&config, Some("lab")), sim.url());
    let output = get(&config, Some("lab"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(printed["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(token_puts(&sim), 1, "the profile's endpoint was asked");
}

#[test]
fn the_environment_beats_the_profile() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // The profile points at a closed port, the environment at the simulator: it works.
    let config = config_file(dir.path(), &closed_url());
    let output = get(
        &config,
        Some("lab"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &sim.url())],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(token_puts(&sim), 1);

    // The other way round: the environment's closed port is used, the profile's simulator is
    // not asked.
    let config = config_file(dir.path(), &sim.url());
    let closed = closed_url();
    let output = get(
        &config,
        Some("lab"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("could not connect to IMDS at {closed}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(token_puts(&sim), 1, "the profile's endpoint was not asked");
}

#[test]
fn the_endpoint_flag_beats_both() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &closed_url());
    let output = credcycle()
        .args(["get", "--endpoint", &sim.url()])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "lab")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed_url())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn without_aws_profile_the_default_profile_is_read() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // `[default]` points at a closed port; `[profile lab]` (unused here) at the simulator.
    let config = config_file(dir.path(), &sim.url());
    assert!(resolved_endpoint(&config, None).starts_with("http://127.0.0.1:"));
    let output = get(&config, None, &[("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("could not connect to IMDS"),
        "{}",
        stderr(&output)
    );
    assert_eq!(token_puts(&sim), 0);
}

#[test]
fn a_bad_value_in_the_profile_is_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile lab]\nregion = eu-west-1\nmetadata_service_timeout = soon\n",
    )
    .unwrap();
    let output = get(
        &config,
        Some("lab"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_url())],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "credcycle: {}:3: metadata_service_timeout in profile lab is invalid (\"soon\"): \
             expected a number of seconds, such as 1 or 2.5\n",
            config.display()
        )
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_broken_file_is_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\nregion = eu-west-1\nnot a setting\n").unwrap();
    let output = get(
        &config,
        None,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed_url())],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "credcycle: {}:3: not a valid AWS config file: expected `key = value` (the line \
             has no `=`)\n",
            config.display()
        )
    );
}

#[test]
fn a_missing_file_or_profile_is_no_error() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url())];
    let endpoint: Vec<(&str, &str)> = endpoint.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = get(&dir.path().join("absent"), None, &endpoint);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let config = config_file(dir.path(), &closed_url());
    let output = get(&config, Some("only-in-credentials"), &endpoint);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
