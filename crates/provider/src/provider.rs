//! The Provider: one lifecycle shared by every thread, a lock-free hot path, single-flight IMDS.

use core::ops::Deref;
use core::time::Duration;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use arc_swap::{ArcSwap, Guard};
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{
    AccessKeyId, Action, Credentials, Event, ImdsFailure, Input, Machine, MonoTime, Now, Policy,
    RoleName, SecretAccessKey, SessionToken, StateKind, WallTime,
};
use credcycle_imds::container::{ContainerClient, ContainerConfig};
use credcycle_imds::{ImdsClient, ImdsConfig, UreqTransport};

use crate::error::ProviderError;
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

/// Where a [`Provider`] gets its credentials from.
///
/// Both sources drive the same lifecycle (`credcycle_core::Machine`, the same rules and
/// invariants); they differ only in who answers its requests. See
/// [`ProviderBuilder::source`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The AWS SDKs' order: the container endpoint when its settings are given
    /// ([`ProviderBuilder::container`]) or its variables are set
    /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`), else IMDS. IMDS settings given
    /// with [`ProviderBuilder::imds`] (and no container settings) pick IMDS.
    #[default]
    Auto,
    /// The EC2 Instance Metadata Service (instance-profile credentials).
    Imds,
    /// A container-credentials endpoint (ECS task roles, EKS Pod Identity).
    Container,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(match self {
            Self::Auto => "auto",
            Self::Imds => "imds",
            Self::Container => "container",
        })
    }
}

/// Settings of a [`Provider`]; start with [`Provider::builder`].
#[must_use]
pub struct ProviderBuilder {
    policy: Policy,
    source: Source,
    container: Option<ContainerConfig>,
    imds: Option<ImdsConfig>,
    fetcher: Option<Box<dyn Fetcher>>,
    clock: Option<Arc<dyn Clock>>,
    wait_timeout: Duration,
    background: bool,
    seed: Option<u64>,
}

/// Credentials handed out by a [`Provider`]. Dereferences to [`Credentials`].
///
/// Short-lived by design: take what you need (sign the request) and drop it. Holding it does not
/// keep the credentials valid: ask again for each request. To hand them to something that
/// caches them (an SDK, another process), tell it
/// [`consumer_expiration`](Self::consumer_expiration), not the raw `Expiration`.
pub struct ProvidedCredentials {
    inner: Held,
    in_grace: bool,
}

enum Held {
    /// A hit of the hot path: the snapshot, and the coarse reading it passed at.
    Snapshot {
        snapshot: Guard<Arc<Snapshot>>,
        at: Now,
    },
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
    /// Consumers use a set until the expiry they are told (aws-sdk-rust, for one, until about
    /// 10 s before it). Told the raw `Expiration`, they would use it inside the expiry margin,
    /// and, if the wall clock stepped back after the set arrived, past its real expiry. This
    /// value keeps INV-1 for them on both clocks, as computed at the moment of the hand-out: it
    /// is at most `Expiration - margin`, and at most `wall now + monotonic time left - margin`
    /// (the usable time left on the monotonic clock, carried over to the wall clock). It is
    /// rounded down to a whole second. On the hot path the coarse clocks' lag and lead are
    /// subtracted too (a few hundred milliseconds at most). For a grace hand-out it is at or
    /// before the moment of the hand-out, so a consumer asks again at every use.
    ///
    /// The raw value stays available as [`expiration`](Credentials::expiration).
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
    /// `Expiration` minus the margin, and the coarse clocks' lead: for the consumer expiry.
    usable_wall: WallTime,
    lead: Duration,
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
            usable_wall: WallTime::from_unix_millis(i64::MIN),
            lead: Duration::ZERO,
        }
    }

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

    fn hand_out(snapshot: Guard<Arc<Self>>, at: Now) -> ProvidedCredentials {
        ProvidedCredentials {
            inner: Held::Snapshot { snapshot, at },
            in_grace: false,
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
    /// Hand-outs, hot path and slow path (per-thread stripes: the hot path shares no line).
    handouts: Striped,
}

/// The lifecycle and the IMDS client, behind the lock.
struct Cold {
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
            source: Source::Auto,
            container: None,
            imds: None,
            fetcher: None,
            clock: None,
            wait_timeout: Duration::from_secs(10),
            background: true,
            seed: None,
        }
    }

    /// A provider with every default, in the AWS SDKs' order: container credentials when
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` is set (ECS, EKS Pod Identity),
    /// else IMDS, each with its settings from the SDKs' environment variables.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Config`] when an environment variable is invalid (a `FULL_URI` to a
    /// host that is not allowed, for one).
    pub fn from_env() -> Result<Self, ProviderError> {
        Self::builder().build()
    }

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
        let snapshot = shared.hot.load();
        if snapshot.passes(now) {
            if now.mono < snapshot.nudge_at || !shared.nudge() {
                shared.handouts.add();
                return Ok(Snapshot::hand_out(snapshot, now));
            }
            // This caller carried out a refresh, which took time: INV-1 at the moment of
            // return, not at the check before it.
            drop(snapshot);
            let now = shared.clock.coarse();
            let snapshot = shared.hot.load();
            if snapshot.passes(now) {
                shared.handouts.add();
                return Ok(Snapshot::hand_out(snapshot, now));
            }
            return shared.slow();
        }
        drop(snapshot);
        shared.slow()
    }

    /// Reports that AWS rejected `access_key_id` (`ExpiredToken`, `InvalidToken`...): that set,
    /// and only that set, is never handed out again, and a refresh is due at once (rate-limited
    /// by backoff).
    ///
    /// From the moment this returns, the set is not handed out, also while the refresh runs.
    /// It does not wait for the refresh: the refresh runs on a thread of its own, and callers
    /// that need credentials meanwhile wait for it (at most the wait timeout).
    pub fn invalidate(&self, access_key_id: &AccessKeyId) {
        let shared = &self.shared;
        let cold = shared.lock();
        tracing::info!("credentials invalidated by the caller");
        tracing::debug!(access_key_id = %access_key_id, "invalidated key id");
        let (cold, request) = shared.feed(
            cold,
            Input::Invalidate {
                access_key_id: access_key_id.clone(),
            },
        );
        // INV-2 before any request goes out: the hot path stops passing the rejected set now.
        shared.publish(&cold);
        if let Some(action) = request {
            drop(shared.launch(cold, action));
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
        let cold = shared.lock();
        let now = shared.clock.now();
        let machine = &cold.machine;
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
            refusals: cold.refusals,
            outcomes: cold.outcomes,
            imds: cold.imds,
            slow_calls: cold.slow_calls,
            requests: cold.requests,
            waiting: shared.waiting.load(Ordering::Relaxed),
            in_flight: cold.fetcher.is_none(),
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
        if let Some(hit) = self.hot_hit() {
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

    /// A hit of the hot path before any refresh is due (a nudge would block).
    #[cfg(feature = "tokio")]
    fn hot_hit(&self) -> Option<ProvidedCredentials> {
        let shared = &*self.shared;
        let now = shared.clock.coarse();
        let snapshot = shared.hot.load();
        (snapshot.passes(now) && now.mono < snapshot.nudge_at).then(|| {
            shared.handouts.add();
            Snapshot::hand_out(snapshot, now).into_owned()
        })
    }
}

impl ProviderBuilder {
    /// The lifecycle policy (margin, refresh windows, backoff, grace).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// IMDS settings (default: [`ImdsConfig::from_env`]). With [`Source::Auto`] and no
    /// container settings, giving them picks IMDS.
    pub fn imds(mut self, config: ImdsConfig) -> Self {
        self.imds = Some(config);
        self
    }

    /// Container-credentials settings (default: [`ContainerConfig::from_env`]). With
    /// [`Source::Auto`], giving them picks the container source.
    pub fn container(mut self, config: ContainerConfig) -> Self {
        self.container = Some(config);
        self
    }

    /// Which source to use (default [`Source::Auto`]: the SDKs' order, container variables
    /// first). Ignored when a [`fetcher`](Self::fetcher) is given.
    ///
    /// The container source drives the same lifecycle with its role pinned to a label
    /// ([`ContainerConfig::label`]), so the core never asks for a role listing, and there is no
    /// session token to fetch: every request is one `GET` of the container endpoint, with the
    /// authorization token read anew (from its file, when it has one).
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
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

    /// Seed of the jitter: of the core's refresh and backoff jitter, and of the default IMDS
    /// client's retry jitter (default: a seed from the operating system's randomness, see
    /// [`random_seed`](crate::random_seed), so that processes that hold the same set refresh at
    /// different moments). Give one only to make a run reproducible.
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
        let seed = self.seed.unwrap_or_else(crate::random_seed);
        let mut policy = self.policy;
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => {
                let source = match self.source {
                    Source::Auto if self.container.is_some() => Source::Container,
                    Source::Auto if self.imds.is_some() => Source::Imds,
                    Source::Auto if ContainerConfig::configured_in(env_var) => Source::Container,
                    Source::Auto => Source::Imds,
                    explicit => explicit,
                };
                if source == Source::Container {
                    let config = match self.container {
                        Some(config) => config,
                        None => ContainerConfig::from_env()
                            .map_err(|e| ProviderError::Config(e.to_string()))?,
                    };
                    // No role to discover: the core fetches for the pinned label at once
                    // ([R1]) and, since the endpoint never answers "no such role", never drops
                    // the label either. One retry schedule (INV-4), as for IMDS.
                    policy = policy
                        .to_builder()
                        .pinned_role(Some(config.label().clone()))
                        .http_attempts(config.num_attempts())
                        .build()
                        .map_err(|e| ProviderError::Config(e.to_string()))?;
                    Box::new(ContainerClient::with_config(config))
                } else {
                    imds_fetcher(self.imds, seed, &mut policy, &clock)?
                }
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
                refusals: RefusalCounts::default(),
                outcomes: RefreshOutcomes::default(),
                imds: ImdsStatusCounts::default(),
            }),
            settled: Condvar::new(),
            clock,
            wait_timeout: self.wait_timeout,
            background: background.clone(),
            waiting: AtomicU64::new(0),
            handouts: Striped::new(),
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

/// Reads an environment variable as the SDKs do (lossily, for the presence check).
fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The IMDS client for `config` (default: from the environment), and the policy adjusted to it.
fn imds_fetcher(
    config: Option<ImdsConfig>,
    seed: u64,
    policy: &mut Policy,
    clock: &Arc<dyn Clock>,
) -> Result<Box<dyn Fetcher>, ProviderError> {
    let config = match config {
        Some(config) => config,
        None => ImdsConfig::builder()
            .jitter_seed(seed)
            .build_with_env()
            .map_err(|e| ProviderError::Config(e.to_string()))?,
    };
    if let (Some(role), None) = (config.pinned_role(), policy.pinned_role()) {
        // AWS_EC2_INSTANCE_PROFILE_NAME: the core skips discovery too.
        *policy = policy
            .to_builder()
            .pinned_role(Some(role.clone()))
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
    }
    // One retry schedule (INV-4): the client's HTTP attempts count against the core's backoff
    // instead of multiplying it.
    *policy = policy
        .to_builder()
        .http_attempts(config.num_attempts())
        .build()
        .map_err(|e| ProviderError::Config(e.to_string()))?;
    Ok(Box::new(ImdsClient::new(
        config,
        UreqTransport::new(),
        Arc::clone(clock),
    )))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cold> {
        // The state is consistent after every operation under the lock; a panic elsewhere does
        // not leave it half-written, so a poisoned lock is taken over.
        self.cold.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slow path of `credentials`.
    fn slow(self: &Arc<Self>) -> Result<ProvidedCredentials, ProviderError> {
        let mut cold = self.lock();
        cold.slow_calls += 1;
        let started = self.clock.now().mono;
        loop {
            let (next, request) = self.feed(cold, Input::Demand);
            cold = next;
            if let Some(action) = request {
                // Carried out on a flight thread, so that this caller's wait for it stays
                // bounded by the wait timeout like everyone else's.
                cold = self.launch(cold, action);
            }
            // INV-1 on the precise clocks, at the moment of return (nothing below blocks).
            let now = self.clock.now();
            let refusal = match cold.machine.credentials(now) {
                Ok(handout) => {
                    self.publish(&cold);
                    self.handouts.add();
                    let passes_until = cold.machine.state().held().map(|held| {
                        let policy = cold.machine.policy();
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
            if cold.fetcher.is_some() {
                // Nobody is asking IMDS, and the machine would not: backing off, detached or
                // stopped. Waiting would not help (INV-4).
                let error = ProviderError::Refused {
                    refusal,
                    cause: cold.last_error.clone(),
                };
                cold.refusals.record(&error);
                return Err(error);
            }
            // A request is in flight (this caller's or another's): wait for it (INV-3), within
            // the wait timeout.
            let waited = now.mono.saturating_duration_since(started);
            if self.left_to_wait(started, now).is_none() {
                let error = ProviderError::TimedOut { waited, refusal };
                cold.refusals.record(&error);
                return Err(error);
            }
            cold = self.wait_once(cold, started, now);
        }
    }

    /// How long a caller that started waiting at `started` may still wait at `now`, if at all.
    fn left_to_wait(&self, started: MonoTime, now: Now) -> Option<Duration> {
        self.wait_timeout
            .checked_sub(now.mono.saturating_duration_since(started))
            .filter(|d| !d.is_zero())
    }

    /// Waits once for a request to settle (or for the rest of the wait timeout).
    fn wait_once<'a>(
        &'a self,
        cold: MutexGuard<'a, Cold>,
        started: MonoTime,
        now: Now,
    ) -> MutexGuard<'a, Cold> {
        let Some(left) = self.left_to_wait(started, now) else {
            return cold;
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let cold = self
            .settled
            .wait_timeout(cold, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        cold
    }

    /// Without a background thread, the first caller past the refresh point carries out the
    /// refresh (others keep the current set) and waits for it, at most the wait timeout.
    /// Never blocks on the lock. Returns whether it waited for a refresh, after which the caller
    /// must check its hand-out again.
    fn nudge(self: &Arc<Self>) -> bool {
        if self.background.is_some() {
            return false;
        }
        let Ok(cold) = self.cold.try_lock() else {
            return false;
        };
        if cold.fetcher.is_none() {
            return false;
        }
        let started = self.clock.now().mono;
        let (cold, request) = self.feed(cold, Input::Tick);
        let Some(action) = request else {
            self.publish(&cold);
            return false;
        };
        let mut cold = self.launch(cold, action);
        loop {
            let now = self.clock.now();
            if cold.fetcher.is_some() || self.left_to_wait(started, now).is_none() {
                return true;
            }
            cold = self.wait_once(cold, started, now);
        }
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
                Action::Notify(event) => {
                    cold.outcomes.record(&event);
                    log_event(&event);
                }
                request_action => request = Some(request_action),
            }
        }
        if cold.fetcher.is_none() && request.is_some() {
            // A request is in flight: hand this one to it rather than lose it.
            cold.queued = request.take();
        }
        (cold, request)
    }

    /// Starts carrying out `action` (and its follow-ups) on a flight thread of its own, and
    /// returns the lock at once: the caller then waits like any other, within the wait timeout,
    /// while the request takes as long as it takes. Without a thread to spare, the request is
    /// carried out here.
    fn launch<'a>(
        self: &'a Arc<Self>,
        mut cold: MutexGuard<'a, Cold>,
        action: Action,
    ) -> MutexGuard<'a, Cold> {
        let Some(fetcher) = cold.fetcher.take() else {
            cold.queued = Some(action);
            return cold;
        };
        cold.requests += 1;
        // The fetcher travels in a slot, so that a failed spawn gives it back.
        let slot = Arc::new(Mutex::new(Some((fetcher, action))));
        let (shared, taken) = (Arc::clone(self), Arc::clone(&slot));
        let spawned = std::thread::Builder::new()
            .name("credcycle-flight".into())
            .spawn(move || {
                let flight = taken.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some((fetcher, action)) = flight {
                    drop(shared.carry(fetcher, action));
                }
            });
        if spawned.is_err() {
            let flight = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some((fetcher, action)) = flight {
                drop(cold);
                tracing::warn!("cannot start a flight thread; carrying out the request inline");
                return self.carry(fetcher, action);
            }
        }
        cold
    }

    /// Carries out `action` with the fetcher on this thread, then follows up until the machine
    /// asks for nothing more. Only the holder of the fetcher flies (INV-3).
    fn fly<'a>(&'a self, mut cold: MutexGuard<'a, Cold>, action: Action) -> MutexGuard<'a, Cold> {
        let Some(fetcher) = cold.fetcher.take() else {
            cold.queued = Some(action);
            return cold;
        };
        cold.requests += 1;
        drop(cold);
        self.carry(fetcher, action)
    }

    /// The flight itself, without the lock: asks IMDS through `fetcher` (taken out of `Cold`
    /// by the caller, which marks the request as in flight), feeds the reply, republishes,
    /// wakes every waiter, and goes on with any follow-up. A fetcher that panics is put back
    /// and its attempt counts as a failed request.
    fn carry(&self, mut fetcher: Box<dyn Fetcher>, mut action: Action) -> MutexGuard<'_, Cold> {
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
            let mut cold = self.lock();
            cold.fetcher = Some(fetcher);
            let Some(reply) = reply else {
                self.settled.notify_all();
                return cold;
            };
            cold.imds.record(&reply);
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
            let Some(next_action) = follow_up.or_else(|| cold.queued.take()) else {
                return cold;
            };
            let Some(again) = cold.fetcher.take() else {
                // Unreachable: the fetcher was put back above, under this same lock.
                cold.queued = Some(next_action);
                return cold;
            };
            cold.requests += 1;
            drop(cold);
            fetcher = again;
            action = next_action;
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
        let snapshot = match (machine.credentials(now), machine.state().held()) {
            (Ok(handout), Some(held)) if !handout.in_grace() => {
                let policy = machine.policy();
                let left = held
                    .usable_until(policy)
                    .saturating_duration_since(now.mono);
                // Holding a usable set, the machine waits for its refresh point or retry.
                let nudge_at = match (machine.state().due_at(), self.background.is_some()) {
                    (Some(until), false) => coarse
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
                    usable_wall: held.expiration.saturating_sub(policy.expiry_margin()),
                    lead,
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
            // A request is in flight; its flight wakes this thread when done.
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
