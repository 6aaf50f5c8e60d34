//! The demo in virtual time, recorded and drawn (`--timeline`, `--timeline-html`).
//!
//! Determinism: the clock is a [`ManualClock`] that only this thread moves, in steps of
//! [`STEP_MS`]; the workers take turns on this thread, and after each call the director waits
//! until the Provider has no request in flight, so that every reply is handled at the instant
//! it was asked for. The simulator and the Provider are seeded.
//!
//! The Provider's own wait is switched off (a wait timeout of zero): a caller that waits for a
//! request in flight feeds the lifecycle one more demand each time it wakes, and how often it
//! wakes depends on the scheduler; each input draws the next jitter, so the picture would too.
//! Instead a call that would wait returns at once ("timed out"), the director waits for the
//! flight to land, and the worker asks again at the same virtual instant: what a waiting caller
//! gets, with the same inputs in every run. And a request a call starts is held at a [`Gate`]
//! until that call has returned, so that its reply never lands while the call is still looking
//! at what is held. Every input then reaches the lifecycle in the same order in every run:
//! nothing depends on how fast the machine is, except a loopback request taking longer than the
//! IMDS timeout (10 s).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use credcycle::{Fetcher, Provider};
use credcycle_clock::{Clock, ManualClock};
use credcycle_core::{Action, ImdsFailure, Input, MonoTime, Now};
use credcycle_imds::{ImdsClient, ImdsConfig, UreqTransport};

use super::recording::{Asked, Recording, WALL_START};
use super::{
    Args, CHAPTERS, END, Tally, narrate, progress, start_sim, story_policy, story_sim, summary,
};
use crate::Failure;
use crate::timeline::Cell;

/// The virtual clock's step, in ms of story time: each worker asks once per step.
const STEP_MS: u64 = 50;

/// Holds requests back while a call to the Provider is in progress.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    fn open(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.opened.notify_all();
    }

    /// Waits until no call is in progress. A call never waits for a request (the wait timeout
    /// is zero), so this cannot deadlock; the bound only turns a bug into a less exact picture
    /// rather than a hang.
    fn pass(&self) {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .opened
            .wait_timeout_while(closed, Duration::from_secs(10), |closed| *closed);
    }
}

/// The real IMDS client, recording every answer with the virtual time it was asked at.
struct Recorder {
    inner: ImdsClient<UreqTransport, Arc<dyn Clock>>,
    clock: Arc<dyn Clock>,
    start: MonoTime,
    log: Arc<Mutex<Vec<Asked>>>,
    last_key: Option<String>,
    gate: Arc<Gate>,
}

impl Fetcher for Recorder {
    fn answer(&mut self, action: &Action) -> Option<Input> {
        self.gate.pass();
        let at = self
            .clock
            .now()
            .mono
            .saturating_duration_since(self.start)
            .as_secs_f64();
        let reply = self.inner.answer(action);
        let (what, outcome) = match &reply {
            Some(Input::RoleReply { result, .. }) => (
                "role listing",
                result
                    .as_ref()
                    .map_or_else(outcome_of, |_| "200".to_owned()),
            ),
            Some(Input::CredentialsReply { result, .. }) => (
                "credentials",
                match result {
                    Ok(creds) => {
                        let key = creds.access_key_id().as_str().to_owned();
                        let same = self.last_key.as_deref() == Some(key.as_str());
                        self.last_key = Some(key);
                        if same { "not rotated" } else { "200" }.to_owned()
                    }
                    Err(e) => outcome_of(e),
                },
            ),
            _ => return reply,
        };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Asked { at, what, outcome });
        reply
    }

    fn last_error(&self) -> Option<String> {
        self.inner.last_error().map(ToString::to_string)
    }
}

fn outcome_of(e: &ImdsFailure) -> String {
    match e {
        ImdsFailure::Timeout => "timeout".to_owned(),
        ImdsFailure::ConnectionRefused => "reset".to_owned(),
        ImdsFailure::HttpStatus(s) => s.to_string(),
        ImdsFailure::NoInstanceProfile | ImdsFailure::RoleNotFound => "404".to_owned(),
        ImdsFailure::Malformed => "malformed".to_owned(),
        ImdsFailure::NotSuccess { .. } => "not Success".to_owned(),
        _ => "other".to_owned(),
    }
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let clock = ManualClock::new(Now::new(MonoTime::from_millis(1_000_000), WALL_START));
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let start = clock.now().mono;
    let sim = start_sim(story_sim(1.0, Some(args.seed))?, Arc::clone(&shared))?;
    let imds = ImdsConfig::builder()
        .endpoint(sim.url())
        // Real time: only a loopback request slower than this could change the run.
        .timeout(Duration::from_secs(10))
        .num_attempts(1)
        .jitter_seed(args.seed)
        .build()
        .map_err(|e| Failure(e.to_string()))?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Gate::default());
    let recorder = Recorder {
        gate: Arc::clone(&gate),
        inner: ImdsClient::new(imds, UreqTransport::new(), Arc::clone(&shared)),
        clock: Arc::clone(&shared),
        start,
        log: Arc::clone(&log),
        last_key: None,
    };
    let provider = Provider::builder()
        .policy(story_policy(1.0)?)
        .clock(Arc::clone(&shared))
        .fetcher(recorder)
        .background_refresh(false)
        .wait_timeout(Duration::ZERO)
        .seed(args.seed)
        .build()
        .map_err(|e| Failure(e.to_string()))?;
    narrate(Arc::clone(&shared), start, 1.0);
    println!(
        "credcycle demo in virtual time (seed {}): IMDS simulator at {} (credentials live {LIFETIME:.0} s); {} workers taking turns",
        args.seed,
        sim.url(),
        args.workers,
        LIFETIME = super::LIFETIME,
    );
    println!(
        "time is story time, on a manual clock; lines come from the Provider's tracing events"
    );

    let workers = usize::try_from(args.workers).unwrap_or(1);
    let seconds = END as usize;
    let mut rec = Recording {
        seed: args.seed,
        workers,
        cells: vec![vec![Cell::default(); seconds]; workers],
        states: Vec::new(),
        serving: Vec::new(),
        asked: Vec::new(),
        sets: Vec::new(),
    };
    let tally = Tally::default();
    let mut chapters = CHAPTERS.iter().peekable();
    let mut next_progress = 2.5;
    let steps = (END * 1000.0) as u64 / STEP_MS;
    for step in 0..steps {
        let t = (step * STEP_MS) as f64 / 1000.0;
        while let Some((_, title)) = chapters.next_if(|(when, _)| *when <= t) {
            println!("\n== {title}");
        }
        if t >= next_progress {
            progress(t, &tally, &sim);
            next_progress += 2.5;
        }
        let second = (step * STEP_MS / 1000) as usize;
        for w in 0..workers {
            let cell = &mut rec.cells[w][second.min(seconds - 1)];
            match ask(&provider, &gate) {
                Ok(creds) => {
                    tally
                        .handouts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    cell.handouts += 1;
                    let key = creds.access_key_id().as_str().to_owned();
                    if sim.record_use(&key).is_some_and(|u| u.expired) {
                        cell.expired += 1;
                    }
                    if rec.serving.last().is_none_or(|(_, k)| *k != key) {
                        rec.serving.push((t, key));
                    }
                }
                Err(e) => {
                    tally.refused(e.refusal());
                    cell.refusals += 1;
                }
            }
        }
        let state = provider.state();
        if rec.states.last().is_none_or(|(_, s)| *s != state) {
            rec.states.push((t, state));
        }
        clock.advance(Duration::from_millis(STEP_MS));
    }
    println!();
    rec.asked = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    rec.sets = sim.report().sets;
    drop(provider);

    let timeline = rec.timeline();
    if let Some(path) = &args.timeline {
        let svg = timeline
            .to_svg()
            .map_err(|e| Failure(format!("drawing the timeline: {e}")))?;
        write(path, &svg)?;
    }
    if let Some(path) = &args.timeline_html {
        let html = super::page::html(&timeline, &rec)
            .map_err(|e| Failure(format!("drawing the timeline: {e}")))?;
        write(path, &html)?;
    }
    summary(&tally, &sim)
}

fn write(path: &std::path::Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
    println!("timeline written to {}", path.display());
    Ok(())
}

/// Asks for credentials as a waiting caller would: when the call would wait for a request in
/// flight, waits for it to land, then asks again (at the same virtual instant). Returns with
/// nothing in flight.
fn ask(
    provider: &Provider,
    gate: &Gate,
) -> Result<credcycle::ProvidedCredentials, credcycle::ProviderError> {
    let mut tries = 0;
    loop {
        gate.close();
        let answer = provider.credentials();
        gate.open();
        settle(provider);
        tries += 1;
        match answer {
            // A request the call started (or found) is answered now: ask again. Bounded, in case
            // the lifecycle keeps asking; the last answer counts then.
            Err(credcycle::ProviderError::TimedOut { .. }) if tries < 8 => {}
            answer => return answer,
        }
    }
}

/// Waits until the Provider has no request in flight (a flight thread carries it out; its
/// reply is handled at the virtual instant it was asked at, because only this thread moves
/// the clock).
fn settle(provider: &Provider) {
    while provider.stats().in_flight {
        std::thread::sleep(Duration::from_micros(100));
    }
}
