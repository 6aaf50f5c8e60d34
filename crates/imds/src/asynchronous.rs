//! The async twin (feature `tokio`): [`AsyncTransport`], [`HyperTransport`], [`AsyncImdsClient`].
//!
//! Same session logic as the blocking client (both drive [`Exchange`]); only the waiting
//! differs. [`HyperTransport`] says why hyper rather than reqwest.

use core::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{Action, Credentials, Input, RoleName};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{CaptureConnection, HttpConnector, capture_connection};
use hyper_util::rt::TokioExecutor;
use zeroize::Zeroizing;

use crate::client::{Job, changed_role, credentials_reply, role_reply};
use crate::codec::{HttpRequest, HttpResponse, MAX_BODY_LEN};
use crate::config::{ConfigError, ImdsConfig};
use crate::error::{ImdsError, TransportError};
use crate::exchange::{Exchange, Output, RequestCounts, Session, Step};
use crate::transport::from_io_kind;

/// Sends one [`HttpRequest`] and returns the reply, asynchronously. The contract is
/// [`Transport`](crate::Transport)'s: the timeout covers the whole call, every status is `Ok`,
/// no redirects, no proxy, at most [`MAX_BODY_LEN`] + 1 bytes read, no secret in errors.
pub trait AsyncTransport {
    /// Sends `request`, waiting at most `timeout` for the complete reply.
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;
}

impl<T: AsyncTransport + Sync + ?Sized> AsyncTransport for &T {
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        (**self).send(request, timeout)
    }
}

impl<T: AsyncTransport + Send + Sync + ?Sized> AsyncTransport for Arc<T> {
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        (**self).send(request, timeout)
    }
}

/// The async transport: hyper 1 with hyper-util's pooled client, plain HTTP only, no proxy, no
/// redirects; the whole call (connect, send, read) under one `tokio::time::timeout`; bodies read
/// frame by frame into a zeroizing buffer and abandoned as soon as they pass [`MAX_BODY_LEN`].
/// Needs a tokio runtime with the time and IO drivers.
///
/// # Why hyper, and not reqwest
///
/// IMDS is plain HTTP/1.1 on a link-local address. hyper 1 with hyper-util's client is the
/// smallest surface that speaks it: no TLS stack, no proxy logic to switch off (reqwest reads
/// `HTTP_PROXY` by default, and IMDS must never be reached through a proxy, which would also see
/// the token), no redirect policy, no cookies, no decompression. And it is already in the tree
/// for the simulator's server side, so it adds no new dependency family.
#[derive(Clone, Debug)]
pub struct HyperTransport {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for HyperTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HyperTransport {
    /// A transport with its own connection pool (at most one idle connection).
    #[must_use]
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.enforce_http(true);
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(15))
            .build(connector);
        Self { client }
    }

    async fn exchange(
        &self,
        request: &HttpRequest,
        connected: &mut Option<CaptureConnection>,
    ) -> Result<HttpResponse, TransportError> {
        let mut builder = hyper::Request::builder()
            .method(request.method().as_str())
            .uri(request.url())
            .header(
                "user-agent",
                concat!("credcycle-imds/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in request.expose_headers() {
            builder = builder.header(name, value);
        }
        let mut http_request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|_| TransportError::Other("invalid request".to_owned()))?;
        *connected = Some(capture_connection(&mut http_request));
        let response = self
            .client
            .request(http_request)
            .await
            .map_err(|e| from_error(&e))?;
        let status = response.status().as_u16();
        let headers = crate::transport::header_pairs(response.headers());
        let expected = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(1024);
        let mut body = response.into_body();
        // Preallocated, so that the buffer rarely grows and leaves a copy behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(expected.min(MAX_BODY_LEN + 1)));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| from_error(&e))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > MAX_BODY_LEN {
                    return Err(TransportError::BodyTooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
        let mut reply = HttpResponse::new(status, core::mem::take(&mut *buf));
        for (name, value) in headers {
            reply = reply.with_header(name, value);
        }
        Ok(reply)
    }
}

impl AsyncTransport for HyperTransport {
    async fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        // Whether a connection was opened (or taken from the pool) when the timeout fires: a
        // connection that never opens is not a reply that never comes (the hop limit).
        let mut connected = None;
        let result = tokio::time::timeout(timeout, self.exchange(request, &mut connected)).await;
        result.unwrap_or_else(|_| {
            let opened = connected
                .as_ref()
                .is_some_and(|c| c.connection_metadata().is_some());
            Err(if opened {
                TransportError::Timeout
            } else {
                TransportError::ConnectTimeout
            })
        })
    }
}

/// Maps a hyper or hyper-util error, by the first IO error or hyper error in its chain.
fn from_error(e: &(dyn std::error::Error + 'static)) -> TransportError {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return from_io_kind(io.kind());
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return TransportError::ConnectionReset;
            }
            if hyper.is_timeout() {
                return TransportError::Timeout;
            }
            if hyper.is_parse() || hyper.is_parse_status() {
                return TransportError::Other("the reply is not valid HTTP/1.1".to_owned());
            }
        }
        cause = err.source();
    }
    if e.downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect)
    {
        return TransportError::Unreachable("the connection failed".to_owned());
    }
    TransportError::Other("the HTTP client failed".to_owned())
}

/// The async client: [`ImdsClient`](crate::ImdsClient)'s twin, with `tokio::time::sleep` for
/// backoff delays. Same methods, same session logic, same counters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use credcycle_clock::ManualClock;
/// use credcycle_imds::{AsyncImdsClient, AsyncTransport, HttpRequest, HttpResponse, ImdsConfig,
///     TransportError};
///
/// struct FakeImds;
/// impl AsyncTransport for FakeImds {
///     async fn send(&self, req: &HttpRequest, _: Duration) -> Result<HttpResponse, TransportError> {
///         Ok(match req.path() {
///             "/latest/api/token" => HttpResponse::new(200, "token"),
///             _ => HttpResponse::new(404, ""),
///         })
///     }
/// }
///
/// let mut client = AsyncImdsClient::new(ImdsConfig::default(), FakeImds, ManualClock::default());
/// let err = client.discover_role().await.unwrap_err();
/// assert_eq!(err.to_string(), "no instance profile is attached to this instance (HTTP 404 on the role listing)");
/// # Ok(())
/// # }
/// ```
pub struct AsyncImdsClient<T, C> {
    session: Session,
    transport: T,
    clock: C,
    last_error: Option<ImdsError>,
}

impl AsyncImdsClient<HyperTransport, SystemClock> {
    /// A client configured from the process environment, over [`HyperTransport`] and the
    /// [`SystemClock`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when an environment variable holds an invalid value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::with_config(ImdsConfig::from_env()?))
    }

    /// A client with this configuration, over [`HyperTransport`] and the [`SystemClock`].
    #[must_use]
    pub fn with_config(config: ImdsConfig) -> Self {
        Self::new(config, HyperTransport::new(), SystemClock::new())
    }
}

impl<T: AsyncTransport, C: Clock> AsyncImdsClient<T, C> {
    /// A client with its own session.
    #[must_use]
    pub fn new(config: ImdsConfig, transport: T, clock: C) -> Self {
        Self {
            session: Session::new(config),
            transport,
            clock,
            last_error: None,
        }
    }

    /// As [`ImdsClient::discover_role`](crate::ImdsClient::discover_role).
    ///
    /// # Errors
    ///
    /// As [`ImdsClient::discover_role`](crate::ImdsClient::discover_role).
    pub async fn discover_role(&mut self) -> Result<RoleName, ImdsError> {
        let exchange = Exchange::discover_role(&mut self.session);
        drive(exchange, &self.transport, &self.clock).await
    }

    /// As [`ImdsClient::fetch_credentials`](crate::ImdsClient::fetch_credentials).
    ///
    /// # Errors
    ///
    /// As [`ImdsClient::fetch_credentials`](crate::ImdsClient::fetch_credentials).
    pub async fn fetch_credentials(&mut self, role: &RoleName) -> Result<Credentials, ImdsError> {
        let exchange = Exchange::fetch_credentials(&mut self.session, role);
        drive(exchange, &self.transport, &self.clock).await
    }

    /// As [`ImdsClient::credentials`](crate::ImdsClient::credentials).
    ///
    /// # Errors
    ///
    /// As [`ImdsClient::credentials`](crate::ImdsClient::credentials).
    pub async fn credentials(&mut self) -> Result<Credentials, ImdsError> {
        let role = self.discover_role().await?;
        let first = self.fetch_credentials(&role).await;
        match changed_role(&role, &first) {
            Some(listed) => self.fetch_credentials(&listed).await,
            None => first,
        }
    }

    /// As [`ImdsClient::answer`](crate::ImdsClient::answer).
    pub async fn answer(&mut self, action: &Action) -> Option<Input> {
        Some(match Job::of(action)? {
            Job::Role(id) => {
                let result = self.discover_role().await;
                role_reply(id, result, &mut self.last_error)
            }
            Job::Credentials(id, role) => {
                let result = self.fetch_credentials(&role).await;
                credentials_reply(id, result, &mut self.last_error)
            }
        })
    }

    /// The full error behind the last failed [`answer`](Self::answer).
    #[must_use]
    pub fn last_error(&self) -> Option<&ImdsError> {
        self.last_error.as_ref()
    }

    /// Requests sent so far, by kind.
    #[must_use]
    pub fn counts(&self) -> RequestCounts {
        self.session.counts()
    }

    /// The session (token status, cached role, configuration).
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, to forget the token or the role.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The transport.
    #[must_use]
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

impl<T, C> core::fmt::Debug for AsyncImdsClient<T, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncImdsClient")
            .field("session", &self.session)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// The async driver: polls, sends, sleeps, until the exchange is done.
async fn drive<T: Output>(
    mut exchange: Exchange<'_, T>,
    transport: &impl AsyncTransport,
    clock: &impl Clock,
) -> Result<T, ImdsError> {
    loop {
        exchange = match exchange.poll(clock.now().mono) {
            Step::Send(pending) => {
                let reply = transport.send(pending.request(), pending.timeout()).await;
                pending.on_response(reply)
            }
            Step::Wait(waiting) => {
                tokio::time::sleep(waiting.delay()).await;
                waiting.resume()
            }
            Step::Done(result) => return result,
        };
    }
}

#[cfg(test)]
mod tests;
