//! The state diagram is generated from the transition table, and the table is checked against
//! behaviour in both directions.

use std::collections::BTreeSet;
use std::path::PathBuf;

use credcycle_core::table::{self, Edge, TABLE};
use credcycle_core::testing::{Harness, harness_configs, ops};
use credcycle_core::{Rule, StateKind};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/state-machine.md")
}

/// The whole generated page.
fn render() -> String {
    let mut out = String::from(
        "# The credential lifecycle: state diagram\n\n\
         <!-- Generated from credcycle_core::table::TABLE by tests/it/diagram.rs; do not edit.\n     \
         Regenerate with: UPDATE_DOCS=1 cargo test -p credcycle-tests --test it diagram -->\n\n\
         Each arrow is one or more rows of the transition table: `input / rule`. Rules that change\n\
         nothing a user can see (R15 Wait, R16 InvalidateOther, R17 StaleReply, R18 ClockRegression,\n\
         R19 AfterStop) are self-loops on every state and are not drawn. `docs/lifecycle.md` explains\n\
         each state and rule.\n\n```mermaid\n",
    );
    out.push_str(&table::mermaid());
    out.push_str("```\n\n## States\n\n| state | what is true now |\n|---|---|\n");
    for (kind, text) in STATES {
        out.push_str(&format!("| `{}` | {text} |\n", kind.name()));
    }
    out.push_str("\n## Rules\n\n| id | rule | edges |\n|---|---|---|\n");
    for rule in Rule::ALL {
        let n = TABLE.iter().filter(|e| e.rule == rule).count();
        let edges = if table::QUIET.contains(&rule) {
            "self-loop, any state".to_string()
        } else {
            n.to_string()
        };
        out.push_str(&format!("| {} | `{rule:?}` | {edges} |\n", rule.id()));
    }
    out
}

const STATES: [(StateKind, &str); 9] = [
    (
        StateKind::Idle,
        "nothing asked yet; the first demand starts the lifecycle",
    ),
    (
        StateKind::Discovering,
        "asking IMDS which role is attached; refusing",
    ),
    (
        StateKind::Fetching,
        "asking IMDS for credentials; nothing usable held; refusing",
    ),
    (
        StateKind::Fresh,
        "usable credentials held; refresh not due yet; serving",
    ),
    (
        StateKind::Refreshing,
        "usable credentials held; a refresh is in flight; serving",
    ),
    (
        StateKind::BackingOff,
        "credentials held; the last refresh failed or was not rotated; serving while usable",
    ),
    (
        StateKind::Unavailable,
        "nothing usable held; waiting out a backoff delay; refusing",
    ),
    (
        StateKind::Detached,
        "no instance profile attached; looking again later; refusing",
    ),
    (StateKind::Stopped, "shut down; refusing"),
];

#[test]
fn state_diagram_doc_is_fresh() {
    let want = render();
    let path = doc_path();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/state-machine.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/state-machine.md is stale: run `UPDATE_DOCS=1 cargo test -p credcycle-tests --test it diagram`"
    );
}

#[test]
fn diagram_formats_render() {
    let m = table::mermaid();
    assert!(m.starts_with("stateDiagram-v2"));
    let d = table::dot();
    assert!(d.starts_with("digraph"));
    for kind in StateKind::ALL {
        assert!(m.contains(kind.name()), "{kind} missing from the diagram");
    }
}

/// Random walks (deterministic seed) over the real machine: every edge they take is in the
/// table (the harness checks that at every input), and every row of the table is taken.
#[test]
fn transition_table_matches_behaviour() {
    let mut runner = TestRunner::deterministic();
    let strategy = (harness_configs(), ops(1..150));
    let mut seen: BTreeSet<Edge> = BTreeSet::new();
    for _ in 0..10_000 {
        let (cfg, ops) = strategy.new_tree(&mut runner).expect("generate").current();
        let mut h = Harness::new(cfg);
        for op in &ops {
            if h.apply(op).is_err() {
                break;
            }
        }
        assert!(
            h.unexpected_edges.is_empty(),
            "edges not in the table: {:#?}",
            h.unexpected_edges
        );
        seen.extend(h.edges);
    }
    let missing: Vec<_> = TABLE.iter().filter(|e| !seen.contains(e)).collect();
    assert!(
        missing.is_empty(),
        "table rows never observed: {missing:#?}"
    );
    for kind in StateKind::ALL {
        assert!(
            seen.iter().any(|e| e.to == kind),
            "state {kind} never reached"
        );
    }
}
