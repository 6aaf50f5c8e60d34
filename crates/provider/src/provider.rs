//! The Provider: one lifecycle shared by every thread, a lock-free hot path, single-flight IMDS.
//!
//! This module holds the [`Provider`] handle and the state its parts share; the parts are in
//! [`builder`] (settings and source selection), [`snapshot`] (the hot path and what it reads)
//! and [`refresh`] (the slow path, the flight threads and the background refresh).

mod builder;
mod refresh;
mod snapshot;

use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwapOption;
use credcycle_clock::Clock;
use credcycle_core::{AccessKeyId, Action, Input, Machine, RoleName, StateKind};

pub use builder::{ProviderBuilder, Source};
pub use snapshot::ProvidedCredentials;

use refresh::BackgroundControl;
use snapshot::Snapshot;

use crate::fetch::Fetcher;
use crate::stats::{ImdsStatusCounts, ProviderStats, RefreshOutcomes, RefusalCounts, Striped};

/// EC2 instance-profile credentials for any number of threads: refreshed ahead of expiry, never
/// handed out past it.
///
/// A `Provider` is a cheap handle (`Clone`, `Send`, `Sync`) on one shared lifecycle
/// ([`credcycle_core::Machine`]). Its parts:
///
/// - **Hot path.** [`credentials`](Self::credentials) first reads a snapshot of the held
///   credentials (an `arc-swap` load, no lock) and checks it against the coarse monotonic and
///   wall clocks (INV-1 on both clocks, with the coarse clocks' lag and lead subtracted from the
///   bounds). A hit costs a few tens of nanoseconds and no system call.
/// - **Slow path.** Otherwise the caller takes the lifecycle's lock, lets the machine react to
///   the demand, and either carries out the one IMDS request it asks for (outside the lock) or
///   waits for the caller already doing so (INV-3: one request at a time, across all callers),
///   at most [`ProviderBuilder::wait_timeout`]. While backing off it returns the refusal at once:
///   a demand never causes a request then (INV-4).
/// - **Background refresh** (on by default): a thread that wakes at the machine's deadlines,
///   refreshes ahead of expiry and drops what expired, so no caller ever waits after the first
///   fetch. It stops when the last handle is dropped.
///
/// ```no_run
/// # fn main() -> Result<(), credcycle::ProviderError> {
/// let provider = credcycle::Provider::from_env()?;
/// let creds = provider.credentials()?;
/// println!("{} until {}", creds.access_key_id(), creds.expiration());
/// # Ok(()) }
/// ```
///
/// The threading model in full: `docs/provider.md`, section 3.
#[derive(Clone)]
pub struct Provider {
    shared: Arc<Shared>,
}
struct Shared {
    /// What the hot path hands out without the lock; `None` while nothing usable is held.
    snapshot: ArcSwapOption<Snapshot>,
    lifecycle: Mutex<Lifecycle>,
    /// Signalled whenever a request finishes, for callers waiting on it.
    request_done: Condvar,
    clock: Arc<dyn Clock>,
    wait_timeout: Duration,
    background: Option<Arc<BackgroundControl>>,
    waiting: AtomicU64,
    /// Hand-outs, hot path and slow path (per-thread stripes: the hot path shares no line).
    handouts: Striped,
}

/// The lifecycle and the IMDS client, behind the lock.
struct Lifecycle {
    machine: Machine,
    /// `None` while a request is being carried out with it (the single flight, INV-3).
    fetcher: Option<Box<dyn Fetcher>>,
    last_error: Option<String>,
    /// A request the machine asked for while another was being carried out (possible only
    /// after the core abandoned a request that outlived its timeout): the flight runs it next.
    queued: Option<Action>,
    slow_calls: u64,
    requests: u64,
    refusals: RefusalCounts,
    outcomes: RefreshOutcomes,
    imds: ImdsStatusCounts,
}

impl Lifecycle {
    /// The fetcher with `action`, to carry it out; or, while another request holds the
    /// fetcher, `None`, and `action` queued for that holder to run next (INV-3: one at a time).
    fn take_fetcher(&mut self, action: Action) -> Option<(Box<dyn Fetcher>, Action)> {
        let Some(fetcher) = self.fetcher.take() else {
            self.queued = Some(action);
            return None;
        };
        self.requests += 1;
        Some((fetcher, action))
    }
}

impl Provider {
    /// Reports that AWS rejected `access_key_id` (`ExpiredToken`, `InvalidToken`...): that set,
    /// and only that set, is never handed out again, and a refresh is due at once (rate-limited
    /// by backoff).
    ///
    /// From the moment this returns, the set is not handed out, also while the refresh runs.
    /// It does not wait for the refresh: the refresh runs on a thread of its own, and callers
    /// that need credentials meanwhile wait for it (at most the wait timeout).
    pub fn invalidate(&self, access_key_id: &AccessKeyId) {
        let shared = &self.shared;
        let lifecycle = shared.lock();
        tracing::info!("credentials invalidated by the caller");
        tracing::debug!(access_key_id = %access_key_id, "invalidated key id");
        let (lifecycle, request) = shared.apply_input(
            lifecycle,
            Input::Invalidate {
                access_key_id: access_key_id.clone(),
            },
        );
        // INV-2 before any request goes out: the hot path stops passing the rejected set now.
        shared.publish(&lifecycle);
        if let Some(action) = request {
            drop(shared.start_request(lifecycle, action));
        }
    }

    /// What the lifecycle is doing now.
    #[must_use]
    pub fn state(&self) -> StateKind {
        self.shared.lock().machine.kind()
    }

    /// The role in use, once known.
    #[must_use]
    pub fn role(&self) -> Option<RoleName> {
        self.shared.lock().machine.state().role().cloned()
    }

    /// A snapshot of the state, the time the held credentials stay usable, and the counters
    /// (see [`ProviderStats`]). Takes the lifecycle's lock briefly; never asks IMDS anything.
    #[must_use]
    pub fn stats(&self) -> ProviderStats {
        let shared = &self.shared;
        let lifecycle = shared.lock();
        let now = shared.clock.now();
        let machine = &lifecycle.machine;
        let usable_for = match (machine.credentials(now), machine.state().held()) {
            (Ok(handout), Some(held)) if !handout.in_grace() => {
                let policy = machine.policy();
                let mono = held
                    .usable_until(policy)
                    .saturating_duration_since(now.mono);
                let wall = held
                    .expiration
                    .saturating_sub(policy.expiry_margin())
                    .saturating_duration_since(now.wall);
                Some(mono.min(wall))
            }
            _ => None,
        };
        ProviderStats {
            state: machine.kind(),
            usable_for,
            handouts: shared.handouts.sum(),
            refusals: lifecycle.refusals,
            outcomes: lifecycle.outcomes,
            imds: lifecycle.imds,
            slow_calls: lifecycle.slow_calls,
            requests: lifecycle.requests,
            waiting: shared.waiting.load(Ordering::Relaxed),
            in_flight: lifecycle.fetcher.is_none(),
        }
    }

    /// How long before its expiry, on either clock, a set stops being handed out (INV-1): the
    /// policy's `expiry_margin`.
    #[must_use]
    pub fn policy_margin(&self) -> Duration {
        self.shared.lock().machine.policy().expiry_margin()
    }

    /// The clock every deadline and check of this provider reads (the one given to
    /// [`ProviderBuilder::clock`], else a system clock).
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Lifecycle> {
        // The state is consistent after every operation under the lock; a panic elsewhere does
        // not leave it half-written, so a poisoned lock is taken over.
        self.lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl core::fmt::Debug for Provider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Provider")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
