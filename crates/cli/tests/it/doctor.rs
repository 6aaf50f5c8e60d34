//! `credcycle doctor`: each verdict driven through the simulator's faults, over loopback only
//! (the default endpoint is checked by URL in the unit tests, never connected to).

use std::process::Output;

use credcycle_sim::{Scenario, SimConfig, SimServer};
use serde_json::Value;

use crate::{closed_port, credcycle, disabled_by_the_environment};

const STEPS: [&str; 9] = [
    "settings",
    "connect",
    "token",
    "imdsv1",
    "role",
    "credentials",
    "clock",
    "iam-info",
    "container",
];

const HOP_LIMIT_FIX: &str = "fix: aws ec2 modify-instance-metadata-options --instance-id \
                             <instance-id> --http-put-response-hop-limit 2 --http-endpoint enabled";

fn start(config: SimConfig) -> SimServer {
    SimServer::start("127.0.0.1:0".parse().unwrap(), config).unwrap()
}

/// The simulator with one fault from its start (`fault`: the event's TOML lines after `at`).
fn with_fault(fault: &str) -> SimServer {
    let toml = format!("[[event]]\nat = 0\n{fault}");
    start(SimConfig::default().with_scenario(Scenario::from_toml_str(&toml).unwrap()))
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The text line of step `id` (with its `fix:` line, if any, after a newline).
    fn step(&self, id: &str) -> String {
        let mut lines = self
            .stdout
            .lines()
            .skip_while(|line| line.split_whitespace().nth(1) != Some(id) || line.starts_with(' '));
        let mut out = lines.next().unwrap_or_default().to_owned();
        if let Some(next) = lines.next().filter(|l| l.trim_start().starts_with("fix: ")) {
            out.push('\n');
            out.push_str(next.trim_start());
        }
        out
    }

    fn verdict(&self, id: &str) -> String {
        self.step(id)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

fn doctor(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = credcycle();
    command.args(["doctor", "--endpoint", url]).args(extra);
    for (name, value) in env {
        command.env(name, value);
    }
    let output: Output = command.output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn against_the_simulator_every_step_passes() {
    let sim = start(SimConfig::default());
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    for id in &STEPS[..8] {
        assert_eq!(run.verdict(id), "ok", "{id}: {}", run.stdout);
    }
    assert_eq!(run.verdict("container"), "skip", "{}", run.stdout);
    assert!(
        run.step("role")
            .ends_with("instance profile role credcycle-sim-role")
    );
    assert!(run.step("iam-info").contains(
        "instance profile arn:aws:iam::123456789012:instance-profile/credcycle-sim-role"
    ));
    assert!(run.stdout.ends_with("result: ok\n"), "{}", run.stdout);
    // Redacted: the access key id's first 8 characters, never the whole id or a secret.
    let key = sim.report().sets[0].access_key_id.clone();
    assert!(
        run.step("credentials")
            .contains(&format!("access key {}...", &key[..8])),
        "{}",
        run.stdout
    );
    assert!(run.step("credentials").contains("lifetime 6h 0m"));
    assert!(!run.stdout.contains(&key), "{}", run.stdout);
    assert!(!run.stdout.contains("Secret"), "{}", run.stdout);
}

#[test]
fn the_json_report_has_a_stable_shape() {
    let sim = start(SimConfig::default());
    let run = doctor(&sim.url(), &["--format", "json"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = json(&run);
    assert_eq!(report["endpoint"], sim.url());
    assert_eq!(report["result"], "ok");
    assert_eq!(report["failed_step"], Value::Null);
    let steps = report["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(ids, STEPS);
    for step in steps {
        let keys: Vec<&String> = step.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["data", "detail", "fix", "step", "verdict"], "{step}");
        assert!(step["data"].is_object());
    }
    let creds = &steps[5]["data"];
    assert_eq!(creds["access_key_id_prefix"].as_str().unwrap().len(), 8);
    assert_eq!(creds["lifetime_secs"], 21_600);
    assert!(creds["seconds_left"].as_i64().unwrap() > 21_000);
    assert!(creds["expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(steps[2]["data"]["ttl_secs"], 21_600);
    assert_eq!(steps[3]["data"]["enabled"], false);
    assert!(steps[6]["data"]["skew_secs"].as_f64().unwrap().abs() < 5.0);
    assert_eq!(steps[0]["data"]["endpoint_source"], "--endpoint");
}

#[test]
fn a_closed_port_stops_at_connect() {
    let port = closed_port();
    let run = doctor(&format!("http://127.0.0.1:{port}"), &[], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.verdict("connect"), "fail", "{}", run.stdout);
    assert!(run.step("connect").contains("refused"), "{}", run.stdout);
    for id in &STEPS[2..8] {
        assert_eq!(
            run.step(id),
            format!("skip  {id:<12} not run: the connect step failed"),
            "{}",
            run.stdout
        );
    }
    assert!(run.stdout.ends_with("result: fail at connect\n"));
    assert_eq!(run.stderr, "credcycle: doctor: the connect step failed\n");
    let json = json(&doctor(
        &format!("http://127.0.0.1:{port}"),
        &["--format", "json"],
        &[],
    ));
    assert_eq!(json["result"], "fail");
    assert_eq!(json["failed_step"], "connect");
}

#[test]
fn dropped_token_puts_name_the_hop_limit() {
    let sim = with_fault("fault = \"outage\"\nmode = \"timeout\"\ntarget = \"token\"\n");
    let run = doctor(&sim.url(), &["--timeout", "0.3"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(run.verdict("connect"), "ok");
    let token = run.step("token");
    assert!(token.starts_with("fail  token"), "{token}");
    assert!(token.contains("hop limit"), "{token}");
    assert!(token.ends_with(HOP_LIMIT_FIX), "{token}");
    // The IMDSv1 probe confirms it: GETs are answered, only the PUT is not.
    assert_eq!(run.verdict("imdsv1"), "ok");
    assert!(run.step("imdsv1").ends_with("which is the hop limit"));
    assert_eq!(run.verdict("role"), "skip");
    let json = json(&doctor(
        &sim.url(),
        &["--timeout", "0.3", "--format", "json"],
        &[],
    ));
    assert_eq!(json["failed_step"], "token");
    assert_eq!(json["steps"][2]["data"]["hop_limit"], true);
    assert!(
        json["steps"][2]["fix"]
            .as_str()
            .unwrap()
            .contains("--http-put-response-hop-limit 2")
    );
}

#[test]
fn an_imds_that_answers_nothing_is_not_called_the_hop_limit() {
    let sim = with_fault("fault = \"outage\"\nmode = \"timeout\"\n");
    let run = doctor(&sim.url(), &["--timeout", "0.3"], &[]);
    assert_eq!(run.code, Some(1));
    let token = run.step("token");
    assert!(token.contains("not the hop limit"), "{token}");
    assert!(!token.contains("fix:"), "{token}");
    assert_eq!(run.verdict("imdsv1"), "warn");
}

#[test]
fn a_refused_token_put_is_named() {
    let sim = with_fault("fault = \"outage\"\nmode = \"http\"\nstatus = 403\ntarget = \"token\"\n");
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(1));
    assert!(run.step("token").contains("HTTP 403"), "{}", run.stdout);
    assert!(run.step("token").contains("--http-endpoint enabled"));
}

#[test]
fn imdsv1_left_on_is_a_warning_only() {
    let sim = start(SimConfig::default().with_imdsv1(true));
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.verdict("imdsv1"), "warn");
    assert!(run.step("imdsv1").ends_with("--http-tokens required"));
    assert!(run.stdout.ends_with("result: ok, 1 warning(s)\n"));
}

#[test]
fn no_instance_profile_fails_at_the_role() {
    let sim = start(SimConfig::default().detached());
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.verdict("role"), "fail");
    assert!(run.step("role").contains("no instance profile is attached"));
    assert!(run.step("role").contains("associate-iam-instance-profile"));
    assert_eq!(run.verdict("credentials"), "skip");
}

#[test]
fn expired_credentials_fail() {
    let sim = with_fault("fault = \"expired\"\nby = 120\n");
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.verdict("credentials"), "fail", "{}", run.stdout);
    assert!(
        run.step("credentials").contains("already expired"),
        "{}",
        run.stdout
    );
    assert_eq!(run.verdict("clock"), "skip");
}

#[test]
fn the_clock_is_judged_against_the_date_header() {
    // IMDS's clock 120 s ahead: this machine is 120 s behind, past the 60 s margin.
    let behind = start(SimConfig::default().with_clock_offset_secs(120));
    let run = doctor(&behind.url(), &[], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let clock = run.step("clock");
    assert!(clock.starts_with("fail  clock"), "{clock}");
    assert!(clock.contains("behind IMDS's"), "{clock}");
    assert!(clock.contains("could be used after they expire"), "{clock}");
    assert_eq!(run.verdict("iam-info"), "skip");

    // 20 s behind: inside the margin, a warning.
    let slightly = start(SimConfig::default().with_clock_offset_secs(20));
    let run = doctor(&slightly.url(), &[], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.verdict("clock"), "warn", "{}", run.stdout);

    // 120 s ahead: credentials only look shorter-lived, a warning; 400 s ahead: AWS refuses
    // the signatures.
    let ahead = start(SimConfig::default().with_clock_offset_secs(-120));
    assert_eq!(doctor(&ahead.url(), &[], &[]).verdict("clock"), "warn");
    let far_ahead = start(SimConfig::default().with_clock_offset_secs(-400));
    let run = doctor(&far_ahead.url(), &[], &[]);
    assert_eq!(run.verdict("clock"), "fail", "{}", run.stdout);
    assert!(run.step("clock").contains("5 minutes"));
}

#[test]
fn a_broken_iam_info_fails() {
    let sim = with_fault("fault = \"outage\"\nmode = \"http\"\nstatus = 500\ntarget = \"info\"\n");
    let run = doctor(&sim.url(), &[], &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.verdict("credentials"), "ok");
    assert_eq!(
        run.step("iam-info"),
        "fail  iam-info     IMDS answered iam/info with HTTP 500"
    );
}

#[test]
fn container_variables_are_reported_never_their_tokens() {
    let sim = start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "sentinel-file-token\n").unwrap();
    let run = doctor(
        &sim.url(),
        &[],
        &[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:8080/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sentinel-env-token"),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let step = run.step("container");
    assert!(step.starts_with("ok    container"), "{step}");
    assert!(
        step.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE wins"),
        "{step}"
    );
    assert!(step.contains("http://127.0.0.1:8080/creds"), "{step}");
    assert!(!run.stdout.contains("sentinel"), "{}", run.stdout);

    // A FULL_URI the SDKs refuse fails, even with IMDS healthy.
    let run = doctor(
        &sim.url(),
        &["--format", "json"],
        &[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.1/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sentinel-env-token"),
        ],
    );
    assert_eq!(run.code, Some(1));
    let report = json(&run);
    assert_eq!(report["failed_step"], "container");
    let container = &report["steps"][8];
    assert!(
        container["detail"]
            .as_str()
            .unwrap()
            .contains("plain http to 10.0.0.1 is allowed only for loopback")
    );
    assert_eq!(
        container["data"]["set"],
        serde_json::json!([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN"
        ])
    );
    assert!(!run.stdout.contains("sentinel"));

    // A token without a URI does nothing: a warning.
    let run = doctor(
        &sim.url(),
        &[],
        &[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sentinel-env-token")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.verdict("container"), "warn", "{}", run.stdout);
    assert!(run.step("container").contains("the SDKs ignore it"));
    assert!(!run.stdout.contains("sentinel"));
}

#[test]
fn the_endpoint_can_come_from_the_profile() {
    let sim = start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile lab]\nec2_metadata_service_endpoint = {}\n",
            sim.url()
        ),
    )
    .unwrap();
    // Only once the settings surely point at loopback (see profile.rs).
    assert_eq!(
        crate::profile::resolved_endpoint(&config, Some("lab")),
        sim.url()
    );
    let output = credcycle()
        .arg("doctor")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "lab")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "ok    settings     endpoint {} (from ec2_metadata_service_endpoint in profile lab of {})",
            sim.url(),
            config.display()
        )),
        "{stdout}"
    );
}

#[test]
fn imds_disabled_fails_at_the_settings() {
    let output = disabled_by_the_environment("doctor");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout.starts_with("fail  settings     AWS_EC2_METADATA_DISABLED=true"),
        "{stdout}"
    );
    assert!(stdout.contains("skip  connect      not run: the settings step failed"));
}
