//! `credcycle`: EC2 instance-profile credentials, done right, from the command line.
//!
//! Every subcommand prints its result on stdout and, on failure, one line on stderr naming the
//! cause, with exit code 1; bad usage exits with 2 (clap's convention). Nothing panics on bad
//! input, and no secret is ever printed except the credentials `get` was asked to print.

mod diagram;
mod format;
mod get;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// EC2 instance-profile credentials, done right: fetch them, serve them, simulate IMDS, and
/// show how their lifecycle works.
#[derive(Debug, Parser)]
#[command(name = "credcycle", version, propagate_version = true)]
struct Cli {
    /// Print what happens (tracing output on stderr; never a secret).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Get(get::Args),
    Sim(sim::Args),
    Diagram(diagram::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Get(args) => get::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Diagram(args) => diagram::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("credcycle: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A failure to report: one line, no secrets.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prints the `listening on URL` line that scripts wait for, and flushes it at once.
pub(crate) fn announce(url: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {url}");
    let _ = out.flush();
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
