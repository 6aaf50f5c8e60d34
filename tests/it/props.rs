//! Property tests of the real transition function, one per invariant id (`docs/design.md`).
//!
//! Each test drives a `Machine` through random environment steps with the `Harness` of
//! `credcycle_core::testing`, whose oracle checks every invariant after every input and every
//! probe for a hand-out. A test fails only on a violation of the invariant it is named after, so
//! that a broken rule points at its id; the other ids are each some other test's job.

use core::time::Duration;

use credcycle_core::testing::{
    Harness, HarnessConfig, Op, harness_configs, inputs, ops, policies, run_raw,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: crate::cases(),
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    }
}

/// Runs `ops` and fails the case only on a violation of invariant `id`.
fn holds(id: &str, cfg: HarnessConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut h = Harness::new(cfg);
    for (i, op) in ops.iter().enumerate() {
        if let Err(v) = h.apply(op) {
            if v.id == id {
                return Err(TestCaseError::fail(format!("after op {i} ({op:?}): {v}")));
            }
            // Another invariant broke first: its own test reports it.
            return Ok(());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// INV-1: every hand-out has at least the margin left on both clocks (or is a marked grace
    /// hand-out within Expiration + grace while failing), through wall-clock jumps of +-2 h.
    #[test]
    fn inv_1_no_expired_handout(cfg in harness_configs(), ops in ops(1..120)) {
        holds("INV-1", cfg, &ops)?;
    }

    /// INV-2: after a role removal or change is observed, or a key is invalidated, those
    /// credentials are never handed out again (even when IMDS replays them).
    #[test]
    fn inv_2_no_revoked_handout(cfg in harness_configs(), ops in ops(1..120)) {
        holds("INV-2", cfg, &ops)?;
    }

    /// INV-3: at most one request outstanding; a new one only after the previous one was
    /// answered or timed out.
    #[test]
    fn inv_3_single_flight(cfg in harness_configs(), ops in ops(1..120)) {
        holds("INV-3", cfg, &ops)?;
    }

    /// INV-4: after a failed attempt (error, stale, not rotated, timeout, 404) no request comes
    /// sooner than the retry floor, whatever demands and ticks arrive meanwhile.
    #[test]
    fn inv_4_no_hammering(cfg in harness_configs(), ops in ops(1..120)) {
        holds("INV-4", cfg, &ops)?;
    }

    /// INV-5: within one role, hand-outs never switch to a set that expires earlier.
    #[test]
    fn inv_5_no_regression(cfg in harness_configs(), ops in ops(1..120)) {
        holds("INV-5", cfg, &ops)?;
    }

    /// The transition table (and so the generated diagram) allows every edge the machine takes.
    #[test]
    fn transition_table_allows_every_edge(cfg in harness_configs(), ops in ops(1..120)) {
        let mut h = Harness::new(cfg);
        for op in &ops {
            if h.apply(op).is_err() {
                break;
            }
        }
        prop_assert!(h.unexpected_edges.is_empty(), "edges not in the table: {:?}", h.unexpected_edges);
    }

    /// INV-6 (totality): arbitrary inputs, made-up request ids, absurd expiries and a monotonic
    /// clock that goes backwards never panic `step`; the same steps give the same rules.
    #[test]
    fn inv_6_totality_and_determinism_of_step(
        policy in policies(),
        steps in prop::collection::vec((inputs(), 0u64..100_000_000, any::<i64>(), any::<u32>()), 1..80),
    ) {
        let first = run_raw(&policy, &steps);
        prop_assert_eq!(first, run_raw(&policy, &steps));
    }

    /// INV-6 (determinism and structure): the same environment steps give the same trace; a
    /// deadline exists exactly when the machine is neither idle nor stopped; the state kind
    /// agrees with what is held.
    #[test]
    fn inv_6_same_inputs_same_outputs(cfg in harness_configs(), ops in ops(1..120)) {
        let mut a = Harness::new(cfg.clone());
        let mut b = Harness::new(cfg);
        for op in &ops {
            let (ra, rb) = (a.apply(op), b.apply(op));
            if let Err(v) = &ra {
                prop_assert!(v.id != "INV-6", "{}", v);
            }
            prop_assert_eq!(&ra, &rb);
            if ra.is_err() {
                break;
            }
        }
        prop_assert_eq!(&a.trace, &b.trace);
    }

    /// LIVE-1: whatever happened before (outages, garbage, detach, role changes, wall jumps),
    /// once IMDS answers healthily, usable credentials are available within two refusing
    /// backoff caps: one for the attempt that failed last, one more when the role changed
    /// meanwhile (the 404 on the old role's path is itself a failed attempt, INV-4).
    #[test]
    fn live_1_recovery(cfg in harness_configs(), ops in ops(0..80)) {
        let cap = cfg.policy.backoff_cap_refusing() * 2;
        let mut cfg = cfg;
        cfg.lifetime = Duration::from_secs(6 * 3600); // longer than any wall-clock skew
        let mut h = Harness::new(cfg);
        for op in ops.iter().filter(|op| **op != Op::Shutdown) {
            if h.apply(op).is_err() {
                return Ok(()); // an invariant broke first: its own test reports it
            }
        }
        let took = h.recover(cap + Duration::from_secs(1)).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert!(took.is_some_and(|t| t <= cap), "no usable credentials within {:?}: {:?}, state {:?}",
            cap, took, h.machine.state());
    }

    /// LIVE-2: with a healthy IMDS that rotates at least 5 minutes before expiry, and requests
    /// answered within a second, there is no moment without usable credentials after the first
    /// hand-out, over three lifetimes.
    #[test]
    fn live_2_continuity(
        minutes in prop::sample::select(vec![15u64, 20, 60, 90, 360, 720]),
        rotate_minutes in 5u64..=10,
        latency_ms in 0u64..=1_000,
        seed in any::<u64>(),
    ) {
        let cfg = HarnessConfig {
            seed,
            lifetime: Duration::from_secs(minutes * 60),
            rotate_before: Duration::from_secs(rotate_minutes * 60),
            ..HarnessConfig::default()
        };
        let span = cfg.lifetime * 3;
        let mut h = Harness::new(cfg);
        let gap = h.run_healthy(span, Duration::from_millis(latency_ms)).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(gap, Duration::ZERO, "gap without credentials; trace tail: {:#?}",
            &h.trace[h.trace.len().saturating_sub(8)..]);
        prop_assert!(h.oracle.handouts > 0);
    }
}
