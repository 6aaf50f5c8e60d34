use std::sync::{Arc, Mutex};

use core::time::Duration;
use std::path::Path;

use credcycle_core::{Action, ImdsFailure, Input, RequestId, RoleName};

use super::*;
use crate::error::TransportError;
use crate::http::{HttpRequest, HttpResponse};
use crate::transport::{FnTransport, Transport};

const GOOD: &str = r#"{"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret",
    "Token": "container-session", "Expiration": "2026-11-28T16:41:11Z",
    "RoleArn": "arn:aws:iam::123456789012:role/task", "AccountId": "123456789012"}"#;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn relative_uri_resolves_against_the_ecs_agent() {
    let c =
        ContainerConfig::from_env_source(env(&[(vars::RELATIVE_URI, "/v2/credentials/2f9c-task")]))
            .unwrap();
    assert_eq!(
        c.endpoint().as_str(),
        "http://169.254.170.2/v2/credentials/2f9c-task"
    );
    assert_eq!(c.endpoint_origin(), vars::RELATIVE_URI);
    assert_eq!(c.token(), &TokenSource::None);
    assert_eq!(c.timeout(), Duration::from_secs(2));
    assert_eq!(c.num_attempts(), 3);
    assert_eq!(c.label().as_str(), ROLE_LABEL);
    // The default endpoint, checked without connecting: the request is built, not sent.
    let client = ContainerClient::with_config(c);
    let request = client.request().unwrap();
    assert_eq!(
        request.url(),
        "http://169.254.170.2/v2/credentials/2f9c-task"
    );
    assert_eq!(request.path(), "/v2/credentials/2f9c-task");
    assert!(request.expose_headers().is_empty(), "no token, no header");
    // EKS Pod Identity's, likewise.
    let c = ContainerConfig::from_env_source(env(&[
        (vars::FULL_URI, "http://169.254.170.23/v1/credentials"),
        (vars::AUTHORIZATION_TOKEN, "eks-token"),
    ]))
    .unwrap();
    let request = ContainerClient::with_config(c).request().unwrap();
    assert_eq!(request.url(), "http://169.254.170.23/v1/credentials");
    assert_eq!(request.expose_headers(), [("Authorization", "eks-token")]);
}

#[test]
fn relative_uri_wins_over_full_uri_and_the_file_over_the_token() {
    let c = ContainerConfig::from_env_source(env(&[
        (vars::RELATIVE_URI, "/rel"),
        (vars::FULL_URI, "http://127.0.0.1:9/full"),
        (vars::AUTHORIZATION_TOKEN_FILE, "/run/token"),
        (vars::AUTHORIZATION_TOKEN, "from-env"),
    ]))
    .unwrap();
    assert_eq!(c.endpoint().as_str(), "http://169.254.170.2/rel");
    assert!(matches!(c.token(), TokenSource::File { path, origin }
        if path == Path::new("/run/token") && *origin == vars::AUTHORIZATION_TOKEN_FILE));
    // Empty variables count as unset.
    let c = ContainerConfig::from_env_source(env(&[
        (vars::RELATIVE_URI, " "),
        (vars::FULL_URI, "http://127.0.0.1:9/full"),
        (vars::AUTHORIZATION_TOKEN_FILE, ""),
        (vars::AUTHORIZATION_TOKEN, "from-env"),
    ]))
    .unwrap();
    assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:9/full");
    assert_eq!(c.endpoint_origin(), vars::FULL_URI);
    assert_eq!(
        c.token().read().unwrap().unwrap().expose_secret(),
        "from-env"
    );
    // Explicit options win over everything.
    let c = ContainerConfig::builder()
        .endpoint("http://localhost:8080/x")
        .token("explicit".to_owned())
        .build_with_env_source(env(&[
            (vars::RELATIVE_URI, "/rel"),
            (vars::AUTHORIZATION_TOKEN_FILE, "/run/token"),
        ]))
        .unwrap();
    assert_eq!(c.endpoint().as_str(), "http://localhost:8080/x");
    assert_eq!(
        c.token().read().unwrap().unwrap().expose_secret(),
        "explicit"
    );
}

#[test]
fn not_configured_without_a_uri() {
    let err =
        ContainerConfig::from_env_source(env(&[(vars::AUTHORIZATION_TOKEN, "t")])).unwrap_err();
    assert_eq!(err, ContainerConfigError::NotConfigured);
    assert!(!ContainerConfig::configured_in(env(&[(
        vars::AUTHORIZATION_TOKEN,
        "t"
    )])));
    assert!(!ContainerConfig::configured_in(env(&[(
        vars::FULL_URI,
        ""
    )])));
    assert!(ContainerConfig::configured_in(env(&[(
        vars::FULL_URI,
        "x"
    )])));
    assert!(ContainerConfig::configured_in(env(&[(
        vars::RELATIVE_URI,
        "/x"
    )])));
}

#[test]
fn full_uri_hosts_follow_the_sdks_allow_list() {
    let allowed = [
        ("http://127.0.0.1/creds", "127.0.0.1"),
        ("http://127.255.0.9:1338/creds", "127.255.0.9"),
        ("http://localhost/creds", "localhost"),
        ("HTTP://LOCALHOST:80/creds", "localhost"),
        ("http://[::1]:8080/creds", "[::1]"),
        ("http://169.254.170.2/v2/credentials/x", "169.254.170.2"),
        ("http://169.254.170.23/v1/credentials", "169.254.170.23"),
        ("http://[fd00:ec2::23]/v1/credentials", "[fd00:ec2::23]"),
        ("http://[FD00:EC2:0:0::23]/v1/credentials", "[fd00:ec2::23]"),
        ("https://creds.example.com/x", "creds.example.com"),
        ("https://10.0.0.1/x", "10.0.0.1"),
    ];
    for (uri, host) in allowed {
        let e = ContainerEndpoint::full(uri).unwrap_or_else(|p| panic!("{uri}: {p}"));
        assert_eq!(e.host(), host, "{uri}");
    }
    let refused = [
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://169.254.169.254/latest", "169.254.169.254"),
        ("http://169.254.170.3/", "169.254.170.3"),
        ("http://[fd00:ec2::254]/", "[fd00:ec2::254]"),
        ("http://[fd00:ec2::24]/", "[fd00:ec2::24]"),
        ("http://example.com/", "example.com"),
        ("http://localhost.example.com/", "localhost.example.com"),
        ("http://[::ffff:10.0.0.1]/", "[::ffff:10.0.0.1]"),
        ("http://0.0.0.0/", "0.0.0.0"),
    ];
    for (uri, host) in refused {
        assert_eq!(
            ContainerEndpoint::full(uri),
            Err(UriProblem::HostNotAllowed {
                host: host.to_owned()
            }),
            "{uri}"
        );
    }
    assert!(matches!(
        ContainerEndpoint::full("ftp://127.0.0.1/"),
        Err(UriProblem::Scheme { .. })
    ));
    assert_eq!(
        ContainerEndpoint::full("http://user:pw@127.0.0.1/"),
        Err(UriProblem::UserInfo)
    );
    assert!(matches!(
        ContainerEndpoint::full("/credentials"),
        Err(UriProblem::Invalid { .. })
    ));
    assert!(matches!(
        ContainerEndpoint::full("http://[::1/"),
        Err(UriProblem::Invalid { .. })
    ));
}

#[test]
fn a_refused_full_uri_is_one_line_that_names_the_variable_and_the_rule() {
    let err =
        ContainerConfig::from_env_source(env(&[(vars::FULL_URI, "http://10.0.0.1/")])).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n'));
    assert!(
        text.starts_with("AWS_CONTAINER_CREDENTIALS_FULL_URI is refused: plain http to 10.0.0.1")
    );
    assert!(text.contains("169.254.170.23") && text.contains("https"));
    // User info never shows in an error.
    let err =
        ContainerConfig::from_env_source(env(&[(vars::FULL_URI, "http://user:hunter2@10.0.0.1/")]))
            .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn relative_uris_cannot_change_the_host() {
    for bad in ["@evil.example/x", "//evil.example/x", "v2/credentials", ""] {
        let result = ContainerConfig::from_env_source(env(&[(vars::RELATIVE_URI, bad)]));
        if bad.is_empty() {
            assert_eq!(result, Err(ContainerConfigError::NotConfigured));
        } else {
            assert!(
                matches!(result, Err(ContainerConfigError::Uri { origin, problem: UriProblem::NotAPath })
                    if origin == vars::RELATIVE_URI),
                "{bad}: {result:?}"
            );
        }
    }
    let e = ContainerEndpoint::relative("/@evil.example/x").unwrap();
    assert_eq!(e.host(), "169.254.170.2");
}

#[test]
fn https_is_allowed_but_needs_tls_this_build_lacks() {
    let err = ContainerConfig::from_env_source(env(&[(vars::FULL_URI, "https://creds.example/")]))
        .unwrap_err();
    assert_eq!(
        err,
        ContainerConfigError::TlsUnavailable {
            origin: vars::FULL_URI
        }
    );
    assert!(err.to_string().contains("allowed"));
}

#[test]
fn tokens_with_line_breaks_are_refused() {
    let err = ContainerConfig::from_env_source(env(&[
        (vars::RELATIVE_URI, "/x"),
        (vars::AUTHORIZATION_TOKEN, "abc\r\nX-Injected: 1"),
    ]))
    .unwrap_err();
    assert!(matches!(
        err,
        ContainerConfigError::Token(TokenProblem::LineBreak { .. })
    ));
    assert!(!err.to_string().contains("Injected"), "{err}");
    assert!(matches!(
        AuthorizationToken::new("a\u{7}b".to_owned(), "x"),
        Err(TokenProblem::Control { .. })
    ));
    assert!(matches!(
        AuthorizationToken::new(String::new(), "x"),
        Err(TokenProblem::Empty { .. })
    ));
    assert!(matches!(
        AuthorizationToken::new("a".repeat(AuthorizationToken::MAX_LEN + 1), "x"),
        Err(TokenProblem::TooLong { .. })
    ));
    assert!(AuthorizationToken::new("Bearer\ta b".to_owned(), "x").is_ok());
}

#[test]
fn the_token_file_is_read_for_every_request() {
    let dir = std::env::temp_dir().join(format!("credcycle-imds-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "first-token").unwrap();
    let config = ContainerConfig::builder()
        .endpoint("http://127.0.0.1:9/creds")
        .token_file(&path)
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let transport = FnTransport(move |req: &HttpRequest, _| {
        let auth = req
            .expose_headers()
            .iter()
            .find(|(n, _)| *n == "Authorization")
            .map(|(_, v)| (*v).to_owned());
        log.lock().unwrap().push(auth);
        Ok(HttpResponse::new(200, GOOD))
    });
    let mut client = ContainerClient::new(config, transport);
    client.fetch_credentials().unwrap();
    std::fs::write(&path, "second-token").unwrap();
    client.fetch_credentials().unwrap();
    // A trailing newline is refused, as the SDKs refuse it, and nothing is sent.
    std::fs::write(&path, "third-token\n").unwrap();
    let err = client.fetch_credentials().unwrap_err();
    assert!(matches!(
        err,
        ContainerError::Token(TokenProblem::LineBreak { .. })
    ));
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(401));
    assert!(!err.to_string().contains("third-token"));
    std::fs::remove_file(&path).unwrap();
    let err = client.fetch_credentials().unwrap_err();
    assert!(
        matches!(&err, ContainerError::TokenFile { reason, .. } if reason.contains("not found"))
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some("first-token".to_owned()),
            Some("second-token".to_owned())
        ]
    );
    assert_eq!(client.requests(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

type Slept = Arc<Mutex<Vec<Duration>>>;

fn client_with(
    replies: Vec<Result<HttpResponse, TransportError>>,
) -> (ContainerClient<Box<dyn Transport>>, Slept) {
    let config = ContainerConfig::builder()
        .endpoint("http://127.0.0.1:9/creds")
        .token("t".to_owned())
        .build()
        .unwrap();
    let replies = Mutex::new(replies.into_iter());
    let transport = FnTransport(move |_: &HttpRequest, _| {
        replies
            .lock()
            .unwrap()
            .next()
            .unwrap_or(Ok(HttpResponse::new(200, GOOD)))
    });
    let slept = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&slept);
    let transport: Box<dyn Transport> = Box::new(transport);
    let client =
        ContainerClient::new(config, transport).with_sleep(move |d| log.lock().unwrap().push(d));
    (client, slept)
}

#[test]
fn retryable_failures_are_retried_within_the_attempts() {
    let (mut client, slept) = client_with(vec![
        Err(TransportError::Timeout),
        Ok(HttpResponse::new(503, "busy")),
    ]);
    let creds = client.fetch_credentials().unwrap();
    assert_eq!(creds.access_key_id().as_str(), "ASIACONTAINER");
    assert_eq!(creds.account_id(), Some("123456789012"));
    assert_eq!(client.requests(), 3);
    assert_eq!(
        *slept.lock().unwrap(),
        [Duration::from_millis(250), Duration::from_millis(500)]
    );
    assert!(client.last_error().is_none());

    let (mut client, _) = client_with(vec![
        Ok(HttpResponse::new(500, "")),
        Ok(HttpResponse::new(500, "")),
        Ok(HttpResponse::new(500, "oops")),
    ]);
    let err = client.fetch_credentials().unwrap_err();
    assert_eq!(
        err,
        ContainerError::HttpStatus {
            status: 500,
            body_len: 4,
            attempts: 3
        }
    );
    assert_eq!(err.failure(), ImdsFailure::HttpStatus(500));
    assert_eq!(client.last_error(), Some(&err));

    let (mut client, _) = client_with(vec![Err(TransportError::ConnectionRefused); 3]);
    let err = client.fetch_credentials().unwrap_err();
    assert_eq!(err.failure(), ImdsFailure::ConnectionRefused);
    assert_eq!(
        err.to_string(),
        "could not reach the container credentials endpoint 127.0.0.1: connection refused (3 attempts)"
    );
}

#[test]
fn what_cannot_succeed_is_not_retried() {
    for (reply, failure) in [
        (HttpResponse::new(401, ""), ImdsFailure::HttpStatus(401)),
        (HttpResponse::new(403, ""), ImdsFailure::HttpStatus(403)),
        (HttpResponse::new(404, ""), ImdsFailure::HttpStatus(404)),
        (HttpResponse::new(200, "{not json"), ImdsFailure::Malformed),
        (
            HttpResponse::new(
                200,
                r#"{"AccessKeyId": "A", "Expiration": "2026-11-28T16:41:11Z"}"#,
            ),
            ImdsFailure::Malformed,
        ),
    ] {
        let (mut client, slept) = client_with(vec![Ok(reply.clone())]);
        let err = client.fetch_credentials().unwrap_err();
        assert_eq!(err.failure(), failure, "{reply:?}");
        assert_eq!(client.requests(), 1, "{reply:?}");
        assert!(slept.lock().unwrap().is_empty());
        assert!(!err.to_string().contains('\n'));
    }
    let (mut client, _) = client_with(vec![Ok(HttpResponse::new(401, ""))]);
    assert_eq!(
        client.fetch_credentials().unwrap_err().to_string(),
        "the container credentials endpoint refused the authorization token (HTTP 401): check \
         AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN"
    );
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let (mut client, _) = client_with(vec![Ok(HttpResponse::new(
        200,
        r#"{"AccessKeyId": "ASIA", "SecretAccessKey": "sekrit-value", "Token": "tok-value", "Expiration": "nope"}"#,
    ))]);
    let err = client.fetch_credentials().unwrap_err();
    let request = client.request().unwrap();
    let shown = format!("{err} {err:?} {client:?} {request:?}");
    for secret in ["sekrit-value", "tok-value", "\"t\""] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let creds = client_with(vec![]).0.fetch_credentials().unwrap();
    let shown = format!("{creds:?}");
    assert!(!shown.contains("container-secret") && !shown.contains("container-session"));
}

#[test]
fn answers_the_cores_requests_without_discovery() {
    let (mut client, _) = client_with(vec![]);
    let reply = client.answer(&Action::DiscoverRole { id: RequestId(1) });
    assert_eq!(
        reply,
        Some(Input::RoleReply {
            id: RequestId(1),
            result: Ok(RoleName::new(ROLE_LABEL).unwrap())
        })
    );
    assert_eq!(client.requests(), 0, "the role is answered locally");
    let reply = client.answer(&Action::FetchCredentials {
        id: RequestId(2),
        role: RoleName::new(ROLE_LABEL).unwrap(),
    });
    assert!(matches!(
        reply,
        Some(Input::CredentialsReply {
            id: RequestId(2),
            result: Ok(_)
        })
    ));
    assert_eq!(client.requests(), 1);
}
