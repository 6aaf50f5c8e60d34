//! What the Provider needs from IMDS: someone to carry out the core's requests.

use credcycle_clock::Clock;
use credcycle_core::{Action, Input};
use credcycle_imds::container::ContainerClient;
use credcycle_imds::{ImdsClient, Transport};

/// Carries out the requests of the lifecycle (`Action::DiscoverRole`,
/// `Action::FetchCredentials`) and answers with the matching reply input.
///
/// [`ImdsClient`] and [`ContainerClient`] implement it; tests implement it to script IMDS. The
/// Provider calls it from one thread at a time (INV-3), outside its locks.
pub trait Fetcher: Send + 'static {
    /// Carries out `action` and returns the reply; `None` for actions that are not requests.
    fn answer(&mut self, action: &Action) -> Option<Input>;

    /// A one-line description of the last failure, for error messages (never a secret).
    fn last_error(&self) -> Option<String> {
        None
    }
}

impl<T, C> Fetcher for ImdsClient<T, C>
where
    T: Transport + Send + 'static,
    C: Clock + 'static,
{
    fn answer(&mut self, action: &Action) -> Option<Input> {
        Self::answer(self, action)
    }

    fn last_error(&self) -> Option<String> {
        Self::last_error(self).map(ToString::to_string)
    }
}

impl<T> Fetcher for ContainerClient<T>
where
    T: Transport + Send + 'static,
{
    fn answer(&mut self, action: &Action) -> Option<Input> {
        Self::answer(self, action)
    }

    fn last_error(&self) -> Option<String> {
        Self::last_error(self).map(ToString::to_string)
    }
}

impl<F: FnMut(&Action) -> Option<Input> + Send + 'static> Fetcher for F {
    fn answer(&mut self, action: &Action) -> Option<Input> {
        self(action)
    }
}
