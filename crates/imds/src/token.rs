//! The tokens sent in headers: the IMDSv2 session token ([`ImdsToken`]) and a
//! container-credentials endpoint's authorization token ([`AuthorizationToken`]). Secrets, held
//! like them.

use core::fmt;

use credcycle_core::REDACTED;
use zeroize::Zeroizing;

mod authorization;
pub use authorization::{AuthorizationToken, TokenProblem};

/// An IMDSv2 session token (the body of the reply to `PUT /latest/api/token`).
///
/// Whoever holds it can read everything IMDS serves, the role's credentials included, for the
/// token's lifetime, so it is a secret like the credentials themselves: zeroized on drop,
/// redacted in `Debug`, no `Display`, no `Serialize`, and read only through
/// [`expose_secret`](Self::expose_secret) (the transports do, to write the header).
///
/// Validated on construction, because it becomes an HTTP header value: 1 to
/// [`MAX_LEN`](Self::MAX_LEN) visible ASCII characters.
///
/// ```
/// use credcycle_imds::ImdsToken;
///
/// let token = ImdsToken::new("AQAEAFh-example-token==".to_owned())?;
/// assert_eq!(format!("{token:?}"), "ImdsToken(** redacted **)");
/// assert_eq!(token.expose_secret(), "AQAEAFh-example-token==");
/// assert!(ImdsToken::new("two\nlines".to_owned()).is_err());
/// # Ok::<(), credcycle_imds::InvalidImdsToken>(())
/// ```
#[derive(Clone)]
pub struct ImdsToken(Zeroizing<String>);

impl ImdsToken {
    /// The longest token accepted, in bytes. Real tokens are about 56 characters.
    pub const MAX_LEN: usize = 4096;

    /// Validates and wraps a token. The `String` is moved in, and zeroized even when it is
    /// refused.
    ///
    /// # Errors
    ///
    /// [`InvalidImdsToken::Empty`] for an empty token, [`InvalidImdsToken::NotHeaderValue`]
    /// when it is longer than [`MAX_LEN`](Self::MAX_LEN) or holds anything but visible ASCII.
    pub fn new(token: String) -> Result<Self, InvalidImdsToken> {
        let token = Zeroizing::new(token);
        if token.is_empty() {
            return Err(InvalidImdsToken::Empty);
        }
        if token.len() > Self::MAX_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidImdsToken::NotHeaderValue { len: token.len() });
        }
        Ok(Self(token))
    }

    /// The token itself. Every read of the token goes through this one method.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// Why a text cannot be an [`ImdsToken`]. Inside a token reply it becomes
/// [`ParseError::EmptyToken`](crate::ParseError::EmptyToken) or
/// [`ParseError::InvalidToken`](crate::ParseError::InvalidToken).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidImdsToken {
    /// Empty.
    #[error("token is empty")]
    Empty,
    /// Too long, or something other than visible ASCII: it could not be sent as a header value.
    #[error(
        "token is not a valid header value ({len} bytes; expected at most 4096 visible ASCII characters)"
    )]
    NotHeaderValue {
        /// The token's length in bytes.
        len: usize,
    },
}

impl fmt::Debug for ImdsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImdsToken({REDACTED})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_pinned_and_redacted() {
        let token = ImdsToken::new("sentinel-imds-token".to_owned()).unwrap();
        assert_eq!(format!("{token:?}"), "ImdsToken(** redacted **)");
        assert_eq!(format!("{token:#?}"), "ImdsToken(** redacted **)");
        assert_eq!(token.expose_secret(), "sentinel-imds-token");
    }

    #[test]
    fn only_header_safe_tokens_are_accepted() {
        assert_eq!(
            ImdsToken::new(String::new()).unwrap_err(),
            InvalidImdsToken::Empty
        );
        for bad in ["a b", "a\r\nX-Injected: 1", "caf\u{e9}", "tab\there"] {
            assert!(
                matches!(
                    ImdsToken::new(bad.to_owned()),
                    Err(InvalidImdsToken::NotHeaderValue { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(ImdsToken::new("x".repeat(ImdsToken::MAX_LEN)).is_ok());
        assert_eq!(
            ImdsToken::new("x".repeat(ImdsToken::MAX_LEN + 1)).unwrap_err(),
            InvalidImdsToken::NotHeaderValue {
                len: ImdsToken::MAX_LEN + 1
            }
        );
    }
}
