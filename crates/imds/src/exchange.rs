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
//!
//! [`ImdsError::CouldNotConnect`]: crate::ImdsError::CouldNotConnect
//! [`ImdsError::ImdsV1Disabled`]: crate::ImdsError::ImdsV1Disabled
//! [`ImdsError::NoInstanceProfile`]: crate::ImdsError::NoInstanceProfile
//! [`ImdsError::RoleNotFound`]: crate::ImdsError::RoleNotFound
//! [`ImdsError::TokenBadRequest`]: crate::ImdsError::TokenBadRequest
//! [`ImdsError::TokenForbidden`]: crate::ImdsError::TokenForbidden
//! [`ImdsError::TokenTimeout`]: crate::ImdsError::TokenTimeout
//! [`ImdsError::Unauthorized`]: crate::ImdsError::Unauthorized

mod operation;
mod session;
mod steps;

pub use operation::{DiscoverRole, FetchCredentials, Operation};
pub use session::{RequestCounts, Session, TokenStatus};
pub use steps::{Exchange, PendingRequest, Step, Waiting};

#[cfg(test)]
mod tests;
