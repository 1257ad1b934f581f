//! Helpers shared by the test suites.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sluicegate_retry::Jitter;
use sluicegate_rt::ManualClock;

/// The virtual instants (as offsets from the clock's start) at which attempts
/// started.
#[derive(Clone, Default)]
pub struct Starts(Rc<RefCell<Vec<Duration>>>);

impl Starts {
    pub fn record(&self, clock: &ManualClock) -> u32 {
        let mut v = self.0.borrow_mut();
        v.push(clock.elapsed());
        v.len() as u32
    }

    pub fn all(&self) -> Vec<Duration> {
        self.0.borrow().clone()
    }

    /// The waits between consecutive attempts.
    pub fn gaps(&self) -> Vec<Duration> {
        self.0.borrow().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// SplitMix64, written from Vigna's reference, as an oracle.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi] for spans below 2^64 ns (about 584 years).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_nanos();
        assert!(span < 1 << 64);
        let off = (span * u128::from(self.next())) >> 64;
        lo + Duration::from_nanos(off as u64)
    }
}

/// The AWS "Exponential Backoff And Jitter" formulas, for an exponential
/// policy with an integer factor.
pub fn aws_delays(
    base: Duration,
    factor: u32,
    cap: Duration,
    jitter: Jitter,
    seed: u64,
    n: usize,
) -> Vec<Duration> {
    let mut rng = SplitMix(seed);
    let mut sleep = base;
    (0..n)
        .map(|i| {
            let plain = base
                .checked_mul(factor.checked_pow(i as u32).unwrap_or(u32::MAX))
                .unwrap_or(Duration::MAX)
                .min(cap);
            match jitter {
                Jitter::None => plain,
                Jitter::Full => rng.between(Duration::ZERO, plain),
                Jitter::Equal => rng.between(plain / 2, plain),
                Jitter::Decorrelated => {
                    sleep = rng.between(base, sleep * 3).min(cap);
                    sleep
                }
                _ => unreachable!(),
            }
        })
        .collect()
}
