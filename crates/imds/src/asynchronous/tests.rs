use std::collections::VecDeque;
use std::sync::Mutex;

use credcycle_clock::ManualClock;
use credcycle_core::{ImdsFailure, RequestId};

use super::*;
use crate::RequestKind;
use crate::codec::{ROLE_LISTING_PATH, TOKEN_PATH};

const CREDS: &str = r#"{"AccessKeyId":"ASIAASYNC","SecretAccessKey":"SENTINELSECRET",
    "Token":"SENTINELSESSION","Expiration":"2026-11-28T10:41:11Z"}"#;

/// An async transport that expects these paths in order and gives these replies.
struct Script(Mutex<VecDeque<(&'static str, Result<HttpResponse, TransportError>)>>);

impl Script {
    fn new(steps: Vec<(&'static str, Result<HttpResponse, TransportError>)>) -> Self {
        Self(Mutex::new(steps.into()))
    }

    fn is_done(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

impl AsyncTransport for Script {
    async fn send(
        &self,
        request: &HttpRequest,
        _timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let (path, reply) = self
            .0
            .lock()
            .unwrap()
            .pop_front()
            .expect("an expected request");
        assert_eq!(request.path(), path);
        reply
    }
}

fn ok(body: &str) -> Result<HttpResponse, TransportError> {
    Ok(HttpResponse::new(200, body))
}

const WEB: &str = "/latest/meta-data/iam/security-credentials/web";

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_async_client_shares_the_session_logic() {
    let script = Script::new(vec![
        (TOKEN_PATH, ok("SENTINELTOKEN")),
        (ROLE_LISTING_PATH, Err(TransportError::Timeout)),
        (ROLE_LISTING_PATH, ok("web")),
        (WEB, Ok(HttpResponse::new(401, ""))),
        (TOKEN_PATH, ok("SENTINELTOKEN")),
        (WEB, ok(CREDS)),
        (WEB, ok(CREDS)),
    ]);
    let mut client = AsyncImdsClient::new(ImdsConfig::default(), &script, ManualClock::default());
    let started = tokio::time::Instant::now();
    let creds = client.credentials().await.unwrap();
    assert_eq!(creds.access_key_id().as_str(), "ASIAASYNC");
    // One backoff, slept on tokio's (paused, auto-advancing) clock.
    let slept = started.elapsed();
    assert!(
        slept >= Duration::from_millis(125) && slept <= Duration::from_millis(250),
        "{slept:?}"
    );
    // Steady state: one request.
    client
        .fetch_credentials(&"web".parse().unwrap())
        .await
        .unwrap();
    assert!(script.is_done());
    let counts = client.counts();
    assert_eq!(
        (
            counts.token,
            counts.role_listing,
            counts.credentials,
            counts.retries
        ),
        (2, 2, 3, 1)
    );
    assert_eq!(client.counts().of(RequestKind::Credentials), 3);
    assert!(!format!("{client:?}").contains("SENTINEL"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_client_answers_the_core() {
    let script = Script::new(vec![
        (TOKEN_PATH, ok("SENTINELTOKEN")),
        (ROLE_LISTING_PATH, Ok(HttpResponse::new(404, ""))),
    ]);
    let mut client = AsyncImdsClient::new(ImdsConfig::default(), &script, ManualClock::default());
    let reply = client
        .answer(&Action::DiscoverRole { id: RequestId(3) })
        .await;
    assert_eq!(
        reply,
        Some(Input::RoleReply {
            id: RequestId(3),
            result: Err(ImdsFailure::NoInstanceProfile)
        })
    );
    assert_eq!(client.last_error(), Some(&ImdsError::NoInstanceProfile));
    assert!(client.session().cached_role().is_none());
    client.session_mut().forget_token();
    assert!(client.transport().is_done());
}

#[test]
fn the_two_clients_send_the_same_requests() {
    // The same script through the blocking client gives the same counts: one logic, two drivers.
    let steps = || {
        vec![
            (TOKEN_PATH, ok("SENTINELTOKEN")),
            (ROLE_LISTING_PATH, Ok(HttpResponse::new(500, ""))),
            (ROLE_LISTING_PATH, ok("web")),
            (WEB, ok(CREDS)),
        ]
    };
    let sync_script = Script::new(steps());
    let blocking = crate::FnTransport(|req: &HttpRequest, _| {
        let (path, reply) = sync_script
            .0
            .lock()
            .unwrap()
            .pop_front()
            .expect("a request");
        assert_eq!(req.path(), path);
        reply
    });
    let mut sync_client =
        crate::ImdsClient::new(ImdsConfig::default(), &blocking, ManualClock::default())
            .with_sleep(|_| {});
    sync_client.credentials().unwrap();

    let async_script = Script::new(steps());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let mut async_client =
        AsyncImdsClient::new(ImdsConfig::default(), &async_script, ManualClock::default());
    runtime.block_on(async_client.credentials()).unwrap();
    assert_eq!(sync_client.counts(), async_client.counts());
}
