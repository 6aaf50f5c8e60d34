//! The simulated IMDS: one instance, its role and the sets it issues, on the true wall clock.

use core::time::Duration;

use crate::creds::{AccessKeyId, Credentials, RoleName, SecretAccessKey, SessionToken};
use crate::input::ImdsFailure;
use crate::time::WallTime;

/// The prefix of every secret the [`ImdsModel`] issues: a test can search any output for it.
pub const SENTINEL: &str = "SENTINEL-SECRET";

/// A credential set the simulated IMDS issued.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Issued {
    /// Its access key id (unique per issue).
    pub access_key_id: AccessKeyId,
    /// Its expiry, on the true clock.
    pub expiration: WallTime,
}

/// The environment: one instance and its IMDS, on the *true* wall clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImdsModel {
    /// Lifetime of the credentials IMDS issues.
    pub lifetime: Duration,
    /// New credentials become available this long before the current ones expire.
    pub rotate_before: Duration,
    /// The role attached now, if any.
    pub attached: Option<RoleName>,
    current: Option<Issued>,
    /// The `Expiration` of the last set issued by rotation.
    last_rotation: Option<WallTime>,
    /// A rotation a scenario scheduled, overriding the usual point (once).
    scheduled: Option<WallTime>,
    sent: Vec<Issued>,
    issued: u64,
    roles: u64,
}

impl ImdsModel {
    /// An instance with role `role-0` attached, issuing credentials of `lifetime`, rotated
    /// `rotate_before` expiry.
    #[must_use]
    pub fn new(lifetime: Duration, rotate_before: Duration) -> Self {
        Self {
            lifetime,
            rotate_before,
            attached: Some(role(0)),
            current: None,
            last_rotation: None,
            scheduled: None,
            sent: Vec::new(),
            issued: 0,
            roles: 0,
        }
    }

    /// An instance with `role` attached whose IMDS already holds `current` as its current set
    /// (a run that starts in the middle of a set's life), and whose next sets expire later than
    /// `newest`.
    #[must_use]
    pub fn serving(
        lifetime: Duration,
        rotate_before: Duration,
        role: RoleName,
        current: Option<Issued>,
        newest: Option<WallTime>,
    ) -> Self {
        Self {
            attached: Some(role),
            last_rotation: newest.max(current.as_ref().map(|c| c.expiration)),
            current,
            ..Self::new(lifetime, rotate_before)
        }
    }

    /// The set IMDS serves now, if it has one (it may be due to rotate).
    #[must_use]
    pub fn current(&self) -> Option<&Issued> {
        self.current.as_ref()
    }

    /// The sets IMDS sent, oldest first (the last eight): what [`Answer::Same`] and
    /// [`Answer::Older`] replay.
    #[must_use]
    pub fn sent(&self) -> &[Issued] {
        &self.sent
    }

    /// Moves every instant it keeps back by `d`: for a model checker that keeps time relative
    /// to "now" (when time passes, everything it stored moves into the past instead).
    pub fn shift_back(&mut self, d: Duration) {
        let back = |t: &mut WallTime| *t = t.saturating_sub(d);
        for set in self.current.iter_mut().chain(self.sent.iter_mut()) {
            back(&mut set.expiration);
        }
        self.last_rotation.iter_mut().for_each(back);
        self.scheduled.iter_mut().for_each(back);
    }

    /// Renames every key id it keeps with `rename` (a model checker's canonical names).
    pub fn rename_keys(&mut self, rename: impl Fn(&AccessKeyId) -> AccessKeyId) {
        for set in self.current.iter_mut().chain(self.sent.iter_mut()) {
            set.access_key_id = rename(&set.access_key_id);
        }
    }

    /// Forgets all but what an IMDS that may answer anything still needs: the last `replays`
    /// sets sent (what [`Answer::Same`] and [`Answer::Older`] can send again). The attached role,
    /// the current set and the rotation schedule are erased, and key numbering restarts (a
    /// model checker renames every key it keeps, so the next new key is still new). For a model
    /// checker whose every answer is chosen by the search: it attaches the role an answer needs
    /// before giving it, and two states differing only in what is erased behave the same.
    pub fn keep_only_replays(&mut self, replays: usize) {
        let excess = self.sent.len().saturating_sub(replays);
        self.sent.drain(..excess);
        self.attached = None;
        self.current = None;
        self.last_rotation = None;
        self.scheduled = None;
        self.issued = 0;
        self.roles = 0;
    }

    /// Detaches the instance profile.
    pub fn detach(&mut self) {
        self.attached = None;
        self.current = None;
    }

    /// Attaches a profile: the previous role again if `same`, a new role otherwise.
    pub fn attach(&mut self, same: bool) {
        if !same {
            self.roles += 1;
        }
        self.attach_role(role(self.roles));
    }

    /// Attaches `role` (keeping the current set if it is already attached).
    pub fn attach_role(&mut self, role: RoleName) {
        if self.attached.as_ref() != Some(&role) {
            self.attached = Some(role);
            self.current = None;
        }
    }

    /// AWS rejected `key` (a caller saw `InvalidToken`): if it is the current set, IMDS serves a
    /// new one from the next request on.
    pub fn reject(&mut self, key: &AccessKeyId) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| &c.access_key_id == key)
        {
            self.current = None;
        }
    }

    /// Replaces the attached role with a new one.
    pub fn change_role(&mut self) {
        self.roles += 1;
        self.attached = Some(role(self.roles));
        self.current = None;
    }

    /// Schedules the next rotation at `at` (true time) instead of `rotate_before` the current
    /// set's expiry: a scenario in which IMDS rotates earlier, or later than the client's
    /// refresh window opens. It applies once; later rotations follow the usual schedule.
    pub fn schedule_rotation(&mut self, at: WallTime) {
        self.scheduled = Some(at);
    }

    /// The set IMDS serves at `now` (true time): the current one, or a new one once the
    /// current one is within `rotate_before` of its expiry (or a scheduled rotation is due).
    pub fn serve(&mut self, now: WallTime) -> Issued {
        match &self.current {
            Some(c) if now < self.rotation_point(c) => c.clone(),
            _ => self.rotate(now),
        }
    }

    /// When IMDS replaces `current`: at the scheduled rotation, if any, else `rotate_before`
    /// its expiry.
    fn rotation_point(&self, current: &Issued) -> WallTime {
        self.scheduled
            .unwrap_or_else(|| current.expiration.saturating_sub(self.rotate_before))
    }

    /// Issues a new set at `now` (true time), rotating early. A new set always expires later
    /// than the one it replaces, as on EC2, even when both are issued in the same second.
    pub fn rotate(&mut self, now: WallTime) -> Issued {
        self.issued += 1;
        let mut expiration = now.saturating_add(self.lifetime);
        if let Some(previous) = self.last_rotation {
            expiration = expiration.max(previous.saturating_add(Duration::from_secs(1)));
        }
        self.last_rotation = Some(expiration);
        self.scheduled = None;
        let set = Issued {
            access_key_id: AccessKeyId::new(format!("ASIA{:012}", self.issued)),
            expiration,
        };
        self.current = Some(set.clone());
        set
    }

    fn odd_set(&mut self, prefix: &str, expiration: WallTime) -> Issued {
        self.issued += 1;
        Issued {
            access_key_id: AccessKeyId::new(format!("{prefix}{:09}", self.issued)),
            expiration,
        }
    }

    /// Answers a role listing.
    pub fn answer_role(&mut self, answer: &Answer) -> Result<RoleName, ImdsFailure> {
        match (answer, &self.attached) {
            (Answer::Fail(f), _) => Err(f.clone()),
            (Answer::NotFound, _) | (_, None) => {
                // A 404 on the listing is AWS saying no profile is attached: whatever was
                // attached is gone, and a later attachment gets new credentials.
                self.current = None;
                Err(ImdsFailure::NoInstanceProfile)
            }
            (_, Some(r)) => Ok(r.clone()),
        }
    }

    /// Answers a credentials request for `role` at `now` (true time); `margin` is the client's
    /// expiry margin, used to make a too-short-lived set.
    pub fn answer_credentials(
        &mut self,
        role: &RoleName,
        answer: &Answer,
        now: WallTime,
        margin: Duration,
    ) -> Result<Credentials, ImdsFailure> {
        match (&self.attached, answer) {
            (_, Answer::Fail(f)) => return Err(f.clone()),
            (None, _) => return Err(ImdsFailure::NoInstanceProfile),
            (Some(r), _) if r != role => return Err(ImdsFailure::RoleNotFound),
            (_, Answer::NotFound) => {
                // The role was removed (and perhaps attached again): its old set is gone.
                self.current = None;
                return Err(ImdsFailure::RoleNotFound);
            }
            _ => {}
        }
        let set = match answer {
            Answer::Fresh => self.rotate(now),
            Answer::Same => match self.sent.last() {
                Some(s) => s.clone(),
                None => self.serve(now),
            },
            Answer::Older => match self
                .sent
                .len()
                .checked_sub(2)
                .and_then(|i| self.sent.get(i))
            {
                Some(s) => s.clone(),
                None => self.serve(now),
            },
            Answer::Expired => self.odd_set("ASIAOLD", now.saturating_sub(Duration::from_secs(1))),
            Answer::ShortLived => self.odd_set("ASIASHORT", now.saturating_add(margin / 2)),
            Answer::Lasting(d) => self.odd_set("ASIANEW", now.saturating_add(*d)),
            // Failures returned above.
            Answer::Healthy | Answer::Fail(_) | Answer::NotFound => self.serve(now),
        };
        if self.sent.len() >= 8 {
            self.sent.remove(0);
        }
        self.sent.push(set.clone());
        Ok(credentials_for(&set))
    }
}

/// The credentials for an issued set, with sentinel secrets derived from the key id.
#[must_use]
pub fn credentials_for(set: &Issued) -> Credentials {
    Credentials::new(
        set.access_key_id.clone(),
        SecretAccessKey::new(format!("{SENTINEL}-key-{}", set.access_key_id)),
        SessionToken::new(format!("{SENTINEL}-token-{}", set.access_key_id)),
        set.expiration,
    )
    .with_kind("AWS-HMAC")
}

pub(in crate::testing) fn role(n: u64) -> RoleName {
    RoleName::new(format!("role-{n}")).expect("role-N is a valid role name")
}

/// How the simulated IMDS answers the outstanding request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// What a healthy IMDS serves now: the current set, rotated on schedule.
    Healthy,
    /// A brand-new set (an early rotation).
    Fresh,
    /// The set sent last time again (not rotated, or a replay across a role change).
    Same,
    /// The set sent the time before last again (an older set replayed, perhaps of an old role).
    Older,
    /// A set that has already expired.
    Expired,
    /// A set living no longer than the client's margin (half of it).
    ShortLived,
    /// A brand-new set valid for exactly this long, outside the rotation schedule (a set of
    /// another lifetime, one living exactly the margin, or just over it).
    Lasting(Duration),
    /// A failure.
    Fail(ImdsFailure),
    /// 404 on the path asked for.
    NotFound,
}
