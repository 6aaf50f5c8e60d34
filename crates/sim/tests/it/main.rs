//! Loopback integration tests: a real `SimServer` on 127.0.0.1, real HTTP.
//!
//! Time-dependent behaviour runs on a `ManualClock`, so nothing here sleeps to make time pass;
//! the only waits are the client timeouts of the `Drop` test and a scripted 300 ms delay.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use credcycle_clock::{ManualClock, SystemClock};
use credcycle_core::{MonoTime, Now, RoleName, WallTime};
use credcycle_sim::{Report, Scenario, SimConfig, SimServer};
use serde_json::Value;

const TTL: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "X-aws-ec2-metadata-token";
const CREDS: &str = "/latest/meta-data/iam/security-credentials/";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn client() -> ureq::Agent {
    agent(Duration::from_secs(5))
}

/// Status, the TTL header and the body of a reply.
fn parts(
    reply: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, Option<String>, String) {
    let mut reply = reply.expect("request failed");
    let ttl = reply
        .headers()
        .get(TTL)
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = reply
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = reply.status().as_u16();
    let body = reply.body_mut().read_to_string().unwrap();
    assert!(content_type.is_some(), "every reply has a Content-Type");
    (status, ttl, body)
}

fn put_token(agent: &ureq::Agent, base: &str, ttl: &str) -> (u16, Option<String>, String) {
    parts(
        agent
            .put(format!("{base}/latest/api/token"))
            .header(TTL, ttl)
            .send_empty(),
    )
}

fn get(agent: &ureq::Agent, url: &str, token: &str) -> (u16, String) {
    let (status, _, body) = parts(agent.get(url).header(TOKEN, token).call());
    (status, body)
}

/// A server (on the system clock) playing this scenario.
fn with_scenario(toml: &str) -> SimServer {
    let scenario = Scenario::from_toml_str(toml).unwrap();
    SimServer::start(loopback(), SimConfig::default().with_scenario(scenario)).unwrap()
}

/// A server with this seed and set lifetime, on a manual clock that starts at `mono` and
/// 2026-11-28T10:41:11Z.
fn on_a_manual_clock(mono: MonoTime, seed: u64, lifetime: Duration) -> (SimServer, ManualClock) {
    let clock = ManualClock::new(Now::new(mono, WallTime::from_unix_secs(1_795_862_471)));
    let config = SimConfig::default().with_seed(seed).with_lifetime(lifetime);
    let server = SimServer::start_with_clock(loopback(), config, Arc::new(clock.clone())).unwrap();
    (server, clock)
}

/// One raw HTTP/1.1 exchange: everything read until the server closes, or the read error.
fn raw(addr: SocketAddr, request: &str, timeout: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn token_flow_and_credentials_shape() {
    let server = SimServer::start(loopback(), SimConfig::default().with_seed(11)).unwrap();
    let base = server.url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let http = client();

    // IMDSv2 rules over the wire.
    let (status, _, _) = parts(http.put(format!("{base}/latest/api/token")).send_empty());
    assert_eq!(status, 400, "PUT without TTL");
    assert_eq!(put_token(&http, &base, "21601").0, 400);
    assert_eq!(put_token(&http, &base, "0").0, 400);
    let (status, _, _) = parts(
        http.put(format!("{base}/latest/api/token"))
            .header(TTL, "60")
            .header("X-Forwarded-For", "10.0.0.1")
            .send_empty(),
    );
    assert_eq!(status, 403);
    let (status, ttl, token) = put_token(&http, &base, "60");
    assert_eq!(status, 200);
    assert_eq!(ttl.as_deref(), Some("60"), "TTL echoed");
    assert!(!token.is_empty() && !token.contains('\n'));

    let (status, _, _) = parts(http.get(format!("{base}{CREDS}")).call());
    assert_eq!(status, 401, "no token");
    assert_eq!(get(&http, &format!("{base}{CREDS}"), "bogus").0, 401);
    let (status, role) = get(&http, &format!("{base}{CREDS}"), &token);
    assert_eq!((status, role.as_str()), (200, "credcycle-sim-role"));

    let (status, body) = get(&http, &format!("{base}{CREDS}{role}"), &token);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    let mut expected = vec![
        "AccessKeyId",
        "Code",
        "Expiration",
        "LastUpdated",
        "SecretAccessKey",
        "Token",
        "Type",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(v["Code"], "Success");
    assert_eq!(v["Type"], "AWS-HMAC");
    assert!(body.starts_with("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \""));
    let exp = v["Expiration"].as_str().unwrap();
    assert_eq!(exp.len(), 20);
    assert!(exp.ends_with('Z') && exp.as_bytes()[10] == b'T');

    let ext = format!("{base}/latest/meta-data/iam/security-credentials-extended/{role}");
    let (status, body) = get(&http, &ext, &token);
    assert_eq!(status, 200);
    let v2: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v2["AccountId"], "123456789012");
    assert_eq!(v2["AccessKeyId"], v["AccessKeyId"]);

    // Wrong methods.
    let (status, _, _) = parts(http.post(format!("{base}{CREDS}")).send_empty());
    assert_eq!(status, 405);
    let (status, _, _) = parts(http.get(format!("{base}/latest/api/token")).call());
    assert_eq!(status, 405);
    assert_eq!(get(&http, &format!("{base}/nope"), &token).0, 404);

    let report = server.report();
    assert_eq!(report.issued, 1);
    assert_eq!(report.tokens_issued, 1);
    assert_eq!(report.token_puts, 5);
    assert_eq!(report.count("credentials", "200"), 2);
    server.shutdown().unwrap();
}

#[test]
fn headers_on_the_wire_look_like_imds() {
    let server = SimServer::start(loopback(), SimConfig::default().with_seed(3)).unwrap();
    let reply = raw(
        server.local_addr(),
        "PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(
        reply.contains("\r\nContent-Type: text/plain\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains("\r\nX-Aws-Ec2-Metadata-Token-Ttl-Seconds: 21600\r\n"),
        "{reply}"
    );
    assert!(reply.contains("\r\nServer: EC2ws\r\n"), "{reply}");
    // One `Date`, the simulator's (hyper adds its own only when a reply has none).
    assert_eq!(reply.matches("\r\nDate: ").count(), 1, "{reply}");
}

#[test]
fn report_and_use_over_http() {
    let (server, clock) = on_a_manual_clock(MonoTime::ZERO, 5, Duration::from_secs(900));
    let base = server.url();
    let http = client();
    let (_, _, token) = put_token(&http, &base, "21600");
    let (_, body) = get(&http, &format!("{base}{CREDS}credcycle-sim-role"), &token);
    let key = serde_json::from_str::<Value>(&body).unwrap()["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, _, body) = parts(http.post(format!("{base}/_sim/use")).send(key.as_str()));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["expired"],
        false
    );

    // Fifteen minutes later, the same set is expired at the moment of use.
    clock.advance(Duration::from_secs(900));
    let json_body = format!("{{\"AccessKeyId\":\"{key}\"}}");
    let (status, _, body) = parts(
        http.post(format!("{base}/_sim/use"))
            .send(json_body.as_str()),
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["expired"],
        true
    );
    let (status, _, body) = parts(http.post(format!("{base}/_sim/use")).send("ASIAUNKNOWN"));
    assert_eq!(status, 404);
    assert!(body.contains("unknown access key id"));

    let (status, _, body) = parts(http.get(format!("{base}/_sim/report")).call());
    assert_eq!(status, 200);
    let report: Report = serde_json::from_str(&body).unwrap();
    assert_eq!(report.issued, 1);
    assert_eq!(report.uses, 2);
    assert_eq!(report.expired_uses, 1);
    assert_eq!(report.unknown_uses, 1);
    assert_eq!(report.sets[0].access_key_id, key);
    assert!(!body.contains(&token), "no IMDS token in the report");
    assert_eq!(server.report().expired_uses, 1);
}

#[test]
fn virtual_time_drives_token_expiry_and_rotation() {
    let (server, clock) =
        on_a_manual_clock(MonoTime::from_millis(1_000), 9, Duration::from_secs(3600));
    let base = server.url();
    let http = client();
    let (_, _, short) = put_token(&http, &base, "60");
    let (_, _, long) = put_token(&http, &base, "21600");
    let creds_url = format!("{base}{CREDS}credcycle-sim-role");
    let key = |body: &str| serde_json::from_str::<Value>(body).unwrap()["AccessKeyId"].clone();

    let (_, first) = get(&http, &creds_url, &short);
    clock.advance(Duration::from_secs(60));
    assert_eq!(get(&http, &creds_url, &short).0, 401, "token expired");
    let (_, same) = get(&http, &creds_url, &long);
    assert_eq!(key(&same), key(&first));
    // 55 minutes in: the rotation point of a one-hour set.
    clock.advance(Duration::from_secs(3300 - 60));
    let (_, rotated) = get(&http, &creds_url, &long);
    assert_ne!(key(&rotated), key(&first));
    assert_eq!(server.report().issued, 2);
}

#[test]
fn reset_closes_the_connection_with_a_tcp_reset() {
    let server = with_scenario("[[event]]\nat = 0\nfault = \"outage\"\nmode = \"reset\"\n");
    let err = raw(
        server.local_addr(),
        "GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

    // An HTTP client sees an error at once, not a timeout.
    let clock = SystemClock::new();
    let began = clock.now().mono;
    let result = client()
        .get(format!("{}/latest/meta-data/", server.url()))
        .call();
    assert!(result.is_err(), "{result:?}");
    assert!(
        !matches!(result, Err(ureq::Error::Timeout(_))),
        "{result:?}"
    );
    assert!(clock.now().mono.saturating_duration_since(began) < Duration::from_secs(2));
    assert_eq!(server.report().resets, 2);
}

#[test]
fn drop_holds_the_request_until_the_client_gives_up() {
    let server = with_scenario(
        "[[event]]\nat = 0\nfault = \"outage\"\nmode = \"timeout\"\ntarget = \"token\"\n",
    );
    let base = server.url();
    let result = agent(Duration::from_millis(300))
        .put(format!("{base}/latest/api/token"))
        .header(TTL, "60")
        .send_empty();
    assert!(matches!(result, Err(ureq::Error::Timeout(_))), "{result:?}");
    // A raw client that waits: the connection stays open and silent.
    let err = raw(
        server.local_addr(),
        "PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n",
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    // Other paths still answer meanwhile.
    let (status, _, _) = parts(client().get(format!("{base}/latest/meta-data/")).call());
    assert_eq!(status, 401);
    let report = server.report();
    assert_eq!(report.dropped, 2);
    assert_eq!(report.count("token", "drop"), 2);
    // Shutting down does not wait for held connections.
    server.shutdown().unwrap();
}

#[test]
fn scripted_delay_is_slept() {
    let server =
        with_scenario("[[event]]\nat = 0\nfault = \"delay\"\ndelay = 0.3\ntarget = \"token\"\n");
    let clock = SystemClock::new();
    let began = clock.now().mono;
    let (status, _, _) = put_token(&client(), &server.url(), "60");
    let took = clock.now().mono.saturating_duration_since(began);
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[test]
fn live_control() {
    let server = SimServer::start(loopback(), SimConfig::default()).unwrap();
    let base = server.url();
    let http = client();
    let (_, _, token) = put_token(&http, &base, "600");
    let list = format!("{base}{CREDS}");

    server.detach();
    assert_eq!(get(&http, &list, &token).0, 404);
    server.attach(RoleName::new("another").unwrap());
    assert_eq!(get(&http, &list, &token), (200, "another".to_owned()));

    let (status, _, _) = parts(http.post(format!("{base}/_sim/detach")).send_empty());
    assert_eq!(status, 200);
    assert_eq!(get(&http, &list, &token).0, 404);
    let (status, _, _) = parts(
        http.post(format!("{base}/_sim/attach?role=back"))
            .send_empty(),
    );
    assert_eq!(status, 200);
    assert_eq!(get(&http, &list, &token), (200, "back".to_owned()));

    let (_, body) = get(&http, &format!("{list}back"), &token);
    let first = serde_json::from_str::<Value>(&body).unwrap()["AccessKeyId"].clone();
    let forced = server.rotate().unwrap();
    let (_, body) = get(&http, &format!("{list}back"), &token);
    let now = serde_json::from_str::<Value>(&body).unwrap()["AccessKeyId"].clone();
    assert_ne!(first, now);
    assert_eq!(now, forced.as_str());
    let (status, _, body) = parts(http.post(format!("{base}/_sim/rotate")).send_empty());
    assert_eq!(status, 200);
    assert!(body.contains("AccessKeyId"));
    assert!(server.record_use(&forced).is_some());
}

#[test]
fn dropping_the_server_stops_it() {
    let server = SimServer::start(loopback(), SimConfig::default()).unwrap();
    let addr = server.local_addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(server);
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn invalid_config_is_invalid_input() {
    let err = SimServer::start(
        loopback(),
        SimConfig::default().with_lifetime(Duration::ZERO),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("lifetime"), "{err}");
}

#[test]
fn a_held_connection_is_released_when_the_client_closes() {
    let server = with_scenario("[[event]]\nat = 0\nfault = \"outage\"\nmode = \"timeout\"\n");
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .write_all(b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    // The client gives up (closes its side); the server notices and closes the connection
    // instead of holding it for DROP_HOLD_CAP.
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        stream.read(&mut buf).unwrap(),
        0,
        "server closed without an answer"
    );
}
