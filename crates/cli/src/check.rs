//! `credcycle check`: the exhaustive model check of the real transition function, or (with
//! `--explore`) the same model in a browser.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use credcycle_clock::SystemClock;
use credcycle_model::{CheckConfig, check};

use crate::Failure;

/// Run the exhaustive check of credcycle-core's real transition function (stateright) and print
/// the states explored, each property with its result, and the time; on a violation, a minimal
/// trace (exit 1).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle check
  credcycle check --depth 4     # quicker, shallower
  credcycle check --explore     # the model in a browser, at http://127.0.0.1:3000

What is checked, and under which abstraction, is in docs/model.md.")]
pub(crate) struct Args {
    /// Search depth (inputs from the initial state); deeper is exponentially slower.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=12))]
    depth: Option<u64>,
    /// Serve the model in stateright's Explorer instead: follow transitions from the initial
    /// states, see each state's kind and the rule taken, jump to an example or a
    /// counterexample of each property. Runs until interrupted.
    #[arg(long)]
    explore: bool,
    /// Where the explorer listens: a loopback address only (it has no authentication). Port 0
    /// picks a free port; the first line printed names it.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        requires = "explore"
    )]
    listen: SocketAddr,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let mut config = CheckConfig::default();
    if let Some(depth) = args.depth {
        config.depth = usize::try_from(depth).unwrap_or(config.depth);
    }
    if args.explore {
        return explore(&config, args.listen);
    }
    let clock = SystemClock::new();
    let start = clock.now().mono;
    let mut report = check(&config);
    report.elapsed = clock.now().mono.saturating_duration_since(start);
    crate::stdout::write(&report.to_string())?;
    if report.ok() {
        Ok(())
    } else {
        Err(Failure(
            "the model check found a violation (trace above)".into(),
        ))
    }
}

/// How long the explorer may take to start accepting connections.
const START_GUARD: Duration = Duration::from_secs(10);

/// Serves the explorer on `listen` (loopback only) until interrupted.
///
/// stateright binds the address itself and cannot say which port it got, so a port 0 is
/// resolved first by binding it here and letting it go (another process could take it in
/// between; then the explorer fails to start, with a message). The `listening on` line is
/// printed only once the explorer accepts connections.
fn explore(config: &CheckConfig, listen: SocketAddr) -> Result<(), Failure> {
    if !listen.ip().is_loopback() {
        return Err(Failure(format!(
            "--listen {listen} is not a loopback address: the explorer has no authentication, \
             so it listens on 127.0.0.1 or [::1] only"
        )));
    }
    let addr = TcpListener::bind(listen)
        .and_then(|l| l.local_addr())
        .map_err(|e| Failure(format!("cannot listen on {listen}: {e}")))?;
    // stateright serves its page from ./ui/ when that directory exists (its development
    // mode): run it from an empty directory, so that only its own embedded page is served.
    let empty = tempfile::tempdir()
        .map_err(|e| Failure(format!("cannot make an empty working directory: {e}")))?;
    std::env::set_current_dir(empty.path())
        .map_err(|e| Failure(format!("cannot enter an empty working directory: {e}")))?;
    let depth = config.depth;
    let config = config.clone();
    let server = std::thread::Builder::new()
        .name("explorer".into())
        .spawn(move || credcycle_model::explore(&config, addr))
        .map_err(|e| Failure(format!("cannot start the explorer: {e}")))?;
    let started = SystemClock::new();
    let since = started.now().mono;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if server.is_finished() {
            return Err(Failure(format!("the explorer could not listen on {addr}")));
        }
        if started.now().mono.saturating_duration_since(since) > START_GUARD {
            return Err(Failure(format!(
                "the explorer did not start listening on {addr} within {} s",
                START_GUARD.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = writeln!(
            out,
            "the model of credcycle_core::step (depth {depth}), in stateright's Explorer; Ctrl-C to stop"
        );
        let _ = out.flush();
    }
    let _ = server.join();
    drop(empty);
    Err(Failure("the explorer stopped".into()))
}
