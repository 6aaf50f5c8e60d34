//! `Provider::stats`: the state, the time the held set stays usable (on both clocks), and the
//! counters (hand-outs, refusals, what the lifecycle made of each reply, the replies by status),
//! driven by a scripted IMDS on a ManualClock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credcycle::{ImdsStatusCounts, Provider, ProviderStats, RefreshOutcomes, RefusalCounts};
use credcycle_clock::ManualClock;
use credcycle_core::{
    AccessKeyId, Action, Credentials, ImdsFailure, Input, MonoTime, Now, Refusal, RoleName,
    SecretAccessKey, SessionToken, StateKind, WallTime,
};

/// What the scripted IMDS answers to the next credentials fetch.
#[derive(Clone, Debug)]
enum Reply {
    /// A new set, valid this long from now.
    Fresh(Duration),
    /// The last set again (not yet rotated).
    Same,
    /// A new set that expired a minute ago.
    Stale,
    /// A failure.
    Fail(ImdsFailure),
}

struct Imds {
    clock: ManualClock,
    role: Mutex<VecDeque<Result<(), ImdsFailure>>>,
    replies: Mutex<VecDeque<Reply>>,
    last: Mutex<Option<Credentials>>,
    fetches: Mutex<u64>,
}

impl Imds {
    fn answer(&self, action: &Action) -> Option<Input> {
        match action {
            Action::DiscoverRole { id } => {
                let next = self.role.lock().unwrap().pop_front().unwrap_or(Ok(()));
                Some(Input::RoleReply {
                    id: *id,
                    result: next.map(|()| RoleName::new("web").expect("role")),
                })
            }
            Action::FetchCredentials { id, .. } => {
                let reply = self.replies.lock().unwrap().pop_front();
                let reply = reply.expect("a scripted reply for every fetch");
                let mut fetches = self.fetches.lock().unwrap();
                *fetches += 1;
                let n = *fetches;
                let wall = self.clock.now().wall;
                let mut last = self.last.lock().unwrap();
                let result = match reply {
                    Reply::Fresh(lifetime) => Ok(set(n, wall.saturating_add(lifetime))),
                    Reply::Stale => Ok(set(n, wall.saturating_sub(Duration::from_secs(60)))),
                    Reply::Same => Ok(last.clone().expect("a set was sent before")),
                    Reply::Fail(failure) => Err(failure),
                };
                if let Ok(creds) = &result {
                    *last = Some(creds.clone());
                }
                Some(Input::CredentialsReply { id: *id, result })
            }
            Action::Notify(_) => None,
        }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.replies.lock().unwrap().extend(replies);
    }
}

fn set(n: u64, expiration: WallTime) -> Credentials {
    Credentials::new(
        AccessKeyId::new(format!("ASIASTATS{n:04}")),
        SecretAccessKey::new(format!("stats-secret-{n}")),
        SessionToken::new(format!("stats-token-{n}")),
        expiration,
    )
}

/// A provider without a background thread over a scripted IMDS on a ManualClock.
fn provider(role: Vec<Result<(), ImdsFailure>>) -> (Provider, ManualClock, Arc<Imds>) {
    let clock = ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ));
    let imds = Arc::new(Imds {
        clock: clock.clone(),
        role: Mutex::new(role.into()),
        replies: Mutex::new(VecDeque::new()),
        last: Mutex::new(None),
        fetches: Mutex::new(0),
    });
    let fetcher = Arc::clone(&imds);
    let provider = Provider::builder()
        .fetcher(move |action: &Action| fetcher.answer(action))
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .seed(7)
        .build()
        .expect("provider");
    (provider, clock, imds)
}

/// The counters of `stats` only: the same struct with the state, the time left and the
/// slow-path fields left as they are, to compare counters in one `assert_eq!`.
fn counters(stats: &ProviderStats) -> (u64, RefusalCounts, RefreshOutcomes, ImdsStatusCounts) {
    (stats.handouts, stats.refusals, stats.outcomes, stats.imds)
}

const HOUR: Duration = Duration::from_secs(3600);
const MARGIN: Duration = Duration::from_secs(60);

#[test]
fn a_new_provider_has_counted_nothing_and_holds_nothing() {
    let (provider, _, _) = provider(vec![]);
    let stats = provider.stats();
    assert_eq!(stats.state, StateKind::Idle);
    assert_eq!(stats.usable_for, None);
    assert_eq!(
        counters(&stats),
        (
            0,
            RefusalCounts::default(),
            RefreshOutcomes::default(),
            ImdsStatusCounts::default()
        )
    );
    assert_eq!(stats.refusals.total(), 0);
    assert_eq!(stats.imds.total(), 0);
}

#[test]
fn stats_follow_a_failure_a_fetch_hits_a_refresh_not_rotated_and_a_stale_set() {
    let (provider, clock, imds) = provider(vec![]);

    // The first fetch fails with a 500: refused, backing off, nothing usable.
    imds.script([Reply::Fail(ImdsFailure::HttpStatus(500))]);
    let err = provider.credentials().expect_err("the fetch failed");
    let Some(Refusal::Unavailable { retry_in, .. }) = err.refusal().cloned() else {
        panic!("backing off: {err:?}");
    };
    let stats = provider.stats();
    assert_eq!(stats.state, StateKind::Unavailable);
    assert_eq!(stats.usable_for, None);
    assert_eq!(stats.handouts, 0);
    assert_eq!(stats.refusals.backing_off, 1);
    assert_eq!(stats.refusals.total(), 1);
    assert_eq!(stats.outcomes.imds_error, 1);
    assert_eq!(
        (stats.imds.ok, stats.imds.server_error),
        (1, 1),
        "listing, fetch"
    );
    assert_eq!(stats.imds.total(), stats.requests);

    // After the backoff a one-hour set arrives: handed out, usable for an hour less the margin.
    clock.advance(retry_in);
    imds.script([Reply::Fresh(HOUR)]);
    provider.credentials().expect("fetched");
    let stats = provider.stats();
    assert_eq!(stats.state, StateKind::Fresh);
    assert_eq!(stats.usable_for, Some(HOUR - MARGIN));
    assert_eq!(stats.handouts, 1);
    assert_eq!(stats.outcomes.accepted, 1);
    assert_eq!(stats.imds.ok, 2);
    let slow_calls = stats.slow_calls;

    // Hits of the hot path count as hand-outs and take no lock.
    for _ in 0..5 {
        provider.credentials().expect("a hit");
    }
    let stats = provider.stats();
    assert_eq!(stats.handouts, 6);
    assert_eq!(stats.slow_calls, slow_calls, "all five were hits");

    // Time passing shortens what is left, on the monotonic clock...
    clock.advance(Duration::from_secs(1000));
    assert_eq!(
        provider.stats().usable_for,
        Some(HOUR - MARGIN - Duration::from_secs(1000))
    );
    // ...and on the wall clock, whichever is shorter (a wall clock stepped forward).
    clock.jump_wall(300_000);
    assert_eq!(
        provider.stats().usable_for,
        Some(HOUR - MARGIN - Duration::from_secs(1300))
    );
    clock.jump_wall(-300_000);

    // Past the refresh point (at most 18 min before the usable deadline for a one-hour set), a
    // caller refreshes and gets the same set: not rotated, still served, backing off.
    clock.advance(Duration::from_secs(1700));
    imds.script([Reply::Same]);
    provider.credentials().expect("still served");
    let stats = provider.stats();
    assert_eq!(stats.state, StateKind::BackingOff);
    assert_eq!(stats.outcomes.not_rotated, 1);
    assert_eq!(stats.imds.ok, 3);
    assert_eq!(stats.handouts, 7);
    assert_eq!(
        stats.usable_for,
        Some(HOUR - MARGIN - Duration::from_secs(2700)),
        "still the first set"
    );

    // The retry gets a set that already expired: a failure, not a success.
    let Some(left) = stats.usable_for else {
        unreachable!()
    };
    clock.advance(left - Duration::from_secs(1));
    imds.script([Reply::Stale, Reply::Fail(ImdsFailure::Timeout)]);
    provider
        .credentials()
        .expect("the first set, a second before its deadline");
    let stats = provider.stats();
    assert_eq!(stats.outcomes.stale, 1);
    assert_eq!(stats.usable_for, Some(Duration::from_secs(1)));

    // Past the usable deadline nothing is handed out; the retry, due by then, times out.
    clock.advance(Duration::from_secs(30));
    let err = provider.credentials().expect_err("nothing usable");
    let stats = provider.stats();
    assert_eq!(stats.usable_for, None);
    assert_eq!(stats.state, StateKind::Unavailable, "{err}");
    assert_eq!(stats.refusals.backing_off, 2);
    assert_eq!(stats.refusals.total(), 2);
    assert_eq!(stats.handouts, 8, "no hand-out counted for a refusal");
    assert_eq!(stats.imds.timeout, 1);
    assert_eq!(stats.outcomes.imds_error, 2, "the 500 and the timeout");
    assert_eq!(
        stats.imds.total(),
        stats.requests,
        "every request answered, each counted once"
    );
    assert_eq!(
        stats.outcomes.accepted
            + stats.outcomes.not_rotated
            + stats.outcomes.stale
            + stats.outcomes.imds_error,
        stats.requests - 1,
        "one outcome per fetch; the listing's success is none"
    );
}

#[test]
fn a_detached_instance_is_counted_as_such() {
    let (provider, _, _) = provider(vec![Err(ImdsFailure::NoInstanceProfile)]);
    let err = provider.credentials().expect_err("no instance profile");
    let stats = provider.stats();
    assert_eq!(stats.state, StateKind::Detached, "{err}");
    assert_eq!(stats.usable_for, None);
    assert_eq!(stats.refusals.no_instance_profile, 1);
    assert_eq!(stats.outcomes.no_instance_profile, 1);
    assert_eq!(stats.imds.not_found, 1);
    assert_eq!(stats.imds.total(), 1);
    assert_eq!(stats.handouts, 0);
}

#[test]
fn hand_outs_from_many_threads_are_all_counted() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 2_000;
    let (provider, _, imds) = provider(vec![]);
    imds.script([Reply::Fresh(HOUR)]);
    provider.credentials().expect("fetched");
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..CALLS {
                    provider.credentials().expect("a hit");
                }
            });
        }
    });
    let stats = provider.stats();
    assert_eq!(stats.handouts, 1 + THREADS * CALLS);
    assert_eq!(stats.slow_calls, 1, "every other call was a hit");
}
