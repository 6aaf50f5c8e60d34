//! Where requests go: an IMDS [`Endpoint`], and a container-credentials endpoint
//! ([`ContainerEndpoint`]) checked against the hosts the SDKs allow.

use core::fmt;
use core::str::FromStr;
use std::borrow::Cow;

use crate::message::sanitize;

/// `Debug` and `Display` of a checked URL type: its text (`Display` honours width and
/// alignment).
macro_rules! fmt_as_url {
    ($url:ty) => {
        impl fmt::Debug for $url {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $url {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

mod container;
pub use container::{ContainerEndpoint, ECS_BASE, UriProblem};

/// An IMDS endpoint: `http://` and a host, with an optional port, and nothing else.
///
/// IMDS speaks plain HTTP on a link-local address, so `https`, a path, a query, a fragment and
/// user info are all refused; one trailing `/` is allowed and dropped.
///
/// ```
/// use credcycle_imds::Endpoint;
///
/// assert_eq!(Endpoint::parse("HTTP://LocalHost:1338/")?.as_str(), "http://localhost:1338");
/// assert_eq!(Endpoint::parse("http://[fd00:ec2::254]")?, Endpoint::IPV6);
/// assert!(Endpoint::parse("https://169.254.169.254").is_err());
/// assert!(Endpoint::parse("http://169.254.169.254/latest").is_err());
/// # Ok::<(), credcycle_imds::EndpointError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(Cow<'static, str>);

impl Endpoint {
    /// The IPv4 endpoint, `http://169.254.169.254`.
    pub const IPV4: Self = Self(Cow::Borrowed("http://169.254.169.254"));
    /// The IPv6 endpoint, `http://[fd00:ec2::254]` (Nitro instances with IPv6 IMDS enabled).
    pub const IPV6: Self = Self(Cow::Borrowed("http://[fd00:ec2::254]"));

    /// Validates an endpoint URL and normalizes it (lowercase scheme and host, no trailing `/`).
    ///
    /// # Errors
    ///
    /// An [`EndpointError`] naming what is wrong.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(EndpointError::NoScheme);
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(EndpointError::NotHttp {
                scheme: sanitize(scheme, 16),
            });
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['?', '#']) {
            return Err(EndpointError::QueryOrFragment);
        }
        if authority.contains('/') {
            return Err(EndpointError::Path);
        }
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let host = host.to_ascii_lowercase();
        Ok(Self(Cow::Owned(match port {
            Some(port) => format!("http://{host}:{port}"),
            None => format!("http://{host}"),
        })))
    }

    /// The endpoint as a URL without a trailing `/`, for example `http://169.254.169.254`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits `host[:port]` or `[v6]:port`, validating both.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), EndpointError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(EndpointError::BadHost)?;
        let valid = !inside.is_empty()
            && inside.contains(':')
            && inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(EndpointError::BadHost);
        }
        let host = authority
            .get(..inside.len() + 2)
            .ok_or(EndpointError::BadHost)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(EndpointError::BadHost)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(EndpointError::NoHost);
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(EndpointError::BadHost);
    }
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
            _ => Err(EndpointError::BadPort),
        })
        .transpose()?;
    Ok((host, port))
}

fmt_as_url!(Endpoint);

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a text is not a valid [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://`.
    #[error("endpoint must start with http://")]
    NoScheme,
    /// A scheme other than `http`.
    #[error("endpoint scheme must be http (IMDS speaks plain HTTP), not {scheme:?}")]
    NotHttp {
        /// The scheme given.
        scheme: String,
    },
    /// Nothing between `http://` and the port.
    #[error("endpoint has no host")]
    NoHost,
    /// The host holds characters a host name or an IP address cannot.
    #[error("endpoint host is not a host name, an IPv4 address or a bracketed IPv6 address")]
    BadHost,
    /// The port is not a number from 1 to 65535.
    #[error("endpoint port must be a number from 1 to 65535")]
    BadPort,
    /// A path after the host (only one trailing `/` is allowed).
    #[error("endpoint must not have a path (the client adds /latest/...)")]
    Path,
    /// A query or a fragment.
    #[error("endpoint must not have a query or a fragment")]
    QueryOrFragment,
    /// `user@` before the host.
    #[error("endpoint must not have user info")]
    UserInfo,
}
