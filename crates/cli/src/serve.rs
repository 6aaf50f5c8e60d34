//! `credcycle serve`: a local container-credentials endpoint backed by one shared Provider.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use credcycle::{Provider, ProviderError};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::Failure;

mod metrics;

/// The SDKs' variable for the token they send; `serve` reads it too.
const TOKEN_VAR: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

/// Serve the instance's credentials to local processes and containers, in the shape the AWS
/// SDKs read from `AWS_CONTAINER_CREDENTIALS_FULL_URI`. One shared Provider refreshes ahead of
/// expiry; many processes (or containers that cannot reach IMDS because of the hop limit) share
/// one set. Credentials are never served with less than the expiry margin left: 503 instead.
///
/// Secure by default: every request must carry the token in `Authorization` (from
/// --auth-token-file, else AWS_CONTAINER_AUTHORIZATION_TOKEN, else a generated one written to a
/// new private file whose path is printed on stderr), and its `Host` must be a loopback name or
/// the address it reached (DNS rebinding from a browser page is refused).
///
/// For monitoring, `GET /metrics` (Prometheus text format) and `GET /healthz` (200 while usable
/// credentials are held, else 503): under the same Host check, without the token (they show no
/// secret).
///
/// The first line on stdout is exactly `listening on http://HOST:PORT/credentials`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle serve --auth-token-file /run/credcycle/token
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1339/credentials \\
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credcycle/token aws sts get-caller-identity")]
pub(crate) struct Args {
    /// Address to listen on. Loopback by default; another address only when given here.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1339")]
    listen: SocketAddr,
    /// IMDS endpoint (default: from the environment, else http://169.254.169.254).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Read the token that every request must carry in `Authorization` from a file (trailing
    /// newline ignored); give clients the same file as AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// The token on the command line: visible to every local user in `ps` (a warning says
    /// so). Prefer --auth-token-file or AWS_CONTAINER_AUTHORIZATION_TOKEN.
    #[arg(long, value_name = "TOKEN", conflicts_with = "auth_token_file")]
    auth_token: Option<String>,
    /// Serve without a token: any local process that reaches the port gets the credentials.
    #[arg(long, conflicts_with_all = ["auth_token", "auth_token_file"])]
    insecure_no_auth: bool,
    /// At most this many connections at once; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_connections: u32,
}

/// How long a connection may take to send a request's headers (also the idle keep-alive limit).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection shares.
struct Shared {
    provider: Provider,
    /// `None` only with `--insecure-no-auth`.
    token: Option<Zeroizing<String>>,
    /// What `/metrics` encodes (read from the provider at each scrape).
    registry: prometheus_client::registry::Registry,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let env_token = std::env::var_os(TOKEN_VAR)
        .map(|v| Zeroizing::new(v.to_string_lossy().into_owned()))
        .filter(|v| !v.trim().is_empty());
    // Kept until the end of `run`: the generated token's private directory is removed on exit.
    let mut generated_dir = None;
    let token = match (&args.auth_token_file, &args.auth_token, env_token) {
        _ if args.insecure_no_auth => {
            warn(&format!(
                "--insecure-no-auth: any local process that can reach {} gets the credentials",
                args.listen
            ));
            None
        }
        (Some(path), _, _) => Some(read_token_file(path)?),
        (None, Some(token), _) => {
            warn(
                "--auth-token puts the token on the command line, where ps shows it to every \
                 local user: prefer --auth-token-file or AWS_CONTAINER_AUTHORIZATION_TOKEN",
            );
            Some(Zeroizing::new(token.clone()))
        }
        (None, None, Some(token)) => Some(token),
        (None, None, None) => {
            let (dir, token) = generate_token_file()?;
            let path = dir.path().join(TOKEN_FILE_NAME);
            note(&format!(
                "no auth token configured: generated one in {} (mode 0600, removed on exit); \
                 give clients AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                path.display(),
                path.display()
            ));
            generated_dir = Some(dir);
            Some(token)
        }
    };
    if let Some(token) = &token {
        check_token(token)?;
    }
    let provider = crate::provider(args.endpoint.as_deref())?;
    let registry = metrics::registry(provider.clone());
    let shared = Arc::new(Shared {
        provider,
        token,
        registry,
    });
    let connections = Arc::new(Semaphore::new(args.max_connections as usize));
    let runtime = crate::runtime()?;
    let served = runtime.block_on(async move {
        let listener = crate::listen(args.listen, "/credentials").await?;
        let shutdown = crate::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    // Bounded: past the limit, a connection is closed at once (dropped).
                    let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                        tracing::warn!("closed a connection: {} connections already open", args.max_connections);
                        continue;
                    };
                    let Ok(local) = stream.local_addr() else { continue };
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let service = service_fn(move |req| handle(Arc::clone(&shared), local, req));
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        drop(permit);
                    });
                }
            }
        }
    });
    drop(generated_dir);
    served
}

/// The generated token's file name, in its private directory.
const TOKEN_FILE_NAME: &str = "token";

/// One line on stderr, never on stdout (whose first line scripts wait for).
fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "credcycle: {message}");
}

fn warn(message: &str) {
    note(&format!("warning: {message}"));
}

fn read_token_file(path: &Path) -> Result<Zeroizing<String>, Failure> {
    let raw = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Failure(format!(
            "cannot read the auth token file {}: {e}",
            path.display()
        ))
    })?);
    Ok(Zeroizing::new(
        raw.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// The SDKs send the token verbatim as a header value: it must be one.
fn check_token(token: &str) -> Result<(), Failure> {
    if token.is_empty() {
        return Err(Failure("the auth token is empty".into()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(Failure(
            "the auth token must be printable ASCII (it is sent as an HTTP header)".into(),
        ));
    }
    Ok(())
}

/// 32 bytes from the operating system's generator, as 64 hex digits, written to `token` in a
/// new directory (mode 0700) under `$XDG_RUNTIME_DIR` (else the temporary directory), with mode
/// 0600 and `create_new`, so that nothing else can have opened it first.
fn generate_token_file() -> Result<(tempfile::TempDir, Zeroizing<String>), Failure> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *bytes)
        .map_err(|e| Failure(format!("cannot generate an auth token: {e}")))?;
    let mut token = Zeroizing::new(String::with_capacity(64));
    for b in bytes.iter() {
        token.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        token.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    let parent = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let mut builder = tempfile::Builder::new();
    builder.prefix("credcycle-serve-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let dir = builder.tempdir_in(&parent).map_err(|e| {
        Failure(format!(
            "cannot create a private directory for the auth token in {}: {e}",
            parent.display()
        ))
    })?;
    let path = dir.path().join(TOKEN_FILE_NAME);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&path)
        .and_then(|mut file| file.write_all(token.as_bytes()));
    written.map_err(|e| {
        Failure(format!(
            "cannot write the auth token file {}: {e}",
            path.display()
        ))
    })?;
    Ok((dir, token))
}

async fn handle(
    shared: Arc<Shared>,
    local: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Shared {
        provider,
        token,
        registry,
    } = &*shared;
    // The Host first: a page that reached this port through DNS rebinding learns nothing, not
    // even whether a token is needed.
    if !host_allowed(&req, local.ip()) {
        tracing::warn!("refused a credentials request whose Host is not a loopback name");
        return Ok(json(
            StatusCode::FORBIDDEN,
            &error_body(
                "ForbiddenHost",
                "the Host header must name a loopback address, localhost, or this endpoint's address",
            ),
        ));
    }
    // Monitoring needs no token (scrapers and probes seldom can send one verbatim) and shows no
    // secret; the Host check above applies to it all the same.
    if let path @ ("/metrics" | "/healthz") = req.uri().path() {
        if req.method() != Method::GET {
            return Ok(method_not_allowed());
        }
        return Ok(monitoring(path, registry, provider));
    }
    // Then the token: without it, nothing about this endpoint is revealed.
    if let Some(expected) = token {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        // Constant time in the contents (the length is not secret).
        if !bool::from(given.ct_eq(expected.as_bytes())) {
            tracing::warn!(
                "refused a credentials request with a missing or wrong Authorization header"
            );
            return Ok(json(
                StatusCode::UNAUTHORIZED,
                &error_body("Unauthorized", "missing or wrong Authorization header"),
            ));
        }
    }
    if req.uri().path() != "/credentials" {
        return Ok(json(
            StatusCode::NOT_FOUND,
            &error_body("NotFound", "no such path: credentials are at /credentials"),
        ));
    }
    if req.method() != Method::GET {
        return Ok(method_not_allowed());
    }
    Ok(match provider.credentials_async().await {
        Ok(creds) => {
            let body = ContainerCredentials {
                access_key_id: creds.access_key_id().as_str(),
                secret_access_key: creds.secret_access_key().expose_secret(),
                token: creds.session_token().expose_secret(),
                // The consumer expiry (INV-1 on both clocks), not the raw Expiration.
                expiration: creds.consumer_expiration().to_rfc3339(),
                account_id: creds.account_id(),
            };
            json(
                StatusCode::OK,
                &serde_json::to_string(&body).unwrap_or_default(),
            )
        }
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &error_body("CredentialsUnavailable", &refusal_text(&e)),
        ),
    })
}

/// `GET /metrics` or `GET /healthz`: read from the provider's stats, never asking IMDS.
fn monitoring(
    path: &str,
    registry: &prometheus_client::registry::Registry,
    provider: &Provider,
) -> Response<Full<Bytes>> {
    if path == "/metrics" {
        return match metrics::render(registry) {
            Ok(text) => response(StatusCode::OK, metrics::CONTENT_TYPE, text),
            Err(_) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &error_body("MetricsUnavailable", "the metrics could not be written"),
            ),
        };
    }
    let (healthy, body) = metrics::health(provider);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &body)
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &error_body("MethodNotAllowed", "use GET"),
    );
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static("GET"),
    );
    response
}

fn refusal_text(e: &ProviderError) -> String {
    e.to_string()
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "Code": code, "Message": message }).to_string()
}

fn json(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    response(status, "application/json", body.to_owned())
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// Whether the request names this endpoint by a loopback name or by the address it reached:
/// its `Host` header (required) and, in absolute form, its URI's authority. The port is not
/// compared (a forwarded port is still this endpoint).
fn host_allowed(req: &Request<Incoming>, local: IpAddr) -> bool {
    let header = req.headers().get(HOST).and_then(|v| v.to_str().ok());
    let authority = req
        .uri()
        .authority()
        .map(hyper::http::uri::Authority::as_str);
    header.is_some_and(|host| host_is_local(host, local))
        && authority.is_none_or(|host| host_is_local(host, local))
}

/// `localhost`, an address in 127.0.0.0/8, `[::1]`, or `local`, each with an optional port.
fn host_is_local(host: &str, local: IpAddr) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, after)) => (
                inside,
                after
                    .strip_prefix(':')
                    .or(Some(after).filter(|a| a.is_empty())),
            ),
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, Some("")),
        },
    };
    let Some(port) = port else { return false };
    if !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
        return false;
    }
    let bracketed = host.starts_with('[');
    let name = name.strip_suffix('.').unwrap_or(name);
    if !bracketed && name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = if bracketed {
        name.parse::<std::net::Ipv6Addr>().map(IpAddr::V6)
    } else {
        name.parse::<std::net::Ipv4Addr>().map(IpAddr::V4)
    };
    ip.is_ok_and(|ip| ip.is_loopback() || ip.to_canonical() == local.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_the_local_address_are_allowed() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        for host in [
            "localhost",
            "LocalHost:1339",
            "localhost.:80",
            "127.0.0.1",
            "127.0.0.1:1339",
            "127.1.2.3:8080",
            "[::1]",
            "[::1]:1339",
        ] {
            assert!(host_is_local(host, local), "{host}");
        }
        let lan: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(host_is_local("10.0.0.5:1339", lan));
        assert!(host_is_local(
            "169.254.170.2",
            "169.254.170.2".parse().unwrap()
        ));
        assert!(host_is_local(
            "[fd00:ec2::23]:80",
            "fd00:ec2::23".parse().unwrap()
        ));
    }

    #[test]
    fn other_names_are_refused() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        for host in [
            "",
            "evil.example",
            "evil.example:1339",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.5",
            "[::1",
            "[::2]:80",
            "::1",
            "127.0.0.1:port",
            "127.0.0.1:123456",
            "localhost:1339:1",
            "[::1]x",
            "0.0.0.0",
        ] {
            assert!(!host_is_local(host, local), "{host}");
        }
    }

    #[test]
    fn tokens_must_be_header_values() {
        assert!(check_token("contract-token").is_ok());
        assert!(check_token("").is_err());
        assert!(check_token("tab\there").is_err());
        assert!(check_token("caf\u{e9}").is_err());
    }
}
