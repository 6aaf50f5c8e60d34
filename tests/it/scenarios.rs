//! Table-driven scenarios in the vocabulary of the AWS SDKs' refresh redesign, and the
//! acceptance stories of the core issue.

use core::time::Duration;

use credcycle_core::testing::{Harness, HarnessConfig};
use credcycle_core::{
    AccessKeyId, Credentials, Failure, ImdsFailure, Input, MonoTime, Policy, Refusal, Request,
    RoleName, SecretAccessKey, SessionToken, StateKind, WallTime,
};

const HOUR: Duration = Duration::from_secs(3600);
const START: i64 = 1_795_862_471; // 2026-11-28T10:41:11Z

fn creds(akid: &str, expiration: WallTime) -> Credentials {
    Credentials::new(
        AccessKeyId::new(akid),
        SecretAccessKey::new(format!("secret-{akid}")),
        SessionToken::new(format!("token-{akid}")),
        expiration,
    )
}

/// The realistic world's driver (`credcycle_core::testing::Harness`, whose oracle checks every
/// invariant after every input), with helpers that answer requests by hand.
struct Rig {
    h: Harness,
}

impl Rig {
    fn new() -> Self {
        Self::with_policy(Policy::default())
    }

    fn with_policy(policy: Policy) -> Self {
        Self {
            h: Harness::new(HarnessConfig {
                policy,
                seed: 99,
                start: WallTime::from_unix_secs(START),
                ..HarnessConfig::default()
            }),
        }
    }

    fn input(&mut self, input: Input) {
        self.h.input(input).unwrap_or_else(|v| panic!("{v}"));
    }

    fn advance(&mut self, d: Duration) {
        self.h.advance(d).unwrap_or_else(|v| panic!("{v}"));
    }

    /// Answers the outstanding role listing, if any, with `web`.
    fn answer_role(&mut self) {
        self.h
            .reply_role(Ok(RoleName::new("web").unwrap()))
            .unwrap_or_else(|v| panic!("{v}"));
    }

    /// Answers the outstanding credentials request; panics if there is none.
    fn answer(&mut self, result: Result<Credentials, ImdsFailure>) {
        assert!(
            self.outstanding_fetch(),
            "a credentials request is outstanding"
        );
        self.h
            .reply_credentials(result)
            .unwrap_or_else(|v| panic!("{v}"));
    }

    fn outstanding_fetch(&self) -> bool {
        matches!(self.h.pending(), Some(Request::FetchCredentials))
    }

    fn served(&self) -> bool {
        self.h.machine.credentials(self.h.now).is_ok()
    }

    /// Requests issued so far.
    fn requests(&self) -> u64 {
        self.h.oracle.requests
    }

    /// Starts the machine and accepts one set valid for `lifetime`.
    fn fetched(lifetime: Duration) -> Self {
        let mut r = Self::new();
        r.input(Input::Demand);
        r.answer_role();
        let exp = r.h.now.wall.saturating_add(lifetime);
        r.answer(Ok(creds("ASIAFIRST", exp)));
        assert_eq!(r.h.machine.kind(), StateKind::Fresh);
        r
    }

    /// Fails a test whose driving loop has taken `steps` wake-ups, far more than any scenario
    /// here needs: a machine whose deadlines stop moving the clock must fail, not hang.
    fn assert_progress(&self, steps: u32) {
        assert!(
            steps <= 10_000,
            "no progress after {steps} wake-ups: now {}, next deadline {:?}, state {}",
            self.h.now.mono,
            self.h.machine.poll_timeout(),
            self.h.machine.kind()
        );
    }

    fn refresh_at(&self) -> MonoTime {
        match *credcycle_core::internals::phase(self.h.machine.state()) {
            credcycle_core::internals::Phase::Waiting { until } => until,
            ref p => panic!("not waiting: {p:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cached {
    /// Before the refresh-ahead point.
    Valid,
    /// Inside the refresh-ahead window: served, one refresh in the background.
    Advisory,
    /// Inside the expiry margin: never served.
    Mandatory,
    /// Past Expiration.
    Expired,
    /// Nothing ever fetched.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Success,
    Error,
    /// Already expired when it arrives.
    Stale,
    /// The same set again.
    NotRotated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// IMDS was not contacted; nothing changes.
    Untouched,
    /// The next request waits for the refresh point of the new set.
    RefreshPoint,
    /// The next request waits for the backoff delay: an immediate demand does not contact IMDS.
    RateLimited,
    /// Usable credentials are held and IMDS has not rotated: the next poll waits at least the
    /// backoff base and lands with a quarter of the usable time to spare.
    Polling,
}

struct Row {
    cached: Cached,
    answer: Answer,
    served_before: bool,
    contacted: bool,
    served_after: bool,
    next: Next,
}

const fn row(
    cached: Cached,
    answer: Answer,
    served_before: bool,
    contacted: bool,
    served_after: bool,
    next: Next,
) -> Row {
    Row {
        cached,
        answer,
        served_before,
        contacted,
        served_after,
        next,
    }
}

use Answer as A;
use Cached as C;
use Next as N;

/// cached x answer -> served before, IMDS contacted, served after, what comes next.
const TABLE: &[Row] = &[
    // Valid: served from the cache, IMDS is not contacted, whatever it would have said.
    row(C::Valid, A::Success, true, false, true, N::Untouched),
    row(C::Valid, A::Error, true, false, true, N::Untouched),
    row(C::Valid, A::Stale, true, false, true, N::Untouched),
    row(C::Valid, A::NotRotated, true, false, true, N::Untouched),
    // Advisory: served while one refresh runs; a failed refresh keeps serving the old set.
    row(C::Advisory, A::Success, true, true, true, N::RefreshPoint),
    row(C::Advisory, A::Error, true, true, true, N::RateLimited),
    row(C::Advisory, A::Stale, true, true, true, N::RateLimited),
    row(C::Advisory, A::NotRotated, true, true, true, N::Polling),
    // Mandatory: refused; IMDS contacted; only a usable new set is served.
    row(C::Mandatory, A::Success, false, true, true, N::RefreshPoint),
    row(C::Mandatory, A::Error, false, true, false, N::RateLimited),
    row(C::Mandatory, A::Stale, false, true, false, N::RateLimited),
    row(
        C::Mandatory,
        A::NotRotated,
        false,
        true,
        false,
        N::RateLimited,
    ),
    // Expired: likewise.
    row(C::Expired, A::Success, false, true, true, N::RefreshPoint),
    row(C::Expired, A::Error, false, true, false, N::RateLimited),
    row(C::Expired, A::Stale, false, true, false, N::RateLimited),
    row(
        C::Expired,
        A::NotRotated,
        false,
        true,
        false,
        N::RateLimited,
    ),
    // None: the first fetch. "Not rotated" has nothing to repeat: IMDS answers with a set the
    // machine never saw, which is a success.
    row(C::None, A::Success, false, true, true, N::RefreshPoint),
    row(C::None, A::Error, false, true, false, N::RateLimited),
    row(C::None, A::Stale, false, true, false, N::RateLimited),
    row(C::None, A::NotRotated, false, true, true, N::RefreshPoint),
];

fn setup(cached: Cached) -> (Rig, Option<WallTime>) {
    let lifetime = 6 * HOUR;
    if cached == C::None {
        return (Rig::new(), None);
    }
    let mut r = Rig::fetched(lifetime);
    let exp = r.h.now.wall.saturating_add(lifetime);
    let refresh_at = r.refresh_at();
    let target = match cached {
        C::Valid => r.h.now.mono.saturating_add(HOUR),
        C::Advisory => refresh_at.saturating_add(Duration::from_secs(1)),
        C::Mandatory => {
            r.h.now
                .mono
                .saturating_add(lifetime - Duration::from_secs(30))
        }
        C::Expired => {
            r.h.now
                .mono
                .saturating_add(lifetime + Duration::from_secs(10))
        }
        C::None => unreachable!(),
    };
    r.advance(target.saturating_duration_since(r.h.now.mono));
    (r, Some(exp))
}

#[test]
fn sdk_vocabulary_table() {
    for (n, want) in TABLE.iter().enumerate() {
        let ctx = format!("row {n}: {:?} x {:?}", want.cached, want.answer);
        let (mut r, cached_exp) = setup(want.cached);
        assert_eq!(r.served(), want.served_before, "{ctx}: served before");
        let before = r.requests();
        r.input(Input::Demand);
        r.answer_role();
        let contacted = r.outstanding_fetch();
        assert_eq!(contacted, want.contacted, "{ctx}: IMDS contacted");
        assert!(
            r.requests() - before <= 2,
            "{ctx}: one listing and one fetch at most"
        );
        if contacted {
            let wall = r.h.now.wall;
            let result = match (want.answer, cached_exp) {
                (A::Success, _) | (A::NotRotated, None) => {
                    Ok(creds("ASIANEW", wall.saturating_add(6 * HOUR)))
                }
                (A::Error, _) => Err(ImdsFailure::HttpStatus(500)),
                (A::Stale, _) => Ok(creds(
                    "ASIASTALE",
                    wall.saturating_sub(Duration::from_secs(1)),
                )),
                (A::NotRotated, Some(exp)) => Ok(creds("ASIAFIRST", exp)),
            };
            r.answer(result);
        }
        assert_eq!(r.served(), want.served_after, "{ctx}: served after");
        if let Ok(h) = r.h.machine.credentials(r.h.now) {
            assert!(
                r.h.now.wall.saturating_add(Duration::from_secs(60))
                    <= h.credentials().expiration(),
                "{ctx}: INV-1"
            );
        }
        // An immediate demand never contacts IMDS again.
        let issued = r.requests();
        r.advance(Duration::from_millis(1));
        r.input(Input::Demand);
        assert_eq!(
            r.requests(),
            issued,
            "{ctx}: an immediate demand contacted IMDS"
        );
        let wake =
            r.h.machine
                .poll_timeout()
                .expect("a deadline")
                .saturating_duration_since(r.h.now.mono);
        match want.next {
            N::Untouched => assert_eq!(r.h.machine.kind(), StateKind::Fresh, "{ctx}"),
            N::RefreshPoint => {
                assert_eq!(r.h.machine.kind(), StateKind::Fresh, "{ctx}");
                assert!(wake > HOUR, "{ctx}: refresh due in {wake:?}");
            }
            N::Polling => {
                assert_eq!(r.h.machine.kind(), StateKind::BackingOff, "{ctx}");
                let left =
                    r.h.machine
                        .state()
                        .held()
                        .expect("held")
                        .usable_until(&Policy::default())
                        .saturating_duration_since(r.h.now.mono);
                assert!(
                    wake >= Duration::from_secs(1) && wake <= left * 3 / 4,
                    "{ctx}: next poll in {wake:?}, with {left:?} usable left"
                );
                assert!(r.h.machine.state().failing(), "{ctx}");
            }
            N::RateLimited => {
                assert!(
                    matches!(
                        r.h.machine.kind(),
                        StateKind::BackingOff | StateKind::Unavailable
                    ),
                    "{ctx}: {:?}",
                    r.h.machine.kind()
                );
                assert!(
                    wake <= Duration::from_secs(1),
                    "{ctx}: first retry within the 1 s base, got {wake:?}"
                );
                assert!(r.h.machine.state().failing(), "{ctx}");
            }
        }
    }
}

#[test]
fn invalidation_of_the_held_key_drops_only_that_set_and_refreshes_at_once() {
    let mut r = Rig::fetched(6 * HOUR);
    r.advance(HOUR);
    let first_exp =
        r.h.machine
            .credentials(r.h.now)
            .unwrap()
            .credentials()
            .expiration();
    r.input(Input::Invalidate {
        access_key_id: AccessKeyId::new("ASIAFIRST"),
    });
    assert!(!r.served(), "the rejected set is not handed out");
    assert!(r.outstanding_fetch(), "a refresh is due at once");
    // IMDS has not rotated yet and sends the rejected set again: refused, not looped.
    r.answer(Ok(creds("ASIAFIRST", first_exp)));
    assert!(!r.served());
    assert!(matches!(
        r.h.machine.state().last_failure().cloned(),
        Some(Failure::Revoked)
    ));
    let retry = r.h.machine.poll_timeout().unwrap();
    assert!(retry > r.h.now.mono, "retried on the backoff schedule");
    r.advance(retry.saturating_duration_since(r.h.now.mono));
    r.input(Input::Tick);
    // A set expiring earlier than the rejected one is not taken either (INV-5)...
    r.answer(Ok(creds(
        "ASIAEARLIER",
        first_exp.saturating_sub(Duration::from_secs(60)),
    )));
    assert!(!r.served());
    assert_eq!(
        r.h.machine.state().last_failure().cloned(),
        Some(Failure::NotRotated)
    );
    let retry = r.h.machine.poll_timeout().unwrap();
    r.advance(retry.saturating_duration_since(r.h.now.mono));
    r.input(Input::Tick);
    // ... the rotated one is.
    r.answer(Ok(creds("ASIASECOND", first_exp.saturating_add(HOUR))));
    assert_eq!(
        r.h.machine
            .credentials(r.h.now)
            .unwrap()
            .credentials()
            .access_key_id()
            .as_str(),
        "ASIASECOND"
    );
}

#[test]
fn invalidation_of_another_key_changes_nothing() {
    let mut r = Rig::fetched(6 * HOUR);
    let state = r.h.machine.state().clone();
    let issued = r.requests();
    r.input(Input::Invalidate {
        access_key_id: AccessKeyId::new("ASIASOMEONEELSE"),
    });
    assert!(r.served());
    assert_eq!(r.requests(), issued, "no request");
    assert_eq!(
        credcycle_core::internals::phase(r.h.machine.state()),
        credcycle_core::internals::phase(&state)
    );
    assert_eq!(r.h.machine.state().held(), state.held());
}

#[test]
fn invalidation_during_backoff_waits_for_the_backoff() {
    let mut r = Rig::fetched(6 * HOUR);
    let refresh_at = r.refresh_at();
    r.advance(refresh_at.saturating_duration_since(r.h.now.mono));
    r.input(Input::Tick);
    r.answer(Err(ImdsFailure::Timeout));
    assert_eq!(r.h.machine.kind(), StateKind::BackingOff);
    let issued = r.requests();
    r.input(Input::Invalidate {
        access_key_id: AccessKeyId::new("ASIAFIRST"),
    });
    assert_eq!(
        r.requests(),
        issued,
        "INV-4: no request inside the backoff delay"
    );
    assert_eq!(r.h.machine.kind(), StateKind::Unavailable);
    assert!(matches!(
        r.h.machine.credentials(r.h.now),
        Err(Refusal::Unavailable { .. })
    ));
}

#[test]
fn first_fetch_failure_backs_off_and_recovers() {
    let mut r = Rig::new();
    assert_eq!(r.h.machine.credentials(r.h.now).unwrap_err(), Refusal::Idle);
    r.input(Input::Demand);
    assert_eq!(
        r.h.machine.credentials(r.h.now).unwrap_err(),
        Refusal::Discovering
    );
    r.answer_role();
    r.answer(Err(ImdsFailure::ConnectionRefused));
    let refusal = r.h.machine.credentials(r.h.now).unwrap_err();
    let Refusal::Unavailable {
        retry_at, cause, ..
    } = &refusal
    else {
        panic!("{refusal:?}")
    };
    assert_eq!(cause, &Some(Failure::Imds(ImdsFailure::ConnectionRefused)));
    assert!(
        refusal
            .to_string()
            .starts_with("no usable credentials: next IMDS attempt in "),
        "{refusal}"
    );
    // Demands during the backoff do not contact IMDS.
    let issued = r.requests();
    for _ in 0..100 {
        r.input(Input::Demand);
    }
    assert_eq!(r.requests(), issued);
    r.advance(retry_at.saturating_duration_since(r.h.now.mono));
    r.input(Input::Tick);
    assert!(r.outstanding_fetch(), "retried at the end of the backoff");
    let exp = r.h.now.wall.saturating_add(6 * HOUR);
    r.answer(Ok(creds("ASIAOK", exp)));
    assert!(r.served());
}

/// Acceptance: the wall clock jumps back by an hour after a fetch; IMDS is down, so the set is
/// never replaced. Near its monotonic deadline the wall clock still says an hour is left; the
/// monotonic check refuses anyway.
#[test]
fn wall_clock_jumped_back_an_hour_gives_no_expired_handout() {
    let mut r = Rig::fetched(2 * HOUR);
    r.h.now.wall = r.h.now.wall.offset_millis(-3_600_000);
    let deadline = r.h.machine.state().held().unwrap().deadline;
    let mut handed_out_late = false;
    // Drive through the refresh window with IMDS timing out on every attempt.
    let mut steps = 0;
    while r.h.now.mono < deadline {
        steps += 1;
        r.assert_progress(steps);
        let wake = r.h.machine.poll_timeout().unwrap();
        r.advance(wake.saturating_duration_since(r.h.now.mono));
        r.input(Input::Tick);
        if r.outstanding_fetch() {
            r.answer(Err(ImdsFailure::Timeout));
        }
        if let Ok(h) = r.h.machine.credentials(r.h.now) {
            handed_out_late |= r.h.now.mono.saturating_add(Duration::from_secs(60)) > deadline;
            let _ = h;
        }
    }
    assert!(
        !handed_out_late,
        "a hand-out inside the margin of the monotonic deadline"
    );
    // At the end the wall clock still believes in the set, the machine does not.
    let exp = WallTime::from_unix_secs(START).saturating_add(2 * HOUR);
    assert!(
        r.h.now.wall.saturating_add(Duration::from_secs(60)) < exp,
        "wall clock thinks it is valid"
    );
    assert!(!r.served());
}

/// Acceptance: IMDS returns the same credentials five times in a row near expiry. The attempts
/// follow the backoff schedule (never a loop), and nothing is handed out past the margin.
#[test]
fn same_credentials_five_times_near_expiry_are_spaced_by_backoff() {
    let policy = Policy::default();
    let lifetime = 20 * Duration::from_secs(60);
    let mut r = Rig::fetched(lifetime);
    let exp = r.h.machine.state().held().unwrap().expiration;
    let deadline = r.h.machine.state().held().unwrap().deadline;
    let usable_until = deadline.saturating_sub(policy.expiry_margin());
    let mut answered_at = Vec::new();
    let mut asked_at = Vec::new();
    let mut steps = 0;
    while answered_at.len() < 5 {
        steps += 1;
        r.assert_progress(steps);
        let wake = r.h.machine.poll_timeout().unwrap();
        r.advance(wake.saturating_duration_since(r.h.now.mono));
        let issued = r.requests();
        r.input(Input::Tick);
        if r.requests() > issued {
            asked_at.push(r.h.now.mono);
            // Same set again: not rotated.
            r.answer(Ok(creds("ASIAFIRST", exp)));
            answered_at.push(r.h.now.mono);
            assert_eq!(
                r.h.machine.state().last_failure().cloned(),
                Some(Failure::NotRotated)
            );
            assert!(
                !r.outstanding_fetch(),
                "no immediate request after a not-rotated answer"
            );
        }
        if r.h.machine.credentials(r.h.now).is_ok() {
            assert!(
                r.h.now.mono <= usable_until,
                "INV-1: served past the margin"
            );
        }
    }
    for (n, pair) in asked_at.windows(2).enumerate() {
        let gap = pair[1].saturating_duration_since(pair[0]);
        // Polling while usable credentials are held: never closer than the backoff base, and
        // landing with a quarter of the usable time to spare.
        let left = usable_until.saturating_duration_since(pair[0]);
        assert!(
            gap >= policy.backoff_base(),
            "attempt {}: gap {gap:?} below the base",
            n + 2
        );
        assert!(
            gap <= left * 3 / 4,
            "attempt {}: gap {gap:?} past three quarters of the {left:?} left",
            n + 2
        );
    }
    assert!(
        r.served(),
        "still serving the old set, which is still usable"
    );
}

/// A set dropped because the wall clock jumped ahead (R11), served again by IMDS once the clock
/// is corrected, is taken back: a clock is no evidence from AWS (LIVE-1).
fn dropped_by_a_wall_step() -> (Rig, WallTime) {
    let mut r = Rig::fetched(6 * HOUR);
    let exp = r.h.machine.state().held().unwrap().expiration;
    // An hour of real life left, when NTP steps the wall clock almost two hours ahead.
    r.advance(5 * HOUR);
    r.h.jump_wall(7_000_000);
    r.input(Input::Tick);
    assert!(!r.served(), "dropped: the wall clock says it expired");
    assert!(r.h.machine.state().revoked().is_empty(), "not revoked");
    assert!(r.outstanding_fetch(), "fetching at once: nothing failed");
    r.h.correct_wall();
    (r, exp)
}

#[test]
fn a_set_dropped_by_a_wall_step_is_taken_back_after_the_correction() {
    let (mut r, exp) = dropped_by_a_wall_step();
    r.answer(Ok(creds("ASIAFIRST", exp)));
    assert!(
        r.served(),
        "the same set, judged against the corrected clocks"
    );
    assert_eq!(r.h.machine.kind(), StateKind::Fresh);
}

#[test]
fn only_the_very_set_dropped_by_the_clock_is_taken_back() {
    // Another key with the same Expiration is not the dropped set: not rotated.
    let (mut r, exp) = dropped_by_a_wall_step();
    r.answer(Ok(creds("ASIAOTHER", exp)));
    assert!(!r.served());
    assert_eq!(
        r.h.machine.state().last_failure().cloned(),
        Some(Failure::NotRotated),
        "a set expiring no later than the newest"
    );
}

#[test]
fn aws_rejecting_the_dropped_set_revokes_it_and_only_it() {
    // AWS rejects another key: the dropped set can still be taken back.
    let (mut r, exp) = dropped_by_a_wall_step();
    r.input(Input::Invalidate {
        access_key_id: AccessKeyId::new("ASIAOTHER"),
    });
    r.answer(Ok(creds("ASIAFIRST", exp)));
    assert!(r.served(), "an unrelated rejection changes nothing");

    // AWS rejects the dropped set itself: that is evidence, it is never taken back (INV-2).
    let (mut r, exp) = dropped_by_a_wall_step();
    r.input(Input::Invalidate {
        access_key_id: AccessKeyId::new("ASIAFIRST"),
    });
    assert!(
        r.h.machine
            .state()
            .is_revoked(&AccessKeyId::new("ASIAFIRST"))
    );
    r.answer(Ok(creds("ASIAFIRST", exp)));
    assert!(!r.served());
    assert_eq!(
        r.h.machine.state().last_failure().cloned(),
        Some(Failure::Revoked)
    );
}
