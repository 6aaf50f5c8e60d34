//! Why a reply body is unusable.

use core::fmt;

use credcycle_core::InvalidRoleName;

use crate::protocol::MAX_BODY_LEN;
use crate::token::InvalidImdsToken;

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
        /// The body's length in bytes.
        len: usize,
    },
    /// The body is not valid UTF-8.
    #[error("reply body is not UTF-8 (invalid byte at offset {valid_up_to} of {len})")]
    NotUtf8 {
        /// The length of the valid prefix.
        valid_up_to: usize,
        /// The body's length in bytes.
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
        /// The body's length in bytes.
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
        /// The JSON field name, e.g. `Expiration`.
        field: &'static str,
    },
    /// A field is not a string.
    #[error("field {field} is {found}, expected a string")]
    WrongType {
        /// The JSON field name, e.g. `Expiration`.
        field: &'static str,
        /// What it is instead (`"a number"`, `"an object"`...).
        found: &'static str,
    },
    /// A required field is missing or `null`.
    #[error("required field {field} is missing or null")]
    MissingField {
        /// The JSON field name, e.g. `Expiration`.
        field: &'static str,
    },
    /// A required field is the empty string.
    #[error("required field {field} is empty")]
    EmptyField {
        /// The JSON field name, e.g. `Expiration`.
        field: &'static str,
    },
    /// A field holds characters it may not (control characters, or anything but visible ASCII
    /// in keys and secrets), or is too long.
    #[error("field {field} holds characters it may not, or is too long")]
    InvalidText {
        /// The JSON field name, e.g. `Expiration`.
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

impl From<InvalidImdsToken> for ParseError {
    fn from(e: InvalidImdsToken) -> Self {
        match e {
            InvalidImdsToken::Empty => Self::EmptyToken,
            InvalidImdsToken::NotHeaderValue { len } => Self::InvalidToken { len },
        }
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
