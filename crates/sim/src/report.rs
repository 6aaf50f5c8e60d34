//! The audit: what the simulator issued, what was used, and what it answered.
//!
//! Nothing here holds a secret: sets are named by their access key id, which AWS itself shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts and the list of issued sets, as `GET /_sim/report` returns them (serialized as JSON
/// with these snake_case field names; maps are ordered, so the output is deterministic).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The scenario's name, if one is loaded.
    pub scenario: Option<String>,
    /// The role attached now, if any.
    pub role: Option<String>,
    /// Credential sets issued (including already-expired ones served by an `expired` fault).
    pub issued: u64,
    /// Uses recorded through `POST /_sim/use` of a known access key id.
    pub uses: u64,
    /// Uses of a set that had expired at the moment of use.
    pub expired_uses: u64,
    /// Uses of a set whose role had been detached or changed before the moment of use.
    pub revoked_uses: u64,
    /// Uses naming an access key id the simulator never issued.
    pub unknown_uses: u64,
    /// `PUT /latest/api/token` requests that reached the token logic (not dropped by a fault).
    pub token_puts: u64,
    /// Session tokens issued.
    pub tokens_issued: u64,
    /// Requests refused with 401 (missing, unknown or expired token).
    pub unauthorized: u64,
    /// Requests never answered (throttling, timeout outages).
    pub dropped: u64,
    /// Connections reset (reset outages).
    pub resets: u64,
    /// Requests by path class (`token`, `role-list`, `credentials`, `info`, `metadata`,
    /// `other`, `sim`) and outcome (the status code, `drop` or `reset`).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every credential set issued, oldest first.
    pub sets: Vec<IssuedSet>,
}

impl Report {
    /// How many requests of `class` (a [`PathClass`](crate::PathClass) name) ended with
    /// `outcome` (a status code such as `"200"`, or `"drop"` / `"reset"`).
    #[must_use]
    pub fn count(&self, class: &str, outcome: &str) -> u64 {
        self.requests
            .get(class)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }
}

/// One credential set the simulator issued (no secrets: the key id and times only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuedSet {
    /// The access key id (`ASIA` and sixteen characters).
    pub access_key_id: String,
    /// The role it was issued for.
    pub role: String,
    /// When it was issued (its `LastUpdated`), as IMDS writes timestamps.
    pub issued_at: String,
    /// Its `Expiration`.
    pub expiration: String,
    /// Why it was issued: `first`, `scheduled`, `forced` or `expired-fault`.
    pub reason: String,
    /// When its role was detached or changed, if it was.
    pub revoked_at: Option<String>,
    /// Recorded uses.
    pub uses: u64,
    /// Recorded uses after `Expiration`.
    pub expired_uses: u64,
    /// Recorded uses after `revoked_at`.
    pub revoked_uses: u64,
}

/// The outcome of recording one use (`POST /_sim/use`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UseRecord {
    /// The access key id used.
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    /// Whether the set had expired at the moment of use.
    pub expired: bool,
    /// Whether the set's role had been detached or changed before the moment of use.
    pub revoked: bool,
    /// The set's `Expiration`.
    pub expiration: String,
    /// When the use was recorded, on the simulator's clock.
    pub at: String,
}

/// One IMDS request as the simulator answered it, for timelines: when it arrived, what it asked
/// for and how it ended. `/_sim/*` requests are not logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// When it arrived, in milliseconds after the simulator started (monotonic).
    pub at_ms: u64,
    /// Its path class (`token`, `role-list`, `credentials`, `info`, `metadata`, `other`).
    pub class: String,
    /// How it ended: the status code, `drop` or `reset`.
    pub outcome: String,
}
