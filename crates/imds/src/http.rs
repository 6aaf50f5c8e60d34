//! One HTTP request and one HTTP reply, as values: what the codec builds and parses, and what a
//! transport sends and returns.

use core::fmt;

use zeroize::Zeroizing;

use crate::endpoint::{ContainerEndpoint, Endpoint};
use crate::protocol::{AUTHORIZATION_HEADER, Method, RequestKind, TOKEN_HEADER, TOKEN_TTL_HEADER};
use crate::token::{AuthorizationToken, ImdsToken};

/// One HTTP request to IMDS, ready to send: method, absolute URL and headers.
///
/// `Debug` redacts the session-token header; the only way to read its value is
/// [`expose_headers`](Self::expose_headers), which transports call to write the request.
///
/// ```
/// use credcycle_imds::codec::{self, Method};
/// use credcycle_imds::{Endpoint, ImdsToken};
///
/// let endpoint = Endpoint::IPV4;
/// let put = codec::token_request(&endpoint, 21_600);
/// assert_eq!(put.method(), Method::Put);
/// assert_eq!(put.url(), "http://169.254.169.254/latest/api/token");
///
/// let token = ImdsToken::new("sentinel".to_owned())?;
/// let get = codec::role_listing_request(&endpoint, Some(&token));
/// assert_eq!(get.path(), "/latest/meta-data/iam/security-credentials/");
/// assert!(!format!("{get:?}").contains("sentinel"));
/// assert_eq!(get.expose_headers(), [("X-aws-ec2-metadata-token", "sentinel")]);
/// # Ok::<(), credcycle_imds::ParseError>(())
/// ```
#[derive(Clone)]
pub struct HttpRequest {
    kind: RequestKind,
    method: Method,
    url: String,
    path_start: usize,
    ttl_secs: Option<u32>,
    ttl_text: Option<String>,
    token: Option<ImdsToken>,
    authorization: Option<AuthorizationToken>,
}

impl HttpRequest {
    /// A request to `path` on an IMDS endpoint.
    pub(crate) fn new(endpoint: &Endpoint, kind: RequestKind, method: Method, path: &str) -> Self {
        let base = endpoint.as_str();
        Self {
            kind,
            method,
            url: format!("{base}{path}"),
            path_start: base.len(),
            ttl_secs: None,
            ttl_text: None,
            token: None,
            authorization: None,
        }
    }

    /// A `GET` of a container-credentials endpoint.
    pub(crate) fn container(
        endpoint: &ContainerEndpoint,
        authorization: Option<&AuthorizationToken>,
    ) -> Self {
        Self {
            kind: RequestKind::ContainerCredentials,
            method: Method::Get,
            url: endpoint.as_str().to_owned(),
            path_start: endpoint.path_start(),
            ttl_secs: None,
            ttl_text: None,
            token: None,
            authorization: authorization.cloned(),
        }
    }

    pub(crate) fn with_token(mut self, token: Option<&ImdsToken>) -> Self {
        self.token = token.cloned();
        self
    }

    /// Asks for a token that lives `ttl_secs` seconds.
    pub(crate) fn with_ttl(mut self, ttl_secs: u32) -> Self {
        self.ttl_secs = Some(ttl_secs);
        self.ttl_text = Some(ttl_secs.to_string());
        self
    }

    /// What this request asks for.
    #[must_use]
    pub fn kind(&self) -> RequestKind {
        self.kind
    }

    /// The HTTP method.
    #[must_use]
    pub fn method(&self) -> Method {
        self.method
    }

    /// The absolute URL, for example `http://169.254.169.254/latest/api/token`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path part of the URL, for example `/latest/api/token`.
    #[must_use]
    pub fn path(&self) -> &str {
        self.url.get(self.path_start..).unwrap_or_default()
    }

    /// The token TTL asked for, in seconds (token requests only).
    #[must_use]
    pub fn token_ttl_secs(&self) -> Option<u32> {
        self.ttl_secs
    }

    /// The session token this request carries (`None` for the token request itself, and for
    /// IMDSv1 requests).
    #[must_use]
    pub fn token(&self) -> Option<&ImdsToken> {
        self.token.as_ref()
    }

    /// Every header to send, as `(name, value)`, the session token's value included: for
    /// transports only. Names are spelled as AWS documents them (HTTP header names are
    /// case-insensitive).
    #[must_use]
    pub fn expose_headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = Vec::with_capacity(1);
        if let Some(ttl) = &self.ttl_text {
            headers.push((TOKEN_TTL_HEADER, ttl.as_str()));
        }
        if let Some(token) = &self.token {
            headers.push((TOKEN_HEADER, token.expose_secret()));
        }
        if let Some(authorization) = &self.authorization {
            headers.push((AUTHORIZATION_HEADER, authorization.expose_secret()));
        }
        headers
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(1);
        if let Some(ttl) = &self.ttl_text {
            headers.push((TOKEN_TTL_HEADER, ttl.as_str()));
        }
        if self.token.is_some() {
            headers.push((TOKEN_HEADER, credcycle_core::REDACTED));
        }
        if self.authorization.is_some() {
            headers.push((AUTHORIZATION_HEADER, credcycle_core::REDACTED));
        }
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .finish()
    }
}

/// One HTTP reply from IMDS: status, headers and body (at most [`MAX_BODY_LEN`](crate::codec::MAX_BODY_LEN) bytes when a
/// transport built it).
///
/// The body may hold a secret (a token, credentials), so it is zeroized on drop, `Debug` prints
/// only its length, and it is read through [`expose_body`](Self::expose_body).
///
/// ```
/// use credcycle_imds::HttpResponse;
///
/// let reply = HttpResponse::new(200, "secret-token").with_header("X-aws-ec2-metadata-token-ttl-seconds", "21600");
/// assert_eq!(reply.header("x-AWS-ec2-metadata-token-ttl-seconds"), Some("21600"));
/// assert_eq!(
///     format!("{reply:?}"),
///     r#"HttpResponse { status: 200, headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], body: "<12 bytes>" }"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Zeroizing<Vec<u8>>,
}

impl HttpResponse {
    /// A reply with this status and body and no headers.
    #[must_use]
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Zeroizing::new(body.into()),
        }
    }

    /// Adds a header. Header values are never secrets in IMDS replies.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The HTTP status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first header called `name` (compared case-insensitively), if any.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in the order received.
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, which may hold a secret.
    #[must_use]
    pub fn expose_body(&self) -> &[u8] {
        &self.body
    }

    /// The body's length in bytes (what error messages show instead of the body).
    #[must_use]
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("\"<{} bytes>\"", self.body.len()))
            .finish()
    }
}
