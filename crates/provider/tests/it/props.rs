//! INV-1 and INV-2 at the Provider's exits, as a property: under any interleaving of callers
//! (`credentials()`, and `credentials_async()` with the `tokio` feature), refreshes,
//! invalidations, fetcher panics and clock events (both clocks advancing, the wall clock stepping
//! either way or standing still, coarse readings lagging and leading within their declared
//! bounds), nothing any exit returns violates INV-1 or INV-2 **at the moment it is returned**,
//! judged on the precise clocks against the true expiry of the set the scripted IMDS issued.
//! The expiry an exit tells its consumer (`consumer_expiration`) is judged the same way.
//!
//! Deterministic: one driving thread, no background refresh, a `ManualClock`. A request runs on
//! the Provider's flight thread, but the scripted IMDS holds each request at a gate until a
//! caller waits for it (or the script lets it through between calls), so that nothing moves
//! while the driver judges a hand-out. IMDS "hangs" by moving the clock while it answers.
//!
//! The cases (default 1,000; `PROPTEST_CASES` overrides) catch the mutants of
//! `scripts/mutation-check.sh` named after issue 10's findings 1, 2 and 11.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use credcycle::{ProvidedCredentials, Provider};
use credcycle_clock::ManualClock;
use credcycle_core::testing::world::{Answer as Given, ImdsModel};
use credcycle_core::{
    AccessKeyId, Action, ImdsFailure, Input, MonoTime, Now, Policy, RoleName, WallTime,
};
use proptest::prelude::*;

const MARGIN: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(300);
const PANIC_MESSAGE: &str = "scripted fetcher panic";

/// What the scripted IMDS answers to one request.
#[derive(Clone, Debug)]
enum Answer {
    /// A new set, valid for this many seconds from the moment it is sent.
    New(u64),
    /// The set sent last again (not rotated), or a new one if there is none.
    Same,
    /// HTTP 500 (a timeout for the role listing).
    Fail,
    /// The role's path answers 404 (on a listing: no instance profile).
    RoleGone,
    /// No instance profile.
    Detach,
    /// The fetcher panics.
    Panic,
}

/// One scripted reply: how long IMDS takes, how the wall clock steps meanwhile, what it says.
#[derive(Clone, Debug)]
struct Reply {
    hang_ms: u64,
    wall_step_ms: i64,
    answer: Answer,
}

#[derive(Clone, Debug)]
enum Event {
    /// `credentials()`.
    Call,
    /// `credentials_async()` (a plain call without the `tokio` feature).
    CallAsync,
    /// `invalidate` the key last handed out (or one no set has).
    Invalidate,
    /// Let a request held at the gate go on, between calls.
    Settle,
    /// Both clocks forward.
    Advance(u64),
    /// Both clocks forward to `offset` ms from where the set last handed out stops being
    /// usable, on the monotonic clock or on the wall clock.
    AdvanceTo { mono: bool, offset: i64 },
    /// The wall clock alone steps.
    JumpWall(i64),
    /// The monotonic clock alone advances (a wall clock that stands still).
    AdvanceMonoOnly(u64),
    /// Coarse minus precise, from now on (clamped to the declared lag and lead).
    Skew(i64),
    /// `steps` calls `step_ms` apart, the coarse skew of each taken in turn from `skews`: a walk
    /// across a deadline, with the skew changing between a publication and the next hand-out.
    Walk {
        step_ms: u64,
        steps: u32,
        skews: Vec<i64>,
    },
    /// A call `before_ms` before the set last handed out stops being usable on the monotonic
    /// clock, with the coarse skew at `skew_first` (it publishes there, or starts a refresh
    /// and leaves it in flight); then, the coarse clock lagging by all it may, another call
    /// `after_ms` later: a hand-out against bounds published under another skew.
    Probe {
        skew_first: i64,
        before_ms: u64,
        after_ms: u64,
    },
}

#[derive(Clone, Debug)]
struct Case {
    lag_ms: u64,
    lead_ms: u64,
    grace: bool,
    seed: u64,
    script: Vec<Reply>,
    events: Vec<Event>,
}

fn reply() -> impl Strategy<Value = Reply> {
    let answer = prop_oneof![
        6 => prop::sample::select(vec![45_u64, 90, 180, 900, 3600, 21_600]).prop_map(Answer::New),
        2 => Just(Answer::Same),
        3 => Just(Answer::Fail),
        1 => Just(Answer::RoleGone),
        1 => Just(Answer::Detach),
        1 => Just(Answer::Panic),
    ];
    let hang = prop_oneof![3 => Just(0_u64), 2 => 0_u64..5_000, 2 => 0_u64..180_000];
    let step = prop_oneof![6 => Just(0_i64), 1 => -3_600_000_i64..3_600_000];
    (hang, step, answer).prop_map(|(hang_ms, wall_step_ms, answer)| Reply {
        hang_ms,
        wall_step_ms,
        answer,
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => Just(Event::Call),
        3 => Just(Event::CallAsync),
        2 => Just(Event::Invalidate),
        1 => Just(Event::Settle),
        3 => prop_oneof![0_u64..3_000, 0_u64..600_000, 0_u64..7_200_000].prop_map(Event::Advance),
        4 => (any::<bool>(), prop_oneof![-3_000_i64..3_000, -6_000_i64..0])
            .prop_map(|(mono, offset)| Event::AdvanceTo { mono, offset }),
        2 => prop_oneof![-120_000_i64..120_000, -7_200_000_i64..7_200_000].prop_map(Event::JumpWall),
        1 => (0_u64..600_000).prop_map(Event::AdvanceMonoOnly),
        3 => (prop_oneof![Just(0_i64), Just(3_000)], 0_u64..2_500, 1_000_u64..3_500).prop_map(
            |(skew_first, before_ms, after_ms)| Event::Probe {
                skew_first,
                before_ms,
                after_ms,
            }
        ),
        3 => prop_oneof![Just(-3_000_i64), Just(3_000), Just(0), -3_000_i64..3_000]
            .prop_map(Event::Skew),
        4 => (
            prop_oneof![10_u64..200, 200_u64..2_000, 1_500_u64..2_500],
            5_u32..60,
            prop::sample::select(vec![
                vec![-3_000_i64],
                vec![3_000],
                vec![3_000, -3_000],
                vec![0, -3_000],
                vec![0, -3_000],
                vec![-3_000, 3_000, 0],
            ]),
        )
            .prop_map(|(step_ms, steps, skews)| Event::Walk {
                step_ms,
                steps,
                skews,
            }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            (0_u64, 0_u64),
            (10, 7),
            (1_500, 500),
            (500, 1_500),
            (2_000, 0),
        ]),
        any::<bool>(),
        any::<u64>(),
        prop::collection::vec(reply(), 1..24),
        prop::collection::vec(event(), 1..60),
    )
        .prop_map(|((lag_ms, lead_ms), grace, seed, script, events)| Case {
            lag_ms,
            lead_ms,
            grace,
            seed,
            script,
            events,
        })
}

/// A set the scripted IMDS issued: its `Expiration` and its true expiry on the monotonic clock
/// (it is issued at the moment it is sent, on the clocks of that moment).
#[derive(Clone, Copy, Debug)]
struct Issued {
    expiration: WallTime,
    mono_expiry: MonoTime,
}

/// What IMDS did, shared by the scripted fetcher and the judge.
struct World {
    /// The realistic world's IMDS (`credcycle_core::testing::world`), giving the answers the
    /// script chooses; the rest of this struct is what the judge needs to know of them.
    imds: ImdsModel,
    script: Vec<Reply>,
    next: usize,
    issued: HashMap<String, Issued>,
    /// The set sent last and when, for not-rotated answers; cleared when the role goes.
    last: Option<(String, WallTime, Now)>,
    /// The thread of the last request: a flight thread carries out one request and its
    /// follow-ups, so a request on the same thread continues a flight.
    last_thread: Option<std::thread::ThreadId>,
    /// Keys never to be handed out again: invalidated (once `invalidate` returned) or of a role
    /// that IMDS said was removed or detached.
    revoked: HashSet<String>,
    /// The sets issued before IMDS said the role was removed or detached, until the driver has
    /// seen whether the Provider observed that answer (it ignores a reply to a request it
    /// abandoned): then they join `revoked`.
    gone_pending: Option<Vec<String>>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            imds: ImdsModel::new(Duration::from_secs(3600), Duration::from_secs(300)),
            script: Vec::new(),
            next: 0,
            issued: HashMap::new(),
            last: None,
            last_thread: None,
            revoked: HashSet::new(),
            gone_pending: None,
        }
    }
}

impl World {
    /// After a call or a request: if IMDS said the role was gone and the Provider took it in
    /// (it no longer knows a role), the sets issued before are revoked.
    fn observe(&mut self, provider: &Provider) {
        if let Some(keys) = self.gone_pending.take()
            && provider.role().is_none()
        {
            self.revoked.extend(keys);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds each request until a caller waits for it (the Provider counts its waiters), or the
/// driver lets it through.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    moved: Condvar,
    provider: Mutex<Option<Provider>>,
}

#[derive(Default)]
struct GateState {
    tokens: u32,
    parked: bool,
    open: bool,
    stuck: bool,
}

impl Gate {
    fn pass(&self) {
        let mut state = lock(&self.state);
        state.parked = true;
        // About 60 s of 100 µs waits: a request nobody waits for and nobody lets through is a
        // bug of this test; it fails rather than hangs.
        let mut passed = false;
        for _ in 0..600_000 {
            if state.open {
                passed = true;
                break;
            }
            if state.tokens > 0 {
                state.tokens -= 1;
                passed = true;
                break;
            }
            drop(state);
            let waited_for = lock(&self.provider)
                .as_ref()
                .is_some_and(|p| p.stats().waiting > 0);
            state = lock(&self.state);
            if waited_for {
                passed = true;
                break;
            }
            state = self
                .moved
                .wait_timeout(state, Duration::from_micros(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.stuck |= !passed;
        state.parked = false;
    }

    /// Lets the request held at the gate through, if one is (a token kept for a later one
    /// would let it run while the driver judges).
    fn release(&self) {
        let mut state = lock(&self.state);
        if state.parked {
            state.tokens = 1;
        }
        drop(state);
        self.moved.notify_all();
    }

    /// Waits until no request is in flight, or the one in flight is held at the gate.
    fn quiesce(&self, provider: &Provider) {
        for _ in 0..600_000 {
            if !provider.stats().in_flight {
                return;
            }
            {
                let state = lock(&self.state);
                if state.parked && state.tokens == 0 && !state.open {
                    return;
                }
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        lock(&self.state).stuck = true;
    }
}

/// The scripted IMDS: each request passes the gate, takes the next reply of the script (round
/// and round), moves the clocks by its hang and wall step, then answers.
fn fetcher(
    clock: ManualClock,
    world: Arc<Mutex<World>>,
    gate: Arc<Gate>,
) -> impl FnMut(&Action) -> Option<Input> + Send + 'static {
    move |action| {
        if matches!(action, Action::Notify(_)) {
            return None;
        }
        gate.pass();
        let reply = {
            let mut w = lock(&world);
            let mut reply = w.script[w.next % w.script.len()].clone();
            w.next += 1;
            let thread = std::thread::current().id();
            if w.last_thread.replace(thread) == Some(thread) {
                // A follow-up in the same flight passes the gate on a waiter counted before the
                // previous reply woke it, so the caller may be returning a hand-out right now:
                // this request must not move the clocks or revoke sets under the judge's feet.
                reply.hang_ms = 0;
                reply.wall_step_ms = 0;
                if matches!(reply.answer, Answer::RoleGone | Answer::Detach) {
                    reply.answer = Answer::Fail;
                }
            }
            reply
        };
        clock.advance(Duration::from_millis(reply.hang_ms));
        clock.jump_wall(reply.wall_step_ms);
        let now = clock.now();
        let mut w = lock(&world);
        let gone = |w: &mut World| {
            // INV-2: once the Provider takes this answer in, nothing of the old role may be
            // handed out (see `World::observe`).
            let mut keys: Vec<String> = w.issued.keys().cloned().collect();
            keys.extend(w.gone_pending.take().unwrap_or_default());
            w.gone_pending = Some(keys);
            w.last = None;
        };
        let web = RoleName::new("web").ok()?;
        // The script plays AWS too: the role is attached unless this answer says otherwise.
        let listing = matches!(action, Action::DiscoverRole { .. });
        match reply.answer {
            Answer::Detach => w.imds.detach(),
            Answer::RoleGone if listing => w.imds.detach(),
            _ => w.imds.attach_role(web),
        }
        match action {
            Action::DiscoverRole { id } => {
                let result = match reply.answer {
                    Answer::New(_) | Answer::Same => w.imds.answer_role(&Given::Healthy),
                    Answer::Fail => w.imds.answer_role(&Given::Fail(ImdsFailure::Timeout)),
                    Answer::RoleGone | Answer::Detach => {
                        gone(&mut w);
                        w.imds.answer_role(&Given::Healthy)
                    }
                    Answer::Panic => {
                        drop(w);
                        panic!("{PANIC_MESSAGE}");
                    }
                };
                Some(Input::RoleReply { id: *id, result })
            }
            Action::FetchCredentials { id, role } => {
                let given = match reply.answer {
                    Answer::New(lifetime) => Given::Lasting(Duration::from_secs(lifetime)),
                    // The same set again, as IMDS re-serves its current set until it rotates. Only
                    // while the wall clock has not stepped since it was sent: received on a wall
                    // clock stepped back, it would look valid for longer than it is, and no
                    // client can know (the guarantees hold relative to the clocks at receipt;
                    // docs/lifecycle.md, honest limits). Otherwise IMDS rotates.
                    Answer::Same => match &w.last {
                        Some((_, _, sent))
                            if now.wall.saturating_duration_since(sent.wall)
                                == now.mono.saturating_duration_since(sent.mono)
                                && now.wall >= sent.wall =>
                        {
                            Given::Same
                        }
                        _ => Given::Lasting(Duration::from_secs(3600)),
                    },
                    Answer::Fail => Given::Fail(ImdsFailure::HttpStatus(500)),
                    Answer::RoleGone => {
                        gone(&mut w);
                        Given::NotFound
                    }
                    Answer::Detach => {
                        gone(&mut w);
                        Given::Healthy
                    }
                    Answer::Panic => {
                        drop(w);
                        panic!("{PANIC_MESSAGE}");
                    }
                };
                let result = w.imds.answer_credentials(role, &given, now.wall, MARGIN);
                if let Ok(creds) = &result {
                    let key = creds.access_key_id().to_string();
                    if !w.issued.contains_key(&key) {
                        // A new set: its true expiry on the monotonic clock counts from now, the
                        // moment it is issued and sent.
                        let expiration = creds.expiration();
                        let lifetime = expiration.saturating_duration_since(now.wall);
                        w.issued.insert(
                            key.clone(),
                            Issued {
                                expiration,
                                mono_expiry: now.mono.saturating_add(lifetime),
                            },
                        );
                        w.last = Some((key, expiration, now));
                    }
                }
                Some(Input::CredentialsReply { id: *id, result })
            }
            Action::Notify(_) => None,
        }
    }
}

/// Judges a hand-out at the moment it is returned: INV-1 on the precise clocks against the true
/// expiry of the set (with grace only for marked hand-outs, when opted in), INV-2, and the
/// consumer expiry. Returns the set's true expiry.
fn judge(
    exit: &str,
    creds: &ProvidedCredentials,
    now: Now,
    world: &World,
    grace: Duration,
) -> Result<Issued, TestCaseError> {
    let key = creds.access_key_id().as_str();
    let Some(issued) = world.issued.get(key).copied() else {
        return Err(TestCaseError::fail(format!(
            "{exit}: handed out {key}, which IMDS never issued"
        )));
    };
    prop_assert!(
        !world.revoked.contains(key),
        "INV-2 violated: {exit} handed out {key}, invalidated or of a removed role"
    );
    let wall_over = now
        .wall
        .saturating_add(MARGIN)
        .saturating_duration_since(issued.expiration);
    let mono_over = now
        .mono
        .saturating_add(MARGIN)
        .saturating_duration_since(issued.mono_expiry);
    if creds.in_grace() {
        prop_assert!(!grace.is_zero(), "{exit}: a grace hand-out without grace");
        prop_assert!(
            wall_over <= MARGIN + grace && mono_over <= MARGIN + grace,
            "INV-1 violated: {exit} handed out {key} past Expiration + grace \
             (wall {wall_over:?}, monotonic {mono_over:?} inside the margin)"
        );
    } else {
        prop_assert!(
            wall_over.is_zero(),
            "INV-1 violated: {exit} handed out {key} {} ms inside the margin on the wall clock",
            wall_over.as_millis()
        );
        prop_assert!(
            mono_over.is_zero(),
            "INV-1 violated: {exit} handed out {key} {} ms inside the margin on the monotonic clock",
            mono_over.as_millis()
        );
    }
    // The consumer expiry: at most Expiration - margin, and at most the wall clock now plus the
    // usable time left on the monotonic clock (signed).
    let told = creds.consumer_expiration();
    prop_assert!(
        told <= issued.expiration.saturating_sub(MARGIN),
        "INV-1 violated: {exit} told the consumer {told}, less than the margin before {}",
        issued.expiration
    );
    let left = i64::try_from(issued.mono_expiry.saturating_sub(MARGIN).as_millis())
        .unwrap_or(i64::MAX)
        - i64::try_from(now.mono.as_millis()).unwrap_or(i64::MAX);
    prop_assert!(
        told <= now.wall.offset_millis(left),
        "INV-1 violated: {exit} told the consumer {told}, later than the monotonic time left \
         allows ({})",
        now.wall.offset_millis(left)
    );
    Ok(issued)
}

fn silence_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let scripted = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m == PANIC_MESSAGE);
            if !scripted {
                default(info);
            }
        }));
    });
}

#[cfg(feature = "tokio")]
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    silence_scripted_panics();

    let clock = ManualClock::new(Now::new(
        MonoTime::from_millis(1_000),
        WallTime::from_unix_secs(1_795_862_471),
    ))
    .with_coarse_skew(
        Duration::from_millis(case.lag_ms),
        Duration::from_millis(case.lead_ms),
    );
    let grace = if case.grace { GRACE } else { Duration::ZERO };
    let world = Arc::new(Mutex::new(World {
        script: case.script.clone(),
        ..World::default()
    }));
    let gate = Arc::new(Gate::default());
    let provider = Provider::builder()
        .fetcher(fetcher(
            clock.clone(),
            Arc::clone(&world),
            Arc::clone(&gate),
        ))
        .clock(Arc::new(clock.clone()))
        .policy(
            Policy::builder()
                .expiry_margin(MARGIN)
                .grace(grace)
                .build()
                .expect("policy"),
        )
        .background_refresh(false)
        // No caller gives up on a request in flight: so that none returns while one runs.
        .wait_timeout(Duration::from_secs(365 * 86_400))
        .seed(case.seed)
        .build()
        .expect("provider");
    *lock(&gate.provider) = Some(provider.clone());
    let result = drive(case, &clock, &world, &gate, &provider, grace);
    // Let everything held through, then break the provider <-> gate cycle.
    lock(&gate.state).open = true;
    gate.moved.notify_all();
    gate.quiesce(&provider);
    *lock(&gate.provider) = None;
    let stuck = lock(&gate.state).stuck;
    result?;
    prop_assert!(
        !stuck,
        "a request was held at the gate with nobody to let it through"
    );
    Ok(())
}

fn drive(
    case: &Case,
    clock: &ManualClock,
    world: &Mutex<World>,
    gate: &Gate,
    provider: &Provider,
    grace: Duration,
) -> Result<(), TestCaseError> {
    let mut last: Option<(AccessKeyId, Issued)> = None;
    for event in &case.events {
        match event {
            Event::Call => call(provider, clock, world, gate, grace, &mut last)?,
            Event::Probe {
                skew_first,
                before_ms,
                after_ms,
            } => {
                if let Some((_, issued)) = &last {
                    let target = issued
                        .mono_expiry
                        .saturating_sub(MARGIN)
                        .saturating_sub(Duration::from_millis(*before_ms));
                    clock.skew_coarse(*skew_first);
                    clock.advance(target.saturating_duration_since(clock.now().mono));
                    call(provider, clock, world, gate, grace, &mut last)?;
                    clock.skew_coarse(-3_000);
                    clock.advance(Duration::from_millis(*after_ms));
                    call(provider, clock, world, gate, grace, &mut last)?;
                }
            }
            Event::CallAsync => {
                #[cfg(feature = "tokio")]
                let (exit, answer) = (
                    "credentials_async()",
                    runtime().block_on(provider.credentials_async()),
                );
                #[cfg(not(feature = "tokio"))]
                let (exit, answer) = ("credentials()", provider.credentials());
                if let Ok(creds) = answer {
                    let issued =
                        judge(exit, &creds, clock.now(), &observed(world, provider), grace)?;
                    last = Some((creds.access_key_id().clone(), issued));
                }
            }
            Event::Invalidate => {
                let key = last
                    .as_ref()
                    .map_or_else(|| AccessKeyId::new("ASIANOSUCHSET"), |(k, _)| k.clone());
                provider.invalidate(&key);
                lock(world).revoked.insert(key.as_str().to_owned());
            }
            Event::Settle => gate.release(),
            Event::Advance(ms) => {
                clock.advance(Duration::from_millis(*ms));
            }
            Event::AdvanceTo { mono, offset } => {
                if let Some((_, issued)) = &last {
                    let now = clock.now();
                    let ahead = if *mono {
                        let target =
                            i64::try_from(issued.mono_expiry.saturating_sub(MARGIN).as_millis())
                                .unwrap_or(i64::MAX)
                                .saturating_add(*offset);
                        target.saturating_sub(i64::try_from(now.mono.as_millis()).unwrap_or(0))
                    } else {
                        issued
                            .expiration
                            .saturating_sub(MARGIN)
                            .offset_millis(*offset)
                            .as_unix_millis()
                            .saturating_sub(now.wall.as_unix_millis())
                    };
                    if let Ok(ahead) = u64::try_from(ahead) {
                        clock.advance(Duration::from_millis(ahead));
                    }
                }
            }
            Event::JumpWall(ms) => {
                clock.jump_wall(*ms);
            }
            Event::AdvanceMonoOnly(ms) => {
                clock.advance_mono_only(Duration::from_millis(*ms));
            }
            Event::Skew(ms) => {
                clock.skew_coarse(*ms);
            }
            Event::Walk {
                step_ms,
                steps,
                skews,
            } => {
                for (step, skew) in (0..*steps).zip(skews.iter().cycle()) {
                    if step > 0 {
                        clock.advance(Duration::from_millis(*step_ms));
                    }
                    clock.skew_coarse(*skew);
                    let answer = provider.credentials();
                    gate.quiesce(provider);
                    lock(world).observe(provider);
                    if let Ok(creds) = answer {
                        let issued = judge(
                            "credentials()",
                            &creds,
                            clock.now(),
                            &observed(world, provider),
                            grace,
                        )?;
                        last = Some((creds.access_key_id().clone(), issued));
                    }
                }
            }
        }
        gate.quiesce(provider);
        lock(world).observe(provider);
    }
    Ok(())
}

/// `credentials()`, judged at the moment it returns.
fn call(
    provider: &Provider,
    clock: &ManualClock,
    world: &Mutex<World>,
    gate: &Gate,
    grace: Duration,
    last: &mut Option<(AccessKeyId, Issued)>,
) -> Result<(), TestCaseError> {
    let answer = provider.credentials();
    if let Ok(creds) = answer {
        let issued = judge(
            "credentials()",
            &creds,
            clock.now(),
            &observed(world, provider),
            grace,
        )?;
        *last = Some((creds.access_key_id().clone(), issued));
    }
    gate.quiesce(provider);
    Ok(())
}

/// The world, with what the Provider has taken in so far.
fn observed<'a>(world: &'a Mutex<World>, provider: &Provider) -> MutexGuard<'a, World> {
    let mut w = lock(world);
    w.observe(provider);
    w
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Nothing any exit returns violates INV-1 or INV-2 at the moment it is returned.
    #[test]
    fn no_exit_hands_out_an_expired_or_revoked_set(case in case()) {
        run(&case)?;
    }
}
