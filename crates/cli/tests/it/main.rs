//! The `credcycle` binary, run as a user runs it: `serve` secure by default, `get`'s diagnoses
//! and its flags winning over an inherited environment. Loopback only: every IMDS is an
//! in-process simulator or a listener on 127.0.0.1, and every `serve` talks to one of them.

mod container;
mod doctor;
mod get;
mod metrics;
mod profile;
mod serve;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, ChildStdout, Command, Output, Stdio};

/// The binary under test, with an empty environment (nothing inherited from the machine that
/// runs the tests can point it at a real IMDS or hand it a token).
pub(crate) fn credcycle() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_credcycle"));
    command.env_clear();
    command
}

/// What a run printed on stderr.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one line a run that failed (exit code 1) printed on stderr.
pub(crate) fn one_line_failure(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// A loopback port where nothing listens.
pub(crate) fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `credcycle SUBCOMMAND` in an environment that disables IMDS and names an endpoint: a closed
/// loopback port, so that nothing leaves the machine even if the veto were ignored.
pub(crate) fn disabled_by_the_environment(subcommand: &str) -> Output {
    credcycle()
        .arg(subcommand)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .output()
        .unwrap()
}

/// A running `credcycle serve`, killed on drop.
pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) stdout: BufReader<ChildStdout>,
    pub(crate) stderr: BufReader<ChildStderr>,
}

impl Serve {
    /// Starts `command` (a `serve` with `--listen 127.0.0.1:0`) and reads its `listening on`
    /// line.
    pub(crate) fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("credcycle starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("a first line");
        let url = first
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.trim_end().strip_suffix("/credentials"))
            .unwrap_or_else(|| panic!("first stdout line: {first:?}"));
        let addr = url.parse().expect("HOST:PORT");
        Self {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    /// The next line on stderr.
    pub(crate) fn stderr_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).expect("a stderr line");
        line
    }

    /// `GET /credentials` with this `Host` and `Authorization`: (status, body).
    pub(crate) fn get(&self, host: &str, authorization: Option<&str>) -> (u16, String) {
        request(self.addr, "GET", "/credentials", host, authorization)
    }

    /// Stops it with SIGTERM (a clean exit) and returns everything else it printed on stdout
    /// and stderr.
    pub(crate) fn terminate(mut self) -> (String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("serve exits");
        assert!(exit.success(), "serve exits 0 on SIGTERM: {exit:?}");
        let (mut out, mut err) = (String::new(), String::new());
        self.stdout.read_to_string(&mut out).expect("stdout");
        self.stderr.read_to_string(&mut err).expect("stderr");
        (out, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a new connection: (status, body).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    let auth = authorization
        .map(|token| format!("Authorization: {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("sends");
    read_response(&mut stream)
}

/// Reads a whole `Connection: close` response: (status, body).
pub(crate) fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("a response");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
