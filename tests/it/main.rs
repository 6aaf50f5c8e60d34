//! Cross-crate tests for credcycle: one integration-test binary, one module per concern.

mod diagram;
mod imds_sim;
mod leaks;
mod props;
mod scenarios;

/// Cases per property: at least 10,000 by default, more (or fewer) with `PROPTEST_CASES`.
pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
