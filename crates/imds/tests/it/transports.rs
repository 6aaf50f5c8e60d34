use std::net::TcpListener;
use std::time::Duration;

use credcycle_clock::{ManualClock, SystemClock};
use credcycle_imds::codec::{self, MAX_BODY_LEN};
use credcycle_imds::{
    Endpoint, HttpRequest, ImdsClient, ImdsConfig, ImdsError, ImdsToken, RequestKind, Transport,
    TransportError,
};

use crate::server::{Behave, Server, imds, reply};

/// Defines one test per transport for a case `fn(&dyn Transport)`.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod ureq {
            $(
                #[test]
                fn $case() {
                    super::$case(&credcycle_imds::UreqTransport::new());
                }
            )*
        }
    };
}

cases!(
    a_whole_lifecycle_against_a_loopback_imds,
    bodies_up_to_the_limit_are_read,
    a_body_over_the_limit_is_refused,
    an_endless_body_is_not_read_on,
    an_endless_chunked_body_is_not_read_on,
    a_silent_server_times_out,
    a_closed_port_refuses,
    a_connection_closed_before_the_reply_is_a_reset,
    a_truncated_body_is_a_reset,
    garbage_is_not_http,
    redirects_are_not_followed,
    statuses_and_headers_come_back_as_they_are,
    off_ec2_the_client_says_it_could_not_connect_at_once,
    a_listener_that_never_answers_names_the_hop_limit,
);

fn endpoint(server: &Server) -> Endpoint {
    Endpoint::parse(&server.endpoint()).unwrap()
}

fn get(server: &Server) -> HttpRequest {
    codec::role_listing_request(&endpoint(server), None)
}

const SHORT: Duration = Duration::from_millis(300);

fn a_whole_lifecycle_against_a_loopback_imds(transport: &dyn Transport) {
    let server = Server::start(imds);
    let config = ImdsConfig::builder()
        .endpoint(server.endpoint())
        .build()
        .unwrap();
    let mut client = ImdsClient::new(config, transport, ManualClock::default());
    let creds = client.credentials().unwrap();
    assert_eq!(creds.access_key_id().as_str(), "ASIALOOPBACK");
    assert_eq!(creds.session_token().expose_secret(), "SENTINELSESSION");
    // A refresh: one request.
    client.fetch_credentials(&"web".parse().unwrap()).unwrap();

    let seen = server.seen();
    let lines: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            ("GET", "/latest/meta-data/iam/security-credentials/web"),
            ("GET", "/latest/meta-data/iam/security-credentials/web"),
        ]
    );
    let put = &seen[0];
    assert_eq!(
        put.header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert_eq!(put.header("x-aws-ec2-metadata-token"), None);
    assert_eq!(put.body_len, 0);
    for request in &seen {
        assert_eq!(
            request.header("x-forwarded-for"),
            None,
            "IMDS refuses it on the PUT"
        );
        assert!(
            request
                .header("user-agent")
                .unwrap()
                .starts_with("credcycle-imds/"),
            "{request:?}"
        );
    }
    for request in &seen[1..] {
        assert_eq!(
            request.header("x-aws-ec2-metadata-token"),
            Some("SENTINELTOKEN")
        );
    }
}

fn bodies_up_to_the_limit_are_read(transport: &dyn Transport) {
    let server = Server::start(|_| reply(200, &[], &vec![b'a'; MAX_BODY_LEN]));
    let reply = transport.send(&get(&server), SHORT * 10).unwrap();
    assert_eq!(reply.body_len(), MAX_BODY_LEN);
}

fn a_body_over_the_limit_is_refused(transport: &dyn Transport) {
    let server = Server::start(|_| reply(200, &[], &vec![b'a'; MAX_BODY_LEN + 1]));
    assert_eq!(
        transport.send(&get(&server), SHORT * 10).unwrap_err(),
        TransportError::BodyTooLarge
    );
}

/// The server would send 1 GiB; the transport stops at the limit and hangs up, so the server
/// gets only as far as the socket buffers allow.
fn an_endless_body_is_not_read_on(transport: &dyn Transport) {
    endless_body_is_not_read_on(transport, Some(1 << 30));
}

fn an_endless_chunked_body_is_not_read_on(transport: &dyn Transport) {
    endless_body_is_not_read_on(transport, None);
}

/// An endless body: `content_length` announced, or chunked when `None`.
fn endless_body_is_not_read_on(transport: &dyn Transport, content_length: Option<u64>) {
    let server = Server::start(move |_| Behave::Endless(content_length));
    assert_eq!(
        transport
            .send(&get(&server), Duration::from_secs(10))
            .unwrap_err(),
        TransportError::BodyTooLarge
    );
    wait_for_hang_up(&server);
}

/// The server thread notices the hang-up when a write fails; it has then streamed at most the
/// limit plus what the kernel's socket buffers held.
fn wait_for_hang_up(server: &Server) {
    let streamed = server
        .streamed(Duration::from_secs(10))
        .expect("the client hung up");
    assert!(streamed < 64 << 20, "{streamed} bytes streamed");
}

fn a_silent_server_times_out(transport: &dyn Transport) {
    let server = Server::start(|_| Behave::Silent);
    let clock = SystemClock::new();
    let started = clock.now().mono;
    assert_eq!(
        transport.send(&get(&server), SHORT).unwrap_err(),
        TransportError::Timeout
    );
    let took = clock.now().mono.saturating_duration_since(started);
    assert!(took >= SHORT - Duration::from_millis(20), "{took:?}");
    assert!(took < SHORT + Duration::from_secs(2), "{took:?}");
}

fn a_closed_port_refuses(transport: &dyn Transport) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let request = codec::token_request(&endpoint, 60);
    assert_eq!(
        transport.send(&request, SHORT * 10).unwrap_err(),
        TransportError::ConnectionRefused
    );
}

fn a_connection_closed_before_the_reply_is_a_reset(transport: &dyn Transport) {
    let server = Server::start(|_| Behave::Close);
    assert_eq!(
        transport.send(&get(&server), SHORT * 10).unwrap_err(),
        TransportError::ConnectionReset
    );
}

fn a_truncated_body_is_a_reset(transport: &dyn Transport) {
    let server = Server::start(|_| {
        let mut raw = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n".to_vec();
        raw.extend_from_slice(b"SENTINEL only part of it");
        Behave::Raw(raw)
    });
    let err = transport.send(&get(&server), SHORT).unwrap_err();
    // The body never completes: the transport gives up (timeout), never returns a short body.
    assert!(
        matches!(
            err,
            TransportError::Timeout | TransportError::ConnectionReset
        ),
        "{err:?}"
    );
}

fn garbage_is_not_http(transport: &dyn Transport) {
    let server = Server::start(|_| Behave::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()));
    let err = transport.send(&get(&server), SHORT * 10).unwrap_err();
    assert_eq!(
        err,
        TransportError::Other("the reply is not valid HTTP/1.1".to_owned())
    );
}

fn redirects_are_not_followed(transport: &dyn Transport) {
    let server = Server::start(|seen| match seen.path.as_str() {
        "/latest/meta-data/iam/security-credentials/" => {
            reply(302, &[("location", "/elsewhere")], b"")
        }
        _ => reply(200, &[], b"followed"),
    });
    let reply = transport.send(&get(&server), SHORT * 10).unwrap();
    assert_eq!(reply.status(), 302);
    assert_eq!(server.seen().len(), 1);
}

fn statuses_and_headers_come_back_as_they_are(transport: &dyn Transport) {
    let server = Server::start(|_| {
        let mut raw = b"HTTP/1.1 503 Slow Down\r\ncontent-length: 4\r\n".to_vec();
        raw.extend_from_slice(b"x-aws-ec2-metadata-token-ttl-seconds: 300\r\n");
        raw.extend_from_slice(b"x-binary: \xff\xfe\r\n\r\nbusy");
        Behave::Raw(raw)
    });
    let token = ImdsToken::new("SENTINELTOKEN".to_owned()).unwrap();
    let request = codec::role_listing_request(&endpoint(&server), Some(&token));
    let reply = transport.send(&request, SHORT * 10).unwrap();
    assert_eq!(reply.status(), 503);
    assert_eq!(reply.expose_body(), b"busy");
    assert_eq!(
        reply.header("X-aws-ec2-metadata-token-ttl-seconds"),
        Some("300")
    );
    // A header that is not text is dropped, not an error.
    assert_eq!(reply.header("x-binary"), None);
    assert_eq!(
        server.seen()[0].header("x-aws-ec2-metadata-token"),
        Some("SENTINELTOKEN")
    );
}

/// Off EC2 (here: a closed loopback port), the first request cannot connect: one attempt, no
/// backoff, one line that says so, and no hop-limit hint.
fn off_ec2_the_client_says_it_could_not_connect_at_once(transport: &dyn Transport) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = ImdsConfig::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .timeout(SHORT)
        .num_attempts(3)
        .build()
        .unwrap();
    let slept = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&slept);
    let mut client =
        ImdsClient::new(config, transport, ManualClock::default()).with_sleep(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
    let err = client.discover_role().unwrap_err();
    let message = err.to_string();
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
    assert!(
        message.starts_with("could not connect to IMDS at http://127.0.0.1:"),
        "{message}"
    );
    assert!(
        !message.contains('\n') && !message.contains("HopLimit"),
        "{message}"
    );
    assert_eq!(client.counts().of(RequestKind::Token), 1, "no retries");
    assert_eq!(
        slept.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no backoff"
    );
}

/// Inside a container behind a hop limit of 1, the connection opens but the reply to the
/// token `PUT` never arrives: a listener that accepts and never answers looks the same.
fn a_listener_that_never_answers_names_the_hop_limit(transport: &dyn Transport) {
    let server = Server::start(|_| Behave::Silent);
    let config = ImdsConfig::builder()
        .endpoint(server.endpoint())
        .timeout(Duration::from_millis(100))
        .num_attempts(2)
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();
    let mut client = ImdsClient::new(config, transport, ManualClock::default());
    let err = client.discover_role().unwrap_err();
    assert_eq!(
        err,
        ImdsError::TokenTimeout {
            timeout: Duration::from_millis(100),
            attempts: 2
        }
    );
    let message = err.to_string();
    assert!(message.contains("HttpPutResponseHopLimit"), "{message}");
    assert!(!message.contains("could not connect"), "{message}");
    assert_eq!(client.counts().of(RequestKind::Token), 2, "retried");
}
