//! Single flight under a herd: 1,000 callers arriving together at an expired cache cause exactly
//! one credentials request (INV-3). Deterministic: the scripted IMDS holds its answer until all
//! the other callers are waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Duration;

use credcycle::{Fetcher, Provider};
use credcycle_clock::ManualClock;
use credcycle_core::{Action, Input, MonoTime, Now, WallTime};

const CALLERS: usize = 1_000;

/// Answers like `scripted`, but the first credentials request waits until `CALLERS - 1` callers
/// are waiting on the provider (or 30 s pass, which fails the test).
struct Gate {
    inner: Box<dyn Fetcher>,
    provider: Arc<OnceLock<Provider>>,
    fetches: Arc<AtomicU64>,
}

impl Fetcher for Gate {
    fn answer(&mut self, action: &Action) -> Option<Input> {
        if matches!(action, Action::FetchCredentials { .. })
            && self.fetches.load(Ordering::SeqCst) == 1
        {
            let provider = self.provider.get().expect("provider set");
            for _ in 0..30_000 {
                if provider.stats().waiting >= (CALLERS - 1) as u64 {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        self.inner.answer(action)
    }
}

#[test]
fn a_thousand_callers_at_an_expired_cache_cause_one_request() {
    let clock = ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ));
    let fetches = Arc::new(AtomicU64::new(0));
    let slot = Arc::new(OnceLock::new());
    let wall = clock.clone();
    let gate = Gate {
        inner: Box::new(crate::scripted(
            move || wall.now().wall,
            Duration::from_secs(3600),
            Arc::clone(&fetches),
            "herd",
        )),
        provider: Arc::clone(&slot),
        fetches: Arc::clone(&fetches),
    };
    let provider = Provider::builder()
        .fetcher(gate)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .wait_timeout(Duration::from_secs(60))
        .build()
        .expect("provider");
    slot.set(provider.clone()).expect("once");
    provider.credentials().expect("first fetch");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The cache expires; a thousand callers arrive at once.
    clock.advance(Duration::from_secs(3600));
    let start = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (provider, start) = (provider.clone(), Arc::clone(&start));
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    start.wait();
                    provider.credentials().map(|c| c.access_key_id().clone())
                })
                .expect("spawn")
        })
        .collect();
    let keys: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("join").expect("credentials"))
        .collect();
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "exactly one credentials request for the herd"
    );
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "everyone got the same new set"
    );
    assert_eq!(provider.stats().waiting, 0);
}
