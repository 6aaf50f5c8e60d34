//! Credential values: the names that may be shown, and the secrets that may not.
//!
//! Secrets ([`SecretAccessKey`], [`SessionToken`]) are held in [`Zeroizing`] strings: they are
//! overwritten when dropped, their `Debug` prints a fixed redaction, they have no `Display` and no
//! `Serialize`, and the only way to read one is `expose_secret()`, which is easy to search for.
//!
//! The limits of zeroizing are real and documented in `docs/secrets.md`: an HTTP or JSON library
//! may have copied the bytes before they reach these types, and a `String` that grew may have left
//! an old buffer behind. What these types guarantee is that credcycle itself keeps no stray copy
//! and never prints one.
//!
//! The access key id is not a secret (AWS prints it in CloudTrail and in error messages), so
//! [`AccessKeyId`] and [`RoleName`] are plain values and may appear in the state machine's state.

use core::fmt;

use zeroize::Zeroizing;

use crate::time::WallTime;

/// The fixed text that stands in for a secret in `Debug` output.
pub const REDACTED: &str = "** redacted **";

/// An access key id, such as `ASIAEXAMPLE`. Not a secret: it may be logged (at debug level).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AccessKeyId(String);

impl AccessKeyId {
    /// Any text is accepted: IMDS's word is not checked here, only compared.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of the IAM role behind the instance profile, as IMDS lists it.
///
/// Validated on construction, because it becomes a path segment of the next request: 1 to 128
/// characters, no `/`, no whitespace, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RoleName(String);

/// Why a text is not a valid [`RoleName`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRoleName {
    /// The name is empty.
    #[error("role name is empty")]
    Empty,
    /// The name is longer than [`RoleName::MAX_LEN`] characters.
    #[error("role name is {len} characters long, more than the limit of 128")]
    TooLong {
        /// The length found, in characters.
        len: usize,
    },
    /// The name contains a `/`, which would change the path it is used in.
    #[error("role name contains '/'")]
    Slash,
    /// The name contains whitespace or a control character.
    #[error("role name contains whitespace or a control character")]
    Control,
}

impl RoleName {
    /// The longest name accepted, in characters (IAM instance-profile names are at most 128).
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps a role name.
    ///
    /// # Errors
    ///
    /// [`InvalidRoleName`] when the name is empty, too long, or contains `/`, whitespace or a
    /// control character.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidRoleName> {
        let name = name.into();
        let len = name.chars().count();
        if len == 0 {
            return Err(InvalidRoleName::Empty);
        }
        if len > Self::MAX_LEN {
            return Err(InvalidRoleName::TooLong { len });
        }
        if name.contains('/') {
            return Err(InvalidRoleName::Slash);
        }
        if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidRoleName::Control);
        }
        Ok(Self(name))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for RoleName {
    type Err = InvalidRoleName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for RoleName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Zeroized on drop; `Debug` prints a fixed redaction; no `Display`, no `Serialize`.
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret. The `String` is moved in, not copied.
            #[must_use]
            pub fn new(secret: String) -> Self {
                Self(Zeroizing::new(secret))
            }

            /// The secret itself. Every read of a secret goes through this one method.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), REDACTED)
            }
        }
    };
}

secret_string!(
    /// The secret half of an access key pair (IMDS's `SecretAccessKey`).
    SecretAccessKey
);
secret_string!(
    /// The session token of temporary credentials (IMDS's `Token`, the SDKs' `SessionToken`).
    SessionToken
);

/// One set of temporary credentials, as IMDS hands them out.
///
/// `Debug` shows the access key id, expiry and metadata and redacts both secrets. The state
/// machine never stores this type: it keeps only the access key id and the expiry, and
/// [`Machine`](crate::Machine) keeps the payload beside the state.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: AccessKeyId,
    secret_access_key: SecretAccessKey,
    session_token: SessionToken,
    expiration: WallTime,
    account_id: Option<String>,
    last_updated: Option<WallTime>,
    kind: Option<String>,
}

impl Credentials {
    /// A credential set with the four fields every IMDS reply has.
    #[must_use]
    pub fn new(
        access_key_id: AccessKeyId,
        secret_access_key: SecretAccessKey,
        session_token: SessionToken,
        expiration: WallTime,
    ) -> Self {
        Self {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
            account_id: None,
            last_updated: None,
            kind: None,
        }
    }

    /// Sets the AWS account id (IMDS's extended path and container endpoints give it).
    #[must_use]
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Sets when IMDS last updated the credentials (`LastUpdated`).
    #[must_use]
    pub fn with_last_updated(mut self, last_updated: WallTime) -> Self {
        self.last_updated = Some(last_updated);
        self
    }

    /// Sets the credential type (`Type`, `AWS-HMAC` on EC2).
    #[must_use]
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Not a secret: the state machine sees it, logs may show it.
    #[must_use]
    pub fn access_key_id(&self) -> &AccessKeyId {
        &self.access_key_id
    }

    /// Read it with [`SecretAccessKey::expose_secret`]; `Debug` shows it redacted.
    #[must_use]
    pub fn secret_access_key(&self) -> &SecretAccessKey {
        &self.secret_access_key
    }

    /// Read it with [`SessionToken::expose_secret`]; `Debug` shows it redacted.
    #[must_use]
    pub fn session_token(&self) -> &SessionToken {
        &self.session_token
    }

    /// When the credentials expire, on the wall clock (IMDS's `Expiration`).
    #[must_use]
    pub fn expiration(&self) -> WallTime {
        self.expiration
    }

    /// The AWS account id, when the source gave it.
    #[must_use]
    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    /// When IMDS last updated the credentials, when it said.
    #[must_use]
    pub fn last_updated(&self) -> Option<WallTime> {
        self.last_updated
    }

    /// The credential type (`Type`), when the source gave it.
    #[must_use]
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &format_args!("{REDACTED}"))
            .field("session_token", &format_args!("{REDACTED}"))
            .field("expiration", &format_args!("{}", self.expiration))
            .field("account_id", &self.account_id)
            .field("last_updated", &self.last_updated.map(|t| t.to_rfc3339()))
            .field("kind", &self.kind)
            .finish()
    }
}

impl core::hash::Hash for Credentials {
    /// Hashes the public parts only; two sets with the same key id and expiry but different
    /// secrets collide, which a hash may do.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.access_key_id.hash(state);
        self.expiration.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials::new(
            AccessKeyId::new("ASIAEXAMPLE"),
            SecretAccessKey::new("sentinel-secret-key".into()),
            SessionToken::new("sentinel-session-token".into()),
            WallTime::from_unix_secs(1_795_862_471),
        )
    }

    /// A role name read from a config file or a scenario is validated like one built by hand:
    /// the derive would accept "a/b", which would put a path separator into the IMDS URL.
    #[cfg(feature = "serde")]
    #[test]
    fn deserializing_a_role_name_validates_it() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;
        let read = |s: &str| {
            RoleName::deserialize(s.into_deserializer()).map_err(|e: Error| e.to_string())
        };
        assert_eq!(
            read("web-role").map(|r| r.as_str().to_owned()),
            Ok("web-role".to_owned())
        );
        for bad in ["a/b", "", "web role"] {
            let err = read(bad).expect_err(bad);
            assert_eq!(err, RoleName::new(bad).expect_err(bad).to_string());
        }
    }

    #[test]
    fn debug_output_is_pinned_and_redacted() {
        assert_eq!(
            format!("{:?}", sample()),
            "Credentials { access_key_id: \"ASIAEXAMPLE\", secret_access_key: ** redacted **, \
             session_token: ** redacted **, expiration: 2026-11-28T10:41:11Z, account_id: None, \
             last_updated: None, kind: None }"
        );
        let full = sample()
            .with_account_id("123456789012")
            .with_last_updated(WallTime::from_unix_secs(1_795_840_871))
            .with_kind("AWS-HMAC");
        assert_eq!(
            format!("{full:#?}"),
            "Credentials {\n    access_key_id: \"ASIAEXAMPLE\",\n    secret_access_key: ** redacted **,\n    \
             session_token: ** redacted **,\n    expiration: 2026-11-28T10:41:11Z,\n    account_id: Some(\n        \
             \"123456789012\",\n    ),\n    last_updated: Some(\n        \"2026-11-28T04:41:11Z\",\n    ),\n    \
             kind: Some(\n        \"AWS-HMAC\",\n    ),\n}"
        );
        assert_eq!(
            format!("{:?}", SecretAccessKey::new("x".into())),
            "SecretAccessKey(** redacted **)"
        );
        assert_eq!(
            format!("{:?}", SessionToken::new("x".into())),
            "SessionToken(** redacted **)"
        );
    }

    #[test]
    fn secrets_are_readable_only_through_expose() {
        let c = sample();
        assert_eq!(c.secret_access_key().expose_secret(), "sentinel-secret-key");
        assert_eq!(c.session_token().expose_secret(), "sentinel-session-token");
        let dbg = format!("{c:?} {c:#?}");
        assert!(!dbg.contains("sentinel"), "{dbg}");
    }

    #[test]
    fn role_names_are_validated() {
        assert!(RoleName::new("web-server_role+1=x,y.z@a").is_ok());
        assert_eq!(RoleName::new(""), Err(InvalidRoleName::Empty));
        assert_eq!(RoleName::new("a/b"), Err(InvalidRoleName::Slash));
        assert_eq!(RoleName::new("a\nb"), Err(InvalidRoleName::Control));
        assert_eq!(RoleName::new("a b"), Err(InvalidRoleName::Control));
        assert_eq!(
            RoleName::new("r".repeat(129)),
            Err(InvalidRoleName::TooLong { len: 129 })
        );
        assert!(RoleName::new("r".repeat(128)).is_ok());
    }

    #[test]
    fn credential_metadata_is_kept_and_hashing_sees_the_key() {
        let start = 1_795_862_471;
        let with = |akid: &str, exp| {
            Credentials::new(
                AccessKeyId::new(akid),
                SecretAccessKey::new(format!("secret-{akid}")),
                SessionToken::new(format!("token-{akid}")),
                exp,
            )
        };
        let exp = WallTime::from_unix_secs(start + 3600);
        let plain = with("ASIAONE", exp);
        assert_eq!(plain.account_id(), None);
        assert_eq!(plain.last_updated(), None);
        let updated = WallTime::from_unix_secs(start - 60);
        let full = with("ASIAONE", exp)
            .with_account_id("123456789012")
            .with_last_updated(updated);
        assert_eq!(full.account_id(), Some("123456789012"));
        assert_eq!(full.last_updated(), Some(updated));

        let hash = |c: &Credentials| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            core::hash::Hash::hash(c, &mut h);
            core::hash::Hasher::finish(&h)
        };
        // (other, same hash as `plain`, why)
        let cases = [
            (full, true, "only the public parts are hashed"),
            (with("ASIATWO", exp), false, "another key"),
            (
                with("ASIAONE", WallTime::from_unix_secs(start + 7200)),
                false,
                "another expiry",
            ),
        ];
        for (other, same, why) in cases {
            assert_eq!(hash(&plain) == hash(&other), same, "{why}");
        }
    }
}
