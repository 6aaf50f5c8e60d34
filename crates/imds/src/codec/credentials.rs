//! The credentials reply: JSON read by a visitor that moves each string straight into a
//! zeroizing buffer.

use core::fmt;

use credcycle_core::{AccessKeyId, Credentials, SecretAccessKey, SessionToken};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use super::parse_error::ParseError;
use super::reply::{is_visible_ascii, json_error, take_string, text, timestamp};
use crate::message::sanitize;

/// Reads credentials from the body of a 200 reply to a credentials request (classic or
/// extended path).
///
/// ```
/// use credcycle_imds::codec::parse_credentials;
/// use credcycle_core::WallTime;
///
/// let body = br#"{
///   "Code" : "Success",
///   "LastUpdated" : "2026-11-28T04:41:11Z",
///   "Type" : "AWS-HMAC",
///   "AccessKeyId" : "ASIAEXAMPLE",
///   "SecretAccessKey" : "secret",
///   "Token" : "token",
///   "Expiration" : "2026-11-28T10:41:11Z"
/// }"#;
/// let creds = parse_credentials(body)?;
/// assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
/// assert_eq!(creds.expiration(), WallTime::from_unix_secs(1_795_862_471));
/// assert_eq!(creds.kind(), Some("AWS-HMAC"));
/// # Ok::<(), credcycle_imds::ParseError>(())
/// ```
///
/// # Errors
///
/// A [`ParseError`] naming what is wrong (see the [module docs](crate::codec) for the rules), including
/// [`ParseError::NotSuccess`] when `Code` is not `Success`.
pub fn parse_credentials(body: &[u8]) -> Result<Credentials, ParseError> {
    let text = text(body)?;
    let mut wire: Wire = serde_json::from_str(text).map_err(|e| json_error(&e, body.len()))?;
    if let Some(found) = wire.not_object {
        return Err(ParseError::NotAnObject { found });
    }
    if let Some(field) = wire.duplicate {
        return Err(ParseError::DuplicateField { field });
    }
    for (field, value) in ALL_FIELDS.into_iter().zip(&wire.fields) {
        if let FieldValue::Other(found) = value {
            return Err(ParseError::WrongType {
                field: field.name(),
                found,
            });
        }
    }
    if let Some(code) = wire.text(Field::Code)
        && code != "Success"
    {
        return Err(ParseError::NotSuccess {
            code: sanitize(code, 64),
            message: sanitize(wire.text(Field::Message).unwrap_or_default(), 256),
        });
    }
    let access_key_id = wire.take_required(Field::AccessKeyId)?;
    let secret = wire.take_required(Field::SecretAccessKey)?;
    let token = wire.take_required(Field::Token)?;
    let expiration = wire.take_required(Field::Expiration)?;
    if access_key_id.len() > 128 || !is_visible_ascii(&access_key_id) {
        return Err(ParseError::InvalidText {
            field: Field::AccessKeyId.name(),
        });
    }
    for (field, value) in [(Field::SecretAccessKey, &secret), (Field::Token, &token)] {
        if !is_visible_ascii(value) {
            return Err(ParseError::InvalidText {
                field: field.name(),
            });
        }
    }
    let expiration = timestamp(Field::Expiration.name(), &expiration)?;
    let last_updated = wire
        .take_optional(Field::LastUpdated)
        .map(|t| timestamp(Field::LastUpdated.name(), &t))
        .transpose()?;
    let account_id = wire.take_label(Field::AccountId)?;
    let kind = wire.take_label(Field::Type)?;

    let mut creds = Credentials::new(
        AccessKeyId::new(take_string(access_key_id)),
        SecretAccessKey::new(take_string(secret)),
        SessionToken::new(take_string(token)),
        expiration,
    );
    if let Some(account_id) = account_id {
        creds = creds.with_account_id(account_id);
    }
    if let Some(last_updated) = last_updated {
        creds = creds.with_last_updated(last_updated);
    }
    if let Some(kind) = kind {
        creds = creds.with_kind(kind);
    }
    Ok(creds)
}

/// The fields of a credentials reply that the codec reads, in check order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Code,
    Message,
    LastUpdated,
    Type,
    AccessKeyId,
    SecretAccessKey,
    Token,
    Expiration,
    AccountId,
}

/// Every [`Field`], in declaration order, so that `Field as usize` indexes [`Wire::fields`].
const ALL_FIELDS: [Field; 9] = [
    Field::Code,
    Field::Message,
    Field::LastUpdated,
    Field::Type,
    Field::AccessKeyId,
    Field::SecretAccessKey,
    Field::Token,
    Field::Expiration,
    Field::AccountId,
];

impl Field {
    /// The JSON name. A match, so a new field cannot be left without one.
    fn name(self) -> &'static str {
        match self {
            Self::Code => "Code",
            Self::Message => "Message",
            Self::LastUpdated => "LastUpdated",
            Self::Type => "Type",
            Self::AccessKeyId => "AccessKeyId",
            Self::SecretAccessKey => "SecretAccessKey",
            Self::Token => "Token",
            Self::Expiration => "Expiration",
            Self::AccountId => "AccountId",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        ALL_FIELDS.into_iter().find(|f| f.name() == name)
    }
}

/// One field's value as read from the JSON.
#[derive(Default)]
enum FieldValue {
    /// Not in the object.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A string, moved straight into a zeroizing buffer.
    Text(Zeroizing<String>),
    /// Anything else: what it was, for the error message.
    Other(&'static str),
}

/// A credentials reply as read from JSON, before validation: every known field, plus what was
/// wrong at the JSON level. Holds no copy of anything but the known fields.
#[derive(Default)]
struct Wire {
    fields: [FieldValue; ALL_FIELDS.len()],
    duplicate: Option<&'static str>,
    not_object: Option<&'static str>,
}

impl Wire {
    fn text(&self, field: Field) -> Option<&str> {
        match &self.fields[field as usize] {
            FieldValue::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn take(&mut self, field: Field) -> Option<Zeroizing<String>> {
        match core::mem::take(&mut self.fields[field as usize]) {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    fn take_required(&mut self, field: Field) -> Result<Zeroizing<String>, ParseError> {
        let value = self.take(field).ok_or(ParseError::MissingField {
            field: field.name(),
        })?;
        if value.trim().is_empty() {
            return Err(ParseError::EmptyField {
                field: field.name(),
            });
        }
        Ok(value)
    }

    /// An optional field: absent, `null` and empty all count as absent.
    fn take_optional(&mut self, field: Field) -> Option<Zeroizing<String>> {
        self.take(field).filter(|v| !v.trim().is_empty())
    }

    /// An optional, non-secret label (`AccountId`, `Type`): at most 128 characters, no control
    /// characters.
    fn take_label(&mut self, field: Field) -> Result<Option<String>, ParseError> {
        let Some(value) = self.take_optional(field) else {
            return Ok(None);
        };
        if value.chars().count() > 128 || value.chars().any(char::is_control) {
            return Err(ParseError::InvalidText {
                field: field.name(),
            });
        }
        Ok(Some(value.trim().to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Wire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireVisitor)
    }
}

struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire, A::Error> {
        let mut wire = Wire::default();
        while let Some(key) = map.next_key::<Key>()? {
            let Key(Some(field)) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value::<FieldValue>()?;
            let slot = &mut wire.fields[field as usize];
            if !matches!(slot, FieldValue::Absent) {
                wire.duplicate.get_or_insert(field.name());
            }
            *slot = value;
        }
        Ok(wire)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Wire, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Wire::not_object("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Wire, E> {
        Ok(Wire::not_object("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Wire, E> {
        Ok(Wire::not_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Wire, E> {
        Ok(Wire::not_object("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Wire, E> {
        Ok(Wire::not_object("null"))
    }
}

impl Wire {
    fn not_object(found: &'static str) -> Self {
        Self {
            not_object: Some(found),
            ..Self::default()
        }
    }
}

/// An object key: one of the known fields, or `None` for a field to ignore.
struct Key(Option<Field>);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(Key(Field::from_name(name)))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(Zeroizing::new(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other("a number"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::{ALL_FIELDS, Field};

    #[test]
    fn every_field_sits_at_its_index_and_reads_back_from_its_name() {
        for (index, field) in ALL_FIELDS.into_iter().enumerate() {
            assert_eq!(field as usize, index, "{field:?}");
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(
            Field::from_name("code"),
            None,
            "JSON names are case-sensitive"
        );
    }
}
