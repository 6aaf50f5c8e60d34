//! The CLI's observable contract: what other tools and scripts rely on when they run `credcycle`.
//!
//! - `sim` speaks IMDSv2 as EC2 does (TTL rules, `X-Forwarded-For`, the TTL echo, 401 without a
//!   token, the credentials document) and prints `listening on http://HOST:PORT` first;
//! - `get` prints the `process`, `env` and `json` formats; a failure is one line on stderr with
//!   exit code 1, bad usage exits with 2;
//! - `watch --format jsonl` prints one secret-free JSON object per line and stops cleanly on
//!   Ctrl-C;
//! - `serve` prints `listening on http://HOST:PORT/credentials` first and checks the token;
//! - `diagram`, `check` and `demo` exit 0 (for `demo`: no credentials were used past expiry);
//! - `check --explore` listens on loopback only and prints `listening on http://HOST:PORT` first.
//!
//! Every server is started on 127.0.0.1 port 0 and the test learns its address from the
//! `listening on` line. Each child process sits in a guard that kills and reaps it when dropped,
//! so a failing assertion leaves no process behind. Nothing here leaves the loopback interface.
//!
//! Durations: [`demo_uses_no_expired_credentials`] plays the whole demo story at `--speed 3`,
//! about 14 s of wall time (mostly waiting, little CPU), the slowest test here. `check` runs at
//! `--depth 5`, about 5 s in a debug build (the default depth 6 takes about a minute unoptimized;
//! it is checked in release by the `credcycle-model` crate's own `check` test; below depth 5 some
//! table rows are never taken, which `check` reports as a failure).
//! The waits below are hang guards, not timing assertions: they only turn a stuck child into a
//! failure with a message.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

/// How long a child may take to print a line or to exit before the test gives up on it.
const HANG_GUARD: Duration = Duration::from_secs(60);
const TTL: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "X-aws-ec2-metadata-token";
const CREDS: &str = "/latest/meta-data/iam/security-credentials/";

/// `credcycle` with no `AWS_*` variable inherited from whoever runs the tests.
fn credcycle() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credcycle"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    // Nor the machine's own ~/.aws/config: a file that is not there.
    cmd.env(
        "AWS_CONFIG_FILE",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/no-such-aws-config"),
    );
    cmd.env_remove("RUST_LOG").stdin(Stdio::null());
    cmd
}

/// Runs `credcycle ARGS` to completion.
fn run(args: &[&str]) -> Output {
    credcycle().args(args).output().expect("run credcycle")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// A running `credcycle` subcommand whose stdout is read line by line; killed and reaped on drop.
struct Process {
    child: Child,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(args: &[&str]) -> Self {
        let mut child = credcycle()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn credcycle");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        // Reads every line, so the child never blocks on a full pipe; ends at EOF (child gone).
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line the child prints (panics if it exits or stays silent).
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(HANG_GUARD)
            .expect("the child printed no further line (exited or hung)")
    }

    /// Waits for the child to exit by itself (polling: the standard library has no timed wait).
    fn wait(&mut self) -> ExitStatus {
        let mut waited = Duration::ZERO;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(waited < HANG_GUARD, "the child did not exit");
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server subcommand and returns it with the URL of its `listening on` line, which
/// must be the first line on stdout: `http://127.0.0.1:PORT` followed by `path`.
fn listen(args: &[&str], path: &str) -> (Process, String) {
    let child = Process::spawn(args);
    let first = child.next_line();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line is not 'listening on URL': {first:?}"))
        .to_owned();
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix(path))
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("not http://127.0.0.1:PORT{path}: {url:?}"));
    assert_ne!(port, 0, "the line names the port actually bound");
    (child, url)
}

fn sim() -> (Process, String) {
    listen(&["sim", "--listen", "127.0.0.1:0"], "")
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Status, headers and body of a reply.
fn reply(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, ureq::http::HeaderMap, String) {
    let mut response = result.expect("HTTP request failed");
    let body = response.body_mut().read_to_string().expect("body");
    (response.status().as_u16(), response.headers().clone(), body)
}

fn put_token(sim: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let mut request = http().put(format!("{sim}/latest/api/token"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.send_empty())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, as IMDS writes `Expiration`.
fn is_imds_timestamp(s: &str) -> bool {
    let Some(s) = s.strip_suffix('Z') else {
        return false;
    };
    let (main, fraction) = s.split_once('.').unwrap_or((s, "1"));
    let shape = "dddd-dd-ddTdd:dd:dd";
    main.len() == shape.len()
        && main.bytes().zip(shape.bytes()).all(|(c, want)| {
            if want == b'd' {
                c.is_ascii_digit()
            } else {
                c == want
            }
        })
        && !fraction.is_empty()
        && fraction.bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn the_timestamp_shape_check_can_fail() {
    assert!(is_imds_timestamp("2026-11-28T10:41:11Z"));
    assert!(is_imds_timestamp("2026-11-28T10:41:11.250Z"));
    for bad in [
        "2026-11-28T10:41:11",
        "2026-11-28 10:41:11Z",
        "2026-11-28T10:41:1Z",
        "2026-11-28T10:41:11.Z",
        "2026-11-28T10:41:11+00:00",
    ] {
        assert!(!is_imds_timestamp(bad), "{bad}");
    }
}

#[test]
fn sim_speaks_imdsv2() {
    let (_sim, sim) = sim();

    assert_eq!(put_token(&sim, &[]).0, 400, "PUT without a TTL");
    assert_eq!(put_token(&sim, &[(TTL, "21601")]).0, 400, "TTL above 21600");
    assert_eq!(
        put_token(&sim, &[(TTL, "60"), ("X-Forwarded-For", "10.0.0.1")]).0,
        403,
        "a token PUT carrying X-Forwarded-For"
    );
    let (status, headers, token) = put_token(&sim, &[(TTL, "60")]);
    assert_eq!(status, 200);
    assert_eq!(
        headers.get(TTL).and_then(|v| v.to_str().ok()),
        Some("60"),
        "the TTL is echoed"
    );
    assert!(!token.is_empty());

    let listing = format!("{sim}{CREDS}");
    assert_eq!(reply(http().get(&listing).call()).0, 401, "no token");
    let (status, _, role) = reply(http().get(&listing).header(TOKEN, &token).call());
    assert_eq!(status, 200);
    let role = role.trim();
    assert!(!role.is_empty(), "a role is listed");

    let (status, _, body) = reply(
        http()
            .get(format!("{listing}{role}"))
            .header(TOKEN, &token)
            .call(),
    );
    assert_eq!(status, 200);
    let creds = json(&body);
    for key in [
        "Code",
        "LastUpdated",
        "Type",
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
    ] {
        assert!(creds.get(key).is_some(), "{key} missing from {creds}");
    }
    assert_eq!(creds["Code"], "Success");
    let expiration = creds["Expiration"]
        .as_str()
        .expect("Expiration is a string");
    assert!(is_imds_timestamp(expiration), "{expiration}");

    let (status, _, report) = reply(http().get(format!("{sim}/_sim/report")).call());
    assert_eq!(status, 200);
    assert!(json(&report).is_object(), "{report}");
}

#[test]
fn get_prints_each_format() {
    let (_sim, sim) = sim();

    let process = json(&stdout(&run(&[
        "get",
        "--endpoint",
        &sim,
        "--format",
        "process",
    ])));
    assert_eq!(process["Version"], 1);
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            process[key].is_string(),
            "{key} missing from the process format"
        );
    }

    let env = stdout(&run(&["get", "--endpoint", &sim, "--format", "env"]));
    assert!(
        env.lines()
            .any(|l| l.starts_with("export AWS_SESSION_TOKEN=")),
        "{env}"
    );

    let json_format = json(&stdout(&run(&[
        "get",
        "--endpoint",
        &sim,
        "--format",
        "json",
    ])));
    assert!(json_format.is_object());
}

#[test]
fn get_fails_in_one_line_with_exit_code_1() {
    // A port that nothing listens on: bound by us, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let out = run(&[
        "get",
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--attempts",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("credcycle: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_usage_exits_with_2() {
    let out = run(&["get", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = run(&["check", "--depth", "13"]);
    assert_eq!(out.status.code(), Some(2), "depth is 1..=12");
}

#[cfg(unix)]
#[test]
fn watch_jsonl_prints_secret_free_objects_and_stops_on_ctrl_c() {
    let (_sim, sim) = sim();
    let mut watch = Process::spawn(&[
        "watch",
        "--endpoint",
        &sim,
        "--interval",
        "0.2",
        "--format",
        "jsonl",
    ]);
    for _ in 0..3 {
        let line = watch.next_line();
        let row = json(&line);
        assert!(row["t"].is_number(), "{line}");
        assert!(
            (row.get("akid").is_some() && row.get("exp").is_some()) || row.get("error").is_some(),
            "{line}"
        );
        assert!(!line.contains("SecretAccessKey"), "{line}");
        assert!(row.get("Token").is_none(), "{line}");
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&watch.child),
        rustix::process::Signal::INT,
    )
    .expect("send SIGINT");
    assert!(watch.wait().success(), "watch exits 0 on Ctrl-C");
}

#[test]
fn serve_announces_its_url_and_checks_the_token() {
    let (_sim, sim) = sim();
    let (_serve, url) = listen(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            &sim,
            "--auth-token",
            "contract-token",
        ],
        "/credentials",
    );

    let (status, _, body) = reply(
        http()
            .get(&url)
            .header("Authorization", "contract-token")
            .call(),
    );
    assert_eq!(status, 200, "{body}");
    let creds = json(&body);
    for key in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(
            creds[key].is_string(),
            "{key} missing from the container shape"
        );
    }

    let (status, _, body) = reply(http().get(&url).header("Authorization", "wrong").call());
    assert_eq!(status, 401);
    assert!(!body.contains(creds["SecretAccessKey"].as_str().unwrap_or("?")));
}

#[test]
fn diagram_prints_mermaid_and_dot() {
    let mermaid = stdout(&run(&["diagram", "--format", "mermaid"]));
    assert!(mermaid.contains("stateDiagram"), "{mermaid}");
    let dot = stdout(&run(&["diagram", "--format", "dot"]));
    assert!(dot.contains("digraph"), "{dot}");
}

#[test]
fn check_finds_no_violation() {
    let report = stdout(&run(&["check", "--depth", "5"]));
    assert!(
        report.starts_with("exhaustive check of credcycle_core::step, depth 5:"),
        "{report}"
    );
    assert!(report.contains("INV-1 no expired hand-out"), "{report}");
}

/// `check --explore` serves the model on loopback only, announces the port it bound first,
/// and answers stateright's API: the two initial states (unpinned, pinned), then the steps
/// from one, each naming the kinds and the rule taken.
#[test]
fn check_explore_serves_the_model_on_loopback_only() {
    for addr in ["0.0.0.0:0", "192.0.2.1:3000", "[::]:0"] {
        let out = run(&["check", "--explore", "--listen", addr]);
        assert_eq!(out.status.code(), Some(1), "{addr}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("is not a loopback address"), "{err}");
    }
    let (_explorer, url) = listen(
        &[
            "check",
            "--explore",
            "--listen",
            "127.0.0.1:0",
            "--depth",
            "3",
        ],
        "",
    );
    let (status, _, body) = reply(http().get(format!("{url}/.states")).call());
    assert_eq!(status, 200);
    let inits = json(&body);
    let inits = inits.as_array().expect("a list of initial states");
    assert_eq!(inits.len(), 2, "{body}");
    assert!(
        inits
            .iter()
            .all(|s| s["state"].as_str().unwrap_or("").contains("kind: Idle,")),
        "{body}"
    );
    let (status, _, body) = reply(http().get(format!("{url}/.states/0")).call());
    assert_eq!(status, 200);
    let steps = json(&body);
    let first = &steps[0];
    assert_eq!(first["action"], "Demand", "{body}");
    let outcome = first["outcome"].as_str().unwrap_or("");
    assert!(
        outcome.starts_with("kind: Idle -> Discovering\nrule: R1 "),
        "{outcome}"
    );
    let (status, _, _) = reply(http().get(format!("{url}/.states/0/99999")).call());
    assert_eq!(status, 404, "a transition that does not exist");
}

/// The whole demo story at three times its speed: about 14 s.
#[test]
fn demo_uses_no_expired_credentials() {
    let out = run(&["demo", "--speed", "3"]);
    let text = stdout(&out);
    let expired = text
        .lines()
        .find(|l| l.contains("EXPIRED USES (must be 0)"))
        .unwrap_or_else(|| panic!("no summary line: {text}"));
    assert_eq!(expired.split_whitespace().last(), Some("0"), "{expired}");
}

/// `credcycle diagram | head -1` and the like: a reader that stops early is not a crash. The
/// child's stdout is a pipe whose read end is closed before the child starts, so every write
/// fails with EPIPE, in every run.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `check` at depth 1 is quick; it exits 1 there (some table rows are never taken), which is
    // not what this test is about: only a panic (exit code 101) is.
    for args in [&["diagram"][..], &["check", "--depth", "1"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = credcycle()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn credcycle")
            .wait_with_output()
            .expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        if args[0] == "diagram" {
            assert!(out.status.success(), "{:?} {stderr}", out.status);
        }
    }
}
