//! The pure codec: IMDS requests as values, IMDS replies into typed values. No IO here.
//!
//! - **Requests**: [`token_request`], [`role_listing_request`] and [`credentials_request`] build
//!   an [`HttpRequest`] (method, URL, headers) that any transport can send;
//!   [`instance_profile_info_request`] too (for diagnosis: the session never sends it).
//! - **Replies**: [`parse_token`], [`parse_token_ttl`], [`parse_role_listing`] and
//!   [`parse_credentials`] turn a reply body into an [`ImdsToken`], a [`RoleName`] or
//!   [`Credentials`], or a typed [`ParseError`]. What an HTTP *status* means (retry, fall back,
//!   give up) is the session's business ([`crate::Exchange`]), not the codec's.
//!
//! # What is accepted
//!
//! Strict where a mistake would matter, lenient where emulators differ:
//!
//! - Every body is at most [`MAX_BODY_LEN`] bytes and valid UTF-8. A leading UTF-8 byte order
//!   mark is skipped (RFC 8259 allows a parser to ignore it).
//! - **Token**: the body, trimmed of surrounding whitespace, 1 to [`ImdsToken::MAX_LEN`] visible
//!   ASCII characters (it becomes a header value). The TTL echoed in
//!   `X-aws-ec2-metadata-token-ttl-seconds` is used when it is an integer in 1..=the TTL asked
//!   for; otherwise (emulators omit it) the TTL asked for is used.
//! - **Role listing**: the first non-empty line, trimmed, validated by [`RoleName::new`] (no `/`,
//!   no whitespace or control character, at most 128 characters), and neither `.` nor `..`
//!   (which would change the path it is used in). An empty listing is [`ParseError::EmptyRoleListing`].
//! - **Credentials**: a JSON object. `AccessKeyId`, `SecretAccessKey`, `Token` and `Expiration`
//!   are required, must be strings and non-empty (`null` counts as missing); the key id and
//!   both secrets must be visible ASCII. `Code`, when present, must be `Success`; a reply
//!   *without* `Code` but with every required field is accepted, because popular emulators omit
//!   it. `Expiration` and `LastUpdated` are RFC 3339 timestamps, with or without fractional
//!   seconds; **any UTC offset is accepted and converted to UTC** (an offset is unambiguous, so
//!   nothing is lost; IMDS itself always writes `Z`). Fractions below a millisecond are
//!   truncated, which can only make the expiry earlier. `AccountId`, `LastUpdated` and `Type` are
//!   kept when present (empty or `null` counts as absent); unknown fields are ignored; a field
//!   given twice is an error.
//! - **Instance-profile info** ([`parse_instance_profile_info`]): a JSON object with
//!   `InstanceProfileArn` and `InstanceProfileId` (required, non-empty strings without control
//!   characters), `LastUpdated` (optional, RFC 3339) and `Code` (when present, `Success`). It
//!   holds no secret, so it is read as plain JSON (a repeated field: the last one counts).
//! - **Expired credentials parse fine.** Whether they are still usable depends on the time they
//!   are judged at, which is the core's business (`credcycle-core` rejects already-expired
//!   answers as a failure, INV-1); the codec has no clock.
//!
//! # Secrets
//!
//! Error messages never contain a secret or a raw body: they give the status, the body length,
//! the field name and, for JSON syntax errors, the line and column. The JSON is read by a visitor
//! that moves each string straight into a [`Zeroizing`] buffer, and the two secrets are moved
//! from there into [`SecretAccessKey`] and [`SessionToken`] without a copy. The limits are
//! those of any zeroizing scheme (see `docs/secrets.md`): the HTTP library's buffers and
//! `serde_json`'s scratch buffer for escaped strings are not under our control.

use core::fmt;
use core::time::Duration;

use credcycle_core::{
    AccessKeyId, Credentials, InvalidRoleName, RoleName, SecretAccessKey, SessionToken, WallTime,
};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use crate::config::Endpoint;
use crate::container::{AuthorizationToken, ContainerEndpoint};
use crate::token::ImdsToken;

/// The largest reply body accepted, in bytes (64 KiB). Transports stop reading at one byte more
/// and report [`TransportError::BodyTooLarge`](crate::TransportError::BodyTooLarge).
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// The longest token TTL IMDS grants, in seconds (six hours).
pub const MAX_TOKEN_TTL_SECS: u32 = 21_600;

/// The path of the session-token request (`PUT`).
pub const TOKEN_PATH: &str = "/latest/api/token";

/// The path that lists the instance profile's role; the credentials path is this plus the role.
pub const ROLE_LISTING_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// The path of the instance-profile information (`InstanceProfileArn`, `InstanceProfileId`).
pub const INSTANCE_PROFILE_INFO_PATH: &str = "/latest/meta-data/iam/info";

/// The prefix of the extended credentials path (adds `AccountId`; found in SDK code, not in the
/// EC2 documentation, and not served by every instance).
pub const EXTENDED_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials-extended/";

/// The request header carrying the session token (a secret).
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

/// The header carrying the token TTL in seconds: asked for in the `PUT`, echoed in its reply.
pub const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";

/// The request header carrying a container-credentials endpoint's authorization token (a
/// secret).
pub const AUTHORIZATION_HEADER: &str = "Authorization";

/// The HTTP method of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: every metadata read.
    Get,
    /// `PUT`: the session-token request.
    Put,
}

impl Method {
    /// The method as it is written on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a request asks IMDS for. Used in error messages and request counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `PUT /latest/api/token`.
    Token,
    /// `GET /latest/meta-data/iam/security-credentials/`.
    RoleListing,
    /// `GET /latest/meta-data/iam/security-credentials/<role>`.
    Credentials,
    /// `GET /latest/meta-data/iam/security-credentials-extended/<role>`.
    ExtendedCredentials,
    /// `GET` of a container-credentials endpoint (ECS, EKS Pod Identity; see
    /// [`container`](crate::container)).
    ContainerCredentials,
    /// `GET /latest/meta-data/iam/info`: sent only to diagnose (`credcycle doctor`), never by
    /// a [`Session`](crate::Session), so it is not in [`ALL`](Self::ALL) and never counted.
    InstanceProfileInfo,
}

impl RequestKind {
    /// Every kind a client sends in a lifecycle, in protocol order.
    pub const ALL: [Self; 5] = [
        Self::Token,
        Self::RoleListing,
        Self::Credentials,
        Self::ExtendedCredentials,
        Self::ContainerCredentials,
    ];
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Token => "the token request",
            Self::RoleListing => "the role listing",
            Self::Credentials => "the credentials request",
            Self::ExtendedCredentials => "the extended credentials request",
            Self::ContainerCredentials => "the container credentials request",
            Self::InstanceProfileInfo => "the instance-profile info request",
        })
    }
}

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
    fn new(endpoint: &Endpoint, kind: RequestKind, method: Method, path: &str) -> Self {
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

    fn with_token(mut self, token: Option<&ImdsToken>) -> Self {
        self.token = token.cloned();
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

/// One HTTP reply from IMDS: status, headers and body (at most [`MAX_BODY_LEN`] bytes when a
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

/// `PUT /latest/api/token` asking for a token that lives `ttl_secs` seconds.
///
/// The codec sends whatever TTL it is given (IMDS answers 400 outside 1..=21600);
/// [`ImdsConfig`](crate::ImdsConfig) only lets valid values through.
#[must_use]
pub fn token_request(endpoint: &Endpoint, ttl_secs: u32) -> HttpRequest {
    let mut request = HttpRequest::new(endpoint, RequestKind::Token, Method::Put, TOKEN_PATH);
    request.ttl_secs = Some(ttl_secs);
    request.ttl_text = Some(ttl_secs.to_string());
    request
}

/// `GET /latest/meta-data/iam/security-credentials/`, with the session token when there is one
/// (`None` is an IMDSv1 request).
#[must_use]
pub fn role_listing_request(endpoint: &Endpoint, token: Option<&ImdsToken>) -> HttpRequest {
    HttpRequest::new(
        endpoint,
        RequestKind::RoleListing,
        Method::Get,
        ROLE_LISTING_PATH,
    )
    .with_token(token)
}

/// `GET /latest/meta-data/iam/security-credentials/<role>` (or the `-extended` path when
/// `extended`), with the session token when there is one.
///
/// The role name is percent-encoded outside the characters IAM allows in names
/// (`A-Z a-z 0-9 + = , . @ _ -`), so that no name can add a query or a fragment to the path.
#[must_use]
pub fn credentials_request(
    endpoint: &Endpoint,
    role: &RoleName,
    extended: bool,
    token: Option<&ImdsToken>,
) -> HttpRequest {
    let (kind, prefix) = if extended {
        (RequestKind::ExtendedCredentials, EXTENDED_CREDENTIALS_PATH)
    } else {
        (RequestKind::Credentials, ROLE_LISTING_PATH)
    };
    let path = format!("{prefix}{}", PathSegment(role.as_str()));
    HttpRequest::new(endpoint, kind, Method::Get, &path).with_token(token)
}

/// `GET` of a container-credentials endpoint, with `Authorization: <token>` when there is one
/// (the token verbatim, as every SDK sends it: no `Bearer` prefix is added).
///
/// ```
/// use credcycle_imds::codec;
/// use credcycle_imds::container::{AuthorizationToken, ContainerEndpoint};
///
/// let endpoint = ContainerEndpoint::relative("/v2/credentials/task-1")?;
/// let token = AuthorizationToken::new("sentinel".to_owned(), "a test")?;
/// let get = codec::container_credentials_request(&endpoint, Some(&token));
/// assert_eq!(get.url(), "http://169.254.170.2/v2/credentials/task-1");
/// assert_eq!(get.path(), "/v2/credentials/task-1");
/// assert_eq!(get.expose_headers(), [("Authorization", "sentinel")]);
/// assert!(!format!("{get:?}").contains("sentinel"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn container_credentials_request(
    endpoint: &ContainerEndpoint,
    authorization: Option<&AuthorizationToken>,
) -> HttpRequest {
    HttpRequest {
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

/// `GET /latest/meta-data/iam/info`, with the session token when there is one.
///
/// ```
/// use credcycle_imds::Endpoint;
/// use credcycle_imds::codec::instance_profile_info_request;
///
/// let get = instance_profile_info_request(&Endpoint::IPV4, None);
/// assert_eq!(get.url(), "http://169.254.169.254/latest/meta-data/iam/info");
/// ```
#[must_use]
pub fn instance_profile_info_request(
    endpoint: &Endpoint,
    token: Option<&ImdsToken>,
) -> HttpRequest {
    HttpRequest::new(
        endpoint,
        RequestKind::InstanceProfileInfo,
        Method::Get,
        INSTANCE_PROFILE_INFO_PATH,
    )
    .with_token(token)
}

/// What IMDS says about the instance profile (`/latest/meta-data/iam/info`). No secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceProfileInfo {
    /// `InstanceProfileArn`, e.g. `arn:aws:iam::123456789012:instance-profile/web`.
    pub arn: String,
    /// `InstanceProfileId`, e.g. `AIPAEXAMPLE`.
    pub id: String,
    /// `LastUpdated`, when present.
    pub last_updated: Option<WallTime>,
}

/// Parses the body of `/latest/meta-data/iam/info` (the rules are in the [module docs](self)).
///
/// ```
/// use credcycle_imds::codec::parse_instance_profile_info;
///
/// let info = parse_instance_profile_info(br#"{
///   "Code" : "Success",
///   "LastUpdated" : "2026-11-28T04:41:11Z",
///   "InstanceProfileArn" : "arn:aws:iam::123456789012:instance-profile/web",
///   "InstanceProfileId" : "AIPAEXAMPLE"
/// }"#)?;
/// assert_eq!(info.arn, "arn:aws:iam::123456789012:instance-profile/web");
/// assert_eq!(info.id, "AIPAEXAMPLE");
/// # Ok::<(), credcycle_imds::ParseError>(())
/// ```
///
/// # Errors
///
/// A [`ParseError`] naming what is wrong.
pub fn parse_instance_profile_info(body: &[u8]) -> Result<InstanceProfileInfo, ParseError> {
    let text = text(body)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| json_error(&e, body.len()))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ParseError::NotAnObject {
            found: json_kind(&value),
        });
    };
    let field = |name: &'static str| -> Result<Option<&str>, ParseError> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(ParseError::WrongType {
                field: name,
                found: json_kind(other),
            }),
        }
    };
    if let Some(code) = field("Code")?
        && code != "Success"
    {
        return Err(ParseError::NotSuccess {
            code: sanitize(code, 64),
            message: sanitize(field("Message")?.unwrap_or_default(), 256),
        });
    }
    let required = |name: &'static str| -> Result<String, ParseError> {
        let value = field(name)?.ok_or(ParseError::MissingField { field: name })?;
        if value.is_empty() {
            return Err(ParseError::EmptyField { field: name });
        }
        if value.len() > 2048 || value.chars().any(char::is_control) {
            return Err(ParseError::InvalidText { field: name });
        }
        Ok(value.to_owned())
    };
    let arn = required("InstanceProfileArn")?;
    let id = required("InstanceProfileId")?;
    let last_updated = field("LastUpdated")?
        .filter(|t| !t.is_empty())
        .map(|t| timestamp(Field::LastUpdated, t))
        .transpose()?;
    Ok(InstanceProfileInfo {
        arn,
        id,
        last_updated,
    })
}

/// What a JSON value is, in words, for error messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Writes a path segment, percent-encoding every byte outside IAM's name characters.
struct PathSegment<'a>(&'a str);

impl fmt::Display for PathSegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || b"+=,.@_-".contains(&byte) {
                fmt::Write::write_char(f, char::from(byte))?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// Why a reply body could not be read as what was asked for.
///
/// Messages never contain a secret or the body: they name the field, the length, or the line
/// and column of a JSON syntax error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is larger than [`MAX_BODY_LEN`].
    #[error("reply body is {len} bytes, over the limit of {MAX_BODY_LEN}")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
    },
    /// The body is not valid UTF-8.
    #[error("reply body is not UTF-8 (invalid byte at offset {valid_up_to} of {len})")]
    NotUtf8 {
        /// The length of the valid prefix.
        valid_up_to: usize,
        /// The body's length.
        len: usize,
    },
    /// The token reply is empty (after trimming whitespace).
    #[error("token reply is empty")]
    EmptyToken,
    /// The token is too long or holds something other than visible ASCII.
    #[error(
        "token reply is not a valid header value ({len} bytes; expected at most 4096 visible ASCII characters)"
    )]
    InvalidToken {
        /// The token's length in bytes.
        len: usize,
    },
    /// The role listing has no non-empty line.
    #[error("role listing is empty")]
    EmptyRoleListing,
    /// The role listing names something that is not a valid role name.
    #[error("role listing names an invalid role: {0}")]
    InvalidRoleName(InvalidRoleName),
    /// The role listing names `.` or `..`, which are path segments, not roles.
    #[error("role listing names a dot segment ('.' or '..'), not a role")]
    DotRoleName,
    /// The credentials reply is not valid JSON.
    #[error("reply is not valid JSON: {category} at line {line}, column {column} ({len} bytes)")]
    Json {
        /// What went wrong.
        category: JsonErrorCategory,
        /// The line of the error (1-based).
        line: usize,
        /// The column of the error (1-based).
        column: usize,
        /// The body's length.
        len: usize,
    },
    /// The credentials reply is JSON but not an object.
    #[error("reply JSON is {found}, not an object")]
    NotAnObject {
        /// What it is instead (`"an array"`, `"a string"`...).
        found: &'static str,
    },
    /// A field appears more than once in the object.
    #[error("field {field} appears more than once")]
    DuplicateField {
        /// The field.
        field: &'static str,
    },
    /// A field is not a string.
    #[error("field {field} is {found}, expected a string")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it is instead (`"a number"`, `"an object"`...).
        found: &'static str,
    },
    /// A required field is missing or `null`.
    #[error("required field {field} is missing or null")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A required field is the empty string.
    #[error("required field {field} is empty")]
    EmptyField {
        /// The field.
        field: &'static str,
    },
    /// A field holds characters it may not (control characters, or anything but visible ASCII
    /// in keys and secrets), or is too long.
    #[error("field {field} holds characters it may not, or is too long")]
    InvalidText {
        /// The field.
        field: &'static str,
    },
    /// A timestamp field is not RFC 3339.
    #[error("field {field} is not an RFC 3339 timestamp: {value:?}")]
    BadTimestamp {
        /// The field (`Expiration` or `LastUpdated`).
        field: &'static str,
        /// The value, shortened to 64 characters with control characters replaced (a timestamp
        /// is not a secret).
        value: String,
    },
    /// The reply's `Code` is not `Success`.
    #[error(
        "IMDS answered Code {code:?} instead of Success: {message}{}",
        not_success_hint(code)
    )]
    NotSuccess {
        /// The `Code`, shortened to 64 characters with control characters replaced.
        code: String,
        /// The `Message`, shortened to 256 characters with control characters replaced (empty
        /// when absent).
        message: String,
    },
}

impl From<InvalidRoleName> for ParseError {
    fn from(e: InvalidRoleName) -> Self {
        Self::InvalidRoleName(e)
    }
}

/// The kind of a JSON error, from `serde_json`'s classification (its messages are not used:
/// some of them quote the offending value, which could be a secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonErrorCategory {
    /// Not syntactically valid JSON (trailing characters included).
    Syntax,
    /// The body ends in the middle of a value (truncated).
    Eof,
    /// Valid JSON with an unexpected shape.
    Data,
}

impl fmt::Display for JsonErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Syntax => "syntax error",
            Self::Eof => "unexpected end of input",
            Self::Data => "unexpected data",
        })
    }
}

/// The extra advice for a `Code` that has a well-known cause.
pub(crate) fn not_success_hint(code: &str) -> &'static str {
    match code {
        "AssumeRoleUnauthorizedAccess" => {
            " (EC2 could not assume the role: its trust policy must allow the service principal \
             ec2.amazonaws.com to call sts:AssumeRole)"
        }
        _ => "",
    }
}

/// Reads the session token from the body of a 200 reply to the token request.
///
/// # Errors
///
/// [`ParseError::BodyTooLarge`], [`ParseError::NotUtf8`], [`ParseError::EmptyToken`] or
/// [`ParseError::InvalidToken`].
pub fn parse_token(body: &[u8]) -> Result<ImdsToken, ParseError> {
    let text = text(body)?;
    ImdsToken::new(text.trim().to_owned())
}

/// The token's lifetime: the TTL IMDS echoed in `X-aws-ec2-metadata-token-ttl-seconds` when it
/// is an integer in `1..=requested`, else the `requested` TTL (emulators omit the echo; a
/// token never lives longer than asked for).
///
/// ```
/// use credcycle_imds::codec::parse_token_ttl;
///
/// assert_eq!(parse_token_ttl(Some("300"), 21_600), 300);
/// assert_eq!(parse_token_ttl(None, 21_600), 21_600);
/// assert_eq!(parse_token_ttl(Some("soon"), 21_600), 21_600);
/// assert_eq!(parse_token_ttl(Some("0"), 600), 600);
/// assert_eq!(parse_token_ttl(Some("99999"), 600), 600);
/// ```
#[must_use]
pub fn parse_token_ttl(echo: Option<&str>, requested: u32) -> u32 {
    echo.and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|ttl| (1..=requested).contains(ttl))
        .unwrap_or(requested)
}

/// Reads the role name from the body of a 200 reply to the role listing.
///
/// # Errors
///
/// [`ParseError::BodyTooLarge`], [`ParseError::NotUtf8`], [`ParseError::EmptyRoleListing`],
/// [`ParseError::InvalidRoleName`] or [`ParseError::DotRoleName`].
pub fn parse_role_listing(body: &[u8]) -> Result<RoleName, ParseError> {
    let text = text(body)?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .ok_or(ParseError::EmptyRoleListing)?;
    if line == "." || line == ".." {
        return Err(ParseError::DotRoleName);
    }
    Ok(RoleName::new(line)?)
}

/// Reads credentials from the body of a 200 reply to a credentials request (classic or
/// extended path).
///
/// ```
/// use credcycle_imds::codec::parse_credentials;
/// use credcycle_core::WallTime;
///
/// let body = br#"{
///   "Code" : "Success",
///   "LastUpdated" : "2026-11-28T04:41:11Z",
///   "Type" : "AWS-HMAC",
///   "AccessKeyId" : "ASIAEXAMPLE",
///   "SecretAccessKey" : "secret",
///   "Token" : "token",
///   "Expiration" : "2026-11-28T10:41:11Z"
/// }"#;
/// let creds = parse_credentials(body)?;
/// assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
/// assert_eq!(creds.expiration(), WallTime::from_unix_secs(1_795_862_471));
/// assert_eq!(creds.kind(), Some("AWS-HMAC"));
/// # Ok::<(), credcycle_imds::ParseError>(())
/// ```
///
/// # Errors
///
/// A [`ParseError`] naming what is wrong (see the [module docs](self) for the rules), including
/// [`ParseError::NotSuccess`] when `Code` is not `Success`.
pub fn parse_credentials(body: &[u8]) -> Result<Credentials, ParseError> {
    let text = text(body)?;
    let mut wire: Wire = serde_json::from_str(text).map_err(|e| json_error(&e, body.len()))?;
    if let Some(found) = wire.not_object {
        return Err(ParseError::NotAnObject { found });
    }
    if let Some(field) = wire.duplicate {
        return Err(ParseError::DuplicateField { field });
    }
    for (i, value) in wire.fields.iter().enumerate() {
        if let FieldValue::Other(found) = value {
            return Err(ParseError::WrongType {
                field: FIELDS[i],
                found,
            });
        }
    }
    if let Some(code) = wire.text(Field::Code)
        && code != "Success"
    {
        return Err(ParseError::NotSuccess {
            code: sanitize(code, 64),
            message: sanitize(wire.text(Field::Message).unwrap_or_default(), 256),
        });
    }
    let access_key_id = wire.take_required(Field::AccessKeyId)?;
    let secret = wire.take_required(Field::SecretAccessKey)?;
    let token = wire.take_required(Field::Token)?;
    let expiration = wire.take_required(Field::Expiration)?;
    if access_key_id.len() > 128 || !is_visible_ascii(&access_key_id) {
        return Err(ParseError::InvalidText {
            field: Field::AccessKeyId.name(),
        });
    }
    for (field, value) in [(Field::SecretAccessKey, &secret), (Field::Token, &token)] {
        if !is_visible_ascii(value) {
            return Err(ParseError::InvalidText {
                field: field.name(),
            });
        }
    }
    let expiration = timestamp(Field::Expiration, &expiration)?;
    let last_updated = wire
        .take_optional(Field::LastUpdated)
        .map(|t| timestamp(Field::LastUpdated, &t))
        .transpose()?;
    let account_id = wire.take_label(Field::AccountId)?;
    let kind = wire.take_label(Field::Type)?;

    let mut creds = Credentials::new(
        AccessKeyId::new(take_string(access_key_id)),
        SecretAccessKey::new(take_string(secret)),
        SessionToken::new(take_string(token)),
        expiration,
    );
    if let Some(account_id) = account_id {
        creds = creds.with_account_id(account_id);
    }
    if let Some(last_updated) = last_updated {
        creds = creds.with_last_updated(last_updated);
    }
    if let Some(kind) = kind {
        creds = creds.with_kind(kind);
    }
    Ok(creds)
}

/// The body as text: size and UTF-8 checked, a leading byte order mark skipped.
fn text(body: &[u8]) -> Result<&str, ParseError> {
    if body.len() > MAX_BODY_LEN {
        return Err(ParseError::BodyTooLarge { len: body.len() });
    }
    let text = core::str::from_utf8(body).map_err(|e| ParseError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
        len: body.len(),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

fn json_error(e: &serde_json::Error, len: usize) -> ParseError {
    let category = match e.classify() {
        serde_json::error::Category::Eof => JsonErrorCategory::Eof,
        serde_json::error::Category::Data => JsonErrorCategory::Data,
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            JsonErrorCategory::Syntax
        }
    };
    ParseError::Json {
        category,
        line: e.line(),
        column: e.column(),
        len,
    }
}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// `s` with control characters replaced by `?`, cut to `max` characters (plus `...`).
pub(crate) fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

fn timestamp(field: Field, value: &str) -> Result<WallTime, ParseError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|dt| WallTime::from(dt.with_timezone(&chrono::Utc)))
        .map_err(|_| ParseError::BadTimestamp {
            field: field.name(),
            value: sanitize(value, 64),
        })
}

/// Moves a string out of its zeroizing buffer without copying it (the buffer is left empty).
fn take_string(mut value: Zeroizing<String>) -> String {
    core::mem::take(&mut *value)
}

/// The fields of a credentials reply that the codec reads, in check order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Code,
    Message,
    LastUpdated,
    Type,
    AccessKeyId,
    SecretAccessKey,
    Token,
    Expiration,
    AccountId,
}

/// The JSON names of [`Field`], indexed by `Field as usize`.
const FIELDS: [&str; 9] = [
    "Code",
    "Message",
    "LastUpdated",
    "Type",
    "AccessKeyId",
    "SecretAccessKey",
    "Token",
    "Expiration",
    "AccountId",
];

const ALL_FIELDS: [Field; 9] = [
    Field::Code,
    Field::Message,
    Field::LastUpdated,
    Field::Type,
    Field::AccessKeyId,
    Field::SecretAccessKey,
    Field::Token,
    Field::Expiration,
    Field::AccountId,
];

impl Field {
    fn name(self) -> &'static str {
        FIELDS[self as usize]
    }

    fn from_name(name: &str) -> Option<Self> {
        ALL_FIELDS.into_iter().find(|f| f.name() == name)
    }
}

/// One field's value as read from the JSON.
#[derive(Default)]
enum FieldValue {
    /// Not in the object.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A string, moved straight into a zeroizing buffer.
    Text(Zeroizing<String>),
    /// Anything else: what it was, for the error message.
    Other(&'static str),
}

/// A credentials reply as read from JSON, before validation: every known field, plus what was
/// wrong at the JSON level. Holds no copy of anything but the known fields.
#[derive(Default)]
struct Wire {
    fields: [FieldValue; 9],
    duplicate: Option<&'static str>,
    not_object: Option<&'static str>,
}

impl Wire {
    fn text(&self, field: Field) -> Option<&str> {
        match &self.fields[field as usize] {
            FieldValue::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn take(&mut self, field: Field) -> Option<Zeroizing<String>> {
        match core::mem::take(&mut self.fields[field as usize]) {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    fn take_required(&mut self, field: Field) -> Result<Zeroizing<String>, ParseError> {
        let value = self.take(field).ok_or(ParseError::MissingField {
            field: field.name(),
        })?;
        if value.trim().is_empty() {
            return Err(ParseError::EmptyField {
                field: field.name(),
            });
        }
        Ok(value)
    }

    /// An optional field: absent, `null` and empty all count as absent.
    fn take_optional(&mut self, field: Field) -> Option<Zeroizing<String>> {
        self.take(field).filter(|v| !v.trim().is_empty())
    }

    /// An optional, non-secret label (`AccountId`, `Type`): at most 128 characters, no control
    /// characters.
    fn take_label(&mut self, field: Field) -> Result<Option<String>, ParseError> {
        let Some(value) = self.take_optional(field) else {
            return Ok(None);
        };
        if value.chars().count() > 128 || value.chars().any(char::is_control) {
            return Err(ParseError::InvalidText {
                field: field.name(),
            });
        }
        Ok(Some(value.trim().to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Wire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireVisitor)
    }
}

struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire, A::Error> {
        let mut wire = Wire::default();
        while let Some(key) = map.next_key::<Key>()? {
            let Key(Some(field)) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value::<FieldValue>()?;
            let slot = &mut wire.fields[field as usize];
            if !matches!(slot, FieldValue::Absent) {
                wire.duplicate.get_or_insert(field.name());
            }
            *slot = value;
        }
        Ok(wire)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Wire, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Wire::not_object("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Wire, E> {
        Ok(Wire::not_object("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Wire, E> {
        Ok(Wire::not_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Wire, E> {
        Ok(Wire::not_object("null"))
    }
}

impl Wire {
    fn not_object(found: &'static str) -> Self {
        Self {
            not_object: Some(found),
            ..Self::default()
        }
    }
}

/// An object key: one of the known fields, or `None` for a field to ignore.
struct Key(Option<Field>);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(Key(Field::from_name(name)))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(Zeroizing::new(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other("an object"))
    }
}

/// A duration for error messages: `1s`, `1.5s`, `250ms`.
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            let text = format!("{}.{:03}", ms / 1000, ms % 1000);
            write!(f, "{}s", text.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests;
