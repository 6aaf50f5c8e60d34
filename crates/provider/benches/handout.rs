//! The cost of a hand-out with valid cached credentials, both clock checks included, against a
//! lock-based baseline: `cargo bench -p credcycle --bench handout`.
//!
//! Figures and how to read them are in docs/performance.md.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::thread;
use std::time::Duration;

use credcycle::Provider;
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{
    AccessKeyId, Action, Credentials, Input, Now, RoleName, SecretAccessKey, SessionToken, WallTime,
};
use criterion::{Criterion, criterion_group, criterion_main};

const MARGIN: Duration = Duration::from_secs(60);

fn creds(expiration: WallTime) -> Credentials {
    Credentials::new(
        AccessKeyId::new("ASIABENCHMARK"),
        SecretAccessKey::new("secret".into()),
        SessionToken::new("token".into()),
        expiration,
    )
}

/// A provider holding 6-hour credentials (fetched from a closure: no network).
fn provider() -> Provider {
    let clock = SystemClock::new();
    let fetcher = move |action: &Action| match action {
        Action::DiscoverRole { id } => Some(Input::RoleReply {
            id: *id,
            result: Ok(RoleName::new("bench").ok()?),
        }),
        Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
            id: *id,
            result: Ok(creds(
                clock
                    .now()
                    .wall
                    .saturating_add(Duration::from_secs(6 * 3600)),
            )),
        }),
        Action::Notify(_) => None,
    };
    let provider = Provider::builder()
        .fetcher(fetcher)
        .background_refresh(false)
        .build()
        .expect("provider");
    provider.credentials().expect("first fetch");
    provider
}

/// The baseline: the same checks on both (precise) clocks, behind a lock.
struct Locked<L> {
    lock: L,
    clock: SystemClock,
}

struct Entry {
    creds: Arc<Credentials>,
    mono_deadline: credcycle_core::MonoTime,
    expiration: WallTime,
}

impl Locked<RwLock<Entry>> {
    fn get(&self) -> Option<Arc<Credentials>> {
        let now = self.clock.now();
        let e = self.lock.read().ok()?;
        usable(&e, now).then(|| Arc::clone(&e.creds))
    }
}

impl Locked<Mutex<Entry>> {
    fn get(&self) -> Option<Arc<Credentials>> {
        let now = self.clock.now();
        let e = self.lock.lock().ok()?;
        usable(&e, now).then(|| Arc::clone(&e.creds))
    }
}

fn usable(e: &Entry, now: Now) -> bool {
    now.wall.saturating_add(MARGIN) <= e.expiration
        && now.mono.saturating_add(MARGIN) <= e.mono_deadline
}

fn entry(clock: &SystemClock) -> Entry {
    let now = clock.now();
    let expiration = now.wall.saturating_add(Duration::from_secs(6 * 3600));
    Entry {
        creds: Arc::new(creds(expiration)),
        mono_deadline: now.mono.saturating_add(Duration::from_secs(6 * 3600)),
        expiration,
    }
}

/// Runs `f` `iters` times on each of `threads` threads at once; returns the time per call seen
/// by the slowest thread, times `iters`.
#[expect(
    clippy::disallowed_methods,
    reason = "a benchmark measures elapsed time"
)]
fn concurrently<F: Fn() + Send + Sync + 'static>(
    threads: usize,
    iters: u64,
    f: Arc<F>,
) -> Duration {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, start) = (Arc::clone(&f), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    f();
                }
                t.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn handout(c: &mut Criterion) {
    let mut group = c.benchmark_group("handout");
    let p = provider();
    group.bench_function("provider/1-thread", |b| {
        b.iter(|| black_box(p.credentials().is_ok()))
    });
    let shared = Arc::new(p.clone());
    group.bench_function("provider/2-threads", |b| {
        b.iter_custom(|iters| {
            let p = Arc::clone(&shared);
            concurrently(
                2,
                iters,
                Arc::new(move || {
                    black_box(p.credentials().is_ok());
                }),
            )
        });
    });

    let clock = SystemClock::new();
    let rw = Arc::new(Locked {
        lock: RwLock::new(entry(&clock)),
        clock,
    });
    group.bench_function("rwlock/1-thread", |b| {
        b.iter(|| black_box(rw.get().is_some()))
    });
    group.bench_function("rwlock/2-threads", |b| {
        b.iter_custom(|iters| {
            let rw = Arc::clone(&rw);
            concurrently(
                2,
                iters,
                Arc::new(move || {
                    black_box(rw.get().is_some());
                }),
            )
        });
    });
    let mx = Arc::new(Locked {
        lock: Mutex::new(entry(&clock)),
        clock,
    });
    group.bench_function("mutex/1-thread", |b| {
        b.iter(|| black_box(mx.get().is_some()))
    });
    group.bench_function("mutex/2-threads", |b| {
        b.iter_custom(|iters| {
            let mx = Arc::clone(&mx);
            concurrently(
                2,
                iters,
                Arc::new(move || {
                    black_box(mx.get().is_some());
                }),
            )
        });
    });
    // The parts, for scale.
    group.bench_function("parts/precise-now", |b| b.iter(|| black_box(clock.now())));
    group.bench_function("parts/coarse-now", |b| b.iter(|| black_box(clock.coarse())));
    group.finish();
}

/// Time to first credentials against the loopback simulator: a new Provider (and IMDS client)
/// per iteration, so each pays the cold start: token, role listing, credentials.
fn cold_start(c: &mut Criterion) {
    let sim = credcycle_sim::SimServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        credcycle_sim::SimConfig::default(),
    )
    .expect("sim");
    let imds = credcycle_imds::ImdsConfig::builder()
        .endpoint(sim.url())
        .build()
        .expect("imds");
    let mut group = c.benchmark_group("cold-start");
    group.sample_size(50);
    group.bench_function("loopback-simulator", |b| {
        b.iter(|| {
            let provider = Provider::builder()
                .imds(imds.clone())
                .background_refresh(false)
                .build()
                .expect("provider");
            black_box(provider.credentials().is_ok())
        });
    });
    group.finish();
    let report = sim.report();
    assert_eq!(
        report.token_puts,
        report.count("credentials", "200"),
        "three requests per cold start"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = handout, cold_start
}
criterion_main!(benches);
