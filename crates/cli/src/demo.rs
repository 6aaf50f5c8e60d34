//! `credcycle demo`: the whole lifecycle in about 40 seconds, on an embedded IMDS simulator;
//! with `--timeline`, played in virtual time and drawn.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use credcycle::Provider;
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{MonoTime, Policy, Refusal, RoleName};
use credcycle_imds::ImdsConfig;
use credcycle_sim::{Scenario, SimConfig, SimServer};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

use crate::Failure;

mod drawn;
mod page;
mod recording;

/// Play the credential lifecycle on an embedded IMDS simulator: attach, first fetch, refresh
/// ahead, a not-yet-rotated answer, an outage, recovery, a role change, detach, re-attach.
/// Several workers use the credentials meanwhile and report every use to the simulator's audit;
/// the summary shows how many uses were of expired credentials (0, or the exit status is 1).
///
/// No network, no AWS account: everything runs on 127.0.0.1.
///
/// With --timeline or --timeline-html the same story plays in virtual time (a manual clock,
/// the workers taking turns on one thread), takes a second or two, and is drawn: the same seed
/// draws the same picture, byte for byte.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("drawn").args(["timeline", "timeline_html"]).multiple(true)))]
#[command(after_help = "Examples:
  credcycle demo
  credcycle demo --speed 2        # the same story in about 20 seconds
  credcycle demo --timeline demo.svg --timeline-html demo.html   # virtual time, drawn")]
pub(crate) struct Args {
    /// Play faster (2 = twice as fast) or slower; every duration of the story is scaled.
    #[arg(long, default_value = "1", value_parser = parse_speed, conflicts_with_all = ["timeline", "timeline_html"])]
    speed: f64,
    /// Workers using the credentials.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Play in virtual time and draw the run as an SVG timeline to FILE.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Play in virtual time and write the timeline as an HTML page to FILE, with details of each
    /// second on hover.
    #[arg(long, value_name = "FILE")]
    timeline_html: Option<PathBuf>,
    /// Seed of the virtual-time run (the simulator's keys, the jitter of refresh and backoff).
    #[arg(long, default_value_t = 1, requires = "drawn")]
    seed: u64,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let speed: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.5..=3.0).contains(&speed) {
        return Err(format!("{s} is not between 0.5 and 3"));
    }
    Ok(speed)
}

/// The story, in seconds at speed 1.
const LIFETIME: f64 = 12.0;
const ROTATE_BEFORE: f64 = 4.0;
const OUTAGE: (f64, f64) = (12.0, 10.0);
const ROLE_CHANGE: f64 = 24.0;
const DETACH: f64 = 30.0;
const ATTACH: f64 = 35.0;
const END: f64 = 40.0;

const CHAPTERS: [(f64, &str); 8] = [
    (
        0.0,
        "1. attach: the instance has a profile with role demo-web; the first demand fetches",
    ),
    (
        2.0,
        "2. serve: workers use the credentials; the hot path answers, IMDS is not asked",
    ),
    (
        5.0,
        "3. refresh ahead: due before expiry; IMDS rotates only 4 s before it, so it first answers 'not rotated'",
    ),
    (
        OUTAGE.0,
        "4. outage: IMDS answers 500 to every credentials request for 10 s; usable credentials are still served",
    ),
    (
        OUTAGE.0 + OUTAGE.1,
        "5. recovery: IMDS answers again; credentials are back within the 2 s refusing backoff cap",
    ),
    (
        ROLE_CHANGE,
        "6. role change: the profile's role is now demo-web-v2; credcycle learns it at its next request",
    ),
    (
        DETACH,
        "7. detach: the instance profile is removed; credcycle learns it at its next request and refuses",
    ),
    (
        ATTACH,
        "8. re-attach: a profile is attached again; found within the refusing backoff cap",
    ),
];

/// The story's simulator: its faults and role changes as a scenario, its short lifetimes.
fn story_sim(speed: f64, seed: Option<u64>) -> Result<SimConfig, Failure> {
    let at = |secs: f64| secs / speed;
    let scenario = Scenario::from_toml_str(&format!(
        "name = \"demo\"\n\
         [[event]]\nat = {}\nduration = {}\nfault = \"outage\"\nmode = \"http\"\nstatus = 500\ntarget = \"credentials\"\n\
         [[event]]\nat = {}\nfault = \"change\"\nrole = \"demo-web-v2\"\n\
         [[event]]\nat = {}\nfault = \"detach\"\n\
         [[event]]\nat = {}\nfault = \"attach\"\nrole = \"demo-web-v2\"\n",
        at(OUTAGE.0),
        at(OUTAGE.1),
        at(ROLE_CHANGE),
        at(DETACH),
        at(ATTACH)
    ))
    .map_err(|e| Failure(format!("demo scenario: {e}")))?;
    let role = RoleName::new("demo-web").map_err(|e| Failure(e.to_string()))?;
    let config = SimConfig::default()
        .with_role(role)
        .with_lifetime(Duration::from_secs(at(LIFETIME).round().max(2.0) as u64))
        .with_rotate_before(Duration::from_secs(
            at(ROTATE_BEFORE).round().max(1.0) as u64
        ))
        .with_scenario(scenario);
    Ok(match seed {
        Some(seed) => config.with_seed(seed),
        None => config,
    })
}

/// The policy, scaled to the story's short lifetimes.
fn story_policy(speed: f64) -> Result<Policy, Failure> {
    let dur = |secs: f64| Duration::from_secs_f64(secs / speed);
    Policy::builder()
        .expiry_margin(dur(1.0))
        .backoff_base(dur(0.5))
        .retry_floor(dur(0.1))
        .backoff_cap_serving(dur(3.0))
        .backoff_cap_refusing(dur(2.0))
        .request_timeout(dur(5.0))
        .build()
        .map_err(|e| Failure(e.to_string()))
}

fn start_sim(config: SimConfig, clock: Arc<dyn Clock>) -> Result<SimServer, Failure> {
    SimServer::start_with_clock(
        "127.0.0.1:0"
            .parse()
            .map_err(|_| Failure("address".into()))?,
        config,
        clock,
    )
    .map_err(|e| Failure(format!("cannot start the simulator: {e}")))
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    if args.timeline.is_some() || args.timeline_html.is_some() {
        return drawn::run(args);
    }
    let speed = args.speed;
    let at = |secs: f64| secs / speed;
    let dur = |secs: f64| Duration::from_secs_f64(secs / speed);
    let clock = SystemClock::new();
    let sim = start_sim(story_sim(speed, None)?, Arc::new(clock))?;
    let policy = story_policy(speed)?;
    let imds = ImdsConfig::builder()
        .endpoint(sim.url())
        .timeout(dur(0.3))
        .num_attempts(1)
        .build()
        .map_err(|e| Failure(e.to_string()))?;

    let start = clock.now().mono;
    narrate(Arc::new(clock), start, speed);

    println!(
        "credcycle demo: IMDS simulator at {} (credentials live {:.0} s); {} workers",
        sim.url(),
        at(LIFETIME),
        args.workers
    );
    println!(
        "time is story time (scaled to speed 1); lines come from the Provider's tracing events"
    );
    println!("\n== {}", CHAPTERS[0].1);
    let provider = Provider::builder()
        .imds(imds)
        .policy(policy)
        .clock(Arc::new(clock))
        .wait_timeout(dur(2.0))
        .build()
        .map_err(|e| Failure(e.to_string()))?;

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..args.workers)
        .map(|_| {
            let (provider, tally, stop, sim) = (
                provider.clone(),
                Arc::clone(&tally),
                Arc::clone(&stop),
                sim.handle(),
            );
            let pause = dur(0.05);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match provider.credentials() {
                        Ok(creds) => {
                            tally.handouts.fetch_add(1, Ordering::Relaxed);
                            // The audit: the simulator records the use and whether it was expired.
                            sim.record_use(creds.access_key_id().as_str());
                        }
                        Err(e) => tally.refused(e.refusal()),
                    }
                    thread::sleep(pause);
                }
            })
        })
        .collect();

    // The director: chapter headings and progress at the scheduled times.
    let mut next_progress = 2.5;
    for (when, title) in CHAPTERS.iter().copied().skip(1).chain([(END, "")]) {
        while elapsed(&clock, start, speed) < when {
            let now = elapsed(&clock, start, speed);
            if now >= next_progress {
                progress(now, &tally, &sim);
                next_progress += 2.5;
            }
            thread::sleep(dur(0.05).min(Duration::from_millis(50)));
        }
        if !title.is_empty() {
            println!("\n== {title}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    drop(provider);
    summary(&tally, &sim)
}

/// Prints the Provider's tracing events as timeline lines, in story time, from now on.
///
/// Global, because the Provider's refresh and flight threads log too. With -v a subscriber is
/// already installed, and the verbose log replaces the narration.
fn narrate(clock: Arc<dyn Clock>, start: MonoTime, speed: f64) {
    let narrator = Narrator {
        clock,
        start,
        speed,
    };
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(narrator));
}

fn elapsed(clock: &dyn Clock, start: MonoTime, speed: f64) -> f64 {
    clock
        .now()
        .mono
        .saturating_duration_since(start)
        .as_secs_f64()
        * speed
}

#[derive(Default)]
struct Tally {
    handouts: AtomicU64,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Tally {
    fn refused(&self, refusal: Option<&Refusal>) {
        let reason = match refusal {
            Some(Refusal::Idle | Refusal::Discovering | Refusal::Fetching { .. }) => {
                "waiting for the first fetch"
            }
            Some(Refusal::Expired { .. }) => "expired or inside the margin",
            Some(Refusal::Unavailable { .. }) => "nothing usable, backing off",
            Some(Refusal::Detached { .. }) => "no instance profile",
            Some(Refusal::Stopped) => "stopped",
            Some(_) => "other",
            None => "timed out waiting",
        };
        *self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    fn refusal_total(&self) -> u64 {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .sum()
    }
}

fn progress(now: f64, tally: &Tally, sim: &SimServer) {
    let report = sim.report();
    let requests: u64 = report
        .requests
        .iter()
        .filter(|(class, _)| class.as_str() != "sim")
        .flat_map(|(_, by)| by.values())
        .sum();
    println!(
        "   ... {now:>5.1} s of {END:.0}: {:>6} hand-outs, {:>4} refusals, {:>3} IMDS requests, {} expired uses",
        tally.handouts.load(Ordering::Relaxed),
        tally.refusal_total(),
        requests,
        report.expired_uses
    );
    let _ = std::io::stdout().flush();
}

fn summary(tally: &Tally, sim: &SimServer) -> Result<(), Failure> {
    let report = sim.report();
    let mut out = String::from("\n== summary\n");
    let _ = writeln!(
        out,
        "  {:<40} {:>8}",
        "hand-outs",
        tally.handouts.load(Ordering::Relaxed)
    );
    for (reason, n) in tally
        .refusals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        let _ = writeln!(out, "  {:<40} {n:>8}", format!("refusals: {reason}"));
    }
    for (class, by_status) in report
        .requests
        .iter()
        .filter(|(class, _)| class.as_str() != "sim")
    {
        let detail: Vec<_> = by_status
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  {:<40} {:>8}   ({})",
            format!("IMDS requests: {class}"),
            by_status.values().sum::<u64>(),
            detail.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  {:<40} {:>8}",
        "credential sets issued by IMDS", report.issued
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>8}",
        "uses audited by the simulator", report.uses
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>8}   (after the role was removed, before IMDS could tell)",
        "uses of a removed role's set", report.revoked_uses
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>8}",
        "EXPIRED USES (must be 0)", report.expired_uses
    );
    print!("{out}");
    if report.expired_uses > 0 {
        return Err(Failure(format!(
            "{} uses of expired credentials (must be 0)",
            report.expired_uses
        )));
    }
    if tally.handouts.load(Ordering::Relaxed) == 0 {
        return Err(Failure("no credentials were handed out".into()));
    }
    println!("\nno credentials were used past their expiration.");
    Ok(())
}

/// Prints the Provider's tracing events as timeline lines, in story time.
struct Narrator {
    clock: Arc<dyn Clock>,
    start: MonoTime,
    speed: f64,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Narrator {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("credcycle") || *meta.level() > tracing::Level::INFO {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let t = elapsed(&*self.clock, self.start, self.speed);
        let mark = if *meta.level() == tracing::Level::WARN {
            "!"
        } else {
            " "
        };
        match (fields.message.as_str(), &fields.transition) {
            ("credential lifecycle state changed", Some((from, to, rule))) => {
                println!("  [{t:>5.1} s]   {from:>11} -> {to:<11} {rule}");
            }
            (message, _) => println!("  [{t:>5.1} s] {mark}  {message}{}", fields.rest),
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    transition: Option<(String, String, String)>,
    from: String,
    to: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "from" => self.from = format!("{value:?}"),
            "to" => self.to = format!("{value:?}"),
            "rule" => {
                self.transition = Some((
                    core::mem::take(&mut self.from),
                    core::mem::take(&mut self.to),
                    format!("{value:?}"),
                ));
            }
            name => {
                let _ = write!(self.rest, "  {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            let _ = write!(self.rest, "  {}={value}", field.name());
        }
    }
}
