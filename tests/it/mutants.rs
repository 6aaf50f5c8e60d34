//! Tests that kill the mutants `cargo mutants` found surviving in `credcycle-core` (see
//! `docs/model.md`, "cargo mutants"): each pins one observable behaviour that the property tests
//! and scenarios did not look at closely enough (a boundary of policy validation, the grace
//! arithmetic, the text of a message, a counter, the jitter generator), through the public API.

use core::hash::{Hash, Hasher};
use core::num::NonZeroU32;
use core::time::Duration;
use std::collections::hash_map::DefaultHasher;

use credcycle_core::internals::{self, Phase};
use credcycle_core::table::{self, Edge};
use credcycle_core::{
    AccessKeyId, Action, Credentials, DropReason, Failing, Failure, Held, HumanDuration,
    ImdsFailure, Input, InputKind, Jitter, Machine, MonoTime, Now, Policy, PolicyError, Refusal,
    Request, RequestId, RoleName, Rule, SecretAccessKey, ServeMode, SessionToken, State, StateKind,
    UsageError, WallTime, step,
};

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

/// Drains the machine's actions; returns the id of the last request among them.
fn last_request(m: &mut Machine) -> Option<RequestId> {
    std::iter::from_fn(|| m.poll_action())
        .filter_map(|a| match a {
            Action::DiscoverRole { id } | Action::FetchCredentials { id, .. } => Some(id),
            Action::Notify(_) => None,
        })
        .last()
}

/// A machine holding a 6-hour set (`akid`), the role discovered.
fn serving(policy: Policy, seed: u64, akid: &str) -> (Machine, Now) {
    let now = t0();
    let mut m = Machine::new(policy, seed);
    let ok = |r: Result<Rule, UsageError>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(m.handle_input(now, Input::Demand));
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a listing request"));
    ok(m.handle_input(
        now,
        Input::RoleReply {
            id,
            result: Ok(role()),
        },
    ));
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a credentials request"));
    let exp = now.wall.saturating_add(Duration::from_secs(6 * 3600));
    assert_eq!(
        ok(m.handle_input(
            now,
            Input::CredentialsReply {
                id,
                result: Ok(creds(akid, exp)),
            },
        )),
        Rule::Accept
    );
    (m, now)
}

// ---- names and messages ----

#[test]
fn names_print_as_themselves() {
    assert_eq!(AccessKeyId::new("ASIAX1").to_string(), "ASIAX1");
    assert_eq!(role().to_string(), "web");
    assert_eq!(format!("{:?}", role()), "\"web\"");
    assert_eq!(RequestId(7).to_string(), "#7");
    assert_eq!(StateKind::BackingOff.to_string(), "BackingOff");
    assert_eq!(format!("{:>7}", StateKind::Fresh), "  Fresh");
    assert_eq!(Rule::Accept.name(), "Accept");
    assert_eq!(Rule::AfterStop.name(), "AfterStop");
    assert_eq!(Rule::Accept.to_string(), "R4 Accept");
    assert_eq!(Rule::ClockRegression.to_string(), "R18 ClockRegression");
    assert_eq!(
        DropReason::Expired.to_string(),
        "inside the expiry margin or expired"
    );
    assert_eq!(
        DropReason::RoleGone.to_string(),
        "the role was removed or changed"
    );
}

#[test]
fn human_durations_use_the_unit_that_fits() {
    let h = |ms| HumanDuration(Duration::from_millis(ms)).to_string();
    assert_eq!(h(0), "0ms");
    assert_eq!(h(250), "250ms");
    assert_eq!(h(999), "999ms");
    assert_eq!(h(1_000), "1.00s");
    assert_eq!(h(1_250), "1.25s");
    assert_eq!(h(59_999), "59.99s");
    assert_eq!(h(60_000), "1m00s");
    assert_eq!(h(294_000), "4m54s");
    assert_eq!(h(3_599_999), "59m59s");
    assert_eq!(h(3_600_000), "1h00m");
    assert_eq!(h(7_500_000), "2h05m");
}

#[test]
fn a_refusal_names_the_last_failure_only_when_there_was_one() {
    let with = Refusal::Fetching {
        cause: Some(Failure::Imds(ImdsFailure::Timeout)),
    };
    assert_eq!(
        with.to_string(),
        "no usable credentials: fetching from IMDS (last attempt: IMDS did not answer in time)"
    );
    let without = Refusal::Fetching { cause: None };
    assert_eq!(
        without.to_string(),
        "no usable credentials: fetching from IMDS"
    );
}

// ---- credentials ----

#[test]
fn credential_metadata_is_kept_and_hashing_sees_the_key() {
    let exp = WallTime::from_unix_secs(START + 3600);
    let plain = creds("ASIAONE", exp);
    assert_eq!(plain.account_id(), None);
    assert_eq!(plain.last_updated(), None);
    let updated = WallTime::from_unix_secs(START - 60);
    let full = creds("ASIAONE", exp)
        .with_account_id("123456789012")
        .with_last_updated(updated);
    assert_eq!(full.account_id(), Some("123456789012"));
    assert_eq!(full.last_updated(), Some(updated));

    let hash = |c: &Credentials| {
        let mut h = DefaultHasher::new();
        c.hash(&mut h);
        h.finish()
    };
    assert_eq!(
        hash(&plain),
        hash(&full),
        "only the public parts are hashed"
    );
    assert_ne!(hash(&plain), hash(&creds("ASIATWO", exp)));
    assert_ne!(
        hash(&plain),
        hash(&creds("ASIAONE", WallTime::from_unix_secs(START + 7200)))
    );
}

// ---- policy ----

#[test]
fn policy_defaults_and_settings_are_what_the_docs_say() {
    let p = Policy::default();
    assert_eq!(p.backoff_cap_serving(), 5 * MIN);
    assert_eq!(p.backoff_cap_refusing(), Duration::from_secs(10));
    assert_eq!(p.retry_floor(), Duration::from_millis(250));
    assert_eq!(p.grace(), Duration::ZERO);
    assert_eq!(grace_policy().grace(), 5 * MIN);
    assert_eq!(Policy::MAX_DURATION, Duration::from_secs(31_536_000));
}

#[test]
fn policy_validation_boundaries_are_inclusive_where_documented() {
    let year = Duration::from_secs(365 * 24 * 3600);
    // Exactly one year is accepted; a millisecond more is not.
    assert!(Policy::builder().request_timeout(year).build().is_ok());
    assert_eq!(
        Policy::builder()
            .request_timeout(year + Duration::from_millis(1))
            .build()
            .err(),
        Some(PolicyError::TooLong {
            field: "request timeout"
        })
    );
    // The short tier must be strictly shorter than the medium one.
    let tiers = |short: u64, medium: u64| {
        Policy::builder()
            .refresh_tiers(
                Duration::from_secs(short * 60),
                5 * MIN,
                Duration::from_secs(medium * 60),
                15 * MIN,
                60 * MIN,
            )
            .build()
    };
    assert!(tiers(20, 21).is_ok());
    assert!(matches!(
        tiers(20, 20),
        Err(PolicyError::TiersOutOfOrder { .. })
    ));
    // Jitter up to 100 % is accepted.
    assert!(
        Policy::builder()
            .refresh_jitter_percent(100)
            .build()
            .is_ok()
    );
    assert_eq!(
        Policy::builder().refresh_jitter_percent(101).build().err(),
        Some(PolicyError::JitterTooLarge(101))
    );
    // A cap equal to the base, and a floor equal to the base, are accepted.
    let base = Duration::from_secs(10);
    assert!(
        Policy::builder()
            .backoff_base(base)
            .backoff_cap_refusing(base)
            .backoff_cap_serving(base)
            .build()
            .is_ok()
    );
    assert!(
        Policy::builder()
            .backoff_base(Duration::from_secs(1))
            .retry_floor(Duration::from_secs(1))
            .build()
            .is_ok()
    );
}

// ---- time ----

#[test]
fn now_advances_both_clocks_to_a_later_instant_only() {
    let now = t0();
    let later = now.advance_to(now.mono.saturating_add(Duration::from_secs(5)));
    assert_eq!(
        later,
        Now::new(
            now.mono.saturating_add(Duration::from_secs(5)),
            now.wall.saturating_add(Duration::from_secs(5)),
        )
    );
    assert_eq!(
        now.advance_to(now.mono.saturating_sub(Duration::from_secs(5))),
        now
    );
    assert_eq!(Jitter::from_raw(123_456).raw(), 123_456);
    assert_eq!(Jitter::ONE.raw(), u32::MAX);
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
    assert_eq!(h.serve_mode(inside, true, &p), Some(ServeMode::Grace));
    assert_eq!(h.serve_mode(inside, false, &p), None);
    // Past the grace period on the monotonic clock only (the wall clock went back): refused.
    let mono_past = Now::new(
        now.mono.saturating_add(6 * MIN),
        now.wall.saturating_add(Duration::from_secs(10)),
    );
    assert_eq!(h.serve_mode(mono_past, true, &p), None);
}

#[test]
fn the_first_unservable_instant_counts_grace_only_while_failing() {
    let now = t0();
    let h = held_expiring_at(now);
    let ms1 = Duration::from_millis(1);
    let usable_end = now.mono.saturating_sub(MIN).saturating_add(ms1);
    let grace_end = now.mono.saturating_add(5 * MIN).saturating_add(ms1);
    let p = grace_policy();
    assert_eq!(h.unservable_from(false, &p), usable_end);
    assert_eq!(h.unservable_from(true, &p), grace_end);
    let no_grace = Policy::default();
    assert_eq!(h.unservable_from(true, &no_grace), usable_end);
    assert_eq!(h.usable_until(&no_grace), now.mono.saturating_sub(MIN));
}

#[test]
fn a_failure_while_serving_closes_in_on_the_usable_deadline_not_the_grace_end() {
    // Serving normally with 2 minutes of usable time left, many failures behind: the next
    // attempt comes within three quarters of what is usable (90 s), not of the time to the
    // grace end (which would allow the 5 min cap).
    let p = grace_policy();
    let now = t0();
    let mut s = State::new(&p);
    let parts = internals::parts_mut(&mut s);
    *parts.role = Some(role());
    *parts.failing = Some(Failing {
        count: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
        last: Failure::Imds(ImdsFailure::Timeout),
    });
    *parts.generation = 1;
    *parts.held = Some(Held {
        access_key_id: AccessKeyId::new("ASIAHELD"),
        expiration: now.wall.saturating_add(3 * MIN),
        deadline: now.mono.saturating_add(3 * MIN),
    });
    *parts.phase = Phase::Requesting {
        id: RequestId(1),
        request: Request::FetchCredentials,
        since: now.mono,
    };
    *parts.next_request = 2;
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
        *internals::phase(&t.state),
        Phase::Waiting {
            until: now.mono.saturating_add(Duration::from_secs(90))
        }
    );
}

// ---- replies ----

#[test]
fn a_credentials_reply_to_another_request_is_stale() {
    let p = Policy::builder()
        .pinned_role(Some(role()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let now = t0();
    let mut m = Machine::new(p, 1);
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
    let p = Policy::builder()
        .pinned_role(Some(role()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let asked = t0();
    let judge = |lifetime: Duration, delay: Duration| {
        let mut m = Machine::new(p.clone(), 1);
        assert_eq!(m.handle_input(asked, Input::Demand), Ok(Rule::Start));
        let id = last_request(&mut m).unwrap_or_else(|| panic!("a credentials request"));
        let now = asked.advance(delay);
        let exp = now.wall.saturating_add(lifetime);
        m.handle_input(
            now,
            Input::CredentialsReply {
                id,
                result: Ok(creds("ASIASHORT", exp)),
            },
        )
    };
    let s = Duration::from_secs;
    assert_eq!(judge(MIN + s(20), s(30)), Ok(Rule::RejectStale));
    assert_eq!(judge(MIN + s(20), s(19)), Ok(Rule::Accept));
    assert_eq!(judge(MIN, Duration::ZERO), Ok(Rule::RejectStale));
    assert_eq!(judge(MIN + s(1), Duration::ZERO), Ok(Rule::Accept));
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
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a credentials request"));
    let exp = now.wall.saturating_add(Duration::from_secs(7 * 3600));
    assert_eq!(
        m.handle_input(
            now,
            Input::CredentialsReply {
                id,
                result: Ok(creds("ASIATWO", exp)),
            }
        ),
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
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a credentials request"));
    assert_eq!(
        m.handle_input(
            refresh,
            Input::CredentialsReply {
                id,
                result: Err(ImdsFailure::Timeout),
            },
        ),
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
    let id = last_request(&mut m).unwrap_or_else(|| panic!("a listing request"));
    assert!(
        m.handle_input(
            now,
            Input::RoleReply {
                id,
                result: Ok(role())
            }
        )
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
    assert_eq!(
        m.handle_input(
            now,
            Input::RoleReply {
                id: RequestId(999),
                result: Ok(role())
            }
        ),
        Ok(Rule::StaleReply)
    );
    assert_eq!(
        m.handle_input(
            now,
            Input::RoleReply {
                id: RequestId(998),
                result: Ok(role())
            }
        ),
        Ok(Rule::StaleReply)
    );
    let before = Now::new(now.mono.saturating_sub(Duration::from_millis(1)), now.wall);
    assert_eq!(
        m.handle_input(before, Input::Tick),
        Err(UsageError::TimeWentBackwards {
            last: now.mono,
            now: before.mono
        })
    );
    assert_eq!(
        m.handle_input(before, Input::Tick),
        Err(UsageError::TimeWentBackwards {
            last: now.mono,
            now: before.mono
        })
    );
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
        let id = last_request(&mut m).unwrap_or_else(|| panic!("a listing request"));
        assert!(
            m.handle_input(
                now,
                Input::RoleReply {
                    id,
                    result: Err(ImdsFailure::Timeout)
                }
            )
            .is_ok()
        );
        // One draw per input: the demand's, then the reply's, which plans the retry.
        let mut rng = credcycle_core::SplitMix64::new(seed);
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
    let row = table::TABLE[0];
    assert!(table::allows(&row));
    let quiet_loop = Edge {
        from: StateKind::Fresh,
        input: InputKind::Demand,
        to: StateKind::Fresh,
        rule: Rule::Wait,
    };
    assert!(table::allows(&quiet_loop));
    let quiet_move = Edge {
        to: StateKind::Unavailable,
        ..quiet_loop
    };
    assert!(!table::allows(&quiet_move), "a quiet rule never moves");
    let made_up = Edge {
        from: StateKind::Idle,
        input: InputKind::Tick,
        to: StateKind::Fresh,
        rule: Rule::Accept,
    };
    assert!(!table::allows(&made_up));
}
