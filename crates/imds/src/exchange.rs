//! The session and retry logic, sans-IO: one small state machine per operation.
//!
//! A [`Session`] holds what outlives one operation: the IMDSv2 token with its expiry on the
//! monotonic clock, the cached role name, whether the extended path works, the jitter
//! generator and the request counters. An [`Exchange`] runs one operation (discover the role,
//! or fetch credentials) against it and says what to do next, as a [`Step`]:
//!
//! - [`Step::Send`]: send this request with this timeout, then hand the outcome back with
//!   [`PendingRequest::on_response`];
//! - [`Step::Wait`]: sleep for the backoff delay, then [`Waiting::resume`];
//! - [`Step::Done`]: the result.
//!
//! The steps are typestate: an exchange waiting for a reply cannot be polled, and a finished one
//! is gone. A driver is a few lines; this crate's is the blocking
//! [`ImdsClient`](crate::ImdsClient), and every decision it acts on is made here:
//!
//! ```
//! use std::time::Duration;
//! use credcycle_core::MonoTime;
//! use credcycle_imds::{Exchange, HttpResponse, ImdsConfig, Session, Step};
//!
//! let mut session = Session::new(ImdsConfig::default());
//! let mut exchange = Exchange::discover_role(&mut session);
//! let role = loop {
//!     exchange = match exchange.poll(MonoTime::ZERO) {
//!         Step::Send(pending) => {
//!             // A real driver sends pending.request() with pending.timeout().
//!             let reply = match pending.request().path() {
//!                 "/latest/api/token" => HttpResponse::new(200, "token"),
//!                 _ => HttpResponse::new(200, "web-server-role\n"),
//!             };
//!             pending.on_response(Ok(reply))
//!         }
//!         Step::Wait(waiting) => waiting.resume(), // after sleeping waiting.delay()
//!         Step::Done(result) => break result?,
//!     };
//! };
//! assert_eq!(role.as_str(), "web-server-role");
//! assert_eq!(session.counts().total(), 2); // the token, then the listing
//! # Ok::<(), credcycle_imds::ImdsError>(())
//! ```
//!
//! # The protocol as implemented
//!
//! - **Token** (IMDSv2): `PUT /latest/api/token` with the configured TTL. The token is cached
//!   until `sent + TTL - min(60 s, TTL/4)` on the monotonic clock (the TTL is the one IMDS echoed,
//!   or the one asked for), then renewed before the next request. In steady state a refresh is
//!   **one** request.
//! - **401** on a `GET`: the token is dropped, a new one fetched and the `GET` sent again, once
//!   per operation. A second 401 is [`ImdsError::Unauthorized`].
//! - **403** on the `PUT`: [`ImdsError::TokenForbidden`]. **400**: [`ImdsError::TokenBadRequest`].
//!   **404/405** (an IMDS without tokens): IMDSv1 (no token) if allowed, remembered until a 401
//!   says tokens are required after all; otherwise [`ImdsError::ImdsV1Disabled`].
//! - **Retries**: timeouts, connection failures, 429 and 5xx are retried with capped, jittered
//!   exponential backoff, up to the configured number of attempts per request. Nothing else is
//!   retried. A token request that times out on every attempt over an open connection is
//!   [`ImdsError::TokenTimeout`], whose message names the hop limit.
//! - **Could not connect**: while the endpoint has never answered in this session, a request
//!   that cannot even connect (refused, unreachable, no connection within the timeout) fails at
//!   once, without retries, as [`ImdsError::CouldNotConnect`]: off EC2 there is nothing to wait
//!   for, and the hop-limit hint would mislead (the hop limit drops the reply to a `PUT` that
//!   was sent, not the connection). Once the endpoint has answered, connect failures are
//!   retried like other transport failures.
//! - **Role**: the listing's first line, cached; discovery answers from the cache without a
//!   request. A 404 on the listing is [`ImdsError::NoInstanceProfile`] and clears the cache.
//! - **Credentials**: the extended path first when enabled, falling back to the classic path on
//!   a 404, for good. A 404 on the classic path reads the listing **once** more (unless the role
//!   is pinned), caches what it names, and fails with [`ImdsError::RoleNotFound`] either way:
//!   the core must see the role as gone so that it drops the old role's credentials (INV-2),
//!   and its rediscovery is then answered from the cache, so following a role change costs no
//!   extra request.

use core::marker::PhantomData;
use core::mem;
use core::time::Duration;

use credcycle_core::{Credentials, MonoTime, RoleName, SplitMix64};

use crate::codec::{self, HttpRequest, HttpResponse, ParseError, RequestKind, TOKEN_TTL_HEADER};
use crate::config::ImdsConfig;
use crate::error::{ConnectFailure, ImdsError, TransportError};
use crate::token::ImdsToken;

/// What outlives one operation: the token, the role, what the endpoint supports, counters.
///
/// `Debug` shows no secret (the token prints redacted).
#[derive(Debug)]
pub struct Session {
    config: ImdsConfig,
    token: TokenState,
    role: Option<RoleName>,
    extended: bool,
    rng: SplitMix64,
    counts: RequestCounts,
    /// Whether the endpoint has answered (any HTTP reply) in this session.
    reached: bool,
}

/// The token as the session holds it.
#[derive(Debug)]
enum TokenState {
    /// No token: the next request is the `PUT`.
    None,
    /// A token, and when to stop using it.
    Cached {
        token: ImdsToken,
        renew_at: MonoTime,
        expires_at: MonoTime,
    },
    /// The endpoint has no tokens and IMDSv1 is allowed: requests go without one.
    ImdsV1,
}

/// What the session knows about the session token (no secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenStatus {
    /// No token is held: the next request fetches one.
    None,
    /// A token is held.
    Cached {
        /// From when it is renewed before use: `expires_at - min(60 s, TTL/4)`.
        renew_at: MonoTime,
        /// When it expires: the time its request was sent plus its TTL.
        expires_at: MonoTime,
    },
    /// The endpoint has no tokens; IMDSv1 requests are sent (only when allowed).
    ImdsV1,
}

/// How many requests were sent, by kind (retries included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Token requests (`PUT`).
    pub token: u64,
    /// Role listings.
    pub role_listing: u64,
    /// Credentials requests on the classic path.
    pub credentials: u64,
    /// Credentials requests on the extended path.
    pub extended_credentials: u64,
    /// Requests to a container-credentials endpoint.
    pub container_credentials: u64,
    /// Of all the above, how many were retries after a backoff.
    pub retries: u64,
}

impl RequestCounts {
    /// Every request sent.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.token
            + self.role_listing
            + self.credentials
            + self.extended_credentials
            + self.container_credentials
    }

    /// The requests of one kind.
    #[must_use]
    pub fn of(&self, kind: RequestKind) -> u64 {
        match kind {
            RequestKind::Token => self.token,
            RequestKind::RoleListing => self.role_listing,
            RequestKind::Credentials => self.credentials,
            RequestKind::ExtendedCredentials => self.extended_credentials,
            RequestKind::ContainerCredentials => self.container_credentials,
            // Never sent by a session.
            RequestKind::InstanceProfileInfo => 0,
        }
    }

    fn count(&mut self, kind: RequestKind) {
        let counter = match kind {
            RequestKind::Token => &mut self.token,
            RequestKind::RoleListing => &mut self.role_listing,
            RequestKind::Credentials => &mut self.credentials,
            RequestKind::ExtendedCredentials => &mut self.extended_credentials,
            RequestKind::ContainerCredentials => &mut self.container_credentials,
            // Never sent by a session.
            RequestKind::InstanceProfileInfo => return,
        };
        *counter = counter.saturating_add(1);
    }
}

impl Session {
    /// A fresh session: no token, the pinned role (if any) as the known role.
    #[must_use]
    pub fn new(config: ImdsConfig) -> Self {
        Self {
            role: config.pinned_role().cloned(),
            extended: config.extended_credentials(),
            rng: SplitMix64::new(config.jitter_seed()),
            token: TokenState::None,
            counts: RequestCounts::default(),
            reached: false,
            config,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ImdsConfig {
        &self.config
    }

    /// Requests sent so far, by kind.
    #[must_use]
    pub fn counts(&self) -> RequestCounts {
        self.counts
    }

    /// The role discovery answers without a request: the pinned role, or the last listing.
    #[must_use]
    pub fn cached_role(&self) -> Option<&RoleName> {
        self.role.as_ref()
    }

    /// What is known about the session token.
    #[must_use]
    pub fn token_status(&self) -> TokenStatus {
        match &self.token {
            TokenState::None => TokenStatus::None,
            TokenState::Cached {
                renew_at,
                expires_at,
                ..
            } => TokenStatus::Cached {
                renew_at: *renew_at,
                expires_at: *expires_at,
            },
            TokenState::ImdsV1 => TokenStatus::ImdsV1,
        }
    }

    /// Whether the endpoint has given an HTTP reply (of any status) in this session. Until it
    /// has, a request that cannot connect is not retried.
    #[must_use]
    pub fn has_reached_endpoint(&self) -> bool {
        self.reached
    }

    /// Whether credentials requests still try the extended path first (enabled, and no 404
    /// from it yet).
    #[must_use]
    pub fn tries_extended_path(&self) -> bool {
        self.extended
    }

    /// Drops the token (and a remembered IMDSv1 fallback): the next request fetches a new one.
    pub fn forget_token(&mut self) {
        self.token = TokenState::None;
    }

    /// Forgets the cached role (not a pinned one): the next discovery lists again.
    pub fn forget_role(&mut self) {
        self.role = self.config.pinned_role().cloned();
    }

    fn store_token(&mut self, token: ImdsToken, ttl_secs: u32, sent_at: MonoTime) {
        let ttl = Duration::from_secs(u64::from(ttl_secs));
        let expires_at = sent_at.saturating_add(ttl);
        let renew_at = expires_at.saturating_sub((ttl / 4).min(Duration::from_secs(60)));
        self.token = TokenState::Cached {
            token,
            renew_at,
            expires_at,
        };
    }

    /// The delay before attempt `failed + 1`: `base * 2^(failed - 1)`, capped, then jittered
    /// to between half and all of itself.
    fn backoff(&mut self, failed: u32) -> Duration {
        let exp = failed.saturating_sub(1).min(20);
        let full = self
            .config
            .backoff_base()
            .saturating_mul(1 << exp)
            .min(self.config.backoff_cap());
        let half = full / 2;
        let ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if ms == 0 {
            0
        } else {
            self.rng.next_u64() % (ms + 1)
        };
        full.saturating_sub(half)
            .saturating_add(Duration::from_millis(jitter))
    }
}

/// Seals [`Output`]: only the two result types of an operation implement it.
mod sealed {
    pub trait Sealed {}
    impl Sealed for credcycle_core::RoleName {}
    impl Sealed for credcycle_core::Credentials {}
}

/// What an [`Exchange`] can produce: a [`RoleName`] or [`Credentials`]. Sealed.
pub trait Output: sealed::Sealed + Sized {
    #[doc(hidden)]
    fn from_role(role: RoleName) -> Option<Self>;
    #[doc(hidden)]
    fn from_credentials(creds: Credentials) -> Option<Self>;
}

impl Output for RoleName {
    fn from_role(role: RoleName) -> Option<Self> {
        Some(role)
    }
    fn from_credentials(_: Credentials) -> Option<Self> {
        None
    }
}

impl Output for Credentials {
    fn from_role(_: RoleName) -> Option<Self> {
        None
    }
    fn from_credentials(creds: Credentials) -> Option<Self> {
        Some(creds)
    }
}

/// One operation in progress. Built by [`Exchange::discover_role`] or
/// [`Exchange::fetch_credentials`]; driven with [`poll`](Self::poll).
#[derive(Debug)]
#[must_use = "an exchange does nothing unless polled"]
pub struct Exchange<'s, T> {
    session: &'s mut Session,
    op: Op,
    next: Next,
    /// The kind of the last request sent, and how many times in a row it was sent.
    last_kind: Option<RequestKind>,
    attempts: u32,
    /// Whether the one token retry after a 401 was used.
    token_retried: bool,
    output: PhantomData<fn() -> T>,
}

/// The operation, with where it stands.
#[derive(Debug)]
enum Op {
    /// Listing the role.
    DiscoverRole,
    /// Fetching a role's credentials.
    FetchCredentials {
        role: RoleName,
        path: CredentialsPath,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CredentialsPath {
    Extended,
    Classic,
    /// The classic path answered 404: reading the listing once more.
    Relisting,
}

/// What the next poll does.
#[derive(Debug)]
enum Next {
    Send,
    Backoff(Duration),
    Finish(Result<Reply, ImdsError>),
}

#[derive(Debug)]
enum Reply {
    Role(RoleName),
    Credentials(Credentials),
}

/// Why an attempt failed in a way worth retrying.
enum Retryable {
    Transport(TransportError),
    Status { status: u16, body_len: usize },
}

/// What to do next, from [`Exchange::poll`].
#[derive(Debug)]
#[must_use]
pub enum Step<'s, T> {
    /// Send [`PendingRequest::request`] with [`PendingRequest::timeout`], then report the
    /// outcome with [`PendingRequest::on_response`].
    Send(PendingRequest<'s, T>),
    /// Sleep for [`Waiting::delay`] (backoff), then [`Waiting::resume`].
    Wait(Waiting<'s, T>),
    /// The operation is over.
    Done(Result<T, ImdsError>),
}

/// An exchange waiting for the reply to one request.
#[derive(Debug)]
#[must_use = "the exchange continues only with on_response"]
pub struct PendingRequest<'s, T> {
    exchange: Exchange<'s, T>,
    request: HttpRequest,
    sent_at: MonoTime,
}

/// An exchange backing off before a retry.
#[derive(Debug)]
#[must_use = "the exchange continues only with resume"]
pub struct Waiting<'s, T> {
    exchange: Exchange<'s, T>,
    delay: Duration,
}

impl<'s> Exchange<'s, RoleName> {
    /// Discovers the role: from the cache (the pinned role, or the last listing) without a
    /// request, else from the listing.
    pub fn discover_role(session: &'s mut Session) -> Self {
        let next = match session.role.clone() {
            Some(role) => Next::Finish(Ok(Reply::Role(role))),
            None => Next::Send,
        };
        Self::start(session, Op::DiscoverRole, next)
    }
}

impl<'s> Exchange<'s, Credentials> {
    /// Fetches `role`'s credentials.
    pub fn fetch_credentials(session: &'s mut Session, role: &RoleName) -> Self {
        let path = if session.extended {
            CredentialsPath::Extended
        } else {
            CredentialsPath::Classic
        };
        let op = Op::FetchCredentials {
            role: role.clone(),
            path,
        };
        Self::start(session, op, Next::Send)
    }
}

impl<'s, T: Output> Exchange<'s, T> {
    fn start(session: &'s mut Session, op: Op, next: Next) -> Self {
        let next = if session.config.is_disabled() {
            Next::Finish(Err(ImdsError::Disabled))
        } else {
            next
        };
        Self {
            session,
            op,
            next,
            last_kind: None,
            attempts: 0,
            token_retried: false,
            output: PhantomData,
        }
    }

    /// What to do next, at monotonic time `now` (which decides whether the token needs
    /// renewing, and becomes the start of its lifetime if one is requested).
    pub fn poll(mut self, now: MonoTime) -> Step<'s, T> {
        match mem::replace(&mut self.next, Next::Send) {
            Next::Finish(result) => Step::Done(result.map(finish)),
            Next::Backoff(delay) => Step::Wait(Waiting {
                exchange: self,
                delay,
            }),
            Next::Send => {
                let request = self.request(now);
                Step::Send(PendingRequest {
                    exchange: self,
                    request,
                    sent_at: now,
                })
            }
        }
    }

    /// The next request: the token first when none is usable at `now`.
    fn request(&mut self, now: MonoTime) -> HttpRequest {
        let session = &mut *self.session;
        let endpoint = session.config.endpoint();
        let token = match &session.token {
            TokenState::ImdsV1 => None,
            TokenState::Cached {
                token, renew_at, ..
            } if now < *renew_at => Some(token),
            TokenState::Cached { .. } | TokenState::None => {
                session.token = TokenState::None;
                return self.sent(codec::token_request(
                    self.session.config.endpoint(),
                    self.session.config.token_ttl_secs(),
                ));
            }
        };
        let request = match &self.op {
            Op::DiscoverRole
            | Op::FetchCredentials {
                path: CredentialsPath::Relisting,
                ..
            } => codec::role_listing_request(endpoint, token),
            Op::FetchCredentials { role, path } => codec::credentials_request(
                endpoint,
                role,
                *path == CredentialsPath::Extended,
                token,
            ),
        };
        self.sent(request)
    }

    /// Counts a request about to be sent.
    fn sent(&mut self, request: HttpRequest) -> HttpRequest {
        let kind = request.kind();
        if self.last_kind == Some(kind) {
            self.session.counts.retries = self.session.counts.retries.saturating_add(1);
        } else {
            self.last_kind = Some(kind);
            self.attempts = 0;
        }
        self.attempts = self.attempts.saturating_add(1);
        self.session.counts.count(kind);
        request
    }

    fn on_response(
        &mut self,
        request: &HttpRequest,
        sent_at: MonoTime,
        result: Result<HttpResponse, TransportError>,
    ) {
        let kind = request.kind();
        let response = match result {
            Ok(response) => {
                self.session.reached = true;
                response
            }
            Err(TransportError::BodyTooLarge) => {
                return self.fail(ImdsError::BodyTooLarge { request: kind });
            }
            Err(e) => return self.retry_or_fail(kind, Retryable::Transport(e)),
        };
        match request.token_ttl_secs() {
            Some(ttl_secs) => self.on_token(&response, ttl_secs, sent_at),
            None => self.on_metadata(kind, &response),
        }
    }

    fn on_token(&mut self, response: &HttpResponse, ttl_secs: u32, sent_at: MonoTime) {
        let body_len = response.body_len();
        match response.status() {
            200 => match codec::parse_token(response.expose_body()) {
                Ok(token) => {
                    let echo = response.header(TOKEN_TTL_HEADER);
                    let ttl = codec::parse_token_ttl(echo, ttl_secs);
                    self.session.store_token(token, ttl, sent_at);
                }
                Err(error) => self.fail(ImdsError::Malformed {
                    request: RequestKind::Token,
                    error,
                }),
            },
            400 => self.fail(ImdsError::TokenBadRequest { ttl_secs, body_len }),
            403 => self.fail(ImdsError::TokenForbidden { body_len }),
            status @ (404 | 405) => {
                if self.session.config.allow_imds_v1() {
                    self.session.token = TokenState::ImdsV1;
                } else {
                    self.fail(ImdsError::ImdsV1Disabled {
                        status,
                        forbidden_by_env: self.session.config.imds_v1_forbidden_by_env(),
                    });
                }
            }
            status => self.on_other_status(RequestKind::Token, status, body_len),
        }
    }

    fn on_metadata(&mut self, kind: RequestKind, response: &HttpResponse) {
        match response.status() {
            200 => self.on_success(kind, response.expose_body()),
            401 if !self.token_retried => {
                // The token expired early or was revoked (or IMDS now requires tokens after an
                // IMDSv1 fallback): a fresh token, once per operation.
                self.token_retried = true;
                self.session.token = TokenState::None;
            }
            401 => {
                // Even a fresh token was refused: drop it too, so that the next operation
                // starts with a new one.
                self.session.token = TokenState::None;
                self.fail(ImdsError::Unauthorized { request: kind });
            }
            404 => self.on_not_found(),
            status => self.on_other_status(kind, status, response.body_len()),
        }
    }

    fn on_success(&mut self, kind: RequestKind, body: &[u8]) {
        match &mut self.op {
            Op::DiscoverRole => match codec::parse_role_listing(body) {
                Ok(role) => {
                    self.session.role = Some(role.clone());
                    self.next = Next::Finish(Ok(Reply::Role(role)));
                }
                Err(error) => self.fail(ImdsError::Malformed {
                    request: kind,
                    error,
                }),
            },
            Op::FetchCredentials {
                role,
                path: CredentialsPath::Relisting,
            } => {
                // The credentials path answered 404 and this is the one re-listing: whatever it
                // says, the role asked for is gone (INV-2 in the core); what it names is cached
                // for the core's rediscovery.
                let listed = codec::parse_role_listing(body).ok();
                self.session.role.clone_from(&listed);
                let role = role.clone();
                self.fail(ImdsError::RoleNotFound { role, listed });
            }
            Op::FetchCredentials { role, .. } => match codec::parse_credentials(body) {
                Ok(creds) => {
                    self.session.role = Some(role.clone());
                    self.next = Next::Finish(Ok(Reply::Credentials(creds)));
                }
                Err(ParseError::NotSuccess { code, message }) => {
                    self.fail(ImdsError::NotSuccess { code, message });
                }
                Err(error) => self.fail(ImdsError::Malformed {
                    request: kind,
                    error,
                }),
            },
        }
    }

    fn on_not_found(&mut self) {
        let pinned = self.session.config.pinned_role().is_some();
        match &mut self.op {
            Op::DiscoverRole
            | Op::FetchCredentials {
                path: CredentialsPath::Relisting,
                ..
            } => {
                self.session.forget_role();
                self.fail(ImdsError::NoInstanceProfile);
            }
            Op::FetchCredentials { path, .. } if *path == CredentialsPath::Extended => {
                // Not every instance serves the extended path: fall back to the classic one,
                // for good (sticky), at once and without spending an attempt.
                self.session.extended = false;
                *path = CredentialsPath::Classic;
            }
            Op::FetchCredentials { role, .. } if pinned => {
                let role = role.clone();
                self.fail(ImdsError::RoleNotFound { role, listed: None });
            }
            Op::FetchCredentials { path, .. } => *path = CredentialsPath::Relisting,
        }
    }

    fn on_other_status(&mut self, kind: RequestKind, status: u16, body_len: usize) {
        if status == 429 || (500..=599).contains(&status) {
            self.retry_or_fail(kind, Retryable::Status { status, body_len });
        } else {
            self.fail(ImdsError::HttpStatus {
                request: kind,
                status,
                body_len,
                attempts: self.attempts,
            });
        }
    }

    fn retry_or_fail(&mut self, kind: RequestKind, cause: Retryable) {
        let first_contact = !self.session.reached;
        let never_connected =
            matches!(&cause, Retryable::Transport(e) if e.is_connect_failure()) && first_contact;
        if self.attempts < self.session.config.num_attempts() && !never_connected {
            self.next = Next::Backoff(self.session.backoff(self.attempts));
            return;
        }
        let attempts = self.attempts;
        let timeout = self.session.config.timeout();
        let could_not_connect = |reason| ImdsError::CouldNotConnect {
            endpoint: self.session.config.endpoint().clone(),
            request: kind,
            reason,
            attempts,
            first_contact,
        };
        let error = match cause {
            Retryable::Transport(TransportError::Timeout) if kind == RequestKind::Token => {
                ImdsError::TokenTimeout { timeout, attempts }
            }
            Retryable::Transport(TransportError::Timeout) => ImdsError::Timeout {
                request: kind,
                timeout,
                attempts,
            },
            Retryable::Transport(TransportError::ConnectTimeout) => {
                could_not_connect(ConnectFailure::TimedOut(timeout))
            }
            Retryable::Transport(TransportError::ConnectionRefused) => {
                could_not_connect(ConnectFailure::Refused)
            }
            Retryable::Transport(TransportError::Unreachable(detail)) => {
                could_not_connect(ConnectFailure::Unreachable(detail))
            }
            Retryable::Transport(TransportError::ConnectionReset) => ImdsError::ConnectionReset {
                request: kind,
                attempts,
            },
            Retryable::Transport(TransportError::BodyTooLarge) => {
                ImdsError::BodyTooLarge { request: kind }
            }
            Retryable::Transport(TransportError::Other(detail)) => ImdsError::Transport {
                request: kind,
                detail,
                attempts,
            },
            Retryable::Status { status, body_len } => ImdsError::HttpStatus {
                request: kind,
                status,
                body_len,
                attempts,
            },
        };
        self.fail(error);
    }

    fn fail(&mut self, error: ImdsError) {
        let error = match (&self.op, error) {
            // The credentials path already answered 404: whatever went wrong with the one
            // re-listing (a timeout, a 5xx), the role asked for is gone, and the core must hear
            // so to drop its credentials (INV-2). Its rediscovery will list again.
            (
                Op::FetchCredentials {
                    role,
                    path: CredentialsPath::Relisting,
                },
                e,
            ) if !matches!(
                e,
                ImdsError::RoleNotFound { .. } | ImdsError::NoInstanceProfile
            ) =>
            {
                self.session.forget_role();
                ImdsError::RoleNotFound {
                    role: role.clone(),
                    listed: None,
                }
            }
            (_, e) => e,
        };
        self.next = Next::Finish(Err(error));
    }
}

/// The typed result of a finished operation.
fn finish<T: Output>(reply: Reply) -> T {
    let typed = match reply {
        Reply::Role(role) => T::from_role(role),
        Reply::Credentials(creds) => T::from_credentials(creds),
    };
    // Broken invariant, not an input: `Exchange<RoleName>` is only built by `discover_role`,
    // whose `Op::DiscoverRole` finishes only with `Reply::Role`, and `Exchange<Credentials>` only
    // by `fetch_credentials`, whose `Op::FetchCredentials` finishes only with
    // `Reply::Credentials` (a re-listing finishes with an error).
    typed.unwrap_or_else(|| unreachable!("an exchange finished with another operation's reply"))
}

impl<'s, T: Output> PendingRequest<'s, T> {
    /// The request to send.
    #[must_use]
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }

    /// How long the whole request may take (connect, send, read the reply).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.exchange.session.config.timeout()
    }

    /// Hands over the outcome of sending the request: an HTTP reply of any status, or why
    /// there was none.
    pub fn on_response(self, result: Result<HttpResponse, TransportError>) -> Exchange<'s, T> {
        let Self {
            mut exchange,
            request,
            sent_at,
        } = self;
        exchange.on_response(&request, sent_at, result);
        exchange
    }
}

impl<'s, T> Waiting<'s, T> {
    /// How long to wait before resuming.
    #[must_use]
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Continues after the delay.
    pub fn resume(self) -> Exchange<'s, T> {
        self.exchange
    }
}

#[cfg(test)]
mod tests;
