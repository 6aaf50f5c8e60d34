//! Cross-crate tests for credcycle live in `it/`; this library is empty, except for the README's
//! Rust examples, compiled (and run, unless marked `no_run`) as doctests of this crate.

/// The README's code blocks, as doctests (`cargo test -p credcycle-tests --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
