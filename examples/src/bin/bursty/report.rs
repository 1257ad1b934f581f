//! What the run prints: a progress line (plain mode), and the summary at the
//! end, as text or JSON, with the accounting check and a word of advice.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sluicegate::backpressure::Stats;

use crate::cli::{Ms, Plan, PolicyArg, Secs};
use crate::state::Shared;

/// One progress line: `[  3.0s] produced 27/500 queue 12/100 ...`.
pub(crate) fn progress_line(
    elapsed: Duration,
    plan: &Plan,
    shared: &Shared,
    stats: &Stats,
) -> String {
    format!(
        "[{:>6}] produced {}/{} queue {}/{} consumed {} dropped {} rejected {} \
         full_events {} high_watermark {} blocked {} producer {}",
        Secs(elapsed).to_string(),
        Shared::get(&shared.produced),
        plan.items,
        stats.len,
        stats.capacity,
        Shared::get(&shared.consumed),
        stats.dropped,
        Shared::get(&shared.rejected),
        stats.full_events,
        stats.high_watermark,
        Ms(round_ms(stats.blocked)),
        shared.phase().name(),
    )
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Which clock the run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ClockKind {
    /// tokio's clock: the run took real time.
    Real,
    /// A `ManualClock` (`--quick`): the times are simulated.
    Virtual,
}

/// The numbers at the end of a run. Accounting:
/// `produced == consumed + dropped + rejected + queued` (`queued` is 0 once
/// drained), and the ledger found every id made exactly once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    /// Items asked for (`--items`).
    pub(crate) items: u64,
    /// Items the producer made (fewer than `items` after a stop request).
    pub(crate) produced: u64,
    /// Items the queue took (its `sent` counter).
    pub(crate) sent: u64,
    /// Items the consumer finished.
    pub(crate) consumed: u64,
    /// Of those, drained without the work after a second stop request.
    pub(crate) drained_fast: u64,
    /// Items the queue let go of under `drop-oldest`/`drop-newest`.
    pub(crate) dropped: u64,
    /// Items handed back under `reject`, discarded by the producer.
    pub(crate) rejected: u64,
    /// Items still in the queue at the end (0: the run drains).
    pub(crate) queued: usize,
    /// Ids made but found nowhere (the ledger; must be 0).
    pub(crate) lost: u64,
    /// Ids accounted for twice, or never made (the ledger; must be 0).
    pub(crate) duplicated: u64,
    /// Sends that found the queue full.
    pub(crate) full_events: u64,
    /// The deepest the queue got.
    pub(crate) high_watermark: usize,
    /// Slots in the queue.
    pub(crate) capacity: usize,
    /// Total time the producer waited for room, in milliseconds.
    pub(crate) blocked_ms: u64,
    /// Length of the run, in milliseconds.
    pub(crate) elapsed_ms: u64,
    /// Pauses the producer took.
    pub(crate) pauses: u64,
    /// The longest burst, in items.
    pub(crate) longest_burst: u64,
    /// The queue's policy.
    pub(crate) policy: PolicyArg,
    /// The seed of the pauses.
    pub(crate) seed: u64,
    /// Real or virtual time.
    pub(crate) clock: ClockKind,
    /// Whether a stop request ended production early.
    pub(crate) stopped_early: bool,
    /// Whether every count adds up and the ledger is clean.
    pub(crate) accounted: bool,
    /// What the numbers suggest.
    pub(crate) advice: String,
}

impl Summary {
    /// The summary of a finished run.
    pub(crate) fn new(
        plan: &Plan,
        shared: &Shared,
        stats: &Stats,
        elapsed: Duration,
        clock: ClockKind,
    ) -> Self {
        let produced = Shared::get(&shared.produced);
        let consumed = Shared::get(&shared.consumed);
        let rejected = Shared::get(&shared.rejected);
        let ledger = shared.ledger.check(produced);
        let accounted = produced == consumed + stats.dropped + rejected + stats.len as u64
            && stats.sent == stats.received + stats.len as u64 + stats.dropped
            && stats.received == consumed
            && ledger.lost == 0
            && ledger.duplicated == 0;
        let mut summary = Self {
            items: plan.items,
            produced,
            sent: stats.sent,
            consumed,
            drained_fast: Shared::get(&shared.drained_fast),
            dropped: stats.dropped,
            rejected,
            queued: stats.len,
            lost: ledger.lost,
            duplicated: ledger.duplicated,
            full_events: stats.full_events,
            high_watermark: stats.high_watermark,
            capacity: stats.capacity,
            blocked_ms: millis(stats.blocked),
            elapsed_ms: millis(elapsed),
            pauses: Shared::get(&shared.pauses),
            longest_burst: Shared::get(&shared.longest_burst),
            policy: plan.policy,
            seed: plan.seed,
            clock,
            stopped_early: shared.stop.is_set() && produced < plan.items,
            accounted,
            advice: String::new(),
        };
        summary.advice = advice(plan, &summary);
        summary
    }

    /// The summary as lines of text.
    pub(crate) fn to_text(&self) -> String {
        let mut text = String::new();
        let clock = match self.clock {
            ClockKind::Real => "real time",
            ClockKind::Virtual => "virtual time",
        };
        let stopped = if self.stopped_early {
            ", stopped early"
        } else {
            ""
        };
        let _ = writeln!(text, "summary ({clock}, seed {}{stopped}):", self.seed);
        let mut row = |name: &str, value: String| {
            let _ = writeln!(text, "  {name:<15} {value}");
        };
        row("produced", format!("{} of {}", self.produced, self.items));
        let fast = if self.drained_fast > 0 {
            format!(" ({} drained without the work)", self.drained_fast)
        } else {
            String::new()
        };
        row("consumed", format!("{}{fast}", self.consumed));
        row(
            "dropped",
            format!("{} (policy {})", self.dropped, self.policy),
        );
        row("rejected", self.rejected.to_string());
        row("still queued", self.queued.to_string());
        row(
            "lost",
            format!(
                "{} (produced {} = consumed {} + dropped {} + rejected {} + queued {}: {})",
                self.lost,
                self.produced,
                self.consumed,
                self.dropped,
                self.rejected,
                self.queued,
                if self.accounted {
                    "adds up"
                } else {
                    "DOES NOT ADD UP"
                },
            ),
        );
        row("full events", self.full_events.to_string());
        row(
            "high watermark",
            format!("{}/{}", self.high_watermark, self.capacity),
        );
        row(
            "time blocked",
            Secs(Duration::from_millis(self.blocked_ms)).to_string(),
        );
        row(
            "pauses",
            format!(
                "{} (longest burst {} items)",
                self.pauses, self.longest_burst
            ),
        );
        row(
            "elapsed",
            Secs(Duration::from_millis(self.elapsed_ms)).to_string(),
        );
        let _ = writeln!(text, "advice: {}", self.advice);
        text
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One or two sentences on what the numbers say about the queue's size.
fn advice(plan: &Plan, s: &Summary) -> String {
    if !s.accounted {
        return "the counts do not add up: this is a bug, please report it".to_owned();
    }
    let average = plan.producer_average();
    let peak = format!("high watermark {}/{}", s.high_watermark, s.capacity);
    if plan.consume > average {
        return format!(
            "the consumer ({}/item) is slower than the producer's average ({}/item): \
             the queue grows for as long as the producer runs, so no size is enough; \
             speed up the consumer or add consumers (this run: full {} times, {peak})",
            Ms(plan.consume),
            Ms(average),
            s.full_events,
        );
    }
    let mut text = String::new();
    if s.full_events == 0 {
        if s.high_watermark * 2 <= s.capacity {
            let _ = write!(
                text,
                "the queue never filled ({peak}): it absorbed every burst with room to spare; \
                 about {} slots would have done for this run",
                s.high_watermark.max(1)
            );
        } else {
            let _ = write!(
                text,
                "the queue never filled ({peak}): it absorbed every burst, with {} slots of headroom",
                s.capacity - s.high_watermark
            );
        }
    } else if s.policy.loses_items() {
        let _ = write!(
            text,
            "the queue was full {} times ({peak}) and {} items were {} (policy {}): \
             a larger queue or a faster consumer would keep them",
            s.full_events,
            s.dropped + s.rejected,
            if s.rejected > 0 {
                "rejected"
            } else {
                "dropped"
            },
            s.policy,
        );
    } else {
        let _ = write!(
            text,
            "the queue was full {} times ({peak}) and the producer waited {} in all: \
             a larger queue or a faster consumer would remove the blocking \
             (try `--quick --seed {} --capacity N` to find the smallest queue that never fills)",
            s.full_events,
            Secs(Duration::from_millis(s.blocked_ms)),
            s.seed,
        );
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;
    use clap::Parser;

    fn plan() -> Plan {
        Plan::new(&Args::parse_from(["bursty"]), 1)
    }

    fn summary() -> Summary {
        Summary {
            items: 10,
            produced: 10,
            sent: 10,
            consumed: 10,
            drained_fast: 0,
            dropped: 0,
            rejected: 0,
            queued: 0,
            lost: 0,
            duplicated: 0,
            full_events: 0,
            high_watermark: 12,
            capacity: 100,
            blocked_ms: 0,
            elapsed_ms: 1200,
            pauses: 1,
            longest_burst: 9,
            policy: PolicyArg::Block,
            seed: 1,
            clock: ClockKind::Virtual,
            stopped_early: false,
            accounted: true,
            advice: String::new(),
        }
    }

    #[test]
    fn advice_follows_the_numbers() {
        let plan = plan();
        let roomy = summary();
        assert!(advice(&plan, &roomy).contains("never filled (high watermark 12/100)"));
        assert!(advice(&plan, &roomy).contains("about 12 slots"));

        let tight = Summary {
            high_watermark: 80,
            ..summary()
        };
        assert!(advice(&plan, &tight).contains("20 slots of headroom"));

        let full = Summary {
            full_events: 3,
            high_watermark: 100,
            blocked_ms: 2500,
            ..summary()
        };
        let text = advice(&plan, &full);
        assert!(text.contains("full 3 times"), "{text}");
        assert!(text.contains("waited 2.5s"), "{text}");

        let dropping = Summary {
            full_events: 3,
            dropped: 7,
            policy: PolicyArg::DropOldest,
            ..summary()
        };
        assert!(advice(&plan, &dropping).contains("7 items were dropped"));

        let slow = Plan {
            consume: Duration::from_millis(200),
            ..plan.clone()
        };
        let text = advice(&slow, &full);
        assert!(
            text.starts_with("the consumer (200ms/item) is slower"),
            "{text}"
        );
        assert!(
            text.ends_with("(this run: full 3 times, high watermark 100/100)"),
            "{text}"
        );
        // Even when this run was too short to fill the queue.
        assert!(advice(&slow, &roomy).contains("no size is enough"));

        let broken = Summary {
            accounted: false,
            ..summary()
        };
        assert!(advice(&plan, &broken).contains("bug"));
    }

    #[test]
    fn the_text_summary_shows_the_check() {
        let text = summary().to_text();
        assert!(
            text.starts_with("summary (virtual time, seed 1):"),
            "{text}"
        );
        assert!(text.contains("lost            0 (produced 10 = consumed 10 + dropped 0"));
        assert!(text.contains("adds up"), "{text}");
        assert!(text.contains("high watermark  12/100"), "{text}");
        assert!(text.lines().last().unwrap().starts_with("advice: "));
    }

    #[test]
    fn the_json_summary_names_every_field() {
        let json = serde_json::to_value(summary()).unwrap();
        assert_eq!(json["policy"], "block");
        assert_eq!(json["clock"], "virtual");
        assert_eq!(json["full_events"], 0);
        assert_eq!(json["accounted"], true);
    }
}
