//! The command line: flags, defaults and checks (clap derive). Clap exits
//! with code 2 on a bad flag; a capacity of 0 is left to the queue's builder,
//! whose typed error `main` reports with the same code.

use std::fmt;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Serialize;
use sluicegate::backpressure::Overflow;
use sluicegate_examples::cli::probability;

/// The most items one run may make: the run keeps one byte per item to
/// check that each was accounted for exactly once.
pub(crate) const MAX_ITEMS: u64 = 10_000_000;

/// A bursty producer against a slower steady consumer over a bounded queue
/// (sluicegate::backpressure). Shows the queue absorbing bursts, counts how
/// often it was full, and checks that nothing was lost.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "bursty", version = None)]
pub(crate) struct Args {
    /// Items the producer makes
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub(crate) items: u64,

    /// Milliseconds between two items while the producer bursts
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub(crate) interval_ms: u64,

    /// Length of a pause, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) pause_ms: u64,

    /// Chance that a pause comes before an item (0 to 1)
    #[arg(long, value_name = "P", default_value_t = 0.1, value_parser = probability)]
    pub(crate) pause_probability: f64,

    /// Milliseconds the steady consumer works on each item
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub(crate) consume_ms: u64,

    /// Slots in the queue
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) capacity: usize,

    /// What the producer's send does when the queue is full
    #[arg(long, value_enum, default_value_t = PolicyArg::Block)]
    pub(crate) policy: PolicyArg,

    /// Seed for the pauses, to repeat a run [default: from the clock, printed]
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,

    /// Print progress lines instead of the live view (automatic when stdout
    /// is not a terminal)
    #[arg(long)]
    pub(crate) plain: bool,

    /// Run in virtual time: the same run, instantly and deterministically
    /// (for tests; implies --plain)
    #[arg(long)]
    pub(crate) quick: bool,

    /// Print the summary as one line of JSON
    #[arg(long)]
    pub(crate) json: bool,

    /// Milliseconds between two progress lines in plain mode
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) report_ms: u64,
}

/// `--policy`: the queue's [`Overflow`] policy, by its command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PolicyArg {
    /// The producer waits for a slot: nothing is dropped, bursts slow it down
    Block,
    /// The producer gets the item back and discards it (counted as rejected)
    Reject,
    /// The queue evicts its oldest item to make room (counted as dropped)
    DropOldest,
    /// The queue turns the new item away (counted as dropped)
    DropNewest,
}

impl PolicyArg {
    /// The queue's policy.
    pub(crate) fn overflow(self) -> Overflow {
        match self {
            Self::Block => Overflow::Block,
            Self::Reject => Overflow::Reject,
            Self::DropOldest => Overflow::DropOldest,
            Self::DropNewest => Overflow::DropNewest,
        }
    }

    /// Whether a full queue costs items rather than time.
    pub(crate) fn loses_items(self) -> bool {
        !matches!(self, Self::Block)
    }
}

impl fmt::Display for PolicyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Block => "block",
            Self::Reject => "reject",
            Self::DropOldest => "drop-oldest",
            Self::DropNewest => "drop-newest",
        })
    }
}

/// What one run does, from the flags, with the seed settled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) items: u64,
    pub(crate) interval: Duration,
    pub(crate) pause: Duration,
    pub(crate) pause_probability: f64,
    pub(crate) consume: Duration,
    pub(crate) capacity: usize,
    pub(crate) policy: PolicyArg,
    pub(crate) seed: u64,
    pub(crate) report_every: Duration,
}

impl Plan {
    /// The plan for `args`; `fallback_seed` is used when no `--seed` was given.
    pub(crate) fn new(args: &Args, fallback_seed: u64) -> Self {
        Self {
            items: args.items,
            interval: Duration::from_millis(args.interval_ms),
            pause: Duration::from_millis(args.pause_ms),
            pause_probability: args.pause_probability,
            consume: Duration::from_millis(args.consume_ms),
            capacity: args.capacity,
            policy: args.policy,
            seed: args.seed.unwrap_or(fallback_seed),
            report_every: Duration::from_millis(args.report_ms),
        }
    }

    /// The producer's average time per item: the interval plus the expected
    /// share of a pause.
    pub(crate) fn producer_average(&self) -> Duration {
        self.interval + self.pause.mul_f64(self.pause_probability)
    }

    /// One line that describes the run.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} items, one every {} with a {} pause at probability {} (seed {}); \
             consumer {}/item; queue of {}, policy {}",
            self.items,
            Ms(self.interval),
            Ms(self.pause),
            self.pause_probability,
            self.seed,
            Ms(self.consume),
            self.capacity,
            self.policy,
        )
    }

    /// One line that compares the producer's average pace with the consumer's.
    pub(crate) fn describe_rates(&self) -> String {
        let average = self.producer_average();
        let verdict = if self.consume > average {
            "slower than the producer's average: the queue will fill whatever its size"
        } else if self.consume > self.interval {
            "slower than a burst, faster on average: the queue must absorb the bursts"
        } else {
            "faster than a burst: the queue should stay nearly empty"
        };
        format!(
            "the producer averages {}/item ({:.1}/s), the consumer takes {}/item ({:.1}/s): {verdict}",
            Ms(average),
            per_second(average),
            Ms(self.consume),
            per_second(self.consume),
        )
    }
}

fn per_second(per_item: Duration) -> f64 {
    if per_item.is_zero() {
        f64::INFINITY
    } else {
        1.0 / per_item.as_secs_f64()
    }
}

/// A duration in milliseconds: `20ms`, `1.5ms`, `2500ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ms(pub(crate) Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        if ms.fract() == 0.0 || ms >= 100.0 {
            write!(f, "{ms:.0}ms")
        } else {
            write!(f, "{ms:.1}ms")
        }
    }
}

/// A duration in seconds with one decimal: `12.3s`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}s", self.0.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("bursty").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_issue() {
        let args = parse(&[]).unwrap();
        let plan = Plan::new(&args, 7);
        assert_eq!(plan.interval, Duration::from_millis(20));
        assert_eq!(plan.pause, Duration::from_secs(1));
        assert_eq!(plan.pause_probability, 0.1);
        assert_eq!(plan.capacity, 100);
        assert_eq!(plan.policy, PolicyArg::Block);
        assert_eq!(plan.seed, 7);
        // 20ms + 0.1 * 1000ms: the consumer (100ms) is slower than a burst
        // but keeps up on average.
        assert_eq!(plan.producer_average(), Duration::from_millis(120));
        assert!(plan.consume > plan.interval && plan.consume < plan.producer_average());
    }

    #[test]
    fn flags_parse() {
        let args = parse(&[
            "--items=9",
            "--interval-ms",
            "0",
            "--pause-probability",
            "1",
            "--policy",
            "drop-oldest",
            "--seed",
            "3",
            "--plain",
            "--quick",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.items, 9);
        assert_eq!(args.interval_ms, 0);
        assert_eq!(args.policy, PolicyArg::DropOldest);
        assert_eq!(args.seed, Some(3));
        assert!(args.plain && args.quick && args.json);
    }

    #[test]
    fn bad_flags_are_errors() {
        for bad in [
            &["--pause-probability", "1.5"][..],
            &["--pause-probability", "NaN"],
            &["--pause-probability", "-0.1"],
            &["--items", "0"],
            &["--items", "abc"],
            &["--report-ms", "0"],
            &["--policy", "sometimes"],
            &["--frobnicate"],
        ] {
            let error = parse(bad).expect_err(&format!("{bad:?}"));
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn policies_map_to_the_queue() {
        assert_eq!(PolicyArg::Block.overflow(), Overflow::Block);
        assert_eq!(PolicyArg::Reject.overflow(), Overflow::Reject);
        assert_eq!(PolicyArg::DropOldest.overflow(), Overflow::DropOldest);
        assert_eq!(PolicyArg::DropNewest.overflow(), Overflow::DropNewest);
        assert_eq!(PolicyArg::DropNewest.to_string(), "drop-newest");
        assert!(!PolicyArg::Block.loses_items() && PolicyArg::Reject.loses_items());
    }

    #[test]
    fn durations_print_readably() {
        assert_eq!(Ms(Duration::from_millis(20)).to_string(), "20ms");
        assert_eq!(Ms(Duration::from_micros(1500)).to_string(), "1.5ms");
        assert_eq!(Secs(Duration::from_millis(12_345)).to_string(), "12.3s");
    }
}
