//! The transition table: every `(from, input, to, rule)` edge the lifecycle can take, and the
//! state diagram rendered from it.
//!
//! The table is written by hand, as a specification, and checked against behaviour: tests in
//! `credcycle-tests` explore [`step`](crate::step) and fail if they observe an edge that is not
//! here, or if an edge here is never observed. `docs/state-machine.md` is rendered from it by
//! [`mermaid`], and a test fails when that file is stale.
//!
//! Self-loops that change nothing a user can see (`Wait`, `StaleReply`, `ClockRegression`,
//! `InvalidateOther`, `AfterStop`) are listed in [`QUIET`] rather than drawn.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::input::InputKind;
use crate::state::StateKind;
use crate::step::Rule;

/// One edge of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    /// The kind when the input arrived.
    pub from: StateKind,
    /// Its kind only: replies are not told apart by what they carry.
    pub input: InputKind,
    /// May equal `from`: a self-loop.
    pub to: StateKind,
    /// One input in one kind can take several rules, so the rule tells those edges apart.
    pub rule: Rule,
}

const fn e(from: StateKind, input: InputKind, to: StateKind, rule: Rule) -> Edge {
    Edge {
        from,
        input,
        to,
        rule,
    }
}

use InputKind as I;
use Rule as R;
use StateKind as S;

/// Rules that leave the state kind unchanged and may fire in any state (or the listed ones);
/// they are not drawn.
pub const QUIET: [Rule; 5] = [
    R::Wait,
    R::InvalidateOther,
    R::StaleReply,
    R::ClockRegression,
    R::AfterStop,
];

/// Every edge that changes something a user can see, in spec order of the rules.
pub const TABLE: &[Edge] = &[
    // [R1] Start
    e(S::Idle, I::Demand, S::Discovering, R::Start),
    e(S::Idle, I::Demand, S::Fetching, R::Start),
    // [R2] RoleFound
    e(S::Discovering, I::RoleReply, S::Fetching, R::RoleFound),
    // [R3] Detach
    e(S::Discovering, I::RoleReply, S::Detached, R::Detach),
    e(S::Fetching, I::CredentialsReply, S::Detached, R::Detach),
    e(S::Refreshing, I::CredentialsReply, S::Detached, R::Detach),
    // [R4] Accept
    e(S::Fetching, I::CredentialsReply, S::Fresh, R::Accept),
    e(S::Refreshing, I::CredentialsReply, S::Fresh, R::Accept),
    // [R5] NotRotated
    e(
        S::Fetching,
        I::CredentialsReply,
        S::Unavailable,
        R::NotRotated,
    ),
    e(
        S::Refreshing,
        I::CredentialsReply,
        S::BackingOff,
        R::NotRotated,
    ),
    // [R6] RejectStale
    e(
        S::Fetching,
        I::CredentialsReply,
        S::Unavailable,
        R::RejectStale,
    ),
    e(
        S::Refreshing,
        I::CredentialsReply,
        S::BackingOff,
        R::RejectStale,
    ),
    // [R7] Fail
    e(S::Discovering, I::RoleReply, S::Unavailable, R::Fail),
    e(S::Fetching, I::CredentialsReply, S::Unavailable, R::Fail),
    e(S::Refreshing, I::CredentialsReply, S::BackingOff, R::Fail),
    // [R8] RoleGone
    e(
        S::Fetching,
        I::CredentialsReply,
        S::Unavailable,
        R::RoleGone,
    ),
    e(
        S::Refreshing,
        I::CredentialsReply,
        S::Unavailable,
        R::RoleGone,
    ),
    // [R9] Refresh
    e(S::Fresh, I::Demand, S::Refreshing, R::Refresh),
    e(S::Fresh, I::Tick, S::Refreshing, R::Refresh),
    // [R10] Retry
    e(S::BackingOff, I::Demand, S::Refreshing, R::Retry),
    e(S::BackingOff, I::Tick, S::Refreshing, R::Retry),
    e(S::Unavailable, I::Demand, S::Discovering, R::Retry),
    e(S::Unavailable, I::Demand, S::Fetching, R::Retry),
    e(S::Unavailable, I::Tick, S::Discovering, R::Retry),
    e(S::Unavailable, I::Tick, S::Fetching, R::Retry),
    e(S::Detached, I::Demand, S::Discovering, R::Retry),
    e(S::Detached, I::Demand, S::Fetching, R::Retry),
    e(S::Detached, I::Tick, S::Discovering, R::Retry),
    e(S::Detached, I::Tick, S::Fetching, R::Retry),
    // [R11] Expire
    e(S::Fresh, I::Demand, S::Fetching, R::Expire),
    e(S::Fresh, I::Tick, S::Fetching, R::Expire),
    e(S::Refreshing, I::Demand, S::Fetching, R::Expire),
    e(S::Refreshing, I::Demand, S::Unavailable, R::Expire),
    e(S::Refreshing, I::Tick, S::Fetching, R::Expire),
    e(S::Refreshing, I::Tick, S::Unavailable, R::Expire),
    e(S::BackingOff, I::Demand, S::Fetching, R::Expire),
    e(S::BackingOff, I::Demand, S::Unavailable, R::Expire),
    e(S::BackingOff, I::Tick, S::Fetching, R::Expire),
    e(S::BackingOff, I::Tick, S::Unavailable, R::Expire),
    // [R12] Abandon
    e(S::Discovering, I::Demand, S::Unavailable, R::Abandon),
    e(S::Discovering, I::Tick, S::Unavailable, R::Abandon),
    e(S::Fetching, I::Demand, S::Unavailable, R::Abandon),
    e(S::Fetching, I::Tick, S::Unavailable, R::Abandon),
    e(S::Refreshing, I::Demand, S::BackingOff, R::Abandon),
    e(S::Refreshing, I::Tick, S::BackingOff, R::Abandon),
    // [R13] Invalidate
    e(S::Fresh, I::Invalidate, S::Fetching, R::Invalidate),
    e(S::Refreshing, I::Invalidate, S::Fetching, R::Invalidate),
    e(S::BackingOff, I::Invalidate, S::Fetching, R::Invalidate),
    e(S::BackingOff, I::Invalidate, S::Unavailable, R::Invalidate),
    // [R14] Shutdown
    e(S::Idle, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Discovering, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Fetching, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Fresh, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Refreshing, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::BackingOff, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Unavailable, I::Shutdown, S::Stopped, R::Shutdown),
    e(S::Detached, I::Shutdown, S::Stopped, R::Shutdown),
];

/// Whether `edge` is allowed by the table (quiet rules are allowed as self-loops anywhere).
#[must_use]
pub fn allows(edge: &Edge) -> bool {
    (QUIET.contains(&edge.rule) && edge.from == edge.to) || TABLE.contains(edge)
}

/// The state diagram as Mermaid `stateDiagram-v2` text. Parallel edges between the same two
/// states are merged into one arrow labelled with every `input / rule`.
#[must_use]
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n    direction LR\n    [*] --> Idle\n");
    for ((from, to), labels) in grouped() {
        let _ = writeln!(
            out,
            "    {} --> {}: {}",
            from.name(),
            to.name(),
            labels.join("<br/>")
        );
    }
    out.push_str("    Stopped --> [*]\n");
    out
}

/// The state diagram as Graphviz `dot` text.
#[must_use]
pub fn dot() -> String {
    let mut out = String::from(
        "digraph credcycle {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n",
    );
    for ((from, to), labels) in grouped() {
        let _ = writeln!(
            out,
            "    {} -> {} [label=\"{}\"];",
            from.name(),
            to.name(),
            labels.join("\\n")
        );
    }
    out.push_str("}\n");
    out
}

fn grouped() -> BTreeMap<(StateKind, StateKind), Vec<String>> {
    let mut map: BTreeMap<(StateKind, StateKind), Vec<String>> = BTreeMap::new();
    for edge in TABLE {
        let label = format!("{} / {} {:?}", edge.input.name(), edge.rule.id(), edge.rule);
        let labels = map.entry((edge.from, edge.to)).or_default();
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    map
}
