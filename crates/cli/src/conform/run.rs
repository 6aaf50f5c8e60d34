//! Running one scenario: the simulator on loopback, the client under the contract's
//! environment, and every line the client prints judged against the simulator's truth the
//! moment it arrives.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use credcycle_clock::SystemClock;
use credcycle_core::MonoTime;
use credcycle_sim::{Event, IssuedSet, LoggedRequest, Scenario, SimConfig, SimServer};
use serde::Serialize;

/// The longest line read from a client; the rest of a longer line is cut off.
const MAX_LINE: usize = 64 * 1024;
/// How long a client gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// What the client printed on one line, judged.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Line {
    /// `{"access_key_id": ...}`: a hand-out.
    HandOut(HandOut),
    /// `{"error": ...}`: an error surfaced to the caller.
    Error {
        /// Seconds since the start.
        at: f64,
        message: String,
    },
    /// Anything else.
    Garbage {
        at: f64,
        /// The line (cut to 200 characters).
        text: String,
    },
}

/// One hand-out, with the simulator's verdict.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct HandOut {
    /// Seconds since the start, when conform read the line.
    pub(crate) at: f64,
    pub(crate) access_key_id: String,
    /// The expiry the client believes, if it said.
    pub(crate) believed_expiration: Option<String>,
    /// Whether the simulator issued this key at all.
    pub(crate) known: bool,
    /// The set had expired at the moment of the hand-out (the simulator's clock).
    pub(crate) expired: bool,
    /// The set's role had been removed or changed before the hand-out.
    pub(crate) revoked: bool,
    /// Seconds of validity left at the hand-out (negative: past expiry).
    pub(crate) left: f64,
}

/// How the client process fared.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ClientOutcome {
    /// Why it could not be started, if it could not.
    pub(crate) start_error: Option<String>,
    /// How it ended before the run did (`exited with 1`, `killed by signal 9`) and when.
    pub(crate) early_exit: Option<(String, f64)>,
    /// Its last non-empty line on stderr (lines starting with `note: `, Rust's backtrace hint,
    /// are skipped).
    pub(crate) last_stderr: Option<String>,
}

/// Everything one scenario run produced.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Run {
    pub(crate) name: String,
    pub(crate) description: String,
    /// Seconds.
    pub(crate) length: f64,
    pub(crate) lifetime: f64,
    pub(crate) rotate_before: f64,
    #[serde(skip)]
    pub(crate) events: Vec<Event>,
    /// The simulator's (AWS's) clock at the start, Unix milliseconds.
    pub(crate) start_unix_ms: i64,
    pub(crate) lines: Vec<Line>,
    pub(crate) requests: Vec<LoggedRequest>,
    pub(crate) sets: Vec<IssuedSet>,
    pub(crate) client: ClientOutcome,
}

/// What the reader threads send.
enum Read_ {
    Line(MonoTime, String),
    Eof,
}

/// Runs `scenario` for its length against the client `command`, asking every `interval`.
pub(crate) fn run(
    scenario: Scenario,
    default_length: Duration,
    command: &[String],
    interval: Duration,
) -> Result<Run, String> {
    let name = scenario.name().unwrap_or("unnamed").to_owned();
    let description = scenario.description().unwrap_or_default().to_owned();
    let length = scenario.length().unwrap_or(default_length);
    let events = scenario.events().to_vec();
    let config = scenario.configure(SimConfig::default());
    let (lifetime, rotate_before) = (config.lifetime, config.rotate_before);

    let clock = SystemClock::new();
    let start_now = clock.now();
    let sim = SimServer::start_with_clock(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        config,
        Arc::new(clock),
    )
    .map_err(|e| format!("{name}: cannot start the simulator: {e}"))?;
    let start = clock.now().mono;
    let start_unix_ms = start_now.wall.as_unix_millis();
    let since = |at: MonoTime| at.saturating_duration_since(start).as_secs_f64();

    let mut lines = Vec::new();
    let mut client = ClientOutcome::default();
    let last_stderr = Arc::new(Mutex::new(None::<String>));
    match spawn(command, &sim.url(), interval) {
        Err(e) => client.start_error = Some(e),
        Ok(mut child) => {
            let (tx, rx) = mpsc::channel();
            if let Some(stdout) = child.stdout.take() {
                thread::spawn(move || {
                    read_lines(stdout, |l| {
                        tx.send(Read_::Line(clock.now().mono, l)).is_ok()
                    });
                    let _ = tx.send(Read_::Eof);
                });
            }
            if let Some(stderr) = child.stderr.take() {
                let last = Arc::clone(&last_stderr);
                thread::spawn(move || {
                    read_lines(stderr, |l| {
                        let l = l.trim();
                        // Rust's "note: run with RUST_BACKTRACE..." says nothing about the cause.
                        if !l.is_empty() && !l.starts_with("note: ") {
                            *last.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some(cut(l, 300));
                        }
                        true
                    });
                });
            }
            let handle = sim.handle();
            // A line is judged when it is read, against the simulator's truth at that moment.
            let judged = |at, text: &str| {
                judge(
                    &handle,
                    since(at),
                    text,
                    start_unix_ms,
                    since(clock.now().mono),
                )
            };
            loop {
                let elapsed = clock.now().mono.saturating_duration_since(start);
                if elapsed >= length {
                    break;
                }
                let wait = (length - elapsed).min(Duration::from_millis(200));
                match rx.recv_timeout(wait) {
                    Ok(Read_::Line(at, text)) => {
                        lines.push(judged(at, &text));
                    }
                    Ok(Read_::Eof) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        // stdout closed: wait for the exit below (without spinning).
                        thread::sleep(wait);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if client.early_exit.is_none()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    // Lines already in the pipe count.
                    while let Ok(Read_::Line(at, text)) =
                        rx.recv_timeout(Duration::from_millis(300))
                    {
                        lines.push(judged(at, &text));
                    }
                    client.early_exit = Some((describe(status), since(clock.now().mono)));
                    break;
                }
            }
            stop(&mut child);
        }
    }
    // Give the stderr reader a moment to take the last line of a client that just ended.
    thread::sleep(Duration::from_millis(100));
    client.last_stderr = last_stderr
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let report = sim.report();
    let requests = sim.handle().request_log();
    let _ = sim.shutdown();
    Ok(Run {
        name,
        description,
        length: length.as_secs_f64(),
        lifetime: lifetime.as_secs_f64(),
        rotate_before: rotate_before.as_secs_f64(),
        events,
        start_unix_ms,
        lines,
        requests,
        sets: report.sets,
        client,
    })
}

/// Starts the client under the contract's environment: the simulator as the IMDS endpoint,
/// every other `AWS_*` variable removed, the profile files empty.
fn spawn(command: &[String], url: &str, interval: Duration) -> Result<Child, String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "no client command given".to_owned())?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env(
            "CREDCYCLE_CONFORM_INTERVAL",
            format!("{}", interval.as_secs_f64()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group, so that a wrapper script's children are stopped with it.
        cmd.process_group(0);
    }
    cmd.spawn()
        .map_err(|e| format!("client could not start: {program}: {e}"))
}

/// Stops the client: SIGTERM to its process group, then SIGKILL after a grace period.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process_group};
        let group = Pid::from_child(child);
        let _ = kill_process_group(group, Signal::TERM);
        let clock = SystemClock::new();
        let deadline = clock.now().mono.saturating_add(TERM_GRACE);
        while clock.now().mono < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                // The leader is gone; its group may not be.
                let _ = kill_process_group(group, Signal::KILL);
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = kill_process_group(group, Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn describe(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    "ended".to_owned()
}

/// Reads `from` line by line (lossy UTF-8, lines cut at [`MAX_LINE`]) until EOF or until `each`
/// returns false.
fn read_lines(from: impl Read, mut each: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if buf.last() != Some(&b'\n') && buf.len() >= MAX_LINE {
                    // Skip the rest of an overlong line.
                    let mut rest = Vec::new();
                    let _ = reader.read_until(b'\n', &mut rest);
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                if !each(line) {
                    return;
                }
            }
        }
    }
}

/// Judges one line read at `at` seconds.
fn judge(
    sim: &credcycle_sim::SimHandle,
    at: f64,
    text: &str,
    start_unix_ms: i64,
    now: f64,
) -> Line {
    let garbage = || Line::Garbage {
        at,
        text: cut(text, 200),
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return garbage();
    };
    if let Some(key) = map.get("access_key_id").and_then(|v| v.as_str()) {
        let believed_expiration = map
            .get("expiration")
            .and_then(|v| v.as_str())
            .map(|s| cut(s, 64));
        // The simulator's verdict, at the moment of reading.
        let record = sim.record_use(key);
        let aws_ms = start_unix_ms + (now * 1000.0) as i64;
        let (known, expired, revoked, left) = match record {
            Some(r) => {
                let exp = chrono::DateTime::parse_from_rfc3339(&r.expiration)
                    .map(|d| d.timestamp_millis())
                    .unwrap_or(aws_ms);
                (true, r.expired, r.revoked, (exp - aws_ms) as f64 / 1000.0)
            }
            None => (false, false, false, 0.0),
        };
        return Line::HandOut(HandOut {
            at,
            access_key_id: cut(key, 64),
            believed_expiration,
            known,
            expired,
            revoked,
            left,
        });
    }
    if let Some(message) = map.get("error") {
        let message = message
            .as_str()
            .map_or_else(|| message.to_string(), str::to_owned);
        return Line::Error {
            at,
            message: cut(&message, 300),
        };
    }
    garbage()
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}
