//! The command line ([`Args`], parsed by clap) and the settings of a run
//! ([`Config`]): `--quick` changes the defaults, explicit flags still win.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Serialize;
use sluicegate::pipeline::TimerMode;
use sluicegate_examples::cli::{OutputFlags, or_temp_file, pick, random_seed};

/// The flags. Numbers are optional here so that `--quick` can pick other
/// defaults; [`Config::from_args`] fills them in. Zero batch sizes, waits
/// and buffers are let through on purpose: the pipeline's builder rejects
/// them with a typed error, reported with exit code 2.
#[derive(Debug, Parser)]
#[command(
    name = "batcher",
    about = "events -> buffer -> batch by size or time (hand-back) -> slow SQLite writer, with a lossless summary",
    long_about = "A generator produces events at --rate per second into sluicegate's pipeline: a \
bounded buffer, then a batcher that closes a batch at --batch-size events or --max-wait-ms after \
its first event (or on fixed ticks), whichever comes first. Each batch is lent to a writer thread \
that commits it to SQLite in one transaction after an extra --write-ms delay (the slow writer). \
Hand-back backpressure: the batcher builds the next batch only once the writer has handed the \
last one back, so a slow writer fills the buffer and then slows the source.\n\n\
A progress line is printed every second. Ctrl-C stops the source; everything already produced \
is still batched and written (the last batch may be partial) and the summary checks produced = \
sent (events in committed batches) = rows in the database. A second Ctrl-C aborts: what is \
still in the pipeline is dropped and counted as discarded.\n\n\
Exit code: 0 when every check passes, 1 when one fails (or the run cannot start), 2 on a bad \
command line or settings the pipeline rejects."
)]
pub(crate) struct Args {
    /// Events the source produces; 0 produces until Ctrl-C [default: 20000; quick: 3000]
    #[arg(long, value_name = "N")]
    events: Option<u64>,

    /// Mean events per second; 0 produces as fast as the pipeline takes them [default: 5000; quick: 0]
    #[arg(long, value_name = "PER_SEC", value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    rate: Option<u32>,

    /// The rate swings between 0.25x and 1.75x --rate, one wave every this long; 0: a steady rate [default: 4000]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    wave_ms: Option<u64>,

    /// Most events in one batch [default: 100; quick: 64]
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,

    /// A batch is closed at most this long after its first event (or on each tick) [default: 20; quick: 5]
    #[arg(long, value_name = "MS")]
    max_wait_ms: Option<u64>,

    /// What --max-wait-ms is measured from
    #[arg(long, value_enum, default_value_t = Timer::FirstItem)]
    timer: Timer,

    /// Extra time the writer takes per batch, on top of the SQLite commit: the slow writer [default: 25; quick: 1]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    write_ms: Option<u64>,

    /// Events the buffer between the source and the batcher holds [default: 1000; quick: 128]
    #[arg(long, value_name = "N")]
    buffer: Option<usize>,

    /// The SQLite database, emptied first [default: sluicegate-batcher.db in the system temp dir]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Seeds the events' contents [default: random, printed]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    #[command(flatten)]
    output: OutputFlags,

    /// A small, fast run (3000 events as fast as they go): the integration test's mode
    #[arg(long)]
    quick: bool,
}

/// `--timer`: what a batch's wait is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Timer {
    /// At most --max-wait-ms after the batch's first event.
    FirstItem,
    /// Every --max-wait-ms, like Go's `time.Tick`; a tick closes the batch
    /// if it holds anything.
    Ticks,
}

impl Timer {
    pub(crate) fn mode(self) -> TimerMode {
        match self {
            Self::FirstItem => TimerMode::FromFirstItem,
            Self::Ticks => TimerMode::FixedTicks,
        }
    }
}

/// The settings of one run, every default filled in.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    /// 0: until Ctrl-C.
    pub(crate) events: u64,
    /// 0: unpaced.
    pub(crate) rate: u32,
    /// 0: a steady rate.
    pub(crate) wave_ms: u64,
    pub(crate) batch_size: usize,
    pub(crate) max_wait_ms: u64,
    pub(crate) timer: Timer,
    pub(crate) write_ms: u64,
    pub(crate) buffer: usize,
    pub(crate) db: PathBuf,
    pub(crate) seed: u64,
    #[serde(flatten)]
    pub(crate) output: OutputFlags,
    pub(crate) quick: bool,
}

impl Config {
    pub(crate) fn from_args(args: Args) -> Self {
        let quick = args.quick;
        Self {
            events: pick(args.events, quick, 20_000, 3_000),
            rate: pick(args.rate, quick, 5_000, 0),
            wave_ms: args.wave_ms.unwrap_or(4_000),
            batch_size: pick(args.batch_size, quick, 100, 64),
            max_wait_ms: pick(args.max_wait_ms, quick, 20, 5),
            timer: args.timer,
            write_ms: pick(args.write_ms, quick, 25, 1),
            buffer: pick(args.buffer, quick, 1_000, 128),
            db: or_temp_file(args.db, "sluicegate-batcher.db"),
            seed: args.seed.unwrap_or_else(random_seed),
            output: args.output,
            quick,
        }
    }

    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    pub(crate) fn wave(&self) -> Option<Duration> {
        (self.wave_ms > 0).then(|| Duration::from_millis(self.wave_ms))
    }

    pub(crate) fn write_delay(&self) -> Duration {
        Duration::from_millis(self.write_ms)
    }
}
