//! The project's one seeded generator, for jitter and for the simulator's made-up ids.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
//! 64 bits of state, one multiply-xorshift finaliser per output, full period, and good enough
//! statistics to spread timers. It is **not** a cryptographic generator. It is seeded explicitly,
//! so the same seed gives the same sequence (INV-6); where runs must differ (refresh jitter across
//! processes), the caller seeds it from the operating system.

/// Sebastiano Vigna's SplitMix64: one `u64` of state, an addition and a mix per draw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that produces the same sequence for the same `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Advances the state; never fails and never repeats within 2^64 draws.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits: the high half of [`next_u64`](Self::next_u64).
    pub fn next_u32(&mut self) -> u32 {
        // The shift leaves 32 bits; the conversion cannot fail.
        u32::try_from(self.next_u64() >> 32).unwrap_or(u32::MAX)
    }

    /// A uniform number below `n` (Lemire's multiply-shift); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(n);
        // `wide >> 64` is below `n`, so it fits.
        u64::try_from(wide >> 64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by S. Vigna).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(SplitMix64::new(0).next_u32(), 0xE220_A839);
    }

    #[test]
    fn same_seed_same_sequence_and_below_stays_in_range() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        for n in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let below = a.below(n + 1);
            assert!(below <= n);
            assert_eq!(below, b.below(n + 1));
        }
        assert_eq!(a.below(0), 0);
        // Uniform enough to reach every value of a small range, and nothing outside it.
        let mut seen = [false; 10];
        for _ in 0..1_000 {
            let i = usize::try_from(a.below(10)).expect("below 10");
            seen[i] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_ne!(SplitMix64::new(7).next_u64(), SplitMix64::new(8).next_u64());
    }
}
