//! `credcycle get`: the cause named in one line, flags named as flags, and an explicit
//! `--endpoint` winning over an inherited `AWS_EC2_METADATA_DISABLED`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;

use credcycle_sim::{SimConfig, SimServer};

use crate::{closed_port, credcycle, disabled_by_the_environment, one_line_failure, stderr};

#[test]
fn a_closed_port_fails_at_once_saying_it_could_not_connect() {
    let port = closed_port();
    let output = credcycle()
        .args(["get", "--endpoint", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let err = one_line_failure(&output);
    assert!(
        err.starts_with(&format!(
            "credcycle: could not connect to IMDS at http://127.0.0.1:{port} for the token \
             request: connection refused (1 attempt)"
        )),
        "{err}"
    );
    assert!(!err.contains("HopLimit"), "{err}");
    assert!(output.stdout.is_empty());
}

#[test]
fn an_explicit_endpoint_wins_over_an_inherited_disable() {
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), SimConfig::default()).unwrap();
    let output = credcycle()
        .args(["get", "--endpoint", &sim.url()])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(
        err.starts_with(
            "credcycle: warning: --endpoint wins over the inherited AWS_EC2_METADATA_DISABLED=true"
        ),
        "{err}"
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["Version"], 1);
}

#[test]
fn without_an_explicit_endpoint_the_disable_holds() {
    // The endpoint comes from the environment here, so the environment's veto stands (and
    // nothing is sent anywhere).
    let output = disabled_by_the_environment("get");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "credcycle: IMDS access is disabled by AWS_EC2_METADATA_DISABLED=true\n"
    );
}

#[test]
fn an_invalid_endpoint_is_named_by_its_flag() {
    let output = credcycle()
        .args(["get", "--endpoint", "https://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "credcycle: --endpoint is invalid: endpoint scheme must be http (IMDS speaks plain \
         HTTP), not \"https\"\n"
    );
}

#[test]
fn an_imds_without_tokens_names_the_flag_that_allows_imdsv1() {
    // An old emulator: 404 to everything, the token PUT included.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let output = credcycle()
        .args(["get", "--endpoint", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(
        err,
        "credcycle: IMDS offers no session tokens (HTTP 404 to the token request) and IMDSv1 \
         is not allowed: pass --allow-imdsv1 if this endpoint really has no tokens (an old \
         emulator, for example)\n"
    );
    assert!(!err.contains("Builder"));
}
