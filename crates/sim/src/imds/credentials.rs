//! Roles and credential sets: attaching and detaching the instance profile, issuing sets, the
//! rotation schedule, and which set is served at a given time.

use std::time::Duration;

use credcycle_core::{MonoTime, RoleName, SecretAccessKey, SessionToken, WallTime};

use super::state::{Attachment, AuditEntry, IssueReason, LiveSet, SimImds};
use crate::rng::{BASE64, UPPER_ALNUM};
use crate::scenario::Fault;
use crate::wire::whole_second;

impl SimImds {
    pub(super) fn set_role(&mut self, t: MonoTime, role: Option<RoleName>) {
        if self.role.as_ref().map(|a| &a.role) == role.as_ref() {
            return;
        }
        let now = whole_second(self.aws_at(t));
        if let Some(old) = self.role.take() {
            for entry in &mut self.audit {
                if entry.role == old.role && entry.revoked_at.is_none() {
                    entry.revoked_at = Some(now);
                }
            }
        }
        for window in &mut self.windows {
            window.stale = None;
        }
        self.role = role.map(|role| Attachment {
            role,
            profile_id: format!("AIPA{}", self.rng.string(UPPER_ALNUM, 17)),
            attached_at: now,
            current: None,
        });
    }

    pub(super) fn force_rotate(&mut self, t: MonoTime) -> Option<String> {
        let role = self.role.as_ref()?.role.clone();
        let set = self.issue_fresh(t, role, IssueReason::Forced);
        let key = self.audit[set.entry].key_id.clone();
        if let Some(attachment) = &mut self.role {
            attachment.current = Some(set);
        }
        Some(key)
    }

    /// A new set for `role`, issued now and valid for the configured lifetime.
    pub(super) fn issue_fresh(
        &mut self,
        t: MonoTime,
        role: RoleName,
        reason: IssueReason,
    ) -> LiveSet {
        let issued_at = whole_second(self.aws_at(t));
        let expiration = whole_second(issued_at.saturating_add(self.config.lifetime));
        self.issue(role, issued_at, expiration, reason)
    }

    pub(super) fn issue(
        &mut self,
        role: RoleName,
        issued_at: WallTime,
        expiration: WallTime,
        reason: IssueReason,
    ) -> LiveSet {
        let key_id = loop {
            let candidate = format!("ASIA{}", self.rng.string(UPPER_ALNUM, 16));
            if !self.by_key.contains_key(&candidate) {
                break candidate;
            }
        };
        let secret = SecretAccessKey::new(self.rng.string(BASE64, 40));
        // Real session tokens are long base64 blobs; this prefix is the one they start with.
        let token = SessionToken::new(format!("IQoJb3JpZ2luX2Vj{}", self.rng.string(BASE64, 624)));
        let entry = self.audit.len();
        self.by_key.insert(key_id.clone(), entry);
        self.audit.push(AuditEntry {
            key_id,
            role,
            issued_at,
            expiration,
            reason,
            revoked_at: None,
            uses: 0,
            expired_uses: 0,
            revoked_uses: 0,
        });
        LiveSet {
            entry,
            secret,
            token,
        }
    }

    /// The set to serve for the attached role at `t`: a stale one inside an `expired` window,
    /// else the current one, rotated first if it is due (and no `not-rotated` window is
    /// active). Returns the audit index, the secret and the session token.
    pub(super) fn serving_set(&mut self, t: MonoTime) -> Option<(usize, String, String)> {
        let role = self.role.as_ref()?.role.clone();
        let aws = self.aws_at(t);
        // An `expired` window serves a set whose Expiration is already past.
        let expired = self
            .windows
            .iter()
            .position(|w| w.active(t) && matches!(w.fault, Fault::Expired { .. }));
        if let Some(i) = expired {
            let reusable = self.windows[i]
                .stale
                .as_ref()
                .is_some_and(|s| self.audit[s.entry].role == role);
            if !reusable {
                let by = match self.windows[i].fault {
                    Fault::Expired { by } => by,
                    _ => Duration::ZERO,
                };
                let expiration = whole_second(aws.saturating_sub(by));
                let issued_at = expiration.saturating_sub(self.config.lifetime);
                let set = self.issue(role, issued_at, expiration, IssueReason::ExpiredFault);
                self.windows[i].stale = Some(set);
            }
            return self.windows[i].stale.as_ref().map(LiveSet::parts);
        }
        let stalled = self
            .windows
            .iter()
            .any(|w| w.active(t) && w.fault == Fault::NotRotated);
        let rotate_before = self.config.rotate_before;
        let attachment = self.role.as_ref()?;
        let due = match &attachment.current {
            None => Some(IssueReason::First),
            Some(set) => {
                let rotation_point = self.audit[set.entry]
                    .expiration
                    .saturating_sub(rotate_before);
                (!stalled && aws >= rotation_point).then_some(IssueReason::Scheduled)
            }
        };
        if let Some(reason) = due {
            let set = self.issue_fresh(t, role, reason);
            if let Some(attachment) = &mut self.role {
                attachment.current = Some(set);
            }
        }
        self.role
            .as_ref()
            .and_then(|a| a.current.as_ref())
            .map(LiveSet::parts)
    }
}

impl LiveSet {
    pub(super) fn parts(&self) -> (usize, String, String) {
        (
            self.entry,
            self.secret.expose_secret().to_owned(),
            self.token.expose_secret().to_owned(),
        )
    }
}
