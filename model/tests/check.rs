//! The exhaustive check of the real `credcycle_core::step`: no violation, every state kind
//! reached, the edges taken are exactly the transition table's rows, and the state count is
//! pinned (so that a change of the model or of the core that changes the explored space is seen).
//!
//! `cargo test` (debug) checks depth 5; `cargo test --release` checks the default depth, as
//! `credcycle check` does. Both counts are pinned.

#![expect(clippy::expect_used, reason = "test code")]

use credcycle_core::table::{self, TABLE};
use credcycle_model::{CheckConfig, check};

/// (depth, unique states) of the pinned runs.
const PINNED_DEBUG: (usize, usize) = (5, 155_651);
const PINNED_RELEASE: (usize, usize) = (CheckConfig::DEFAULT_DEPTH, 1_082_685);

#[test]
fn exhaustive_check_holds_reaches_every_kind_and_takes_exactly_the_table() {
    let (depth, unique) = if cfg!(debug_assertions) {
        PINNED_DEBUG
    } else {
        PINNED_RELEASE
    };
    let report = check(&CheckConfig {
        depth,
        ..CheckConfig::default()
    });
    println!("{report}");
    assert!(report.violation.is_none(), "{report}");
    assert!(report.properties.iter().all(|p| p.holds), "{report}");
    // The generated diagram cannot drift: every edge taken is a table row or a quiet self-loop,
    // and every table row is taken.
    for e in &report.edges {
        assert!(table::allows(e), "edge outside the table: {e:?}");
    }
    let taken: Vec<_> = TABLE.iter().filter(|e| report.edges.contains(e)).collect();
    assert_eq!(
        taken.len(),
        TABLE.len(),
        "rows never taken: {:?}",
        report.unobserved_rows
    );
    assert!(report.ok());
    assert_eq!(
        report.unique_states, unique,
        "the explored state space changed (depth {depth}): update the pinned count if intended"
    );
}

#[test]
fn the_report_is_short_and_deterministic() {
    let config = CheckConfig {
        depth: 3,
        ..CheckConfig::default()
    };
    let (a, b) = (check(&config), check(&config));
    assert_eq!(
        (a.states, a.unique_states, a.max_depth),
        (b.states, b.unique_states, b.max_depth)
    );
    let text = a.to_string();
    assert!(text.lines().count() <= 16, "{text}");
    assert!(
        text.contains("always    INV-1 no expired hand-out"),
        "{text}"
    );
    assert!(
        text.lines()
            .next()
            .expect("a first line")
            .contains("unique")
    );
}

#[test]
fn a_state_budget_stops_the_search_and_the_report_says_so() {
    let report = check(&CheckConfig {
        depth: 5,
        max_states: Some(10_000),
        ..CheckConfig::default()
    });
    assert!(report.states < 100_000, "{report}");
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("budget")),
        "{report}"
    );
    assert!(!report.ok(), "an incomplete search is not a pass");
    assert!(
        report.to_string().contains("search stopped early"),
        "{report}"
    );
}

/// What the explorer (`credcycle check --explore`) shows: each action by its Display, each step
/// with the state kinds, the rule the real `step` took, and the world after it, kind first.
#[test]
fn explorer_steps_name_the_kinds_and_the_rule() {
    use credcycle_model::{Act, Lifecycle};
    use stateright::Model as _;
    let config = CheckConfig::default();
    let model = Lifecycle::new(config.policy, config.pinned_policy);
    let init = model.init_states().remove(0);
    assert!(format!("{init:#?}").starts_with("World {\n    kind: Idle,"));
    let demand = Act::Demand(credcycle_core::Jitter::ZERO);
    assert_eq!(model.format_action(&demand), "Demand");
    let step = model.format_step(&init, demand).expect("a demand applies");
    assert!(
        step.starts_with("kind: Idle -> Discovering\nrule: R1 "),
        "{step}"
    );
    assert!(step.contains("(input Demand)"), "{step}");
    assert!(step.contains("DiscoverRole"), "{step}");
    assert!(step.contains("hand-out now: none (refused)"), "{step}");
    assert!(step.contains("World {\n    kind: Discovering,"), "{step}");
    // No secret of the model's (fake) credentials appears in any state or step shown.
    let mut world = init;
    for act in [
        Act::Demand(credcycle_core::Jitter::ZERO),
        Act::Answer(
            credcycle_model::Answer::Role(false),
            credcycle_core::Jitter::ZERO,
        ),
        Act::Answer(credcycle_model::Answer::Fresh, credcycle_core::Jitter::ZERO),
    ] {
        let shown = model.format_step(&world, act.clone()).expect("applies");
        assert!(!shown.contains("model-secret") && !shown.contains("model-token"));
        world = model.next_state(&world, act).expect("applies");
    }
    assert_eq!(world.core.kind(), credcycle_core::StateKind::Fresh);
}
