//! The requests, as values any transport can send.

use core::fmt;

use credcycle_core::RoleName;

use crate::endpoint::{ContainerEndpoint, Endpoint};
use crate::http::HttpRequest;
use crate::protocol::{
    EXTENDED_CREDENTIALS_PATH, INSTANCE_PROFILE_INFO_PATH, Method, ROLE_LISTING_PATH, RequestKind,
    TOKEN_PATH,
};
use crate::token::{AuthorizationToken, ImdsToken};

/// `PUT /latest/api/token` asking for a token that lives `ttl_secs` seconds.
///
/// The codec sends whatever TTL it is given (IMDS answers 400 outside 1..=21600);
/// [`ImdsConfig`](crate::ImdsConfig) only lets valid values through.
#[must_use]
pub fn token_request(endpoint: &Endpoint, ttl_secs: u32) -> HttpRequest {
    HttpRequest::new(endpoint, RequestKind::Token, Method::Put, TOKEN_PATH).with_ttl(ttl_secs)
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
    HttpRequest::container(endpoint, authorization)
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
