//! Getting credentials from the source: the slow path of a caller that found nothing usable
//! (it waits for the one request in flight, INV-3), the flight threads that carry out the
//! requests, the refresh a caller past the refresh point starts when there is no background
//! thread, and the background thread's refresh loop.

use core::time::Duration;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use credcycle_core::{Action, Event, ImdsFailure, Input, MonoTime, Now, StateKind};

use super::snapshot::{Held, ProvidedCredentials};
use super::{Lifecycle, Shared};
use crate::error::ProviderError;
use crate::fetch::Fetcher;

/// Wakes and stops the background thread.
pub(super) struct BackgroundControl {
    pub(super) stop: Mutex<bool>,
    pub(super) wake: Condvar,
}

impl Shared {
    /// A caller that missed the snapshot: under the lock, demands credentials, starts the
    /// request the machine asks for, and waits for the request in flight (INV-3) within the
    /// wait timeout, or returns the refusal at once when nothing is in flight (INV-4).
    pub(super) fn slow_path(self: &Arc<Self>) -> Result<ProvidedCredentials, ProviderError> {
        let mut lifecycle = self.lock();
        lifecycle.slow_calls += 1;
        let started = self.clock.now().mono;
        loop {
            let (next, request) = self.apply_input(lifecycle, Input::Demand);
            lifecycle = next;
            if let Some(action) = request {
                // Carried out on a flight thread, so that this caller's wait for it stays
                // bounded by the wait timeout like everyone else's.
                lifecycle = self.start_request(lifecycle, action);
            }
            // INV-1 on the precise clocks, at the moment of return (nothing below blocks).
            let now = self.clock.now();
            let refusal = match lifecycle.machine.credentials(now) {
                Ok(handout) => {
                    self.publish(&lifecycle);
                    self.handouts.add();
                    let passes_until = lifecycle.machine.state().held().map(|held| {
                        let policy = lifecycle.machine.policy();
                        if handout.in_grace() {
                            Now::new(
                                held.deadline.saturating_add(policy.grace()),
                                held.expiration.saturating_add(policy.grace()),
                            )
                        } else {
                            Now::new(
                                held.usable_until(policy),
                                held.expiration.saturating_sub(policy.expiry_margin()),
                            )
                        }
                    });
                    return Ok(ProvidedCredentials {
                        in_grace: handout.in_grace(),
                        inner: Held::Owned {
                            creds: handout.shared(),
                            consumer_expiration: handout.consumer_expiration(),
                            passes_until,
                        },
                    });
                }
                Err(refusal) => refusal,
            };
            if lifecycle.fetcher.is_some() {
                // Nobody is asking IMDS, and the machine would not: backing off, detached or
                // stopped. Waiting would not help (INV-4).
                let error = ProviderError::Refused {
                    refusal,
                    cause: lifecycle.last_error.clone(),
                };
                lifecycle.refusals.record(&error);
                return Err(error);
            }
            // A request is in flight (this caller's or another's): wait for it (INV-3), within
            // the wait timeout.
            let waited = now.mono.saturating_duration_since(started);
            if self.left_to_wait(started, now).is_none() {
                let error = ProviderError::TimedOut { waited, refusal };
                lifecycle.refusals.record(&error);
                return Err(error);
            }
            lifecycle = self.wait_once(lifecycle, started, now);
        }
    }

    /// How long a caller that started waiting at `started` may still wait at `now`, if at all.
    fn left_to_wait(&self, started: MonoTime, now: Now) -> Option<Duration> {
        self.wait_timeout
            .checked_sub(now.mono.saturating_duration_since(started))
            .filter(|d| !d.is_zero())
    }

    /// Waits once for a request to finish (or for the rest of the wait timeout).
    fn wait_once<'a>(
        &'a self,
        lifecycle: MutexGuard<'a, Lifecycle>,
        started: MonoTime,
        now: Now,
    ) -> MutexGuard<'a, Lifecycle> {
        let Some(left) = self.left_to_wait(started, now) else {
            return lifecycle;
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let lifecycle = self
            .request_done
            .wait_timeout(lifecycle, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        lifecycle
    }

    /// Without a background thread, the first caller past the refresh point carries out the
    /// refresh (others keep the current set) and waits for it, at most the wait timeout.
    /// Never blocks on the lock. Returns whether it waited for a refresh, after which the caller
    /// must check its hand-out again.
    pub(super) fn refresh_and_wait(self: &Arc<Self>) -> bool {
        if self.background.is_some() {
            return false;
        }
        let Ok(lifecycle) = self.lifecycle.try_lock() else {
            return false;
        };
        if lifecycle.fetcher.is_none() {
            return false;
        }
        let started = self.clock.now().mono;
        let (lifecycle, request) = self.apply_input(lifecycle, Input::Tick);
        let Some(action) = request else {
            self.publish(&lifecycle);
            return false;
        };
        let mut lifecycle = self.start_request(lifecycle, action);
        loop {
            let now = self.clock.now();
            if lifecycle.fetcher.is_some() || self.left_to_wait(started, now).is_none() {
                return true;
            }
            lifecycle = self.wait_once(lifecycle, started, now);
        }
    }

    /// Applies `input` now, logs what came out, and returns the request it asks for, if any.
    pub(super) fn apply_input<'a>(
        &self,
        mut lifecycle: MutexGuard<'a, Lifecycle>,
        input: Input,
    ) -> (MutexGuard<'a, Lifecycle>, Option<Action>) {
        let before = lifecycle.machine.kind();
        let rule = lifecycle.machine.handle_input(self.clock.now(), input);
        let after = lifecycle.machine.kind();
        if before != after
            && let Ok(rule) = rule
        {
            tracing::info!(from = %before, to = %after, rule = %rule, "credential lifecycle state changed");
        }
        let mut request = None;
        while let Some(action) = lifecycle.machine.poll_action() {
            match action {
                Action::Notify(event) => {
                    lifecycle.outcomes.record(&event);
                    log_event(&event);
                }
                request_action => request = Some(request_action),
            }
        }
        if lifecycle.fetcher.is_none() && request.is_some() {
            // A request is in flight: hand this one to it rather than lose it.
            lifecycle.queued = request.take();
        }
        (lifecycle, request)
    }

    /// Starts carrying out `action` (and its follow-ups) on a flight thread of its own, and
    /// returns the lock at once: the caller then waits like any other, within the wait timeout,
    /// while the request takes as long as it takes. Without a thread to spare, the request is
    /// carried out here.
    pub(super) fn start_request<'a>(
        self: &'a Arc<Self>,
        mut lifecycle: MutexGuard<'a, Lifecycle>,
        action: Action,
    ) -> MutexGuard<'a, Lifecycle> {
        let Some(flight) = lifecycle.take_fetcher(action) else {
            return lifecycle;
        };
        // The fetcher travels in a slot, so that a failed spawn gives it back.
        let slot = Arc::new(Mutex::new(Some(flight)));
        let (shared, taken) = (Arc::clone(self), Arc::clone(&slot));
        let spawned = std::thread::Builder::new()
            .name("credcycle-flight".into())
            .spawn(move || {
                let flight = taken.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some((fetcher, action)) = flight {
                    drop(shared.run_requests(fetcher, action));
                }
            });
        if spawned.is_err() {
            let flight = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some((fetcher, action)) = flight {
                drop(lifecycle);
                tracing::warn!("cannot start a flight thread; carrying out the request inline");
                return self.run_requests(fetcher, action);
            }
        }
        lifecycle
    }

    /// Carries out `action` with the fetcher on this thread, then follows up until the machine
    /// asks for nothing more. Only the holder of the fetcher asks IMDS (INV-3).
    fn request_on_this_thread<'a>(
        &'a self,
        mut lifecycle: MutexGuard<'a, Lifecycle>,
        action: Action,
    ) -> MutexGuard<'a, Lifecycle> {
        let Some((fetcher, action)) = lifecycle.take_fetcher(action) else {
            return lifecycle;
        };
        drop(lifecycle);
        self.run_requests(fetcher, action)
    }

    /// Carries out `action` and its follow-ups without the lock: asks IMDS through `fetcher`
    /// (taken out of `Lifecycle` by the caller, which marks the request as in flight), applies
    /// the reply, republishes, wakes every waiter, and goes on with any follow-up. A fetcher
    /// that panics is put back and its attempt counts as a failed request.
    fn run_requests(
        &self,
        mut fetcher: Box<dyn Fetcher>,
        mut action: Action,
    ) -> MutexGuard<'_, Lifecycle> {
        loop {
            let span = tracing::debug_span!("imds_request", request = request_name(&action));
            let answered = span.in_scope(|| {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    let reply = fetcher.answer(&action);
                    (reply, fetcher.last_error())
                }))
            });
            let (reply, error) = answered.unwrap_or_else(|_| {
                // Never the panic's payload: it might hold anything, a secret included.
                let error = format!(
                    "the IMDS fetcher panicked while carrying out the {} request",
                    request_name(&action)
                );
                tracing::error!(error = %error, "IMDS request failed");
                (failed_reply(&action), Some(error))
            });
            let mut lifecycle = self.lock();
            lifecycle.fetcher = Some(fetcher);
            let Some(reply) = reply else {
                self.request_done.notify_all();
                return lifecycle;
            };
            lifecycle.imds.record(&reply);
            if matches!(
                &reply,
                Input::RoleReply { result: Err(_), .. }
                    | Input::CredentialsReply { result: Err(_), .. }
            ) {
                if let Some(error) = &error {
                    tracing::warn!(error = %error, "IMDS request failed");
                }
                lifecycle.last_error = error;
            } else {
                // IMDS answered: an older transport error no longer explains anything.
                lifecycle.last_error = None;
            }
            let (next, follow_up) = self.apply_input(lifecycle, reply);
            lifecycle = next;
            self.publish(&lifecycle);
            self.request_done.notify_all();
            if let Some(control) = &self.background {
                control.wake.notify_all();
            }
            let Some(next_action) = follow_up.or_else(|| lifecycle.queued.take()) else {
                return lifecycle;
            };
            let Some(again) = lifecycle.fetcher.take() else {
                // Unreachable: the fetcher was put back above, under this same lock.
                lifecycle.queued = Some(next_action);
                return lifecycle;
            };
            lifecycle.requests += 1;
            drop(lifecycle);
            fetcher = again;
            action = next_action;
        }
    }

    /// One round of the background thread: does what is due, returns how long to sleep.
    fn background_round(&self) -> Duration {
        let lifecycle = self.lock();
        if lifecycle.fetcher.is_none() {
            // A request is in flight; its flight wakes this thread when done.
            return Duration::from_secs(1);
        }
        let now = self.clock.now();
        let input = match (lifecycle.machine.kind(), lifecycle.machine.poll_timeout()) {
            (StateKind::Idle, _) => Some(Input::Demand),
            (_, Some(at)) if at <= now.mono => Some(Input::Tick),
            _ => None,
        };
        let lifecycle = match input {
            Some(input) => {
                let (lifecycle, request) = self.apply_input(lifecycle, input);
                let lifecycle = match request {
                    Some(action) => self.request_on_this_thread(lifecycle, action),
                    None => lifecycle,
                };
                self.publish(&lifecycle);
                lifecycle
            }
            None => lifecycle,
        };
        let now = self.clock.now();
        lifecycle
            .machine
            .poll_timeout()
            .map_or(Duration::from_secs(60), |at| {
                at.saturating_duration_since(now.mono)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(60))
    }
}

/// The reply that stands for a request whose fetcher panicked: a failed attempt, as the core
/// treats a reply that never comes (a timeout).
fn failed_reply(action: &Action) -> Option<Input> {
    match action {
        Action::DiscoverRole { id } => Some(Input::RoleReply {
            id: *id,
            result: Err(ImdsFailure::Timeout),
        }),
        Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
            id: *id,
            result: Err(ImdsFailure::Timeout),
        }),
        Action::Notify(_) => None,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(control) = &self.background {
            *control.stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
            control.wake.notify_all();
        }
    }
}

/// The background thread: holds the provider only while working, so that dropping the last
/// handle stops it.
pub(super) fn run_background(shared: &Weak<Shared>, control: &BackgroundControl) {
    loop {
        let wait = match shared.upgrade() {
            Some(shared) => shared.background_round(),
            None => return,
        };
        let stop = control.stop.lock().unwrap_or_else(PoisonError::into_inner);
        if *stop {
            return;
        }
        let (stop, _) = control
            .wake
            .wait_timeout(stop, wait)
            .unwrap_or_else(PoisonError::into_inner);
        if *stop {
            return;
        }
    }
}

fn request_name(action: &Action) -> &'static str {
    match action {
        Action::DiscoverRole { .. } => "discover-role",
        Action::FetchCredentials { .. } => "fetch-credentials",
        Action::Notify(_) => "notify",
    }
}

/// Logs an event of the lifecycle. Never a secret: events carry none. Key ids only at debug.
fn log_event(event: &Event) {
    match event {
        Event::RoleDiscovered { role } => tracing::info!(role = %role, "role discovered"),
        Event::Accepted {
            generation,
            access_key_id,
            expiration,
            ..
        } => {
            tracing::info!(generation, expiration = %expiration, "new credentials accepted");
            tracing::debug!(generation, access_key_id = %access_key_id, "accepted key id");
        }
        Event::Dropped {
            access_key_id,
            reason,
        } => {
            tracing::info!(reason = %reason, "credentials dropped");
            tracing::debug!(access_key_id = %access_key_id, "dropped key id");
        }
        Event::AttemptFailed {
            failure, failures, ..
        } => {
            tracing::warn!(failure = %failure, failures, "attempt failed; backing off");
        }
    }
}
