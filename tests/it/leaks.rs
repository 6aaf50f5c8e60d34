//! Secrets never appear in Debug output, errors, events, traces or states, whatever happens.

use credcycle_core::testing::{Harness, SENTINEL, harness_configs, ops};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases() / 10))]

    /// The simulated IMDS issues secrets that all start with a sentinel; after every step the
    /// machine's Debug output, its state, every refusal (Display and Debug), every hand-out's
    /// Debug and the trace of actions are searched for it.
    #[test]
    fn no_secret_in_any_debug_or_error_output(cfg in harness_configs(), ops in ops(1..80)) {
        let mut h = Harness::new(cfg);
        for op in &ops {
            if h.apply(op).is_err() {
                break;
            }
            let mut text = format!("{:?}\n{:#?}\n{:?}\n", h.machine, h.machine.state(), h.trace.last());
            match h.machine.credentials(h.now) {
                Ok(handout) => {
                    text.push_str(&format!("{handout:?} {:?}", handout.credentials()));
                    // The secret is there, and reachable only on purpose.
                    prop_assert!(handout.credentials().secret_access_key().expose_secret().starts_with(SENTINEL));
                }
                Err(refusal) => text.push_str(&format!("{refusal} {refusal:?}")),
            }
            prop_assert!(!text.contains(SENTINEL), "a secret leaked into: {}", text);
        }
    }
}
