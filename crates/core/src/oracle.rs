//! The invariants' oracle: one implementation of "what went in and out of the machine, and does
//! it keep the invariants", shared by the property tests' `Harness` (in `testing`, feature
//! `proptest`) and by the exhaustive check in `credcycle-model`, so that the two can never
//! disagree on what an invariant means. Behind the `oracle` feature.
//!
//! The books are kept from the inputs, the actions and the hand-outs alone: the oracle computes
//! its own monotonic deadline for every set it saw accepted, keeps its own list of revoked keys
//! and of outstanding requests, and never reads them from the machine's [`State`].
//!
//! Use: [`Books::before`] with the input about to be fed, then the real transition, then
//! [`Books::after`] with what came out, then [`check_structure`]; [`Books::check_handout`] for
//! every set handed out. Every message states times relative to now (`now+4h45m`, `2.00s ago`),
//! so that a counterexample reads the same whatever the clocks' origin.
//!
//! ```
//! use credcycle_core::oracle::{Books, check_structure};
//! use credcycle_core::{
//!     Credentials, Input, Jitter, MonoTime, Now, Policy, RoleName, State, WallTime, step,
//! };
//! use credcycle_core::{AccessKeyId, SecretAccessKey, SessionToken};
//! use core::time::Duration;
//!
//! let policy = Policy::default();
//! let mut books = Books::default();
//! let mut state = State::new(&policy);
//! let mut now = Now::new(MonoTime::from_millis(1_000), WallTime::from_unix_secs(1_795_862_471));
//!
//! // Feeds one input through the real `step`, keeping the books; returns the request issued.
//! let feed = |state: &mut State, books: &mut Books, input: Input, now: Now| {
//!     let noted = books.before(state, &input, now);
//!     let t = step(state, &input, now, Jitter::ZERO, &policy);
//!     let issued = books.after(&policy, now, noted, t.rule, &t.state, &t.actions)?;
//!     check_structure(&t.state, t.state.kind(), t.state.next_deadline(&policy), now.mono)?;
//!     *state = t.state;
//!     Ok::<_, credcycle_core::oracle::Violation>(issued)
//! };
//!
//! let (id, _) = feed(&mut state, &mut books, Input::Demand, now)?.expect("a role listing");
//! let role = RoleName::new("web").expect("a valid name");
//! let (id, _) = feed(&mut state, &mut books, Input::RoleReply { id, result: Ok(role) }, now)?
//!     .expect("a credentials request");
//! now = now.advance(Duration::from_millis(40));
//! let creds = Credentials::new(
//!     AccessKeyId::new("ASIAEXAMPLE"),
//!     SecretAccessKey::new("secret".into()),
//!     SessionToken::new("token".into()),
//!     now.wall.saturating_add(Duration::from_secs(6 * 3600)),
//! );
//! feed(&mut state, &mut books, Input::CredentialsReply { id, result: Ok(creds) }, now)?;
//!
//! // A hand-out an hour later is fine; one at the set's Expiration breaks INV-1.
//! let held = state.held().cloned().expect("a set is held");
//! let later = now.advance(Duration::from_secs(3600));
//! books.check_handout(&policy, later, &held.access_key_id, held.expiration, false, false)?;
//! let at_expiry = now.advance(Duration::from_secs(6 * 3600));
//! let broken = books.check_handout(&policy, at_expiry, &held.access_key_id, held.expiration, false, false);
//! assert_eq!(broken.map_err(|v| v.id), Err("INV-1"));
//! # Ok::<(), credcycle_core::oracle::Violation>(())
//! ```

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};

use crate::creds::AccessKeyId;
use crate::failure::Failure;
use crate::input::{ImdsFailure, Input, RequestId};
use crate::machine::HumanDuration;
use crate::output::{Action, Event};
use crate::policy::Policy;
use crate::state::{Request, State, StateKind};
use crate::step::Rule;
use crate::time::{MonoTime, Now, WallTime};

/// An invariant the oracle saw broken, with the id it breaks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The invariant's id (`INV-1`...), or `TABLE` for an edge the transition table lacks.
    pub id: &'static str,
    /// One line for people: what was seen, against what bound.
    pub detail: String,
}

impl Violation {
    /// A violation of `id`.
    #[must_use]
    pub fn new(id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            id,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.id, self.detail)
    }
}

impl std::error::Error for Violation {}

fn violation<T>(id: &'static str, detail: String) -> Result<T, Violation> {
    Err(Violation::new(id, detail))
}

/// The oracle's books. Plain data (`Eq`, `Hash`), so that a model checker can keep them in its
/// states; the fields are public so that it can also put them in canonical form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Books {
    /// Monotonic deadline of each accepted set (key id, `Expiration`), computed independently
    /// from the time its request was issued and the lifetime its reply stated (INV-1).
    pub deadlines: BTreeMap<(AccessKeyId, WallTime), MonoTime>,
    /// Keys that must never be handed out again (INV-2).
    pub revoked: BTreeSet<AccessKeyId>,
    /// Keys accepted since the last removal was observed (revoked when one is).
    pub accepted_since_removal: BTreeSet<AccessKeyId>,
    /// Outstanding requests: id and when they were issued (INV-3).
    pub outstanding: Vec<(RequestId, MonoTime)>,
    /// When the last failed attempt was answered, while failures are unbroken (INV-4).
    pub last_failure: Option<MonoTime>,
    /// Failed attempts in a row, counted from the machine's `AttemptFailed` events (INV-4).
    pub failures: u32,
    /// The earliest moment the next request may go out: the end of the shortest backoff the
    /// schedule allows after the last failure (INV-4).
    pub earliest_retry: Option<MonoTime>,
    /// The set held now, as the `Accepted` and `Dropped` events tell it.
    pub held: Option<(AccessKeyId, WallTime)>,
    /// The latest `Expiration` handed out since the last role removal (INV-5).
    pub last_handed_out: Option<WallTime>,
}

/// What the books need to know of an input before the machine sees it: taken by
/// [`Books::before`], given back to [`Books::after`].
#[derive(Clone, Debug)]
pub struct Before {
    /// The request outstanding before the input.
    was_outstanding: Option<RequestId>,
    /// The reply, if the input is one to a request the books know.
    reply: Option<ReplyMeta>,
    /// The key an `Invalidate` names, if it is the held one.
    invalidated: Option<AccessKeyId>,
}

#[derive(Clone, Debug)]
struct ReplyMeta {
    id: RequestId,
    /// The oracle's own view of "not rotated": a set it already saw accepted.
    repeat: bool,
    /// The set in a successful credentials reply, with the monotonic deadline the oracle gives
    /// it: when its request was issued plus the lifetime the reply states.
    creds: Option<((AccessKeyId, WallTime), MonoTime)>,
}

impl Books {
    /// Notes what the books need of `input`, about to be fed to a machine in `state` at `now`.
    #[must_use]
    pub fn before(&self, state: &State, input: &Input, now: Now) -> Before {
        // AWS rejected the key: whether it is held now or was dropped before (by a clock, say),
        // a set the books saw accepted under it must never be handed out again (INV-2).
        let invalidated = match input {
            Input::Invalidate { access_key_id }
                if state
                    .held
                    .as_ref()
                    .is_some_and(|h| &h.access_key_id == access_key_id)
                    || self.deadlines.keys().any(|(k, _)| k == access_key_id) =>
            {
                Some(access_key_id.clone())
            }
            _ => None,
        };
        Before {
            was_outstanding: state.outstanding().map(|(id, _)| id),
            reply: self.reply_meta(input, now.wall),
            invalidated,
        }
    }

    fn reply_meta(&self, input: &Input, wall: WallTime) -> Option<ReplyMeta> {
        let (id, ok_creds) = match input {
            Input::RoleReply { id, .. } => (*id, None),
            Input::CredentialsReply { id, result } => (*id, result.as_ref().ok()),
            _ => return None,
        };
        let since = self
            .outstanding
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, t)| *t)?;
        let key = |c: &crate::creds::Credentials| (c.access_key_id().clone(), c.expiration());
        Some(ReplyMeta {
            id,
            repeat: ok_creds.is_some_and(|c| self.deadlines.contains_key(&key(c))),
            creds: ok_creds.map(|c| {
                let lifetime = c.expiration().saturating_duration_since(wall);
                (key(c), since.saturating_add(lifetime))
            }),
        })
    }

    /// Accounts for one transition: `rule` fired at `now`, leaving the machine in `state`, with
    /// `actions`. Returns the request the machine issued, if any.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of INV-1 (a set accepted that was not in the reply, or a refresh point
    /// outside the set's usable life), INV-3 (two requests at once) or INV-4 (a failed attempt
    /// without a backoff, a backoff outside the schedule, or a request before it ends).
    pub fn after(
        &mut self,
        policy: &Policy,
        now: Now,
        before: Before,
        rule: Rule,
        state: &State,
        actions: &[Action],
    ) -> Result<Option<(RequestId, Request)>, Violation> {
        let Before {
            was_outstanding,
            reply,
            invalidated,
        } = before;
        let wall = now.wall;
        let now = now.mono;
        let timeout = policy.request_timeout();
        if rule != Rule::StaleReply
            && let Some(reply) = &reply
        {
            self.outstanding.retain(|(id, _)| *id != reply.id);
        }
        let repeat = reply.as_ref().is_some_and(|r| r.repeat);
        let held_before = self.held.is_some();
        if rule == Rule::Accept && repeat && held_before {
            return violation(
                "INV-4",
                "took a not-rotated answer (a set seen before, while one is held) as new credentials"
                    .to_string(),
            );
        }
        // A set seen before, taken back while nothing is held: the set a clock dropped, served
        // again after the clocks were corrected (LIVE-1). A success, not a not-rotated answer.
        let taken_back = rule == Rule::Accept && repeat;
        if rule != Rule::StaleReply && repeat && !taken_back {
            // INV-4: a not-rotated answer is never followed by an immediate request, whatever
            // the machine made of it.
            self.last_failure = Some(now);
        }
        self.schedule(policy, Now::new(now, wall), rule, actions)?;
        match rule {
            Rule::Accept if repeat => {
                self.last_failure = None;
                // The set dropped by a clock, taken back: judged anew, its deadline is the one
                // this receipt implies (INV-1 against the corrected clocks).
                if let Some((key, deadline)) = reply.and_then(|r| r.creds) {
                    self.deadlines.insert(key, deadline);
                }
            }
            Rule::Accept => {
                self.last_failure = None;
                self.accepted(policy, now, reply.and_then(|r| r.creds), actions)?;
            }
            Rule::Fail | Rule::RejectStale | Rule::NotRotated | Rule::Abandon => {
                self.last_failure = Some(now);
            }
            Rule::RoleGone | Rule::Detach => {
                // INV-2: the removal is observed; everything accepted before is the old role's.
                self.last_failure = Some(now);
                let old = core::mem::take(&mut self.accepted_since_removal);
                self.revoked.extend(old);
                self.last_handed_out = None;
            }
            // An expiry in the same step as a request timeout: the request failed too.
            Rule::Expire
                if was_outstanding.is_some()
                    && state.outstanding().map(|(id, _)| id) != was_outstanding =>
            {
                self.last_failure = Some(now);
            }
            _ => {}
        }
        if let Some(key) = invalidated {
            self.revoked.insert(key);
        }
        let mut requests = actions.iter().filter_map(|a| match a {
            Action::DiscoverRole { id } => Some((*id, Request::DiscoverRole)),
            Action::FetchCredentials { id, .. } => Some((*id, Request::FetchCredentials)),
            Action::Notify(_) => None,
        });
        let Some((id, request)) = requests.next() else {
            return Ok(None);
        };
        let more = requests.count();
        if more > 0 {
            return violation("INV-3", format!("{} requests issued in one step", more + 1));
        }
        // INV-3: every earlier request was answered, or had timed out (and was abandoned).
        if let Some((old, since)) = self
            .outstanding
            .iter()
            .find(|(_, since)| now < since.saturating_add(timeout))
        {
            return violation(
                "INV-3",
                format!(
                    "request {id} issued while {old} (issued {} ago) is outstanding",
                    HumanDuration(now.saturating_duration_since(*since))
                ),
            );
        }
        // INV-4: never before the shortest backoff the schedule allows.
        if let Some(earliest) = self.earliest_retry
            && now < earliest
        {
            return violation(
                "INV-4",
                format!(
                    "request {id} after {} failed attempt(s), {} before the backoff ends",
                    self.failures,
                    HumanDuration(earliest.saturating_duration_since(now))
                ),
            );
        }
        // INV-4: never sooner than the retry floor after a failed attempt.
        if let Some(failed) = self.last_failure {
            let floor = policy.retry_floor();
            if now < failed.saturating_add(floor) {
                return violation(
                    "INV-4",
                    format!(
                        "request {id} {} after a failed attempt (retry floor {})",
                        HumanDuration(now.saturating_duration_since(failed)),
                        HumanDuration(floor)
                    ),
                );
            }
        }
        self.outstanding
            .retain(|(_, since)| now < since.saturating_add(timeout));
        self.outstanding.push((id, now));
        Ok(Some((id, request)))
    }

    /// INV-4, the whole retry schedule, from the events of one step: every failed attempt sets
    /// a backoff; its length is within the schedule's bounds for the number of failures in a
    /// row and for what is at stake (usable credentials held or not); a drop while backing off
    /// may only shorten the wait to the refusing cap; a success ends the schedule.
    fn schedule(
        &mut self,
        policy: &Policy,
        now: Now,
        rule: Rule,
        actions: &[Action],
    ) -> Result<(), Violation> {
        let mut backoffs = 0;
        for a in actions {
            let Action::Notify(event) = a else { continue };
            match event {
                Event::Accepted {
                    access_key_id,
                    expiration,
                    ..
                } => {
                    self.held = Some((access_key_id.clone(), *expiration));
                    self.failures = 0;
                    self.earliest_retry = None;
                }
                Event::Dropped { .. } => {
                    self.held = None;
                    // A drop while backing off re-plans for "nothing usable held": the wait may
                    // shrink to the refusing cap from now, no further.
                    if let Some(earliest) = &mut self.earliest_retry {
                        *earliest =
                            (*earliest).min(now.mono.saturating_add(policy.backoff_cap_refusing()));
                    }
                }
                Event::AttemptFailed {
                    failure,
                    failures,
                    retry_at,
                } => {
                    backoffs += 1;
                    // One retry schedule: a timeout, 429 or 5xx comes after every HTTP attempt
                    // the transport makes, and each counts.
                    let spent = match failure {
                        Failure::Imds(ImdsFailure::Timeout) => policy.http_attempts(),
                        Failure::Imds(ImdsFailure::HttpStatus(s))
                            if *s == 429 || (500..=599).contains(s) =>
                        {
                            policy.http_attempts()
                        }
                        _ => 1,
                    };
                    self.failures = self.failures.saturating_add(spent);
                    if *failures != self.failures {
                        return violation(
                            "INV-4",
                            format!(
                                "the machine counts {failures} failed attempts in a row, the oracle {}",
                                self.failures
                            ),
                        );
                    }
                    let (lower, upper) = self.backoff_bounds(policy, now);
                    let delay = retry_at.saturating_duration_since(now.mono);
                    // Retry times are whole milliseconds: allow the truncation of the bounds.
                    let lower = lower.saturating_sub(Duration::from_millis(1));
                    if delay < lower || delay > upper {
                        return violation(
                            "INV-4",
                            format!(
                                "backoff {} after {} failed attempt(s), outside the schedule's {}..{}",
                                HumanDuration(delay),
                                self.failures,
                                HumanDuration(lower),
                                HumanDuration(upper)
                            ),
                        );
                    }
                    self.earliest_retry = Some(now.mono.saturating_add(lower));
                }
                Event::RoleDiscovered { .. } => {}
            }
        }
        let failed = matches!(
            rule,
            Rule::Fail
                | Rule::RejectStale
                | Rule::NotRotated
                | Rule::Abandon
                | Rule::RoleGone
                | Rule::Detach
        );
        if failed && backoffs != 1 {
            return violation(
                "INV-4",
                format!("rule {rule} set {backoffs} backoffs, not one"),
            );
        }
        Ok(())
    }

    /// The shortest and longest backoff the schedule allows after `self.failures` failed
    /// attempts in a row, at `now`. The ceiling doubles from the base with each failure; a delay
    /// is drawn from the ceiling's upper half. While a set is servable the ceiling is at least
    /// half and the delay at most three quarters of the time it stays servable, at most the
    /// serving cap, and at least the base (so that not-rotated polling is never closer than
    /// the base); otherwise the ceiling is at most the refusing cap and the delay at least the
    /// retry floor.
    fn backoff_bounds(&self, policy: &Policy, now: Now) -> (Duration, Duration) {
        let base = policy.backoff_base();
        let doubling = base.saturating_mul(1u32 << self.failures.saturating_sub(1).min(31));
        match self.servable_left(policy, now) {
            Some(left) => {
                let most = left.saturating_mul(3) / 4;
                let lower = (doubling.min(policy.backoff_cap_serving()) / 2).min(most);
                let upper = doubling
                    .max(left / 2)
                    .min(policy.backoff_cap_serving())
                    .min(most);
                (lower.max(base), upper.max(base))
            }
            None => {
                let ceiling = doubling.min(policy.backoff_cap_refusing());
                let floor = policy.retry_floor();
                ((ceiling / 2).max(floor), ceiling.max(floor))
            }
        }
    }

    /// How long the held set stays servable from `now`, by the oracle's own deadline: to its
    /// usable deadline while the monotonic clock is short of it, else (inside the opt-in grace,
    /// which a failing machine may use) to the grace's end; `None` when nothing servable is
    /// held.
    fn servable_left(&self, policy: &Policy, now: Now) -> Option<Duration> {
        let (key, expiration) = self.held.as_ref()?;
        let deadline = *self.deadlines.get(&(key.clone(), *expiration))?;
        let margin = policy.expiry_margin();
        let grace = policy.grace();
        let usable_until = deadline.saturating_sub(margin);
        let normal = now.wall.saturating_add(margin) <= *expiration && now.mono <= usable_until;
        let in_grace = !grace.is_zero()
            && now.wall <= expiration.saturating_add(grace)
            && now.mono <= deadline.saturating_add(grace);
        if !normal && !in_grace {
            return None;
        }
        let until = if now.mono <= usable_until {
            usable_until
        } else {
            deadline.saturating_add(grace)
        };
        Some(until.saturating_duration_since(now.mono))
    }

    /// INV-1: a set accepted was the one in the reply, and its refresh point is in its usable
    /// life (after now, no later than the oracle's deadline less the margin).
    fn accepted(
        &mut self,
        policy: &Policy,
        now: MonoTime,
        in_reply: Option<((AccessKeyId, WallTime), MonoTime)>,
        actions: &[Action],
    ) -> Result<(), Violation> {
        for a in actions {
            let Action::Notify(Event::Accepted {
                access_key_id,
                expiration,
                refresh_at,
                ..
            }) = a
            else {
                continue;
            };
            let key = (access_key_id.clone(), *expiration);
            let Some((_, deadline)) = in_reply.clone().filter(|(k, _)| *k == key) else {
                return violation(
                    "INV-1",
                    format!("accepted {access_key_id} that was not in the reply"),
                );
            };
            let usable_until = deadline.saturating_sub(policy.expiry_margin());
            if *refresh_at > usable_until || *refresh_at <= now {
                return violation(
                    "INV-1",
                    format!(
                        "refresh at {} is not between now and the usable deadline {}",
                        relative(*refresh_at, now),
                        relative(usable_until, now)
                    ),
                );
            }
            self.deadlines.insert(key, deadline);
            self.accepted_since_removal.insert(access_key_id.clone());
        }
        Ok(())
    }

    /// Checks a hand-out of the set (`access_key_id`, `expiration`) at `now`. `in_grace`: the
    /// machine said it serves the set in grace; `failing`: the machine's refreshes are failing.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of INV-1 (a set the books never saw accepted, or one within the margin
    /// of its expiry on either clock, outside a grace the policy allows), INV-2 (a revoked key)
    /// or INV-5 (an `Expiration` earlier than one handed out before, in the same role).
    pub fn check_handout(
        &mut self,
        policy: &Policy,
        now: Now,
        access_key_id: &AccessKeyId,
        expiration: WallTime,
        in_grace: bool,
        failing: bool,
    ) -> Result<(), Violation> {
        let margin = policy.expiry_margin();
        let Some(&deadline) = self.deadlines.get(&(access_key_id.clone(), expiration)) else {
            return violation(
                "INV-1",
                format!("handed out {access_key_id}, which the oracle never saw accepted"),
            );
        };
        let normal = now.wall.saturating_add(margin) <= expiration
            && now.mono.saturating_add(margin) <= deadline;
        if !normal {
            let grace = policy.grace();
            let allowed = in_grace
                && !grace.is_zero()
                && failing
                && now.wall <= expiration.saturating_add(grace)
                && now.mono <= deadline.saturating_add(grace);
            if !allowed {
                return violation(
                    "INV-1",
                    format!(
                        "handed out {access_key_id} with {} left on the wall clock and {} on the monotonic one (margin {})",
                        signed(expiration.as_unix_millis() - now.wall.as_unix_millis()),
                        signed(mono_diff(deadline, now.mono)),
                        HumanDuration(margin),
                    ),
                );
            }
        }
        if self.revoked.contains(access_key_id) {
            return violation("INV-2", format!("handed out revoked key {access_key_id}"));
        }
        if let Some(last) = self.last_handed_out
            && expiration < last
        {
            return violation(
                "INV-5",
                format!(
                    "handed out {access_key_id} expiring {} earlier than one handed out before",
                    HumanDuration(Duration::from_millis(
                        u64::try_from(last.as_unix_millis() - expiration.as_unix_millis())
                            .unwrap_or(0)
                    ))
                ),
            );
        }
        self.last_handed_out = Some(expiration);
        Ok(())
    }
}

/// Checks the shape of the machine's state after a step (INV-6: a deadline exactly when the
/// state waits for something, a held set exactly in the states that serve one; INV-2: the
/// revoked list is bounded). `deadline` is the state's next deadline and `now` the time of the
/// step, for the message.
///
/// # Errors
///
/// The [`Violation`] seen.
pub fn check_structure(
    state: &State,
    kind: StateKind,
    deadline: Option<MonoTime>,
    now: MonoTime,
) -> Result<(), Violation> {
    let idle = matches!(kind, StateKind::Idle | StateKind::Stopped);
    if deadline.is_some() == idle {
        return violation(
            "INV-6",
            format!(
                "state {kind} has deadline {:?}",
                deadline.map(|d| relative(d, now))
            ),
        );
    }
    if matches!(
        kind,
        StateKind::Fresh | StateKind::Refreshing | StateKind::BackingOff
    ) != state.held.is_some()
    {
        return violation(
            "INV-6",
            format!("state {kind} disagrees with held = {:?}", state.held),
        );
    }
    if state.revoked.len() > State::MAX_REVOKED {
        return violation(
            "INV-2",
            format!("{} revoked keys remembered", state.revoked.len()),
        );
    }
    Ok(())
}

fn mono_diff(a: MonoTime, b: MonoTime) -> i64 {
    i64::try_from(a.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(b.as_millis()).unwrap_or(i64::MAX))
}

/// A signed duration in ms, for people: `+4h45m`, `-250ms`.
#[must_use]
pub fn signed(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    format!(
        "{sign}{}",
        HumanDuration(Duration::from_millis(ms.unsigned_abs()))
    )
}

/// A monotonic instant relative to `now`, for people: `now+4h45m`, `now-30s`.
#[must_use]
pub fn relative(t: MonoTime, now: MonoTime) -> String {
    format!("now{}", signed(mono_diff(t, now)))
}
