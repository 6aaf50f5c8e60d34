//! The checks every driver runs on each step: the oracle's books, the state's structure and the
//! transition table.

use crate::input::RequestId;
use crate::oracle::{Before, Books, Violation, check_structure};
use crate::output::Action;
use crate::policy::Policy;
use crate::state::{Request, State};
use crate::table::{self, Edge};
use crate::time::Now;

/// Checks one transition of the real machine after it happened: the oracle's books (every
/// invariant a transition can break: INV-1..5) and the new state's structure. `before` is what
/// [`Books::before`] noted of the input before the machine saw it; `edge` says what happened.
/// Returns the request the transition issued, if any. [`check_edge`] checks the edge against
/// the transition table.
///
/// Every driver checks its steps with these two functions: the [`Harness`](super::Harness) (property tests,
/// scenario tests, the example, the liveness checks) and the exhaustive model.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_step(
    books: &mut Books,
    policy: &Policy,
    now: Now,
    before: Before,
    edge: Edge,
    state: &State,
    actions: &[Action],
) -> Result<Option<(RequestId, Request)>, Violation> {
    let issued = books.after(policy, now, before, edge.rule, state, actions)?;
    check_structure(state, edge.to, state.next_deadline(policy), now.mono)?;
    Ok(issued)
}

/// Checks that `edge` is one of [`table::TABLE`]'s.
///
/// # Errors
///
/// A `TABLE` [`Violation`] naming the edge.
pub fn check_edge(edge: &Edge) -> Result<(), Violation> {
    if table::allows(edge) {
        return Ok(());
    }
    Err(Violation::new(
        "TABLE",
        format!(
            "edge {} --{}/{}--> {} is not in credcycle_core::table::TABLE",
            edge.from,
            edge.input.name(),
            edge.rule,
            edge.to
        ),
    ))
}
