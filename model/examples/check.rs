//! `cargo run --release -p credcycle-model --example check -- [DEPTH] [THREADS] [MAX_STATES]`:
//! the exhaustive check, as `credcycle check` runs it. `MAX_STATES` bounds every search (the
//! check and each re-run for the shortest counterexample): default
//! `CheckConfig::DEFAULT_MAX_STATES`, `0` for no bound (depth 7 needs that, and over 10 GB).

#[expect(
    clippy::disallowed_methods,
    reason = "an example binary measures its own run time, as the CLI does"
)]
fn main() {
    let start = std::time::Instant::now();
    let mut args = std::env::args().skip(1);
    let depth = args
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(credcycle_model::CheckConfig::DEFAULT_DEPTH);
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let max_states = match args.next() {
        None => Some(credcycle_model::CheckConfig::DEFAULT_MAX_STATES),
        Some(n) => n.parse().ok().filter(|&n: &usize| n > 0),
    };
    let mut report = credcycle_model::check(&credcycle_model::CheckConfig {
        depth,
        threads,
        max_states,
        ..Default::default()
    });
    report.elapsed = start.elapsed();
    print!("{report}");
    std::process::exit(if report.ok() { 0 } else { 1 });
}
