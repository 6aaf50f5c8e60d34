//! The container-credentials endpoint: `http` to an allowed host, or `https`.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::message::sanitize;

/// The host a relative URI is resolved against.
pub const ECS_BASE: &str = "http://169.254.170.2";

/// A validated container-credentials URL: `http` (to an allowed host) or `https`, with a host,
/// and no user info.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContainerEndpoint {
    url: String,
    path_start: usize,
    host: String,
    https: bool,
}

impl ContainerEndpoint {
    /// `path` resolved against `http://169.254.170.2` (the SDKs'
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`).
    ///
    /// ```
    /// use credcycle_imds::container::ContainerEndpoint;
    ///
    /// let e = ContainerEndpoint::relative("/v2/credentials/3f7c?x=1")?;
    /// assert_eq!(e.as_str(), "http://169.254.170.2/v2/credentials/3f7c?x=1");
    /// assert!(ContainerEndpoint::relative("@evil.example/x").is_err());
    /// # Ok::<(), credcycle_imds::container::UriProblem>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`UriProblem`] when `path` does not start with `/` (it could otherwise change the
    /// host) or does not make a valid URL.
    pub fn relative(path: &str) -> Result<Self, UriProblem> {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(UriProblem::NotAPath);
        }
        let endpoint = Self::parse(&format!("{ECS_BASE}{path}"))?;
        if endpoint.host != "169.254.170.2" {
            return Err(UriProblem::NotAPath);
        }
        Ok(endpoint)
    }

    /// A full URL (the SDKs' `AWS_CONTAINER_CREDENTIALS_FULL_URI`), checked against the allowed
    /// hosts (see the [module docs](crate::container)).
    ///
    /// ```
    /// use credcycle_imds::container::{ContainerEndpoint, UriProblem};
    ///
    /// for ok in ["http://127.0.0.1:8080/creds", "http://localhost/x", "http://[::1]/x",
    ///            "http://169.254.170.2/v2/credentials/1", "http://169.254.170.23/v1/credentials",
    ///            "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x"] {
    ///     assert!(ContainerEndpoint::full(ok).is_ok(), "{ok}");
    /// }
    /// assert!(matches!(
    ///     ContainerEndpoint::full("http://10.0.0.1/"),
    ///     Err(UriProblem::HostNotAllowed { host }) if host == "10.0.0.1"
    /// ));
    /// # Ok::<(), UriProblem>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`UriProblem`] naming what is wrong.
    pub fn full(uri: &str) -> Result<Self, UriProblem> {
        let endpoint = Self::parse(uri)?;
        if !endpoint.https && !endpoint.host_allowed_over_http() {
            return Err(UriProblem::HostNotAllowed {
                host: endpoint.host,
            });
        }
        Ok(endpoint)
    }

    fn parse(text: &str) -> Result<Self, UriProblem> {
        let url = url::Url::parse(text.trim()).map_err(|e| UriProblem::Invalid {
            reason: e.to_string(),
        })?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(UriProblem::Scheme {
                    scheme: sanitize(other, 16),
                });
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UriProblem::UserInfo);
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(UriProblem::NoHost),
        };
        let text = url.as_str().to_owned();
        let path_start = text.len() - url[url::Position::BeforePath..].len();
        Ok(Self {
            url: text,
            path_start,
            host,
            https,
        })
    }

    /// Whether plain HTTP to this host is allowed: loopback, or one of the agents' addresses.
    fn host_allowed_over_http(&self) -> bool {
        const ECS: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
        const EKS: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
        const EKS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23);
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip == ECS || ip == EKS,
            Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip == EKS_V6,
            Err(_) => self.host == "localhost",
        }
    }

    /// The URL, normalized (lowercase scheme and host, IPv6 compressed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host: a name, an IPv4 address, or a bracketed IPv6 address.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the URL is `https`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Where the path starts in [`as_str`](Self::as_str).
    pub(crate) fn path_start(&self) -> usize {
        self.path_start
    }
}

fmt_as_url!(ContainerEndpoint);

/// Why a text is not a usable container-credentials URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriProblem {
    /// The URL does not parse.
    #[error("not a valid URL ({reason})")]
    Invalid {
        /// What the URL parser said (never the URL itself).
        reason: String,
    },
    /// A relative URI that is not a path.
    #[error("must be a path starting with a single /")]
    NotAPath,
    /// A scheme other than `http` or `https`.
    #[error("the scheme must be http or https, not {scheme:?}")]
    Scheme {
        /// The scheme given.
        scheme: String,
    },
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// `user:password@` before the host (it would be sent nowhere useful, and logged).
    #[error("the URL must not have user info")]
    UserInfo,
    /// Plain HTTP to a host outside the allowed ones.
    #[error(
        "plain http to {host} is allowed only for loopback (127.0.0.0/8, [::1], localhost), \
         169.254.170.2 (ECS), 169.254.170.23 or [fd00:ec2::23] (EKS Pod Identity); use https \
         for any other host"
    )]
    HostNotAllowed {
        /// The host refused, as parsed (an IPv6 address in brackets).
        host: String,
    },
}
