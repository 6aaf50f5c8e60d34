//! Times, actions and moves, as people read them in traces and counterexamples.

use core::fmt;
use core::time::Duration;

use credcycle_core::oracle::{self, Violation, signed as human_signed};
use credcycle_core::{Action, Event, Jitter, MonoTime};

use super::{Act, MONO0};

pub(super) fn v(id: &'static str, detail: impl Into<String>) -> Violation {
    Violation::new(id, detail)
}

/// Whole milliseconds of `d`.
#[must_use]
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn mono_diff(a: MonoTime, b: MonoTime) -> i64 {
    a.as_millis() as i64 - b.as_millis() as i64
}

/// A monotonic instant relative to now, for people: `now+4h45m`, `now-30s`.
#[must_use]
pub fn rel_mono(t: MonoTime) -> String {
    oracle::relative(t, MONO0)
}

/// A duration in ms, for people.
#[must_use]
pub fn human(ms: u64) -> String {
    credcycle_core::HumanDuration(Duration::from_millis(ms)).to_string()
}

pub(super) fn format_action(a: &Action) -> String {
    match a {
        Action::DiscoverRole { id } => format!("DiscoverRole {id}"),
        Action::FetchCredentials { id, role } => format!("FetchCredentials {id} {role}"),
        Action::Notify(Event::Accepted {
            access_key_id,
            refresh_at,
            ..
        }) => format!(
            "Accepted {access_key_id}, refresh at {}",
            rel_mono(*refresh_at)
        ),
        Action::Notify(Event::AttemptFailed {
            failure, retry_at, ..
        }) => format!(
            "AttemptFailed ({failure}), retry at {}",
            rel_mono(*retry_at)
        ),
        Action::Notify(Event::Dropped {
            access_key_id,
            reason,
        }) => format!("Dropped {access_key_id} ({reason})"),
        Action::Notify(Event::RoleDiscovered { role }) => format!("RoleDiscovered {role}"),
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn j(j: &Jitter) -> &'static str {
            match *j {
                Jitter::ZERO => "",
                Jitter::HALF => " (jitter 1/2)",
                Jitter::ONE => " (jitter 1)",
                _ => " (jitter ?)",
            }
        }
        match self {
            Self::Demand(x) => write!(f, "Demand{}", j(x)),
            Self::Tick(x) => write!(f, "Tick{}", j(x)),
            Self::Wake(x) => write!(f, "wait to the next deadline, Tick{}", j(x)),
            Self::Wait(jump, d) => write!(f, "wait {} ({jump:?})", human(*d)),
            Self::JumpWall(d) => write!(f, "wall clock jumps {}", human_signed(*d)),
            Self::Answer(a, x) => write!(f, "IMDS answers {a:?}{}", j(x)),
            Self::StaleReply(false) => write!(f, "a listing reply with a made-up id"),
            Self::StaleReply(true) => {
                write!(
                    f,
                    "a credentials reply with a made-up id, carrying a new set"
                )
            }
            Self::Invalidate(true) => write!(f, "Invalidate the held key"),
            Self::Invalidate(false) => write!(f, "Invalidate a key never issued"),
            Self::Shutdown => write!(f, "Shutdown"),
            Self::Regress => write!(f, "Tick 1 ms in the past"),
        }
    }
}
