//! `credcycle serve`: a token always (generated when none is configured), the `Host` checked,
//! connections bounded; `--auth-token` still works but warns.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;

use credcycle_sim::{SimConfig, SimServer};

use crate::{Serve, credcycle, read_response};

fn sim() -> SimServer {
    SimServer::start("127.0.0.1:0".parse().unwrap(), SimConfig::default()).expect("simulator")
}

fn serve(sim: &SimServer, extra: &[&str]) -> Command {
    let mut command = credcycle();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--endpoint"])
        .arg(sim.url())
        .args(extra);
    command
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn without_a_token_configured_it_generates_one_in_a_private_file() {
    let sim = sim();
    let runtime_dir = tempfile::tempdir().unwrap();
    let mut command = serve(&sim, &[]);
    command.env("XDG_RUNTIME_DIR", runtime_dir.path());
    let mut server = Serve::start(command);

    // stderr names the file, never the token.
    let note = server.stderr_line();
    let path = note
        .split_whitespace()
        .find(|word| word.ends_with("/token"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no token path in {note:?}"));
    assert!(path.starts_with(runtime_dir.path()), "{path:?}");
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.len(), 64, "32 random bytes in hex");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!note.contains(&token));
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600, "the token file");
        assert_eq!(mode(path.parent().unwrap()), 0o700, "its directory");
    }

    // No token: 401. The file's content: 200.
    let host = format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(server.get(&host, None).0, 401);
    assert_eq!(server.get(&host, Some("wrong")).0, 401);
    let (status, body) = server.get(&host, Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"AccessKeyId\":\"ASIA"), "{body}");

    // The token is never printed, and the private directory goes with the server.
    let (out, err) = server.terminate();
    assert!(!out.contains(&token) && !err.contains(&token));
    assert!(!path.parent().unwrap().exists(), "removed on exit");
}

#[test]
fn a_host_that_is_not_a_loopback_name_is_refused() {
    let sim = sim();
    let (_dir, file) = token_file("t0k3n");
    let server = Serve::start(serve(&sim, &["--auth-token-file", &file]));
    let port = server.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let (status, body) = server.get(&host, Some("t0k3n"));
        assert_eq!(status, 403, "{host}: {body}");
        assert!(!body.contains("AccessKeyId"), "{body}");
    }
    // Refused before the token is looked at: a rebinding page learns nothing.
    assert_eq!(server.get("evil.example", None).0, 403);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_owned(),
    ] {
        assert_eq!(server.get(&host, Some("t0k3n")).0, 200, "{host}");
    }
}

#[test]
fn auth_token_on_the_command_line_still_works_and_warns() {
    let sim = sim();
    let mut server = Serve::start(serve(&sim, &["--auth-token", "contract-token"]));
    let warning = server.stderr_line();
    assert!(
        warning.starts_with("credcycle: warning: --auth-token") && warning.contains("ps"),
        "{warning:?}"
    );
    assert!(!warning.contains("contract-token"));
    let host = "localhost";
    assert_eq!(server.get(host, Some("contract-token")).0, 200);
    assert_eq!(server.get(host, Some("wrong")).0, 401);
    assert_eq!(server.get(host, None).0, 401);
    let (out, _) = server.terminate();
    assert!(!out.contains("contract-token"));
}

#[test]
fn the_token_can_come_from_the_environment() {
    let sim = sim();
    let mut command = serve(&sim, &[]);
    command.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-the-env");
    let server = Serve::start(command);
    assert_eq!(server.get("localhost", Some("from-the-env")).0, 200);
    assert_eq!(server.get("localhost", None).0, 401);
    let (_, err) = server.terminate();
    assert!(
        err.is_empty(),
        "nothing generated, nothing to warn about: {err}"
    );
}

#[test]
fn no_auth_takes_an_explicit_flag_and_warns() {
    let sim = sim();
    let mut server = Serve::start(serve(&sim, &["--insecure-no-auth"]));
    let warning = server.stderr_line();
    assert!(
        warning.starts_with("credcycle: warning: --insecure-no-auth"),
        "{warning:?}"
    );
    assert_eq!(server.get("localhost", None).0, 200);
    // The Host check stays.
    assert_eq!(server.get("evil.example", None).0, 403);
}

#[test]
fn checks_come_in_order_host_token_path_method() {
    let sim = sim();
    let (_dir, file) = token_file("t");
    let server = Serve::start(serve(&sim, &["--auth-token-file", &file]));
    let req = |method, path, host, auth| crate::request(server.addr, method, path, host, auth);
    assert_eq!(req("POST", "/nope", "evil.example", None).0, 403);
    assert_eq!(req("POST", "/nope", "localhost", None).0, 401);
    assert_eq!(req("POST", "/nope", "localhost", Some("t")).0, 404);
    assert_eq!(req("POST", "/credentials", "localhost", Some("t")).0, 405);
    assert_eq!(req("GET", "/credentials", "localhost", Some("t")).0, 200);
}

#[test]
fn connections_past_the_limit_are_closed() {
    let sim = sim();
    let server = Serve::start(serve(
        &sim,
        &["--insecure-no-auth", "--max-connections", "1"],
    ));
    // The first connection holds the only permit (accepted first: the accept queue is FIFO).
    let mut first = TcpStream::connect(server.addr).unwrap();
    // The second is closed without an answer.
    let mut second = TcpStream::connect(server.addr).unwrap();
    let _ = second.write_all(b"GET /credentials HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut answer = Vec::new();
    let _ = second.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // The first is still served.
    first
        .write_all(b"GET /credentials HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut first).0, 200);
}

#[test]
fn an_empty_token_file_is_refused() {
    let sim = sim();
    let (_dir, file) = token_file("\n");
    let output = serve(&sim, &["--auth-token-file", &file]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "credcycle: the auth token is empty\n"
    );
    assert!(output.stdout.is_empty(), "never listens");
}

/// A token file in a fresh temporary directory, removed when the returned guard drops.
fn token_file(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, content).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}
