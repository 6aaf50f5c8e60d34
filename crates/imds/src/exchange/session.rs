//! What outlives one operation: the token, the role, what the endpoint supports, counters.

use core::time::Duration;

use credcycle_core::{MonoTime, RoleName, SplitMix64};

use crate::config::ImdsConfig;
use crate::protocol::RequestKind;
use crate::token::ImdsToken;

/// What outlives one operation: the token, the role, what the endpoint supports, counters.
///
/// `Debug` shows no secret (the token prints redacted).
#[derive(Debug)]
pub struct Session {
    pub(super) config: ImdsConfig,
    pub(super) token: TokenState,
    pub(super) role: Option<RoleName>,
    pub(super) extended: bool,
    rng: SplitMix64,
    pub(super) counts: RequestCounts,
    /// Whether the endpoint has answered (any HTTP reply) in this session.
    pub(super) reached: bool,
}

/// The token as the session holds it.
#[derive(Debug)]
pub(super) enum TokenState {
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

    pub(super) fn count(&mut self, kind: RequestKind) {
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

    pub(super) fn store_token(&mut self, token: ImdsToken, ttl_secs: u32, sent_at: MonoTime) {
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
    pub(super) fn backoff(&mut self, failed: u32) -> Duration {
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
