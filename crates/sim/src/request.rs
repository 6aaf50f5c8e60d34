//! What goes into the sans-IO core and what comes out: [`SimRequest`], [`SimReply`],
//! [`Headers`], and the [`PathClass`] that faults target and the report counts by.

use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// The IMDSv2 session-token header a `GET` carries.
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// The header that asks for (on `PUT`) and reports (in the reply) a token's lifetime in seconds.
pub const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// The path of the IMDSv2 token endpoint.
pub const TOKEN_PATH: &str = "/latest/api/token";

/// Header names whose values are secrets and are redacted in `Debug` output.
const SECRET_HEADERS: [&str; 2] = [TOKEN_HEADER, "authorization"];

/// HTTP headers in arrival order, looked up case-insensitively (as HTTP requires).
///
/// `Debug` redacts the values of `X-aws-ec2-metadata-token` and `Authorization`: an IMDS session
/// token is a secret too (see `docs/secrets.md`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header after the existing ones (a name may repeat).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The value of the first header called `name`, compared case-insensitively.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header called `name` is present (case-insensitively).
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every header, in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of headers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                map.entry(name, &format_args!("{}", credcycle_core::REDACTED));
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// One HTTP request, as the core sees it: no sockets, no clock.
///
/// `Debug` shows the method, path, query, headers (secret ones redacted) and the body's length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SimRequest {
    /// The method, as sent (`GET`, `PUT`, ...; compared case-sensitively, as HTTP does).
    pub method: String,
    /// The path, without the query (for example `/latest/api/token`).
    pub path: String,
    /// The query string without the `?`, if there was one.
    pub query: Option<String>,
    /// The request headers.
    pub headers: Headers,
    /// The request body.
    pub body: Vec<u8>,
}

impl SimRequest {
    /// A request with no headers and no body. A `?` in `target` splits off the query.
    #[must_use]
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (target.to_owned(), None),
        };
        Self {
            method: method.into(),
            path,
            query,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `target`.
    #[must_use]
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// A `PUT` to `target`.
    #[must_use]
    pub fn put(target: &str) -> Self {
        Self::new("PUT", target)
    }

    /// A `POST` to `target`.
    #[must_use]
    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    /// The request with one more header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The request with `body` as its body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The class of the request's path.
    #[must_use]
    pub fn class(&self) -> PathClass {
        PathClass::of(&self.path)
    }
}

impl fmt::Debug for SimRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// What the core tells the server to do with a request.
///
/// `Debug` never shows a body (it may hold credentials or a session token), only its length.
#[derive(Clone, PartialEq, Eq)]
pub enum SimReply {
    /// Answer, after waiting `delay` if there is one.
    Respond {
        /// The HTTP status code.
        status: u16,
        /// The reply headers (`Content-Length` and `Date` are the server's business).
        headers: Headers,
        /// The reply body.
        body: Vec<u8>,
        /// How long to wait before answering (a scripted slow response).
        delay: Option<Duration>,
    },
    /// Never answer: hold the connection open until the client gives up. This is what a
    /// dropped packet, a throttled request or an exceeded hop limit looks like to a client.
    Drop,
    /// Close the connection abruptly (TCP reset), without an answer.
    Reset,
}

impl SimReply {
    /// The status code, for [`SimReply::Respond`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Respond { status, .. } => Some(*status),
            Self::Drop | Self::Reset => None,
        }
    }

    /// The body, for [`SimReply::Respond`].
    #[must_use]
    pub fn body(&self) -> Option<&[u8]> {
        match self {
            Self::Respond { body, .. } => Some(body),
            Self::Drop | Self::Reset => None,
        }
    }

    /// The body as UTF-8 text, for [`SimReply::Respond`] with a UTF-8 body.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        self.body().and_then(|b| core::str::from_utf8(b).ok())
    }

    /// The first reply header called `name` (case-insensitively).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Self::Respond { headers, .. } => headers.get(name),
            Self::Drop | Self::Reset => None,
        }
    }

    /// The scripted delay, for [`SimReply::Respond`].
    #[must_use]
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Self::Respond { delay, .. } => *delay,
            Self::Drop | Self::Reset => None,
        }
    }

    /// How the report counts this reply: the status code, `drop` or `reset`.
    #[must_use]
    pub fn outcome(&self) -> String {
        match self {
            Self::Respond { status, .. } => status.to_string(),
            Self::Drop => "drop".to_owned(),
            Self::Reset => "reset".to_owned(),
        }
    }
}

impl fmt::Debug for SimReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Respond {
                status,
                headers,
                body,
                delay,
            } => f
                .debug_struct("Respond")
                .field("status", status)
                .field("headers", headers)
                .field("body", &format_args!("<{} bytes>", body.len()))
                .field("delay", delay)
                .finish(),
            Self::Drop => f.write_str("Drop"),
            Self::Reset => f.write_str("Reset"),
        }
    }
}

/// The kind of path a request is for: what faults target and what the report counts by.
///
/// Serialized in kebab-case (`role-list`), as in scenario files and the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PathClass {
    /// `/latest/api/token` (any method).
    Token,
    /// The role listing: `/latest/meta-data/iam/security-credentials/` and its `-extended`
    /// twin.
    RoleList,
    /// A role's credentials: `/latest/meta-data/iam/security-credentials[-extended]/<role>`.
    Credentials,
    /// `/latest/meta-data/iam/info`.
    Info,
    /// Any other path under `/latest/meta-data`.
    Metadata,
    /// Any other path outside `/_sim`.
    Other,
    /// The simulator's own control and audit endpoints, `/_sim/*`; never faulted.
    Sim,
}

impl PathClass {
    /// The class of `path` (without its query).
    #[must_use]
    pub fn of(path: &str) -> Self {
        const CREDS: &str = "/latest/meta-data/iam/security-credentials";
        const EXTENDED: &str = "/latest/meta-data/iam/security-credentials-extended";
        if path == "/_sim" || path.starts_with("/_sim/") {
            return Self::Sim;
        }
        if path == TOKEN_PATH {
            return Self::Token;
        }
        for base in [EXTENDED, CREDS] {
            if let Some(rest) = path.strip_prefix(base) {
                match rest {
                    "" | "/" => return Self::RoleList,
                    _ if rest.starts_with('/') => return Self::Credentials,
                    _ => {}
                }
            }
        }
        if path == "/latest/meta-data/iam/info" {
            return Self::Info;
        }
        if path == "/latest/meta-data" || path.starts_with("/latest/meta-data/") {
            return Self::Metadata;
        }
        Self::Other
    }

    /// The kebab-case name used in scenario files and the report.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::RoleList => "role-list",
            Self::Credentials => "credentials",
            Self::Info => "info",
            Self::Metadata => "metadata",
            Self::Other => "other",
            Self::Sim => "sim",
        }
    }
}

impl fmt::Display for PathClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let cases = [
            ("/latest/api/token", PathClass::Token),
            (
                "/latest/meta-data/iam/security-credentials/",
                PathClass::RoleList,
            ),
            (
                "/latest/meta-data/iam/security-credentials",
                PathClass::RoleList,
            ),
            (
                "/latest/meta-data/iam/security-credentials-extended/",
                PathClass::RoleList,
            ),
            (
                "/latest/meta-data/iam/security-credentials/web",
                PathClass::Credentials,
            ),
            (
                "/latest/meta-data/iam/security-credentials-extended/web",
                PathClass::Credentials,
            ),
            (
                "/latest/meta-data/iam/security-credentialsX",
                PathClass::Metadata,
            ),
            ("/latest/meta-data/iam/info", PathClass::Info),
            ("/latest/meta-data/", PathClass::Metadata),
            ("/latest/meta-data/instance-id", PathClass::Metadata),
            ("/latest/user-data", PathClass::Other),
            ("/", PathClass::Other),
            ("/_sim/report", PathClass::Sim),
            ("/_simulator", PathClass::Other),
        ];
        for (path, class) in cases {
            assert_eq!(PathClass::of(path), class, "{path}");
        }
    }

    #[test]
    fn headers_are_case_insensitive_and_redacted() {
        let req = SimRequest::get("/x?a=b")
            .with_header("x-AWS-ec2-metadata-token", "sentinel-token")
            .with_header("Accept", "*/*");
        assert_eq!(req.query.as_deref(), Some("a=b"));
        assert_eq!(req.headers.get(TOKEN_HEADER), Some("sentinel-token"));
        assert_eq!(
            format!("{req:?}"),
            "SimRequest { method: \"GET\", path: \"/x\", query: Some(\"a=b\"), headers: \
             {\"x-AWS-ec2-metadata-token\": ** redacted **, \"Accept\": \"*/*\"}, body: <0 bytes> }"
        );
    }

    #[test]
    fn reply_debug_hides_the_body() {
        let reply = SimReply::Respond {
            status: 200,
            headers: [("Content-Type", "text/plain")].into_iter().collect(),
            body: b"sentinel-secret".to_vec(),
            delay: None,
        };
        let debug = format!("{reply:?}");
        assert_eq!(
            debug,
            "Respond { status: 200, headers: {\"Content-Type\": \"text/plain\"}, body: <15 bytes>, \
             delay: None }"
        );
        assert_eq!(format!("{:?}", SimReply::Drop), "Drop");
        assert_eq!(SimReply::Reset.outcome(), "reset");
    }
}
