use std::sync::{Arc, Mutex};

use credcycle_clock::ManualClock;
use credcycle_core::{Action, ImdsFailure, Input, Now, RequestId, WallTime};
use mockall::Sequence;
use proptest::prelude::*;

use core::time::Duration;

use credcycle_core::{MonoTime, RoleName};

use super::*;
use crate::codec::{self, ParseError, ROLE_LISTING_PATH, TOKEN_PATH};
use crate::config::ImdsConfig;
use crate::config::{Endpoint, ImdsConfigBuilder, vars};
use crate::error::{ConnectFailure, ImdsError, TransportError};
use crate::http::{HttpRequest, HttpResponse};
use crate::protocol::RequestKind;
use crate::token::ImdsToken;
use crate::{FnTransport, ImdsClient, MockTransport};

const LIST: &str = ROLE_LISTING_PATH;
const WEB: &str = "/latest/meta-data/iam/security-credentials/web";
const WEB_EXT: &str = "/latest/meta-data/iam/security-credentials-extended/web";
const API: &str = "/latest/meta-data/iam/security-credentials/api";

const TOKEN: &str = "SENTINELTOKEN";
const CREDS: &str = r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAEXAMPLE",
    "SecretAccessKey":"SENTINELSECRET","Token":"SENTINELSESSION",
    "Expiration":"2026-11-28T10:41:11Z","LastUpdated":"2026-11-28T04:41:11Z"}"#;

type Reply = Result<HttpResponse, TransportError>;

fn ok(body: &str) -> Reply {
    Ok(HttpResponse::new(200, body))
}

fn status(code: u16) -> Reply {
    Ok(HttpResponse::new(code, "<html>error</html>"))
}

fn token() -> Reply {
    ok(TOKEN)
}

fn token_with_ttl(ttl: &str) -> Reply {
    Ok(HttpResponse::new(200, TOKEN).with_header("x-aws-ec2-metadata-token-ttl-seconds", ttl))
}

fn role(name: &str) -> RoleName {
    RoleName::new(name).unwrap()
}

/// How a scripted request must look.
#[derive(Clone, Copy, Debug)]
enum Auth {
    /// A token request.
    Put,
    /// A `GET` carrying the session token.
    Token,
    /// A `GET` without a token (IMDSv1).
    NoToken,
}

/// A mock that expects exactly these requests, in this order, and gives these replies.
fn script(steps: Vec<(&'static str, Auth, Reply)>) -> MockTransport {
    let mut mock = MockTransport::new();
    let mut seq = Sequence::new();
    for (path, auth, reply) in steps {
        mock.expect_send()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |req, timeout| {
                let auth_ok = match auth {
                    Auth::Put => {
                        req.method() == codec::Method::Put && req.token_ttl_secs().is_some()
                    }
                    Auth::Token => {
                        req.method() == codec::Method::Get
                            && req.token().map(ImdsToken::expose_secret) == Some(TOKEN)
                    }
                    Auth::NoToken => req.method() == codec::Method::Get && req.token().is_none(),
                };
                req.path() == path && auth_ok && *timeout == Duration::from_secs(1)
            })
            .return_once(move |_, _| reply);
    }
    mock
}

/// 2026-11-28T04:41:11Z, one second after the monotonic epoch.
fn start() -> Now {
    Now::new(
        MonoTime::from_millis(1_000),
        WallTime::from_unix_secs(1_795_840_871),
    )
}

struct Harness {
    client: ImdsClient<MockTransport, ManualClock>,
    clock: ManualClock,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl Harness {
    fn new(config: ImdsConfig, steps: Vec<(&'static str, Auth, Reply)>) -> Self {
        let clock = ManualClock::new(start());
        let slept = Arc::new(Mutex::new(Vec::new()));
        let (sleeper_clock, record) = (clock.clone(), Arc::clone(&slept));
        let client = ImdsClient::new(config, script(steps), clock.clone()).with_sleep(move |d| {
            record.lock().unwrap().push(d);
            sleeper_clock.advance(d);
        });
        Self {
            client,
            clock,
            slept,
        }
    }

    fn default(steps: Vec<(&'static str, Auth, Reply)>) -> Self {
        Self::new(ImdsConfig::default(), steps)
    }

    /// The default client, its token `PUT` answered with a token, then `steps`.
    fn with_token(steps: Vec<(&'static str, Auth, Reply)>) -> Self {
        let mut script = vec![(TOKEN_PATH, Auth::Put, token())];
        script.extend(steps);
        Self::default(script)
    }

    fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }
}

fn config() -> ImdsConfigBuilder {
    ImdsConfig::builder()
}

// Token caching ----------------------------------------------------------------------------------

#[test]
fn one_token_request_serves_many_requests() {
    let mut steps = vec![
        (TOKEN_PATH, Auth::Put, token()),
        (LIST, Auth::Token, ok("web")),
    ];
    for _ in 0..5 {
        steps.push((WEB, Auth::Token, ok(CREDS)));
    }
    let mut h = Harness::default(steps);
    let web = h.client.discover_role().unwrap();
    assert_eq!(web, role("web"));
    for _ in 0..5 {
        h.clock.advance(Duration::from_secs(3600));
        let creds = h.client.fetch_credentials(&web).unwrap();
        assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
    }
    let counts = h.client.counts();
    assert_eq!(
        (counts.token, counts.role_listing, counts.credentials),
        (1, 1, 5)
    );
    assert_eq!(counts.total(), 7);
    assert_eq!(counts.retries, 0);
    assert!(h.slept().is_empty());
}

#[test]
fn the_token_is_renewed_ahead_of_expiry() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, ok(CREDS)),
        (WEB, Auth::Token, ok(CREDS)),
        (TOKEN_PATH, Auth::Put, token()),
        (WEB, Auth::Token, ok(CREDS)),
    ]);
    h.client.fetch_credentials(&role("web")).unwrap();
    // Requested 21600 s, no echo: renewed 60 s before it expires.
    let expires_at = MonoTime::from_millis(1_000 + 21_600_000);
    let renew_at = MonoTime::from_millis(1_000 + 21_540_000);
    assert_eq!(
        h.client.session().token_status(),
        TokenStatus::Cached {
            renew_at,
            expires_at
        }
    );
    // One millisecond before the renewal point: still used.
    h.clock
        .advance(renew_at.saturating_duration_since(h.clock.now().mono) - Duration::from_millis(1));
    h.client.fetch_credentials(&role("web")).unwrap();
    assert_eq!(h.client.counts().token, 1);
    // At the renewal point: renewed first.
    h.clock.advance(Duration::from_millis(1));
    h.client.fetch_credentials(&role("web")).unwrap();
    assert_eq!(h.client.counts().token, 2);
    let TokenStatus::Cached { expires_at, .. } = h.client.session().token_status() else {
        panic!("no token")
    };
    assert_eq!(
        expires_at,
        renew_at.saturating_add(Duration::from_secs(21_600))
    );
}

#[test]
fn the_echoed_ttl_wins_over_the_requested_one() {
    // (requested, echo, expected lifetime in s, expected renewal margin in ms)
    let cases = [
        (21_600, Some("300"), 300, 60_000),
        (21_600, Some("100"), 100, 25_000),
        (21_600, None, 21_600, 60_000),
        (600, None, 600, 60_000),
        (100, None, 100, 25_000),
        (1, None, 1, 250),
        (600, Some("garbage"), 600, 60_000),
        (600, Some("0"), 600, 60_000),
        (600, Some("7200"), 600, 60_000),
    ];
    for (requested, echo, lifetime, margin) in cases {
        let reply = match echo {
            Some(ttl) => token_with_ttl(ttl),
            None => token(),
        };
        let mut h = Harness::new(
            config().token_ttl_secs(requested).build().unwrap(),
            vec![
                (TOKEN_PATH, Auth::Put, reply),
                (WEB, Auth::Token, ok(CREDS)),
            ],
        );
        h.client.fetch_credentials(&role("web")).unwrap();
        let expires_at = start().mono.saturating_add(Duration::from_secs(lifetime));
        assert_eq!(
            h.client.session().token_status(),
            TokenStatus::Cached {
                renew_at: expires_at.saturating_sub(Duration::from_millis(margin)),
                expires_at
            },
            "{requested} {echo:?}"
        );
    }
}

#[test]
fn the_requested_ttl_is_sent() {
    let mut mock = MockTransport::new();
    mock.expect_send()
        .withf(|req, _| req.expose_headers() == [("X-aws-ec2-metadata-token-ttl-seconds", "900")])
        .times(1)
        .returning(|_, _| status(403));
    let config = config().token_ttl_secs(900).build().unwrap();
    let mut client = ImdsClient::new(config, mock, ManualClock::new(start()));
    assert!(matches!(
        client.discover_role(),
        Err(ImdsError::TokenForbidden { .. })
    ));
}

// 401 ---------------------------------------------------------------------------------------------

#[test]
fn a_401_fetches_a_new_token_and_retries_once() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(401)),
        (TOKEN_PATH, Auth::Put, token()),
        (WEB, Auth::Token, ok(CREDS)),
    ]);
    h.client.fetch_credentials(&role("web")).unwrap();
    assert_eq!(h.client.counts().token, 2);
    assert_eq!(h.client.counts().retries, 0);
    assert!(h.slept().is_empty(), "no backoff for a 401");
}

#[test]
fn a_second_401_is_an_error_not_a_loop() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(401)),
        (TOKEN_PATH, Auth::Put, token()),
        (WEB, Auth::Token, status(401)),
    ]);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::Unauthorized {
            request: RequestKind::Credentials
        }
    );
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(401));
    assert_eq!(
        err.to_string(),
        "IMDS rejected the session token for the credentials request (HTTP 401), even a fresh one"
    );
    // The retry is per operation: the next operation may retry once again.
    assert_eq!(h.client.session().token_status(), TokenStatus::None);
}

// The token request's statuses -----------------------------------------------------------------

#[test]
fn token_request_statuses() {
    let v1 = || config().allow_imds_v1(true);
    let vetoed = || {
        config()
            .allow_imds_v1(true)
            .build_with_env_source(|name| (name == vars::V1_DISABLED).then(|| "true".to_owned()))
            .unwrap()
    };
    let cases: Vec<(&str, ImdsConfig, u16, Result<(), ImdsError>)> = vec![
        (
            "403",
            ImdsConfig::default(),
            403,
            Err(ImdsError::TokenForbidden { body_len: 18 }),
        ),
        (
            "403 with v1",
            v1().build().unwrap(),
            403,
            Err(ImdsError::TokenForbidden { body_len: 18 }),
        ),
        (
            "400",
            ImdsConfig::default(),
            400,
            Err(ImdsError::TokenBadRequest {
                ttl_secs: 21_600,
                body_len: 18,
            }),
        ),
        (
            "404 without v1",
            ImdsConfig::default(),
            404,
            Err(ImdsError::ImdsV1Disabled {
                status: 404,
                forbidden_by_env: false,
            }),
        ),
        (
            "405 without v1",
            ImdsConfig::default(),
            405,
            Err(ImdsError::ImdsV1Disabled {
                status: 405,
                forbidden_by_env: false,
            }),
        ),
        (
            "404 with v1 vetoed by the environment",
            vetoed(),
            404,
            Err(ImdsError::ImdsV1Disabled {
                status: 404,
                forbidden_by_env: true,
            }),
        ),
        ("404 with v1", v1().build().unwrap(), 404, Ok(())),
        ("405 with v1", v1().build().unwrap(), 405, Ok(())),
        (
            "401 is not retried",
            ImdsConfig::default(),
            401,
            Err(ImdsError::HttpStatus {
                request: RequestKind::Token,
                status: 401,
                body_len: 18,
                attempts: 1,
            }),
        ),
        (
            "302 is not followed",
            ImdsConfig::default(),
            302,
            Err(ImdsError::HttpStatus {
                request: RequestKind::Token,
                status: 302,
                body_len: 18,
                attempts: 1,
            }),
        ),
    ];
    for (desc, config, code, want) in cases {
        let mut steps = vec![(TOKEN_PATH, Auth::Put, status(code))];
        if want.is_ok() {
            steps.push((LIST, Auth::NoToken, ok("web")));
        }
        let mut h = Harness::new(config, steps);
        let got = h.client.discover_role().map(|_| ());
        assert_eq!(got, want, "{desc}");
        if let Err(err) = got {
            let message = err.to_string();
            assert!(message.starts_with("IMDS"), "{desc}: {message}");
            assert!(!message.contains("SENTINEL"));
        }
    }
}

#[test]
fn the_imds_v1_messages_say_how_to_allow_it() {
    let plain = ImdsError::ImdsV1Disabled {
        status: 404,
        forbidden_by_env: false,
    };
    assert_eq!(
        plain.to_string(),
        "IMDS offers no session tokens (HTTP 404 to the token request) and IMDSv1 is not \
         allowed: allow the IMDSv1 fallback explicitly if this endpoint really has no tokens \
         (an old emulator, for example)"
    );
    // Worded for every front end: a library caller and a CLI user allow it differently.
    assert!(!plain.to_string().contains("Builder"));
    let vetoed = ImdsError::ImdsV1Disabled {
        status: 405,
        forbidden_by_env: true,
    };
    assert!(
        vetoed
            .to_string()
            .ends_with("config file's profile) forbids it")
    );
}

#[test]
fn the_imds_v1_fallback_is_remembered_until_a_401() {
    let mut h = Harness::new(
        config().allow_imds_v1(true).build().unwrap(),
        vec![
            (TOKEN_PATH, Auth::Put, status(404)),
            (LIST, Auth::NoToken, ok("web")),
            (WEB, Auth::NoToken, ok(CREDS)),
            (WEB, Auth::NoToken, ok(CREDS)),
            // IMDS starts requiring tokens: a 401, then a token after all.
            (WEB, Auth::NoToken, status(401)),
            (TOKEN_PATH, Auth::Put, token()),
            (WEB, Auth::Token, ok(CREDS)),
        ],
    );
    let web = h.client.discover_role().unwrap();
    assert_eq!(h.client.session().token_status(), TokenStatus::ImdsV1);
    h.client.fetch_credentials(&web).unwrap();
    h.client.fetch_credentials(&web).unwrap();
    h.client.fetch_credentials(&web).unwrap();
    assert!(matches!(
        h.client.session().token_status(),
        TokenStatus::Cached { .. }
    ));
    assert_eq!(h.client.counts().token, 2);
}

// Retries ---------------------------------------------------------------------------------------

#[test]
fn server_errors_and_429_are_retried_with_backoff() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(500)),
        (WEB, Auth::Token, status(429)),
        (WEB, Auth::Token, ok(CREDS)),
    ]);
    h.client.fetch_credentials(&role("web")).unwrap();
    assert_eq!(h.client.counts().credentials, 3);
    assert_eq!(h.client.counts().retries, 2);
    let slept = h.slept();
    assert_eq!(slept.len(), 2);
    // 250 ms then 500 ms, each jittered to between half and all of itself.
    assert!((125..=250).contains(&slept[0].as_millis()), "{slept:?}");
    assert!((250..=500).contains(&slept[1].as_millis()), "{slept:?}");
}

#[test]
fn retries_stop_at_the_attempt_limit() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(503)),
        (WEB, Auth::Token, status(502)),
        (WEB, Auth::Token, status(500)),
    ]);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::HttpStatus {
            request: RequestKind::Credentials,
            status: 500,
            body_len: 18,
            attempts: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "IMDS answered HTTP 500 to the credentials request (18 bytes, 3 attempts)"
    );
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(500));
    assert_eq!(h.slept().len(), 2);
}

#[test]
fn the_attempt_limit_is_configurable() {
    let mut h = Harness::new(
        config().num_attempts(1).build().unwrap(),
        vec![
            (TOKEN_PATH, Auth::Put, token()),
            (LIST, Auth::Token, status(500)),
        ],
    );
    let err = h.client.discover_role().unwrap_err();
    assert!(
        matches!(err, ImdsError::HttpStatus { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(h.slept().is_empty());
}

#[test]
fn timeouts_are_retried_and_then_reported() {
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, Err(TransportError::Timeout)),
        (LIST, Auth::Token, Err(TransportError::Timeout)),
        (LIST, Auth::Token, Err(TransportError::Timeout)),
    ]);
    let err = h.client.discover_role().unwrap_err();
    assert_eq!(
        err.to_string(),
        "IMDS did not answer the role listing within 1s (3 attempts)"
    );
    assert_eq!(err.failure(), ImdsFailure::Timeout);
    assert_eq!(h.client.counts().role_listing, 3);
}

#[test]
fn a_token_request_that_times_out_names_the_hop_limit() {
    let mut h = Harness::default(vec![
        (TOKEN_PATH, Auth::Put, Err(TransportError::Timeout)),
        (TOKEN_PATH, Auth::Put, Err(TransportError::Timeout)),
        (TOKEN_PATH, Auth::Put, Err(TransportError::Timeout)),
    ]);
    let err = h.client.discover_role().unwrap_err();
    assert_eq!(
        err,
        ImdsError::TokenTimeout {
            timeout: Duration::from_secs(1),
            attempts: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "IMDS did not answer the token request within 1s (3 attempts): from inside a \
         container, the instance's HttpPutResponseHopLimit may need to be 2 (aws ec2 \
         modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2)"
    );
    assert_eq!(err.failure(), ImdsFailure::Timeout);
}

#[test]
fn an_endpoint_never_reached_that_cannot_be_connected_to_fails_at_once() {
    let cases = [
        (
            TransportError::ConnectionRefused,
            "could not connect to IMDS at http://169.254.169.254 for the token request: \
             connection refused (1 attempt); not on EC2, or the endpoint is wrong",
        ),
        (
            TransportError::ConnectTimeout,
            "could not connect to IMDS at http://169.254.169.254 for the token request: no \
             connection within 1s (1 attempt); not on EC2, or the endpoint is wrong",
        ),
        (
            TransportError::Unreachable("no route to the endpoint".to_owned()),
            "could not connect to IMDS at http://169.254.169.254 for the token request: no \
             route to the endpoint (1 attempt); not on EC2, or the endpoint is wrong",
        ),
    ];
    for (error, message) in cases {
        // One request, no retry, no backoff: the script has a single step.
        let mut h = Harness::default(vec![(TOKEN_PATH, Auth::Put, Err(error))]);
        let err = h.client.discover_role().unwrap_err();
        assert!(
            matches!(
                err,
                ImdsError::CouldNotConnect {
                    attempts: 1,
                    first_contact: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), message);
        assert!(!err.to_string().contains("HopLimit"), "{err}");
        assert_eq!(err.failure(), ImdsFailure::ConnectionRefused);
        assert_eq!(err.request(), Some(RequestKind::Token));
        assert!(h.slept().is_empty());
        assert_eq!(h.client.counts().total(), 1);
        assert!(!h.client.session().has_reached_endpoint());
    }
}

#[test]
fn connect_failures_after_the_endpoint_answered_are_retried() {
    // A throttled IMDS may drop a SYN too: once the endpoint has answered, a connect failure
    // is a transient fault like any other, retried, and reported without the off-EC2 hint.
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, Err(TransportError::ConnectTimeout)),
        (LIST, Auth::Token, Err(TransportError::ConnectionRefused)),
        (LIST, Auth::Token, Err(TransportError::ConnectionRefused)),
    ]);
    let err = h.client.discover_role().unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not connect to IMDS at http://169.254.169.254 for the role listing: connection \
         refused (3 attempts)"
    );
    assert_eq!(h.slept().len(), 2);
    assert!(h.client.session().has_reached_endpoint());
}

#[test]
fn other_transport_failures_are_retried_and_reported() {
    let cases = [
        (
            TransportError::ConnectionReset,
            "IMDS reset or closed the connection before answering the token request (3 attempts)",
            ImdsFailure::ConnectionRefused,
        ),
        (
            TransportError::Other("the reply is not valid HTTP/1.1".to_owned()),
            "could not reach IMDS for the token request: the reply is not valid HTTP/1.1 (3 attempts)",
            ImdsFailure::ConnectionRefused,
        ),
    ];
    for (error, message, failure) in cases {
        let mut h = Harness::default(vec![
            (TOKEN_PATH, Auth::Put, Err(error.clone())),
            (TOKEN_PATH, Auth::Put, Err(error.clone())),
            (TOKEN_PATH, Auth::Put, Err(error)),
        ]);
        let err = h.client.discover_role().unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.failure(), failure);
        assert_eq!(h.slept().len(), 2);
    }
}

#[test]
fn a_retry_that_succeeds_recovers() {
    let mut h = Harness::default(vec![
        (TOKEN_PATH, Auth::Put, Err(TransportError::ConnectionReset)),
        (TOKEN_PATH, Auth::Put, token()),
        (LIST, Auth::Token, Err(TransportError::Timeout)),
        (LIST, Auth::Token, ok("web")),
    ]);
    assert_eq!(h.client.discover_role().unwrap(), role("web"));
    // Attempts are counted per request: the listing had its own three.
    assert_eq!(h.client.counts().retries, 2);
}

#[test]
fn nothing_else_is_retried() {
    let cases: Vec<(Reply, ImdsError)> = vec![
        (
            status(403),
            ImdsError::HttpStatus {
                request: RequestKind::RoleListing,
                status: 403,
                body_len: 18,
                attempts: 1,
            },
        ),
        (
            status(400),
            ImdsError::HttpStatus {
                request: RequestKind::RoleListing,
                status: 400,
                body_len: 18,
                attempts: 1,
            },
        ),
        (
            status(204),
            ImdsError::HttpStatus {
                request: RequestKind::RoleListing,
                status: 204,
                body_len: 18,
                attempts: 1,
            },
        ),
        (status(404), ImdsError::NoInstanceProfile),
        (
            Err(TransportError::BodyTooLarge),
            ImdsError::BodyTooLarge {
                request: RequestKind::RoleListing,
            },
        ),
        (
            ok(""),
            ImdsError::Malformed {
                request: RequestKind::RoleListing,
                error: ParseError::EmptyRoleListing,
            },
        ),
    ];
    for (reply, want) in cases {
        let mut h = Harness::with_token(vec![(LIST, Auth::Token, reply)]);
        assert_eq!(h.client.discover_role().unwrap_err(), want);
        assert!(h.slept().is_empty());
    }
}

#[test]
fn backoff_is_capped_jittered_and_seeded() {
    let delays = |seed: u64| -> Vec<Duration> {
        let config = config()
            .retry_backoff(Duration::from_millis(100), Duration::from_millis(700))
            .num_attempts(10)
            .jitter_seed(seed)
            .build()
            .unwrap();
        let mut session = Session::new(config);
        (1..10).map(|failed| session.backoff(failed)).collect()
    };
    let a = delays(1);
    assert_eq!(a, delays(1), "same seed, same delays");
    assert_ne!(a, delays(2), "another seed, other delays");
    let full = [100, 200, 400, 700, 700, 700, 700, 700, 700];
    for (delay, full) in a.iter().zip(full) {
        let ms = delay.as_millis();
        assert!(
            (full / 2..=full).contains(&ms),
            "{ms} not in [{}, {full}]",
            full / 2
        );
    }
    let zero = config()
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(Session::new(zero).backoff(5), Duration::ZERO);
}

// Role cache and re-listing ----------------------------------------------------------------------

#[test]
fn the_role_is_cached_after_the_first_listing() {
    let mut h = Harness::with_token(vec![(LIST, Auth::Token, ok("web\n"))]);
    for _ in 0..3 {
        assert_eq!(h.client.discover_role().unwrap(), role("web"));
    }
    assert_eq!(h.client.counts().role_listing, 1);
    assert_eq!(h.client.session().cached_role(), Some(&role("web")));
}

#[test]
fn a_404_on_the_role_reads_the_listing_once_and_caches_the_new_role() {
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, ok("web")),
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, ok("api")),
        (API, Auth::Token, ok(CREDS)),
    ]);
    let web = h.client.discover_role().unwrap();
    let err = h.client.fetch_credentials(&web).unwrap_err();
    assert_eq!(
        err,
        ImdsError::RoleNotFound {
            role: role("web"),
            listed: Some(role("api"))
        }
    );
    assert_eq!(err.failure(), ImdsFailure::RoleNotFound);
    assert_eq!(
        err.to_string(),
        "IMDS has no credentials for role web (HTTP 404): the instance profile's role was \
         removed or changed; IMDS now lists api"
    );
    // The core rediscovers: answered from the cache, no request.
    assert_eq!(h.client.discover_role().unwrap(), role("api"));
    h.client.fetch_credentials(&role("api")).unwrap();
    assert_eq!(h.client.counts().role_listing, 2);
}

#[test]
fn the_re_listing_happens_once_even_when_it_names_the_same_role() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, ok("web")),
    ]);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::RoleNotFound {
            role: role("web"),
            listed: Some(role("web"))
        }
    );
    assert_eq!(h.client.counts().total(), 3);
}

#[test]
fn a_failed_re_listing_still_reports_the_role_gone() {
    // The credentials path answered 404; the one re-listing then fails (500 twice). The core
    // must still hear RoleNotFound, so that it drops the old role's credentials (INV-2).
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, status(500)),
        (LIST, Auth::Token, status(500)),
        (LIST, Auth::Token, status(500)),
    ]);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::RoleNotFound {
            role: role("web"),
            listed: None
        }
    );
    assert_eq!(err.failure(), ImdsFailure::RoleNotFound);
    assert_eq!(
        h.client.session().cached_role(),
        None,
        "rediscovery lists again"
    );
}

#[test]
fn a_404_on_the_re_listing_means_no_instance_profile() {
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, ok("web")),
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, status(404)),
        (LIST, Auth::Token, status(404)),
    ]);
    h.client.discover_role().unwrap();
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(err, ImdsError::NoInstanceProfile);
    assert_eq!(err.failure(), ImdsFailure::NoInstanceProfile);
    assert_eq!(h.client.session().cached_role(), None);
    // The cache was cleared: the next discovery lists again.
    assert_eq!(
        h.client.discover_role().unwrap_err(),
        ImdsError::NoInstanceProfile
    );
}

#[test]
fn a_failed_re_listing_still_reports_the_role_gone_and_forgets_it() {
    let mut h = Harness::with_token(vec![
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, ok("bad/role")),
    ]);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::RoleNotFound {
            role: role("web"),
            listed: None
        }
    );
    assert_eq!(h.client.session().cached_role(), None);
}

#[test]
fn a_pinned_role_is_never_listed() {
    let pinned = config().pinned_role(role("web")).build().unwrap();
    let mut h = Harness::new(
        pinned,
        vec![
            (TOKEN_PATH, Auth::Put, token()),
            (WEB, Auth::Token, ok(CREDS)),
            (WEB, Auth::Token, status(404)),
        ],
    );
    assert_eq!(h.client.discover_role().unwrap(), role("web"));
    h.client.fetch_credentials(&role("web")).unwrap();
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(
        err,
        ImdsError::RoleNotFound {
            role: role("web"),
            listed: None
        }
    );
    h.client.session_mut().forget_role();
    assert_eq!(h.client.discover_role().unwrap(), role("web"));
    assert_eq!(h.client.counts().role_listing, 0);
}

#[test]
fn credentials_follows_a_role_change_once() {
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, ok("web")),
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, ok("api")),
        (API, Auth::Token, ok(CREDS)),
    ]);
    h.client.credentials().unwrap();
}

// Extended path ---------------------------------------------------------------------------------

#[test]
fn the_extended_path_falls_back_to_the_classic_one_for_good() {
    let extended = config().extended_credentials(true).build().unwrap();
    let mut h = Harness::new(
        extended,
        vec![
            (TOKEN_PATH, Auth::Put, token()),
            (WEB_EXT, Auth::Token, status(404)),
            (WEB, Auth::Token, ok(CREDS)),
            (WEB, Auth::Token, ok(CREDS)),
        ],
    );
    assert!(h.client.session().tries_extended_path());
    h.client.fetch_credentials(&role("web")).unwrap();
    assert!(!h.client.session().tries_extended_path());
    h.client.fetch_credentials(&role("web")).unwrap();
    let counts = h.client.counts();
    assert_eq!((counts.extended_credentials, counts.credentials), (1, 2));
    assert!(h.slept().is_empty());
}

#[test]
fn the_extended_path_gives_the_account_id() {
    let body = CREDS.replace("\"Code\"", "\"AccountId\":\"123456789012\",\"Code\"");
    let extended = config().extended_credentials(true).build().unwrap();
    let mut h = Harness::new(
        extended,
        vec![
            (TOKEN_PATH, Auth::Put, token()),
            (WEB_EXT, Auth::Token, ok(&body)),
            (WEB_EXT, Auth::Token, ok(&body)),
        ],
    );
    let creds = h.client.fetch_credentials(&role("web")).unwrap();
    assert_eq!(creds.account_id(), Some("123456789012"));
    h.client.fetch_credentials(&role("web")).unwrap();
    assert!(h.client.session().tries_extended_path());
}

#[test]
fn a_removed_role_seen_on_the_extended_path_still_reaches_the_re_listing() {
    let extended = config().extended_credentials(true).build().unwrap();
    let mut h = Harness::new(
        extended,
        vec![
            (TOKEN_PATH, Auth::Put, token()),
            (WEB_EXT, Auth::Token, status(404)),
            (WEB, Auth::Token, status(404)),
            (LIST, Auth::Token, status(404)),
        ],
    );
    assert_eq!(
        h.client.fetch_credentials(&role("web")).unwrap_err(),
        ImdsError::NoInstanceProfile
    );
}

// Replies ----------------------------------------------------------------------------------------

#[test]
fn credentials_replies_are_checked() {
    let cases: Vec<(Reply, ImdsError)> = vec![
        (
            ok(r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"nope"}"#),
            ImdsError::NotSuccess {
                code: "AssumeRoleUnauthorizedAccess".to_owned(),
                message: "nope".to_owned(),
            },
        ),
        (
            ok(&CREDS.replace("\"Token\"", "\"Tok\"")),
            ImdsError::Malformed {
                request: RequestKind::Credentials,
                error: ParseError::MissingField { field: "Token" },
            },
        ),
    ];
    for (reply, want) in cases {
        let mut h = Harness::with_token(vec![(WEB, Auth::Token, reply)]);
        let err = h.client.fetch_credentials(&role("web")).unwrap_err();
        assert_eq!(err, want);
        assert!(!err.to_string().contains("SENTINEL"));
    }
    let not_success = ImdsError::NotSuccess {
        code: "AssumeRoleUnauthorizedAccess".to_owned(),
        message: "nope".to_owned(),
    };
    assert_eq!(
        not_success.failure(),
        ImdsFailure::NotSuccess {
            code: "AssumeRoleUnauthorizedAccess".to_owned()
        }
    );
    assert!(not_success.to_string().contains("ec2.amazonaws.com"));
}

#[test]
fn a_bad_token_reply_is_malformed() {
    let mut h = Harness::default(vec![(TOKEN_PATH, Auth::Put, ok("two words"))]);
    assert_eq!(
        h.client.discover_role().unwrap_err(),
        ImdsError::Malformed {
            request: RequestKind::Token,
            error: ParseError::InvalidToken { len: 9 }
        }
    );
}

#[test]
fn disabled_sends_nothing() {
    let disabled =
        ImdsConfig::from_env_source(|name| (name == vars::DISABLED).then(|| "true".to_owned()))
            .unwrap();
    let mut h = Harness::new(disabled, vec![]);
    assert_eq!(h.client.discover_role().unwrap_err(), ImdsError::Disabled);
    let err = h.client.fetch_credentials(&role("web")).unwrap_err();
    assert_eq!(err, ImdsError::Disabled);
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(403));
    assert_eq!(
        err.to_string(),
        "IMDS access is disabled by AWS_EC2_METADATA_DISABLED=true"
    );
    assert_eq!(h.client.counts().total(), 0);
}

// The core's glue -------------------------------------------------------------------------------

#[test]
fn answer_turns_actions_into_inputs() {
    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, ok("web")),
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, status(404)),
    ]);
    let reply = h.client.answer(&Action::DiscoverRole { id: RequestId(7) });
    assert_eq!(
        reply,
        Some(Input::RoleReply {
            id: RequestId(7),
            result: Ok(role("web"))
        })
    );
    assert_eq!(h.client.last_error(), None);
    let reply = h.client.answer(&Action::FetchCredentials {
        id: RequestId(8),
        role: role("web"),
    });
    assert_eq!(
        reply,
        Some(Input::CredentialsReply {
            id: RequestId(8),
            result: Err(ImdsFailure::NoInstanceProfile)
        })
    );
    assert_eq!(h.client.last_error(), Some(&ImdsError::NoInstanceProfile));
    let event = Action::Notify(credcycle_core::Event::RoleDiscovered { role: role("web") });
    assert_eq!(h.client.answer(&event), None);
}

#[test]
fn the_core_follows_a_role_change_with_the_cached_listing() {
    use credcycle_core::{Machine, Policy, StateKind};

    let mut h = Harness::with_token(vec![
        (LIST, Auth::Token, ok("web")),
        (WEB, Auth::Token, ok(&CREDS.replace("10:41:11", "05:41:11"))),
        (WEB, Auth::Token, status(404)),
        (LIST, Auth::Token, ok("api")),
        // Another role, another key (the core never takes a revoked key back, INV-2).
        (
            API,
            Auth::Token,
            ok(&CREDS.replace("ASIAEXAMPLE", "ASIAAPI")),
        ),
    ]);
    let mut machine = Machine::new(Policy::default(), 1);
    let mut inputs = vec![Input::Demand];
    for _ in 0..50 {
        let now = h.clock.now();
        for input in inputs.drain(..) {
            machine.handle_input(now, input).unwrap();
        }
        while let Some(action) = machine.poll_action() {
            inputs.extend(h.client.answer(&action));
        }
        if machine.kind() == StateKind::Fresh && machine.state().role() == Some(&role("api")) {
            break;
        }
        if inputs.is_empty() {
            let wake = machine.poll_timeout().unwrap();
            h.clock.advance(wake.saturating_duration_since(now.mono));
            inputs.push(Input::Tick);
        }
    }
    assert_eq!(machine.kind(), StateKind::Fresh);
    assert_eq!(machine.state().role(), Some(&role("api")));
    // Token, listing, web, web (404), re-listing, api: the rediscovery cost nothing.
    assert_eq!(h.client.counts().total(), 6);
}

// Errors ----------------------------------------------------------------------------------------

#[test]
fn every_error_maps_to_a_core_failure_and_reads_as_one_line() {
    let all = [
        (ImdsError::Disabled, ImdsFailure::HttpStatus(403)),
        (
            ImdsError::TokenTimeout {
                timeout: Duration::from_millis(1500),
                attempts: 1,
            },
            ImdsFailure::Timeout,
        ),
        (
            ImdsError::Timeout {
                request: RequestKind::Credentials,
                timeout: Duration::from_secs(1),
                attempts: 3,
            },
            ImdsFailure::Timeout,
        ),
        (
            ImdsError::CouldNotConnect {
                endpoint: Endpoint::IPV4,
                request: RequestKind::Token,
                reason: ConnectFailure::TimedOut(Duration::from_secs(1)),
                attempts: 1,
                first_contact: true,
            },
            ImdsFailure::ConnectionRefused,
        ),
        (
            ImdsError::ConnectionReset {
                request: RequestKind::Token,
                attempts: 3,
            },
            ImdsFailure::ConnectionRefused,
        ),
        (
            ImdsError::Transport {
                request: RequestKind::Token,
                detail: "x".to_owned(),
                attempts: 3,
            },
            ImdsFailure::ConnectionRefused,
        ),
        (
            ImdsError::BodyTooLarge {
                request: RequestKind::Credentials,
            },
            ImdsFailure::Malformed,
        ),
        (
            ImdsError::TokenForbidden { body_len: 0 },
            ImdsFailure::HttpStatus(403),
        ),
        (
            ImdsError::TokenBadRequest {
                ttl_secs: 0,
                body_len: 0,
            },
            ImdsFailure::HttpStatus(400),
        ),
        (
            ImdsError::ImdsV1Disabled {
                status: 405,
                forbidden_by_env: false,
            },
            ImdsFailure::HttpStatus(405),
        ),
        (
            ImdsError::Unauthorized {
                request: RequestKind::RoleListing,
            },
            ImdsFailure::HttpStatus(401),
        ),
        (ImdsError::NoInstanceProfile, ImdsFailure::NoInstanceProfile),
        (
            ImdsError::RoleNotFound {
                role: role("web"),
                listed: None,
            },
            ImdsFailure::RoleNotFound,
        ),
        (
            ImdsError::NotSuccess {
                code: "X".to_owned(),
                message: String::new(),
            },
            ImdsFailure::NotSuccess {
                code: "X".to_owned(),
            },
        ),
        (
            ImdsError::HttpStatus {
                request: RequestKind::Token,
                status: 418,
                body_len: 0,
                attempts: 1,
            },
            ImdsFailure::HttpStatus(418),
        ),
        (
            ImdsError::Malformed {
                request: RequestKind::Token,
                error: ParseError::EmptyToken,
            },
            ImdsFailure::Malformed,
        ),
    ];
    for (err, failure) in all {
        assert_eq!(err.failure(), failure, "{err:?}");
        let message = err.to_string();
        assert!(
            !message.contains('\n') && !message.ends_with('.'),
            "{message}"
        );
        assert!(
            message.starts_with(|c: char| c.is_lowercase()) || message.starts_with("IMDS"),
            "{message}"
        );
        assert!(err != ImdsError::Disabled || err.request().is_none());
        // Causes are in the message; no `source()` for chain printers to repeat.
        assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    }
    assert_eq!(
        ImdsError::TokenTimeout {
            timeout: Duration::from_millis(1500),
            attempts: 1
        }
        .to_string()
        .split(':')
        .next(),
        Some("IMDS did not answer the token request within 1.5s (1 attempt)")
    );
    assert_eq!(
        ImdsError::NoInstanceProfile.request(),
        Some(RequestKind::RoleListing)
    );
}

// The exchange itself ---------------------------------------------------------------------------

#[test]
fn an_exchange_can_be_driven_by_hand() {
    let mut session = Session::new(ImdsConfig::default());
    let exchange = Exchange::fetch_credentials(&mut session, &role("web"));
    let Step::Send(pending) = exchange.poll(MonoTime::from_millis(5)) else {
        panic!("a request first")
    };
    assert_eq!(pending.request().kind(), RequestKind::Token);
    assert_eq!(pending.timeout(), Duration::from_secs(1));
    let exchange = pending.on_response(Err(TransportError::Timeout));
    let Step::Wait(waiting) = exchange.poll(MonoTime::from_millis(1_005)) else {
        panic!("a backoff")
    };
    assert!(waiting.delay() <= Duration::from_millis(250));
    let Step::Send(pending) = waiting.resume().poll(MonoTime::from_millis(1_300)) else {
        panic!("the retry")
    };
    let exchange = pending.on_response(token());
    let Step::Send(pending) = exchange.poll(MonoTime::from_millis(1_301)) else {
        panic!("the credentials request")
    };
    assert_eq!(pending.request().path(), WEB);
    let Step::Done(Ok(creds)) = pending
        .on_response(ok(CREDS))
        .poll(MonoTime::from_millis(1_302))
    else {
        panic!("credentials")
    };
    assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
    // The token's lifetime started when its (second) request was sent.
    assert_eq!(
        session.token_status(),
        TokenStatus::Cached {
            renew_at: MonoTime::from_millis(1_300 + 21_540_000),
            expires_at: MonoTime::from_millis(1_300 + 21_600_000),
        }
    );
    assert!(!format!("{session:?}").contains("SENTINEL"));
}

/// One scripted outcome for the property test.
fn any_reply() -> impl Strategy<Value = Reply> {
    let statuses = prop_oneof![
        Just(200u16),
        Just(401),
        Just(403),
        Just(404),
        Just(405),
        Just(429),
        Just(500),
        Just(503),
        any::<u16>(),
    ];
    let bodies = prop_oneof![
        Just(TOKEN.as_bytes().to_vec()),
        Just(b"web".to_vec()),
        Just(CREDS.as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    let errors = prop_oneof![
        Just(TransportError::Timeout),
        Just(TransportError::ConnectionRefused),
        Just(TransportError::ConnectTimeout),
        Just(TransportError::Unreachable("x".to_owned())),
        Just(TransportError::ConnectionReset),
        Just(TransportError::BodyTooLarge),
        Just(TransportError::Other("x".to_owned())),
    ];
    prop_oneof![
        4 => (statuses, bodies).prop_map(|(s, b)| Ok(HttpResponse::new(s, b))),
        1 => errors.prop_map(Err),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Whatever IMDS answers (any status, any bytes, any transport failure), an operation
    /// never panics, always ends, and sends a bounded number of requests.
    #[test]
    fn exchanges_end_on_any_replies(
        replies in proptest::collection::vec(any_reply(), 1..40),
        extended in any::<bool>(),
        allow_v1 in any::<bool>(),
        ops in proptest::collection::vec(any::<bool>(), 1..6),
    ) {
        let config = ImdsConfig::builder()
            .extended_credentials(extended)
            .allow_imds_v1(allow_v1)
            .retry_backoff(Duration::ZERO, Duration::ZERO)
            .build()
            .unwrap();
        let queue = Mutex::new(replies.into_iter());
        let transport = FnTransport(|_: &HttpRequest, _| {
            queue.lock().unwrap().next().unwrap_or(Err(TransportError::Timeout))
        });
        let mut client = ImdsClient::new(config, &transport, ManualClock::new(start()))
            .with_sleep(|_| {});
        for discover in ops {
            let before = client.counts().total();
            let result = if discover {
                client.discover_role().map(|_| ())
            } else {
                client.fetch_credentials(&role("web")).map(|_| ())
            };
            // Three attempts for each of: token, extended, token after a 401, token again
            // (IMDSv1 then 401), classic, re-listing.
            prop_assert!(client.counts().total() - before <= 18);
            if let Err(err) = result {
                let message = err.to_string();
                prop_assert!(!message.contains("SENTINELSECRET"), "{}", message);
                prop_assert!(!message.contains("SENTINELSESSION"), "{}", message);
                let _ = err.failure();
            }
        }
    }
}
