//! `credcycle conform` against tiny fake clients (shell one-liners): whatever the client does,
//! conform finishes and says what happened, and the simulator's truth, not the client's word,
//! decides whether a hand-out was expired.
//!
//! Each run is a scenario file of a few seconds; the clients are `sh`/`bash` scripts (the
//! expired-key client speaks HTTP to the simulator through bash's `/dev/tcp`). Loopback only.

#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("conform")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs conform on a `length`-second scenario (sets living `lifetime` s) with `client` as a
/// shell script; returns the output and the parsed report.json.
fn conform(
    name: &str,
    lifetime: u32,
    length: u32,
    extra: &[&str],
    client: &str,
) -> (Output, Value) {
    let dir = scratch(name);
    let scenario = dir.join(format!("{name}.toml"));
    std::fs::write(
        &scenario,
        format!("lifetime = {lifetime}\nrotate_before = 1\nlength = {length}\n"),
    )
    .unwrap();
    let out = dir.join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_credcycle"))
        .arg("conform")
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .args(["--interval", "0.2"])
        .args(extra)
        .args(["--", "bash", "-c", client])
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (output, report)
}

fn verdicts(report: &Value) -> Vec<String> {
    report["scenarios"][0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_client_that_prints_garbage_gets_a_verdict() {
    let (o, report) = conform(
        "garbage",
        600,
        3,
        &["--require", "no-expired"],
        "while :; do echo 'hello, world'; sleep 0.2; done",
    );
    let v = verdicts(&report);
    assert!(
        v.iter()
            .any(|v| v.contains("not the contract's JSON") && v.contains("hello, world")),
        "{v:?}"
    );
    assert_eq!(report["scenarios"][0]["client_ok"], false);
    // Nothing it printed proves anything: --require no-expired does not pass it.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did not run as the contract asks"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_client_that_exits_early_gets_its_status_and_last_stderr_line() {
    let (o, report) = conform(
        "exits",
        600,
        6,
        &[],
        "echo 'starting' >&2; sleep 1; echo 'cannot find credentials' >&2; exit 3",
    );
    // The run completed: exit 0 without --require.
    assert!(o.status.success(), "{}", stderr(&o));
    let v = verdicts(&report);
    assert!(
        v.iter()
            .any(|v| v.starts_with("client exited with 3 after ")
                && v.ends_with(" s: cannot find credentials")),
        "{v:?}"
    );
    assert!(v.iter().any(|v| v == "client never asked IMDS"), "{v:?}");
}

#[test]
fn a_client_that_hangs_is_stopped_and_named() {
    let (o, report) = conform(
        "hangs",
        600,
        8,
        &[],
        r#"echo '{"error": "waiting"}'; sleep 1000"#,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = verdicts(&report);
    assert!(
        v.iter().any(
            |v| v.starts_with("client printed nothing for the last ") && v.ends_with("(hung?)")
        ),
        "{v:?}"
    );
}

#[test]
fn a_client_that_never_asks_is_named() {
    let (o, report) = conform(
        "never-asks",
        600,
        3,
        &[],
        r#"while :; do echo '{"error": "no credentials"}'; sleep 0.2; done"#,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = verdicts(&report);
    assert!(v.iter().any(|v| v == "client never asked IMDS"), "{v:?}");
}

#[test]
fn a_client_that_cannot_start_is_named() {
    let dir = scratch("cannot-start");
    let out = dir.join("report");
    let conform = || {
        Command::new(env!("CARGO_BIN_EXE_credcycle"))
            .args(["conform", "--scenario"])
            .arg(dir.join("x.toml"))
            .args(["--out"])
            .arg(&out)
            .args(["--", "/nonexistent/client"])
            .output()
            .unwrap()
    };
    // A missing scenario file is a usage failure with one line...
    let o = conform();
    assert_eq!(o.status.code(), Some(1));
    std::fs::write(dir.join("x.toml"), "length = 1\n").unwrap();
    let o = conform();
    // ...a client that cannot start is a verdict.
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let v = verdicts(&report);
    assert!(
        v[0].starts_with("client could not start: /nonexistent/client"),
        "{v:?}"
    );
}

/// Fetches one set from the simulator over bash's /dev/tcp, then replays its key forever.
const REPLAY_FIRST_KEY: &str = r#"
hp=${AWS_EC2_METADATA_SERVICE_ENDPOINT#http://}; host=${hp%:*}; port=${hp##*:}
req() {
  exec 3<>"/dev/tcp/$host/$port"
  printf '%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n%s\r\n' "$1" "$2" "$hp" "$3" >&3
  tr -d '\r' <&3 | sed '1,/^$/d'
  exec 3<&-
}
tok=$(req PUT /latest/api/token "X-aws-ec2-metadata-token-ttl-seconds: 60"$'\r\n')
role=$(req GET /latest/meta-data/iam/security-credentials/ "X-aws-ec2-metadata-token: $tok"$'\r\n')
key=$(req GET "/latest/meta-data/iam/security-credentials/$role" "X-aws-ec2-metadata-token: $tok"$'\r\n' | grep AccessKeyId | cut -d'"' -f4)
[ -n "$key" ] || { echo "no key (role: $role)" >&2; exit 1; }
while :; do echo "{\"access_key_id\": \"$key\", \"expiration\": \"2999-01-01T00:00:00Z\"}"; sleep 0.2; done
"#;

#[test]
fn a_client_that_replays_an_expired_key_is_caught_whatever_it_believes() {
    // Sets live 3 s (2 to 3 s from the fetch: IMDS times are whole seconds); the client keeps
    // handing out the first one (claiming it lasts until 2999) for 7 s.
    let (o, report) = conform(
        "replay",
        3,
        7,
        &["--require", "no-expired"],
        REPLAY_FIRST_KEY,
    );
    let total = &report["scenarios"][0]["total"];
    assert!(
        total["expired"].as_u64().unwrap() > 0,
        "handed out an expired key and conform counted none: {total}"
    );
    assert!(total["max_past_expiry"].as_f64().unwrap() > 1.0, "{total}");
    assert!(total["handouts"].as_u64().unwrap() > total["expired"].as_u64().unwrap());
    assert_eq!(total["unknown"], 0);
    assert_eq!(
        o.status.code(),
        Some(1),
        "handed out an expired key, yet --require no-expired did not fail: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("--require no-expired:") && stderr(&o).contains("expired hand-out")
    );
    // The report has the Markdown and the timeline too.
    let dir = scratch_path("replay");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| replay |"), "{md}");
    let svg = std::fs::read_to_string(dir.join("replay.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("#FF0000"),
        "no red mark"
    );
}

fn scratch_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("conform")
        .join(name)
        .join("report")
}
