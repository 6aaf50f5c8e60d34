//! `cargo run --release -p credcycle-model --example check -- [DEPTH] [THREADS]`: the exhaustive
//! check, as `credcycle check` runs it.

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
    let mut report = credcycle_model::check(&credcycle_model::CheckConfig {
        depth,
        threads,
        ..Default::default()
    });
    report.elapsed = start.elapsed();
    print!("{report}");
    std::process::exit(if report.ok() { 0 } else { 1 });
}
