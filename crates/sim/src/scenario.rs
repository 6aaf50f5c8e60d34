//! Scripted faults: a [`Scenario`] is a list of [`Event`]s keyed by time since the simulator
//! started. The file format is documented in `crates/sim/scenarios/README.md`.
//!
//! This module holds the vocabulary (scenarios, events, faults, targets, errors); `file` reads
//! scenario files into it.

use core::fmt;
use core::time::Duration;
use std::io;
use std::path::PathBuf;

use credcycle_core::RoleName;
use serde::Deserialize;

use crate::request::PathClass;

mod file;

/// A script of faults and role changes, keyed by time since the simulator started.
///
/// Read one from a file with [`Scenario::from_path`] (TOML or JSON, by extension), from text
/// with [`Scenario::from_toml_str`] / [`Scenario::from_json_str`], or build one in code with
/// [`Scenario::new`].
///
/// ```
/// use credcycle_sim::{Fault, OutageMode, Scenario};
///
/// let scenario = Scenario::from_toml_str(r#"
///     name = "outage"
///     [[event]]
///     at = 60
///     duration = 30.5
///     fault = "outage"
///     mode = "timeout"
/// "#)?;
/// assert_eq!(scenario.events().len(), 1);
/// assert_eq!(scenario.events()[0].fault(), &Fault::Outage(OutageMode::Timeout));
/// # Ok::<(), credcycle_sim::ScenarioError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario {
    name: Option<String>,
    description: Option<String>,
    lifetime: Option<Duration>,
    rotate_before: Option<Duration>,
    length: Option<Duration>,
    events: Vec<Event>,
}

impl Scenario {
    /// A scenario of `events`, checked as a file's would be.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Event`] when an event is inconsistent (an instant fault with a
    /// duration, a zero-length window, a target the fault cannot apply to, an HTTP status out
    /// of range...).
    pub fn new(events: Vec<Event>) -> Result<Self, ScenarioError> {
        for (index, event) in events.iter().enumerate() {
            event
                .check()
                .map_err(|message| ScenarioError::Event { index, message })?;
        }
        Ok(Self {
            name: None,
            description: None,
            lifetime: None,
            rotate_before: None,
            length: None,
            events,
        })
    }

    /// The scenario with a name (shown in reports and logs).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The scenario's name, if it has one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The scenario's description, if it has one.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The events, in file order.
    #[must_use]
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The credential lifetime the scenario is written for (top-level `lifetime`, seconds), to
    /// put in [`SimConfig::lifetime`](crate::SimConfig::lifetime); `None` leaves the
    /// configuration's.
    #[must_use]
    pub fn lifetime(&self) -> Option<Duration> {
        self.lifetime
    }

    /// How long before expiry a new set is issued (top-level `rotate_before`, seconds), for
    /// [`SimConfig::rotate_before`](crate::SimConfig::rotate_before); `None` leaves the
    /// configuration's.
    #[must_use]
    pub fn rotate_before(&self) -> Option<Duration> {
        self.rotate_before
    }

    /// How long a run of the scenario lasts (top-level `length`, seconds), as `credcycle
    /// conform` runs it; `None` when the scenario does not say.
    #[must_use]
    pub fn length(&self) -> Option<Duration> {
        self.length
    }

    /// `config` with the scenario's `lifetime` and `rotate_before` (where it sets them) and the
    /// scenario itself.
    #[must_use]
    pub fn configure(self, mut config: crate::SimConfig) -> crate::SimConfig {
        if let Some(lifetime) = self.lifetime {
            config.lifetime = lifetime;
        }
        if let Some(rotate_before) = self.rotate_before {
            config.rotate_before = rotate_before;
        }
        config.with_scenario(self)
    }
}

/// One scripted event: a fault that starts `at` a time after the simulator started and lasts
/// for a `duration` (a window), or a role change that happens at an instant.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "file::RawEvent")]
pub struct Event {
    at: Duration,
    duration: Option<Duration>,
    target: Target,
    fault: Fault,
}

impl Event {
    /// `fault` at `at` after the start, on the fault's default target, lasting until the
    /// simulator stops (for window faults).
    #[must_use]
    pub fn new(at: Duration, fault: Fault) -> Self {
        Self {
            at,
            duration: None,
            target: fault.default_target(),
            fault,
        }
    }

    /// The event lasting `duration` (window faults only; [`Scenario::new`] rejects a duration
    /// on an instant).
    #[must_use]
    pub fn lasting(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The event applied to requests of `target` only.
    #[must_use]
    pub fn on(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// When the event starts, after the simulator's start.
    #[must_use]
    pub fn at(&self) -> Duration {
        self.at
    }

    /// How long a window lasts; `None` for an instant, or a window that never ends.
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Which requests the event applies to.
    #[must_use]
    pub fn target(&self) -> Target {
        self.target
    }

    /// What happens.
    #[must_use]
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// Whether the fault is an instant (a role change or a forced rotation).
    #[must_use]
    pub fn is_instant(&self) -> bool {
        self.fault.is_instant()
    }

    /// Checks the combination of fields; the message names the field at fault.
    fn check(&self) -> Result<(), String> {
        let kind = self.fault.kind();
        if self.fault.is_instant() {
            if self.duration.is_some() {
                return Err(format!(
                    "field `duration` does not apply to fault `{kind}`, which happens at an instant"
                ));
            }
            if self.target != Target::Any {
                return Err(format!("field `target` does not apply to fault `{kind}`"));
            }
        }
        if self.duration == Some(Duration::ZERO) {
            return Err("field `duration` must be greater than zero".to_owned());
        }
        match &self.fault {
            Fault::Outage(OutageMode::Http { status, .. }) if !(400..=599).contains(status) => Err(
                format!("field `status`: {status} is not an HTTP error status (400 to 599)"),
            ),
            Fault::Delay(delay) if delay.is_zero() => {
                Err("field `delay` must be greater than zero".to_owned())
            }
            Fault::Throttle { per_second: 0 } => Err(
                "field `per_second` must be at least 1 (use an outage to drop everything)"
                    .to_owned(),
            ),
            Fault::Expired { by } if by.is_zero() => {
                Err("field `by` must be greater than zero".to_owned())
            }
            Fault::Expired { .. } | Fault::NotRotated if self.target != Target::Credentials => Err(
                format!("field `target`: fault `{kind}` applies to `credentials` only"),
            ),
            Fault::Malformed(m) if !m.applies_to(self.target) => Err(format!(
                "field `target`: body `{}` cannot apply to `{}`",
                m.as_str(),
                self.target.as_str()
            )),
            _ => Ok(()),
        }
    }
}

/// What a scripted event does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// (Window) IMDS is down: requests time out, are reset, or get an HTTP error status.
    Outage(OutageMode),
    /// (Window) Successful replies have a broken body.
    Malformed(Malformation),
    /// (Window) Replies come this much later.
    Delay(Duration),
    /// (Window) At most `per_second` requests are answered in any one-second span; the excess
    /// is dropped without an answer, as the real IMDS drops packets over its limit.
    Throttle {
        /// Requests answered per second (one HTTP request is several packets on the wire).
        per_second: u32,
    },
    /// (Window) Credentials are served already expired: `Expiration` is `by` in the past.
    Expired {
        /// How far in the past `Expiration` is.
        by: Duration,
    },
    /// (Window) No scheduled rotation: the current set is served past its rotation point (and
    /// past its expiry, if the window lasts that long).
    NotRotated,
    /// (Instant) The instance profile is removed: the role listing answers 404.
    Detach,
    /// (Instant) An instance profile with this role is attached (replacing any other).
    Attach(RoleName),
    /// (Instant) The instance profile is replaced by one with this role.
    Change(RoleName),
    /// (Instant) A new credential set is issued at once.
    Rotate,
    /// (Instant) IMDS forgets every session token it issued, as when a client's token reaches
    /// the end of its TTL mid-run: requests carrying one get 401 until the client asks for a
    /// new one.
    ForgetTokens,
}

impl Fault {
    /// Whether the fault happens at an instant rather than over a window.
    #[must_use]
    pub fn is_instant(&self) -> bool {
        matches!(
            self,
            Self::Detach | Self::Attach(_) | Self::Change(_) | Self::Rotate | Self::ForgetTokens
        )
    }

    /// The name of the fault in scenario files (`outage`, `not-rotated`...).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        FaultKind::of(self).as_str()
    }

    fn default_target(&self) -> Target {
        match self {
            Self::Malformed(_) | Self::Expired { .. } | Self::NotRotated => Target::Credentials,
            _ => Target::Any,
        }
    }
}

/// How an outage looks to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutageMode {
    /// The connection is accepted but never answered, until the client gives up.
    Timeout,
    /// The connection is reset without an answer.
    Reset,
    /// An HTTP error status (400 to 599) with the service's error page. The real IMDS never
    /// sends 429 or 503; script them only to test a client's defences.
    Http {
        /// The status code.
        status: u16,
        /// A `Retry-After` header, in seconds, if any.
        retry_after: Option<u32>,
    },
}

/// A broken reply body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Malformation {
    /// The first half of the body only (JSON cut off mid-way, half a token).
    Truncated,
    /// An HTML error page instead of the expected text or JSON.
    NotJson,
    /// An empty body.
    Empty,
    /// JSON without `SecretAccessKey` and `Token` (credentials) or without
    /// `InstanceProfileArn` (info).
    MissingFields,
    /// Credentials whose `Expiration` is not a timestamp.
    BadExpiration,
    /// What IMDS sends when EC2 cannot assume the role: `Code`
    /// `AssumeRoleUnauthorizedAccess` with a `Message` and no keys, and status 200.
    AssumeRoleFailure,
}

impl Malformation {
    /// The name used in scenario files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::NotJson => "not-json",
            Self::Empty => "empty",
            Self::MissingFields => "missing-fields",
            Self::BadExpiration => "bad-expiration",
            Self::AssumeRoleFailure => "assume-role-failure",
        }
    }

    fn applies_to(self, target: Target) -> bool {
        match self {
            Self::Truncated | Self::NotJson | Self::Empty => true,
            Self::MissingFields => matches!(target, Target::Credentials | Target::Info),
            Self::BadExpiration | Self::AssumeRoleFailure => target == Target::Credentials,
        }
    }
}

/// Which requests an event applies to: every IMDS request, or one [`PathClass`].
///
/// The simulator's own `/_sim/*` endpoints are never faulted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Target {
    /// Every request except `/_sim/*`.
    #[default]
    Any,
    /// The token `PUT` ([`PathClass::Token`]).
    Token,
    /// The role listing ([`PathClass::RoleList`]).
    RoleList,
    /// A role's credentials ([`PathClass::Credentials`]).
    Credentials,
    /// `iam/info` ([`PathClass::Info`]).
    Info,
    /// Other metadata paths ([`PathClass::Metadata`]).
    Metadata,
    /// Paths outside the metadata tree ([`PathClass::Other`]).
    Other,
}

impl Target {
    /// Whether a request of `class` is targeted.
    #[must_use]
    pub fn matches(self, class: PathClass) -> bool {
        match self {
            Self::Any => class != PathClass::Sim,
            Self::Token => class == PathClass::Token,
            Self::RoleList => class == PathClass::RoleList,
            Self::Credentials => class == PathClass::Credentials,
            Self::Info => class == PathClass::Info,
            Self::Metadata => class == PathClass::Metadata,
            Self::Other => class == PathClass::Other,
        }
    }

    /// The name used in scenario files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Token => "token",
            Self::RoleList => "role-list",
            Self::Credentials => "credentials",
            Self::Info => "info",
            Self::Metadata => "metadata",
            Self::Other => "other",
        }
    }
}

/// The text format of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScenarioFormat {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl fmt::Display for ScenarioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Toml => "toml",
            Self::Json => "json",
        })
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file name ends in neither `.toml` nor `.json`.
    #[error("scenario file {} has an unknown extension: expected .toml or .json", .path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a valid scenario. Displayed as `origin:line:column: field: message`.
    #[error("{origin}:{line}:{column}: {}{message}", field_prefix(.field.as_deref()))]
    Parse {
        /// The file name, or `<toml>` / `<json>` for text.
        origin: String,
        /// The format it was read as.
        format: ScenarioFormat,
        /// The line of the error, counted from 1 (0 when the parser did not say).
        line: usize,
        /// The column of the error, counted from 1 (0 when the parser did not say).
        column: usize,
        /// The path of the field at fault, such as `event[2].mode`, when there is one.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An event built in code is inconsistent ([`Scenario::new`]).
    #[error("event {index}: {message}")]
    Event {
        /// The event's index in the list, from 0.
        index: usize,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl ScenarioError {
    /// The line of a parse error, counted from 1.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Parse { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }

    /// The field path of a parse error, such as `event[2].mode`.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Parse { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("{f}: ")).unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FaultKind {
    Outage,
    Malformed,
    Delay,
    Throttle,
    Expired,
    NotRotated,
    Detach,
    Attach,
    Change,
    Rotate,
    ForgetTokens,
}

impl FaultKind {
    fn of(fault: &Fault) -> Self {
        match fault {
            Fault::Outage(_) => Self::Outage,
            Fault::Malformed(_) => Self::Malformed,
            Fault::Delay(_) => Self::Delay,
            Fault::Throttle { .. } => Self::Throttle,
            Fault::Expired { .. } => Self::Expired,
            Fault::NotRotated => Self::NotRotated,
            Fault::Detach => Self::Detach,
            Fault::Attach(_) => Self::Attach,
            Fault::Change(_) => Self::Change,
            Fault::Rotate => Self::Rotate,
            Fault::ForgetTokens => Self::ForgetTokens,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Outage => "outage",
            Self::Malformed => "malformed",
            Self::Delay => "delay",
            Self::Throttle => "throttle",
            Self::Expired => "expired",
            Self::NotRotated => "not-rotated",
            Self::Detach => "detach",
            Self::Attach => "attach",
            Self::Change => "change",
            Self::Rotate => "rotate",
            Self::ForgetTokens => "forget-tokens",
        }
    }

    /// The optional fields (besides `at`, `fault`, `duration` and `target`) this fault reads.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Outage => &["mode", "status", "retry_after"],
            Self::Malformed => &["body"],
            Self::Delay => &["delay"],
            Self::Throttle => &["per_second"],
            Self::Expired => &["by"],
            Self::Attach | Self::Change => &["role"],
            Self::NotRotated | Self::Detach | Self::Rotate | Self::ForgetTokens => &[],
        }
    }
}

#[cfg(test)]
mod tests;
