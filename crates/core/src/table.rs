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
    /// The state before.
    pub from: StateKind,
    /// The input.
    pub input: InputKind,
    /// The state after.
    pub to: StateKind,
    /// The rule that fired.
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
