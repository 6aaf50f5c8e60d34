//! credcycle-imds against credcycle-sim over loopback HTTP: for every fault the simulator can
//! inject, the typed error or the recovery expected. The two crates were written independently,
//! so a misreading of IMDS on one side cannot hide behind the same misreading on the other.
//!
//! Time is a `ManualClock` shared by the simulator and the client; backoff sleeps are skipped.
//! Only request timeouts take real time (200 ms each, on 127.0.0.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use credcycle_clock::ManualClock;
use credcycle_core::{
    Credentials, Failure, ImdsFailure, Input, Machine, MonoTime, Now, Policy, Refusal, RoleName,
    WallTime,
};
use credcycle_imds::{ImdsClient, ImdsConfig, ImdsError, UreqTransport};
use credcycle_sim::{Scenario, SimConfig, SimServer};

const START: i64 = 1_795_862_471;

struct Rig {
    sim: SimServer,
    clock: ManualClock,
    client: ImdsClient<UreqTransport, ManualClock>,
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn rig_with(
    config: SimConfig,
    client: impl FnOnce(credcycle_imds::ImdsConfigBuilder) -> credcycle_imds::ImdsConfigBuilder,
) -> Rig {
    let clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::from_unix_secs(START)));
    let sim = SimServer::start_with_clock(loopback(), config.with_seed(7), Arc::new(clock.clone()))
        .expect("sim starts");
    let builder = ImdsConfig::builder()
        .endpoint(sim.url())
        .timeout(Duration::from_millis(200))
        .num_attempts(2)
        .jitter_seed(1);
    let config = client(builder).build().expect("client config");
    let client = ImdsClient::new(config, UreqTransport::new(), clock.clone()).with_sleep(|_| {});
    Rig { sim, clock, client }
}

/// A simulator running `scenario` (TOML), and a client with 200 ms timeouts and 2 attempts.
fn rig(scenario: &str) -> Rig {
    let scenario = Scenario::from_toml_str(scenario).expect("scenario");
    rig_with(SimConfig::default().with_scenario(scenario), |b| b)
}

impl Rig {
    fn at(&self, secs: u64) {
        let now = self.clock.now().mono.as_millis();
        self.clock
            .advance(Duration::from_millis((secs * 1000).saturating_sub(now)));
    }

    /// One pass of the core lifecycle answered by the client, as `credcycle get` does.
    fn lifecycle(&mut self, machine: &mut Machine) -> Result<Credentials, Refusal> {
        let mut next = Some(Input::Demand);
        while let Some(input) = next.take() {
            machine
                .handle_input(self.clock.now(), input)
                .expect("monotonic");
            while let Some(action) = machine.poll_action() {
                next = self.client.answer(&action).or(next);
            }
        }
        machine
            .credentials(self.clock.now())
            .map(|h| h.credentials().clone())
    }
}

fn fail(scenario: &str, at: u64) -> (Rig, ImdsError) {
    let mut r = rig(scenario);
    r.at(at);
    let err = r.client.credentials().expect_err("a fault");
    (r, err)
}

#[test]
fn healthy_first_fetch_takes_three_requests_and_a_refresh_one() {
    let mut r = rig("");
    let first = r.client.credentials().expect("credentials");
    let c = r.client.counts();
    assert_eq!((c.token, c.role_listing, c.credentials), (1, 1, 1));
    assert_eq!(first.kind(), Some("AWS-HMAC"));
    // Steady state: token and role cached, one request per refresh.
    r.at(3600);
    let role = r
        .client
        .session()
        .cached_role()
        .cloned()
        .expect("cached role");
    r.client.fetch_credentials(&role).expect("refresh");
    assert_eq!(r.client.counts().total(), 4);
    assert_eq!(r.sim.report().issued, 1, "not rotated yet: the same set");
}

#[test]
fn token_put_timeout_names_the_hop_limit() {
    let (r, err) = fail(
        "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"timeout\"\ntarget = \"token\"\n",
        2,
    );
    assert!(matches!(err, ImdsError::TokenTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("HttpPutResponseHopLimit"), "{err}");
    assert_eq!(err.failure(), ImdsFailure::Timeout);
    assert_eq!(r.client.counts().token, 2, "retried once (2 attempts)");
}

#[test]
fn credentials_timeout_is_retried_then_reported() {
    let (r, err) = fail(
        "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"drop\"\ntarget = \"credentials\"\n",
        2,
    );
    assert!(matches!(err, ImdsError::Timeout { .. }), "{err:?}");
    assert_eq!(err.failure(), ImdsFailure::Timeout);
    assert_eq!(r.client.counts().credentials, 2);
}

#[test]
fn connection_reset_is_typed() {
    let (_r, err) = fail(
        "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"reset\"\n",
        2,
    );
    assert!(matches!(err, ImdsError::ConnectionReset { .. }), "{err:?}");
    assert_eq!(err.failure(), ImdsFailure::ConnectionRefused);
}

#[test]
fn http_500_is_retried_then_reported_with_its_status() {
    let (r, err) = fail(
        "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"http\"\nstatus = 500\ntarget = \"credentials\"\n",
        2,
    );
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(500), "{err}");
    assert_eq!(r.client.counts().credentials, 2);
    assert!(err.to_string().contains("500"), "{err}");
}

#[test]
fn throttling_429_and_503_are_retried_and_recover() {
    for status in [429, 503] {
        let mut r = rig(&format!(
            "[[event]]\nat = 1\nduration = 5\nfault = \"outage\"\nmode = \"http\"\nstatus = {status}\ntarget = \"credentials\"\n"
        ));
        r.at(2);
        let err = r.client.credentials().expect_err("throttled");
        assert_eq!(err.failure(), ImdsFailure::HttpStatus(status));
        r.at(7);
        r.client.credentials().expect("recovered after the window");
    }
}

#[test]
fn real_throttling_drops_the_excess_and_the_client_sees_timeouts() {
    let mut r = rig("[[event]]\nat = 1\nduration = 60\nfault = \"throttle\"\nper_second = 2\n");
    r.at(2);
    // Token PUT and listing use up the allowance of this second; the credentials GET is dropped
    // twice (two attempts, same virtual second).
    let err = r.client.credentials().expect_err("dropped");
    assert_eq!(err.failure(), ImdsFailure::Timeout, "{err}");
    // A second later there is allowance again; token and role are cached: one request.
    r.at(3);
    r.client.credentials().expect("answered within the limit");
    assert!(r.sim.report().dropped >= 2, "{:?}", r.sim.report());
}

#[test]
fn every_malformed_body_is_a_typed_error() {
    for (body, want) in [
        ("truncated", "malformed"),
        ("not-json", "malformed"),
        ("empty", "malformed"),
        ("missing-fields", "malformed"),
        ("bad-expiration", "malformed"),
        ("assume-role-failure", "AssumeRoleUnauthorizedAccess"),
    ] {
        let (_r, err) = fail(
            &format!("[[event]]\nat = 1\nfault = \"malformed\"\nbody = \"{body}\"\n"),
            2,
        );
        let text = err.to_string();
        match body {
            "assume-role-failure" => {
                assert!(
                    matches!(err.failure(), ImdsFailure::NotSuccess { .. }),
                    "{body}: {err:?}"
                );
                assert!(
                    text.contains(want) && text.contains("trust"),
                    "{body}: {text}"
                );
            }
            _ => assert_eq!(err.failure(), ImdsFailure::Malformed, "{body}: {text}"),
        }
        assert!(
            !text.contains("SecretAccessKey\":"),
            "{body}: a raw body leaked: {text}"
        );
    }
}

#[test]
fn slow_replies_succeed_within_the_timeout_and_time_out_beyond_it() {
    let (_r, err) = fail(
        "[[event]]\nat = 1\nfault = \"delay\"\ndelay = 0.5\ntarget = \"credentials\"\n",
        2,
    );
    assert_eq!(err.failure(), ImdsFailure::Timeout);
    let mut r = rig("[[event]]\nat = 1\nfault = \"delay\"\ndelay = 0.05\n");
    r.at(2);
    r.client.credentials().expect("50 ms is within 200 ms");
}

#[test]
fn expired_credentials_parse_and_the_core_refuses_them() {
    let mut r = rig("[[event]]\nat = 1\nfault = \"expired\"\nby = 120\n");
    r.at(2);
    let mut machine = Machine::new(Policy::default(), 1);
    let refusal = r.lifecycle(&mut machine).expect_err("stale");
    assert!(
        matches!(
            machine.state().last_failure().cloned(),
            Some(Failure::Stale { .. })
        ),
        "{refusal}"
    );
}

#[test]
fn not_rotated_answers_are_recognised_by_the_core() {
    let mut r = rig("[[event]]\nat = 1\nfault = \"not-rotated\"\n");
    let mut machine = Machine::new(Policy::default(), 1);
    let first = r.lifecycle(&mut machine).expect("first set");
    // Far past the rotation point: the simulator still serves the same set.
    r.at(6 * 3600 - 200);
    machine
        .handle_input(r.clock.now(), Input::Tick)
        .expect("tick");
    while let Some(action) = machine.poll_action() {
        if let Some(reply) = r.client.answer(&action) {
            machine.handle_input(r.clock.now(), reply).expect("reply");
        }
    }
    assert_eq!(
        machine.state().last_failure().cloned(),
        Some(Failure::NotRotated)
    );
    assert_eq!(
        machine
            .credentials(r.clock.now())
            .expect("still usable")
            .credentials()
            .access_key_id(),
        first.access_key_id()
    );
}

#[test]
fn detach_attach_and_role_change_reach_the_core_as_typed_failures() {
    let script = "[[event]]\nat = 10\nfault = \"change\"\nrole = \"second-role\"\n\
                  [[event]]\nat = 20\nfault = \"detach\"\n\
                  [[event]]\nat = 30\nfault = \"attach\"\nrole = \"third-role\"\n";
    let mut r = rig(script);
    let mut machine = Machine::new(Policy::default(), 1);
    let first = r.lifecycle(&mut machine).expect("first role");
    // Role changed: 404 on the old role's path -> RoleGone in the core (INV-2).
    r.at(11);
    let role = RoleName::new(SimConfig::DEFAULT_ROLE).expect("role");
    let err = r
        .client
        .fetch_credentials(&role)
        .expect_err("old role gone");
    assert_eq!(err.failure(), ImdsFailure::RoleNotFound, "{err}");
    assert_eq!(
        r.client.session().cached_role().map(RoleName::as_str),
        Some("second-role")
    );
    let second = r.client.credentials().expect("the new role's credentials");
    assert_ne!(first.access_key_id(), second.access_key_id());
    // Detached: 404 on the listing.
    r.at(21);
    let err = r.client.credentials().expect_err("no profile");
    assert!(matches!(err, ImdsError::NoInstanceProfile), "{err:?}");
    assert_eq!(err.failure(), ImdsFailure::NoInstanceProfile);
    // Attached again, with yet another role.
    r.at(31);
    r.client.credentials().expect("third role");
    assert_eq!(
        r.client.session().cached_role().map(RoleName::as_str),
        Some("third-role")
    );
}

#[test]
fn an_expired_session_token_is_renewed_after_one_401() {
    // The simulator's clock runs ahead of the client's: the client believes its token is
    // valid, the simulator does not.
    let client_clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::from_unix_secs(START)));
    let sim_clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::from_unix_secs(START)));
    let sim = SimServer::start_with_clock(
        loopback(),
        SimConfig::default().with_seed(3),
        Arc::new(sim_clock.clone()),
    )
    .expect("sim");
    let config = ImdsConfig::builder()
        .endpoint(sim.url())
        .token_ttl_secs(600)
        .build()
        .expect("config");
    let mut client = ImdsClient::new(config, UreqTransport::new(), client_clock).with_sleep(|_| {});
    client.credentials().expect("first");
    sim_clock.advance(Duration::from_secs(601));
    client.credentials().expect("after one 401 and a new token");
    let c = client.counts();
    assert_eq!(c.token, 2, "{c:?}");
}

#[test]
fn imdsv1_is_used_only_when_allowed_and_offered() {
    // An IMDS without tokens (the PUT answers 405), which serves IMDSv1.
    let scenario = Scenario::from_toml_str(
        "[[event]]\nat = 0\nfault = \"outage\"\nmode = \"http\"\nstatus = 405\ntarget = \"token\"\n",
    )
    .expect("scenario");
    let config = SimConfig::default().with_scenario(scenario);
    let mut config_v1 = config.clone();
    config_v1.allow_imdsv1 = true;

    let mut refused = rig_with(config_v1.clone(), |b| b);
    let err = refused
        .client
        .credentials()
        .expect_err("IMDSv1 not allowed by default");
    assert!(matches!(err, ImdsError::ImdsV1Disabled { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("imdsv1"), "{err}");

    let mut allowed = rig_with(config_v1, |b| b.allow_imds_v1(true));
    allowed.client.credentials().expect("IMDSv1 fallback");

    // A simulator that requires tokens, with a client that allows IMDSv1: tokens are still used.
    let mut v2 = rig_with(SimConfig::default(), |b| b.allow_imds_v1(true));
    v2.client.credentials().expect("IMDSv2");
    assert_eq!(v2.client.counts().token, 1);
}

#[test]
fn a_use_is_audited_as_expired_only_past_expiration() {
    let mut r = rig_with(
        SimConfig::default().with_lifetime(Duration::from_secs(900)),
        |b| b,
    );
    let creds = r.client.credentials().expect("credentials");
    let key = creds.access_key_id().as_str().to_owned();
    assert!(r.sim.record_use(&key).is_some());
    r.at(901);
    assert!(r.sim.record_use(&key).is_some());
    let report = r.sim.report();
    assert_eq!((report.uses, report.expired_uses), (2, 1), "{report:?}");
}
