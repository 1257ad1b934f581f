//! The producer's burst schedule: before each item it waits the interval,
//! and with probability `p` a pause on top. Drawn from a seeded generator
//! (`StdRng`), so a seed repeats a run's pauses exactly.

use std::time::Duration;

use rand::SeedableRng;
use rand::distr::{Bernoulli, BernoulliError, Distribution};
use rand::rngs::StdRng;

/// The gaps before each item, drawn from a seed: an endless iterator of
/// `true` (a pause comes before this item) and `false` (just the interval).
#[derive(Debug, Clone)]
pub(crate) struct BurstSchedule {
    rng: StdRng,
    pause: Bernoulli,
}

impl BurstSchedule {
    /// The schedule for `seed`, pausing with probability `pause_probability`.
    ///
    /// # Errors
    ///
    /// When the probability is not in `0..=1` (or is NaN).
    pub(crate) fn new(seed: u64, pause_probability: f64) -> Result<Self, BernoulliError> {
        Ok(Self {
            rng: StdRng::seed_from_u64(seed),
            pause: Bernoulli::new(pause_probability)?,
        })
    }

    /// The wait before the next item: the interval, plus the pause if it
    /// comes now (and whether it does).
    pub(crate) fn next_gap(&mut self, interval: Duration, pause: Duration) -> (Duration, bool) {
        let pauses = self.pause.sample(&mut self.rng);
        let gap = if pauses {
            interval.saturating_add(pause)
        } else {
            interval
        };
        (gap, pauses)
    }
}

impl Iterator for BurstSchedule {
    type Item = bool;

    fn next(&mut self) -> Option<bool> {
        Some(self.pause.sample(&mut self.rng))
    }
}

#[cfg(test)]
/// The lengths of the bursts in the first `items` gaps: the runs of items
/// between two pauses (a pause starts a new burst).
pub(crate) fn burst_lengths(schedule: impl Iterator<Item = bool>, items: usize) -> Vec<usize> {
    let mut bursts = Vec::new();
    let mut current = 0;
    for pauses in schedule.take(items) {
        if pauses && current > 0 {
            bursts.push(current);
            current = 0;
        }
        current += 1;
    }
    if current > 0 {
        bursts.push(current);
    }
    bursts
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);
    const S1: Duration = Duration::from_secs(1);

    fn draws(seed: u64, p: f64, n: usize) -> Vec<bool> {
        BurstSchedule::new(seed, p).unwrap().take(n).collect()
    }

    #[test]
    fn a_seed_repeats_the_schedule() {
        assert_eq!(draws(1, 0.1, 1000), draws(1, 0.1, 1000));
        assert_ne!(draws(1, 0.1, 1000), draws(2, 0.1, 1000));
    }

    #[test]
    fn extreme_probabilities() {
        assert!(draws(5, 0.0, 1000).iter().all(|p| !p));
        assert!(draws(5, 1.0, 1000).iter().all(|p| *p));
    }

    #[test]
    fn bad_probabilities_are_errors() {
        for p in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(BurstSchedule::new(1, p).is_err(), "{p}");
        }
    }

    #[test]
    fn gaps_add_the_pause() {
        let mut always = BurstSchedule::new(1, 1.0).unwrap();
        assert_eq!(always.next_gap(MS20, S1), (MS20 + S1, true));
        let mut never = BurstSchedule::new(1, 0.0).unwrap();
        assert_eq!(never.next_gap(MS20, S1), (MS20, false));
        // Saturates instead of overflowing.
        assert_eq!(always.next_gap(Duration::MAX, S1).0, Duration::MAX);
    }

    #[test]
    fn pauses_come_at_about_the_given_rate() {
        // A fixed seed: this is a property of the generator's output for this
        // seed, not a statistical test that could fail now and then.
        let n = 100_000;
        let pauses = draws(42, 0.1, n).iter().filter(|p| **p).count();
        let rate = pauses as f64 / n as f64;
        assert!((0.09..0.11).contains(&rate), "{rate}");
        // Bursts are then about 1 / p = 10 items long on average.
        let bursts = burst_lengths(BurstSchedule::new(42, 0.1).unwrap(), n);
        assert_eq!(bursts.iter().sum::<usize>(), n);
        let mean = n as f64 / bursts.len() as f64;
        assert!((9.0..11.0).contains(&mean), "{mean}");
    }

    #[test]
    fn burst_lengths_split_at_pauses() {
        let gaps = [false, false, true, false, true, true, false];
        assert_eq!(burst_lengths(gaps.into_iter(), 7), [2, 2, 1, 2]);
        assert_eq!(burst_lengths(gaps.into_iter(), 2), [2]);
        assert_eq!(burst_lengths([true].into_iter(), 1), [1]);
        assert!(burst_lengths(gaps.into_iter(), 0).is_empty());
    }
}
