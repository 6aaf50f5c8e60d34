//! The container-credentials authorization token.

use core::fmt;

use zeroize::Zeroizing;

/// A container-credentials authorization token: a secret, held like one (zeroized on drop,
/// redacted in `Debug`, read only through [`expose_secret`](Self::expose_secret)).
///
/// It is sent verbatim as the `Authorization` header, so it must be one line: a token holding
/// CR or LF is refused (as botocore and aws-config refuse it), and so is any other control
/// character but tab, and an empty token.
///
/// ```
/// use credcycle_imds::container::AuthorizationToken;
///
/// let token = AuthorizationToken::new("Bearer abc".to_owned(), "a test")?;
/// assert_eq!(format!("{token:?}"), "AuthorizationToken(** redacted **)");
/// let err = AuthorizationToken::new("abc\n".to_owned(), "the file /run/token").unwrap_err();
/// assert_eq!(err.to_string(), "the authorization token in the file /run/token contains a CR or \
///     LF (a trailing newline?), which cannot be sent in an HTTP header");
/// # Ok::<(), credcycle_imds::container::TokenProblem>(())
/// ```
#[derive(Clone)]
pub struct AuthorizationToken(Zeroizing<String>);

impl AuthorizationToken {
    /// The longest token accepted, in bytes (EKS Pod Identity tokens are about 1 KB).
    pub const MAX_LEN: usize = 16 * 1024;

    /// Validates a token; `origin` says where it came from, for the error message (e.g.
    /// `"AWS_CONTAINER_AUTHORIZATION_TOKEN"` or `"the file /run/token"`).
    ///
    /// # Errors
    ///
    /// A [`TokenProblem`] when the token is empty, too long, or not one line of text.
    pub fn new(token: String, origin: &str) -> Result<Self, TokenProblem> {
        let token = Zeroizing::new(token);
        let origin = origin.to_owned();
        if token.is_empty() {
            return Err(TokenProblem::Empty { origin });
        }
        if token.len() > Self::MAX_LEN {
            return Err(TokenProblem::TooLong {
                origin,
                len: token.len(),
            });
        }
        if token.contains(['\r', '\n']) {
            return Err(TokenProblem::LineBreak { origin });
        }
        if token.chars().any(|c| c.is_control() && c != '\t') {
            return Err(TokenProblem::Control { origin });
        }
        Ok(Self(token))
    }

    /// The token itself. Every read of the token goes through this one method.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorizationToken({})", credcycle_core::REDACTED)
    }
}

/// Why an authorization token cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Empty.
    #[error("the authorization token in {origin} is empty")]
    Empty {
        /// Where it came from.
        origin: String,
    },
    /// Longer than [`AuthorizationToken::MAX_LEN`].
    #[error(
        "the authorization token in {origin} is {len} bytes, over the limit of {}",
        AuthorizationToken::MAX_LEN
    )]
    TooLong {
        /// Where it came from.
        origin: String,
        /// Its length in bytes.
        len: usize,
    },
    /// It holds CR or LF.
    #[error(
        "the authorization token in {origin} contains a CR or LF (a trailing newline?), which \
         cannot be sent in an HTTP header"
    )]
    LineBreak {
        /// Where it came from.
        origin: String,
    },
    /// It holds another control character (or the file is not UTF-8).
    #[error("the authorization token in {origin} is not one line of text")]
    Control {
        /// Where it came from.
        origin: String,
    },
}
