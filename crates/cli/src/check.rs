//! `credcycle check`: the exhaustive model check of the real transition function.

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

What is checked, and under which abstraction, is in docs/model.md.")]
pub(crate) struct Args {
    /// Search depth (inputs from the initial state); deeper is exponentially slower.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=12))]
    depth: Option<u64>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let mut config = CheckConfig::default();
    if let Some(depth) = args.depth {
        config.depth = usize::try_from(depth).unwrap_or(config.depth);
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
