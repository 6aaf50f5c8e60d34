//! Trace conformance: traces of the Quint spec (`model/credcycle.qnt`), written by
//! `quint run --mbt --out-itf` and `quint test --out-itf`, replayed through the real
//! `credcycle_core::step`. After every step, the rule, the actions and the state (kind, role,
//! held set, newest expiry, failure count, request start or due time, revoked keys, the set R11
//! dropped) must agree.
//!
//! The committed corpus is `model/traces/`; `CREDCYCLE_TRACES=dir` replays another directory
//! (CI points it at traces freshly generated with a date-based seed).

#![expect(clippy::expect_used, clippy::panic, reason = "test code")]

use std::path::PathBuf;

use credcycle_core::internals::{self, Phase};
use credcycle_core::{
    AccessKeyId, Action, Credentials, Event, ImdsFailure, Input, Jitter, MonoTime, Now, Policy,
    Request, RequestId, RoleName, SecretAccessKey, SessionToken, State, WallTime, step,
};
use serde_json::Value;

const WALL_START: i64 = 1_795_862_471_000;

fn traces_dir() -> PathBuf {
    std::env::var_os("CREDCYCLE_TRACES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces"),
        PathBuf::from,
    )
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().expect("an integer"),
        Value::Object(o) => o
            .get("#bigint")
            .and_then(Value::as_str)
            .expect("a #bigint")
            .parse()
            .expect("a decimal integer"),
        other => panic!("not an integer: {other}"),
    }
}

/// `(tag, value)` of a Quint sum-type value.
fn variant(v: &Value) -> (&str, &Value) {
    (v["tag"].as_str().expect("a sum-type tag"), &v["value"])
}

fn key(n: i64) -> AccessKeyId {
    AccessKeyId::new(format!("ASIA{n}"))
}

fn role(r: &str) -> RoleName {
    RoleName::new(format!("role-{r}")).expect("a valid role name")
}

fn failure(f: &str) -> ImdsFailure {
    match f {
        "Timeout" => ImdsFailure::Timeout,
        "ConnectionRefused" => ImdsFailure::ConnectionRefused,
        "HttpStatus" => ImdsFailure::HttpStatus(500),
        "Malformed" => ImdsFailure::Malformed,
        "NotSuccess" => ImdsFailure::NotSuccess {
            code: "AssumeRoleUnauthorizedAccess".into(),
        },
        "NoInstanceProfile" => ImdsFailure::NoInstanceProfile,
        "RoleNotFound" => ImdsFailure::RoleNotFound,
        other => panic!("unknown failure class {other}"),
    }
}

/// The real input for the spec's input, answering the machine's outstanding request.
fn input(spec: &Value, core: &State) -> Option<Input> {
    let id = core
        .outstanding()
        .map_or(RequestId(core.next_request().0 + 7), |(id, _)| id);
    let (tag, v) = variant(spec);
    Some(match tag {
        "NoInput" => return None,
        "Demand" => Input::Demand,
        "Tick" => Input::Tick,
        "Shutdown" => Input::Shutdown,
        "Invalidate" => Input::Invalidate {
            access_key_id: key(int(v)),
        },
        "RoleReply" => {
            let (t, a) = variant(v);
            let result = match t {
                "RoleIs" => Ok(role(a.as_str().expect("a role"))),
                _ => Err(failure(a.as_str().expect("a failure class"))),
            };
            Input::RoleReply { id, result }
        }
        "CredsReply" => {
            let (t, a) = variant(v);
            let result = match t {
                "CredsAre" => Ok(Credentials::new(
                    key(int(&a["key"])),
                    SecretAccessKey::new("replay-secret".into()),
                    SessionToken::new("replay-token".into()),
                    WallTime::from_unix_millis(int(&a["exp"])),
                )),
                _ => Err(failure(a.as_str().expect("a failure class"))),
            };
            Input::CredentialsReply { id, result }
        }
        other => panic!("unknown input {other}"),
    })
}

/// The spec's view of a real action.
fn out(a: &Action) -> String {
    match a {
        Action::DiscoverRole { .. } => "DiscoverRole".into(),
        Action::FetchCredentials { role, .. } => format!("FetchCredentials({role})"),
        Action::Notify(Event::RoleDiscovered { role }) => format!("RoleDiscovered({role})"),
        Action::Notify(Event::Accepted {
            access_key_id,
            refresh_at,
            ..
        }) => format!("Accepted({access_key_id}, {})", refresh_at.as_millis()),
        Action::Notify(Event::Dropped { access_key_id, .. }) => format!("Dropped({access_key_id})"),
        Action::Notify(Event::AttemptFailed { retry_at, .. }) => {
            format!("AttemptFailed({})", retry_at.as_millis())
        }
    }
}

fn spec_out(v: &Value) -> String {
    let (tag, a) = variant(v);
    match tag {
        "DiscoverRole" => "DiscoverRole".into(),
        "FetchCredentials" => format!("FetchCredentials({})", role(a.as_str().expect("role"))),
        "RoleDiscovered" => format!("RoleDiscovered({})", role(a.as_str().expect("role"))),
        "Accepted" => format!(
            "Accepted({}, {})",
            key(int(&a["key"])),
            int(&a["refreshAt"])
        ),
        "Dropped" => format!("Dropped({})", key(int(a))),
        "AttemptFailed" => format!("AttemptFailed({})", int(a)),
        other => panic!("unknown output {other}"),
    }
}

/// A set (held, or expired and kept) as the view shows it.
fn set(key: &AccessKeyId, expiration: WallTime, deadline: MonoTime) -> String {
    format!(
        "{key} exp {} deadline {}",
        expiration.as_unix_millis(),
        deadline.as_millis()
    )
}

/// The fields the spec has, of a real state, in the spec's terms.
fn view(s: &State) -> String {
    let (phase, time) = match internals::phase(s) {
        Phase::Idle => ("Idle".to_string(), None),
        Phase::Stopped => ("Stopped".to_string(), None),
        Phase::Requesting { request, since, .. } => (
            match request {
                Request::DiscoverRole => "Requesting(Discover)".to_string(),
                Request::FetchCredentials => match s.role() {
                    Some(r) => format!("Requesting(Fetch({r}))"),
                    None => "Requesting(Fetch(?))".to_string(),
                },
            },
            Some(since.as_millis() as i64),
        ),
        Phase::Waiting { until } => ("Waiting".to_string(), Some(until.as_millis() as i64)),
        Phase::Detached { until } => ("Detached".to_string(), Some(until.as_millis() as i64)),
    };
    let held = s.held().map_or("-".to_string(), |h| {
        set(&h.access_key_id, h.expiration, h.deadline)
    });
    let expired = s.expired().map_or("-".to_string(), |e| {
        set(&e.access_key_id, e.expiration, e.deadline)
    });
    let revoked: Vec<_> = s
        .revoked()
        .iter()
        .map(|r| r.access_key_id.to_string())
        .collect();
    format!(
        "kind {} | phase {phase} at {time:?} | role {:?} | held {held} | newest {:?} | failures {} | revoked {revoked:?} | expired {expired}",
        s.kind(),
        s.role().map(ToString::to_string),
        s.newest().map(WallTime::as_unix_millis),
        s.failure_count(),
    )
}

fn spec_view(m: &Value) -> String {
    let (tag, req) = variant(&m["phase"]);
    let (phase, time) = match tag {
        "Idle" | "Stopped" => (tag.to_string(), None),
        "Requesting" => {
            let (t, r) = variant(req);
            (
                match t {
                    "Discover" => "Requesting(Discover)".to_string(),
                    _ => format!("Requesting(Fetch({}))", role(r.as_str().expect("role"))),
                },
                Some(int(&m["since"])),
            )
        }
        _ => (tag.to_string(), Some(int(&m["until"]))),
    };
    let set = |h: &Value| {
        if int(&h["key"]) == 0 {
            "-".to_string()
        } else {
            format!(
                "{} exp {} deadline {}",
                key(int(&h["key"])),
                int(&h["exp"]),
                int(&h["deadline"])
            )
        }
    };
    let h = &m["held"];
    let held = set(h);
    let expired = set(&m["expired"]);
    let revoked: Vec<_> = m["revoked"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|k| key(int(k)).to_string())
        .collect();
    let role_name = m["role"].as_str().expect("role");
    let newest = int(&m["newest"]);
    let held_key = int(&h["key"]);
    let failures = int(&m["failures"]);
    let kind = match tag {
        "Idle" => "Idle",
        "Stopped" => "Stopped",
        "Detached" => "Detached",
        "Requesting" if phase == "Requesting(Discover)" => "Discovering",
        "Requesting" if held_key != 0 => "Refreshing",
        "Requesting" => "Fetching",
        _ if held_key == 0 => "Unavailable",
        _ if failures == 0 => "Fresh",
        _ => "BackingOff",
    };
    format!(
        "kind {kind} | phase {phase} at {time:?} | role {:?} | held {held} | newest {:?} | failures {failures} | revoked {revoked:?} | expired {expired}",
        (!role_name.is_empty()).then(|| role(role_name).to_string()),
        (newest != 0).then_some(newest),
    )
}

/// Replays one trace; returns the number of steps, or where it diverged.
fn replay(path: &std::path::Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let trace: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let states = trace["states"].as_array().ok_or("no states")?;
    let policy = Policy::default();
    let mut core = State::new(&policy);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    for (i, s) in states.iter().enumerate() {
        let mono = int(&s["mono"]);
        let wall = WALL_START + mono + int(&s["skew"]);
        let now = Now::new(
            MonoTime::from_millis(u64::try_from(mono).map_err(|e| e.to_string())?),
            WallTime::from_unix_millis(wall),
        );
        let jitter = if int(&s["jitter"]) == 1 {
            Jitter::ONE
        } else {
            Jitter::ZERO
        };
        let spec_rule = s["rule"].as_str().unwrap_or_default();
        let spec_out: Vec<String> = s["out"]
            .as_array()
            .ok_or("no out")?
            .iter()
            .map(spec_out)
            .collect();
        let (rule, actions) = match input(&s["input"], &core) {
            Some(inp) if i > 0 => {
                let t = step(&core, &inp, now, jitter, &policy);
                core = t.state;
                (
                    t.rule.name().to_string(),
                    t.actions.iter().map(out).collect::<Vec<_>>(),
                )
            }
            _ => (String::new(), Vec::new()),
        };
        let (want, got) = (spec_view(&s["m"]), view(&core));
        if rule != spec_rule || actions != spec_out || want != got {
            return Err(format!(
                "{name} diverges at state {i} (input {}, mono {mono}, wall skew {}):\n  \
                 rule:    spec {spec_rule:?}, code {rule:?}\n  \
                 actions: spec {spec_out:?}\n           code {actions:?}\n  \
                 state:   spec {want}\n           code {got}",
                variant(&s["input"]).0,
                int(&s["skew"]),
            ));
        }
    }
    Ok(states.len())
}

#[test]
fn quint_traces_replay_through_the_real_step() {
    let dir = traces_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".itf.json"))
        .collect();
    files.sort();
    // The committed corpus must not shrink unnoticed; a directory given by CREDCYCLE_TRACES
    // (fresh traces, or one counterexample from `quint run --out-itf`) needs only one trace.
    let least = if std::env::var_os("CREDCYCLE_TRACES").is_some() {
        1
    } else {
        10
    };
    assert!(
        files.len() >= least,
        "too few traces in {}: {}",
        dir.display(),
        files.len()
    );
    let mut steps = 0;
    let mut divergences = Vec::new();
    for f in &files {
        match replay(f) {
            Ok(n) => steps += n,
            Err(e) => divergences.push(e),
        }
    }
    println!(
        "replayed {} traces, {steps} states, from {}: {} divergences",
        files.len(),
        dir.display(),
        divergences.len()
    );
    assert!(
        divergences.is_empty(),
        "{} of {} traces diverge from the code; the first:\n{}",
        divergences.len(),
        files.len(),
        divergences[0]
    );
}
