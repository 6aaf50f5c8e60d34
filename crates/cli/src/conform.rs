//! `credcycle conform`: run any credential client against scripted IMDS scenarios and judge
//! every credential it hands out against the simulator's truth.

mod judge;
mod report;
mod run;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::ValueEnum;
use credcycle_sim::Scenario;

use crate::Failure;

/// Run a credential client against scripted IMDS scenarios and judge what it hands out.
///
/// For each scenario, conform starts the IMDS simulator on 127.0.0.1, runs CLIENT_COMMAND with
/// AWS_EC2_METADATA_SERVICE_ENDPOINT pointing at it (every other AWS_* variable removed,
/// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE set to /dev/null, CREDCYCLE_CONFORM_INTERVAL
/// set to the interval), reads one JSON line per attempt from its stdout, and judges each
/// hand-out against the simulator's truth: the set's real expiry and whether its role was
/// removed. The report (Markdown, JSON and one SVG timeline per scenario) goes to --out.
/// The contract is in docs/conformance.md.
#[derive(Debug, clap::Args)]
#[command(after_help = "Client lines (stdout, one per attempt):
  {\"access_key_id\": \"ASIA...\", \"expiration\": \"2026-11-28T10:41:11Z\"}
  {\"error\": \"why there are no credentials\"}

Examples:
  credcycle conform --quick -- target/release/examples/conform_client
  credcycle conform --scenario outage-500 --out report -- python3 clients/botocore/client.py
  credcycle conform --list")]
pub(crate) struct Args {
    /// Run this scenario (a built-in name, or a .toml/.json scenario file); repeat for more.
    /// Default: every built-in scenario, or the quick subset with --quick.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Run the quick subset (under 5 minutes, scenarios in parallel).
    #[arg(long)]
    quick: bool,
    /// Where to write the report.
    #[arg(long, value_name = "DIR", default_value = "conform-report")]
    out: PathBuf,
    /// Fail (exit 1) unless the requirement holds.
    #[arg(long, value_enum, value_name = "WHAT")]
    require: Vec<Requirement>,
    /// Seconds between two attempts, passed to the client as CREDCYCLE_CONFORM_INTERVAL.
    #[arg(long, value_name = "SECS", default_value = "0.5", value_parser = parse_interval)]
    interval: Duration,
    /// The margin (seconds before expiry) inside which a hand-out is counted as late.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_margin)]
    margin: f64,
    /// How many scenarios run at once.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=32))]
    jobs: u64,
    /// A name for the client in the report (default: the command).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list: bool,
    /// The client command and its arguments.
    #[arg(
        last = true,
        value_name = "CLIENT_COMMAND",
        required_unless_present = "list"
    )]
    command: Vec<String>,
}

/// What `--require` can demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Requirement {
    /// No hand-out of an expired set, and a client that ran as the contract asks in every
    /// scenario (a client that printed nothing proves nothing).
    NoExpired,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.05..=10.0).contains(&secs) {
        return Err(format!("{s} is not between 0.05 and 10 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_margin(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=3600.0).contains(&secs) {
        return Err(format!("{s} is not between 0 and 3600 seconds"));
    }
    Ok(secs)
}

/// A built-in scenario: its file and whether `--quick` runs it.
struct BuiltIn {
    name: &'static str,
    quick: bool,
    toml: &'static str,
}

macro_rules! builtin {
    ($name:literal, $quick:literal) => {
        BuiltIn {
            name: $name,
            quick: $quick,
            toml: include_str!(concat!("../conform-scenarios/", $name, ".toml")),
        }
    };
}

const BUILT_IN: &[BuiltIn] = &[
    builtin!("steady-rotation", true),
    builtin!("late-rotation", false),
    builtin!("outage-500", true),
    builtin!("outage-timeout", false),
    builtin!("throttle", false),
    builtin!("role-removed", false),
    builtin!("role-changed", true),
    builtin!("detach-reattach", false),
    builtin!("already-expired", true),
    builtin!("slow-replies", false),
    builtin!("malformed", false),
    builtin!("session-token-expiry", false),
];

/// The default length of a scenario file that does not say.
const DEFAULT_LENGTH: Duration = Duration::from_secs(120);

fn load(name: &str) -> Result<Scenario, Failure> {
    if let Some(b) = BUILT_IN.iter().find(|b| b.name == name) {
        return Scenario::from_toml_str(b.toml)
            .map(|s| s.with_name(b.name))
            .map_err(|e| Failure(format!("built-in scenario {name}: {e}")));
    }
    let path = Path::new(name);
    if name.ends_with(".toml") || name.ends_with(".json") {
        let scenario = Scenario::from_path(path).map_err(|e| Failure(e.to_string()))?;
        if scenario.name().is_some() {
            return Ok(scenario);
        }
        let stem = path
            .file_stem()
            .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
        return Ok(scenario.with_name(stem));
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|b| b.name).collect();
    Err(Failure(format!(
        "no scenario named {name:?} (built in: {}; or give a .toml/.json file)",
        names.join(", ")
    )))
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    if args.list {
        for b in BUILT_IN {
            let s = Scenario::from_toml_str(b.toml).map_err(|e| Failure(e.to_string()))?;
            let quick = if b.quick { " (quick)" } else { "" };
            println!(
                "{:<16} {:>4.0} s{quick:<8} {}",
                b.name,
                s.length().unwrap_or(DEFAULT_LENGTH).as_secs_f64(),
                s.description().unwrap_or_default()
            );
        }
        return Ok(());
    }
    let names: Vec<String> = if args.scenarios.is_empty() {
        BUILT_IN
            .iter()
            .filter(|b| b.quick || !args.quick)
            .map(|b| b.name.to_owned())
            .collect()
    } else {
        args.scenarios.clone()
    };
    let scenarios = names
        .iter()
        .map(|n| load(n))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure(format!("cannot create {}: {e}", args.out.display())))?;
    let client = args.name.clone().unwrap_or_else(|| args.command.join(" "));
    let longest = scenarios
        .iter()
        .map(|s| s.length().unwrap_or(DEFAULT_LENGTH).as_secs_f64())
        .fold(0.0, f64::max);
    eprintln!(
        "conform: {} scenario(s), {} at a time, the longest {longest:.0} s; client: {client}",
        scenarios.len(),
        args.jobs
    );

    // Run the scenarios, `jobs` at a time, each with its own simulator and client.
    let queue: Mutex<Vec<(usize, Scenario)>> =
        Mutex::new(scenarios.into_iter().enumerate().rev().collect());
    let results: Mutex<Vec<(usize, Result<run::Run, String>)>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let total = names.len();
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).ok().flatten();
                    let Some((i, scenario)) = next else { return };
                    let outcome = run::run(scenario, DEFAULT_LENGTH, &args.command, args.interval);
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    match &outcome {
                        Ok(r) => eprintln!("conform: [{n}/{total}] {} done", r.name),
                        Err(e) => eprintln!("conform: [{n}/{total}] {e}"),
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push((i, outcome));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let mut runs = Vec::new();
    for (_, r) in results {
        runs.push(r.map_err(Failure)?);
    }
    let judged: Vec<(run::Run, judge::Judgement)> = runs
        .into_iter()
        .map(|r| {
            let j = judge::judge(&r, args.margin, args.interval.as_secs_f64());
            (r, j)
        })
        .collect();
    let summary = report::write(&args.out, &client, args.margin, &judged)?;
    println!("{summary}");
    println!("report: {}", args.out.join("report.md").display());

    if args.require.contains(&Requirement::NoExpired) {
        let expired: u64 = judged.iter().map(|(_, j)| j.total.expired).sum();
        let broken: Vec<&str> = judged
            .iter()
            .filter(|(_, j)| !j.client_ok)
            .map(|(r, _)| r.name.as_str())
            .collect();
        if expired > 0 {
            return Err(Failure(format!(
                "--require no-expired: {expired} expired hand-out(s)"
            )));
        }
        if !broken.is_empty() {
            return Err(Failure(format!(
                "--require no-expired: the client did not run as the contract asks in {}",
                broken.join(", ")
            )));
        }
    }
    Ok(())
}
