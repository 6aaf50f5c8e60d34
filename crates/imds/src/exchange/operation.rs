//! The two operations an [`Exchange`](super::Exchange) carries out, and what each ends with.
//!
//! What the operations share (the token, retries, the 401 retry) is the exchange's; what differs
//! (which request, what a 200 or a 404 means, which result) is here, one type per operation, so
//! an exchange can only end with its own operation's [`Output`](Operation::Output).

use core::fmt;

use credcycle_core::{Credentials, RoleName};

use super::session::Session;
use crate::codec::{self, ParseError};
use crate::endpoint::Endpoint;
use crate::error::ImdsError;
use crate::http::HttpRequest;
use crate::protocol::RequestKind;
use crate::token::ImdsToken;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::DiscoverRole {}
    impl Sealed for super::FetchCredentials {}
}

/// An operation an [`Exchange`](super::Exchange) carries out: [`DiscoverRole`] or
/// [`FetchCredentials`]. Sealed.
///
/// A driver can be generic over it: an `Exchange<'_, O>` ends with `Result<O::Output, ImdsError>`.
///
/// ```
/// use credcycle_core::MonoTime;
/// use credcycle_imds::{Exchange, HttpResponse, ImdsConfig, ImdsError, Operation, Session, Step};
///
/// fn drive<O: Operation>(mut exchange: Exchange<'_, O>) -> Result<O::Output, ImdsError> {
///     loop {
///         exchange = match exchange.poll(MonoTime::ZERO) {
///             // The token request and the listing both get "web".
///             Step::Send(pending) => pending.on_response(Ok(HttpResponse::new(200, "web"))),
///             Step::Wait(waiting) => waiting.resume(),
///             Step::Done(result) => return result,
///         };
///     }
/// }
/// let mut session = Session::new(ImdsConfig::default());
/// let role = drive(Exchange::discover_role(&mut session))?;
/// assert_eq!(role.as_str(), "web");
/// # Ok::<(), ImdsError>(())
/// ```
///
/// A role discovery cannot end with credentials; this does not compile:
///
/// ```compile_fail
/// use credcycle_core::{Credentials, MonoTime};
/// use credcycle_imds::{Exchange, ImdsConfig, Session, Step};
///
/// let mut session = Session::new(ImdsConfig::default());
/// if let Step::Done(Ok(creds)) = Exchange::discover_role(&mut session).poll(MonoTime::ZERO) {
///     let _: Credentials = creds;
/// }
/// ```
pub trait Operation: sealed::Sealed + fmt::Debug {
    /// What the operation ends with: a [`RoleName`] or [`Credentials`].
    type Output: fmt::Debug;

    /// The metadata request to send now (the token request is the exchange's business).
    #[doc(hidden)]
    fn request(&self, endpoint: &Endpoint, token: Option<&ImdsToken>) -> HttpRequest;

    /// A 200 reply ends the operation: with its output, or with an error.
    #[doc(hidden)]
    fn on_success(
        &mut self,
        session: &mut Session,
        kind: RequestKind,
        body: &[u8],
    ) -> Result<Self::Output, ImdsError>;

    /// A 404 reply: `Ok` to send again (the operation moved to another path), or the error the
    /// operation ends with.
    #[doc(hidden)]
    fn on_not_found(&mut self, session: &mut Session) -> Result<(), ImdsError>;

    /// The error the operation ends with when `error` stops it.
    #[doc(hidden)]
    fn on_failure(&self, session: &mut Session, error: ImdsError) -> ImdsError;
}

/// Discovering the role ([`Exchange::discover_role`](super::Exchange::discover_role)): ends
/// with a [`RoleName`].
#[derive(Debug)]
pub struct DiscoverRole(());

impl DiscoverRole {
    pub(super) const fn new() -> Self {
        Self(())
    }
}

impl Operation for DiscoverRole {
    type Output = RoleName;

    fn request(&self, endpoint: &Endpoint, token: Option<&ImdsToken>) -> HttpRequest {
        codec::role_listing_request(endpoint, token)
    }

    fn on_success(
        &mut self,
        session: &mut Session,
        kind: RequestKind,
        body: &[u8],
    ) -> Result<RoleName, ImdsError> {
        match codec::parse_role_listing(body) {
            Ok(role) => {
                session.role = Some(role.clone());
                Ok(role)
            }
            Err(error) => Err(ImdsError::Malformed {
                request: kind,
                error,
            }),
        }
    }

    fn on_not_found(&mut self, session: &mut Session) -> Result<(), ImdsError> {
        session.forget_role();
        Err(ImdsError::NoInstanceProfile)
    }

    fn on_failure(&self, _: &mut Session, error: ImdsError) -> ImdsError {
        error
    }
}

/// Fetching a role's credentials
/// ([`Exchange::fetch_credentials`](super::Exchange::fetch_credentials)): ends with
/// [`Credentials`].
#[derive(Debug)]
pub struct FetchCredentials {
    role: RoleName,
    path: CredentialsPath,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CredentialsPath {
    Extended,
    Classic,
    /// The classic path answered 404: reading the listing once more.
    Relisting,
}

impl FetchCredentials {
    /// `role`'s credentials, from the extended path first when `extended`.
    pub(super) fn new(role: RoleName, extended: bool) -> Self {
        let path = if extended {
            CredentialsPath::Extended
        } else {
            CredentialsPath::Classic
        };
        Self { role, path }
    }
}

impl Operation for FetchCredentials {
    type Output = Credentials;

    fn request(&self, endpoint: &Endpoint, token: Option<&ImdsToken>) -> HttpRequest {
        match self.path {
            CredentialsPath::Relisting => codec::role_listing_request(endpoint, token),
            path => codec::credentials_request(
                endpoint,
                &self.role,
                path == CredentialsPath::Extended,
                token,
            ),
        }
    }

    fn on_success(
        &mut self,
        session: &mut Session,
        kind: RequestKind,
        body: &[u8],
    ) -> Result<Credentials, ImdsError> {
        if self.path == CredentialsPath::Relisting {
            // The credentials path answered 404 and this is the one re-listing: whatever it
            // says, the role asked for is gone (INV-2 in the core); what it names is cached for
            // the core's rediscovery.
            let listed = codec::parse_role_listing(body).ok();
            session.role.clone_from(&listed);
            return Err(ImdsError::RoleNotFound {
                role: self.role.clone(),
                listed,
            });
        }
        match codec::parse_credentials(body) {
            Ok(creds) => {
                session.role = Some(self.role.clone());
                Ok(creds)
            }
            Err(ParseError::NotSuccess { code, message }) => {
                Err(ImdsError::NotSuccess { code, message })
            }
            Err(error) => Err(ImdsError::Malformed {
                request: kind,
                error,
            }),
        }
    }

    fn on_not_found(&mut self, session: &mut Session) -> Result<(), ImdsError> {
        let pinned = session.config.pinned_role().is_some();
        match self.path {
            CredentialsPath::Relisting => {
                session.forget_role();
                Err(ImdsError::NoInstanceProfile)
            }
            CredentialsPath::Extended => {
                // Not every instance serves the extended path: fall back to the classic one,
                // for good (sticky), at once and without spending an attempt.
                session.extended = false;
                self.path = CredentialsPath::Classic;
                Ok(())
            }
            CredentialsPath::Classic if pinned => Err(ImdsError::RoleNotFound {
                role: self.role.clone(),
                listed: None,
            }),
            CredentialsPath::Classic => {
                self.path = CredentialsPath::Relisting;
                Ok(())
            }
        }
    }

    fn on_failure(&self, session: &mut Session, error: ImdsError) -> ImdsError {
        match error {
            // The credentials path already answered 404: whatever went wrong with the one
            // re-listing (a timeout, a 5xx), the role asked for is gone, and the core must hear
            // so to drop its credentials (INV-2). Its rediscovery will list again.
            e if self.path == CredentialsPath::Relisting
                && !matches!(
                    e,
                    ImdsError::RoleNotFound { .. } | ImdsError::NoInstanceProfile
                ) =>
            {
                session.forget_role();
                ImdsError::RoleNotFound {
                    role: self.role.clone(),
                    listed: None,
                }
            }
            e => e,
        }
    }
}
