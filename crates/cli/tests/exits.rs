//! INV-1 at the CLI's exits: against the IMDS simulator over loopback, `credcycle get` (every
//! format) and `credcycle serve` tell their consumer an `Expiration` at least the expiry margin
//! (60 s) before the one the simulator issued.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use credcycle_sim::{SimConfig, SimServer};

const MARGIN_SECS: i64 = 60;

fn sim() -> SimServer {
    SimServer::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default()).expect("sim")
}

fn credcycle() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_credcycle"));
    // Never the machine's own ~/.aws/config: a file that is not there.
    command.env(
        "AWS_CONFIG_FILE",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/no-such-aws-config"),
    );
    command
}

fn unix_secs(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"))
        .timestamp()
}

/// The `Expiration` the simulator issued for `access_key_id`.
fn issued(sim: &SimServer, access_key_id: &str) -> i64 {
    let record = sim
        .record_use(access_key_id)
        .expect("a set the simulator issued");
    unix_secs(&record.expiration)
}

fn get(sim: &SimServer, format: &str) -> String {
    let out = credcycle()
        .args(["get", "--endpoint", &sim.url(), "--format", format])
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .output()
        .expect("run credcycle get");
    assert!(
        out.status.success(),
        "credcycle get --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn assert_keeps_the_margin(told: i64, issued: i64, exit: &str) {
    assert!(
        told + MARGIN_SECS <= issued,
        "{exit}: told {told}, issued {issued}: less than {MARGIN_SECS} s apart"
    );
}

#[test]
fn get_process_and_json_tell_an_expiration_inside_the_margin() {
    let sim = sim();
    for format in ["process", "json"] {
        let v: serde_json::Value = serde_json::from_str(&get(&sim, format)).expect("json");
        let key = v["AccessKeyId"].as_str().expect("AccessKeyId");
        let told = unix_secs(v["Expiration"].as_str().expect("Expiration"));
        let issued = issued(&sim, key);
        assert_keeps_the_margin(told, issued, format);
        if format == "json" {
            let raw = unix_secs(v["IssuedExpiration"].as_str().expect("IssuedExpiration"));
            assert_eq!(raw, issued, "json shows the issued Expiration, labelled");
        } else {
            assert!(v.get("IssuedExpiration").is_none(), "process: one expiry");
        }
    }
}

#[test]
fn get_env_tells_an_expiration_inside_the_margin() {
    let sim = sim();
    let text = get(&sim, "env");
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim_matches('\'')
            .to_owned()
    };
    let told = unix_secs(&value("AWS_CREDENTIAL_EXPIRATION"));
    assert_keeps_the_margin(told, issued(&sim, &value("AWS_ACCESS_KEY_ID")), "env");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_tells_an_expiration_inside_the_margin() {
    let sim = sim();
    let dir = std::env::temp_dir().join(format!(
        "credcycle-exits-{}",
        credcycle::random_seed() % 1_000_000_000
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "exits-test-token\n").expect("token file");
    let mut server = Server(
        credcycle()
            .args(["serve", "--listen", "127.0.0.1:0", "--endpoint", &sim.url()])
            .arg("--auth-token-file")
            .arg(&token_file)
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run credcycle serve"),
    );
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the listening line");
    let url = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let (addr, path) = url.split_once('/').expect("host:port/path");
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: exits-test-token\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let _ = std::fs::remove_dir_all(&dir);
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v: serde_json::Value = serde_json::from_str(body).expect("json body");
    let told = unix_secs(v["Expiration"].as_str().expect("Expiration"));
    let key = v["AccessKeyId"].as_str().expect("AccessKeyId");
    assert_keeps_the_margin(told, issued(&sim, key), "serve");
}
