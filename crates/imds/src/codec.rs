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
//!
//! [`ImdsToken`]: crate::ImdsToken
//! [`ImdsToken::MAX_LEN`]: crate::ImdsToken::MAX_LEN
//! [`RoleName`]: credcycle_core::RoleName
//! [`RoleName::new`]: credcycle_core::RoleName::new
//! [`Credentials`]: credcycle_core::Credentials
//! [`SecretAccessKey`]: credcycle_core::SecretAccessKey
//! [`SessionToken`]: credcycle_core::SessionToken
//! [`Zeroizing`]: zeroize::Zeroizing

mod credentials;
mod info;
mod parse_error;
mod reply;
mod request;

pub use credentials::parse_credentials;
pub use info::{InstanceProfileInfo, parse_instance_profile_info};
pub(crate) use parse_error::not_success_hint;
pub use parse_error::{JsonErrorCategory, ParseError};
pub use reply::{parse_role_listing, parse_token, parse_token_ttl};
pub use request::{
    container_credentials_request, credentials_request, instance_profile_info_request,
    role_listing_request, token_request,
};

pub use crate::http::{HttpRequest, HttpResponse};
pub use crate::protocol::{
    AUTHORIZATION_HEADER, EXTENDED_CREDENTIALS_PATH, INSTANCE_PROFILE_INFO_PATH, MAX_BODY_LEN,
    MAX_TOKEN_TTL_SECS, Method, ROLE_LISTING_PATH, RequestKind, TOKEN_HEADER, TOKEN_PATH,
    TOKEN_TTL_HEADER,
};

#[cfg(test)]
mod tests;
