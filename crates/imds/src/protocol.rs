//! The protocol's vocabulary: paths, headers, limits, methods and request kinds. Depends on
//! nothing else in this crate.

use core::fmt;

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
