//! `credcycle watch`: ask one Provider for credentials every interval and print each answer.

use std::io::Write as _;
use std::time::Duration;

use clap::ValueEnum;
use credcycle::Provider;
use credcycle_core::HumanDuration;

use crate::Failure;

/// Keep one Provider and ask it for credentials every interval until Ctrl-C or SIGTERM,
/// printing one line per answer: how the provider behaves on a real instance through rotations
/// and outages. Never prints a secret.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle watch
  credcycle watch --interval 0.2 --format jsonl | jq .

jsonl lines: {\"t\": <Unix seconds>, \"akid\": \"...\", \"exp\": \"<RFC 3339>\", \"ms\": <latency>}
          or {\"t\": <Unix seconds>, \"error\": \"<reason>\", \"ms\": <latency>}")]
pub(crate) struct Args {
    /// IMDS endpoint (default: from the environment, else http://169.254.169.254).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Seconds between two questions.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    interval: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    format: WatchFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WatchFormat {
    /// For people: time, state, key id, time left, or the refusal.
    Text,
    /// One JSON object per line, flushed at once.
    Jsonl,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.01..=3600.0).contains(&secs) {
        return Err(format!("{s} is not between 0.01 and 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let provider = crate::provider(args.endpoint.as_deref())?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let shutdown = crate::shutdown_signal();
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(args.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = ticker.tick() => {
                    let line = ask(&provider, args.format).await;
                    let mut out = std::io::stdout().lock();
                    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                        return Ok(()); // stdout closed (e.g. `| head`): stop quietly
                    }
                }
            }
        }
    })
}

async fn ask(provider: &Provider, format: WatchFormat) -> String {
    let clock = provider.clock();
    let before = clock.now();
    let answer = provider.credentials_async().await;
    let after = clock.now();
    let ms = after
        .mono
        .saturating_duration_since(before.mono)
        .as_secs_f64()
        * 1000.0;
    let t = after.wall.as_unix_millis() as f64 / 1000.0;
    match (format, answer) {
        (WatchFormat::Jsonl, Ok(c)) => serde_json::json!({
            "t": t, "akid": c.access_key_id().as_str(), "exp": c.expiration().to_rfc3339(), "ms": ms,
        })
        .to_string(),
        (WatchFormat::Jsonl, Err(e)) => serde_json::json!({ "t": t, "error": e.to_string(), "ms": ms }).to_string(),
        (WatchFormat::Text, Ok(c)) => format!(
            "{}  {:<11} {}  {} left  ({ms:.0} ms)",
            after.wall,
            provider.state(),
            c.access_key_id(),
            HumanDuration(c.expiration().saturating_duration_since(after.wall)),
        ),
        (WatchFormat::Text, Err(e)) => format!("{}  {:<11} refused: {e}  ({ms:.0} ms)", after.wall, provider.state()),
    }
}
