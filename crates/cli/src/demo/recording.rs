//! What the demo run recorded, in seconds since its start, and the timeline drawn from it.

use std::collections::BTreeMap;

use credcycle_core::{StateKind, WallTime};

use super::{ATTACH, DETACH, END, OUTAGE, ROLE_CHANGE};
use crate::timeline::{Cell, SetBar, Span, Strip, Timeline};

/// The virtual wall clock at the start (2026-11-28T10:00:00Z): fixed, so that the run is too.
pub(super) const WALL_START: WallTime = WallTime::from_unix_secs(1_795_860_000);
/// The margin of the story's policy, in seconds.
const MARGIN: f64 = 1.0;

/// One IMDS request as the Provider saw it: when (seconds), what, and how it ended.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub(crate) at: f64,
    pub(crate) what: &'static str,
    pub(crate) outcome: String,
}

/// Everything the run recorded, in seconds since the start.
pub(crate) struct Recording {
    pub(crate) seed: u64,
    pub(crate) workers: usize,
    /// Per worker, per second.
    pub(crate) cells: Vec<Vec<Cell>>,
    /// The lifecycle state from each instant on.
    pub(crate) states: Vec<(f64, StateKind)>,
    /// The key handed out last at each instant it changed.
    pub(crate) serving: Vec<(f64, String)>,
    pub(crate) asked: Vec<Asked>,
    pub(crate) sets: Vec<credcycle_sim::IssuedSet>,
}

/// Seconds since the start of an RFC 3339 time on the virtual wall clock.
fn secs(stamp: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|d| (d.timestamp_millis() - WALL_START.as_unix_millis()) as f64 / 1000.0)
}

impl Recording {
    pub(crate) fn state_at(&self, t: f64) -> Option<StateKind> {
        self.states
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map(|(_, s)| *s)
    }

    /// The key handed out last at or before `t`.
    pub(crate) fn serving_at(&self, t: f64) -> Option<&str> {
        self.serving
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map(|(_, k)| k.as_str())
    }

    /// A short label for a key: its last six characters.
    pub(crate) fn short(key: &str) -> String {
        let tail: Vec<char> = key.chars().rev().take(6).collect();
        format!("…{}", tail.into_iter().rev().collect::<String>())
    }

    pub(super) fn timeline(&self) -> Timeline {
        // When each set began to be refreshed: the first instant the lifecycle left Fresh
        // while that set was the one handed out (for Refreshing, or straight for BackingOff
        // when IMDS answered at once that it had not rotated yet).
        let mut refresh: BTreeMap<&str, f64> = BTreeMap::new();
        for (at, state) in &self.states {
            if matches!(state, StateKind::Refreshing | StateKind::BackingOff)
                && let Some(key) = self.serving_at(*at)
            {
                refresh.entry(key).or_insert(*at);
            }
        }
        let sets = self
            .sets
            .iter()
            .filter_map(|s| {
                Some(SetBar {
                    label: format!("{} {}", Self::short(&s.access_key_id), s.role),
                    issued: secs(&s.issued_at)?,
                    expires: secs(&s.expiration)?,
                    margin: MARGIN,
                    revoked: s.revoked_at.as_deref().and_then(secs),
                    refresh: refresh.get(s.access_key_id.as_str()).copied(),
                })
            })
            .collect();
        let states = self
            .states
            .iter()
            .enumerate()
            .map(|(i, (from, kind))| Span {
                from: *from,
                until: self.states.get(i + 1).map_or(END, |(t, _)| *t),
                label: kind.to_string(),
            })
            .collect();
        let strips = self
            .cells
            .iter()
            .enumerate()
            .map(|(w, cells)| Strip {
                label: format!("worker {}", w + 1),
                width: 1.0,
                cells: cells.clone(),
            })
            .collect();
        Timeline {
            title: format!(
                "credcycle demo: {END:.0} s of virtual time, {} workers, seed {}",
                self.workers, self.seed
            ),
            length: END,
            sets,
            handouts: Vec::new(),
            errors: Vec::new(),
            requests: self
                .asked
                .iter()
                .map(|a| crate::timeline::Request {
                    at: a.at,
                    outcome: a.outcome.clone(),
                })
                .collect(),
            spans: story_spans(),
            states,
            strips,
        }
    }
}

/// The simulator's scripted events, as the picture names them.
pub(crate) fn story_spans() -> Vec<Span> {
    vec![
        Span {
            from: OUTAGE.0,
            until: OUTAGE.0 + OUTAGE.1,
            label: "outage: credentials answer 500".to_owned(),
        },
        Span {
            from: ROLE_CHANGE,
            until: ROLE_CHANGE,
            label: "role → demo-web-v2".to_owned(),
        },
        Span {
            from: DETACH,
            until: ATTACH,
            label: "profile detached".to_owned(),
        },
    ]
}
