//! The instance-profile information (`/latest/meta-data/iam/info`), for diagnosis.

use credcycle_core::WallTime;

use super::parse_error::ParseError;
use super::reply::{json_error, text, timestamp};
use crate::message::sanitize;

/// What IMDS says about the instance profile (`/latest/meta-data/iam/info`). No secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceProfileInfo {
    /// `InstanceProfileArn`, e.g. `arn:aws:iam::123456789012:instance-profile/web`.
    pub arn: String,
    /// `InstanceProfileId`, e.g. `AIPAEXAMPLE`.
    pub id: String,
    /// `LastUpdated`, when present.
    pub last_updated: Option<WallTime>,
}

/// Parses the body of `/latest/meta-data/iam/info` (the rules are in the [module docs](crate::codec)).
///
/// ```
/// use credcycle_imds::codec::parse_instance_profile_info;
///
/// let info = parse_instance_profile_info(br#"{
///   "Code" : "Success",
///   "LastUpdated" : "2026-11-28T04:41:11Z",
///   "InstanceProfileArn" : "arn:aws:iam::123456789012:instance-profile/web",
///   "InstanceProfileId" : "AIPAEXAMPLE"
/// }"#)?;
/// assert_eq!(info.arn, "arn:aws:iam::123456789012:instance-profile/web");
/// assert_eq!(info.id, "AIPAEXAMPLE");
/// # Ok::<(), credcycle_imds::ParseError>(())
/// ```
///
/// # Errors
///
/// A [`ParseError`] naming what is wrong.
pub fn parse_instance_profile_info(body: &[u8]) -> Result<InstanceProfileInfo, ParseError> {
    let text = text(body)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| json_error(&e, body.len()))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ParseError::NotAnObject {
            found: json_kind(&value),
        });
    };
    let field = |name: &'static str| -> Result<Option<&str>, ParseError> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(ParseError::WrongType {
                field: name,
                found: json_kind(other),
            }),
        }
    };
    if let Some(code) = field("Code")?
        && code != "Success"
    {
        return Err(ParseError::NotSuccess {
            code: sanitize(code, 64),
            message: sanitize(field("Message")?.unwrap_or_default(), 256),
        });
    }
    let required = |name: &'static str| -> Result<String, ParseError> {
        let value = field(name)?.ok_or(ParseError::MissingField { field: name })?;
        if value.is_empty() {
            return Err(ParseError::EmptyField { field: name });
        }
        if value.len() > 2048 || value.chars().any(char::is_control) {
            return Err(ParseError::InvalidText { field: name });
        }
        Ok(value.to_owned())
    };
    let arn = required("InstanceProfileArn")?;
    let id = required("InstanceProfileId")?;
    let last_updated = field("LastUpdated")?
        .filter(|t| !t.is_empty())
        .map(|t| timestamp("LastUpdated", t))
        .transpose()?;
    Ok(InstanceProfileInfo {
        arn,
        id,
        last_updated,
    })
}

/// What a JSON value is, in words, for error messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
