//! `credcycle get` against the simulator's container endpoint over loopback: the token file
//! read at each run, a bad token named, a full URI to a host that is not allowed refused before
//! anything connects, malformed replies, and the SDKs' order under `--source auto`.
//!
//! Every run sets `AWS_EC2_METADATA_DISABLED=true`, so that no mistake can fall back to a real
//! IMDS.

use std::path::PathBuf;
use std::process::Output;

use credcycle_sim::{Scenario, SimConfig, SimContainer, SimServer};

use crate::{credcycle, one_line_failure, stderr};

const PATH: &str = "/v1/credentials";

fn sim(config: SimConfig) -> (SimServer, String) {
    let sim = SimServer::start(
        "127.0.0.1:0".parse().unwrap(),
        config.with_container(SimContainer::new(PATH, "pod-token-1")),
    )
    .unwrap();
    let url = format!("{}{PATH}", sim.url());
    (sim, url)
}

/// A token file of this test's own, holding `token`.
fn token_file(name: &str, token: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("credcycle-cli-container-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, token).unwrap();
    path
}

/// Runs `credcycle get EXTRA` with the container variables set to this URI and token file.
fn get(full_uri: &str, token_file: &PathBuf, extra: &[&str]) -> Output {
    credcycle()
        .arg("get")
        .args(extra)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file)
        .output()
        .unwrap()
}

/// The simulator with one fault from its start (`fault`: the event's TOML lines after `at`),
/// and its container credentials URL.
fn sim_with_fault(fault: &str) -> (SimServer, String) {
    let toml = format!("[[event]]\nat = 0\n{fault}");
    sim(SimConfig::default().with_scenario(Scenario::from_toml_str(&toml).unwrap()))
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn get_follows_a_token_file_that_changes_between_two_fetches() {
    let (sim, url) = sim(SimConfig::default());
    let file = token_file("changes", "pod-token-1");
    let first = json(&get(
        &url,
        &file,
        &["--source", "container", "--format", "json"],
    ));
    assert_eq!(first["Role"], "container-credentials");
    let key = first["AccessKeyId"].as_str().unwrap();
    assert!(sim.record_use(key).is_some(), "a set the simulator issued");

    // The agent now wants another token; the file still holds the old one: a 401, named.
    assert!(sim.set_authorization("pod-token-2"));
    let output = get(&url, &file, &["--source", "container"]);
    let err = one_line_failure(&output);
    assert!(
        err.starts_with(
            "credcycle: the container credentials endpoint refused the authorization token \
             (HTTP 401)"
        ),
        "{err}"
    );
    assert!(!err.contains("pod-token"), "{err}");
    assert!(output.stdout.is_empty());

    // The file rotated in place: the next fetch sends the new token (the simulator checks it).
    std::fs::write(&file, "pod-token-2").unwrap();
    let second = json(&get(&url, &file, &["--format", "json"]));
    assert_eq!(
        second["Role"], "container-credentials",
        "auto: container first"
    );
    let report = sim.report();
    assert_eq!(report.unauthorized, 1);
    assert_eq!(report.count("credentials", "200"), 2);
    assert_eq!(report.token_puts, 0, "no IMDS token");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_full_uri_to_a_host_that_is_not_allowed_is_refused_in_one_line() {
    let file = token_file("refused", "pod-token-1");
    // A timeout of ten minutes: had it connected to 10.0.0.1, this would not return at once with
    // a settings error.
    for source in ["auto", "container"] {
        let output = get(
            "http://10.0.0.1/",
            &file,
            &["--source", source, "--timeout", "600"],
        );
        assert_eq!(output.status.code(), Some(1), "{source}");
        let err = stderr(&output);
        assert_eq!(
            err,
            "credcycle: AWS_CONTAINER_CREDENTIALS_FULL_URI is refused: plain http to 10.0.0.1 is \
             allowed only for loopback (127.0.0.0/8, [::1], localhost), 169.254.170.2 (ECS), \
             169.254.170.23 or [fd00:ec2::23] (EKS Pod Identity); use https for any other host\n",
            "{source}"
        );
    }
    // --endpoint is checked by the same rule, and named as the flag.
    let output = credcycle()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "get",
            "--source",
            "container",
            "--endpoint",
            "http://192.168.1.1/x",
        ])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(
        err.starts_with("credcycle: --endpoint is refused: plain http to 192.168.1.1"),
        "{err}"
    );
}

#[test]
fn malformed_replies_and_server_errors_are_named() {
    let (_sim, url) = sim_with_fault(
        r#"
fault = "malformed"
body = "not-json"
"#,
    );
    let file = token_file("malformed", "pod-token-1");
    let output = get(&url, &file, &["--source", "container"]);
    let err = one_line_failure(&output);
    assert!(
        err.starts_with("credcycle: the container credentials endpoint sent a malformed reply: "),
        "{err}"
    );

    let (failing, url) = sim_with_fault(
        r#"
fault = "outage"
mode = "http"
status = 500
"#,
    );
    let output = get(&url, &file, &["--source", "container", "--attempts", "2"]);
    let err = one_line_failure(&output);
    assert!(
        err.starts_with("credcycle: the container credentials endpoint answered HTTP 500 (")
            && err.ends_with(" bytes, 2 attempts)\n"),
        "{err}"
    );
    assert_eq!(failing.report().count("credentials", "500"), 2);

    // An endpoint that accepts the connection and never answers: each attempt times out.
    let (silent, url) = sim_with_fault(
        r#"
fault = "outage"
mode = "timeout"
"#,
    );
    let output = get(
        &url,
        &file,
        &[
            "--source",
            "container",
            "--timeout",
            "0.2",
            "--attempts",
            "2",
        ],
    );
    assert_eq!(
        stderr(&output),
        "credcycle: the container credentials endpoint 127.0.0.1 did not answer within 200ms \
         (2 attempts)\n"
    );
    assert_eq!(silent.report().dropped, 2);

    let (_sim, url) = sim_with_fault(
        r#"
fault = "expired"
by = 30
"#,
    );
    let output = get(&url, &file, &["--source", "container"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("credcycle: no usable credentials: "),
        "{err}"
    );
    assert!(err.contains("expired"), "{err}");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn imds_flags_are_refused_for_the_container_source_and_pick_imds_under_auto() {
    let file = token_file("flags", "pod-token-1");
    let output = get(
        "http://127.0.0.1:9/x",
        &file,
        &["--source", "container", "--role", "web"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "credcycle: --role applies to IMDS only, and --source container was asked for\n"
    );
    // A credential_process child (`credcycle get --endpoint URL`) inherits its SDK's
    // environment, container variables included: its --endpoint still means IMDS.
    let (sim, _) = sim(SimConfig::default());
    let output = get(
        "http://127.0.0.1:9/x",
        &file,
        &["--endpoint", &sim.url(), "--format", "json"],
    );
    let v = json(&output);
    assert_eq!(
        v["Role"], "credcycle-sim-role",
        "IMDS, not the container endpoint"
    );
    assert_eq!(sim.report().token_puts, 1);
}
