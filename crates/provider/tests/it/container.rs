//! The Provider's container source: against the simulator's container endpoint over loopback
//! (the token file read anew at each refresh), and INV-1 at its exits as a property, against a
//! scripted endpoint on a `ManualClock`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credcycle::{ContainerConfig, Provider, ProviderError, Source};
use credcycle_clock::ManualClock;
use credcycle_core::{AccessKeyId, MonoTime, Now, Policy, WallTime};
use credcycle_imds::container::ContainerClient;
use credcycle_imds::{FnTransport, HttpRequest, HttpResponse, TransportError};
use credcycle_sim::{SimConfig, SimContainer, SimServer};
use proptest::prelude::*;

const MARGIN: Duration = Duration::from_secs(60);
const PATH: &str = "/v1/credentials";

fn manual() -> ManualClock {
    ManualClock::new(Now::new(
        MonoTime::ZERO,
        WallTime::from_unix_secs(1_795_862_471),
    ))
}

/// A token file of this test's own.
fn token_file(name: &str, token: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("credcycle-container-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, token).expect("token file");
    path
}

#[test]
fn each_refresh_reads_the_token_file_anew() {
    let clock = manual();
    let sim = SimServer::start_with_clock(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig::default()
            .with_seed(3)
            .with_lifetime(Duration::from_secs(3600))
            .with_container(SimContainer::new(PATH, "pod-token-1")),
        Arc::new(clock.clone()),
    )
    .expect("sim");
    let file = token_file("refresh", "pod-token-1");
    let config = ContainerConfig::builder()
        .endpoint(format!("{}{PATH}", sim.url()))
        .token_file(&file)
        .timeout(Duration::from_secs(5))
        .num_attempts(1)
        .build()
        .expect("container settings");
    let provider = Provider::builder()
        .container(config)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .seed(5)
        .build()
        .expect("provider");
    let first = provider.credentials().expect("first fetch");
    assert_eq!(
        provider.role().expect("pinned").as_str(),
        "container-credentials"
    );
    let first_key = first.access_key_id().clone();
    drop(first);

    // EKS rotates the token in place; the agent accepts only the new one from now on.
    assert!(sim.set_authorization("pod-token-2"));
    std::fs::write(&file, "pod-token-2").expect("rotate the token file");
    // Into the refresh window (one-hour sets: at most 18 min before the usable deadline),
    // past the simulator's rotation point (5 min before Expiration).
    clock.advance(Duration::from_secs(3600 - 60 - 120));
    let second = provider.credentials().expect("still served");
    assert_ne!(
        second.access_key_id(),
        &first_key,
        "refreshed with the new token"
    );
    drop(second);

    let report = sim.report();
    assert_eq!(report.unauthorized, 0, "the old token was never sent again");
    assert_eq!(report.count("credentials", "200"), 2);
    assert_eq!(report.token_puts, 0, "no IMDS session token");
    assert_eq!(report.count("role-list", "200"), 0, "no role discovery");

    // A token the agent no longer accepts: the refresh fails with a 401, the held set is still
    // served while usable, and the cause is the container error, in one line.
    assert!(sim.set_authorization("pod-token-3"));
    clock.advance(Duration::from_secs(3600 - 60 - 120));
    let err = loop {
        match provider.credentials() {
            Ok(_) => clock.advance(Duration::from_secs(30)),
            Err(err) => break err,
        };
    };
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Refused { .. }), "{text}");
    assert!(text.contains("HTTP 401") && !text.contains('\n'), "{text}");
    assert!(!text.contains("pod-token"), "{text}");
    assert!(sim.report().unauthorized >= 1);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn an_explicit_source_without_its_settings_is_a_config_error_not_a_connection() {
    // `Source::Container` with no container settings reads the environment; the test
    // environment sets no container variable, so this fails before anything connects.
    if ContainerConfig::configured_in(|n| std::env::var(n).ok()) {
        return;
    }
    let err = Provider::builder()
        .source(Source::Container)
        .background_refresh(false)
        .build()
        .expect_err("not configured");
    assert!(matches!(err, ProviderError::Container(_)));
    assert!(
        err.to_string()
            .contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    );
    // The message reads as it did when the variant held a string; the typed error is its source.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.is::<credcycle::ContainerConfigError>(), "{source:?}");
    assert_eq!(
        err.to_string(),
        format!("invalid provider settings: {source}")
    );
    assert_eq!(Source::default(), Source::Auto);
    assert_eq!(Source::Container.to_string(), "container");
}

// ---------------------------------------------------------------------------------------------
// INV-1 at the container source's exits, as a property.

/// What the scripted container endpoint answers to one request.
#[derive(Clone, Debug)]
enum Reply {
    /// A new set valid this many seconds from now.
    New(u64),
    /// A new set that expired this many seconds ago (a stale set).
    Stale(u64),
    /// The last set again (not rotated).
    Same,
    /// This status, empty body.
    Status(u16),
    /// `200` and a body that is not JSON.
    Garbage,
    /// No reply in time.
    Timeout,
}

#[derive(Clone, Debug)]
enum Event {
    Call,
    Advance(u64),
    JumpWall(i64),
    Invalidate,
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        5 => prop::sample::select(vec![61_u64, 90, 180, 900, 3600, 21_600]).prop_map(Reply::New),
        1 => (0_u64..600).prop_map(Reply::Stale),
        2 => Just(Reply::Same),
        2 => prop::sample::select(vec![401_u16, 403, 404, 429, 500, 503]).prop_map(Reply::Status),
        1 => Just(Reply::Garbage),
        1 => Just(Reply::Timeout),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Call),
        4 => prop_oneof![0_u64..5_000, 0_u64..900_000, 0_u64..7_200_000].prop_map(Event::Advance),
        1 => (-3_600_000_i64..3_600_000).prop_map(Event::JumpWall),
        1 => Just(Event::Invalidate),
    ]
}

/// The scripted endpoint's books: what it issued, with each set's true deadline on the
/// monotonic clock.
#[derive(Default)]
struct Books {
    replies: VecDeque<Reply>,
    last: Option<(String, WallTime, Now)>,
    issued: HashMap<String, (WallTime, MonoTime)>,
    count: u64,
}

fn body(key: &str, expiration: WallTime) -> String {
    format!(
        r#"{{"AccessKeyId": "{key}", "SecretAccessKey": "secret-{key}", "Token": "token-{key}",
            "Expiration": "{}", "RoleArn": "arn:aws:iam::123456789012:role/task"}}"#,
        expiration.to_rfc3339()
    )
}

fn answer(books: &Mutex<Books>, clock: &ManualClock) -> Result<HttpResponse, TransportError> {
    let mut books = books.lock().expect("books");
    let now = clock.now();
    let reply = books.replies.pop_front().unwrap_or(Reply::New(3600));
    let issue = |books: &mut Books, expiration: WallTime, deadline: MonoTime| {
        books.count += 1;
        let key = format!("ASIASCRIPTED{:08}", books.count);
        books.issued.insert(key.clone(), (expiration, deadline));
        books.last = Some((key.clone(), expiration, now));
        Ok(HttpResponse::new(200, body(&key, expiration)))
    };
    match reply {
        Reply::New(secs) => {
            let life = Duration::from_secs(secs);
            issue(
                &mut books,
                now.wall.saturating_add(life),
                now.mono.saturating_add(life),
            )
        }
        Reply::Stale(secs) => {
            let ago = Duration::from_secs(secs);
            issue(&mut books, now.wall.saturating_sub(ago), now.mono)
        }
        // The last set again, as the agents re-serve their current set until it rotates. Only
        // while the wall clock has not stepped since it was sent: received on a wall clock
        // stepped back, it would look valid for longer than it is, and no client can know (the
        // guarantees hold relative to the clocks at receipt; docs/lifecycle.md, honest limits).
        // Otherwise a new set.
        Reply::Same => match books.last.clone() {
            Some((key, expiration, sent))
                if now.wall.saturating_duration_since(sent.wall)
                    == now.mono.saturating_duration_since(sent.mono)
                    && now.wall >= sent.wall =>
            {
                Ok(HttpResponse::new(200, body(&key, expiration)))
            }
            _ => {
                let life = Duration::from_secs(3600);
                issue(
                    &mut books,
                    now.wall.saturating_add(life),
                    now.mono.saturating_add(life),
                )
            }
        },
        Reply::Status(status) => Ok(HttpResponse::new(status, "")),
        Reply::Garbage => Ok(HttpResponse::new(200, "<html>502</html>")),
        Reply::Timeout => Err(TransportError::Timeout),
    }
}

fn run(replies: Vec<Reply>, events: Vec<Event>) -> Result<(), TestCaseError> {
    let clock = manual();
    let books = Arc::new(Mutex::new(Books {
        replies: replies.into(),
        ..Books::default()
    }));
    let config = ContainerConfig::builder()
        .endpoint("http://127.0.0.1:9/v1/credentials")
        .token("scripted".to_owned())
        .num_attempts(1)
        .build()
        .expect("settings");
    let label = config.label().clone();
    let (script, script_clock) = (Arc::clone(&books), clock.clone());
    let transport = FnTransport(move |req: &HttpRequest, _: Duration| {
        assert_eq!(req.url(), "http://127.0.0.1:9/v1/credentials");
        answer(&script, &script_clock)
    });
    let client = ContainerClient::new(config, transport).with_sleep(|_| ());
    // What `ProviderBuilder::container` configures: the role pinned to the label.
    let policy = Policy::builder()
        .pinned_role(Some(label))
        .build()
        .expect("policy");
    let provider = Provider::builder()
        .fetcher(client)
        .policy(policy)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .seed(9)
        .build()
        .expect("provider");
    let mut last_key: Option<AccessKeyId> = None;
    for event in events {
        match event {
            Event::Call => {
                let Ok(creds) = provider.credentials() else {
                    continue;
                };
                // Judged at the moment of return, on the precise clocks, against the set's true
                // expiry on both clocks (INV-1).
                let now = clock.now();
                let key = creds.access_key_id().as_str().to_owned();
                let (expiration, deadline) = books.lock().expect("books").issued[&key];
                prop_assert_eq!(creds.expiration(), expiration);
                prop_assert!(now.wall.saturating_add(MARGIN) <= expiration, "wall: {key}");
                prop_assert!(now.mono.saturating_add(MARGIN) <= deadline, "mono: {key}");
                let told = creds.consumer_expiration();
                prop_assert!(told.saturating_add(MARGIN) <= expiration, "told {told}");
                let left = deadline.saturating_duration_since(now.mono);
                prop_assert!(
                    told.saturating_add(MARGIN) <= now.wall.saturating_add(left),
                    "told {told} past the monotonic deadline"
                );
                last_key = Some(creds.access_key_id().clone());
            }
            Event::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
            }
            Event::JumpWall(ms) => {
                clock.jump_wall(ms);
            }
            Event::Invalidate => {
                if let Some(key) = &last_key {
                    provider.invalidate(key);
                    // The refresh runs on a flight thread: let it land before the clocks move,
                    // so that the script's books and the core see the same moment.
                    while provider.stats().in_flight {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn container_hand_outs_never_expire(
        replies in prop::collection::vec(reply(), 0..40),
        events in prop::collection::vec(event(), 1..60),
    ) {
        run(replies, events)?;
    }
}
