//! The audit: the request log, the use records (was a set used past its expiration, or after its
//! role was revoked?), the counts, and the [`Report`] built from them.

use std::collections::BTreeMap;

use credcycle_core::{MonoTime, Now};

use super::state::{AuditEntry, IssueReason, SimImds};
use crate::report::{IssuedSet, LoggedRequest, Report, UseRecord};
use crate::request::{PathClass, SimReply};
use crate::wire::timestamp;

impl SimImds {
    /// Every IMDS request answered so far (the first
    /// [`MAX_LOGGED_REQUESTS`](crate::MAX_LOGGED_REQUESTS)), oldest first: when it arrived, its
    /// class and its outcome. `/_sim/*` requests are not in it.
    #[must_use]
    pub fn request_log(&self) -> &[LoggedRequest] {
        &self.log
    }

    /// The audit so far: counts, requests by class and outcome, and every set issued.
    #[must_use]
    pub fn report(&self) -> Report {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (class, outcomes) in &self.stats.requests {
            requests.insert(class.as_str().to_owned(), outcomes.clone());
        }
        Report {
            scenario: self.scenario_name.clone(),
            role: self.role.as_ref().map(|a| a.role.as_str().to_owned()),
            issued: self.audit.len() as u64,
            uses: self.stats.uses,
            expired_uses: self.stats.expired_uses,
            revoked_uses: self.stats.revoked_uses,
            unknown_uses: self.stats.unknown_uses,
            token_puts: self.stats.token_puts,
            tokens_issued: self.stats.tokens_issued,
            unauthorized: self.stats.unauthorized,
            dropped: self.stats.dropped,
            resets: self.stats.resets,
            requests,
            sets: self.audit.iter().map(AuditEntry::report).collect(),
        }
    }

    /// Records a use of the set `access_key_id` at `now`, and whether it had expired (or its
    /// role had been revoked) by then. `None` for a key the simulator never issued (counted as
    /// an unknown use).
    pub fn record_use(&mut self, now: Now, access_key_id: &str) -> Option<UseRecord> {
        let t = self.observe(now);
        self.use_key(t, access_key_id)
    }

    pub(super) fn use_key(&mut self, t: MonoTime, key: &str) -> Option<UseRecord> {
        let Some(&index) = self.by_key.get(key) else {
            self.stats.unknown_uses += 1;
            return None;
        };
        let aws = self.aws_at(t);
        let entry = &mut self.audit[index];
        let expired = aws >= entry.expiration;
        let revoked = entry.revoked_at.is_some_and(|r| aws >= r);
        entry.uses += 1;
        self.stats.uses += 1;
        if expired {
            entry.expired_uses += 1;
            self.stats.expired_uses += 1;
        }
        if revoked {
            entry.revoked_uses += 1;
            self.stats.revoked_uses += 1;
        }
        Some(UseRecord {
            access_key_id: entry.key_id.clone(),
            expired,
            revoked,
            expiration: timestamp(entry.expiration),
            at: timestamp(aws),
        })
    }

    pub(super) fn count(&mut self, class: PathClass, reply: &SimReply) {
        *self
            .stats
            .requests
            .entry(class)
            .or_default()
            .entry(reply.outcome())
            .or_default() += 1;
        match reply {
            SimReply::Drop => self.stats.dropped += 1,
            SimReply::Reset => self.stats.resets += 1,
            SimReply::Respond { status: 401, .. } if class != PathClass::Sim => {
                self.stats.unauthorized += 1;
            }
            SimReply::Respond { .. } => {}
        }
    }
}

impl AuditEntry {
    pub(super) fn report(&self) -> IssuedSet {
        IssuedSet {
            access_key_id: self.key_id.clone(),
            role: self.role.as_str().to_owned(),
            issued_at: timestamp(self.issued_at),
            expiration: timestamp(self.expiration),
            reason: self.reason.as_str().to_owned(),
            revoked_at: self.revoked_at.map(timestamp),
            uses: self.uses,
            expired_uses: self.expired_uses,
            revoked_uses: self.revoked_uses,
        }
    }
}

impl IssueReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Scheduled => "scheduled",
            Self::Forced => "forced",
            Self::ExpiredFault => "expired-fault",
        }
    }
}
