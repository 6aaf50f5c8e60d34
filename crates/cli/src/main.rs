//! `credcycle`: EC2 instance-profile credentials, done right, from the command line.
//!
//! Every subcommand prints its result on stdout and, on failure, one line on stderr naming the
//! cause, with exit code 1; bad usage exits with 2 (clap's convention). Nothing panics on bad
//! input, and no secret is ever printed except the credentials `get` was asked to print.
//!
//! Each subcommand is the module of its name (`get`, `watch`, `serve`, `sim`, `doctor`, `demo`,
//! `diagram`, `check`, `conform`); `format` writes credentials in `get`'s formats, `timeline`
//! draws the pictures of `demo` and `conform`, `stdout` writes without panicking on a closed pipe.
//! Every flag, output and exit status is in `docs/cli.md`.

mod check;
mod conform;
mod demo;
mod diagram;
mod doctor;
mod format;
mod get;
mod serve;
mod sim;
mod stdout;
mod timeline;
mod watch;

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
    Demo(demo::Args),
    Get(get::Args),
    Serve(serve::Args),
    Watch(watch::Args),
    Sim(sim::Args),
    Diagram(diagram::Args),
    Doctor(doctor::Args),
    Check(check::Args),
    Conform(conform::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("debug,hyper=info,hyper_util=info")
                }),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Get(args) => get::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Conform(args) => conform::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Diagram(args) => diagram::run(&args),
        Command::Doctor(args) => doctor::run(&args),
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

/// Binds `listen`, then prints the `listening on http://ADDR{path}` line that scripts wait for
/// (with the port actually bound, for `:0`) and flushes it at once.
pub(crate) async fn listen(
    listen: std::net::SocketAddr,
    path: &str,
) -> Result<tokio::net::TcpListener, Failure> {
    use std::io::Write as _;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Failure(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}{path}");
    let _ = out.flush();
    Ok(listener)
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

/// A Provider for the IMDS at `endpoint` (else from the environment), with background refresh.
pub(crate) fn provider(endpoint: Option<&str>) -> Result<credcycle::Provider, Failure> {
    let imds = credcycle_imds::ImdsConfig::builder().jitter_seed(credcycle::random_seed());
    let imds = imds_config(imds, endpoint)?;
    credcycle::Provider::builder()
        .imds(imds)
        .build()
        .map_err(|e| Failure(e.to_string()))
}

/// Builds IMDS settings over the process environment, the CLI's way:
///
/// - an explicit `--endpoint` wins over an inherited `AWS_EC2_METADATA_DISABLED=true` (a
///   `credential_process` child inherits its SDK's environment), with a one-line warning;
/// - invalid options are named by their flags (`--endpoint`), not the builder's methods.
pub(crate) fn imds_config(
    builder: credcycle_imds::ImdsConfigBuilder,
    endpoint: Option<&str>,
) -> Result<credcycle_imds::ImdsConfig, Failure> {
    use credcycle_imds::vars;
    let builder = match endpoint {
        Some(url) => builder.endpoint(url),
        None => builder,
    };
    let read = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let overridden = endpoint.is_some()
        && read(vars::DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if overridden {
        eprintln!(
            "credcycle: warning: --endpoint wins over the inherited {}=true: IMDS at that \
             endpoint is used",
            vars::DISABLED
        );
    }
    builder
        .build_with_env_source(|name| {
            if overridden && name == vars::DISABLED {
                None
            } else {
                read(name)
            }
        })
        .map_err(|e| config_failure(&e))
}

/// A settings error in the CLI's words: an invalid option is named by its flag.
pub(crate) fn config_failure(e: &credcycle_imds::ConfigError) -> Failure {
    match e {
        credcycle_imds::ConfigError::Option { option, problem } => {
            let flag = match *option {
                "endpoint" => "--endpoint",
                "timeout" => "--timeout",
                "num_attempts" => "--attempts",
                "pinned_role" => "--role",
                "allow_imds_v1" => "--allow-imdsv1",
                "extended_credentials" => "--extended",
                // Not set by any flag of ours: say what it is, not a method name.
                other => return Failure(format!("the IMDS setting {other} is invalid: {problem}")),
            };
            Failure(format!("{flag} is invalid: {problem}"))
        }
        other => Failure(other.to_string()),
    }
}

/// An environment variable, read lossily (for settings read through a function).
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A single-threaded tokio runtime for the network subcommands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the runtime: {e}")))
}
