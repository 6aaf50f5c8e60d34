//! Unit tests of the sans-IO core, on virtual time only.

use std::time::Duration;

use credcycle_core::{MonoTime, Now, WallTime};
use proptest::prelude::*;
use serde_json::Value;

use super::control::{percent_decode, query_param};
use super::*;
use crate::config::{ConfigError, SimConfig};
use crate::report::Report;
use crate::request::{SimReply, SimRequest, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER};
use crate::scenario::Scenario;

/// 2026-11-28T10:41:11Z.
const WALL: WallTime = WallTime::from_unix_secs(1_795_862_471);
const CREDS: &str = "/latest/meta-data/iam/security-credentials/";
const ROLE: &str = "credcycle-sim-role";

fn start() -> Now {
    // A monotonic epoch that is not zero, so offsets from the start are really offsets.
    Now::new(MonoTime::from_millis(5_000), WALL)
}

fn at(secs: f64) -> Now {
    start().advance(Duration::from_secs_f64(secs))
}

fn config() -> SimConfig {
    SimConfig::default().with_seed(7)
}

fn sim(config: SimConfig) -> SimImds {
    SimImds::new(config, start()).unwrap()
}

fn with_scenario(toml: &str) -> SimImds {
    sim(config().with_scenario(Scenario::from_toml_str(toml).unwrap()))
}

fn put_token(ttl: &str) -> SimRequest {
    SimRequest::put(TOKEN_PATH).with_header(TTL_HEADER, ttl)
}

fn token(sim: &mut SimImds, now: Now) -> String {
    let reply = sim.handle(now, &put_token("21600"));
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    reply.text().unwrap().to_owned()
}

fn get(path: &str, token: &str) -> SimRequest {
    SimRequest::get(path).with_header(TOKEN_HEADER, token)
}

/// The credentials JSON at `now` (with a fresh token).
fn creds(sim: &mut SimImds, now: Now) -> Value {
    let token = token(sim, now);
    let reply = sim.handle(now, &get(&format!("{CREDS}{ROLE}"), &token));
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    serde_json::from_str(reply.text().unwrap()).unwrap()
}

fn key_of(v: &Value) -> String {
    v["AccessKeyId"].as_str().unwrap().to_owned()
}

fn is_imds_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

// ---------------------------------------------------------------------------------------------
// IMDSv2 rules.

#[test]
fn token_put_rules() {
    struct Case {
        desc: &'static str,
        headers: &'static [(&'static str, &'static str)],
        status: u16,
    }
    let cases = [
        Case {
            desc: "no TTL",
            headers: &[],
            status: 400,
        },
        Case {
            desc: "TTL 0",
            headers: &[(TTL_HEADER, "0")],
            status: 400,
        },
        Case {
            desc: "TTL 21601",
            headers: &[(TTL_HEADER, "21601")],
            status: 400,
        },
        Case {
            desc: "TTL not an integer",
            headers: &[(TTL_HEADER, "sixty")],
            status: 400,
        },
        Case {
            desc: "TTL fractional",
            headers: &[(TTL_HEADER, "1.5")],
            status: 400,
        },
        Case {
            desc: "TTL negative",
            headers: &[(TTL_HEADER, "-1")],
            status: 400,
        },
        Case {
            desc: "TTL signed",
            headers: &[(TTL_HEADER, "+60")],
            status: 400,
        },
        Case {
            desc: "TTL empty",
            headers: &[(TTL_HEADER, "")],
            status: 400,
        },
        Case {
            desc: "TTL huge",
            headers: &[(TTL_HEADER, "99999999999999999999")],
            status: 400,
        },
        Case {
            desc: "TTL 1",
            headers: &[(TTL_HEADER, "1")],
            status: 200,
        },
        Case {
            desc: "TTL 21600, name in lower case",
            headers: &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
            status: 200,
        },
        Case {
            desc: "X-Forwarded-For",
            headers: &[(TTL_HEADER, "60"), ("X-Forwarded-For", "10.0.0.1")],
            status: 403,
        },
        Case {
            desc: "X-Forwarded-For without TTL",
            headers: &[("x-forwarded-for", "10.0.0.1")],
            status: 403,
        },
    ];
    let mut imds = sim(config());
    for case in cases {
        let mut req = SimRequest::put(TOKEN_PATH);
        for (name, value) in case.headers {
            req = req.with_header(*name, *value);
        }
        let reply = imds.handle(start(), &req);
        assert_eq!(reply.status(), Some(case.status), "{}", case.desc);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain"),
            "{}",
            case.desc
        );
        if case.status != 200 {
            assert_eq!(reply.header(TTL_HEADER), None, "{}", case.desc);
        }
    }
    let report = imds.report();
    assert_eq!(report.token_puts, 13);
    assert_eq!(report.tokens_issued, 2);
    assert_eq!(report.count("token", "400"), 9);
    assert_eq!(report.count("token", "403"), 2);
}

#[test]
fn token_reply_echoes_the_ttl_and_is_the_body() {
    let mut imds = sim(config());
    let reply = imds.handle(start(), &put_token("60"));
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.header(TTL_HEADER), Some("60"));
    assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    let token = reply.text().unwrap();
    assert!(token.starts_with("AQAEA") && token.len() == 58, "{token}");
    assert!(!token.ends_with('\n'));
    // Each PUT gets a different token.
    let other = imds.handle(start(), &put_token("60"));
    assert_ne!(other.text(), reply.text());
}

#[test]
fn token_expires_after_its_ttl() {
    let mut imds = sim(config());
    let token = imds
        .handle(start(), &put_token("60"))
        .text()
        .unwrap()
        .to_owned();
    let listing = get(CREDS, &token);
    assert_eq!(imds.handle(at(59.999), &listing).status(), Some(200));
    assert_eq!(imds.handle(at(60.0), &listing).status(), Some(401));
    assert_eq!(imds.handle(at(3600.0), &listing).status(), Some(401));
    assert_eq!(imds.report().unauthorized, 2);
}

#[test]
fn a_wall_clock_step_does_not_move_token_expiry_or_aws_time() {
    let mut imds = sim(config());
    let token = imds
        .handle(start(), &put_token("60"))
        .text()
        .unwrap()
        .to_owned();
    // The guest's wall clock jumps an hour ahead; 30 s pass on the monotonic clock.
    let stepped = Now::new(at(30.0).mono, WALL.offset_millis(3_600_000));
    assert_eq!(
        imds.handle(stepped, &get(CREDS, &token)).status(),
        Some(200)
    );
    assert_eq!(imds.aws_time(stepped), WALL.offset_millis(30_000));
    let v = creds(&mut imds, stepped);
    assert_eq!(v["LastUpdated"], "2026-11-28T10:41:41Z");
}

#[test]
fn gets_need_a_valid_token_unless_imdsv1_is_allowed() {
    let bare = SimRequest::get(CREDS);
    let bad = get(CREDS, "AQAEAnot-a-real-token==");
    let empty = get(CREDS, "");

    let mut v2 = sim(config());
    assert_eq!(v2.handle(start(), &bare).status(), Some(401));
    assert_eq!(v2.handle(start(), &bad).status(), Some(401));
    assert_eq!(v2.handle(start(), &empty).status(), Some(401));

    let mut v1 = sim(config().with_imdsv1(true));
    assert_eq!(v1.handle(start(), &bare).status(), Some(200));
    assert_eq!(v1.handle(start(), &bare).text(), Some(ROLE));
    assert_eq!(v1.handle(start(), &bad).status(), Some(401));
    assert_eq!(v1.handle(start(), &empty).status(), Some(401));
    let token = token(&mut v1, start());
    assert_eq!(v1.handle(start(), &get(CREDS, &token)).status(), Some(200));
}

#[test]
fn wrong_methods_are_405() {
    let mut imds = sim(config());
    let token = token(&mut imds, start());
    let cases = [
        SimRequest::get(TOKEN_PATH),
        SimRequest::post(TOKEN_PATH).with_header(TTL_HEADER, "60"),
        SimRequest::new("DELETE", TOKEN_PATH),
        SimRequest::put(CREDS).with_header(TTL_HEADER, "60"),
        SimRequest::put("/latest/meta-data/").with_header(TOKEN_HEADER, token.as_str()),
        SimRequest::post(CREDS).with_header(TOKEN_HEADER, token.as_str()),
        SimRequest::new("HEAD", CREDS).with_header(TOKEN_HEADER, token.as_str()),
        SimRequest::new("get", CREDS).with_header(TOKEN_HEADER, token.as_str()),
        SimRequest::new("PATCH", "/nowhere"),
    ];
    for req in cases {
        let reply = imds.handle(start(), &req);
        assert_eq!(reply.status(), Some(405), "{req:?}");
        assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and the wire format.

#[test]
fn role_listing_is_the_bare_role_name() {
    let mut imds = sim(config());
    let token = token(&mut imds, start());
    for path in [
        CREDS,
        "/latest/meta-data/iam/security-credentials",
        "/latest/meta-data/iam/security-credentials-extended/",
    ] {
        let reply = imds.handle(start(), &get(path, &token));
        assert_eq!(reply.text(), Some(ROLE), "{path}");
        assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    }
}

#[test]
fn credentials_json_has_the_imds_shape() {
    let mut imds = sim(config());
    let token = token(&mut imds, start());
    let reply = imds.handle(at(1.4), &get(&format!("{CREDS}{ROLE}"), &token));
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    let text = reply.text().unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    let key = key_of(&v);
    let secret = v["SecretAccessKey"].as_str().unwrap();
    let session = v["Token"].as_str().unwrap();
    let expected = format!(
        "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-28T10:41:12Z\",\n  \
         \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"{key}\",\n  \"SecretAccessKey\" : \
         \"{secret}\",\n  \"Token\" : \"{session}\",\n  \"Expiration\" : \
         \"2026-11-28T16:41:12Z\"\n}}"
    );
    assert_eq!(text, expected);
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert!(
        key[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(secret.len(), 40);
    assert!(session.len() > 600);
    assert!(is_imds_timestamp(v["LastUpdated"].as_str().unwrap()));
    assert!(is_imds_timestamp(v["Expiration"].as_str().unwrap()));
}

#[test]
fn extended_path_adds_the_account_id_or_404s() {
    let mut imds = sim(config().with_account_id("210987654321"));
    let token = token(&mut imds, start());
    let ext = format!("/latest/meta-data/iam/security-credentials-extended/{ROLE}");
    let reply = imds.handle(start(), &get(&ext, &token));
    let v: Value = serde_json::from_str(reply.text().unwrap()).unwrap();
    assert_eq!(v["AccountId"], "210987654321");
    let classic = creds(&mut imds, start());
    assert_eq!(classic.get("AccountId"), None);
    assert_eq!(key_of(&v), key_of(&classic), "one set behind both paths");
    assert_eq!(
        imds.handle(
            start(),
            &get(
                "/latest/meta-data/iam/security-credentials-extended/other",
                &token
            )
        )
        .status(),
        Some(404)
    );

    let mut off = sim(config().with_extended(false));
    let token = self::token(&mut off, start());
    assert_eq!(off.handle(start(), &get(&ext, &token)).status(), Some(404));
    assert_eq!(
        off.handle(
            start(),
            &get(
                "/latest/meta-data/iam/security-credentials-extended/",
                &token
            )
        )
        .status(),
        Some(404)
    );
    assert_eq!(creds(&mut off, start())["Code"], "Success");
}

#[test]
fn other_paths() {
    let mut imds = sim(config());
    let token = token(&mut imds, start());
    let mut text_of = |path: &str| {
        let reply = imds.handle(start(), &get(path, &token));
        assert_eq!(reply.header("Content-Type"), Some("text/plain"), "{path}");
        (
            reply.status().unwrap(),
            reply.text().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(
        text_of("/latest/meta-data/"),
        (200, "ami-id\niam/\ninstance-id\ninstance-type".to_owned())
    );
    assert_eq!(
        text_of("/latest/meta-data/iam/"),
        (200, "info\nsecurity-credentials/".to_owned())
    );
    let (status, id) = text_of("/latest/meta-data/instance-id");
    assert_eq!(status, 200);
    assert!(id.starts_with("i-") && id.len() == 19, "{id}");
    let (status, ami) = text_of("/latest/meta-data/ami-id");
    assert!(status == 200 && ami.starts_with("ami-"), "{ami}");
    assert_eq!(text_of(&format!("{CREDS}other-role")).0, 404);
    assert_eq!(text_of(&format!("{CREDS}{ROLE}/")).0, 404);
    assert_eq!(text_of(&format!("{CREDS}{ROLE}/x")).0, 404);
    assert_eq!(text_of("/latest/meta-data/nothing-here").0, 404);
    assert_eq!(text_of("/latest/user-data").0, 404);
    let (status, page) = text_of("/");
    assert_eq!(status, 404);
    assert!(page.contains("404 - Not Found"));

    let (status, info) = text_of("/latest/meta-data/iam/info");
    assert_eq!(status, 200);
    assert!(info.starts_with("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-28T10:41:11Z\",\n  \"InstanceProfileArn\" : \"arn:aws:iam::123456789012:instance-profile/credcycle-sim-role\",\n  \"InstanceProfileId\" : \"AIPA"), "{info}");
}

#[test]
fn detached_instance_has_no_iam() {
    let mut imds = sim(config().detached());
    let token = token(&mut imds, start());
    for path in [
        CREDS,
        "/latest/meta-data/iam/",
        "/latest/meta-data/iam/info",
        "/latest/meta-data/iam/security-credentials/credcycle-sim-role",
    ] {
        assert_eq!(
            imds.handle(start(), &get(path, &token)).status(),
            Some(404),
            "{path}"
        );
    }
    assert_eq!(
        imds.handle(start(), &get("/latest/meta-data/", &token))
            .text(),
        Some("ami-id\ninstance-id\ninstance-type")
    );
    assert_eq!(imds.report().issued, 0);
    assert_eq!(imds.report().role, None);
}

// ---------------------------------------------------------------------------------------------
// Rotation.

#[test]
fn rotation_schedule() {
    // Lifetime 1 h, rotate 5 min before: the rotation point of a set issued at 0 is 55 min.
    let mut imds = sim(config().with_lifetime(Duration::from_secs(3600)));
    let first = creds(&mut imds, start());
    assert_eq!(first["Expiration"], "2026-11-28T11:41:11Z");
    assert_eq!(first["LastUpdated"], "2026-11-28T10:41:11Z");
    for t in [1.0, 600.0, 3299.0, 3299.999] {
        assert_eq!(key_of(&creds(&mut imds, at(t))), key_of(&first), "at {t}");
    }
    let second = creds(&mut imds, at(3300.0));
    assert_ne!(key_of(&second), key_of(&first));
    assert_eq!(second["LastUpdated"], "2026-11-28T11:36:11Z");
    assert_eq!(second["Expiration"], "2026-11-28T12:36:11Z");
    assert_eq!(key_of(&creds(&mut imds, at(3300.5))), key_of(&second));
    // Lazily: nobody asked for an hour and a half; the next request gets a new set.
    let third = creds(&mut imds, at(10_000.0));
    assert_ne!(key_of(&third), key_of(&second));
    let report = imds.report();
    assert_eq!(report.issued, 3);
    let reasons: Vec<_> = report.sets.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons, ["first", "scheduled", "scheduled"]);
}

#[test]
fn key_ids_are_unique_across_many_rotations() {
    let mut imds = sim(config()
        .with_lifetime(Duration::from_secs(10))
        .with_rotate_before(Duration::from_secs(5)));
    let mut keys = std::collections::BTreeSet::new();
    for i in 0..500 {
        let key = key_of(&creds(&mut imds, at(f64::from(i) * 5.0)));
        assert!(keys.insert(key), "key repeated at step {i}");
    }
    assert_eq!(imds.report().issued, 500);
}

#[test]
fn forced_rotation() {
    let mut imds = sim(config());
    let first = key_of(&creds(&mut imds, start()));
    let forced = imds.rotate(at(1.0)).unwrap();
    assert_ne!(forced, first);
    assert_eq!(key_of(&creds(&mut imds, at(2.0))), forced);
    let reply = imds.handle(at(3.0), &SimRequest::post("/_sim/rotate"));
    let v: Value = serde_json::from_str(reply.text().unwrap()).unwrap();
    assert_eq!(key_of(&creds(&mut imds, at(4.0))), key_of(&v));
    assert_eq!(imds.report().sets[1].reason, "forced");

    imds.detach(at(5.0));
    assert_eq!(imds.rotate(at(6.0)), None);
    let reply = imds.handle(at(7.0), &SimRequest::post("/_sim/rotate"));
    assert_eq!(reply.status(), Some(409));
}

// ---------------------------------------------------------------------------------------------
// Scripted faults.

#[test]
fn outage_modes_and_windows() {
    let mut imds = with_scenario(
        r#"
[[event]]
at = 10
duration = 10
fault = "outage"

[[event]]
at = 20
duration = 10
fault = "outage"
mode = "reset"

[[event]]
at = 30
duration = 10
fault = "outage"
mode = "http"
status = 503
retry_after = 7
"#,
    );
    let put = put_token("60");
    assert_eq!(imds.handle(at(9.999), &put).status(), Some(200));
    assert_eq!(imds.handle(at(10.0), &put), SimReply::Drop);
    assert_eq!(imds.handle(at(19.999), &put), SimReply::Drop);
    assert_eq!(imds.handle(at(20.0), &put), SimReply::Reset);
    let reply = imds.handle(at(30.0), &put);
    assert_eq!(reply.status(), Some(503));
    assert_eq!(reply.header("Retry-After"), Some("7"));
    assert!(reply.text().unwrap().contains("503 - Service Unavailable"));
    assert_eq!(imds.handle(at(40.0), &put).status(), Some(200));
    // The simulator's own endpoints are never faulted.
    assert_eq!(
        imds.handle(at(15.0), &SimRequest::get("/_sim/report"))
            .status(),
        Some(200)
    );
    let report = imds.report();
    assert_eq!(report.dropped, 2);
    assert_eq!(report.resets, 1);
    assert_eq!(report.count("token", "drop"), 2);
    assert_eq!(report.count("token", "reset"), 1);
    assert_eq!(report.count("token", "503"), 1);
    assert_eq!(report.count("token", "200"), 2);
    assert_eq!(report.count("sim", "200"), 1);
}

#[test]
fn outage_on_one_target_spares_the_others() {
    let mut imds = with_scenario(
        "[[event]]\nat = 0\nfault = \"outage\"\nmode = \"timeout\"\ntarget = \"token\"\n",
    );
    assert_eq!(imds.handle(at(1.0), &put_token("60")), SimReply::Drop);
    let mut v1 = sim(config().with_imdsv1(true).with_scenario(
        Scenario::from_toml_str(
            "[[event]]\nat = 0\nfault = \"outage\"\nmode = \"timeout\"\ntarget = \"token\"\n",
        )
        .unwrap(),
    ));
    assert_eq!(v1.handle(at(1.0), &put_token("60")), SimReply::Drop);
    assert_eq!(
        v1.handle(at(1.0), &SimRequest::get(CREDS)).text(),
        Some(ROLE)
    );
}

#[test]
fn malformed_bodies() {
    let mut imds = with_scenario(
        r#"
[[event]]
at = 10
duration = 1
fault = "malformed"
body = "truncated"

[[event]]
at = 11
duration = 1
fault = "malformed"
body = "not-json"

[[event]]
at = 12
duration = 1
fault = "malformed"
body = "empty"

[[event]]
at = 13
duration = 1
fault = "malformed"
body = "missing-fields"

[[event]]
at = 14
duration = 1
fault = "malformed"
body = "bad-expiration"

[[event]]
at = 15
duration = 1
fault = "malformed"
body = "assume-role-failure"

[[event]]
at = 16
duration = 1
fault = "malformed"
body = "truncated"
target = "token"

[[event]]
at = 17
duration = 1
fault = "malformed"
body = "missing-fields"
target = "info"
"#,
    );
    let token = token(&mut imds, start());
    let path = format!("{CREDS}{ROLE}");
    let mut body_at = |t: f64, path: &str| {
        let reply = imds.handle(at(t), &get(path, &token));
        assert_eq!(reply.status(), Some(200), "at {t}");
        reply.text().unwrap().to_owned()
    };
    let whole = body_at(9.0, &path);
    let truncated = body_at(10.0, &path);
    assert!(whole.starts_with(&truncated) && truncated.len() == whole.len() / 2);
    assert!(serde_json::from_str::<Value>(&truncated).is_err());
    let not_json = body_at(11.0, &path);
    assert!(not_json.starts_with("<?xml"));
    assert_eq!(body_at(12.0, &path), "");
    let missing: Value = serde_json::from_str(&body_at(13.0, &path)).unwrap();
    assert!(missing.get("SecretAccessKey").is_none() && missing.get("Token").is_none());
    assert_eq!(missing["Code"], "Success");
    let bad: Value = serde_json::from_str(&body_at(14.0, &path)).unwrap();
    assert_eq!(bad["Expiration"], "2026-13-45T25:61:61Z");
    let failure: Value = serde_json::from_str(&body_at(15.0, &path)).unwrap();
    assert_eq!(failure["Code"], "AssumeRoleUnauthorizedAccess");
    assert!(failure.get("AccessKeyId").is_none());
    assert!(failure["Message"].as_str().unwrap().contains(ROLE));
    // Half a token: the next GET with it is a 401 (a whole error page: errors are not broken).
    let half = imds
        .handle(at(16.0), &put_token("60"))
        .text()
        .unwrap()
        .to_owned();
    assert_eq!(half.len(), 29);
    let refused = imds.handle(at(16.5), &get(CREDS, &half));
    assert_eq!(refused.status(), Some(401));
    assert!(refused.text().unwrap().ends_with("</html>\n"));
    let info = imds.handle(at(17.0), &get("/latest/meta-data/iam/info", &token));
    let info: Value = serde_json::from_str(info.text().unwrap()).unwrap();
    assert!(info.get("InstanceProfileArn").is_none());
    assert_eq!(info["Code"], "Success");
    // Only bodies of the targeted class are broken: the listing is intact.
    assert_eq!(
        imds.handle(at(17.0), &get(CREDS, &token)).text(),
        Some(ROLE)
    );
}

#[test]
fn delays_add_up_on_their_targets() {
    let mut imds = with_scenario(
        r#"
[[event]]
at = 0
duration = 10
fault = "delay"
delay = 0.5

[[event]]
at = 5
duration = 10
fault = "delay"
delay = 1.25
target = "credentials"
"#,
    );
    let token = token(&mut imds, start());
    let path = format!("{CREDS}{ROLE}");
    assert_eq!(
        imds.handle(at(1.0), &get(&path, &token)).delay(),
        Some(Duration::from_millis(500))
    );
    // Errors are slow too.
    assert_eq!(
        imds.handle(at(1.0), &SimRequest::get(CREDS)).delay(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        imds.handle(at(6.0), &get(&path, &token)).delay(),
        Some(Duration::from_millis(1750))
    );
    assert_eq!(
        imds.handle(at(6.0), &get(CREDS, &token)).delay(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        imds.handle(at(11.0), &get(&path, &token)).delay(),
        Some(Duration::from_millis(1250))
    );
    assert_eq!(imds.handle(at(15.0), &get(&path, &token)).delay(), None);
}

#[test]
fn throttling_drops_the_excess() {
    let mut imds =
        with_scenario("[[event]]\nat = 10\nduration = 10\nfault = \"throttle\"\nper_second = 2\n");
    let token = token(&mut imds, start());
    let req = get(CREDS, &token);
    // Outside the window: no limit.
    for _ in 0..10 {
        assert_eq!(imds.handle(at(9.0), &req).status(), Some(200));
    }
    assert_eq!(imds.handle(at(10.0), &req).status(), Some(200));
    assert_eq!(imds.handle(at(10.5), &req).status(), Some(200));
    assert_eq!(imds.handle(at(10.9), &req), SimReply::Drop);
    assert_eq!(imds.handle(at(10.999), &req), SimReply::Drop);
    // One second after the first admitted request, there is room for one more.
    assert_eq!(imds.handle(at(11.0), &req).status(), Some(200));
    assert_eq!(imds.handle(at(11.1), &req), SimReply::Drop);
    assert_eq!(imds.handle(at(11.5), &req).status(), Some(200));
    assert_eq!(imds.handle(at(20.0), &req).status(), Some(200));
    assert_eq!(imds.handle(at(20.0), &req).status(), Some(200));
    assert_eq!(imds.handle(at(20.0), &req).status(), Some(200));
    let report = imds.report();
    assert_eq!(report.dropped, 3);
    assert_eq!(report.count("role-list", "drop"), 3);
}

#[test]
fn expired_credentials_are_served_and_audited() {
    let mut imds =
        with_scenario("[[event]]\nat = 100\nduration = 50\nfault = \"expired\"\nby = 120\n");
    let fresh = creds(&mut imds, start());
    let stale = creds(&mut imds, at(100.0));
    assert_ne!(key_of(&stale), key_of(&fresh));
    // Expiration two minutes before "now" (10:42:51Z).
    assert_eq!(stale["Expiration"], "2026-11-28T10:40:51Z");
    assert_eq!(stale["LastUpdated"], "2026-11-28T04:40:51Z");
    // The same stale set for the whole window, then the current set again.
    assert_eq!(key_of(&creds(&mut imds, at(149.0))), key_of(&stale));
    assert_eq!(key_of(&creds(&mut imds, at(150.0))), key_of(&fresh));

    let used = imds.record_use(at(120.0), &key_of(&stale)).unwrap();
    assert!(used.expired && !used.revoked);
    let ok = imds.record_use(at(120.0), &key_of(&fresh)).unwrap();
    assert!(!ok.expired);
    let report = imds.report();
    assert_eq!(report.issued, 2);
    assert_eq!(report.expired_uses, 1);
    assert_eq!(report.uses, 2);
    assert_eq!(report.sets[1].reason, "expired-fault");
    assert_eq!(report.sets[1].expired_uses, 1);
}

#[test]
fn not_rotated_keeps_serving_the_same_set_past_expiry() {
    // Lifetime 120 s, rotate 30 s before: rotation point 90 s, expiry 120 s.
    let mut imds = sim(config()
        .with_lifetime(Duration::from_secs(120))
        .with_rotate_before(Duration::from_secs(30))
        .with_scenario(
            Scenario::from_path(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("scenarios/rotation-stall.toml"),
            )
            .unwrap(),
        ));
    let first = creds(&mut imds, start());
    for t in [80.0, 90.0, 119.0, 120.0, 149.0] {
        assert_eq!(key_of(&creds(&mut imds, at(t))), key_of(&first), "at {t}");
    }
    let use_at_130 = imds.record_use(at(130.0), &key_of(&first)).unwrap();
    assert!(use_at_130.expired);
    let next = creds(&mut imds, at(150.0));
    assert_ne!(key_of(&next), key_of(&first));
    assert_eq!(imds.report().expired_uses, 1);
}

#[test]
fn role_changes_at_scripted_times() {
    let mut imds = sim(config().with_scenario(
        Scenario::from_path(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/role-change.toml"),
        )
        .unwrap(),
    ));
    let token = token(&mut imds, start());
    let list = get(CREDS, &token);
    let first = creds(&mut imds, at(1.0));
    assert_eq!(imds.handle(at(19.9), &list).text(), Some(ROLE));
    assert_eq!(
        imds.handle(at(20.0), &list).text(),
        Some("credcycle-sim-role-2")
    );
    assert_eq!(
        imds.handle(at(21.0), &get(&format!("{CREDS}{ROLE}"), &token))
            .status(),
        Some(404)
    );
    let second_reply = imds.handle(
        at(21.0),
        &get(&format!("{CREDS}credcycle-sim-role-2"), &token),
    );
    let second: Value = serde_json::from_str(second_reply.text().unwrap()).unwrap();
    assert_ne!(key_of(&second), key_of(&first));
    assert_eq!(imds.handle(at(40.0), &list).status(), Some(404));
    assert_eq!(imds.handle(at(60.0), &list).text(), Some(ROLE));
    let third = creds(&mut imds, at(61.0));
    assert_ne!(
        key_of(&third),
        key_of(&first),
        "a new attachment, new credentials"
    );
    let used = imds.record_use(at(62.0), &key_of(&first)).unwrap();
    assert!(used.revoked && !used.expired);
    assert!(!imds.record_use(at(62.0), &key_of(&third)).unwrap().revoked);
    // The scripted rotation at 70 s.
    let fourth = creds(&mut imds, at(70.0));
    assert_ne!(key_of(&fourth), key_of(&third));
    let report = imds.report();
    assert_eq!(report.revoked_uses, 1);
    assert_eq!(
        report.sets[0].revoked_at.as_deref(),
        Some("2026-11-28T10:41:31Z")
    );
    assert_eq!(
        report.sets[1].revoked_at.as_deref(),
        Some("2026-11-28T10:41:51Z")
    );
    assert_eq!(report.sets[2].revoked_at, None);
    assert_eq!(report.sets[3].reason, "forced");
}

#[test]
fn instants_apply_even_when_nobody_asked_at_the_time() {
    let mut imds = with_scenario(
        "[[event]]\nat = 10\nfault = \"detach\"\n\n[[event]]\nat = 5\nfault = \"change\"\nrole = \"b\"\n",
    );
    let first = creds(&mut imds, start());
    imds.advance(at(7.0));
    assert_eq!(imds.report().role.as_deref(), Some("b"));
    // Nothing is asked between 7 and 100 s; the detach is applied at its own time.
    let token = token(&mut imds, at(100.0));
    assert_eq!(
        imds.handle(at(100.0), &get(CREDS, &token)).status(),
        Some(404)
    );
    let report = imds.report();
    assert_eq!(report.role, None);
    assert_eq!(
        report.sets[0].revoked_at.as_deref(),
        Some("2026-11-28T10:41:16Z")
    );
    assert!(imds.record_use(at(100.0), &key_of(&first)).unwrap().revoked);
}

#[test]
fn forgotten_tokens_get_401_until_the_client_asks_for_a_new_one() {
    let mut imds = with_scenario("[[event]]\nat = 30\nfault = \"forget-tokens\"\n");
    let old = token(&mut imds, start());
    assert_eq!(imds.handle(at(29.0), &get(CREDS, &old)).status(), Some(200));
    // The token's TTL is six hours, but IMDS has forgotten it (as if it had expired).
    assert_eq!(imds.handle(at(31.0), &get(CREDS, &old)).status(), Some(401));
    let new = token(&mut imds, at(31.0));
    assert_eq!(imds.handle(at(31.0), &get(CREDS, &new)).status(), Some(200));
    assert!(
        Scenario::from_toml_str("[[event]]\nat = 1\nfault = \"forget-tokens\"\nrole = \"x\"\n")
            .is_err(),
        "no field applies to forget-tokens"
    );
}

// ---------------------------------------------------------------------------------------------
// The audit and control endpoints.

#[test]
fn use_endpoint_and_report() {
    let mut imds = sim(config().with_lifetime(Duration::from_secs(600)));
    let key = key_of(&creds(&mut imds, start()));
    let use_at = |imds: &mut SimImds, t: f64, body: &str| {
        let reply = imds.handle(at(t), &SimRequest::post("/_sim/use").with_body(body));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_str(reply.text().unwrap()).unwrap();
        (reply.status().unwrap(), v)
    };
    let (status, v) = use_at(&mut imds, 10.0, &key);
    assert_eq!(status, 200);
    assert_eq!(v["AccessKeyId"], key.as_str());
    assert_eq!(v["expired"], false);
    assert_eq!(v["expiration"], "2026-11-28T10:51:11Z");
    let (status, v) = use_at(&mut imds, 600.0, &format!("{{\"AccessKeyId\": \"{key}\"}}"));
    assert_eq!(status, 200);
    assert_eq!(v["expired"], true);
    let (status, v) = use_at(&mut imds, 10.0, "ASIANOTISSUEDBYUS00");
    assert_eq!(status, 404);
    assert_eq!(v["error"], "unknown access key id");
    let (status, _) = use_at(&mut imds, 10.0, "  ");
    assert_eq!(status, 400);
    let (status, _) = use_at(&mut imds, 10.0, "{\"Nope\": 1}");
    assert_eq!(status, 400);

    let reply = imds.handle(at(11.0), &SimRequest::get("/_sim/report"));
    assert_eq!(reply.status(), Some(200));
    let report: Report = serde_json::from_str(reply.text().unwrap()).unwrap();
    assert_eq!(report.sets, imds.report().sets);
    assert_eq!(report.issued, 1);
    assert_eq!(report.uses, 2);
    assert_eq!(report.expired_uses, 1);
    assert_eq!(report.unknown_uses, 1);
    assert_eq!(report.token_puts, 1);
    assert_eq!(report.count("credentials", "200"), 1);
    assert_eq!(report.count("sim", "404"), 1);
    assert_eq!(report.sets[0].uses, 2);
    assert_eq!(report.role.as_deref(), Some(ROLE));
    // Deterministic ordering: classes and outcomes are sorted.
    let text = reply.text().unwrap();
    let classes: Vec<_> = report.requests.keys().cloned().collect();
    let mut sorted = classes.clone();
    sorted.sort();
    assert_eq!(classes, sorted);
    assert!(text.find("\"credentials\"").unwrap() < text.find("\"sim\"").unwrap());
}

#[test]
fn control_endpoints() {
    let mut imds = sim(config());
    let post = |imds: &mut SimImds, target: &str, body: &str| {
        let reply = imds.handle(start(), &SimRequest::post(target).with_body(body));
        (reply.status().unwrap(), reply.text().unwrap().to_owned())
    };
    assert_eq!(post(&mut imds, "/_sim/detach", "").0, 200);
    assert_eq!(imds.role(), None);
    let (status, body) = post(&mut imds, "/_sim/attach?role=web%2Bapi%40x", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(imds.role().unwrap().as_str(), "web+api@x");
    assert_eq!(post(&mut imds, "/_sim/attach", "from-body").0, 200);
    assert_eq!(imds.role().unwrap().as_str(), "from-body");
    let (status, body) = post(&mut imds, "/_sim/attach?role=a%2Fb", "");
    assert_eq!(status, 400);
    assert!(body.contains("invalid role name"), "{body}");
    assert_eq!(post(&mut imds, "/_sim/attach", "").0, 400);
    assert_eq!(
        imds.handle(start(), &SimRequest::get("/_sim/use")).status(),
        Some(405)
    );
    assert_eq!(
        imds.handle(start(), &SimRequest::post("/_sim/report"))
            .status(),
        Some(405)
    );
    assert_eq!(
        imds.handle(start(), &SimRequest::get("/_sim/nothing"))
            .status(),
        Some(404)
    );
    assert_eq!(
        imds.handle(start(), &SimRequest::get("/_sim/report/"))
            .status(),
        Some(200)
    );
    // No token needed, even with IMDSv1 off.
    assert!(!imds.config().allow_imdsv1);
}

// ---------------------------------------------------------------------------------------------
// Determinism and secrets.

#[test]
fn same_seed_same_replies() {
    let script = |seed: u64| {
        let mut imds = sim(SimConfig::default().with_seed(seed));
        let mut out = Vec::new();
        for i in 0..5 {
            let v = creds(&mut imds, at(f64::from(i) * 10_000.0));
            out.push(v.to_string());
        }
        out.push(format!("{:?}", imds.report()));
        out
    };
    assert_eq!(script(1), script(1));
    assert_ne!(script(1), script(2));
    // Unseeded simulators differ.
    let mut a = SimImds::new(SimConfig::default(), start()).unwrap();
    let mut b = SimImds::new(SimConfig::default(), start()).unwrap();
    assert_ne!(token(&mut a, start()), token(&mut b, start()));
}

#[test]
fn debug_shows_no_secret() {
    let mut imds = sim(config());
    let token = token(&mut imds, start());
    let v = creds(&mut imds, start());
    let debug = format!("{imds:?}");
    for secret in [
        token.as_str(),
        v["SecretAccessKey"].as_str().unwrap(),
        v["Token"].as_str().unwrap(),
    ] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert_eq!(
        debug,
        "SimImds { start: Now { mono: MonoTime(5000), wall: WallTime(1795862471000) }, \
         latest: MonoTime(5000), role: Some(\"credcycle-sim-role\"), issued: 1, live_tokens: 2, \
         windows: 0, instants: 0, .. }"
    );
    let report = format!("{:?}", imds.report());
    assert!(!report.contains(v["SecretAccessKey"].as_str().unwrap()));
    let json = serde_json::to_string(&imds.report()).unwrap();
    assert!(!json.contains(v["Token"].as_str().unwrap()));
}

#[test]
fn time_going_backwards_is_no_time_passing() {
    let mut imds = sim(config());
    let token = imds
        .handle(at(100.0), &put_token("10"))
        .text()
        .unwrap()
        .to_owned();
    // A `now` from before: treated as 100 s, so the token is still valid...
    assert_eq!(
        imds.handle(at(0.0), &get(CREDS, &token)).status(),
        Some(200)
    );
    // ...and expires 10 s after it was issued.
    assert_eq!(
        imds.handle(at(110.0), &get(CREDS, &token)).status(),
        Some(401)
    );
}

#[test]
fn config_is_validated() {
    let err = SimImds::new(
        SimConfig::default().with_rotate_before(Duration::from_secs(6 * 3600)),
        start(),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::RotateBeforeTooLong { .. }));
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%2Fb%2bc+d%zz%4"), "a/b+c+d%zz%4");
    assert_eq!(
        query_param("x=1&role=r%40s", "role").as_deref(),
        Some("r@s")
    );
    assert_eq!(query_param("x=1", "role"), None);
}

// ---------------------------------------------------------------------------------------------
// Totality (INV-6 for the simulator): no request, at no time, panics the core.

fn any_request() -> impl Strategy<Value = (u64, SimRequest)> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("PUT".to_owned()),
        Just("POST".to_owned()),
        "[A-Za-z]{0,7}",
    ];
    let path = prop_oneof![
        Just(TOKEN_PATH.to_owned()),
        Just(CREDS.to_owned()),
        Just(format!("{CREDS}{ROLE}")),
        Just(format!(
            "/latest/meta-data/iam/security-credentials-extended/{ROLE}"
        )),
        Just("/latest/meta-data/iam/info".to_owned()),
        Just("/_sim/use".to_owned()),
        Just("/_sim/attach".to_owned()),
        Just("/_sim/detach".to_owned()),
        Just("/_sim/rotate".to_owned()),
        Just("/_sim/report".to_owned()),
        "/[ -~]{0,40}",
        "\\PC{0,20}",
    ];
    let header = prop_oneof![
        (Just(TTL_HEADER.to_owned()), "[0-9]{0,6}|[ -~]{0,8}"),
        (Just(TOKEN_HEADER.to_owned()), "[ -~]{0,60}"),
        (Just("X-Forwarded-For".to_owned()), "[ -~]{0,10}"),
        ("[A-Za-z-]{1,20}", "[ -~]{0,20}"),
    ];
    (
        0u64..5_000_000,
        method,
        path,
        proptest::option::of("[ -~]{0,30}"),
        proptest::collection::vec(header, 0..4),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(dt, method, path, query, headers, body)| {
            let req = SimRequest {
                method,
                path,
                query,
                headers: headers.into_iter().collect(),
                body,
            };
            (dt, req)
        })
}

proptest! {
    #[test]
    fn arbitrary_requests_never_panic(
        seed in any::<u64>(),
        imdsv1 in any::<bool>(),
        steps in proptest::collection::vec(any_request(), 1..60),
    ) {
        let scenario = Scenario::from_toml_str(
            r#"
[[event]]
at = 1
duration = 2
fault = "throttle"
per_second = 3
[[event]]
at = 3
duration = 1
fault = "outage"
mode = "reset"
[[event]]
at = 4
duration = 1
fault = "malformed"
body = "truncated"
target = "any"
[[event]]
at = 5
duration = 100
fault = "expired"
[[event]]
at = 6
fault = "change"
role = "b"
[[event]]
at = 200
duration = 10000
fault = "not-rotated"
"#,
        )
        .unwrap();
        let mut imds = SimImds::new(
            SimConfig::default()
                .with_seed(seed)
                .with_imdsv1(imdsv1)
                .with_lifetime(Duration::from_secs(900))
                .with_scenario(scenario),
            start(),
        )
        .unwrap();
        let mut now = start();
        let mut requests = 0u64;
        for (dt, req) in steps {
            now = now.advance(Duration::from_millis(dt));
            let reply = imds.handle(now, &req);
            requests += 1;
            if let SimReply::Respond { status, .. } = &reply {
                prop_assert!((200..600).contains(status));
            }
            if req.path == TOKEN_PATH && req.method == "PUT" && reply.status() == Some(200) {
                prop_assert!(reply.header(TTL_HEADER).is_some());
            }
        }
        let report = imds.report();
        let counted: u64 = report.requests.values().flat_map(|m| m.values()).sum();
        prop_assert_eq!(counted, requests);
    }
}

#[test]
fn the_request_log_has_time_class_and_outcome_of_imds_requests_only() {
    let mut sim = with_scenario(
        "[[event]]\nat = 10\nduration = 5\nfault = \"outage\"\nmode = \"http\"\nstatus = 503\ntarget = \"credentials\"\n",
    );
    let t = token(&mut sim, at(1.5));
    let _ = sim.handle(at(2.0), &get(&format!("{CREDS}{ROLE}"), &t));
    let _ = sim.handle(at(11.25), &get(&format!("{CREDS}{ROLE}"), &t));
    let _ = sim.handle(at(12.0), &SimRequest::get("/_sim/report"));
    let _ = sim.handle(at(13.0), &get("/latest/meta-data/nothing-here", &t));
    let log: Vec<(u64, &str, &str)> = sim
        .request_log()
        .iter()
        .map(|r| (r.at_ms, r.class.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            (1_500, "token", "200"),
            (2_000, "credentials", "200"),
            (11_250, "credentials", "503"),
            (13_000, "metadata", "404"),
        ]
    );
}

#[test]
fn a_scenario_configures_lifetime_and_rotation() {
    let scenario =
        Scenario::from_toml_str("lifetime = 150\nrotate_before = 80.5\nlength = 200\n").unwrap();
    assert_eq!(scenario.length(), Some(Duration::from_secs(200)));
    let configured = scenario.configure(config());
    assert_eq!(configured.lifetime, Duration::from_secs(150));
    assert_eq!(configured.rotate_before, Duration::from_millis(80_500));
    let mut sim = sim(configured);
    let first = key_of(&creds(&mut sim, at(1.0)));
    // Issued at 1 s (whole seconds), expires at 151 s: the rotation point is 70.5 s.
    assert_eq!(key_of(&creds(&mut sim, at(70.0))), first);
    assert_ne!(key_of(&creds(&mut sim, at(71.0))), first);
    // Without the fields, the configuration is left alone.
    let plain = Scenario::from_toml_str("name = \"x\"")
        .unwrap()
        .configure(config());
    assert_eq!(plain.lifetime, Duration::from_secs(21_600));
}

// ---------------------------------------------------------------------------------------------
// The container-credentials endpoint.

const CONTAINER: &str = "/v1/credentials";

fn container_sim(scenario: Option<&str>) -> SimImds {
    let mut config = config().with_container(crate::SimContainer::new(CONTAINER, "pod-token-1"));
    if let Some(toml) = scenario {
        config = config.with_scenario(Scenario::from_toml_str(toml).unwrap());
    }
    sim(config)
}

fn container_get(token: Option<&str>) -> SimRequest {
    let req = SimRequest::get(CONTAINER);
    match token {
        Some(token) => req.with_header("Authorization", token),
        None => req,
    }
}

fn container_json(reply: &SimReply) -> Value {
    serde_json::from_slice(reply.body().unwrap()).unwrap()
}

#[test]
fn the_container_endpoint_serves_the_agents_shape_with_the_right_token() {
    let mut sim = container_sim(None);
    let reply = sim.handle(start(), &container_get(Some("pod-token-1")));
    assert_eq!(reply.status(), Some(200));
    let v = container_json(&reply);
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["SecretAccessKey"].as_str().unwrap().len(), 40);
    assert!(v["Token"].as_str().unwrap().starts_with("IQoJ"));
    assert!(is_imds_timestamp(v["Expiration"].as_str().unwrap()));
    assert_eq!(
        v["RoleArn"],
        format!("arn:aws:iam::123456789012:role/{ROLE}")
    );
    assert_eq!(v["AccountId"], "123456789012");
    assert!(v.get("Code").is_none() && v.get("Type").is_none());
    // The same set as IMDS serves (one role, one rotation schedule).
    let imds = creds(&mut sim, at(1.0));
    assert_eq!(key_of(&imds), v["AccessKeyId"].as_str().unwrap());
    // Counted as credentials fetches.
    let report = sim.report();
    assert_eq!(report.requests["credentials"]["200"], 2);
}

#[test]
fn the_container_endpoint_refuses_a_missing_or_wrong_token_and_follows_a_new_one() {
    let mut sim = container_sim(None);
    for token in [
        None,
        Some("pod-token-2"),
        Some("pod-token-1 "),
        Some("Bearer pod-token-1"),
    ] {
        let reply = sim.handle(start(), &container_get(token));
        assert_eq!(reply.status(), Some(401), "{token:?}");
    }
    assert_eq!(sim.report().unauthorized, 4);
    assert!(sim.set_authorization("pod-token-2"));
    assert!(!sim.set_authorization("two\nlines"));
    assert!(!sim.set_authorization(""));
    assert_eq!(
        sim.handle(start(), &container_get(Some("pod-token-1")))
            .status(),
        Some(401)
    );
    assert_eq!(
        sim.handle(start(), &container_get(Some("pod-token-2")))
            .status(),
        Some(200)
    );
    // The same through the control endpoint.
    let reply = sim.handle(
        start(),
        &SimRequest::post("/_sim/authorization").with_body("pod-token-3"),
    );
    assert_eq!(reply.status(), Some(200));
    assert_eq!(
        sim.handle(start(), &container_get(Some("pod-token-3")))
            .status(),
        Some(200)
    );
    let reply = sim.handle(start(), &SimRequest::post("/_sim/authorization"));
    assert_eq!(reply.status(), Some(400));
    // Other methods, and no role.
    let put = SimRequest::put(CONTAINER).with_header("Authorization", "pod-token-3");
    assert_eq!(sim.handle(start(), &put).status(), Some(405));
    sim.detach(start());
    assert_eq!(
        sim.handle(start(), &container_get(Some("pod-token-3")))
            .status(),
        Some(404)
    );
    // Without a container endpoint, the control answers 409 and the path is IMDS's 404.
    let mut plain = sim_default();
    let reply = plain.handle(
        start(),
        &SimRequest::post("/_sim/authorization").with_body("x"),
    );
    assert_eq!(reply.status(), Some(409));
    assert!(!plain.set_authorization("x"));
}

fn sim_default() -> SimImds {
    sim(config())
}

#[test]
fn container_fetches_get_the_credentials_faults() {
    let mut sim = container_sim(Some(
        r#"
[[event]]
at = 10
duration = 10
fault = "outage"
mode = "http"
status = 500

[[event]]
at = 30
duration = 10
fault = "expired"
by = 120

[[event]]
at = 50
duration = 10
fault = "malformed"
body = "missing-fields"

[[event]]
at = 70
duration = 10
fault = "outage"
mode = "timeout"
"#,
    ));
    let good = Some("pod-token-1");
    assert_eq!(
        sim.handle(at(15.0), &container_get(good)).status(),
        Some(500)
    );
    let stale = container_json(&sim.handle(at(35.0), &container_get(good)));
    let expiration = chrono::DateTime::parse_from_rfc3339(stale["Expiration"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!(
        expiration * 1000 < WALL.as_unix_millis() + 35_000,
        "a stale set: {stale}"
    );
    let missing = container_json(&sim.handle(at(55.0), &container_get(good)));
    assert!(missing.get("SecretAccessKey").is_none() && missing.get("Token").is_none());
    assert!(matches!(
        sim.handle(at(75.0), &container_get(good)),
        SimReply::Drop
    ));
    // A bad token still gets its 401 while nothing is faulted.
    assert_eq!(
        sim.handle(at(90.0), &container_get(Some("bad"))).status(),
        Some(401)
    );
}

#[test]
fn container_settings_are_validated() {
    for (path, token) in [
        ("v1/credentials", "t"),
        ("/latest/meta-data/x", "t"),
        ("/_sim/x", "t"),
        ("/x?y=1", "t"),
        ("/x", ""),
        ("/x", "a\nb"),
    ] {
        let config = config().with_container(crate::SimContainer::new(path, token));
        assert!(config.validate().is_err(), "{path:?} {token:?}");
    }
    let shown = format!("{:?}", crate::SimContainer::new("/x", "secret-token"));
    assert!(!shown.contains("secret-token"), "{shown}");
}
// The service's clock: `Date`, and an offset from the wall time.

#[test]
fn every_imds_reply_tells_the_service_time_in_date() {
    let mut sim = sim(config());
    let later = at(61.5);
    let reply = sim.handle(later, &put_token("60"));
    assert_eq!(reply.header("Date"), Some("Sat, 28 Nov 2026 10:42:12 GMT"));
    // Errors too (a 401 without a token), but not the simulator's own endpoints.
    let reply = sim.handle(later, &SimRequest::get(CREDS));
    assert_eq!(reply.status(), Some(401));
    assert_eq!(reply.header("Date"), Some("Sat, 28 Nov 2026 10:42:12 GMT"));
    let reply = sim.handle(later, &SimRequest::get("/_sim/report"));
    assert_eq!(reply.header("Date"), None);
}

#[test]
fn a_clock_offset_moves_date_and_the_credential_timestamps() {
    let mut plain = sim(config());
    let mut ahead = sim(config().with_clock_offset_secs(600));
    let mut behind = sim(config().with_clock_offset_secs(-90));
    let date = |sim: &mut SimImds| {
        sim.handle(start(), &put_token("60"))
            .header("Date")
            .unwrap()
            .to_owned()
    };
    assert_eq!(date(&mut plain), "Sat, 28 Nov 2026 10:41:11 GMT");
    assert_eq!(date(&mut ahead), "Sat, 28 Nov 2026 10:51:11 GMT");
    assert_eq!(date(&mut behind), "Sat, 28 Nov 2026 10:39:41 GMT");
    let plain = creds(&mut plain, start());
    let ahead = creds(&mut ahead, start());
    assert_eq!(plain["LastUpdated"], "2026-11-28T10:41:11Z");
    assert_eq!(ahead["LastUpdated"], "2026-11-28T10:51:11Z");
    assert_eq!(plain["Expiration"], "2026-11-28T16:41:11Z");
    assert_eq!(ahead["Expiration"], "2026-11-28T16:51:11Z");
}

#[test]
fn a_clock_offset_over_a_day_is_refused() {
    assert!(SimImds::new(config().with_clock_offset_secs(86_400), start()).is_ok());
    let err = SimImds::new(config().with_clock_offset_secs(-86_401), start()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "clock offset -86401 s is more than a day (86400 s) either way"
    );
}
