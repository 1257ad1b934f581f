//! The jitter generator: SplitMix64, small, fast and reproducible.
//!
//! Not `rand`: `rand`'s `SmallRng` promises no stable sequence across
//! versions, and a seeded policy must draw the same delays forever.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// A fresh, unpredictable seed: std's per-process random hash keys mixed
    /// with a counter and the time.
    pub(crate) fn from_entropy() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(RandomState::new().hash_one((n, Instant::now())))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]` (to the nanosecond, up to rounding down);
    /// `lo` if `hi <= lo`. Exact integer arithmetic, no overflow at
    /// `Duration::MAX`.
    pub(crate) fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_nanos();
        if span == 0 {
            return lo;
        }
        let r = u128::from(self.next_u64());
        // floor(span * r / 2^64), computed without overflowing u128.
        let (span_hi, span_lo) = (span >> 64, span & u128::from(u64::MAX));
        let offset = span_hi * r + ((span_lo * r) >> 64);
        lo.saturating_add(from_nanos(offset))
    }
}

pub(crate) fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits.
    let sub = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_vectors() {
        // Vigna's splitmix64.c with the state starting at 0 and 1234567.
        let mut rng = Rng::seeded(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut rng = Rng::seeded(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn between_covers_the_whole_range_without_overflow() {
        let mut rng = Rng::seeded(5);
        for _ in 0..10_000 {
            let d = rng.between(Duration::ZERO, Duration::MAX);
            assert!(d <= Duration::MAX);
            let lo = Duration::from_secs(u64::MAX / 2);
            let d = rng.between(lo, Duration::MAX);
            assert!(d >= lo);
        }
        assert_eq!(rng.between(Duration::MAX, Duration::ZERO), Duration::MAX);
        assert_eq!(from_nanos(Duration::MAX.as_nanos()), Duration::MAX);
    }
}
