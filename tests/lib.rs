//! Cross-crate tests for credcycle live in `it/`; this library is empty.
