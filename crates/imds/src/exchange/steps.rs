//! One operation in progress, and the steps it asks its driver to take.

use core::mem;
use core::time::Duration;

use credcycle_core::{MonoTime, RoleName};

use super::operation::{DiscoverRole, FetchCredentials, Operation};
use super::session::{Session, TokenState};
use crate::codec;
use crate::error::{ConnectFailure, ImdsError, TransportError};
use crate::http::{HttpRequest, HttpResponse};
use crate::protocol::{RequestKind, TOKEN_TTL_HEADER};

/// One operation in progress. Built by [`Exchange::discover_role`] or
/// [`Exchange::fetch_credentials`]; driven with [`poll`](Self::poll).
#[derive(Debug)]
#[must_use = "an exchange does nothing unless polled"]
pub struct Exchange<'s, O: Operation> {
    session: &'s mut Session,
    op: O,
    next: Next<O::Output>,
    /// The kind of the last request sent, and how many times in a row it was sent.
    last_kind: Option<RequestKind>,
    attempts: u32,
    /// Whether the one token retry after a 401 was used.
    token_retried: bool,
}

/// What the next poll does.
#[derive(Debug)]
enum Next<T> {
    Send,
    Backoff(Duration),
    Finish(Result<T, ImdsError>),
}

/// Why an attempt failed in a way worth retrying.
enum Retryable {
    Transport(TransportError),
    Status { status: u16, body_len: usize },
}

/// What to do next, from [`Exchange::poll`].
#[derive(Debug)]
#[must_use]
pub enum Step<'s, O: Operation> {
    /// Send [`PendingRequest::request`] with [`PendingRequest::timeout`], then report the
    /// outcome with [`PendingRequest::on_response`].
    Send(PendingRequest<'s, O>),
    /// Sleep for [`Waiting::delay`] (backoff), then [`Waiting::resume`].
    Wait(Waiting<'s, O>),
    /// The operation is over: its output ([`RoleName`] or `Credentials`), or why it failed.
    Done(Result<O::Output, ImdsError>),
}

/// An exchange waiting for the reply to one request.
#[derive(Debug)]
#[must_use = "the exchange continues only with on_response"]
pub struct PendingRequest<'s, O: Operation> {
    exchange: Exchange<'s, O>,
    request: HttpRequest,
    sent_at: MonoTime,
}

/// An exchange backing off before a retry.
#[derive(Debug)]
#[must_use = "the exchange continues only with resume"]
pub struct Waiting<'s, O: Operation> {
    exchange: Exchange<'s, O>,
    delay: Duration,
}

impl<'s> Exchange<'s, DiscoverRole> {
    /// Discovers the role: from the cache (the pinned role, or the last listing) without a
    /// request, else from the listing.
    pub fn discover_role(session: &'s mut Session) -> Self {
        let next = match session.role.clone() {
            Some(role) => Next::Finish(Ok(role)),
            None => Next::Send,
        };
        Self::start(session, DiscoverRole::new(), next)
    }
}

impl<'s> Exchange<'s, FetchCredentials> {
    /// Fetches `role`'s credentials.
    pub fn fetch_credentials(session: &'s mut Session, role: &RoleName) -> Self {
        let op = FetchCredentials::new(role.clone(), session.extended);
        Self::start(session, op, Next::Send)
    }
}

impl<'s, O: Operation> Exchange<'s, O> {
    fn start(session: &'s mut Session, op: O, next: Next<O::Output>) -> Self {
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
        }
    }

    /// What to do next, at monotonic time `now` (which decides whether the token needs
    /// renewing, and becomes the start of its lifetime if one is requested).
    pub fn poll(mut self, now: MonoTime) -> Step<'s, O> {
        match mem::replace(&mut self.next, Next::Send) {
            Next::Finish(result) => Step::Done(result),
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
        let request = self.op.request(endpoint, token);
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
        match self.op.on_success(self.session, kind, body) {
            Ok(output) => self.next = Next::Finish(Ok(output)),
            Err(error) => self.fail(error),
        }
    }

    fn on_not_found(&mut self) {
        if let Err(error) = self.op.on_not_found(self.session) {
            self.fail(error);
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
        let error = self.op.on_failure(self.session, error);
        self.next = Next::Finish(Err(error));
    }
}

impl<'s, O: Operation> PendingRequest<'s, O> {
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
    pub fn on_response(self, result: Result<HttpResponse, TransportError>) -> Exchange<'s, O> {
        let Self {
            mut exchange,
            request,
            sent_at,
        } = self;
        exchange.on_response(&request, sent_at, result);
        exchange
    }
}

impl<'s, O: Operation> Waiting<'s, O> {
    /// How long to wait before resuming.
    #[must_use]
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Continues after the delay.
    pub fn resume(self) -> Exchange<'s, O> {
        self.exchange
    }
}
