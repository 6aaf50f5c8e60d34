//! What a [`Provider`](crate::Provider) is doing and has done, for monitoring:
//! [`ProviderStats`], read with [`Provider::stats`](crate::Provider::stats).
//!
//! Everything but the hand-outs is counted on the slow path, under the lifecycle's lock, where
//! a counter costs nothing measurable. The hand-outs of the hot path are counted in per-thread
//! stripes ([`Striped`]): one relaxed add on a cache line that no other thread writes, so that
//! two threads handing out at once never contend on a counter.

use core::num::NonZeroUsize;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use credcycle_core::{Event, Failure, ImdsFailure, Input, Refusal, StateKind};

use crate::ProviderError;

/// A snapshot of a [`Provider`](crate::Provider): its state, how long what it holds stays
/// usable, and what it has done since it was built (counters that only grow).
///
/// Every counter is exact; the snapshot is taken under the lifecycle's lock, except the
/// hand-outs of the hot path, which are summed from per-thread stripes without it (a hand-out
/// that happens while `stats` runs may or may not be in it). The names of the label values
/// (`labelled`) are what `credcycle serve`'s `/metrics` shows; see `docs/provider.md`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use credcycle::{
///     AccessKeyId, Action, Credentials, Input, ManualClock, MonoTime, Now, Provider, RoleName,
///     SecretAccessKey, SessionToken, StateKind, WallTime,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let start = Now::new(MonoTime::ZERO, WallTime::from_unix_secs(1_800_000_000));
/// let clock = Arc::new(ManualClock::new(start));
/// let expiration = start.wall.saturating_add(Duration::from_secs(6 * 3600));
/// let provider = Provider::builder()
///     .clock(clock.clone())
///     .background_refresh(false)
///     .fetcher(move |action: &Action| match action {
///         Action::DiscoverRole { id } => Some(Input::RoleReply {
///             id: *id,
///             result: Ok(RoleName::new("app").ok()?),
///         }),
///         Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
///             id: *id,
///             result: Ok(Credentials::new(
///                 AccessKeyId::new("ASIAEXAMPLE"),
///                 SecretAccessKey::new("secret".into()),
///                 SessionToken::new("token".into()),
///                 expiration,
///             )),
///         }),
///         Action::Notify(_) => None,
///     })
///     .build()?;
/// assert_eq!(provider.stats().usable_for, None, "nothing fetched yet");
/// provider.credentials()?;
/// let stats = provider.stats();
/// assert_eq!(stats.state, StateKind::Fresh);
/// assert_eq!(stats.handouts, 1);
/// assert_eq!(stats.outcomes.accepted, 1);
/// assert_eq!(stats.imds.ok, 2, "the role listing and the credentials");
/// // Six hours, less the 60 s expiry margin; an hour later, an hour less.
/// assert_eq!(stats.usable_for, Some(Duration::from_secs(6 * 3600 - 60)));
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(provider.stats().usable_for, Some(Duration::from_secs(5 * 3600 - 60)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderStats {
    /// What the lifecycle is doing now.
    pub state: StateKind,
    /// How long the credentials held now may still be handed out: until the usable deadline
    /// (`Expiration` minus the expiry margin, on the monotonic clock and on the wall clock,
    /// whichever comes first), measured on the precise clocks. `None` when nothing usable is
    /// held (also while serving from the opt-in grace period).
    pub usable_for: Option<Duration>,
    /// Credentials handed out by [`credentials`](crate::Provider::credentials) and
    /// `credentials_async`, hot path and slow path together.
    pub handouts: u64,
    /// Calls that got an error instead, by why.
    pub refusals: RefusalCounts,
    /// What the lifecycle made of each reply from IMDS.
    pub outcomes: RefreshOutcomes,
    /// The replies of IMDS to the lifecycle's requests, by status.
    pub imds: ImdsStatusCounts,
    /// Calls that missed the snapshot and took the lifecycle's lock.
    pub slow_calls: u64,
    /// IMDS requests carried out (role listings and credentials fetches).
    pub requests: u64,
    /// Callers waiting right now for a request in flight (their own or another caller's).
    pub waiting: u64,
    /// Whether a request to IMDS is being carried out right now.
    pub in_flight: bool,
}

/// Calls to [`credentials`](crate::Provider::credentials) that returned an error, by the
/// [`Refusal`] they carried (or the timeout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusalCounts {
    /// The lifecycle had not started (`not_started`).
    pub not_started: u64,
    /// The role was being discovered (`discovering`).
    pub discovering: u64,
    /// Credentials were being fetched and nothing usable was held (`fetching`).
    pub fetching: u64,
    /// What was held was inside the expiry margin or expired (`expired`).
    pub expired: u64,
    /// Nothing usable was held and the next attempt waited for backoff (`backing_off`).
    pub backing_off: u64,
    /// No instance profile was attached (`no_instance_profile`).
    pub no_instance_profile: u64,
    /// The lifecycle was shut down (`stopped`).
    pub stopped: u64,
    /// The caller waited the whole wait timeout for a request in flight (`timed_out`).
    pub timed_out: u64,
    /// Any other refusal (`other`).
    pub other: u64,
}

impl RefusalCounts {
    /// Every count with the label `/metrics` gives it, in a fixed order.
    #[must_use]
    pub fn labelled(&self) -> [(&'static str, u64); 9] {
        [
            ("not_started", self.not_started),
            ("discovering", self.discovering),
            ("fetching", self.fetching),
            ("expired", self.expired),
            ("backing_off", self.backing_off),
            ("no_instance_profile", self.no_instance_profile),
            ("stopped", self.stopped),
            ("timed_out", self.timed_out),
            ("other", self.other),
        ]
    }

    /// The sum of the counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.labelled()
            .iter()
            .fold(0, |sum, (_, n)| sum.saturating_add(*n))
    }

    pub(crate) fn record(&mut self, error: &ProviderError) {
        let counter = match error {
            ProviderError::TimedOut { .. } => &mut self.timed_out,
            ProviderError::Refused { refusal, .. } => match refusal {
                Refusal::Idle => &mut self.not_started,
                Refusal::Discovering => &mut self.discovering,
                Refusal::Fetching { .. } => &mut self.fetching,
                Refusal::Expired { .. } => &mut self.expired,
                Refusal::Unavailable { .. } => &mut self.backing_off,
                Refusal::Detached { .. } => &mut self.no_instance_profile,
                Refusal::Stopped => &mut self.stopped,
                _ => &mut self.other,
            },
            _ => &mut self.other,
        };
        *counter = counter.saturating_add(1);
    }
}

/// What the lifecycle made of the replies of IMDS: one count per new set accepted and per
/// failed attempt, by why it failed (a role listing's success counts nowhere: it is a step, not
/// an outcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshOutcomes {
    /// A new set was accepted (`accepted`).
    pub accepted: u64,
    /// IMDS sent the set already held: not yet rotated, retried on the backoff schedule
    /// (`not_rotated`).
    pub not_rotated: u64,
    /// IMDS sent a set that had already expired (`stale`).
    pub stale: u64,
    /// IMDS sent a set valid for no longer than the expiry margin (`too_short_lived`).
    pub too_short_lived: u64,
    /// IMDS sent a set that was revoked or superseded before (`revoked`).
    pub revoked: u64,
    /// The role listing answered 404: no instance profile (`no_instance_profile`).
    pub no_instance_profile: u64,
    /// The role's credentials answered 404: the role was removed or changed (`role_gone`).
    pub role_gone: u64,
    /// IMDS failed otherwise: a timeout, a refused connection, an error status, a malformed
    /// reply (`imds_error`; [`ImdsStatusCounts`] says which).
    pub imds_error: u64,
    /// A failure of a kind added after this count was written (`other`).
    pub other: u64,
}

impl RefreshOutcomes {
    /// Every count with the label `/metrics` gives it, in a fixed order.
    #[must_use]
    pub fn labelled(&self) -> [(&'static str, u64); 9] {
        [
            ("accepted", self.accepted),
            ("not_rotated", self.not_rotated),
            ("stale", self.stale),
            ("too_short_lived", self.too_short_lived),
            ("revoked", self.revoked),
            ("no_instance_profile", self.no_instance_profile),
            ("role_gone", self.role_gone),
            ("imds_error", self.imds_error),
            ("other", self.other),
        ]
    }

    /// Counts the outcome an event of the lifecycle reports, if it reports one.
    pub(crate) fn record(&mut self, event: &Event) {
        let counter = match event {
            Event::Accepted { .. } => &mut self.accepted,
            Event::AttemptFailed { failure, .. } => match failure {
                Failure::NotRotated => &mut self.not_rotated,
                Failure::Stale { .. } => &mut self.stale,
                Failure::TooShortLived { .. } => &mut self.too_short_lived,
                Failure::Revoked => &mut self.revoked,
                Failure::Imds(ImdsFailure::NoInstanceProfile) => &mut self.no_instance_profile,
                Failure::Imds(ImdsFailure::RoleNotFound) => &mut self.role_gone,
                Failure::Imds(_) => &mut self.imds_error,
                _ => &mut self.other,
            },
            Event::RoleDiscovered { .. } | Event::Dropped { .. } => return,
        };
        *counter = counter.saturating_add(1);
    }
}

/// The replies of IMDS to the lifecycle's requests (role listings and credentials fetches), one
/// per request, by what came back. The IMDSv2 token `PUT` and the HTTP-level retries of one
/// request happen inside it, in the IMDS client; the last answer is the one counted. A
/// [`Fetcher`](crate::Fetcher) that panics counts as a timeout, as the lifecycle treats it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImdsStatusCounts {
    /// 200 with what was asked for (`200`). Whether the lifecycle took the credentials is in
    /// [`RefreshOutcomes`].
    pub ok: u64,
    /// 401: the session token was refused (`401`).
    pub unauthorized: u64,
    /// 403: IMDS disabled or the request refused (`403`).
    pub forbidden: u64,
    /// 404: no instance profile, or the role is gone (`404`).
    pub not_found: u64,
    /// 429: throttled (`429`).
    pub throttled: u64,
    /// Any other 4xx (`4xx`).
    pub client_error: u64,
    /// Any 5xx (`5xx`).
    pub server_error: u64,
    /// Any other status, or a failure of a kind added after this count was written
    /// (`other`).
    pub other_status: u64,
    /// No answer in time (`timeout`): also how throttling and a too-low hop limit look.
    pub timeout: u64,
    /// The connection was refused or reset (`connect_error`).
    pub connect_error: u64,
    /// 200 with a body that could not be read (`malformed`).
    pub malformed: u64,
    /// 200 with a `Code` other than `Success` (`not_success`).
    pub not_success: u64,
}

impl ImdsStatusCounts {
    /// Every count with the label `/metrics` gives it, in a fixed order.
    #[must_use]
    pub fn labelled(&self) -> [(&'static str, u64); 12] {
        [
            ("200", self.ok),
            ("401", self.unauthorized),
            ("403", self.forbidden),
            ("404", self.not_found),
            ("429", self.throttled),
            ("4xx", self.client_error),
            ("5xx", self.server_error),
            ("other", self.other_status),
            ("timeout", self.timeout),
            ("connect_error", self.connect_error),
            ("malformed", self.malformed),
            ("not_success", self.not_success),
        ]
    }

    /// The sum of the counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.labelled()
            .iter()
            .fold(0, |sum, (_, n)| sum.saturating_add(*n))
    }

    /// Counts a reply; other inputs count nowhere.
    pub(crate) fn record(&mut self, reply: &Input) {
        let result = match reply {
            Input::RoleReply { result, .. } => result.as_ref().err(),
            Input::CredentialsReply { result, .. } => result.as_ref().err(),
            _ => return,
        };
        let counter = match result {
            None => &mut self.ok,
            Some(ImdsFailure::Timeout) => &mut self.timeout,
            Some(ImdsFailure::ConnectionRefused) => &mut self.connect_error,
            Some(ImdsFailure::Malformed) => &mut self.malformed,
            Some(ImdsFailure::NotSuccess { .. }) => &mut self.not_success,
            Some(ImdsFailure::NoInstanceProfile | ImdsFailure::RoleNotFound) => &mut self.not_found,
            Some(ImdsFailure::HttpStatus(status)) => match status {
                401 => &mut self.unauthorized,
                403 => &mut self.forbidden,
                404 => &mut self.not_found,
                429 => &mut self.throttled,
                400..=499 => &mut self.client_error,
                500..=599 => &mut self.server_error,
                _ => &mut self.other_status,
            },
            Some(_) => &mut self.other_status,
        };
        *counter = counter.saturating_add(1);
    }
}

/// A counter that threads add to without sharing a cache line: one stripe per thread (threads
/// are numbered in the order they first count, and share a stripe only when there are more of
/// them than stripes). Reading it sums the stripes.
pub(crate) struct Striped {
    stripes: Box<[Padded]>,
}

/// One stripe, alone on its cache line (128 bytes: two 64-byte lines, as adjacent-line
/// prefetchers pair them).
#[repr(align(128))]
struct Padded(AtomicU64);

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
}

impl Striped {
    /// Four stripes per core, at least 8 and at most 1024, a power of two.
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let n = cores.saturating_mul(4).clamp(8, 1024).next_power_of_two();
        Self {
            stripes: (0..n).map(|_| Padded(AtomicU64::new(0))).collect(),
        }
    }

    /// Adds one, on this thread's stripe.
    #[inline]
    pub(crate) fn add(&self) {
        // The number of stripes is a power of two.
        let index = STRIPE.with(|stripe| *stripe) & (self.stripes.len() - 1);
        if let Some(stripe) = self.stripes.get(index) {
            stripe.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use credcycle_core::{AccessKeyId, MonoTime, RequestId, WallTime};

    use super::*;

    fn reply(result: Result<(), ImdsFailure>) -> Input {
        Input::RoleReply {
            id: RequestId(1),
            result: result.map(|()| credcycle_core::RoleName::new("web").expect("role")),
        }
    }

    #[test]
    fn each_imds_reply_counts_under_its_status_label() {
        let cases = [
            (Ok(()), "200"),
            (Err(ImdsFailure::HttpStatus(401)), "401"),
            (Err(ImdsFailure::HttpStatus(403)), "403"),
            (Err(ImdsFailure::HttpStatus(404)), "404"),
            (Err(ImdsFailure::NoInstanceProfile), "404"),
            (Err(ImdsFailure::RoleNotFound), "404"),
            (Err(ImdsFailure::HttpStatus(429)), "429"),
            (Err(ImdsFailure::HttpStatus(400)), "4xx"),
            (Err(ImdsFailure::HttpStatus(405)), "4xx"),
            (Err(ImdsFailure::HttpStatus(500)), "5xx"),
            (Err(ImdsFailure::HttpStatus(503)), "5xx"),
            (Err(ImdsFailure::HttpStatus(302)), "other"),
            (Err(ImdsFailure::Timeout), "timeout"),
            (Err(ImdsFailure::ConnectionRefused), "connect_error"),
            (Err(ImdsFailure::Malformed), "malformed"),
            (
                Err(ImdsFailure::NotSuccess {
                    code: "Failure".into(),
                }),
                "not_success",
            ),
        ];
        for (result, label) in cases {
            let mut counts = ImdsStatusCounts::default();
            counts.record(&reply(result.clone()));
            let counted: Vec<_> = counts
                .labelled()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            assert_eq!(counted, [(label, 1)], "{result:?}");
        }
        // Inputs that are not replies count nowhere.
        let mut counts = ImdsStatusCounts::default();
        counts.record(&Input::Demand);
        counts.record(&Input::Tick);
        assert_eq!(counts.total(), 0);
    }

    #[test]
    fn each_outcome_counts_under_its_label() {
        let failed = |failure: Failure| Event::AttemptFailed {
            failure,
            failures: 1,
            retry_at: MonoTime::ZERO,
        };
        let cases = [
            (
                Event::Accepted {
                    generation: 1,
                    access_key_id: AccessKeyId::new("ASIA"),
                    expiration: WallTime::UNIX_EPOCH,
                    refresh_at: MonoTime::ZERO,
                },
                Some("accepted"),
            ),
            (failed(Failure::NotRotated), Some("not_rotated")),
            (
                failed(Failure::Stale {
                    expiration: WallTime::UNIX_EPOCH,
                }),
                Some("stale"),
            ),
            (
                failed(Failure::TooShortLived {
                    lifetime: Duration::from_secs(5),
                }),
                Some("too_short_lived"),
            ),
            (failed(Failure::Revoked), Some("revoked")),
            (
                failed(Failure::Imds(ImdsFailure::NoInstanceProfile)),
                Some("no_instance_profile"),
            ),
            (
                failed(Failure::Imds(ImdsFailure::RoleNotFound)),
                Some("role_gone"),
            ),
            (
                failed(Failure::Imds(ImdsFailure::Timeout)),
                Some("imds_error"),
            ),
            (
                failed(Failure::Imds(ImdsFailure::HttpStatus(500))),
                Some("imds_error"),
            ),
            (
                Event::RoleDiscovered {
                    role: credcycle_core::RoleName::new("web").expect("role"),
                },
                None,
            ),
            (
                Event::Dropped {
                    access_key_id: AccessKeyId::new("ASIA"),
                    reason: credcycle_core::DropReason::Expired,
                },
                None,
            ),
        ];
        for (event, label) in cases {
            let mut outcomes = RefreshOutcomes::default();
            outcomes.record(&event);
            let counted: Vec<_> = outcomes
                .labelled()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            let expected: Vec<_> = label.into_iter().map(|l| (l, 1)).collect();
            assert_eq!(counted, expected, "{event:?}");
        }
    }

    #[test]
    fn each_refusal_counts_under_its_label() {
        let refused = |refusal: Refusal| ProviderError::Refused {
            refusal,
            cause: None,
        };
        let cases = [
            (refused(Refusal::Idle), "not_started"),
            (refused(Refusal::Discovering), "discovering"),
            (refused(Refusal::Fetching { cause: None }), "fetching"),
            (
                refused(Refusal::Expired {
                    expiration: WallTime::UNIX_EPOCH,
                }),
                "expired",
            ),
            (
                refused(Refusal::Unavailable {
                    retry_at: MonoTime::ZERO,
                    retry_in: Duration::ZERO,
                    cause: None,
                }),
                "backing_off",
            ),
            (
                refused(Refusal::Detached {
                    retry_at: MonoTime::ZERO,
                    retry_in: Duration::ZERO,
                }),
                "no_instance_profile",
            ),
            (refused(Refusal::Stopped), "stopped"),
            (
                ProviderError::TimedOut {
                    waited: Duration::from_secs(10),
                    refusal: Refusal::Discovering,
                },
                "timed_out",
            ),
        ];
        for (error, label) in cases {
            let mut refusals = RefusalCounts::default();
            refusals.record(&error);
            let counted: Vec<_> = refusals
                .labelled()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            assert_eq!(counted, [(label, 1)], "{error:?}");
            assert_eq!(refusals.total(), 1);
        }
    }

    #[test]
    fn a_striped_counter_sums_what_every_thread_added() {
        let counter = Striped::new();
        assert!(counter.stripes.len().is_power_of_two() && counter.stripes.len() >= 8);
        std::thread::scope(|scope| {
            for _ in 0..(counter.stripes.len() + 3) {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.add();
                    }
                });
            }
        });
        assert_eq!(counter.sum(), (counter.stripes.len() as u64 + 3) * 1000);
    }
}
