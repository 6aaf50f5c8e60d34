//! The canonical form of a world, and the translation that keeps every time relative to now.

use core::num::NonZeroU32;
use core::time::Duration;

use credcycle_core::internals::{self, Phase};
use credcycle_core::{AccessKeyId, Failure, MonoTime, RequestId, WallTime};

use super::{DEAD, Lifecycle, MONO0, NEXT_ID, World};

impl Lifecycle {
    /// Puts `w` in canonical form. Every rewrite erases only what no later step of the machine
    /// or of the oracle can read:
    ///
    /// - `last_mono` := now: the model feeds inputs at now, or 1 ms before the latest time seen
    ///   ([`Act::Regress`](super::Act::Regress)), so only "is it before the latest time" matters, and now is latest.
    /// - a `Waiting`/`Detached` deadline already reached := now: [`step`] only asks whether it
    ///   was reached, and the wait it is cut to (`min(until, now + cap)`) is then reached too.
    /// - the failure count capped where the uncapped backoff exceeds both caps (counted in events
    ///   only).
    /// - `generation` := 0 (only counted and reported), the last failure's details erased (read
    ///   by `Machine`'s refusal messages, never by `step`), revoked entries' times erased (`step`
    ///   matches revoked sets by key id only).
    /// - key ids renamed in order of appearance (`step` only compares them); a revoked key that
    ///   IMDS can no longer send (not held, not among the sets it may replay) renamed `DEAD`,
    ///   keeping the list's length (its eviction order still matters).
    /// - request ids shifted so that the next one is always the same (only compared).
    /// - the oracle forgets what cannot matter again: deadlines and revocations of keys that can
    ///   never be handed out again, requests that timed out, failures older than the retry floor.
    ///
    /// [`step`]: credcycle_core::step
    pub fn canonicalize(&self, w: &mut World) {
        let policy = self.pol(w.pinned);
        let now = MONO0;
        let current = w.core.outstanding().map(|(id, _)| id);
        let s = internals::parts_mut(&mut w.core);
        *s.last_mono = now;
        if let Phase::Waiting { until } | Phase::Detached { until } = &mut *s.phase
            && *until < now
        {
            *until = now;
        }
        *s.generation = 0;
        if let Some(f) = s.failing.as_mut() {
            f.count = NonZeroU32::new(f.count.get().min(self.failure_cap)).unwrap_or(f.count);
            if let Failure::Stale { expiration } = &mut f.last {
                *expiration = WallTime::UNIX_EPOCH;
            }
            if let Failure::TooShortLived { lifetime } = &mut f.last {
                *lifetime = Duration::ZERO;
            }
        }
        // The environment: only the last two sets sent can matter again (a replay).
        w.imds.keep_only_replays(2);
        // Keys: the live ones in order of appearance, the rest dead.
        let mut order: Vec<AccessKeyId> = Vec::new();
        for k in s
            .held
            .iter()
            .map(|h| &h.access_key_id)
            .chain(w.imds.sent().iter().map(|x| &x.access_key_id))
        {
            if !order.contains(k) {
                order.push(k.clone());
            }
        }
        let rename = |k: &AccessKeyId| -> AccessKeyId {
            match order.iter().position(|o| o == k) {
                Some(i) => AccessKeyId::new(format!("K{i}")),
                None => AccessKeyId::new(DEAD),
            }
        };
        if let Some(h) = s.held.as_mut() {
            h.access_key_id = rename(&h.access_key_id);
        }
        for r in s.revoked.iter_mut() {
            r.access_key_id = rename(&r.access_key_id);
            r.expiration = WallTime::UNIX_EPOCH;
            r.deadline = MonoTime::ZERO;
        }
        if let Some(e) = s.expired.as_mut() {
            // `step` matches it by key id and `Expiration`; its deadline is never read.
            e.access_key_id = rename(&e.access_key_id);
            e.deadline = MonoTime::ZERO;
        }
        w.imds.rename_keys(rename);
        let live = |k: &AccessKeyId| order.contains(k);
        let b = &mut w.books;
        b.deadlines = core::mem::take(&mut b.deadlines)
            .into_iter()
            .filter(|((k, _), _)| live(k))
            .map(|((k, e), d)| ((rename(&k), e), d))
            .collect();
        b.revoked = core::mem::take(&mut b.revoked)
            .into_iter()
            .filter(|k| live(k))
            .map(|k| rename(&k))
            .collect();
        b.accepted_since_removal = core::mem::take(&mut b.accepted_since_removal)
            .into_iter()
            .filter(|k| live(k))
            .map(|k| rename(&k))
            .collect();
        // A timed-out request still matters while the machine has not abandoned it (its reply
        // may still be accepted, and the oracle needs its start time).
        let timeout = policy.request_timeout();
        b.outstanding
            .retain(|(id, since)| Some(*id) == current || now < since.saturating_add(timeout));
        if b.last_failure
            .is_some_and(|f| f.saturating_add(policy.retry_floor()) <= now)
        {
            b.last_failure = None;
        }
        // A backoff that has ended no longer constrains anything; the count is capped with the
        // machine's (the oracle checks that the two agree).
        if b.earliest_retry.is_some_and(|t| t <= now) {
            b.earliest_retry = None;
        }
        b.failures = b.failures.min(self.failure_cap);
        if let Some((k, _)) = &mut b.held {
            *k = rename(k);
        }
        // Request ids.
        let delta = NEXT_ID as i64 - *s.next_request as i64;
        let shift_id = |id: &mut RequestId| id.0 = (id.0 as i64 + delta).max(0) as u64;
        *s.next_request = NEXT_ID;
        if let Phase::Requesting { id, .. } = &mut *s.phase {
            shift_id(id);
        }
        if let Some((id, _)) = &mut w.pending {
            shift_id(id);
        }
        for (id, _) in &mut b.outstanding {
            shift_id(id);
        }
    }
}

pub(super) fn shift(w: &mut World, d: u64) {
    let dm = Duration::from_millis(d);
    let back_mono = |t: &mut MonoTime| *t = t.saturating_sub(dm);
    let back_wall = |t: &mut WallTime| *t = t.saturating_sub(dm);
    let s = internals::parts_mut(&mut w.core);
    match &mut *s.phase {
        Phase::Requesting { since, .. } => back_mono(since),
        Phase::Waiting { until } | Phase::Detached { until } => back_mono(until),
        Phase::Idle | Phase::Stopped => {}
    }
    if let Some(h) = s.held.as_mut() {
        back_wall(&mut h.expiration);
        back_mono(&mut h.deadline);
    }
    if let Some(n) = s.newest.as_mut() {
        back_wall(n);
    }
    if let Some(e) = s.expired.as_mut() {
        back_wall(&mut e.expiration);
        back_mono(&mut e.deadline);
    }
    w.imds.shift_back(dm);
    let b = &mut w.books;
    b.deadlines = core::mem::take(&mut b.deadlines)
        .into_iter()
        .map(|((k, mut e), mut dl)| {
            back_wall(&mut e);
            back_mono(&mut dl);
            ((k, e), dl)
        })
        .collect();
    for (_, since) in &mut b.outstanding {
        back_mono(since);
    }
    if let Some(f) = &mut b.last_failure {
        back_mono(f);
    }
    if let Some(f) = &mut b.earliest_retry {
        back_mono(f);
    }
    if let Some((_, e)) = &mut b.held {
        back_wall(e);
    }
    if let Some(l) = &mut b.last_handed_out {
        back_wall(l);
    }
}
