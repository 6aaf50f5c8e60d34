//! Pinned behaviours of `step` and `Machine` that the property tests, the scenarios and the model
//! check did not look at closely enough (found by `cargo mutants`, see `docs/model.md`): the grace
//! arithmetic, the too-short guard, stale replies, refusals, counters, the jitter generator, the
//! names of rules and the transition table. Table-driven where the cases share a shape.

use core::num::NonZeroU32;
use core::time::Duration;

use crate::creds::{AccessKeyId, Credentials, RoleName, SecretAccessKey, SessionToken};
use crate::failure::Failure;
use crate::input::{ImdsFailure, Input, InputKind, RequestId};
use crate::machine::{Machine, Refusal, UsageError};
use crate::output::{Action, DropReason};
use crate::policy::Policy;
use crate::rng::SplitMix64;
use crate::state::{Failing, Held, Phase, Request, ServeMode, State, StateKind};
use crate::step::{Rule, step};
use crate::table::{self, Edge};
use crate::time::{Jitter, MonoTime, Now, WallTime};

const START: i64 = 1_795_862_471; // 2026-11-28T10:41:11Z
const MIN: Duration = Duration::from_secs(60);

fn t0() -> Now {
    Now::new(
        MonoTime::from_millis(1_000_000),
        WallTime::from_unix_secs(START),
    )
}

fn creds(akid: &str, expiration: WallTime) -> Credentials {
    Credentials::new(
        AccessKeyId::new(akid),
        SecretAccessKey::new(format!("secret-{akid}")),
        SessionToken::new(format!("token-{akid}")),
        expiration,
    )
}

fn role() -> RoleName {
    RoleName::new("web").unwrap_or_else(|e| panic!("valid role: {e}"))
}

fn grace_policy() -> Policy {
    Policy::builder()
        .grace(5 * MIN)
        .build()
        .unwrap_or_else(|e| panic!("valid policy: {e}"))
}

fn pinned_policy() -> Policy {
    Policy::builder()
        .pinned_role(Some(role()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Drains the machine's actions; returns the id of the last request among them.
fn last_request(m: &mut Machine) -> Option<RequestId> {
    std::iter::from_fn(|| m.poll_action())
        .filter_map(|a| match a {
            Action::DiscoverRole { id } | Action::FetchCredentials { id, .. } => Some(id),
            Action::Notify(_) => None,
        })
        .last()
}

/// Answers the machine's outstanding request with the reply `input` makes for its id.
fn answer(
    m: &mut Machine,
    now: Now,
    input: impl FnOnce(RequestId) -> Input,
) -> Result<Rule, UsageError> {
    let id = last_request(m).unwrap_or_else(|| panic!("an outstanding request"));
    m.handle_input(now, input(id))
}

/// A machine holding a 6-hour set (`akid`), the role discovered.
fn serving(policy: Policy, seed: u64, akid: &str) -> (Machine, Now) {
    let now = t0();
    let mut m = Machine::new(policy, seed);
    let ok = |r: Result<Rule, UsageError>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(m.handle_input(now, Input::Demand));
    ok(answer(&mut m, now, |id| Input::RoleReply {
        id,
        result: Ok(role()),
    }));
    let exp = now.wall.saturating_add(Duration::from_secs(6 * 3600));
    assert_eq!(
        ok(answer(&mut m, now, |id| Input::CredentialsReply {
            id,
            result: Ok(creds(akid, exp))
        })),
        Rule::Accept
    );
    (m, now)
}

// ---- names ----

#[test]
fn names_print_as_themselves() {
    let cases: [(String, &str); 12] = [
        (AccessKeyId::new("ASIAX1").to_string(), "ASIAX1"),
        (role().to_string(), "web"),
        (format!("{:?}", role()), "\"web\""),
        (RequestId(7).to_string(), "#7"),
        (StateKind::BackingOff.to_string(), "BackingOff"),
        (format!("{:>7}", StateKind::Fresh), "  Fresh"),
        (Rule::Accept.name().to_owned(), "Accept"),
        (Rule::AfterStop.name().to_owned(), "AfterStop"),
        (Rule::Accept.to_string(), "R4 Accept"),
        (Rule::ClockRegression.to_string(), "R18 ClockRegression"),
        (
            DropReason::Expired.to_string(),
            "inside the expiry margin or expired",
        ),
        (
            DropReason::RoleGone.to_string(),
            "the role was removed or changed",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn rule_ids_count_up_in_spec_order() {
    for (i, rule) in Rule::ALL.iter().enumerate() {
        assert_eq!(rule.id(), format!("R{}", i + 1), "{rule:?}");
        assert_eq!(rule.name(), format!("{rule:?}"));
    }
}

// ---- the INV-1 check with grace ----

fn held_expiring_at(now: Now) -> Held {
    Held {
        access_key_id: AccessKeyId::new("ASIAHELD"),
        expiration: now.wall,
        deadline: now.mono,
    }
}

#[test]
fn grace_is_bounded_on_both_clocks() {
    let p = grace_policy();
    let now = t0();
    let h = held_expiring_at(now);
    // 10 s past expiry on both clocks: inside the grace period while failing, never otherwise.
    let inside = now.advance(Duration::from_secs(10));
    // Past the grace period on the monotonic clock only (the wall clock went back): refused.
    let mono_past = Now::new(
        now.mono.saturating_add(6 * MIN),
        now.wall.saturating_add(Duration::from_secs(10)),
    );
    let cases = [
        (inside, true, Some(ServeMode::Grace)),
        (inside, false, None),
        (mono_past, true, None),
    ];
    for (at, failing, want) in cases {
        assert_eq!(
            h.serve_mode(at, failing, &p),
            want,
            "{at:?} failing {failing}"
        );
    }
}

#[test]
fn the_first_unservable_instant_counts_grace_only_while_failing() {
    let now = t0();
    let h = held_expiring_at(now);
    let ms1 = Duration::from_millis(1);
    let usable_end = now.mono.saturating_sub(MIN).saturating_add(ms1);
    let grace_end = now.mono.saturating_add(5 * MIN).saturating_add(ms1);
    let cases = [
        (grace_policy(), false, usable_end),
        (grace_policy(), true, grace_end),
        (Policy::default(), true, usable_end),
    ];
    for (p, failing, want) in cases {
        assert_eq!(
            h.unservable_from(failing, &p),
            want,
            "grace {:?}",
            p.grace()
        );
    }
    assert_eq!(
        h.usable_until(&Policy::default()),
        now.mono.saturating_sub(MIN)
    );
}

#[test]
fn a_failure_while_serving_closes_in_on_the_usable_deadline_not_the_grace_end() {
    // Serving normally with 2 minutes of usable time left, many failures behind: the next
    // attempt comes within three quarters of what is usable (90 s), not of the time to the
    // grace end (which would allow the 5 min cap).
    let p = grace_policy();
    let now = t0();
    let mut s = State::new(&p);
    s.role = Some(role());
    s.failing = Some(Failing {
        count: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
        last: Failure::Imds(ImdsFailure::Timeout),
    });
    s.generation = 1;
    s.held = Some(Held {
        access_key_id: AccessKeyId::new("ASIAHELD"),
        expiration: now.wall.saturating_add(3 * MIN),
        deadline: now.mono.saturating_add(3 * MIN),
    });
    s.phase = Phase::Requesting {
        id: RequestId(1),
        request: Request::FetchCredentials,
        since: now.mono,
    };
    s.next_request = 2;
    let t = step(
        &s,
        &Input::CredentialsReply {
            id: RequestId(1),
            result: Err(ImdsFailure::Timeout),
        },
        now,
        Jitter::ONE,
        &p,
    );
    assert_eq!(t.rule, Rule::Fail);
    assert_eq!(
        t.state.phase,
        Phase::Waiting {
            until: now.mono.saturating_add(Duration::from_secs(90))
        }
    );
}

// ---- replies ----

#[test]
fn a_credentials_reply_to_another_request_is_stale() {
    let now = t0();
    let mut m = Machine::new(pinned_policy(), 1);
    assert_eq!(m.handle_input(now, Input::Demand), Ok(Rule::Start));
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a credentials request"));
    assert_eq!(m.kind(), StateKind::Fetching);
    let exp = now.wall.saturating_add(Duration::from_secs(3600));
    let late = Input::CredentialsReply {
        id: RequestId(id.0 + 100),
        result: Ok(creds("ASIALATE", exp)),
    };
    assert_eq!(m.handle_input(now, late), Ok(Rule::StaleReply));
    assert_eq!(m.kind(), StateKind::Fetching);
    assert!(m.state().held().is_none());
    assert_eq!(m.stats().stale_replies, 1);
}

#[test]
fn a_set_is_too_short_lived_when_its_monotonic_deadline_is_inside_the_margin() {
    // The monotonic deadline counts from the request's start: a set living the margin and 20 s,
    // answered 30 s after the request, has its deadline 50 s away, inside the margin, although
    // its Expiration is 80 s away. It is refused (R6), and so is one living exactly the margin.
    let asked = t0();
    let judge = |lifetime: Duration, delay: Duration| {
        let mut m = Machine::new(pinned_policy(), 1);
        assert_eq!(m.handle_input(asked, Input::Demand), Ok(Rule::Start));
        let now = asked.advance(delay);
        let exp = now.wall.saturating_add(lifetime);
        answer(&mut m, now, |id| Input::CredentialsReply {
            id,
            result: Ok(creds("ASIASHORT", exp)),
        })
    };
    let s = Duration::from_secs;
    // (lifetime at receipt, time from request to reply, rule)
    let cases = [
        (MIN + s(20), s(30), Rule::RejectStale),
        (MIN + s(20), s(19), Rule::Accept),
        (MIN, Duration::ZERO, Rule::RejectStale),
        (MIN + s(1), Duration::ZERO, Rule::Accept),
    ];
    for (lifetime, delay, want) in cases {
        assert_eq!(
            judge(lifetime, delay),
            Ok(want),
            "{lifetime:?} after {delay:?}"
        );
    }
}

// ---- the machine's bookkeeping ----

#[test]
fn handouts_carry_the_time_checked_the_mode_and_the_generation() {
    let (mut m, now) = serving(Policy::default(), 3, "ASIAONE");
    let h = m.credentials(now).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.checked_at(), now);
    assert!(!h.in_grace());
    assert_eq!(h.generation(), 1);
    // An invalidation drops the set and fetches again; the next one is generation 2.
    assert_eq!(
        m.handle_input(
            now,
            Input::Invalidate {
                access_key_id: AccessKeyId::new("ASIAONE")
            }
        ),
        Ok(Rule::Invalidate)
    );
    let exp = now.wall.saturating_add(Duration::from_secs(7 * 3600));
    assert_eq!(
        answer(&mut m, now, |id| Input::CredentialsReply {
            id,
            result: Ok(creds("ASIATWO", exp))
        }),
        Ok(Rule::Accept)
    );
    let h = m.credentials(now).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.generation(), 2);
    assert_eq!(h.credentials().access_key_id().as_str(), "ASIATWO");
}

#[test]
fn grace_handouts_are_marked() {
    let (mut m, now) = serving(grace_policy(), 3, "ASIAONE");
    // At the refresh point the refresh fails: the machine is failing, still serving normally.
    let refresh = now.advance_to(m.poll_timeout().unwrap_or_else(|| panic!("a deadline")));
    assert_eq!(m.handle_input(refresh, Input::Tick), Ok(Rule::Refresh));
    assert_eq!(
        answer(&mut m, refresh, |id| Input::CredentialsReply {
            id,
            result: Err(ImdsFailure::Timeout)
        }),
        Ok(Rule::Fail)
    );
    assert!(
        !m.credentials(refresh)
            .unwrap_or_else(|e| panic!("{e}"))
            .in_grace()
    );
    // 10 s before expiry, inside the margin, still failing: a marked grace hand-out.
    let late = now.advance(Duration::from_secs(6 * 3600 - 10));
    let h = m.credentials(late).unwrap_or_else(|e| panic!("{e}"));
    assert!(h.in_grace());
    assert_eq!(h.checked_at(), late);
}

#[test]
fn the_refusal_while_fetching_is_not_the_one_while_discovering() {
    let now = t0();
    let mut m = Machine::new(Policy::default(), 5);
    assert!(m.handle_input(now, Input::Demand).is_ok());
    assert_eq!(m.credentials(now).err(), Some(Refusal::Discovering));
    assert!(
        answer(&mut m, now, |id| Input::RoleReply {
            id,
            result: Ok(role())
        })
        .is_ok()
    );
    assert_eq!(m.kind(), StateKind::Fetching);
    assert_eq!(
        m.credentials(now).err(),
        Some(Refusal::Fetching { cause: None })
    );
}

#[test]
fn stats_count_inputs_stale_replies_and_clock_regressions() {
    let now = t0();
    let mut m = Machine::new(Policy::default(), 5);
    assert_eq!(m.stats().inputs, 0);
    assert!(m.handle_input(now, Input::Demand).is_ok());
    let _ = last_request(&mut m);
    let before = Now::new(now.mono.saturating_sub(Duration::from_millis(1)), now.wall);
    let backwards = Err(UsageError::TimeWentBackwards {
        last: now.mono,
        now: before.mono,
    });
    let stale = |id| Input::RoleReply {
        id: RequestId(id),
        result: Ok(role()),
    };
    let cases = [
        (now, stale(999), Ok(Rule::StaleReply)),
        (now, stale(998), Ok(Rule::StaleReply)),
        (before, Input::Tick, backwards),
        (before, Input::Tick, backwards),
    ];
    for (at, input, want) in cases {
        assert_eq!(m.handle_input(at, input), want);
    }
    let stats = m.stats();
    assert_eq!(
        (stats.inputs, stats.stale_replies, stats.clock_regressions),
        (5, 2, 2)
    );
    assert_eq!(m.kind(), StateKind::Discovering);
}

/// The machine's jitter is SplitMix64 (the high half of its mix) seeded with the seed given:
/// pinned, so that "the same seed gives the same actions" (INV-6) means the same thing across
/// versions.
#[test]
fn machine_jitter_is_the_documented_seeded_generator() {
    // A first backoff delay of up to 100 s, so that the jitter shows to the millisecond.
    let p = Policy::builder()
        .backoff_base(Duration::from_secs(100))
        .backoff_cap_refusing(Duration::from_secs(100))
        .backoff_cap_serving(Duration::from_secs(100))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut delays = Vec::new();
    for seed in [0, 1, 7, 42, 0xDEAD_BEEF, u64::MAX] {
        let now = t0();
        let mut m = Machine::new(p.clone(), seed);
        assert!(m.handle_input(now, Input::Demand).is_ok());
        assert!(
            answer(&mut m, now, |id| Input::RoleReply {
                id,
                result: Err(ImdsFailure::Timeout)
            })
            .is_ok()
        );
        // One draw per input: the demand's, then the reply's, which plans the retry.
        let mut rng = SplitMix64::new(seed);
        let _ = rng.next_u32();
        let jitter = Jitter::from_raw(rng.next_u32());
        let want = now.mono.saturating_add(p.backoff_delay(1, None, jitter));
        assert_eq!(
            m.poll_timeout(),
            Some(want),
            "seed {seed}: retry time from jitter {}",
            jitter.raw()
        );
        delays.push(want);
    }
    delays.sort();
    delays.dedup();
    assert!(delays.len() >= 5, "the jitter spreads retries: {delays:?}");
}

// ---- the transition table ----

#[test]
fn the_table_allows_only_its_rows_and_quiet_self_loops() {
    let quiet_loop = Edge {
        from: StateKind::Fresh,
        input: InputKind::Demand,
        to: StateKind::Fresh,
        rule: Rule::Wait,
    };
    let cases = [
        (table::TABLE[0], true, "a row"),
        (quiet_loop, true, "a quiet self-loop"),
        (
            Edge {
                to: StateKind::Unavailable,
                ..quiet_loop
            },
            false,
            "a quiet rule never moves",
        ),
        (
            Edge {
                from: StateKind::Idle,
                input: InputKind::Tick,
                to: StateKind::Fresh,
                rule: Rule::Accept,
            },
            false,
            "made up",
        ),
    ];
    for (edge, want, what) in cases {
        assert_eq!(table::allows(&edge), want, "{what}");
    }
}
