//! [`SimImds`] itself: what the simulator holds (the records every other module works on), how
//! it is built, the entry point that sends each request to IMDS or to the control endpoints, and
//! the simulator's clock (AWS's time, and the scripted instants applied as time passes).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use credcycle_core::{MonoTime, Now, RoleName, SecretAccessKey, SessionToken, WallTime};

use crate::config::{ConfigError, SimConfig};
use crate::report::LoggedRequest;
use crate::request::{PathClass, SimReply, SimRequest};
use crate::rng::{HEX, SimRng};
use crate::scenario::{Event, Fault, Target};
use crate::wire::http_date;

/// How many requests the log keeps (the first ones; the counts in the report go on).
pub const MAX_LOGGED_REQUESTS: usize = 200_000;

/// A simulated Instance Metadata Service, without IO: requests go in with the current time,
/// replies come out, and the caller does the networking and the waiting (the shape of
/// quinn-proto and str0m; the HTTP adapter is [`serve`](crate::serve)).
///
/// - **Time is an argument.** Every call takes a [`Now`]. The simulator's own clock (AWS's
///   clock: what `LastUpdated` and `Expiration` are written in) starts at the wall time given
///   to [`SimImds::new`] and advances with the *monotonic* time of later calls, so a wall-clock
///   step in the `Now`s passed in (the guest's clock being stepped) does not move AWS's clock.
///   Time that goes backwards is treated as no time passing.
/// - **Deterministic.** With [`SimConfig::seed`] set, the same calls give the same replies.
/// - **Total.** No request makes it panic (a property test checks arbitrary requests).
///
/// Call order: [`handle`](Self::handle) for every request; the control methods
/// ([`detach`](Self::detach), [`attach`](Self::attach), [`rotate`](Self::rotate),
/// [`record_use`](Self::record_use)) at any time; [`report`](Self::report) to read the audit.
///
/// ```
/// use credcycle_core::{MonoTime, Now, WallTime};
/// use credcycle_sim::{SimConfig, SimImds, SimRequest};
///
/// let start = Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_795_862_471));
/// let mut imds = SimImds::new(SimConfig::default().with_seed(1), start)?;
///
/// let put = SimRequest::put("/latest/api/token")
///     .with_header("X-aws-ec2-metadata-token-ttl-seconds", "60");
/// let reply = imds.handle(start, &put);
/// assert_eq!(reply.status(), Some(200));
/// assert_eq!(reply.header("x-aws-ec2-metadata-token-ttl-seconds"), Some("60"));
/// let token = reply.text().unwrap().to_owned();
///
/// let get = SimRequest::get("/latest/meta-data/iam/security-credentials/")
///     .with_header("X-aws-ec2-metadata-token", token);
/// assert_eq!(imds.handle(start, &get).text(), Some("credcycle-sim-role"));
/// # Ok::<(), credcycle_sim::ConfigError>(())
/// ```
pub struct SimImds {
    pub(super) config: SimConfig,
    pub(super) scenario_name: Option<String>,
    pub(super) start: Now,
    /// The latest monotonic time seen (time never goes backwards inside the simulator).
    pub(super) latest: MonoTime,
    pub(super) rng: SimRng,
    pub(super) instance_id: String,
    pub(super) ami_id: String,
    pub(super) role: Option<Attachment>,
    /// Live session tokens and when they expire (monotonic).
    pub(super) tokens: BTreeMap<String, MonoTime>,
    pub(super) audit: Vec<AuditEntry>,
    pub(super) by_key: BTreeMap<String, usize>,
    pub(super) windows: Vec<Window>,
    /// Instant events, sorted by time; those before `next_instant` have been applied.
    pub(super) instants: Vec<(MonoTime, Fault)>,
    pub(super) next_instant: usize,
    pub(super) stats: Stats,
    pub(super) log: Vec<LoggedRequest>,
}

impl SimImds {
    /// A simulator started at `start`, configured by `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `config` does not [validate](SimConfig::validate).
    pub fn new(mut config: SimConfig, start: Now) -> Result<Self, ConfigError> {
        config.validate()?;
        let seed = config.seed.unwrap_or_else(SimRng::os_seed);
        let mut rng = SimRng::new(seed);
        let instance_id = format!("i-{}", rng.string(HEX, 17));
        let ami_id = format!("ami-{}", rng.string(HEX, 17));
        let scenario = config.scenario.take();
        let scenario_name = scenario.as_ref().and_then(|s| s.name().map(str::to_owned));
        let events: &[Event] = scenario.as_ref().map_or(&[], |s| s.events());
        let at = |e: &Event| start.mono.saturating_add(e.at());
        let windows = events
            .iter()
            .filter(|e| !e.is_instant())
            .map(|e| Window {
                from: at(e),
                until: e.duration().map(|d| at(e).saturating_add(d)),
                target: e.target(),
                fault: e.fault().clone(),
                recent: VecDeque::new(),
                stale: None,
            })
            .collect();
        let mut instants: Vec<(MonoTime, Fault)> = events
            .iter()
            .filter(|e| e.is_instant())
            .map(|e| (at(e), e.fault().clone()))
            .collect();
        instants.sort_by_key(|(t, _)| *t);
        let initial_role = config.role.clone();
        let mut sim = Self {
            config,
            scenario_name,
            start,
            latest: start.mono,
            rng,
            instance_id,
            ami_id,
            role: None,
            tokens: BTreeMap::new(),
            audit: Vec::new(),
            by_key: BTreeMap::new(),
            windows,
            instants,
            next_instant: 0,
            stats: Stats::default(),
            log: Vec::new(),
        };
        sim.set_role(start.mono, initial_role);
        sim.observe(start);
        Ok(sim)
    }

    /// Answers one request at `now`.
    ///
    /// IMDS paths get IMDS's behaviour, with any scripted faults active at `now`; `/_sim/*`
    /// paths are the control and audit endpoints (no token needed, never faulted).
    pub fn handle(&mut self, now: Now, req: &SimRequest) -> SimReply {
        let t = self.observe(now);
        let class = self.class_of(req);
        let reply = if class == PathClass::Sim {
            self.control(t, req)
        } else {
            let mut reply = self.imds(t, class, req);
            // The service's clock, as every HTTP server tells it (RFC 9110 `Date`).
            if let SimReply::Respond { headers, .. } = &mut reply {
                headers.append("Date", http_date(self.aws_at(t)));
            }
            reply
        };
        self.count(class, &reply);
        if class != PathClass::Sim && self.log.len() < MAX_LOGGED_REQUESTS {
            let ms = t.saturating_duration_since(self.start.mono).as_millis();
            self.log.push(LoggedRequest {
                at_ms: u64::try_from(ms).unwrap_or(u64::MAX),
                class: class.as_str().to_owned(),
                outcome: reply.outcome(),
            });
        }
        reply
    }

    /// Moves the simulator's time to `now` without a request, applying the scripted role
    /// changes and rotations that are due (every other call does this too). Useful before
    /// [`report`](Self::report), which does not take the time.
    pub fn advance(&mut self, now: Now) {
        self.observe(now);
    }

    /// The role attached now, if any.
    #[must_use]
    pub fn role(&self) -> Option<&RoleName> {
        self.role.as_ref().map(|a| &a.role)
    }

    /// The time the simulator was started at.
    #[must_use]
    pub fn start(&self) -> Now {
        self.start
    }

    /// AWS's wall clock at `now`: the start's wall time plus the monotonic time elapsed since.
    #[must_use]
    pub fn aws_time(&self, now: Now) -> WallTime {
        self.aws_at(now.mono.max(self.latest))
    }

    /// The configuration (its `scenario` has been taken over by the simulator: `None`).
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub(super) fn aws_at(&self, t: MonoTime) -> WallTime {
        self.start
            .wall
            .offset_millis(self.config.clock_offset_secs.saturating_mul(1000))
            .saturating_add(t.saturating_duration_since(self.start.mono))
    }

    /// Moves the simulator's time to `now` (never backwards) and applies the instant events
    /// that are due, each at its own time.
    pub(super) fn observe(&mut self, now: Now) -> MonoTime {
        let t = now.mono.max(self.latest);
        self.latest = t;
        while let Some((at, fault)) = self.instants.get(self.next_instant).cloned() {
            if at > t {
                break;
            }
            self.next_instant += 1;
            match fault {
                Fault::Detach => self.set_role(at, None),
                Fault::Attach(role) | Fault::Change(role) => self.set_role(at, Some(role)),
                Fault::Rotate => {
                    let _ = self.force_rotate(at);
                }
                Fault::ForgetTokens => self.tokens.clear(),
                // Windows are never in `instants`.
                _ => {}
            }
        }
        t
    }
}

impl fmt::Debug for SimImds {
    /// Shows counts and times only: no tokens, no secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimImds")
            .field("start", &self.start)
            .field("latest", &self.latest)
            .field("role", &self.role.as_ref().map(|a| &a.role))
            .field("issued", &self.audit.len())
            .field("live_tokens", &self.tokens.len())
            .field("windows", &self.windows.len())
            .field("instants", &self.instants.len())
            .finish_non_exhaustive()
    }
}

/// An attached instance profile.
pub(super) struct Attachment {
    pub(super) role: RoleName,
    pub(super) profile_id: String,
    pub(super) attached_at: WallTime,
    /// The set served now (none before the first credentials request).
    pub(super) current: Option<LiveSet>,
}

/// A set that may still be served: its secrets, beside its audit entry.
pub(super) struct LiveSet {
    pub(super) entry: usize,
    pub(super) secret: SecretAccessKey,
    pub(super) token: SessionToken,
}

/// What the audit remembers of a set: no secrets.
pub(super) struct AuditEntry {
    pub(super) key_id: String,
    pub(super) role: RoleName,
    pub(super) issued_at: WallTime,
    pub(super) expiration: WallTime,
    pub(super) reason: IssueReason,
    pub(super) revoked_at: Option<WallTime>,
    pub(super) uses: u64,
    pub(super) expired_uses: u64,
    pub(super) revoked_uses: u64,
}

#[derive(Clone, Copy)]
pub(super) enum IssueReason {
    First,
    Scheduled,
    Forced,
    ExpiredFault,
}

/// A scripted window and its running state.
pub(super) struct Window {
    pub(super) from: MonoTime,
    pub(super) until: Option<MonoTime>,
    pub(super) target: Target,
    pub(super) fault: Fault,
    /// Throttling: the times of the requests admitted in the last second.
    pub(super) recent: VecDeque<MonoTime>,
    /// `expired`: the stale set served during this window.
    pub(super) stale: Option<LiveSet>,
}

#[derive(Default)]
pub(super) struct Stats {
    pub(super) requests: BTreeMap<PathClass, BTreeMap<String, u64>>,
    pub(super) token_puts: u64,
    pub(super) tokens_issued: u64,
    pub(super) unauthorized: u64,
    pub(super) dropped: u64,
    pub(super) resets: u64,
    pub(super) uses: u64,
    pub(super) expired_uses: u64,
    pub(super) revoked_uses: u64,
    pub(super) unknown_uses: u64,
}
