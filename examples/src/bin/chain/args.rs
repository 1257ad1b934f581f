//! The command line ([`Args`], parsed by clap) and the settings of a run
//! ([`Config`]): `--quick` changes the defaults, explicit flags still win.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use sluicegate_examples::cli::{or_temp_file, pick, probability, random_seed};

/// The flags. Every number is optional here so that `--quick` can pick
/// different defaults; [`Config::from_args`] fills them in.
#[derive(Debug, Parser)]
#[command(
    name = "chain",
    about = "clients -> token bucket -> bounded queue -> workers -> retry -> SQLite, with a lossless report",
    long_about = "Simulated bursty clients send requests through sluicegate's token bucket \
(admission), a distributor's bounded queue (backpressure) and its workers, which write each \
request to SQLite with retry and backoff. Several connections write to one file with no busy \
timeout, so SQLITE_BUSY collisions are real; --failure-rate adds injected transient errors. \
The report accounts for every request (offered = rejected + admitted; admitted = succeeded + \
failed + lost, lost must be 0) and checks the rows in SQLite against the successes.\n\n\
Ctrl-C stops the clients early; the queue still drains and the report still adds up. A \
second Ctrl-C exits at once, without a report.\n\n\
Exit code: 0 when every check passes, 1 when one fails (or the run cannot start), 2 on a bad \
command line."
)]
pub(crate) struct Args {
    /// Requests the clients send in all [default: 100000; quick: 2000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    requests: Option<u64>,

    /// Token-bucket rate, requests per second [default: 5000; quick: 4000]
    #[arg(long, value_name = "PER_SEC", value_parser = clap::value_parser!(u32).range(1..=1_000_000_000))]
    rate: Option<u32>,

    /// Token-bucket burst: requests admitted at once after a lull [default: 500; quick: 200]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000_000))]
    burst: Option<u32>,

    /// Slots in the distributor's queue [default: 256; quick: 64]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    queue_capacity: Option<u32>,

    /// Distributor workers, writing through as many SQLite connections [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: Option<u32>,

    /// Simulated clients sending bursts [default: 8]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: Option<u32>,

    /// Offered load as a multiple of --rate (above 1: the limiter must reject) [default: 1.3]
    #[arg(long, value_name = "X", value_parser = parse_load)]
    load: Option<f64>,

    /// Probability that a write attempt fails with an injected transient error, 0 to 1 [default: 0.05]
    #[arg(long, value_name = "P", value_parser = probability)]
    failure_rate: Option<f64>,

    /// Most attempts per write, the first included [default: 10]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: Option<u32>,

    /// Seeds the clients' traffic and the injected failures [default: random, printed]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// The SQLite database, emptied first [default: sluicegate-chain.db in the system temp dir]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Where to write the SVG chart [default: sluicegate-chain.svg in the system temp dir]
    #[arg(long, value_name = "PATH")]
    chart: Option<PathBuf>,

    /// Print the report as JSON (and no progress bar)
    #[arg(long)]
    json: bool,

    /// No progress bar
    #[arg(long)]
    quiet: bool,

    /// A small, fast run (2000 requests in well under a second): the integration test's mode
    #[arg(long)]
    quick: bool,
}

/// `--load`: a finite multiple above 0, at most 100.
fn parse_load(value: &str) -> Result<f64, String> {
    let load: f64 = value
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))?;
    if load.is_finite() && load > 0.0 && load <= 100.0 {
        Ok(load)
    } else {
        Err(format!("{value} is not in (0, 100]"))
    }
}

/// The settings of one run, every default filled in.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    pub(crate) requests: u64,
    pub(crate) rate: u32,
    pub(crate) burst: u32,
    pub(crate) queue_capacity: usize,
    pub(crate) workers: usize,
    pub(crate) clients: u32,
    pub(crate) load: f64,
    pub(crate) failure_rate: f64,
    pub(crate) max_attempts: u32,
    pub(crate) seed: u64,
    pub(crate) quick: bool,
    #[serde(skip)]
    pub(crate) db: PathBuf,
    #[serde(skip)]
    pub(crate) chart: PathBuf,
    #[serde(skip)]
    pub(crate) json: bool,
    #[serde(skip)]
    pub(crate) quiet: bool,
    /// One chart bin: the admitted rate is averaged and the queue depth's
    /// maximum taken over it.
    #[serde(serialize_with = "as_millis")]
    pub(crate) sample_interval: Duration,
    /// One wave of traffic: a lull, then a surge (see `traffic.rs`).
    #[serde(serialize_with = "as_millis")]
    pub(crate) wave_period: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl Config {
    /// Fills in the defaults (`--quick` ones if asked) and derives the
    /// timings from the expected length of the run.
    pub(crate) fn from_args(args: Args) -> Self {
        let quick = args.quick;
        let requests = pick(args.requests, quick, 100_000, 2_000);
        let rate = pick(args.rate, quick, 5_000, 4_000);
        let burst = pick(args.burst, quick, 500, 200);
        let queue_capacity = pick(args.queue_capacity, quick, 256, 64) as usize;
        let load = args.load.unwrap_or(1.3);
        // The run lasts about requests / offered rate; aim for some 8 waves
        // and 100 chart bins whatever the size of the run.
        let expected = requests as f64 / (f64::from(rate) * load);
        let wave_period = Duration::from_secs_f64((expected / 8.0).clamp(0.1, 3.0));
        let sample_interval = Duration::from_secs_f64((expected / 100.0).clamp(0.01, 0.25));
        Self {
            requests,
            rate,
            burst,
            queue_capacity,
            workers: args.workers.unwrap_or(4) as usize,
            clients: args.clients.unwrap_or(8),
            load,
            failure_rate: args.failure_rate.unwrap_or(0.05),
            max_attempts: args.max_attempts.unwrap_or(10),
            seed: args.seed.unwrap_or_else(random_seed),
            quick,
            db: or_temp_file(args.db, "sluicegate-chain.db"),
            chart: or_temp_file(args.chart, "sluicegate-chain.svg"),
            json: args.json,
            quiet: args.quiet,
            sample_interval,
            wave_period,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, clap::Error> {
        let argv = std::iter::once("chain").chain(args.iter().copied());
        Args::try_parse_from(argv).map(Config::from_args)
    }

    #[test]
    fn defaults_and_quick_defaults() {
        let full = config(&[]).unwrap();
        assert_eq!(
            (full.requests, full.rate, full.burst, full.queue_capacity),
            (100_000, 5_000, 500, 256)
        );
        assert_eq!((full.workers, full.clients, full.max_attempts), (4, 8, 10));
        assert_eq!(
            full.wave_period,
            Duration::from_secs_f64(100_000.0 / 6_500.0 / 8.0)
        );
        let quick = config(&["--quick"]).unwrap();
        assert_eq!(
            (
                quick.requests,
                quick.rate,
                quick.burst,
                quick.queue_capacity
            ),
            (2_000, 4_000, 200, 64)
        );
        assert_eq!(quick.wave_period, Duration::from_millis(100));
        assert_eq!(quick.sample_interval, Duration::from_millis(10));
    }

    #[test]
    fn explicit_flags_beat_quick_defaults() {
        let c = config(&["--quick", "--requests=500", "--rate", "100", "--seed", "7"]).unwrap();
        assert_eq!((c.requests, c.rate, c.burst, c.seed), (500, 100, 200, 7));
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["--rate", "0"][..],
            &["--workers", "0"],
            &["--queue-capacity", "-1"],
            &["--failure-rate", "1.5"],
            &["--failure-rate", "NaN"],
            &["--load", "0"],
            &["--load", "inf"],
            &["--requests", "lots"],
            &["--unknown"],
        ] {
            let error = config(args).expect_err(&format!("{args:?}"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
