//! Blocking transports: the [`Transport`] trait and its ureq implementation.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::TransportError;
use crate::http::{HttpRequest, HttpResponse};
use crate::protocol::{MAX_BODY_LEN, Method};

/// Sends one [`HttpRequest`] and returns the reply, blocking.
///
/// An implementation must:
///
/// - give up after `timeout` (connecting, sending and reading the whole reply): with
///   [`TransportError::ConnectTimeout`] when no connection was made, else
///   [`TransportError::Timeout`] (the hop-limit diagnosis depends on the difference: a reply
///   that never comes is not a connection that never opens);
/// - report a connection that cannot be made as [`TransportError::ConnectionRefused`],
///   [`TransportError::Unreachable`] or [`TransportError::ConnectTimeout`], and nothing else;
/// - return every HTTP reply as `Ok`, whatever its status (statuses are the session's
///   business);
/// - never follow a redirect, and never go through a proxy (IMDS must not be reached through
///   one, and a proxy would see the token);
/// - stop reading a body at [`MAX_BODY_LEN`] + 1 bytes and return
///   [`TransportError::BodyTooLarge`];
/// - keep secrets (the token header, the body) out of its errors and logs.
///
/// Implemented by [`UreqTransport`], by [`FnTransport`] (a closure, for tests and examples), by
/// `MockTransport` (feature `mock`), and by `&T`, `Box<T>` and `Arc<T>` for any `T: Transport`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Transport {
    /// Sends `request`, waiting at most `timeout` for the complete reply.
    ///
    /// # Errors
    ///
    /// A [`TransportError`] when no complete HTTP reply arrived.
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError>;
}

/// A reference or a shared or boxed pointer to a transport sends through it.
macro_rules! forward_transport {
    ($($pointer:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $pointer {
            fn send(
                &self,
                request: &HttpRequest,
                timeout: Duration,
            ) -> Result<HttpResponse, TransportError> {
                (**self).send(request, timeout)
            }
        }
    )*};
}

forward_transport!(&T, Box<T>, Arc<T>);

/// A closure as a [`Transport`]: handy in tests and examples.
///
/// ```
/// use credcycle_imds::{FnTransport, HttpResponse, Transport};
///
/// let transport = FnTransport(|_req: &credcycle_imds::HttpRequest, _timeout| {
///     Ok(HttpResponse::new(404, ""))
/// });
/// # let _ = &transport as &dyn Transport;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FnTransport<F>(pub F);

impl<F> Transport for FnTransport<F>
where
    F: Fn(&HttpRequest, Duration) -> Result<HttpResponse, TransportError>,
{
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        (self.0)(request, timeout)
    }
}

/// The blocking transport: [ureq] 3, plain HTTP only.
///
/// Configured for IMDS: no TLS (the crate is built without it), no proxy (not even from
/// `HTTP_PROXY`), no redirects, the timeout applied to the whole call, connecting included,
/// and bodies read to at most [`MAX_BODY_LEN`] + 1 bytes into a zeroizing buffer (preallocated
/// from `Content-Length`, so that it rarely reallocates and leaves a copy behind).
///
/// [ureq]: https://docs.rs/ureq
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl UreqTransport {
    /// A transport with its own connection pool.
    #[must_use]
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("credcycle-imds/", env!("CARGO_PKG_VERSION")))
            .max_response_header_size(16 * 1024)
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

impl Transport for UreqTransport {
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method().as_str())
            .uri(request.url());
        for (name, value) in request.expose_headers() {
            builder = builder.header(name, value);
        }
        // A PUT carries an explicit empty body (Content-Length: 0), a GET none.
        let body: &[u8] = b"";
        let http_request = builder
            .body(body)
            .map_err(|_| TransportError::Other("invalid request".to_owned()))?;
        let http_request = self
            .agent
            .configure_request(http_request)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(connect_budget(timeout)))
            .build();
        let mut response = match request.method() {
            Method::Put => self.agent.run(http_request),
            Method::Get => {
                let (parts, _) = http_request.into_parts();
                self.agent.run(ureq::http::Request::from_parts(parts, ()))
            }
        }
        .map_err(from_ureq)?;

        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let expected = response
            .body()
            .content_length()
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(1024);
        let mut body = Zeroizing::new(Vec::with_capacity(expected.min(MAX_BODY_LEN + 1)));
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY_LEN as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| from_io(&e))?;
        if body.len() > MAX_BODY_LEN {
            return Err(TransportError::BodyTooLarge);
        }
        let mut reply = HttpResponse::new(status, core::mem::take(&mut *body));
        for (name, value) in headers {
            reply = reply.with_header(name, value);
        }
        Ok(reply)
    }
}

/// The connect phase's share of a request's timeout: all of it but a twentieth (at most 50 ms
/// less). ureq reports a timeout by the earliest deadline in force, and its connect deadline
/// starts after name resolution, so with the two equal a connect that never completes would be
/// reported as the global timeout, indistinguishable from a reply that never comes. A slightly
/// shorter connect budget makes it `Timeout::Connect`.
fn connect_budget(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 20).min(Duration::from_millis(50)))
}

/// A response's headers as (name, value) pairs; values that are not visible ASCII are left out
/// (IMDS sends none, and the codec reads only ASCII headers). Shared by both transports.
pub(crate) fn header_pairs(headers: &ureq::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// Maps a ureq error to a secret-free transport error.
fn from_ureq(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
            TransportError::ConnectTimeout
        }
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::Io(io) => from_io(&io),
        ureq::Error::BodyExceedsLimit(_) => TransportError::BodyTooLarge,
        ureq::Error::Protocol(_) => {
            TransportError::Other("the reply is not valid HTTP/1.1".to_owned())
        }
        ureq::Error::HostNotFound => {
            TransportError::Unreachable("the endpoint's host was not found".to_owned())
        }
        ureq::Error::ConnectionFailed => {
            TransportError::Unreachable("the connection failed".to_owned())
        }
        ureq::Error::StatusCode(status) => TransportError::Other(format!("HTTP {status}")),
        _ => TransportError::Other("the HTTP client failed".to_owned()),
    }
}

/// Maps an IO error (possibly wrapping a ureq error, as ureq's body reader does).
pub(crate) fn from_io(e: &io::Error) -> TransportError {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        match inner {
            ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
                return TransportError::ConnectTimeout;
            }
            ureq::Error::Timeout(_) => return TransportError::Timeout,
            ureq::Error::Io(io) => return from_io(io),
            ureq::Error::BodyExceedsLimit(_) => return TransportError::BodyTooLarge,
            ureq::Error::Protocol(_) => {
                return TransportError::Other("the reply is not valid HTTP/1.1".to_owned());
            }
            _ => {}
        }
    }
    from_io_kind(e.kind())
}

/// Maps an IO error kind; shared with the async transport.
pub(crate) fn from_io_kind(kind: io::ErrorKind) -> TransportError {
    use io::ErrorKind as K;
    match kind {
        K::TimedOut | K::WouldBlock => TransportError::Timeout,
        K::ConnectionRefused => TransportError::ConnectionRefused,
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => TransportError::ConnectionReset,
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => TransportError::Unreachable(
            "no route to the endpoint (host or network unreachable)".to_owned(),
        ),
        K::AddrNotAvailable => TransportError::Unreachable(
            "the endpoint address is not available here (for IPv6, is IMDS IPv6 enabled?)"
                .to_owned(),
        ),
        kind => TransportError::Other(format!("I/O error: {kind}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ureq_agent_is_configured_for_imds() {
        let transport = UreqTransport::default();
        let config = transport.agent.config();
        assert!(config.proxy().is_none(), "never through a proxy");
        assert_eq!(config.max_redirects(), 0, "never follow a redirect");
        assert!(
            !config.http_status_as_error(),
            "statuses are the session's business"
        );
    }

    #[test]
    fn io_errors_map_to_transport_errors() {
        use io::ErrorKind as K;
        let cases = [
            (K::TimedOut, TransportError::Timeout),
            (K::WouldBlock, TransportError::Timeout),
            (K::ConnectionRefused, TransportError::ConnectionRefused),
            (K::ConnectionReset, TransportError::ConnectionReset),
            (K::ConnectionAborted, TransportError::ConnectionReset),
            (K::BrokenPipe, TransportError::ConnectionReset),
            (K::UnexpectedEof, TransportError::ConnectionReset),
        ];
        for (kind, want) in cases {
            assert_eq!(from_io(&io::Error::from(kind)), want, "{kind:?}");
        }
        assert!(matches!(
            from_io_kind(K::NetworkUnreachable),
            TransportError::Unreachable(text) if text.contains("unreachable")
        ));
        assert!(matches!(
            from_io_kind(K::AddrNotAvailable),
            TransportError::Unreachable(text) if text.contains("IPv6")
        ));
        let wrapped = io::Error::other(ureq::Error::Timeout(ureq::Timeout::Global));
        assert_eq!(from_io(&wrapped), TransportError::Timeout);
        let wrapped = io::Error::other(ureq::Error::Timeout(ureq::Timeout::Connect));
        assert_eq!(from_io(&wrapped), TransportError::ConnectTimeout);
        // A connection that never opens is not a reply that never comes (the hop limit).
        for phase in [ureq::Timeout::Resolve, ureq::Timeout::Connect] {
            let err = from_ureq(ureq::Error::Timeout(phase));
            assert_eq!(err, TransportError::ConnectTimeout, "{phase:?}");
            assert!(err.is_connect_failure());
        }
        for phase in [
            ureq::Timeout::Global,
            ureq::Timeout::SendRequest,
            ureq::Timeout::RecvResponse,
            ureq::Timeout::RecvBody,
        ] {
            let err = from_ureq(ureq::Error::Timeout(phase));
            assert_eq!(err, TransportError::Timeout, "{phase:?}");
            assert!(!err.is_connect_failure());
        }
        assert!(from_ureq(ureq::Error::HostNotFound).is_connect_failure());
        assert_eq!(
            from_ureq(ureq::Error::BodyExceedsLimit(1)),
            TransportError::BodyTooLarge
        );
        assert_eq!(
            from_ureq(ureq::Error::Io(io::Error::from(K::ConnectionRefused))),
            TransportError::ConnectionRefused
        );
    }

    #[test]
    fn the_connect_phase_ends_before_the_whole_call() {
        // ureq names a timeout after the earliest deadline: the connect deadline must come
        // first, or a connect that never completes reads as a reply that never comes.
        for ms in [1, 2, 10, 100, 1_000, 600_000] {
            let timeout = Duration::from_millis(ms);
            let budget = connect_budget(timeout);
            assert!(budget < timeout, "{ms} ms");
            assert!(timeout - budget <= Duration::from_millis(50), "{ms} ms");
            assert!(budget >= timeout * 19 / 20, "{ms} ms");
        }
    }

    #[test]
    fn pointers_to_transports_are_transports() {
        let mut mock = MockTransport::new();
        mock.expect_send()
            .times(3)
            .returning(|_, _| Ok(HttpResponse::new(204, "")));
        let shared = Arc::new(mock);
        let request = crate::codec::token_request(&crate::Endpoint::IPV4, 1);
        let by_ref: &dyn Transport = &*shared;
        assert_eq!(by_ref.send(&request, Duration::ZERO).unwrap().status(), 204);
        assert_eq!(shared.send(&request, Duration::ZERO).unwrap().status(), 204);
        let boxed: Box<dyn Transport> = Box::new(Arc::clone(&shared));
        assert_eq!(boxed.send(&request, Duration::ZERO).unwrap().status(), 204);
    }
}
