//! The simulator's seeded random source: the project's one generator,
//! [`credcycle_core::SplitMix64`], with helpers for made-up ids.
//!
//! It is **not** a cryptographic generator: someone who sees enough outputs and knows the
//! algorithm can predict the next ones. That is acceptable for a simulator bound to loopback (the
//! tokens and keys it hands out protect nothing), and it is what makes a seeded run reproducible.
//!
//! Without a configured seed, the seed comes from [`RandomState`], which the standard library
//! keys from the operating system's random source, so unseeded runs differ from each other.

use std::hash::{BuildHasher, RandomState};

use credcycle_core::SplitMix64;

/// A seeded SplitMix64 generator.
#[derive(Clone)]
pub(crate) struct SimRng {
    inner: SplitMix64,
}

impl SimRng {
    /// A generator that produces the same sequence for the same `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: SplitMix64::new(seed),
        }
    }

    /// A seed drawn from the operating system's random source (through `RandomState`).
    pub(crate) fn os_seed() -> u64 {
        RandomState::new().hash_one(0x6372_6564_6379_636c_u64)
    }

    /// The next 64 random bits.
    #[cfg(test)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform index below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        // The result is below `n`, which came from a usize.
        usize::try_from(self.inner.below(n as u64)).unwrap_or(0)
    }

    /// `len` characters drawn uniformly from `alphabet` (ASCII, not empty).
    pub(crate) fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

/// `A`-`Z` and `0`-`9`: access key ids and instance-profile ids.
pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The base64 alphabet: secret access keys and session tokens.
pub(crate) const BASE64: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL-safe base64 alphabet: IMDS session tokens.
pub(crate) const BASE64URL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Lowercase hexadecimal digits: instance and image ids.
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SimRng::new(7).next_u64(), SimRng::new(8).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_strings_use_the_alphabet() {
        let mut rng = SimRng::new(1);
        for n in 1..50 {
            assert!(rng.below(n) < n);
        }
        let s = rng.string(UPPER_ALNUM, 200);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|b| UPPER_ALNUM.contains(&b)));
    }

    #[test]
    fn os_seeds_differ() {
        // RandomState keys differ per instance; two equal seeds would be a 2^-64 accident.
        assert_ne!(SimRng::os_seed(), SimRng::os_seed());
    }
}
