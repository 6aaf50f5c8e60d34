//! # credcycle-model: the formal model of the credential lifecycle, and checks of the real code
//!
//! Three things live in `model/` (see `docs/model.md`):
//!
//! 1. `credcycle.qnt`, the reference specification in Quint: the lifecycle at the level of
//!    `docs/design.md`, with the invariants INV-1..INV-6 and LIVE-1/LIVE-2 under the same ids.
//! 2. This crate: an exhaustive, depth-bounded search of **the real transition function**
//!    [`credcycle_core::step`] with [stateright], over an abstracted clock (symbolic time
//!    jumps relative to the machine's own deadlines, wall-clock jumps) and every IMDS answer.
//!    The invariants are checked by the property tests' oracle ([`credcycle_core::oracle`], the
//!    same code), from books kept beside the machine; every state kind must be reached; the edges
//!    taken must be exactly the rows of [`credcycle_core::table::TABLE`].
//! 3. Trace conformance (tests): traces of the Quint spec (`model/traces/*.itf.json`) replayed
//!    through the same `step`, compared state by state.
//!
//! The crate: [`check`] runs the search and returns a [`CheckReport`]; [`explore`] serves it in
//! stateright's explorer. [`world`] is the state searched (the core's real state, the IMDS, the
//! client's clocks relative to now, the oracle's books) and the moves between states; [`live`]
//! checks LIVE-1 and LIVE-2 by running the realistic world's driver from a state.
//!
//! ```
//! let report = credcycle_model::check(&credcycle_model::CheckConfig { depth: 3, ..Default::default() });
//! assert!(report.violation.is_none());
//! println!("{report}");
//! ```

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use credcycle_core::table::{self, Edge};
use credcycle_core::{Policy, StateKind};
use stateright::{Checker, HasDiscoveries, Model, Property};

pub mod live;
pub mod world;

pub use credcycle_core::oracle::Violation;
pub use world::{Act, Answer, Jump, Lifecycle, World};

/// What to check, and how far.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// Longest path checked, in steps from the initial state (every state reached within this
    /// many steps is checked; the states one step further are generated but not checked).
    pub depth: usize,
    /// The machine's: the model's IMDS and time jumps are derived from it.
    pub policy: Policy,
    /// The same policy with the model's `role-a` pinned (the SDKs'
    /// `AWS_EC2_INSTANCE_PROFILE_NAME`), explored too from a second initial state; `None` to
    /// explore only `policy`. Without it, the two edges that only a pinned role takes (`Idle`
    /// and `Detached` straight to `Fetching`) are not observed.
    pub pinned_policy: Option<Policy>,
    /// Checker threads. With one, the search is deterministic (the same counts every run); with
    /// more, a depth-bounded search may visit a few states at a different depth.
    pub threads: usize,
    /// On a violation, search again with increasing depth for the shortest counterexample.
    pub minimize: bool,
    /// Stop the search at the first violation of an `always` property (the other properties
    /// are then not checked to the end, and the report says so). Without it, a violated
    /// property does not stop the search, which then costs as much as a clean one.
    pub stop_at_first_violation: bool,
    /// Stop every search (the check, and each re-run that looks for the shortest
    /// counterexample) after this many generated states: a bound on time and memory (a
    /// mutant of the core can make the state space much larger). The report says when it was
    /// reached. `None`: no bound but the depth. The default,
    /// [`DEFAULT_MAX_STATES`](Self::DEFAULT_MAX_STATES), keeps a mistaken depth from taking
    /// the machine's memory.
    pub max_states: Option<usize>,
}

impl CheckConfig {
    /// The depth of the default check (`credcycle check`).
    pub const DEFAULT_DEPTH: usize = 6;
    /// The default state budget: about 2.8 times what the default depth generates (3,599,278
    /// states), about 5 GB of memory. Depth 7 generates well over 20 million (over 10 GB):
    /// set [`max_states`](Self::max_states) to `None` to go there.
    pub const DEFAULT_MAX_STATES: usize = 10_000_000;
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            depth: Self::DEFAULT_DEPTH,
            policy: Policy::default(),
            pinned_policy: Policy::builder()
                .pinned_role(Some(world::role(false)))
                .build()
                .ok(),
            threads: 1,
            minimize: true,
            stop_at_first_violation: true,
            max_states: Some(Self::DEFAULT_MAX_STATES),
        }
    }
}

/// The outcome of one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyResult {
    /// Its name (the invariant's id first, as in the docs).
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub expectation: &'static str,
    /// Whether it holds (`always`: no counterexample; `sometimes`: an example was found).
    pub holds: bool,
}

/// A counterexample, as steps a person can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The property it breaks.
    pub property: &'static str,
    /// Whether it was confirmed the shortest (by searching again at every smaller depth).
    pub minimal: bool,
    /// Whether it starts from the initial state with `role-a` pinned.
    pub pinned: bool,
    /// One line per step.
    pub steps: Vec<String>,
    /// What broke, at the end.
    pub detail: String,
}

/// What a check found.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// As asked in [`CheckConfig::depth`].
    pub depth: usize,
    /// Transitions computed (states generated, duplicates included).
    pub states: usize,
    /// Distinct states after canonicalisation: the count the tests pin.
    pub unique_states: usize,
    /// The deepest state generated (the initial state is at depth 1).
    pub max_depth: usize,
    /// Every property, in order.
    pub properties: Vec<PropertyResult>,
    /// Edges taken by the real `step` (quiet self-loops included).
    pub edges: BTreeSet<Edge>,
    /// Rows of `TABLE` never taken.
    pub unobserved_rows: Vec<Edge>,
    /// The first counterexample, if any property failed.
    pub violation: Option<Counterexample>,
    /// How long the check took. Nothing in `model` reads a clock (`docs/design.md`): [`check`] leaves
    /// this zero and the caller (the CLI) measures and fills it in; it is printed when set.
    pub elapsed: Duration,
    /// Why the search ended before every state within the depth bound was checked, if it did
    /// (a violation, with [`CheckConfig::stop_at_first_violation`]; the state budget).
    pub stopped: Option<String>,
}

impl CheckReport {
    /// Whether everything held: the search was complete, no counterexample, every state kind
    /// reached, every table row taken.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.stopped.is_none()
            && self.properties.iter().all(|p| p.holds)
            && self.unobserved_rows.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exhaustive check of credcycle_core::step, depth {}: {} states explored, {} unique, max depth {}{}",
            self.depth,
            self.states,
            self.unique_states,
            self.max_depth,
            if self.elapsed.is_zero() {
                String::new()
            } else {
                format!(", {:.1} s", self.elapsed.as_secs_f64())
            }
        )?;
        if let Some(why) = &self.stopped {
            writeln!(
                f,
                "  search stopped early ({why}): what is not VIOLATED was checked only so far"
            )?;
        }
        let expecting = |expectation: &'static str| {
            self.properties
                .iter()
                .filter(move |p| p.expectation == expectation)
        };
        for p in expecting("always") {
            writeln!(
                f,
                "  always    {:<32} {}",
                p.name,
                if p.holds { "holds" } else { "VIOLATED" }
            )?;
        }
        let reached: Vec<_> = expecting("sometimes").collect();
        let missing: Vec<_> = reached
            .iter()
            .filter(|p| !p.holds)
            .map(|p| p.name)
            .collect();
        writeln!(
            f,
            "  sometimes every state kind reached      {}",
            if missing.is_empty() {
                format!("yes ({} of {})", reached.len(), reached.len())
            } else {
                format!("NO: not reached {}", missing.join(", "))
            }
        )?;
        let rows: BTreeSet<_> = self
            .edges
            .iter()
            .filter(|e| table::TABLE.contains(e))
            .collect();
        writeln!(
            f,
            "  edges     {} of {} table rows taken, none outside the table{}",
            rows.len(),
            table::TABLE.len(),
            if self.unobserved_rows.is_empty() {
                String::new()
            } else {
                format!(
                    "; NOT TAKEN: {}",
                    self.unobserved_rows
                        .iter()
                        .map(|e| format!(
                            "{} --{}/{}--> {}",
                            e.from,
                            e.input.name(),
                            e.rule.id(),
                            e.to
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )?;
        if let Some(c) = &self.violation {
            writeln!(
                f,
                "{} counterexample for {} ({} steps{}):",
                if c.minimal { "minimal" } else { "a" },
                c.property,
                c.steps.len(),
                if c.pinned { ", with role-a pinned" } else { "" }
            )?;
            for (i, s) in c.steps.iter().enumerate() {
                writeln!(f, "  {:>2}. {s}", i + 1)?;
            }
            writeln!(f, "  => {}", c.detail)?;
        }
        Ok(())
    }
}

/// The stateright model: the real `step` inside a [`World`].
impl Model for Lifecycle {
    type State = World;
    type Action = Act;

    fn init_states(&self) -> Vec<World> {
        self.inits()
    }

    fn actions(&self, state: &World, actions: &mut Vec<Act>) {
        self.actions_of(state, actions);
    }

    fn next_state(&self, state: &World, action: Act) -> Option<World> {
        self.apply(state, &action).map(|(w, _)| w)
    }

    fn format_action(&self, action: &Act) -> String {
        action.to_string()
    }

    /// What the explorer shows for a step: the state kinds before and after, the rule the
    /// real `step` took, what came out, then the whole world after it.
    fn format_step(&self, last: &World, action: Act) -> Option<String> {
        let (next, info) = self.apply(last, &action)?;
        Some(format!("{}\n\n{next:#?}", describe_step(&info, &next)))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("INV-1 no expired hand-out", |_, w| {
                broken(w) != Some("INV-1")
            }),
            Property::always("INV-2 no revoked hand-out", |_, w| {
                broken(w) != Some("INV-2")
            }),
            Property::always("INV-3 single flight", |_, w| broken(w) != Some("INV-3")),
            Property::always("INV-4 no hammering", |_, w| broken(w) != Some("INV-4")),
            Property::always("INV-5 no regression", |_, w| broken(w) != Some("INV-5")),
            Property::always("INV-6 totality, determinism", |_, w| {
                broken(w) != Some("INV-6")
            }),
            Property::always("TABLE every edge in the table", |_, w| {
                broken(w) != Some("TABLE")
            }),
            Property::always("LIVE-1 recovery (bounded)", |m, w| {
                live::live_1(m, w).is_ok()
            }),
            Property::always("LIVE-2 continuity (bounded)", |m, w| {
                live::live_2(m, w).is_ok()
            }),
            Property::sometimes("Idle", |_, w: &World| w.core.kind() == StateKind::Idle),
            Property::sometimes("Discovering", |_, w: &World| {
                w.core.kind() == StateKind::Discovering
            }),
            Property::sometimes("Fetching", |_, w: &World| {
                w.core.kind() == StateKind::Fetching
            }),
            Property::sometimes("Fresh", |_, w: &World| w.core.kind() == StateKind::Fresh),
            Property::sometimes("Refreshing", |_, w: &World| {
                w.core.kind() == StateKind::Refreshing
            }),
            Property::sometimes("BackingOff", |_, w: &World| {
                w.core.kind() == StateKind::BackingOff
            }),
            Property::sometimes("Unavailable", |_, w: &World| {
                w.core.kind() == StateKind::Unavailable
            }),
            Property::sometimes("Detached", |_, w: &World| {
                w.core.kind() == StateKind::Detached
            }),
            Property::sometimes("Stopped", |_, w: &World| {
                w.core.kind() == StateKind::Stopped
            }),
        ]
    }
}

/// A step in a few lines a person can read: the kinds, the rule, the time that passed, the
/// actions, the hand-out now possible, and a broken invariant if any.
#[must_use]
pub fn describe_step(info: &world::StepInfo, next: &World) -> String {
    let mut out = format!("kind: {} -> {}\n", info.kinds.0, info.kinds.1);
    match (info.input, info.rule) {
        (Some(input), Some(rule)) => {
            out.push_str(&format!("rule: {rule} (input {})\n", input.name()));
        }
        _ => out.push_str("rule: none (no input reached the machine)\n"),
    }
    if info.elapsed_ms > 0 {
        out.push_str(&format!("time passed: {}\n", world::human(info.elapsed_ms)));
    }
    if !info.actions.is_empty() {
        out.push_str(&format!("actions: {}\n", info.actions.join("; ")));
    }
    out.push_str(&format!(
        "hand-out now: {}",
        info.handout.as_deref().unwrap_or("none (refused)")
    ));
    if let Some(v) = &next.violation {
        out.push_str(&format!("\nBROKEN: {v}"));
    }
    out
}

/// Serves the exhaustive model in stateright's Explorer at `addr`, blocking for as long as the
/// server runs: a web page from which a person follows transitions from the initial states,
/// sees each state's kind and the rule taken, and jumps to an example or counterexample of any
/// property. States are generated on demand (and up to the depth bound when "Run to
/// completion" is pressed).
///
/// The caller checks that `addr` is free and loopback: stateright binds it itself and panics if
/// it cannot.
pub fn explore(config: &CheckConfig, addr: std::net::SocketAddr) {
    let model = Lifecycle::new(config.policy.clone(), config.pinned_policy.clone());
    let mut builder = model
        .checker()
        .threads(config.threads.max(1))
        .target_max_depth(config.depth + 2);
    if let Some(n) = config.max_states {
        builder = builder.target_state_count(n);
    }
    drop(builder.serve(addr));
}

fn broken(w: &World) -> Option<&'static str> {
    w.violation.as_ref().map(|v| v.id)
}

/// Runs the exhaustive check.
#[must_use]
pub fn check(config: &CheckConfig) -> CheckReport {
    let model = Lifecycle::new(config.policy.clone(), config.pinned_policy.clone());
    let edges = std::sync::Arc::clone(&model.edges);
    let mut builder = model
        .checker()
        .threads(config.threads.max(1))
        .target_max_depth(config.depth + 2);
    if config.stop_at_first_violation {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    if let Some(n) = config.max_states {
        builder = builder.target_state_count(n);
    }
    let checker = builder.spawn_bfs().join();
    let discoveries = checker.discoveries();
    let properties: Vec<PropertyResult> = checker
        .model()
        .properties()
        .iter()
        .map(|p| {
            let found = discoveries.contains_key(p.name);
            let always = p.expectation == stateright::Expectation::Always;
            PropertyResult {
                name: p.name,
                expectation: if always { "always" } else { "sometimes" },
                holds: found != always,
            }
        })
        .collect();
    // The violated property with the shortest path found (the first in order among equals).
    let found = properties
        .iter()
        .filter(|p| p.expectation == "always" && !p.holds)
        .filter_map(|p| {
            discoveries
                .get(p.name)
                .map(|path| (p.name, path.clone().into_vec()))
        })
        .min_by_key(|(_, path)| path.len());
    let stopped = if found.is_some() && config.stop_at_first_violation {
        Some("at the first violation".to_string())
    } else {
        config
            .max_states
            .filter(|&n| checker.state_count() >= n)
            .map(|n| format!("state budget of {n} reached"))
    };
    let violation = found.map(|(name, path)| {
        let pinned = path.first().is_some_and(|(w, _)| w.pinned);
        let mut best = (
            pinned,
            path.into_iter().filter_map(|(_, a)| a).collect::<Vec<_>>(),
        );
        let mut minimal = best.1.is_empty();
        if config.minimize && !minimal {
            // Stateright's report is not the shortest path (a discovery is overwritten by later
            // states of the same block): search again at every depth from 0, stopping at the
            // first violation of this property. Each run is bounded like the check.
            // If no shorter one exists (every search complete), the one found is the shortest.
            minimal = true;
            for d in 0..best.1.len() {
                match shortest(config, name, d) {
                    Shortest::Found(shorter) => {
                        best = shorter;
                        break;
                    }
                    Shortest::None => {}
                    Shortest::OverBudget => {
                        minimal = false;
                        break;
                    }
                }
            }
        }
        explain(config, name, &best, minimal)
    });
    let edges = edges.lock().map(|e| e.clone()).unwrap_or_default();
    let unobserved_rows = table::TABLE
        .iter()
        .filter(|e| !edges.contains(e))
        .copied()
        .collect();
    CheckReport {
        depth: config.depth,
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        properties,
        edges,
        unobserved_rows,
        violation,
        elapsed: Duration::ZERO,
        stopped,
    }
}

/// The outcome of a search for a counterexample of one length.
enum Shortest {
    /// One, with whether it starts pinned.
    Found((bool, Vec<Act>)),
    /// None of this length (the search was complete).
    None,
    /// The state budget ran out before the search was complete.
    OverBudget,
}

/// A counterexample to `property` of exactly `depth` steps, if there is one and none shorter
/// (single-threaded, so the same one every time).
fn shortest(config: &CheckConfig, property: &'static str, depth: usize) -> Shortest {
    let model = Lifecycle::new(config.policy.clone(), config.pinned_policy.clone());
    let mut builder = model
        .checker()
        .threads(1)
        .target_max_depth(depth + 2)
        .finish_when(HasDiscoveries::AnyOf([property].into_iter().collect()));
    if let Some(n) = config.max_states {
        builder = builder.target_state_count(n);
    }
    let checker = builder.spawn_bfs().join();
    match checker.discovery(property) {
        Some(p) => {
            let path = p.into_vec();
            let pinned = path.first().is_some_and(|(w, _)| w.pinned);
            Shortest::Found((pinned, path.into_iter().filter_map(|(_, a)| a).collect()))
        }
        None if config
            .max_states
            .is_some_and(|n| checker.state_count() >= n) =>
        {
            Shortest::OverBudget
        }
        None => Shortest::None,
    }
}

/// Replays `actions` from the initial world and describes every step.
fn explain(
    config: &CheckConfig,
    property: &'static str,
    path: &(bool, Vec<Act>),
    minimal: bool,
) -> Counterexample {
    let model = Lifecycle::new(config.policy.clone(), config.pinned_policy.clone());
    let (pinned, actions) = path;
    let mut w = model.init(*pinned);
    let mut steps = Vec::new();
    let mut t = 0u64;
    for a in actions {
        let Some((next, info)) = model.apply(&w, a) else {
            steps.push(format!("{a}: does not apply (the model changed?)"));
            break;
        };
        t += info.elapsed_ms;
        let mut line = format!("[t+{}] {a}", world::human(t));
        if let (Some(input), Some(rule)) = (info.input, info.rule) {
            line.push_str(&format!(
                " -> {} {rule}: {} -> {}",
                input.name(),
                info.kinds.0,
                info.kinds.1
            ));
        }
        if !info.actions.is_empty() {
            line.push_str(&format!("; {}", info.actions.join("; ")));
        }
        if let Some(k) = &info.handout {
            line.push_str(&format!("; serves {k}"));
        }
        steps.push(line);
        w = next;
    }
    let m = &model;
    let detail = match &w.violation {
        Some(v) => v.to_string(),
        None => live::live_1(m, &w)
            .and_then(|()| live::live_2(m, &w))
            .err()
            .map_or_else(
                || format!("{property} violated"),
                |e| format!("{property} violated: {e}"),
            ),
    };
    Counterexample {
        property,
        minimal,
        pinned: *pinned,
        steps,
        detail,
    }
}

/// The edges the check observed, grouped by rule (for docs and debugging).
#[must_use]
pub fn edges_by_rule(edges: &BTreeSet<Edge>) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for e in edges {
        *out.entry(e.rule.id()).or_insert(0) += 1;
    }
    out
}
