//! The simulator's seeded random source.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
//! 64 bits of state, one multiply-xorshift finaliser per output, full period, good statistical
//! quality for a test tool, and a handful of lines with no dependency. It is **not** a
//! cryptographic generator: someone who sees enough outputs and knows the algorithm can predict
//! the next ones. That is acceptable for a simulator bound to loopback (the tokens and keys it
//! hands out protect nothing), and it is what makes a seeded run reproducible.
//!
//! Without a configured seed, the seed comes from [`RandomState`], which the standard library
//! keys from the operating system's random source, so unseeded runs differ from each other.

use std::hash::{BuildHasher, RandomState};

/// A seeded SplitMix64 generator.
#[derive(Clone)]
pub(crate) struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator that produces the same sequence for the same `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A seed drawn from the operating system's random source (through `RandomState`).
    pub(crate) fn os_seed() -> u64 {
        RandomState::new().hash_one(0x6372_6564_6379_636c_u64)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (Lemire's multiply-shift; `n` must not be zero).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let wide = u128::from(self.next_u64()) * u128::from(n);
        // `wide >> 64` is below `n`, which came from a usize.
        usize::try_from(wide >> 64).unwrap_or(0)
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
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by S. Vigna).
        let mut rng = SimRng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
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
