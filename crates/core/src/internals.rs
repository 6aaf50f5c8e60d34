//! The representation of [`State`], for model checkers and test harnesses (the `oracle`
//! feature), in the way str0m exposes its internals to its tests: not part of the stable API.
//!
//! [`phase`] reads what the machine is doing in full detail (the public API shows it as
//! [`StateKind`](crate::StateKind) and a few accessors); [`parts_mut`] lends every part for
//! rewriting, which a model checker needs to put states in canonical form (erasing what no later
//! step can read) and to shift their times. A rewritten state is only as consistent as the
//! rewrite: `step` assumes the invariants its own transitions keep (a credentials request
//! outstanding only with a role known, a held set only with a generation above zero unless
//! erased on purpose).

use crate::creds::RoleName;
use crate::state::{Failing, Held, Revoked, State};
use crate::time::{MonoTime, WallTime};

pub use crate::state::Phase;

/// The representation behind [`State::kind`]: which request is outstanding, or until when the
/// machine waits.
#[must_use]
pub fn phase(state: &State) -> &Phase {
    &state.phase
}

/// Every part of a [`State`], borrowed mutably (see [`parts_mut`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct StateMut<'a> {
    /// See [`phase`].
    pub phase: &'a mut Phase,
    /// The role, once discovered (or pinned by the policy).
    pub role: &'a mut Option<RoleName>,
    /// The credentials held for that role, if any.
    pub held: &'a mut Option<Held>,
    /// The latest `Expiration` accepted for this role (INV-5).
    pub newest: &'a mut Option<WallTime>,
    /// Failed attempts in a row and the last failure.
    pub failing: &'a mut Option<Failing>,
    /// Sets revoked on evidence from AWS (INV-2).
    pub revoked: &'a mut Vec<Revoked>,
    /// The last set dropped by a clock (`[R11]`).
    pub expired: &'a mut Option<Revoked>,
    /// The id the next request will get.
    pub next_request: &'a mut u64,
    /// How many sets were accepted.
    pub generation: &'a mut u64,
    /// The latest monotonic time seen (INV-6).
    pub last_mono: &'a mut MonoTime,
}

/// Lends every part of `state` for rewriting.
pub fn parts_mut(state: &mut State) -> StateMut<'_> {
    StateMut {
        phase: &mut state.phase,
        role: &mut state.role,
        held: &mut state.held,
        newest: &mut state.newest,
        failing: &mut state.failing,
        revoked: &mut state.revoked,
        expired: &mut state.expired,
        next_request: &mut state.next_request,
        generation: &mut state.generation,
        last_mono: &mut state.last_mono,
    }
}
