//! The transition function: `step(state, input, now, jitter, policy) -> Transition`.
//!
//! Total (no input makes it panic) and deterministic (the same arguments give the same result):
//! INV-6. Property tests, the model checker and trace replay all call this one function;
//! [`Machine`](crate::Machine) is a convenience around it.

use core::num::NonZeroU32;
use core::time::Duration;

use crate::creds::{AccessKeyId, Credentials, RoleName};
use crate::failure::Failure;
use crate::input::{ImdsFailure, Input, RequestId};
use crate::output::{Action, DropReason, Event};
use crate::policy::Policy;
use crate::state::{Failing, Held, Phase, Request, Revoked, State};
use crate::time::{Jitter, MonoTime, Now};

/// Declares [`Rule`] from one list of `id Name` pairs with their docs: the enum, [`Rule::ALL`],
/// [`Rule::id`] and [`Rule::name`] are all generated from it, so a rule cannot be added without
/// its id and name.
macro_rules! rules {
    ($($(#[doc = $doc:literal])* $id:ident $name:ident,)*) => {
        /// The rule of the lifecycle that a step applied. Fieldless; the ids `[R1]`... are shared
        /// with the formal model, the transition table and the docs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum Rule {
            $(
                #[doc = concat!("`[", stringify!($id), "]`")]
                $(#[doc = $doc])*
                $name,
            )*
        }

        impl Rule {
            /// Every rule, in spec order.
            pub const ALL: [Self; [$(Self::$name),*].len()] = [$(Self::$name),*];

            /// The rule's name, as in the variant: `Accept`, `NotRotated`...
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }

            /// The rule's id, `R1` to `R19`.
            #[must_use]
            pub const fn id(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($id),)*
                }
            }
        }
    };
}

rules! {
    /// The first demand starts the lifecycle: list the role (or fetch for a pinned role).
    R1 Start,
    /// The role listing named a role: fetch its credentials at once.
    R2 RoleFound,
    /// No instance profile (404 on the listing): drop and revoke everything held (INV-2),
    /// look again after a backoff delay.
    R3 Detach,
    /// Usable new credentials arrived: hold them, schedule the refresh ahead of expiry.
    R4 Accept,
    /// The answer is the set already held, expires no later (INV-5) or was revoked
    /// (INV-2): not rotated yet; keep serving, retry on the backoff schedule (INV-4).
    R5 NotRotated,
    /// The credentials had already expired, or live no longer than the margin: a failure.
    R6 RejectStale,
    /// IMDS failed (timeout, refused, HTTP error, malformed, Code != Success): back off.
    R7 Fail,
    /// The role's path answered 404: drop and revoke its credentials (INV-2), forget the
    /// role, list again after a backoff delay.
    R8 RoleGone,
    /// The refresh-ahead point was reached: refresh while still serving.
    R9 Refresh,
    /// The backoff delay (or detached wait) ended: try again.
    R10 Retry,
    /// The held credentials can no longer be served (INV-1): drop them (without revoking
    /// them: a clock is no evidence from AWS); fetch at once unless backing off.
    R11 Expire,
    /// The outstanding request timed out: count it as failed.
    R12 Abandon,
    /// AWS rejected the held set: drop and revoke it; refresh at once unless backing off.
    R13 Invalidate,
    /// Shut down.
    R14 Shutdown,
    /// Nothing is due.
    R15 Wait,
    /// An invalidation for a set that is not held: nothing to do.
    R16 InvalidateOther,
    /// A reply to a request that is not outstanding: ignored (and counted by `Machine`).
    R17 StaleReply,
    /// The monotonic clock went backwards: the input is refused, nothing changes (INV-6).
    R18 ClockRegression,
    /// Stopped: every input is ignored.
    R19 AfterStop,
}

impl core::fmt::Display for Rule {
    /// `R4 Accept`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(&format!("{} {}", self.id(), self.name()))
    }
}

/// The result of one step: the next state, the actions to carry out, and the rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Transition {
    /// The state after the step.
    pub state: State,
    /// Requests and events, in order.
    pub actions: Vec<Action>,
    /// The rule that fired.
    pub rule: Rule,
}

/// Applies one input at time `now`.
///
/// `jitter` is the randomness this step may use (refresh spread, backoff jitter); the caller
/// supplies it so that the function stays deterministic (INV-6). The state is never mutated in
/// place: the next state is returned, so a model checker can branch from any state.
pub fn step(state: &State, input: &Input, now: Now, jitter: Jitter, policy: &Policy) -> Transition {
    // INV-6: an input from the past is refused without effect; deadlines stay monotonic.
    if now.mono < state.last_mono {
        // [R18]
        return Transition {
            state: state.clone(),
            actions: Vec::new(),
            rule: Rule::ClockRegression,
        };
    }
    let mut cx = Cx {
        s: state.clone(),
        now,
        jitter,
        policy,
        actions: Vec::new(),
    };
    cx.s.last_mono = now.mono;
    let rule = if cx.s.phase == Phase::Stopped {
        // [R19]
        Rule::AfterStop
    } else {
        match input {
            Input::Demand if cx.s.phase == Phase::Idle => cx.start(),
            Input::Demand | Input::Tick => cx.advance(),
            Input::RoleReply { id, result } => cx.role_reply(*id, result),
            Input::CredentialsReply { id, result } => cx.credentials_reply(*id, result),
            Input::Invalidate { access_key_id } => cx.invalidate(access_key_id),
            Input::Shutdown => cx.shutdown(),
        }
    };
    Transition {
        state: cx.s,
        actions: cx.actions,
        rule,
    }
}

/// One step in progress.
struct Cx<'a> {
    s: State,
    now: Now,
    jitter: Jitter,
    policy: &'a Policy,
    actions: Vec<Action>,
}

impl Cx<'_> {
    /// `[R1]`
    fn start(&mut self) -> Rule {
        self.request_next();
        Rule::Start
    }

    /// Time-based rules, applied in order: `[R12]` request timeout, `[R11]` expiry, `[R9]`/`[R10]`
    /// due; the rule reported is the first of `[R11]`, `[R12]`, `[R9]`/`[R10]`, `[R15]` that
    /// applied, as in the Quint spec's `advance`.
    fn advance(&mut self) -> Rule {
        let mut abandon = false;
        let mut expire = false;
        let mut due = None;
        if let Phase::Requesting { since, .. } = self.s.phase {
            // [R12] LIVE-1: a reply that never comes cannot wedge the lifecycle.
            if self.now.mono >= since.saturating_add(self.policy.request_timeout()) {
                self.fail(Failure::Imds(ImdsFailure::Timeout));
                abandon = true;
            }
        }
        if let Some(held) = &self.s.held {
            // [R11] INV-1: what can no longer be served is dropped, on either clock.
            if held
                .serve_mode(self.now, self.s.failing(), self.policy)
                .is_none()
            {
                // Dropped, not revoked: only evidence from AWS revokes (INV-2). Remembered, so
                // that if IMDS serves it again after a wall-clock correction it is judged anew
                // against the corrected clocks (LIVE-1).
                self.s.expired = Some(Revoked::of(held));
                self.drop_held(DropReason::Expired, false);
                self.replan_after_drop();
                expire = true;
            }
        }
        if let Phase::Waiting { until } | Phase::Detached { until } = self.s.phase {
            // INV-4: nothing is requested before the refresh point or the end of the backoff.
            if self.now.mono >= until {
                due = Some(if self.s.held.is_some() && !self.s.failing() {
                    // [R9]
                    Rule::Refresh
                } else {
                    // [R10]
                    Rule::Retry
                });
                self.request_next();
            }
        }
        // [R11] before [R12] before [R9]/[R10] before [R15].
        match (expire, abandon, due) {
            (true, _, _) => Rule::Expire,
            (false, true, _) => Rule::Abandon,
            (false, false, Some(due)) => due,
            (false, false, None) => Rule::Wait,
        }
    }

    fn role_reply(&mut self, id: RequestId, result: &Result<RoleName, ImdsFailure>) -> Rule {
        if !matches!(self.s.outstanding(), Some((out, Request::DiscoverRole)) if out == id) {
            // [R17]
            return Rule::StaleReply;
        }
        match result {
            Ok(role) => {
                // [R2]
                self.s.role = Some(role.clone());
                self.notify(Event::RoleDiscovered { role: role.clone() });
                self.request_next();
                Rule::RoleFound
            }
            Err(ImdsFailure::NoInstanceProfile | ImdsFailure::RoleNotFound) => self.detach(),
            Err(failure) => {
                // [R7]
                self.fail(Failure::Imds(failure.clone()));
                Rule::Fail
            }
        }
    }

    fn credentials_reply(
        &mut self,
        id: RequestId,
        result: &Result<Credentials, ImdsFailure>,
    ) -> Rule {
        let since = match &self.s.phase {
            Phase::Requesting {
                id: out,
                request: Request::FetchCredentials,
                since,
            } if *out == id => *since,
            // [R17]
            _ => return Rule::StaleReply,
        };
        match result {
            Ok(creds) => self.judge(creds, since),
            Err(ImdsFailure::NoInstanceProfile) => self.detach(),
            Err(ImdsFailure::RoleNotFound) => {
                // [R8] INV-2: the old role's credentials are dropped at once and never served again.
                self.drop_held(DropReason::RoleGone, true);
                self.revoke_expired();
                self.s.role = self.policy.pinned_role().cloned();
                self.s.newest = None;
                self.fail(Failure::Imds(ImdsFailure::RoleNotFound));
                Rule::RoleGone
            }
            Err(failure) => {
                // [R7]
                self.fail(Failure::Imds(failure.clone()));
                Rule::Fail
            }
        }
    }

    /// Decides what a credentials answer is worth: `[R4]`, `[R5]` or `[R6]`.
    fn judge(&mut self, creds: &Credentials, since: MonoTime) -> Rule {
        let margin = self.policy.expiry_margin();
        let expiration = creds.expiration();
        if expiration <= self.now.wall {
            // [R6] Already-expired credentials from IMDS are a failure, not a success.
            self.fail(Failure::Stale { expiration });
            return Rule::RejectStale;
        }
        let lifetime = expiration.saturating_duration_since(self.now.wall);
        // The expiry on the monotonic clock, from the request's start: conservative by the
        // request's duration, and immune to later wall-clock jumps (INV-1).
        let deadline = since.saturating_add(lifetime);
        // The set a clock dropped, served again: judged anew against the clocks as they are
        // now (a wall clock that was ahead and is now corrected gives it back its real life).
        let again = self.s.expired.as_ref().is_some_and(|e| {
            &e.access_key_id == creds.access_key_id() && e.expiration == expiration
        });
        if lifetime <= margin || deadline <= self.now.mono.saturating_add(margin) {
            // [R6] Too short-lived to ever be handed out.
            self.fail(Failure::TooShortLived { lifetime });
            return Rule::RejectStale;
        }
        if self.s.is_revoked(creds.access_key_id()) {
            // [R5] INV-2: a revoked set is never taken back: not after its role was removed or
            // changed, not after AWS rejected it, not after a newer set replaced it. (A set a
            // clock dropped is not revoked: it is judged anew, above and below.)
            self.fail(Failure::Revoked);
            return Rule::NotRotated;
        }
        if self.s.held.is_none() && again && self.s.newest == Some(expiration) {
            // LIVE-1: the newest set, dropped only because a clock judged it too old, is
            // usable against the corrected clocks: take it back (INV-5 holds: nothing newer
            // was accepted since).
        } else if self.s.newest.is_some_and(|newest| expiration <= newest) {
            // [R5] INV-5: never switch to a set that expires no later; INV-4: not rotated is retried
            // on the backoff schedule, not at once.
            self.fail(Failure::NotRotated);
            return Rule::NotRotated;
        }
        // [R4]
        self.s.generation = self.s.generation.saturating_add(1);
        let held = Held {
            access_key_id: creds.access_key_id().clone(),
            expiration,
            deadline,
        };
        let usable_until = held.usable_until(self.policy);
        let usable_left = usable_until.saturating_duration_since(self.now.mono);
        let window = self
            .policy
            .refresh_window(lifetime, usable_left, self.jitter);
        let refresh_at = usable_until.saturating_sub(window);
        self.notify(Event::Accepted {
            generation: self.s.generation,
            access_key_id: held.access_key_id.clone(),
            expiration,
            refresh_at,
        });
        if let Some(replaced) = self.s.held.replace(held) {
            // INV-2: a replaced set is retired too, so that after a role change (which clears
            // `newest`) IMDS cannot hand an older set of the old role back.
            self.retire(&replaced);
        }
        self.s.newest = Some(expiration);
        self.s.expired = None;
        self.s.failing = None;
        self.s.phase = Phase::Waiting { until: refresh_at };
        Rule::Accept
    }

    /// `[R3]` INV-2: no instance profile, so nothing of the old role may be served.
    fn detach(&mut self) -> Rule {
        self.drop_held(DropReason::NoInstanceProfile, true);
        self.revoke_expired();
        self.s.role = self.policy.pinned_role().cloned();
        self.s.newest = None;
        self.fail(Failure::Imds(ImdsFailure::NoInstanceProfile));
        if let Phase::Waiting { until } = self.s.phase {
            self.s.phase = Phase::Detached { until };
        }
        Rule::Detach
    }

    /// `[R13]` / `[R16]`
    fn invalidate(&mut self, access_key_id: &AccessKeyId) -> Rule {
        if self
            .s
            .held
            .as_ref()
            .is_none_or(|h| &h.access_key_id != access_key_id)
        {
            if self
                .s
                .expired
                .as_ref()
                .is_some_and(|e| &e.access_key_id == access_key_id)
            {
                // INV-2: AWS rejected the set the clock had dropped: now that is evidence.
                self.revoke_expired();
            }
            // [R16]
            return Rule::InvalidateOther;
        }
        // [R13]
        self.drop_held(DropReason::Invalidated, true);
        // `newest` stays: the replacement must still expire later (INV-5).
        self.replan_after_drop();
        if let Phase::Waiting { until } = self.s.phase {
            // A refresh is due at once, but never inside a backoff delay (INV-4).
            if self.now.mono >= until {
                self.request_next();
            }
        }
        Rule::Invalidate
    }

    /// `[R14]`
    fn shutdown(&mut self) -> Rule {
        self.drop_held(DropReason::Shutdown, false);
        self.s.phase = Phase::Stopped;
        Rule::Shutdown
    }

    /// Issues the next request: credentials when the role is known, the listing otherwise.
    /// Callers ensure no request is outstanding (INV-3).
    fn request_next(&mut self) {
        let id = RequestId(self.s.next_request);
        self.s.next_request = self.s.next_request.saturating_add(1);
        let since = self.now.mono;
        match self.s.role.clone() {
            Some(role) => {
                self.s.phase = Phase::Requesting {
                    id,
                    request: Request::FetchCredentials,
                    since,
                };
                self.actions.push(Action::FetchCredentials { id, role });
            }
            None => {
                self.s.phase = Phase::Requesting {
                    id,
                    request: Request::DiscoverRole,
                    since,
                };
                self.actions.push(Action::DiscoverRole { id });
            }
        }
    }

    /// Records a failed attempt and schedules the next one after the backoff delay (INV-4).
    fn fail(&mut self, failure: Failure) {
        // INV-4, one retry schedule: the transport's HTTP attempts count, not just this one.
        let spent = self.policy.attempts_spent(&failure);
        let failures = self.s.failure_count().saturating_add(spent);
        let serving_left = self.s.held.as_ref().and_then(|h| {
            h.serve_mode(self.now, true, self.policy)?;
            // Close in on the usable deadline first; inside the grace period, on its end.
            let usable_until = h.usable_until(self.policy);
            let limit = if self.now.mono <= usable_until {
                usable_until
            } else {
                h.unservable_from(true, self.policy)
                    .saturating_sub(Duration::from_millis(1))
            };
            Some(limit.saturating_duration_since(self.now.mono))
        });
        let delay = match (serving_left, &failure) {
            // INV-4: IMDS has not rotated yet while usable credentials are held: poll, no
            // closer than the backoff base and a handful of times per usable window.
            (Some(left), Failure::NotRotated | Failure::Revoked) => {
                self.policy.polling_delay(failures, left, self.jitter)
            }
            _ => self
                .policy
                .backoff_delay(failures, serving_left, self.jitter),
        };
        let retry_at = self.now.mono.saturating_add(delay);
        self.notify(Event::AttemptFailed {
            failure: failure.clone(),
            failures,
            retry_at,
        });
        self.s.failing = Some(Failing {
            // At least one attempt is spent.
            count: NonZeroU32::new(failures).unwrap_or(NonZeroU32::MIN),
            last: failure,
        });
        self.s.phase = Phase::Waiting { until: retry_at };
    }

    /// After the held set was dropped, the wait is re-planned for what is at stake now. Not
    /// backing off: a fetch is due at once (nothing failed, nothing to wait for). Backing off: a
    /// delay chosen while serving (up to the serving cap) is cut to the refusing cap, because
    /// every caller is refused now and recovery must take seconds, not minutes (LIVE-1). Either
    /// way the wait ends no sooner than now, so the retry floor still holds (INV-4).
    fn replan_after_drop(&mut self) {
        let now = self.now.mono;
        let failing = self.s.failing();
        if let Phase::Waiting { until } = &mut self.s.phase {
            *until = if failing {
                (*until).min(now.saturating_add(self.policy.backoff_cap_refusing()))
            } else {
                now
            };
        }
    }

    fn drop_held(&mut self, reason: DropReason, revoke: bool) {
        let Some(held) = self.s.held.take() else {
            return;
        };
        if revoke {
            self.retire(&held);
        }
        self.notify(Event::Dropped {
            access_key_id: held.access_key_id,
            reason,
        });
    }

    /// Remembers a set that must never be taken back (INV-2). Kept even past its expiry: a wall
    /// clock that later jumps back would make an expired set look valid again. Bounded: the
    /// oldest entry is forgotten first.
    fn retire(&mut self, held: &Held) {
        self.revoke(Revoked::of(held));
    }

    fn revoke(&mut self, set: Revoked) {
        if self.s.revoked.len() >= State::MAX_REVOKED {
            self.s.revoked.remove(0);
        }
        self.s.revoked.push(set);
    }

    /// INV-2: the set dropped by the clock belongs to the role just removed: now it is revoked.
    fn revoke_expired(&mut self) {
        if let Some(set) = self.s.expired.take() {
            self.revoke(set);
        }
    }

    fn notify(&mut self, event: Event) {
        self.actions.push(Action::Notify(event));
    }
}

#[cfg(test)]
mod tests;
