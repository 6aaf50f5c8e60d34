//! The blocking client: a [`Session`] driven over a [`Transport`] with a [`Clock`].

use std::time::Duration;

use credcycle_clock::{Clock, SystemClock};
use credcycle_core::{Action, Credentials, ImdsFailure, Input, RoleName};

use crate::config::{ConfigError, ImdsConfig};
use crate::error::ImdsError;
use crate::exchange::{Exchange, Operation, RequestCounts, Session, Step};
use crate::transport::{Transport, UreqTransport};

/// A blocking IMDS client: the session logic of [`Exchange`] driven over a [`Transport`], with
/// the time read from a [`Clock`] and backoff delays slept by a sleep function
/// ([`std::thread::sleep`] unless [`with_sleep`](Self::with_sleep) replaces it).
///
/// Use it directly ([`discover_role`](Self::discover_role),
/// [`fetch_credentials`](Self::fetch_credentials), [`credentials`](Self::credentials)), or
/// let it answer the core's requests with [`answer`](Self::answer):
///
/// ```
/// use std::time::Duration;
/// use credcycle_clock::ManualClock;
/// use credcycle_core::{Action, Input, Machine, MonoTime, Now, Policy, WallTime};
/// use credcycle_imds::{FnTransport, HttpRequest, HttpResponse, ImdsClient, ImdsConfig};
///
/// // A stand-in for IMDS; a real program uses `UreqTransport` (see `ImdsClient::from_env`).
/// let imds = FnTransport(|req: &HttpRequest, _timeout: Duration| {
///     Ok(match req.path() {
///         "/latest/api/token" => HttpResponse::new(200, "token"),
///         "/latest/meta-data/iam/security-credentials/" => HttpResponse::new(200, "web"),
///         _ => HttpResponse::new(200, r#"{"Code": "Success", "AccessKeyId": "ASIAEXAMPLE",
///             "SecretAccessKey": "secret", "Token": "session",
///             "Expiration": "2026-11-28T16:41:11Z"}"#),
///     })
/// });
/// let clock = ManualClock::new(Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_795_862_471)));
/// let mut client = ImdsClient::new(ImdsConfig::default(), imds, clock.clone());
///
/// let mut machine = Machine::new(Policy::default(), 7);
/// machine.handle_input(clock.now(), Input::Demand)?;
/// while let Some(action) = machine.poll_action() {
///     if let Some(reply) = client.answer(&action) {
///         machine.handle_input(clock.now(), reply)?;
///     }
/// }
/// let handout = machine.credentials(clock.now())?;
/// assert_eq!(handout.credentials().access_key_id().as_str(), "ASIAEXAMPLE");
/// assert_eq!(client.counts().total(), 3); // token, listing, credentials
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ImdsClient<T, C> {
    session: Session,
    transport: T,
    clock: C,
    sleep: Box<dyn Fn(Duration) + Send + Sync>,
    last_error: Option<ImdsError>,
}

impl ImdsClient<UreqTransport, SystemClock> {
    /// A client configured from the process environment (see [`ImdsConfig::from_env`]), over
    /// [`UreqTransport`] and the [`SystemClock`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when an environment variable holds an invalid value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::with_config(ImdsConfig::from_env()?))
    }

    /// A client with this configuration, over [`UreqTransport`] and the [`SystemClock`].
    #[must_use]
    pub fn with_config(config: ImdsConfig) -> Self {
        Self::new(config, UreqTransport::new(), SystemClock::new())
    }
}

impl<T: Transport, C: Clock> ImdsClient<T, C> {
    /// A client with its own session.
    #[must_use]
    pub fn new(config: ImdsConfig, transport: T, clock: C) -> Self {
        Self {
            session: Session::new(config),
            transport,
            clock,
            sleep: Box::new(std::thread::sleep),
            last_error: None,
        }
    }

    /// Replaces the function that sleeps through backoff delays (tests pass one that advances a
    /// `ManualClock` instead).
    #[must_use]
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// The role attached to the instance: cached (pinned, or from the last listing) without a
    /// request, else from the role listing.
    ///
    /// # Errors
    ///
    /// [`ImdsError::NoInstanceProfile`] when the listing answers 404; any other [`ImdsError`]
    /// when IMDS cannot be reached or answers something unusable.
    pub fn discover_role(&mut self) -> Result<RoleName, ImdsError> {
        let exchange = Exchange::discover_role(&mut self.session);
        drive(exchange, &self.transport, &self.clock, &*self.sleep)
    }

    /// `role`'s credentials. Costs one request when the token is cached.
    ///
    /// # Errors
    ///
    /// [`ImdsError::RoleNotFound`] when the role's path answers 404 (after one re-listing, whose
    /// answer is cached for the next [`discover_role`](Self::discover_role)); any other
    /// [`ImdsError`] when IMDS cannot be reached or answers something unusable.
    pub fn fetch_credentials(&mut self, role: &RoleName) -> Result<Credentials, ImdsError> {
        let exchange = Exchange::fetch_credentials(&mut self.session, role);
        drive(exchange, &self.transport, &self.clock, &*self.sleep)
    }

    /// Discovers the role and fetches its credentials; when the role changed in between (the
    /// re-listing named another role), follows the new role once. For one-shot use; a
    /// long-running program drives `credcycle_core::Machine` with [`answer`](Self::answer).
    ///
    /// # Errors
    ///
    /// As [`discover_role`](Self::discover_role) and
    /// [`fetch_credentials`](Self::fetch_credentials).
    pub fn credentials(&mut self) -> Result<Credentials, ImdsError> {
        let role = self.discover_role()?;
        let first = self.fetch_credentials(&role);
        match changed_role(&role, &first) {
            Some(listed) => self.fetch_credentials(&listed),
            None => first,
        }
    }

    /// Carries out one of the core's requests and returns the input that answers it:
    /// [`Action::DiscoverRole`] becomes [`Input::RoleReply`], [`Action::FetchCredentials`]
    /// becomes [`Input::CredentialsReply`], with the same id; anything else (events) is `None`.
    /// A failure is reduced to the core's [`ImdsFailure`]; the full error is kept in
    /// [`last_error`](Self::last_error).
    pub fn answer(&mut self, action: &Action) -> Option<Input> {
        Some(match action {
            Action::DiscoverRole { id } => {
                let result = self.discover_role();
                Input::RoleReply {
                    id: *id,
                    result: reduce(result, &mut self.last_error),
                }
            }
            Action::FetchCredentials { id, role } => {
                let result = self.fetch_credentials(role);
                Input::CredentialsReply {
                    id: *id,
                    result: reduce(result, &mut self.last_error),
                }
            }
            Action::Notify(_) => return None,
        })
    }

    /// The full error behind the last failed [`answer`](Self::answer) (cleared by a successful
    /// one), for logs: the core only sees its [`ImdsFailure`].
    #[must_use]
    pub fn last_error(&self) -> Option<&ImdsError> {
        self.last_error.as_ref()
    }

    /// Requests sent so far, by kind.
    #[must_use]
    pub fn counts(&self) -> RequestCounts {
        self.session.counts()
    }

    /// The session (token status, cached role, configuration).
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, to forget the token or the role.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The transport requests are sent over.
    #[must_use]
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The clock the session reads `now` from.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<T, C> core::fmt::Debug for ImdsClient<T, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImdsClient")
            .field("session", &self.session)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// The blocking driver: polls, sends, sleeps, until the exchange is done.
fn drive<O: Operation>(
    mut exchange: Exchange<'_, O>,
    transport: &impl Transport,
    clock: &impl Clock,
    sleep: &dyn Fn(Duration),
) -> Result<O::Output, ImdsError> {
    loop {
        exchange = match exchange.poll(clock.now().mono) {
            Step::Send(pending) => {
                let reply = transport.send(pending.request(), pending.timeout());
                pending.on_response(reply)
            }
            Step::Wait(waiting) => {
                sleep(waiting.delay());
                waiting.resume()
            }
            Step::Done(result) => return result,
        };
    }
}

/// The role to follow when fetching `role`'s credentials found it replaced by another.
fn changed_role(role: &RoleName, result: &Result<Credentials, ImdsError>) -> Option<RoleName> {
    match result {
        Err(ImdsError::RoleNotFound {
            listed: Some(listed),
            ..
        }) if listed != role => Some(listed.clone()),
        _ => None,
    }
}

/// The core's view of a result ([`ImdsFailure`]); remembers the full error (or its absence).
fn reduce<R>(
    result: Result<R, ImdsError>,
    last_error: &mut Option<ImdsError>,
) -> Result<R, ImdsFailure> {
    *last_error = result.as_ref().err().cloned();
    result.map_err(|e| e.failure())
}
