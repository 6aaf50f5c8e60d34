//! The hot path: the [`Snapshot`] of the held credentials that [`Provider::credentials`] (and
//! `credentials_async`) checks without a lock, what it hands out ([`ProvidedCredentials`]), and
//! `publish`, which computes the snapshot's bounds in the coarse clocks' terms each time the
//! lifecycle changes.

use core::ops::Deref;
use core::time::Duration;
use std::sync::Arc;

use arc_swap::{ArcSwapOption, Guard};
use credcycle_core::{Credentials, MonoTime, Now, WallTime};

use super::{Lifecycle, Provider, Shared};
use crate::error::ProviderError;

/// Credentials handed out by a [`Provider`]. Dereferences to [`Credentials`].
///
/// Short-lived by design: take what you need (sign the request) and drop it. Holding it does not
/// keep the credentials valid: ask again for each request. To hand them to something that
/// caches them (an SDK, another process), tell it
/// [`consumer_expiration`](Self::consumer_expiration), not the raw `Expiration`.
pub struct ProvidedCredentials {
    pub(super) inner: Held,
    pub(super) in_grace: bool,
}

pub(super) enum Held {
    /// A hit of the hot path: the snapshot, and the coarse reading it passed at.
    Snapshot { snapshot: Hit, at: Now },
    /// Checked by the lifecycle on the precise clocks (or copied out of a hit, for async code).
    Owned {
        creds: Arc<Credentials>,
        consumer_expiration: WallTime,
        /// The last precise readings at which the hand-out still passes (INV-1, or its grace
        /// bounds), for a check after a hand-over between threads; `None` when the hand-out
        /// was never passed across.
        #[cfg_attr(
            not(feature = "tokio"),
            expect(dead_code, reason = "read by credentials_async")
        )]
        passes_until: Option<Now>,
    },
}

impl Deref for ProvidedCredentials {
    type Target = Credentials;
    fn deref(&self) -> &Credentials {
        match &self.inner {
            Held::Snapshot { snapshot, .. } => &snapshot.creds,
            Held::Owned { creds, .. } => creds,
        }
    }
}

impl ProvidedCredentials {
    /// Whether these were handed out inside the opt-in grace period (past the margin while IMDS
    /// is failing).
    #[must_use]
    pub fn in_grace(&self) -> bool {
        self.in_grace
    }

    /// A shared handle to the credentials, to keep beyond this borrow.
    #[must_use]
    pub fn shared(&self) -> Arc<Credentials> {
        match &self.inner {
            Held::Snapshot { snapshot, .. } => Arc::clone(&snapshot.creds),
            Held::Owned { creds, .. } => Arc::clone(creds),
        }
    }

    /// The expiry to tell whoever caches these credentials (an AWS SDK's identity cache, a
    /// `credential_process` or container-credentials client): **earlier than `Expiration`**.
    ///
    /// Told the raw `Expiration`, a consumer would use the set inside the expiry margin. This
    /// value keeps INV-1 for it on both clocks (why two: `docs/lifecycle.md#two-clocks`), as of
    /// the hand-out: at most `Expiration - margin` and at most `wall now + monotonic time left -
    /// margin`, rounded down to a whole second; for a grace hand-out, at or before the hand-out.
    /// The details are in `docs/provider.md`, section 2b. The raw value stays available as
    /// [`expiration`](Credentials::expiration).
    #[must_use]
    pub fn consumer_expiration(&self) -> WallTime {
        match &self.inner {
            Held::Snapshot { snapshot, at } => snapshot.consumer_expiration(*at),
            Held::Owned {
                consumer_expiration,
                ..
            } => *consumer_expiration,
        }
    }

    /// The same hand-out, holding an `Arc` rather than a snapshot guard (to send it across
    /// threads or keep it across an `.await`).
    #[cfg(feature = "tokio")]
    fn into_owned(self) -> Self {
        let consumer_expiration = self.consumer_expiration();
        match self.inner {
            Held::Snapshot { snapshot, .. } => Self {
                inner: Held::Owned {
                    creds: Arc::clone(&snapshot.creds),
                    consumer_expiration,
                    // A hit is checked on the coarse clocks; its precise bounds are the
                    // snapshot's, which the hot path re-reads anyway.
                    passes_until: None,
                },
                in_grace: self.in_grace,
            },
            owned @ Held::Owned { .. } => Self {
                inner: owned,
                in_grace: self.in_grace,
            },
        }
    }

    /// Whether the hand-out still passes at the precise reading `now` (true when unknown).
    #[cfg(feature = "tokio")]
    fn still_passes(&self, now: Now) -> bool {
        match &self.inner {
            Held::Owned {
                passes_until: Some(until),
                ..
            } => now.mono <= until.mono && now.wall <= until.wall,
            _ => true,
        }
    }
}

impl core::fmt::Debug for ProvidedCredentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProvidedCredentials")
            .field("credentials", &**self)
            .field("in_grace", &self.in_grace)
            .finish()
    }
}

/// What the hot path reads: the credentials and their bounds in the coarse clocks' terms.
pub(super) struct Snapshot {
    creds: Arc<Credentials>,
    /// Last coarse monotonic reading at which a hand-out is safe (INV-1, lag and lead
    /// subtracted).
    mono_bound: MonoTime,
    /// Last coarse wall reading at which a hand-out is safe (INV-1, lag subtracted).
    wall_bound: WallTime,
    /// Coarse monotonic reading from which a caller starts the due refresh (when there is no
    /// background thread); `MonoTime(u64::MAX)` for never.
    caller_refresh_at: MonoTime,
    /// `Expiration` minus the margin, and the coarse clocks' lead: for the consumer expiry.
    usable_wall: WallTime,
    lead: Duration,
}

/// A hit of the hot path: the published snapshot, loaded and found to pass. arc-swap's guard
/// keeps it alive without a write to the `Arc`'s shared counter.
pub(super) struct Hit(Guard<Option<Arc<Snapshot>>>);

impl Hit {
    /// The snapshot published now, if there is one and it passes at the coarse reading `now`.
    fn load(published: &ArcSwapOption<Snapshot>, now: Now) -> Option<Self> {
        let guard = published.load();
        let passes = guard
            .as_deref()
            .is_some_and(|snapshot| snapshot.passes(now));
        passes.then(|| Self(guard))
    }
}

impl Deref for Hit {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        match &*self.0 {
            Some(snapshot) => snapshot,
            // `load` makes a `Hit` only of a guard that holds a snapshot, and what a guard
            // holds never changes.
            None => unreachable!("a hit is never empty"),
        }
    }
}

impl Snapshot {
    /// INV-1 on both clocks at the coarse reading `now`, against bounds computed when the
    /// snapshot was published.
    fn passes(&self, now: Now) -> bool {
        now.mono <= self.mono_bound && now.wall <= self.wall_bound
    }

    /// The consumer expiry of a hit at the coarse reading `at`: the coarse monotonic time left
    /// to `mono_bound` is at most the precise time left (lag and lead are subtracted from the
    /// bound), and `at.wall - lead` is at most the precise wall time.
    fn consumer_expiration(&self, at: Now) -> WallTime {
        credcycle_core::consumer_expiration(
            self.usable_wall,
            Duration::ZERO,
            self.mono_bound,
            Now::new(at.mono, at.wall.saturating_sub(self.lead)),
        )
    }

    fn hand_out(snapshot: Hit, at: Now) -> ProvidedCredentials {
        ProvidedCredentials {
            inner: Held::Snapshot { snapshot, at },
            in_grace: false,
        }
    }
}

impl Provider {
    /// Credentials that pass INV-1 now, waiting for IMDS if nothing usable is held yet (at most
    /// the wait timeout).
    ///
    /// What it returns passes INV-1 at the moment it returns: a check made before a blocking
    /// refresh is made again after it.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Refused`] when nothing usable is held and no request can be made now
    /// (backing off, detached, shut down), or [`ProviderError::TimedOut`].
    pub fn credentials(&self) -> Result<ProvidedCredentials, ProviderError> {
        let shared = &self.shared;
        // Coarse time first: the snapshot's bounds already allow for its lag.
        let now = shared.clock.coarse();
        if let Some(snapshot) = Hit::load(&shared.snapshot, now) {
            if now.mono < snapshot.caller_refresh_at || !shared.refresh_and_wait() {
                shared.handouts.add();
                return Ok(Snapshot::hand_out(snapshot, now));
            }
            // This caller carried out a refresh, which took time: INV-1 at the moment of
            // return, not at the check before it.
            drop(snapshot);
            let now = shared.clock.coarse();
            if let Some(snapshot) = Hit::load(&shared.snapshot, now) {
                shared.handouts.add();
                return Ok(Snapshot::hand_out(snapshot, now));
            }
        }
        shared.slow_path()
    }

    /// Credentials for async code: the same hot path; the slow path runs on tokio's blocking
    /// pool so that no runtime thread waits for IMDS.
    ///
    /// Returns the same [`ProvidedCredentials`] as [`credentials`](Self::credentials) (marked
    /// [`in_grace`](ProvidedCredentials::in_grace) where it applies), holding an `Arc`, so that
    /// it can be kept across an `.await`. A hand-out from the blocking pool is checked again
    /// when it arrives, so that the hand-over's delay cannot carry it past its bounds.
    ///
    /// # Errors
    ///
    /// As [`credentials`](Self::credentials).
    #[cfg(feature = "tokio")]
    pub async fn credentials_async(&self) -> Result<ProvidedCredentials, ProviderError> {
        if let Some(hit) = self.hot_path_hit() {
            return Ok(hit);
        }
        let mut last = None;
        for _ in 0..2 {
            let this = self.clone();
            let creds = tokio::task::spawn_blocking(move || {
                this.credentials().map(ProvidedCredentials::into_owned)
            })
            .await
            .unwrap_or_else(|e| Err(ProviderError::Task(e.to_string())))?;
            if creds.still_passes(self.shared.clock.now()) {
                return Ok(creds);
            }
            last = Some(creds.expiration());
        }
        // Twice past its bounds on arrival: the blocking pool is too slow to hand anything out.
        Err(ProviderError::Refused {
            refusal: credcycle_core::Refusal::Expired {
                expiration: last.unwrap_or(WallTime::UNIX_EPOCH),
            },
            cause: Some("the blocking pool handed the credentials over too late".into()),
        })
    }

    /// A hit of the hot path before any refresh is due (past it, `credentials` would start the
    /// refresh and block).
    #[cfg(feature = "tokio")]
    fn hot_path_hit(&self) -> Option<ProvidedCredentials> {
        let shared = &*self.shared;
        let now = shared.clock.coarse();
        let snapshot = Hit::load(&shared.snapshot, now)?;
        (now.mono < snapshot.caller_refresh_at).then(|| {
            shared.handouts.add();
            Snapshot::hand_out(snapshot, now).into_owned()
        })
    }
}

impl Shared {
    /// Publishes what the hot path may hand out: the held set with its bounds in the coarse
    /// clocks' terms, or nothing (while nothing usable is held, and instead of a grace
    /// hand-out, which the lifecycle makes on the slow path).
    pub(super) fn publish(&self, lifecycle: &Lifecycle) {
        // Coarse first, then precise: the coarse reading then leads the precise one by at most
        // the clock's declared lead (see `Clock::coarse` and docs/performance.md).
        let coarse = self.clock.coarse();
        let now = self.clock.now();
        let lag = self.clock.coarse_lag();
        let lead = self.clock.coarse_lead();
        let machine = &lifecycle.machine;
        let snapshot = match (machine.credentials(now), machine.state().held()) {
            (Ok(handout), Some(held)) if !handout.in_grace() => {
                let policy = machine.policy();
                let left = held
                    .usable_until(policy)
                    .saturating_duration_since(now.mono);
                // Holding a usable set, the machine waits for its refresh point or retry.
                let caller_refresh_at = match (machine.state().due_at(), self.background.is_some())
                {
                    (Some(until), false) => coarse
                        .mono
                        .saturating_add(until.saturating_duration_since(now.mono)),
                    _ => MonoTime::from_millis(u64::MAX),
                };
                Some(Snapshot {
                    creds: handout.shared(),
                    // INV-1, monotonic: a later coarse reading may lag by `lag`, and `coarse`
                    // may have led `now` by `lead`.
                    mono_bound: coarse
                        .mono
                        .saturating_add(left)
                        .saturating_sub(lag)
                        .saturating_sub(lead),
                    wall_bound: held
                        .expiration
                        .saturating_sub(policy.expiry_margin())
                        .saturating_sub(lag),
                    caller_refresh_at,
                    usable_wall: held.expiration.saturating_sub(policy.expiry_margin()),
                    lead,
                })
            }
            _ => None,
        };
        self.snapshot.store(snapshot.map(Arc::new));
    }
}
