//! `credcycle serve`'s monitoring routes over loopback, against the simulator: `/metrics` in
//! the Prometheus text format with the deadline, the state and counters that move with what
//! happened (checked against the simulator's own count), never a secret; `/healthz` 200 with
//! usable credentials and 503 without; both under the Host check, neither needing the token.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use credcycle_sim::{SimConfig, SimServer};

use crate::{Serve, credcycle, request};

const TOKEN: &str = "metrics-test-token";

fn sim(config: SimConfig) -> SimServer {
    SimServer::start("127.0.0.1:0".parse().unwrap(), config).expect("simulator")
}

/// `serve` against `sim` with the test's token, from a file.
fn serve(sim: &SimServer) -> (Serve, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).unwrap();
    let mut command = credcycle();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--endpoint"])
        .arg(sim.url())
        .arg("--auth-token-file")
        .arg(&file);
    (Serve::start(command), dir)
}

/// `GET path` with a loopback Host and no token: the whole response (head and body).
fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("a response");
    raw
}

/// Scrapes `/metrics` (no token): every sample by its name and labels, and the raw text.
fn scrape(server: &Serve) -> (HashMap<String, f64>, String) {
    let (status, text) = request(server.addr, "GET", "/metrics", "localhost", None);
    assert_eq!(status, 200, "{text}");
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line:?}"));
            (name.to_owned(), value)
        })
        .collect();
    (samples, text)
}

fn sample(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("no sample {name} in {samples:?}"))
}

#[test]
fn metrics_show_the_deadline_the_state_and_request_counters_that_move() {
    let sim = sim(SimConfig::default());
    let (server, _dir) = serve(&sim);

    let raw = raw_get(server.addr, "/metrics");
    assert!(
        raw.to_ascii_lowercase()
            .contains("\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{raw}"
    );

    // One hand-out: the serve's provider has fetched by the time /credentials answers.
    let (status, body) = server.get("localhost", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    let creds: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (samples, text) = scrape(&server);

    // The deadline: the simulator's six hours, less the 60 s margin, less the time since.
    let left = sample(&samples, "credcycle_seconds_until_usable_deadline");
    assert!(left > 0.0 && left <= 6.0 * 3600.0 - 60.0, "{left}");
    assert_eq!(sample(&samples, "credcycle_credentials_usable"), 1.0);
    assert_eq!(sample(&samples, "credcycle_state{state=\"Fresh\"}"), 1.0);
    assert_eq!(
        samples
            .iter()
            .filter(|(name, _)| name.starts_with("credcycle_state{"))
            .map(|(_, v)| v)
            .sum::<f64>(),
        1.0,
        "one state at a time"
    );

    // The request counters agree with what the simulator answered (the token PUT is the
    // client's own business, not a request of the lifecycle).
    let report = sim.report();
    let answered = report.count("role-list", "200") + report.count("credentials", "200");
    assert_eq!(answered, 2, "{report:?}");
    assert_eq!(
        sample(&samples, "credcycle_imds_requests_total{status=\"200\"}"),
        2.0
    );
    for status in [
        "401",
        "403",
        "404",
        "429",
        "4xx",
        "5xx",
        "timeout",
        "connect_error",
    ] {
        let name = format!("credcycle_imds_requests_total{{status=\"{status}\"}}");
        assert_eq!(sample(&samples, &name), 0.0, "{name}");
    }
    assert_eq!(
        sample(
            &samples,
            "credcycle_refresh_outcomes_total{outcome=\"accepted\"}"
        ),
        1.0
    );
    assert_eq!(sample(&samples, "credcycle_handouts_total"), 1.0);
    assert_eq!(
        sample(&samples, "credcycle_refusals_total{reason=\"backing_off\"}"),
        0.0
    );

    // Counters move: two more hand-outs.
    for _ in 0..2 {
        assert_eq!(server.get("localhost", Some(TOKEN)).0, 200);
    }
    let (after, _) = scrape(&server);
    assert_eq!(sample(&after, "credcycle_handouts_total"), 3.0);
    assert!(sample(&after, "credcycle_seconds_until_usable_deadline") <= left);

    // Never a secret: not the served set's secret key, session token or key id, nor the token
    // that guards it.
    for field in ["SecretAccessKey", "Token", "AccessKeyId"] {
        let value = creds[field].as_str().expect(field);
        assert!(value.len() > 10, "{field}");
        assert!(!text.contains(value), "{field} in /metrics");
    }
    assert!(!text.contains(TOKEN));
}

#[test]
fn healthz_is_200_while_usable_credentials_are_held() {
    let sim = sim(SimConfig::default());
    let (server, _dir) = serve(&sim);
    assert_eq!(server.get("localhost", Some(TOKEN)).0, 200);
    let (status, body) = request(server.addr, "GET", "/healthz", "localhost", None);
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["Healthy"], true, "{body}");
    assert_eq!(health["State"], "Fresh", "{body}");
    assert!(health["SecondsUntilUsableDeadline"].as_u64().unwrap() > 0);
}

#[test]
fn healthz_is_503_and_metrics_say_why_when_no_instance_profile_is_attached() {
    let sim = sim(SimConfig::default().detached());
    let (server, _dir) = serve(&sim);
    // The credentials route waits for the provider's look at IMDS and is refused.
    let (status, body) = server.get("localhost", Some(TOKEN));
    assert_eq!(status, 503, "{body}");
    let (status, body) = request(server.addr, "GET", "/healthz", "localhost", None);
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["Healthy"], false, "{body}");
    assert_eq!(health["State"], "Detached", "{body}");
    assert!(health["SecondsUntilUsableDeadline"].is_null(), "{body}");

    let (samples, _) = scrape(&server);
    assert_eq!(sample(&samples, "credcycle_state{state=\"Detached\"}"), 1.0);
    assert_eq!(
        sample(&samples, "credcycle_seconds_until_usable_deadline"),
        0.0
    );
    assert_eq!(sample(&samples, "credcycle_credentials_usable"), 0.0);
    assert!(sample(&samples, "credcycle_imds_requests_total{status=\"404\"}") >= 1.0);
    assert!(
        sample(
            &samples,
            "credcycle_refresh_outcomes_total{outcome=\"no_instance_profile\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &samples,
            "credcycle_refusals_total{reason=\"no_instance_profile\"}"
        ) >= 1.0
    );
    assert_eq!(sample(&samples, "credcycle_handouts_total"), 0.0);
}

#[test]
fn monitoring_is_under_the_host_check_and_needs_no_token() {
    let sim = sim(SimConfig::default());
    let (server, _dir) = serve(&sim);
    let req = |method: &str, path: &str, host: &str, auth: Option<&str>| {
        request(server.addr, method, path, host, auth)
    };
    let port = server.addr.port();
    for path in ["/metrics", "/healthz"] {
        // A page that reached the port through DNS rebinding learns nothing.
        for host in ["evil.example".to_owned(), format!("evil.example:{port}")] {
            let (status, body) = req("GET", path, &host, Some(TOKEN));
            assert_eq!(status, 403, "{path} {host}: {body}");
            assert!(!body.contains("credcycle_"), "{body}");
            assert!(!body.contains("Healthy"), "{body}");
        }
        // No token, or a wrong one: answered all the same (nothing secret is shown).
        let status = |auth| req("GET", path, "localhost", auth).0;
        assert!([200, 503].contains(&status(None)), "{path}");
        assert!([200, 503].contains(&status(Some("wrong"))), "{path}");
        assert_eq!(req("POST", path, "localhost", None).0, 405, "{path}");
    }
    // The credentials still need the token.
    assert_eq!(server.get("localhost", None).0, 401);
    assert_eq!(req("GET", "/metrics/x", "localhost", None).0, 401);
}
