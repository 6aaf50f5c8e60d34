//! The plain-text replies (the token, its TTL, the role listing), and what every parser shares:
//! reading a body as text, JSON errors without the body, timestamps.

use credcycle_core::{RoleName, WallTime};
use zeroize::Zeroizing;

use super::parse_error::{JsonErrorCategory, ParseError};
use crate::message::sanitize;
use crate::protocol::MAX_BODY_LEN;
use crate::token::ImdsToken;

/// Reads the session token from the body of a 200 reply to the token request.
///
/// # Errors
///
/// [`ParseError::BodyTooLarge`], [`ParseError::NotUtf8`], [`ParseError::EmptyToken`] or
/// [`ParseError::InvalidToken`].
pub fn parse_token(body: &[u8]) -> Result<ImdsToken, ParseError> {
    let text = text(body)?;
    Ok(ImdsToken::new(text.trim().to_owned())?)
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

/// The body as text: size and UTF-8 checked, a leading byte order mark skipped.
pub(super) fn text(body: &[u8]) -> Result<&str, ParseError> {
    if body.len() > MAX_BODY_LEN {
        return Err(ParseError::BodyTooLarge { len: body.len() });
    }
    let text = core::str::from_utf8(body).map_err(|e| ParseError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
        len: body.len(),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

pub(super) fn json_error(e: &serde_json::Error, len: usize) -> ParseError {
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

pub(super) fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// An RFC 3339 timestamp, in UTC; `field` names it in the error.
pub(super) fn timestamp(field: &'static str, value: &str) -> Result<WallTime, ParseError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|dt| WallTime::from(dt.with_timezone(&chrono::Utc)))
        .map_err(|_| ParseError::BadTimestamp {
            field,
            value: sanitize(value, 64),
        })
}

/// Moves a string out of its zeroizing buffer without copying it (the buffer is left empty).
pub(super) fn take_string(mut value: Zeroizing<String>) -> String {
    core::mem::take(&mut *value)
}
