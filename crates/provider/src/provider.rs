//! The Provider: one lifecycle shared by every thread, a lock-free hot path, single-flight IMDS.

use core::ops::Deref;
use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use arc_swap::{ArcSwap, Guard};
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{
    AccessKeyId, Action, Credentials, Event, Input, Machine, MonoTime, Phase, Policy, RoleName,
    SecretAccessKey, SessionToken, StateKind, WallTime,
};
use credcycle_imds::{ImdsClient, ImdsConfig, UreqTransport};

use crate::error::ProviderError;
use crate::fetch::Fetcher;

/// EC2 instance-profile credentials for any number of threads: refreshed ahead of expiry, never
/// handed out past it.
///
/// A `Provider` is a cheap handle (`Clone`, `Send`, `Sync`) on one shared lifecycle
/// ([`credcycle_core::Machine`]). Its parts:
///
/// - **Hot path.** [`credentials`](Self::credentials) first reads a snapshot of the held
///   credentials (an `arc-swap` load, no lock) and checks it against the coarse monotonic and
///   wall clocks (INV-1 on both clocks, with the coarse clocks' lag and lead subtracted from the
///   bounds). A hit
///   costs a few tens of nanoseconds and no system call.
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
#[derive(Clone)]
pub struct Provider {
    shared: Arc<Shared>,
}

/// Settings of a [`Provider`]; start with [`Provider::builder`].
#[must_use]
pub struct ProviderBuilder {
    policy: Policy,
    imds: Option<ImdsConfig>,
    fetcher: Option<Box<dyn Fetcher>>,
    clock: Option<Arc<dyn Clock>>,
    wait_timeout: Duration,
    background: bool,
    seed: Option<u64>,
}

/// Counters of the slow path (the hot path counts nothing, so that it stays contention-free).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderStats {
    /// Calls that missed the snapshot and took the lifecycle's lock.
    pub slow_calls: u64,
    /// IMDS requests carried out (role listings and credentials fetches).
    pub requests: u64,
    /// Callers waiting right now for another caller's request.
    pub waiting: u64,
}

/// Credentials handed out by a [`Provider`]. Dereferences to [`Credentials`].
///
/// Short-lived by design: take what you need (sign the request) and drop it. Holding it does not
/// keep the credentials valid: ask again for each request.
pub struct ProvidedCredentials {
    inner: Held,
    in_grace: bool,
}

enum Held {
    Snapshot(Guard<Arc<Snapshot>>),
    Owned(Arc<Credentials>),
}

impl Deref for ProvidedCredentials {
    type Target = Credentials;
    fn deref(&self) -> &Credentials {
        match &self.inner {
            Held::Snapshot(guard) => &guard.creds,
            Held::Owned(creds) => creds,
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
            Held::Snapshot(guard) => Arc::clone(&guard.creds),
            Held::Owned(creds) => Arc::clone(creds),
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
struct Snapshot {
    creds: Arc<Credentials>,
    /// Last coarse monotonic reading at which a hand-out is safe (INV-1, lag and lead
    /// subtracted).
    mono_bound: MonoTime,
    /// Last coarse wall reading at which a hand-out is safe (INV-1, lag subtracted).
    wall_bound: WallTime,
    /// Coarse monotonic reading from which a caller should nudge a refresh (when there is no
    /// background thread); `MonoTime(u64::MAX)` for never.
    nudge_at: MonoTime,
}

impl Snapshot {
    /// A snapshot that never passes: nothing usable is held.
    fn empty() -> Self {
        Self {
            creds: Arc::new(Credentials::new(
                AccessKeyId::new(""),
                SecretAccessKey::new(String::new()),
                SessionToken::new(String::new()),
                WallTime::UNIX_EPOCH,
            )),
            mono_bound: MonoTime::ZERO,
            wall_bound: WallTime::from_unix_millis(i64::MIN),
            nudge_at: MonoTime::from_millis(u64::MAX),
        }
    }
}

struct Shared {
    hot: ArcSwap<Snapshot>,
    cold: Mutex<Cold>,
    /// Signalled whenever a request finishes, for callers waiting on it.
    settled: Condvar,
    clock: Arc<dyn Clock>,
    wait_timeout: Duration,
    background: Option<Arc<Signal>>,
    waiting: AtomicU64,
}

/// The lifecycle and the IMDS client, behind the lock.
struct Cold {
    machine: Machine,
    /// `None` while a caller carries out a request with it (the single flight, INV-3).
    fetcher: Option<Box<dyn Fetcher>>,
    last_error: Option<String>,
    /// A request the machine asked for while another was being carried out (possible only
    /// after the core abandoned a request that outlived its timeout): the flier runs it next.
    queued: Option<Action>,
    slow_calls: u64,
    requests: u64,
}

/// Wakes and stops the background thread.
struct Signal {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Provider {
    /// A builder with the default policy, IMDS settings from the environment, the system
    /// clock, background refresh on and a 10 s wait timeout.
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder {
            policy: Policy::default(),
            imds: None,
            fetcher: None,
            clock: None,
            wait_timeout: Duration::from_secs(10),
            background: true,
            seed: None,
        }
    }

    /// A provider with every default: IMDS settings from the SDKs' environment variables.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Config`] when an environment variable is invalid.
    pub fn from_env() -> Result<Self, ProviderError> {
        Self::builder().build()
    }

    /// Credentials that pass INV-1 now, waiting for IMDS if nothing usable is held yet (at most
    /// the wait timeout).
    ///
    /// # Errors
    ///
    /// [`ProviderError::Refused`] when nothing usable is held and no request can be made now
    /// (backing off, detached, shut down), or [`ProviderError::TimedOut`].
    pub fn credentials(&self) -> Result<ProvidedCredentials, ProviderError> {
        let shared = &*self.shared;
        // Coarse time first: the snapshot's bounds already allow for its lag.
        let now = shared.clock.coarse();
        let snapshot = shared.hot.load();
        // INV-1 on both clocks, against bounds computed when the snapshot was published.
        if now.mono <= snapshot.mono_bound && now.wall <= snapshot.wall_bound {
            if now.mono >= snapshot.nudge_at {
                shared.nudge();
            }
            return Ok(ProvidedCredentials {
                inner: Held::Snapshot(snapshot),
                in_grace: false,
            });
        }
        drop(snapshot);
        shared.slow()
    }

    /// Reports that AWS rejected `access_key_id` (`ExpiredToken`, `InvalidToken`...): that set,
    /// and only that set, is never handed out again, and a refresh is due at once (rate-limited
    /// by backoff).
    pub fn invalidate(&self, access_key_id: &AccessKeyId) {
        let shared = &*self.shared;
        let cold = shared.lock();
        tracing::info!("credentials invalidated by the caller");
        tracing::debug!(access_key_id = %access_key_id, "invalidated key id");
        let (cold, request) = shared.feed(
            cold,
            Input::Invalidate {
                access_key_id: access_key_id.clone(),
            },
        );
        let cold = match request {
            Some(action) => shared.fly(cold, action),
            None => cold,
        };
        shared.publish(&cold);
    }

    /// What the lifecycle is doing now.
    #[must_use]
    pub fn state(&self) -> StateKind {
        self.shared.lock().machine.kind()
    }

    /// The role in use, once known.
    #[must_use]
    pub fn role(&self) -> Option<RoleName> {
        self.shared.lock().machine.state().role.clone()
    }

    /// Counters of the slow path.
    #[must_use]
    pub fn stats(&self) -> ProviderStats {
        let cold = self.shared.lock();
        ProviderStats {
            slow_calls: cold.slow_calls,
            requests: cold.requests,
            waiting: self.shared.waiting.load(Ordering::Relaxed),
        }
    }

    /// The expiry margin of the policy (INV-1).
    #[must_use]
    pub fn policy_margin(&self) -> Duration {
        self.shared.lock().machine.policy().expiry_margin()
    }

    /// The clock this provider reads.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Credentials for async code: the same hot path; the slow path runs on tokio's blocking
    /// pool so that no runtime thread waits for IMDS.
    ///
    /// # Errors
    ///
    /// As [`credentials`](Self::credentials).
    #[cfg(feature = "tokio")]
    pub async fn credentials_async(&self) -> Result<Arc<Credentials>, ProviderError> {
        if let Ok(hit) = self.hot_hit() {
            return Ok(hit);
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.credentials().map(|c| c.shared()))
            .await
            .unwrap_or_else(|e| Err(ProviderError::Task(e.to_string())))
    }

    #[cfg(feature = "tokio")]
    fn hot_hit(&self) -> Result<Arc<Credentials>, ()> {
        let shared = &*self.shared;
        let now = shared.clock.coarse();
        let snapshot = shared.hot.load();
        if now.mono <= snapshot.mono_bound
            && now.wall <= snapshot.wall_bound
            && now.mono < snapshot.nudge_at
        {
            return Ok(Arc::clone(&snapshot.creds));
        }
        Err(())
    }
}

impl ProviderBuilder {
    /// The lifecycle policy (margin, refresh windows, backoff, grace).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// IMDS settings (default: [`ImdsConfig::from_env`]).
    pub fn imds(mut self, config: ImdsConfig) -> Self {
        self.imds = Some(config);
        self
    }

    /// Who carries out the requests (default: an [`ImdsClient`] over ureq with the IMDS
    /// settings). Tests use this to script IMDS.
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Box::new(fetcher));
        self
    }

    /// The clock (default: a new [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long a caller waits for another caller's request before giving up (default 10 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Whether a background thread refreshes ahead of expiry (default on).
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Seed of the jitter (default: the process id).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the provider and, with background refresh, starts fetching at once.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Config`] when the IMDS settings (or their environment variables) are
    /// invalid.
    pub fn build(self) -> Result<Provider, ProviderError> {
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
        let seed = self.seed.unwrap_or_else(|| u64::from(std::process::id()));
        let mut policy = self.policy;
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => {
                let config = match self.imds {
                    Some(config) => config,
                    None => ImdsConfig::builder()
                        .jitter_seed(seed)
                        .build_with_env()
                        .map_err(|e| ProviderError::Config(e.to_string()))?,
                };
                if let (Some(role), None) = (config.pinned_role(), policy.pinned_role()) {
                    // AWS_EC2_INSTANCE_PROFILE_NAME: the core skips discovery too.
                    policy = policy
                        .to_builder()
                        .pinned_role(Some(role.clone()))
                        .build()
                        .map_err(|e| ProviderError::Config(e.to_string()))?;
                }
                // One retry schedule (INV-4): the client's HTTP attempts count against the
                // core's backoff instead of multiplying it.
                policy = policy
                    .to_builder()
                    .http_attempts(config.num_attempts())
                    .build()
                    .map_err(|e| ProviderError::Config(e.to_string()))?;
                Box::new(ImdsClient::new(
                    config,
                    UreqTransport::new(),
                    Arc::clone(&clock),
                ))
            }
        };
        let background = self.background.then(|| {
            Arc::new(Signal {
                stop: Mutex::new(false),
                wake: Condvar::new(),
            })
        });
        let shared = Arc::new(Shared {
            hot: ArcSwap::from_pointee(Snapshot::empty()),
            cold: Mutex::new(Cold {
                machine: Machine::new(policy, seed),
                fetcher: Some(fetcher),
                last_error: None,
                queued: None,
                slow_calls: 0,
                requests: 0,
            }),
            settled: Condvar::new(),
            clock,
            wait_timeout: self.wait_timeout,
            background: background.clone(),
            waiting: AtomicU64::new(0),
        });
        if let Some(signal) = background {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("credcycle-refresh".into())
                .spawn(move || run_background(&weak, &signal))
                .map_err(|e| {
                    ProviderError::Config(format!("cannot start the refresh thread: {e}"))
                })?;
        }
        Ok(Provider { shared })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cold> {
        // The state is consistent after every operation under the lock; a panic elsewhere does
        // not leave it half-written, so a poisoned lock is taken over.
        self.cold.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slow path of `credentials`.
    fn slow(&self) -> Result<ProvidedCredentials, ProviderError> {
        let mut cold = self.lock();
        cold.slow_calls += 1;
        let started = self.clock.now().mono;
        loop {
            let (next, request) = self.feed(cold, Input::Demand);
            cold = next;
            if let Some(action) = request {
                cold = self.fly(cold, action);
                self.publish(&cold);
                continue;
            }
            let now = self.clock.now();
            let refusal = match cold.machine.credentials(now) {
                Ok(handout) => {
                    self.publish(&cold);
                    return Ok(ProvidedCredentials {
                        in_grace: handout.in_grace(),
                        inner: Held::Owned(handout.shared()),
                    });
                }
                Err(refusal) => refusal,
            };
            if cold.fetcher.is_some() {
                // Nobody is asking IMDS, and the machine would not: backing off, detached or
                // stopped. Waiting would not help (INV-4).
                return Err(ProviderError::Refused {
                    refusal,
                    cause: cold.last_error.clone(),
                });
            }
            // Another caller is asking IMDS: wait for it (INV-3), within the wait timeout.
            let waited = now.mono.saturating_duration_since(started);
            let Some(left) = self
                .wait_timeout
                .checked_sub(waited)
                .filter(|d| !d.is_zero())
            else {
                return Err(ProviderError::TimedOut { waited, refusal });
            };
            self.waiting.fetch_add(1, Ordering::Relaxed);
            cold = self
                .settled
                .wait_timeout(cold, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Without a background thread, the first caller past the refresh point carries out the
    /// refresh (others keep the current set). Never blocks on the lock.
    fn nudge(&self) {
        if self.background.is_some() {
            return;
        }
        let Ok(cold) = self.cold.try_lock() else {
            return;
        };
        if cold.fetcher.is_none() {
            return;
        }
        let (cold, request) = self.feed(cold, Input::Tick);
        let cold = match request {
            Some(action) => self.fly(cold, action),
            None => cold,
        };
        self.publish(&cold);
    }

    /// Applies `input` now, logs what came out, and returns the request it asks for, if any.
    fn feed<'a>(
        &self,
        mut cold: MutexGuard<'a, Cold>,
        input: Input,
    ) -> (MutexGuard<'a, Cold>, Option<Action>) {
        let before = cold.machine.kind();
        let rule = cold.machine.handle_input(self.clock.now(), input);
        let after = cold.machine.kind();
        if before != after
            && let Ok(rule) = rule
        {
            tracing::info!(from = %before, to = %after, rule = %rule, "credential lifecycle state changed");
        }
        let mut request = None;
        while let Some(action) = cold.machine.poll_action() {
            match action {
                Action::Notify(event) => log_event(&event),
                request_action => request = Some(request_action),
            }
        }
        if cold.fetcher.is_none() && request.is_some() {
            // Someone is flying: hand the request to them rather than lose it.
            cold.queued = request.take();
        }
        (cold, request)
    }

    /// Carries out `action` outside the lock, then follows up until the machine asks for
    /// nothing more. Only the caller holding the fetcher flies (INV-3).
    fn fly<'a>(
        &'a self,
        mut cold: MutexGuard<'a, Cold>,
        mut action: Action,
    ) -> MutexGuard<'a, Cold> {
        loop {
            let Some(mut fetcher) = cold.fetcher.take() else {
                return cold;
            };
            cold.requests += 1;
            drop(cold);
            let span = tracing::debug_span!("imds_request", request = request_name(&action));
            let reply = span.in_scope(|| fetcher.answer(&action));
            let error = fetcher.last_error();
            cold = self.lock();
            cold.fetcher = Some(fetcher);
            let Some(reply) = reply else {
                self.settled.notify_all();
                return cold;
            };
            if matches!(
                &reply,
                Input::RoleReply { result: Err(_), .. }
                    | Input::CredentialsReply { result: Err(_), .. }
            ) {
                if let Some(error) = &error {
                    tracing::warn!(error = %error, "IMDS request failed");
                }
                cold.last_error = error;
            } else {
                // IMDS answered: an older transport error no longer explains anything.
                cold.last_error = None;
            }
            let (next, follow_up) = self.feed(cold, reply);
            cold = next;
            self.publish(&cold);
            self.settled.notify_all();
            if let Some(signal) = &self.background {
                signal.wake.notify_all();
            }
            match follow_up.or_else(|| cold.queued.take()) {
                Some(next_action) => action = next_action,
                None => return cold,
            }
        }
    }

    /// Publishes what the hot path may hand out: the held set with its bounds in the coarse
    /// clocks' terms, or nothing.
    fn publish(&self, cold: &Cold) {
        // Coarse first, then precise: the coarse reading then leads the precise one by at most
        // the clock's declared lead (see `Clock::coarse` and docs/performance.md).
        let coarse = self.clock.coarse();
        let now = self.clock.now();
        let lag = self.clock.coarse_lag();
        let lead = self.clock.coarse_lead();
        let machine = &cold.machine;
        let snapshot = match (machine.credentials(now), machine.state().held.as_ref()) {
            (Ok(handout), Some(held)) if !handout.in_grace() => {
                let policy = machine.policy();
                let left = held
                    .usable_until(policy)
                    .saturating_duration_since(now.mono);
                let nudge_at = match (machine.state().phase.clone(), self.background.is_some()) {
                    (Phase::Waiting { until }, false) => coarse
                        .mono
                        .saturating_add(until.saturating_duration_since(now.mono)),
                    _ => MonoTime::from_millis(u64::MAX),
                };
                Snapshot {
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
                    nudge_at,
                }
            }
            _ => Snapshot::empty(),
        };
        self.hot.store(Arc::new(snapshot));
    }

    /// One round of the background thread: does what is due, returns how long to sleep.
    fn tend(&self) -> Duration {
        let cold = self.lock();
        if cold.fetcher.is_none() {
            // A caller is asking IMDS; it wakes this thread when done.
            return Duration::from_secs(1);
        }
        let now = self.clock.now();
        let input = match (cold.machine.kind(), cold.machine.poll_timeout()) {
            (StateKind::Idle, _) => Some(Input::Demand),
            (_, Some(at)) if at <= now.mono => Some(Input::Tick),
            _ => None,
        };
        let cold = match input {
            Some(input) => {
                let (cold, request) = self.feed(cold, input);
                let cold = match request {
                    Some(action) => self.fly(cold, action),
                    None => cold,
                };
                self.publish(&cold);
                cold
            }
            None => cold,
        };
        let now = self.clock.now();
        cold.machine
            .poll_timeout()
            .map_or(Duration::from_secs(60), |at| {
                at.saturating_duration_since(now.mono)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(60))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(signal) = &self.background {
            *signal.stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
            signal.wake.notify_all();
        }
    }
}

/// The background thread: holds the provider only while working, so that dropping the last
/// handle stops it.
fn run_background(shared: &Weak<Shared>, signal: &Signal) {
    loop {
        let wait = match shared.upgrade() {
            Some(shared) => shared.tend(),
            None => return,
        };
        let stop = signal.stop.lock().unwrap_or_else(PoisonError::into_inner);
        if *stop {
            return;
        }
        let (stop, _) = signal
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

impl core::fmt::Debug for Provider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Provider")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
