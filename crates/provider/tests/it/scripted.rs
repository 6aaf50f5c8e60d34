//! A scripted IMDS for the Provider's tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use credcycle_core::{
    AccessKeyId, Action, Credentials, Input, RoleName, SecretAccessKey, SessionToken, WallTime,
};

/// A scripted IMDS: answers the listing with `web` and each fetch with a new set valid for
/// `lifetime` from the wall time `now()` gives; counts fetches.
pub(crate) fn scripted(
    now: impl Fn() -> WallTime + Send + 'static,
    lifetime: Duration,
    fetches: Arc<AtomicU64>,
    secret: &'static str,
) -> impl FnMut(&Action) -> Option<Input> + Send + 'static {
    move |action| match action {
        Action::DiscoverRole { id } => Some(Input::RoleReply {
            id: *id,
            result: Ok(RoleName::new("web").ok()?),
        }),
        Action::FetchCredentials { id, .. } => {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            Some(Input::CredentialsReply {
                id: *id,
                result: Ok(Credentials::new(
                    AccessKeyId::new(format!("ASIASCRIPTED{n:04}")),
                    SecretAccessKey::new(format!("{secret}-key-{n}")),
                    SessionToken::new(format!("{secret}-token-{n}")),
                    now().saturating_add(lifetime),
                )),
            })
        }
        Action::Notify(_) => None,
    }
}
