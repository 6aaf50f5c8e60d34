//! Scenario files: reading a [`Scenario`] from TOML or JSON, the documents as written, their
//! conversion into [`Event`]s (every field checked), and the errors that name the line, the
//! column and the field at fault.

use core::fmt;
use core::time::Duration;
use std::path::Path;

use credcycle_core::RoleName;
use serde::Deserialize;

use super::{
    Event, Fault, FaultKind, Malformation, OutageMode, Scenario, ScenarioError, ScenarioFormat,
    Target,
};

impl Scenario {
    /// Reads a scenario file: TOML if the name ends in `.toml`, JSON if it ends in `.json`.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Read`] when the file cannot be read, [`ScenarioError::UnknownFormat`]
    /// for another extension, and [`ScenarioError::Parse`] (with the line, the column and the
    /// field) when the text is not a valid scenario.
    pub fn from_path(path: &Path) -> Result<Self, ScenarioError> {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => ScenarioFormat::Toml,
            Some(ext) if ext.eq_ignore_ascii_case("json") => ScenarioFormat::Json,
            _ => {
                return Err(ScenarioError::UnknownFormat {
                    path: path.to_owned(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&text, format, &path.display().to_string())
    }

    /// Parses a scenario written in TOML. A full example (the scenario format is in
    /// `crates/sim/scenarios/README.md`):
    ///
    /// ```
    /// use credcycle_sim::Scenario;
    ///
    /// let scenario = Scenario::from_toml_str(r#"
    /// name = "a bad day"
    /// description = "Everything that can go wrong, once."
    ///
    /// [[event]]            # IMDS slow for a minute
    /// at = 10
    /// duration = 60
    /// fault = "delay"
    /// delay = 0.5
    ///
    /// [[event]]            # no answer to token requests for 30 s (hop limit, container)
    /// at = 120
    /// duration = 30
    /// fault = "outage"
    /// mode = "timeout"
    /// target = "token"
    ///
    /// [[event]]            # 503 with Retry-After: the real IMDS never sends this
    /// at = 200
    /// duration = 20
    /// fault = "outage"
    /// mode = "http"
    /// status = 503
    /// retry_after = 2
    ///
    /// [[event]]
    /// at = 300
    /// duration = 15.5
    /// fault = "malformed"
    /// body = "truncated"
    ///
    /// [[event]]            # the rotation stalls for ten minutes
    /// at = 21000
    /// duration = 600
    /// fault = "not-rotated"
    ///
    /// [[event]]
    /// at = 400
    /// duration = 10
    /// fault = "throttle"
    /// per_second = 2
    ///
    /// [[event]]
    /// at = 500
    /// duration = 30
    /// fault = "expired"
    /// by = 120
    ///
    /// [[event]]
    /// at = 600
    /// fault = "change"
    /// role = "other-role"
    ///
    /// [[event]]
    /// at = 700
    /// fault = "detach"
    /// "#)?;
    /// assert_eq!(scenario.events().len(), 9);
    /// # Ok::<(), credcycle_sim::ScenarioError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Parse`], naming the line, the column and the field.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        parse(text, ScenarioFormat::Toml, "<toml>")
    }

    /// Parses a scenario written in JSON.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Parse`], naming the line, the column and the field.
    pub fn from_json_str(text: &str) -> Result<Self, ScenarioError> {
        parse(text, ScenarioFormat::Json, "<json>")
    }
}

/// The document as written: a name, a description and a list of `event` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    lifetime: Option<Seconds>,
    rotate_before: Option<Seconds>,
    length: Option<Seconds>,
    #[serde(default, alias = "events")]
    event: Vec<Event>,
}

/// One event as written; checked and converted by `TryFrom`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    at: Seconds,
    duration: Option<Seconds>,
    fault: FaultKind,
    target: Option<Target>,
    mode: Option<RawMode>,
    status: Option<u16>,
    retry_after: Option<u32>,
    body: Option<Malformation>,
    delay: Option<Seconds>,
    per_second: Option<u32>,
    by: Option<Seconds>,
    role: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawMode {
    #[serde(alias = "drop")]
    Timeout,
    Reset,
    Http,
}

/// A non-negative, finite number of seconds (integer or fractional).
#[derive(Clone, Copy)]
struct Seconds(Duration);

/// The longest time a scenario may name: about 31 years, far past any test.
const MAX_SECONDS: f64 = 1e9;

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seconds, E> {
                if v as f64 > MAX_SECONDS {
                    return Err(E::custom(format!("{v} seconds is too long (at most 1e9)")));
                }
                Ok(Seconds(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seconds, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "expected a non-negative number of seconds, found {v}"
                    ))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Seconds, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(E::custom(format!(
                        "expected a non-negative number of seconds, found {v}"
                    )));
                }
                if v > MAX_SECONDS {
                    return Err(E::custom(format!("{v} seconds is too long (at most 1e9)")));
                }
                Ok(Seconds(Duration::from_secs_f64(v)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl TryFrom<RawEvent> for Event {
    type Error = String;

    fn try_from(raw: RawEvent) -> Result<Self, String> {
        let kind = raw.fault;
        let name = kind.as_str();
        // Fields this fault does not read are errors: a typo must not pass silently.
        let present = [
            ("mode", raw.mode.is_some()),
            ("status", raw.status.is_some()),
            ("retry_after", raw.retry_after.is_some()),
            ("body", raw.body.is_some()),
            ("delay", raw.delay.is_some()),
            ("per_second", raw.per_second.is_some()),
            ("by", raw.by.is_some()),
            ("role", raw.role.is_some()),
        ];
        for (field, is_present) in present {
            if is_present && !kind.fields().contains(&field) {
                return Err(format!("field `{field}` does not apply to fault `{name}`"));
            }
        }
        let required = |field: &str| format!("field `{field}` is required by fault `{name}`");
        let role = |r: Option<String>| -> Result<RoleName, String> {
            let r = r.ok_or_else(|| required("role"))?;
            RoleName::new(r).map_err(|e| format!("field `role`: {e}"))
        };
        let fault = match kind {
            FaultKind::Outage => {
                let mode = raw.mode.unwrap_or(RawMode::Timeout);
                if mode != RawMode::Http && (raw.status.is_some() || raw.retry_after.is_some()) {
                    let field = if raw.status.is_some() {
                        "status"
                    } else {
                        "retry_after"
                    };
                    return Err(format!(
                        "field `{field}` applies only to an outage with mode `http`"
                    ));
                }
                Fault::Outage(match mode {
                    RawMode::Timeout => OutageMode::Timeout,
                    RawMode::Reset => OutageMode::Reset,
                    RawMode::Http => OutageMode::Http {
                        status: raw.status.unwrap_or(500),
                        retry_after: raw.retry_after,
                    },
                })
            }
            FaultKind::Malformed => Fault::Malformed(raw.body.ok_or_else(|| required("body"))?),
            FaultKind::Delay => Fault::Delay(raw.delay.ok_or_else(|| required("delay"))?.0),
            FaultKind::Throttle => Fault::Throttle {
                per_second: raw.per_second.ok_or_else(|| required("per_second"))?,
            },
            FaultKind::Expired => Fault::Expired {
                by: raw.by.map_or(Duration::from_secs(60), |s| s.0),
            },
            FaultKind::NotRotated => Fault::NotRotated,
            FaultKind::Detach => Fault::Detach,
            FaultKind::Attach => Fault::Attach(role(raw.role)?),
            FaultKind::Change => Fault::Change(role(raw.role)?),
            FaultKind::Rotate => Fault::Rotate,
            FaultKind::ForgetTokens => Fault::ForgetTokens,
        };
        let event = Self {
            at: raw.at.0,
            duration: raw.duration.map(|s| s.0),
            target: raw.target.unwrap_or_else(|| fault.default_target()),
            fault,
        };
        if event.is_instant() && raw.target.is_some() {
            return Err(format!("field `target` does not apply to fault `{name}`"));
        }
        event.check()?;
        Ok(event)
    }
}

fn parse(text: &str, format: ScenarioFormat, origin: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = match format {
        ScenarioFormat::Toml => {
            let de =
                toml::Deserializer::parse(text).map_err(|e| toml_error(text, origin, None, &e))?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = field_path(e.path());
                toml_error(text, origin, field, e.inner())
            })?
        }
        ScenarioFormat::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let raw = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = field_path(e.path());
                json_error(origin, field, e.inner())
            })?;
            // Trailing characters after the document.
            de.end().map_err(|e| json_error(origin, None, &e))?;
            raw
        }
    };
    Ok(Scenario {
        name: raw.name,
        description: raw.description,
        lifetime: raw.lifetime.map(|s| s.0),
        rotate_before: raw.rotate_before.map(|s| s.0),
        length: raw.length.map(|s| s.0),
        events: raw.event,
    })
}

/// The field path, or `None` for the document itself.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let p = path.to_string();
    // `?` stands for a segment the parser could not name (a key that is not a string...).
    let p = p.trim_end_matches(".?");
    (p != "." && p != "?" && !p.is_empty()).then(|| p.to_owned())
}

fn toml_error(
    text: &str,
    origin: &str,
    field: Option<String>,
    e: &toml::de::Error,
) -> ScenarioError {
    let (line, column) = e
        .span()
        .map_or((0, 0), |span| line_column(text, span.start));
    ScenarioError::Parse {
        origin: origin.to_owned(),
        format: ScenarioFormat::Toml,
        line,
        column,
        field,
        message: e.message().trim_end().to_owned(),
    }
}

fn json_error(origin: &str, field: Option<String>, e: &serde_json::Error) -> ScenarioError {
    let (line, column) = (e.line(), e.column());
    // serde_json's Display ends in " at line L column C"; keep the message alone.
    let full = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    ScenarioError::Parse {
        origin: origin.to_owned(),
        format: ScenarioFormat::Json,
        line,
        column,
        field,
        message,
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
