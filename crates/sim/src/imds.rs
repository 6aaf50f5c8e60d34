//! The sans-IO simulator: [`SimImds`] answers [`SimRequest`]s at a given time.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use credcycle_core::{MonoTime, Now, RoleName, SecretAccessKey, SessionToken, WallTime};
use serde::Serialize;

use crate::config::{ConfigError, SimConfig, valid_authorization};
use crate::report::{IssuedSet, LoggedRequest, Report, UseRecord};
use crate::request::{
    Headers, PathClass, SimReply, SimRequest, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER,
};
use crate::rng::{BASE64, BASE64URL, HEX, SimRng, UPPER_ALNUM};
use crate::scenario::{Event, Fault, Malformation, OutageMode, Target};
use crate::wire::{error_page, http_date, imds_json, timestamp, whole_second};

/// The longest session-token lifetime IMDS grants, in seconds (six hours).
pub const MAX_TOKEN_TTL_SECS: u32 = 21_600;

/// How many live session tokens are kept; past this, the one expiring soonest is forgotten
/// (its holder gets a 401 and asks for a new one). Bounds memory against a client that asks for
/// a token per request.
const MAX_LIVE_TOKENS: usize = 100_000;

/// How many requests the log keeps (the first ones; the counts in the report go on).
pub const MAX_LOGGED_REQUESTS: usize = 200_000;

const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials";
const EXTENDED_PATH: &str = "/latest/meta-data/iam/security-credentials-extended";

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
    config: SimConfig,
    scenario_name: Option<String>,
    start: Now,
    /// The latest monotonic time seen (time never goes backwards inside the simulator).
    latest: MonoTime,
    rng: SimRng,
    instance_id: String,
    ami_id: String,
    role: Option<Attachment>,
    /// Live session tokens and when they expire (monotonic).
    tokens: BTreeMap<String, MonoTime>,
    audit: Vec<AuditEntry>,
    by_key: BTreeMap<String, usize>,
    windows: Vec<Window>,
    /// Instant events, sorted by time; those before `next_instant` have been applied.
    instants: Vec<(MonoTime, Fault)>,
    next_instant: usize,
    stats: Stats,
    log: Vec<LoggedRequest>,
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

    /// Every IMDS request answered so far (the first [`MAX_LOGGED_REQUESTS`]), oldest first:
    /// when it arrived, its class and its outcome. `/_sim/*` requests are not in it.
    #[must_use]
    pub fn request_log(&self) -> &[LoggedRequest] {
        &self.log
    }

    /// Moves the simulator's time to `now` without a request, applying the scripted role
    /// changes and rotations that are due (every other call does this too). Useful before
    /// [`report`](Self::report), which does not take the time.
    pub fn advance(&mut self, now: Now) {
        self.observe(now);
    }

    /// The audit so far: counts, requests by class and outcome, and every set issued.
    #[must_use]
    pub fn report(&self) -> Report {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (class, outcomes) in &self.stats.requests {
            requests.insert(class.as_str().to_owned(), outcomes.clone());
        }
        Report {
            scenario: self.scenario_name.clone(),
            role: self.role.as_ref().map(|a| a.role.as_str().to_owned()),
            issued: self.audit.len() as u64,
            uses: self.stats.uses,
            expired_uses: self.stats.expired_uses,
            revoked_uses: self.stats.revoked_uses,
            unknown_uses: self.stats.unknown_uses,
            token_puts: self.stats.token_puts,
            tokens_issued: self.stats.tokens_issued,
            unauthorized: self.stats.unauthorized,
            dropped: self.stats.dropped,
            resets: self.stats.resets,
            requests,
            sets: self.audit.iter().map(AuditEntry::report).collect(),
        }
    }

    /// Removes the instance profile at `now`: the role listing answers 404 from then on, and
    /// the role's sets count as revoked in the audit.
    pub fn detach(&mut self, now: Now) {
        let t = self.observe(now);
        self.set_role(t, None);
    }

    /// Attaches an instance profile with `role` at `now`, replacing any other (whose sets count
    /// as revoked). Attaching the role already attached changes nothing.
    pub fn attach(&mut self, now: Now, role: RoleName) {
        let t = self.observe(now);
        self.set_role(t, Some(role));
    }

    /// Issues a new credential set at `now`, whatever the schedule; returns its access key id,
    /// or `None` when no role is attached.
    pub fn rotate(&mut self, now: Now) -> Option<String> {
        let t = self.observe(now);
        self.force_rotate(t)
    }

    /// Records a use of the set `access_key_id` at `now`, and whether it had expired (or its
    /// role had been revoked) by then. `None` for a key the simulator never issued (counted as
    /// an unknown use).
    pub fn record_use(&mut self, now: Now, access_key_id: &str) -> Option<UseRecord> {
        let t = self.observe(now);
        self.use_key(t, access_key_id)
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

    // -----------------------------------------------------------------------------------------
    // Time and scripted instants.

    fn aws_at(&self, t: MonoTime) -> WallTime {
        self.start
            .wall
            .offset_millis(self.config.clock_offset_secs.saturating_mul(1000))
            .saturating_add(t.saturating_duration_since(self.start.mono))
    }

    /// Moves the simulator's time to `now` (never backwards) and applies the instant events
    /// that are due, each at its own time.
    fn observe(&mut self, now: Now) -> MonoTime {
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

    fn active(&self, t: MonoTime, class: PathClass) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| w.active(t) && w.target.matches(class))
    }

    // -----------------------------------------------------------------------------------------
    // Roles and credential sets.

    fn set_role(&mut self, t: MonoTime, role: Option<RoleName>) {
        if self.role.as_ref().map(|a| &a.role) == role.as_ref() {
            return;
        }
        let now = whole_second(self.aws_at(t));
        if let Some(old) = self.role.take() {
            for entry in &mut self.audit {
                if entry.role == old.role && entry.revoked_at.is_none() {
                    entry.revoked_at = Some(now);
                }
            }
        }
        for window in &mut self.windows {
            window.stale = None;
        }
        self.role = role.map(|role| Attachment {
            role,
            profile_id: format!("AIPA{}", self.rng.string(UPPER_ALNUM, 17)),
            attached_at: now,
            current: None,
        });
    }

    fn force_rotate(&mut self, t: MonoTime) -> Option<String> {
        let role = self.role.as_ref()?.role.clone();
        let set = self.issue_fresh(t, role, IssueReason::Forced);
        let key = self.audit[set.entry].key_id.clone();
        if let Some(attachment) = &mut self.role {
            attachment.current = Some(set);
        }
        Some(key)
    }

    /// A new set for `role`, issued now and valid for the configured lifetime.
    fn issue_fresh(&mut self, t: MonoTime, role: RoleName, reason: IssueReason) -> LiveSet {
        let issued_at = whole_second(self.aws_at(t));
        let expiration = whole_second(issued_at.saturating_add(self.config.lifetime));
        self.issue(role, issued_at, expiration, reason)
    }

    fn issue(
        &mut self,
        role: RoleName,
        issued_at: WallTime,
        expiration: WallTime,
        reason: IssueReason,
    ) -> LiveSet {
        let key_id = loop {
            let candidate = format!("ASIA{}", self.rng.string(UPPER_ALNUM, 16));
            if !self.by_key.contains_key(&candidate) {
                break candidate;
            }
        };
        let secret = SecretAccessKey::new(self.rng.string(BASE64, 40));
        // Real session tokens are long base64 blobs; this prefix is the one they start with.
        let token = SessionToken::new(format!("IQoJb3JpZ2luX2Vj{}", self.rng.string(BASE64, 624)));
        let entry = self.audit.len();
        self.by_key.insert(key_id.clone(), entry);
        self.audit.push(AuditEntry {
            key_id,
            role,
            issued_at,
            expiration,
            reason,
            revoked_at: None,
            uses: 0,
            expired_uses: 0,
            revoked_uses: 0,
        });
        LiveSet {
            entry,
            secret,
            token,
        }
    }

    /// The set to serve for the attached role at `t`: a stale one inside an `expired` window,
    /// else the current one, rotated first if it is due (and no `not-rotated` window is
    /// active). Returns the audit index, the secret and the session token.
    fn serving_set(&mut self, t: MonoTime) -> Option<(usize, String, String)> {
        let role = self.role.as_ref()?.role.clone();
        let aws = self.aws_at(t);
        // An `expired` window serves a set whose Expiration is already past.
        let expired = self
            .windows
            .iter()
            .position(|w| w.active(t) && matches!(w.fault, Fault::Expired { .. }));
        if let Some(i) = expired {
            let reusable = self.windows[i]
                .stale
                .as_ref()
                .is_some_and(|s| self.audit[s.entry].role == role);
            if !reusable {
                let by = match self.windows[i].fault {
                    Fault::Expired { by } => by,
                    _ => Duration::ZERO,
                };
                let expiration = whole_second(aws.saturating_sub(by));
                let issued_at = expiration.saturating_sub(self.config.lifetime);
                let set = self.issue(role, issued_at, expiration, IssueReason::ExpiredFault);
                self.windows[i].stale = Some(set);
            }
            return self.windows[i].stale.as_ref().map(LiveSet::parts);
        }
        let stalled = self
            .windows
            .iter()
            .any(|w| w.active(t) && w.fault == Fault::NotRotated);
        let rotate_before = self.config.rotate_before;
        let attachment = self.role.as_ref()?;
        let due = match &attachment.current {
            None => Some(IssueReason::First),
            Some(set) => {
                let rotation_point = self.audit[set.entry]
                    .expiration
                    .saturating_sub(rotate_before);
                (!stalled && aws >= rotation_point).then_some(IssueReason::Scheduled)
            }
        };
        if let Some(reason) = due {
            let set = self.issue_fresh(t, role, reason);
            if let Some(attachment) = &mut self.role {
                attachment.current = Some(set);
            }
        }
        self.role
            .as_ref()
            .and_then(|a| a.current.as_ref())
            .map(LiveSet::parts)
    }

    fn use_key(&mut self, t: MonoTime, key: &str) -> Option<UseRecord> {
        let Some(&index) = self.by_key.get(key) else {
            self.stats.unknown_uses += 1;
            return None;
        };
        let aws = self.aws_at(t);
        let entry = &mut self.audit[index];
        let expired = aws >= entry.expiration;
        let revoked = entry.revoked_at.is_some_and(|r| aws >= r);
        entry.uses += 1;
        self.stats.uses += 1;
        if expired {
            entry.expired_uses += 1;
            self.stats.expired_uses += 1;
        }
        if revoked {
            entry.revoked_uses += 1;
            self.stats.revoked_uses += 1;
        }
        Some(UseRecord {
            access_key_id: entry.key_id.clone(),
            expired,
            revoked,
            expiration: timestamp(entry.expiration),
            at: timestamp(aws),
        })
    }

    // -----------------------------------------------------------------------------------------
    // IMDS.

    fn imds(&mut self, t: MonoTime, class: PathClass, req: &SimRequest) -> SimReply {
        // 1. Throttling. The real service limits packets per second and mostly drops the
        //    excess, so a throttled request is not answered: the client sees a timeout. (A 429
        //    is rarer; scenarios script it as an `http` outage.)
        let mut throttled = false;
        for window in &mut self.windows {
            if let Fault::Throttle { per_second } = window.fault
                && window.active(t)
                && window.target.matches(class)
                && !window.admit(t, per_second)
            {
                throttled = true;
            }
        }
        if throttled {
            return SimReply::Drop;
        }
        // 2. Outages.
        let outage = self.active(t, class).find_map(|w| match w.fault {
            Fault::Outage(mode) => Some(mode),
            _ => None,
        });
        match outage {
            Some(OutageMode::Timeout) => return SimReply::Drop,
            Some(OutageMode::Reset) => return SimReply::Reset,
            Some(OutageMode::Http {
                status,
                retry_after,
            }) => {
                let mut reply = error(status);
                if let (Some(secs), SimReply::Respond { headers, .. }) = (retry_after, &mut reply) {
                    headers.append("Retry-After", secs.to_string());
                }
                return with_delay(reply, self.delay(t, class));
            }
            None => {}
        }
        // 3. The service itself, with broken bodies where scripted.
        let malformation = self.active(t, class).find_map(|w| match w.fault {
            Fault::Malformed(m) => Some(m),
            _ => None,
        });
        let mut reply = self.serve(t, req, malformation);
        if let (
            Some(m),
            SimReply::Respond {
                status: 200, body, ..
            },
        ) = (malformation, &mut reply)
        {
            match m {
                Malformation::Truncated => body.truncate(body.len() / 2),
                Malformation::NotJson => *body = error_page(502).into_bytes(),
                Malformation::Empty => body.clear(),
                // Written by the JSON builders themselves.
                Malformation::MissingFields
                | Malformation::BadExpiration
                | Malformation::AssumeRoleFailure => {}
            }
        }
        // 4. Slow responses.
        with_delay(reply, self.delay(t, class))
    }

    fn delay(&self, t: MonoTime, class: PathClass) -> Option<Duration> {
        let total: Duration = self
            .active(t, class)
            .filter_map(|w| match w.fault {
                Fault::Delay(d) => Some(d),
                _ => None,
            })
            .fold(Duration::ZERO, Duration::saturating_add);
        (!total.is_zero()).then_some(total)
    }

    /// The class of a request: the container path's fetches are `credentials`, like IMDS's.
    fn class_of(&self, req: &SimRequest) -> PathClass {
        if self.is_container_path(&req.path) {
            PathClass::Credentials
        } else {
            req.class()
        }
    }

    fn is_container_path(&self, path: &str) -> bool {
        self.config
            .container
            .as_ref()
            .is_some_and(|c| c.path == path)
    }

    /// Replaces the token the container endpoint requires (as EKS rotates it). Refused (false)
    /// without a container endpoint, or for a token that is empty or not one line.
    pub fn set_authorization(&mut self, token: &str) -> bool {
        match &mut self.config.container {
            Some(container) if valid_authorization(token) => {
                token.clone_into(&mut container.authorization);
                true
            }
            _ => false,
        }
    }

    /// The container-credentials endpoint: one `GET`, the token compared verbatim.
    fn container_get(
        &mut self,
        t: MonoTime,
        req: &SimRequest,
        mal: Option<Malformation>,
    ) -> SimReply {
        if req.method != "GET" {
            return container_error(405, "MethodNotAllowed", "only GET is served");
        }
        let required = self
            .config
            .container
            .as_ref()
            .map(|c| c.authorization.as_str());
        if req.headers.get("Authorization") != required {
            return container_error(401, "AccessDenied", "invalid authorization token");
        }
        if mal == Some(Malformation::AssumeRoleFailure) {
            return container_error(
                500,
                "AssumeRoleUnauthorizedAccess",
                "the agent cannot assume the role",
            );
        }
        let Some((entry, secret, token)) = self.serving_set(t) else {
            return container_error(404, "NoRole", "no role is associated with this container");
        };
        let entry = &self.audit[entry];
        let role_arn = format!(
            "arn:aws:iam::{}:role/{}",
            self.config.account_id, entry.role
        );
        let expiration = match mal {
            Some(Malformation::BadExpiration) => "2026-13-45T25:61:61Z".to_owned(),
            _ => timestamp(entry.expiration),
        };
        let missing = mal == Some(Malformation::MissingFields);
        let reply = ContainerReply {
            access_key_id: &entry.key_id,
            secret_access_key: (!missing).then_some(secret.as_str()),
            token: (!missing).then_some(token.as_str()),
            expiration: &expiration,
            role_arn: &role_arn,
            account_id: &self.config.account_id,
        };
        json(200, &reply)
    }

    /// IMDSv2's rules and routing, as the real service applies them.
    fn serve(&mut self, t: MonoTime, req: &SimRequest, mal: Option<Malformation>) -> SimReply {
        if self.is_container_path(&req.path) {
            return self.container_get(t, req, mal);
        }
        if req.path == TOKEN_PATH {
            return if req.method == "PUT" {
                self.token_put(t, req)
            } else {
                error(405)
            };
        }
        if req.method != "GET" {
            return error(405);
        }
        let authorized = match req.headers.get(TOKEN_HEADER) {
            Some(token) => self.tokens.get(token).is_some_and(|expires| t < *expires),
            None => self.config.allow_imdsv1,
        };
        if !authorized {
            return error(401);
        }
        self.route(t, &req.path, mal)
    }

    fn token_put(&mut self, t: MonoTime, req: &SimRequest) -> SimReply {
        self.stats.token_puts += 1;
        // IMDS refuses token requests that went through a proxy.
        if req.headers.contains("X-Forwarded-For") {
            return error(403);
        }
        let Some(ttl) = req.headers.get(TTL_HEADER).and_then(parse_ttl) else {
            return error(400);
        };
        self.tokens.retain(|_, expires| *expires > t);
        if self.tokens.len() >= MAX_LIVE_TOKENS {
            let soonest = self
                .tokens
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(token, _)| token.clone());
            if let Some(token) = soonest {
                self.tokens.remove(&token);
            }
        }
        let token = loop {
            let candidate = format!("AQAEA{}==", self.rng.string(BASE64URL, 51));
            if !self.tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        self.tokens.insert(
            token.clone(),
            t.saturating_add(Duration::from_secs(u64::from(ttl))),
        );
        self.stats.tokens_issued += 1;
        let mut reply = text(token);
        if let SimReply::Respond { headers, .. } = &mut reply {
            headers.append(TTL_HEADER, ttl.to_string());
        }
        reply
    }

    fn route(&mut self, t: MonoTime, path: &str, mal: Option<Malformation>) -> SimReply {
        match path {
            "/latest/meta-data" | "/latest/meta-data/" => {
                let iam = if self.role.is_some() { "iam/\n" } else { "" };
                return text(format!("ami-id\n{iam}instance-id\ninstance-type"));
            }
            "/latest/meta-data/ami-id" => return text(self.ami_id.clone()),
            "/latest/meta-data/instance-id" => return text(self.instance_id.clone()),
            "/latest/meta-data/instance-type" => return text("t3.micro".to_owned()),
            "/latest/meta-data/iam" | "/latest/meta-data/iam/" => {
                return match self.role {
                    Some(_) => text("info\nsecurity-credentials/".to_owned()),
                    None => error(404),
                };
            }
            "/latest/meta-data/iam/info" => return self.info(mal),
            _ => {}
        }
        // The extended path first: the classic one is a prefix of it.
        for (base, extended) in [(EXTENDED_PATH, true), (CREDS_PATH, false)] {
            let Some(rest) = path.strip_prefix(base) else {
                continue;
            };
            if extended && !self.config.extended {
                return error(404);
            }
            return match rest {
                "" | "/" => match &self.role {
                    Some(a) => text(a.role.as_str().to_owned()),
                    None => error(404),
                },
                _ => match rest.strip_prefix('/') {
                    Some(name) if !name.contains('/') => self.credentials(t, name, extended, mal),
                    _ => error(404),
                },
            };
        }
        error(404)
    }

    fn info(&self, mal: Option<Malformation>) -> SimReply {
        let Some(a) = &self.role else {
            return error(404);
        };
        let arn = format!(
            "arn:aws:iam::{}:instance-profile/{}",
            self.config.account_id, a.role
        );
        let updated = timestamp(a.attached_at);
        let mut fields = vec![("Code", "Success"), ("LastUpdated", updated.as_str())];
        if mal != Some(Malformation::MissingFields) {
            fields.push(("InstanceProfileArn", &arn));
        }
        fields.push(("InstanceProfileId", &a.profile_id));
        text(imds_json(&fields))
    }

    fn credentials(
        &mut self,
        t: MonoTime,
        name: &str,
        extended: bool,
        mal: Option<Malformation>,
    ) -> SimReply {
        if self.role.as_ref().is_none_or(|a| a.role.as_str() != name) {
            return error(404);
        }
        if mal == Some(Malformation::AssumeRoleFailure) {
            let updated = timestamp(self.aws_at(t));
            let message = format!(
                "EC2 cannot assume the role {name}.  Please see documentation at \
                 https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#roles-about-termsandconcepts."
            );
            return text(imds_json(&[
                ("Code", "AssumeRoleUnauthorizedAccess"),
                ("Message", &message),
                ("LastUpdated", &updated),
            ]));
        }
        let Some((entry, secret, token)) = self.serving_set(t) else {
            return error(404);
        };
        let entry = &self.audit[entry];
        let updated = timestamp(entry.issued_at);
        let expiration = match mal {
            Some(Malformation::BadExpiration) => "2026-13-45T25:61:61Z".to_owned(),
            _ => timestamp(entry.expiration),
        };
        let mut fields = vec![
            ("Code", "Success"),
            ("LastUpdated", updated.as_str()),
            ("Type", "AWS-HMAC"),
            ("AccessKeyId", entry.key_id.as_str()),
        ];
        if mal != Some(Malformation::MissingFields) {
            fields.push(("SecretAccessKey", &secret));
            fields.push(("Token", &token));
        }
        fields.push(("Expiration", &expiration));
        if extended {
            fields.push(("AccountId", &self.config.account_id));
        }
        text(imds_json(&fields))
    }

    // -----------------------------------------------------------------------------------------
    // The simulator's own endpoints.

    fn control(&mut self, t: MonoTime, req: &SimRequest) -> SimReply {
        let path = req.path.trim_end_matches('/');
        let method = req.method.as_str();
        let known = [
            "/_sim/report",
            "/_sim/use",
            "/_sim/detach",
            "/_sim/attach",
            "/_sim/rotate",
            "/_sim/authorization",
        ];
        match (method, path) {
            ("GET", "/_sim/report") => json(200, &self.report()),
            ("POST", "/_sim/use") => match use_body(&req.body) {
                Some(key) => match self.use_key(t, &key) {
                    Some(record) => json(200, &record),
                    None => json_error(404, "unknown access key id"),
                },
                None => json_error(400, "expected an access key id, or {\"AccessKeyId\": ...}"),
            },
            ("POST", "/_sim/detach") => {
                self.set_role(t, None);
                json(200, &RoleReply { role: None })
            }
            ("POST", "/_sim/attach") => {
                let name = req
                    .query
                    .as_deref()
                    .and_then(|q| query_param(q, "role"))
                    .or_else(|| {
                        let body = String::from_utf8_lossy(&req.body).trim().to_owned();
                        (!body.is_empty()).then_some(body)
                    });
                match name.map(RoleName::new) {
                    Some(Ok(role)) => {
                        let name = role.as_str().to_owned();
                        self.set_role(t, Some(role));
                        json(200, &RoleReply { role: Some(name) })
                    }
                    Some(Err(e)) => json_error(400, &format!("invalid role name: {e}")),
                    None => json_error(400, "expected ?role=NAME"),
                }
            }
            ("POST", "/_sim/authorization") => {
                let token = String::from_utf8_lossy(&req.body).into_owned();
                if self.config.container.is_none() {
                    json_error(409, "no container endpoint is served")
                } else if self.set_authorization(&token) {
                    json(200, &AuthorizationReply { replaced: true })
                } else {
                    json_error(
                        400,
                        "expected the new token, one non-empty line, as the body",
                    )
                }
            }
            ("POST", "/_sim/rotate") => match self.force_rotate(t) {
                Some(key) => json(200, &RotateReply { access_key_id: key }),
                None => json_error(409, "no role attached"),
            },
            (_, p) if known.contains(&p) => json_error(405, "method not allowed"),
            _ => json_error(404, "no such simulator endpoint"),
        }
    }

    fn count(&mut self, class: PathClass, reply: &SimReply) {
        *self
            .stats
            .requests
            .entry(class)
            .or_default()
            .entry(reply.outcome())
            .or_default() += 1;
        match reply {
            SimReply::Drop => self.stats.dropped += 1,
            SimReply::Reset => self.stats.resets += 1,
            SimReply::Respond { status: 401, .. } if class != PathClass::Sim => {
                self.stats.unauthorized += 1;
            }
            SimReply::Respond { .. } => {}
        }
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
struct Attachment {
    role: RoleName,
    profile_id: String,
    attached_at: WallTime,
    /// The set served now (none before the first credentials request).
    current: Option<LiveSet>,
}

/// A set that may still be served: its secrets, beside its audit entry.
struct LiveSet {
    entry: usize,
    secret: SecretAccessKey,
    token: SessionToken,
}

impl LiveSet {
    fn parts(&self) -> (usize, String, String) {
        (
            self.entry,
            self.secret.expose_secret().to_owned(),
            self.token.expose_secret().to_owned(),
        )
    }
}

/// What the audit remembers of a set: no secrets.
struct AuditEntry {
    key_id: String,
    role: RoleName,
    issued_at: WallTime,
    expiration: WallTime,
    reason: IssueReason,
    revoked_at: Option<WallTime>,
    uses: u64,
    expired_uses: u64,
    revoked_uses: u64,
}

impl AuditEntry {
    fn report(&self) -> IssuedSet {
        IssuedSet {
            access_key_id: self.key_id.clone(),
            role: self.role.as_str().to_owned(),
            issued_at: timestamp(self.issued_at),
            expiration: timestamp(self.expiration),
            reason: self.reason.as_str().to_owned(),
            revoked_at: self.revoked_at.map(timestamp),
            uses: self.uses,
            expired_uses: self.expired_uses,
            revoked_uses: self.revoked_uses,
        }
    }
}

#[derive(Clone, Copy)]
enum IssueReason {
    First,
    Scheduled,
    Forced,
    ExpiredFault,
}

impl IssueReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Scheduled => "scheduled",
            Self::Forced => "forced",
            Self::ExpiredFault => "expired-fault",
        }
    }
}

/// A scripted window and its running state.
struct Window {
    from: MonoTime,
    until: Option<MonoTime>,
    target: Target,
    fault: Fault,
    /// Throttling: the times of the requests admitted in the last second.
    recent: VecDeque<MonoTime>,
    /// `expired`: the stale set served during this window.
    stale: Option<LiveSet>,
}

impl Window {
    fn active(&self, t: MonoTime) -> bool {
        self.from <= t && self.until.is_none_or(|until| t < until)
    }

    /// Admits a request at `t` if fewer than `per_second` were admitted in the second before.
    fn admit(&mut self, t: MonoTime, per_second: u32) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&e| t.saturating_duration_since(e) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= per_second as usize {
            return false;
        }
        self.recent.push_back(t);
        true
    }
}

#[derive(Default)]
struct Stats {
    requests: BTreeMap<PathClass, BTreeMap<String, u64>>,
    token_puts: u64,
    tokens_issued: u64,
    unauthorized: u64,
    dropped: u64,
    resets: u64,
    uses: u64,
    expired_uses: u64,
    revoked_uses: u64,
    unknown_uses: u64,
}

#[derive(Serialize)]
struct RoleReply {
    role: Option<String>,
}

#[derive(Serialize)]
struct RotateReply {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct AuthorizationReply {
    replaced: bool,
}

/// The container endpoint's credentials, in the agents' shape (no `Code`, no `Type`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerReply<'a> {
    access_key_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    expiration: &'a str,
    role_arn: &'a str,
    account_id: &'a str,
}

/// An error of the container endpoint: `{"code": ..., "message": ...}`, as the agents write it.
fn container_error(status: u16, code: &str, message: &str) -> SimReply {
    #[derive(Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
    }
    json(status, &Body { code, message })
}

/// A TTL header value: an integer from 1 to 21600, digits only.
fn parse_ttl(value: &str) -> Option<u32> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|ttl| (1..=MAX_TOKEN_TTL_SECS).contains(ttl))
}

/// The headers of every IMDS reply.
fn imds_headers() -> Headers {
    [("Content-Type", "text/plain"), ("Server", "EC2ws")]
        .into_iter()
        .collect()
}

fn text(body: String) -> SimReply {
    SimReply::Respond {
        status: 200,
        headers: imds_headers(),
        body: body.into_bytes(),
        delay: None,
    }
}

fn error(status: u16) -> SimReply {
    SimReply::Respond {
        status,
        headers: imds_headers(),
        body: error_page(status).into_bytes(),
        delay: None,
    }
}

fn with_delay(reply: SimReply, delay: Option<Duration>) -> SimReply {
    match reply {
        SimReply::Respond {
            status,
            headers,
            body,
            delay: None,
        } => SimReply::Respond {
            status,
            headers,
            body,
            delay,
        },
        other => other,
    }
}

fn json<T: Serialize>(status: u16, value: &T) -> SimReply {
    // Serializing these plain structs cannot fail (string keys, no custom serializers).
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    SimReply::Respond {
        status,
        headers: [("Content-Type", "application/json")].into_iter().collect(),
        body,
        delay: None,
    }
}

fn json_error(status: u16, message: &str) -> SimReply {
    json(status, &ErrorReply { error: message })
}

/// The access key id in a `/_sim/use` body: the id itself, or `{"AccessKeyId": "..."}`.
fn use_body(body: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        return value
            .get("AccessKeyId")?
            .as_str()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
    }
    (!text.is_empty()).then(|| text.to_owned())
}

/// The percent-decoded value of `name` in a query string (`+` is kept: IAM names may hold it).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
