//! `credcycle serve`: a local container-credentials endpoint backed by one shared Provider.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use credcycle::{Provider, ProviderError};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::Failure;

/// Serve the instance's credentials to local processes and containers, in the shape the AWS
/// SDKs read from `AWS_CONTAINER_CREDENTIALS_FULL_URI`. One shared Provider refreshes ahead of
/// expiry; many processes (or containers that cannot reach IMDS because of the hop limit) share
/// one set. Credentials are never served with less than the expiry margin left: 503 instead.
///
/// The first line on stdout is exactly `listening on http://HOST:PORT/credentials`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle serve --auth-token-file /run/credcycle/token
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1339/credentials \\
  AWS_CONTAINER_AUTHORIZATION_TOKEN=$(cat /run/credcycle/token) aws sts get-caller-identity")]
pub(crate) struct Args {
    /// Address to listen on. Loopback by default; another address only when given here.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1339")]
    listen: SocketAddr,
    /// IMDS endpoint (default: from the environment, else http://169.254.169.254).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Require `Authorization: TOKEN` on every request (the SDKs send
    /// AWS_CONTAINER_AUTHORIZATION_TOKEN verbatim).
    #[arg(long, value_name = "TOKEN", conflicts_with = "auth_token_file")]
    auth_token: Option<String>,
    /// Read the token from a file (trailing newline ignored), like AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
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
    let token = match (&args.auth_token, &args.auth_token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    Failure(format!(
                        "cannot read the auth token file {}: {e}",
                        path.display()
                    ))
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
        (None, None) => None,
    };
    if token.as_deref() == Some("") {
        return Err(Failure("the auth token is empty".into()));
    }
    let provider = crate::provider(args.endpoint.as_deref())?;
    let state = Arc::new((provider, token));
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let listener = crate::listen(args.listen, "/credentials").await?;
        let shutdown = crate::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let service = service_fn(move |req| handle(Arc::clone(&state), req));
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            }
        }
    })
}

async fn handle(
    state: Arc<(Provider, Option<String>)>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (provider, token) = &*state;
    // The token first: without it, nothing about this endpoint is revealed.
    if let Some(expected) = token {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !constant_time_eq(given, expected.as_bytes()) {
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
        let mut response = json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body("MethodNotAllowed", "use GET"),
        );
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET"),
        );
        return Ok(response);
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

fn refusal_text(e: &ProviderError) -> String {
    e.to_string()
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "Code": code, "Message": message }).to_string()
}

fn json(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
