//! Formatting: times, durations, drop reasons and refusals as the timeline writes them.

use core::time::Duration;

use credcycle_core::{DropReason, Refusal, WallTime};

/// `HH:MM:SS` of a wall time (UTC).
pub(crate) fn hms(t: WallTime) -> String {
    let secs = t.as_unix_millis().div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A duration as people read it: `5h59m58s`, `4m05s`, `0.61s`.
pub(crate) fn dur(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}.{:02}s", d.subsec_millis() / 10)
    }
}

pub(crate) fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Expired => "inside the margin, INV-1",
        DropReason::RoleGone => "role gone, INV-2",
        DropReason::NoInstanceProfile => "no instance profile, INV-2",
        DropReason::Invalidated => "rejected by AWS",
        DropReason::Shutdown => "shutdown",
    }
}

pub(crate) fn refusal_label(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Idle => "not started",
        Refusal::Discovering => "discovering",
        Refusal::Fetching { .. } => "fetching",
        Refusal::Expired { .. } => "expired",
        Refusal::Unavailable { .. } => "backing off",
        Refusal::Detached { .. } => "no instance profile",
        Refusal::Stopped => "stopped",
        _ => "other",
    }
}
