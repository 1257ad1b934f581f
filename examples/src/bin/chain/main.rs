//! `chain`: the whole of sluicegate on real parts.
//!
//! ```text
//! bursty clients ─▶ token bucket ─▶ bounded queue ─▶ N workers ─▶ retry + backoff ─▶ SQLite
//!                   (admission)     (backpressure)   (distributor) (busy / injected)  (one file)
//!                       │                │                                 │
//!                  429: counted     503: counted                 failed after retries: counted
//! ```
//!
//! - `traffic.rs`: simulated clients send bursts in waves (lulls, then
//!   surges), on average `--load` times the configured rate. Each request
//!   meets the [token bucket](sluicegate::token_bucket) (`try_acquire`:
//!   admitted or rejected now) and then the
//!   [distributor](sluicegate::distributor)'s bounded queue (`try_submit`:
//!   queued or handed back when full).
//! - `sink.rs`: a worker runs each queued job: one row written to SQLite
//!   through [`sluicegate::retry`], exponential backoff with full jitter.
//!   Several connections write to one file with no busy timeout, so
//!   `SQLITE_BUSY` collisions are real; `--failure-rate` injects transient
//!   errors on top.
//! - `sampler.rs`, `chart.rs`: the admitted rate and the queue depth over
//!   time, drawn as an SVG chart.
//! - `report.rs`: every count, and the checks that nothing was lost:
//!   `offered = rejected_limiter + rejected_queue_full + admitted`,
//!   `admitted = succeeded + failed + lost` with `lost = 0`, the rows in
//!   SQLite equal to the successes, and the limiter's and the distributor's
//!   own statistics agreeing.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin chain
//! cargo run --release -p sluicegate-examples --bin chain -- --rate 2000 --workers 2 --failure-rate 0.2
//! cargo run --release -p sluicegate-examples --bin chain -- --quick --json
//! ```
//!
//! Exit code: 0 when every check passes, 1 when one fails (or the run
//! cannot start), 2 on a bad command line.
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]

mod args;
mod chart;
mod report;
mod sampler;
mod sink;
mod traffic;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluicegate::distributor::Stopped;
use sluicegate::rt::{TokioClock, TokioSpawner};
use sluicegate::token_bucket::{Quota, TokenBucket};
use sluicegate_examples::cli::Failure;
use sluicegate_examples::db::Store;
use sluicegate_examples::report::{exit_code, print_text};
use sluicegate_examples::signal::Interrupts;
use tokio::sync::{oneshot, watch};

use crate::args::{Args, Config};
use crate::chart::Chart;
use crate::report::{Check, Latency, Limiter, Queue, Report};
use crate::sink::{Sink, Writers};
use crate::traffic::{Counters, FrontDoor, Traffic};

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints its own errors and exits with code 2.
    let config = Config::from_args(Args::parse());
    let json = config.json;
    // Ctrl-C is caught from before the first line: once the header is out,
    // a Ctrl-C stops the clients rather than killing the run. (Should the
    // handler fail to install, the run goes on without it.)
    let interrupts = Interrupts::new(true).ok();
    if !json {
        // A closed stdout is no reason to stop the run here: printing the
        // report fails later, and says so.
        let _ = print_text(&header(&config));
    }
    match run(config, interrupts).await {
        Ok(report) => {
            let text = if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => text + "\n",
                    Err(error) => {
                        eprintln!("error: cannot write the report as JSON: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                report.text()
            };
            exit_code(print_text(&text), if report.ok { 0 } else { 1 }, 1)
        }
        Err(failure) => failure.exit(1),
    }
}

/// What is about to run, printed before it starts (text mode).
fn header(c: &Config) -> String {
    format!(
        "chain: {} requests from {} bursty clients, offered at {}x the rate\n  \
         -> token bucket {}/s, burst {} -> queue of {} -> {} workers \
         -> retry (at most {} attempts, {:.0}% injected failures) -> SQLite\n  \
         seed {}, database {}\n",
        c.requests,
        c.clients,
        c.load,
        c.rate,
        c.burst,
        c.queue_capacity,
        c.workers,
        c.max_attempts,
        c.failure_rate * 100.0,
        c.seed,
        c.db.display()
    )
}

/// Derives an independent seed for `stream` from the run's `seed`
/// (SplitMix64's finaliser): the clients and the failure injection each
/// get their own sequence, reproducible from `--seed`.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream of [`mix`] that seeds the injected failures (clients use
/// their index).
const FAILURE_STREAM: u64 = u64::MAX;

/// Builds the chain, runs the clients through it, drains it, and measures.
async fn run(config: Config, interrupts: Option<Interrupts>) -> Result<Report, Failure> {
    // Settings the primitives validate themselves: a typed error, never a
    // panic. (clap's ranges already exclude the bad values.)
    let quota = Quota::per_second(config.rate)
        .and_then(|quota| quota.with_burst(config.burst))
        .map_err(|e| Failure::Usage(format!("invalid --rate or --burst: {e}")))?;
    let policy = sink::policy(config.max_attempts)
        .map_err(|e| Failure::Usage(format!("invalid --max-attempts: {e}")))?;

    // The end of the chain: one database file, one connection per worker.
    let db = config.db.display().to_string();
    let store =
        Store::create(&config.db).map_err(|e| Failure::Run(format!("cannot create {db}: {e}")))?;
    let writers = Writers::open(store.clone(), config.workers)
        .map_err(|e| Failure::Run(format!("cannot open {db}: {e}")))?;
    let counters = Arc::new(Counters::default());
    let sink = Sink::new(
        writers,
        policy,
        config.failure_rate,
        mix(config.seed, FAILURE_STREAM),
        Arc::clone(&counters),
    )
    .map_err(|e| Failure::Run(format!("cannot make the latency histogram: {e}")))?;

    // Admission: a token bucket on tokio's clock. Bounded queue and
    // workers: a distributor whose workers are tokio tasks.
    let bucket = TokenBucket::builder(quota).clock(TokioClock).build();
    let pool = sluicegate::distributor::builder(config.workers, config.queue_capacity)
        .build(TokioSpawner::new())
        .map_err(|e| Failure::Usage(format!("invalid --workers or --queue-capacity: {e}")))?;
    let door = Arc::new(FrontDoor {
        bucket,
        pool,
        sink: Arc::new(sink),
        counters: Arc::clone(&counters),
    });

    let start = Instant::now();
    let progress = progress_bar(&config);
    let (stop_sampling, sampling) = oneshot::channel();
    let sampler = tokio::spawn(sampler::run(
        Arc::clone(&door),
        start,
        config.sample_interval,
        progress.clone(),
        sampling,
    ));

    // Ctrl-C stops the clients; everything admitted is still written and
    // the report still adds up. A second Ctrl-C exits at once.
    let (stop_clients, stop) = watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        if let Some(mut interrupts) = interrupts {
            if interrupts.next().await.is_some() {
                let _ = stop_clients.send(true);
                if interrupts.next().await.is_some() {
                    eprintln!("\ninterrupted twice: exiting without a report");
                    std::process::exit(130);
                }
            }
        }
        // Keep the sender alive: a closed channel would wake the clients.
        std::future::pending::<()>().await;
    });

    // The clients. Each gets its share of the requests and its own seed.
    let traffic = Traffic {
        per_client: f64::from(config.rate) * config.load / f64::from(config.clients),
        wave_period: config.wave_period,
        start,
    };
    let clients: Vec<_> = (0..config.clients)
        .map(|i| {
            tokio::spawn(traffic::client(
                i,
                traffic::share(config.requests, config.clients, i),
                mix(config.seed, u64::from(i)),
                traffic,
                Arc::clone(&door),
                stop.clone(),
            ))
        })
        .collect();
    for client in clients {
        client
            .await
            .map_err(|e| Failure::Run(format!("a client task failed: {e}")))?;
    }
    let offering = start.elapsed();
    let interrupted = *stop.borrow();

    // Drain: a graceful shutdown stops taking jobs, runs everything queued
    // and waits for the workers. It hands nothing back unless the pool was
    // aborted; a job that did come back would be run here, not dropped.
    let Stopped {
        handed_back,
        stats: pool_stats,
        ..
    } = door.pool.shutdown().await;
    for job in handed_back {
        let _ = job.await;
    }
    let elapsed = start.elapsed();
    let _ = stop_sampling.send(());
    let samples = sampler
        .await
        .map_err(|e| Failure::Run(format!("the sampler failed: {e}")))?;
    progress.finish_and_clear();

    // The cross-check: count the rows on a fresh connection.
    let rows = tokio::task::spawn_blocking(move || store.count())
        .await
        .map_err(|e| Failure::Run(format!("counting the rows failed: {e}")))?
        .map_err(|e| Failure::Run(format!("cannot count the rows in {db}: {e}")))?;
    ctrl_c.abort();

    let counts = counters.snapshot();
    let limiter = Limiter::from(door.bucket.stats());
    let distributor = report::Distributor::new(&pool_stats, config.workers);
    let queue = Queue {
        capacity: config.queue_capacity,
        high_watermark: pool_stats.high_watermark,
        full_events: pool_stats.full_events,
    };
    let mut checks = report::checks(
        &counts,
        rows,
        &limiter,
        &distributor,
        queue.high_watermark,
        queue.capacity,
    );

    let chart_path = config.chart.display().to_string();
    let svg = Chart {
        samples: &samples,
        configured_rate: f64::from(config.rate),
        queue_capacity: config.queue_capacity,
        subtitle: &subtitle(&config),
    }
    .render();
    let written = std::fs::write(&config.chart, svg);
    checks.push(Check {
        name: match &written {
            Ok(()) => format!("chart written to {chart_path}"),
            Err(e) => format!("chart written to {chart_path}: {e}"),
        },
        ok: written.is_ok(),
    });

    let per_sec = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(Report {
        offered: counts.offered,
        rejected_limiter: counts.rejected_limiter,
        rejected_queue_full: counts.rejected_queue_full,
        rejected_closed: counts.rejected_closed,
        admitted: counts.admitted,
        retried: counts.retried_busy + counts.retried_injected,
        retried_busy: counts.retried_busy,
        retried_injected: counts.retried_injected,
        succeeded: counts.succeeded,
        failed_after_retries: counts.failed_after_retries,
        failed_permanent: counts.failed_permanent,
        lost: report::lost(&counts),
        rows_in_db: rows,
        configured_rate: f64::from(config.rate),
        delivered_rate: per_sec(counts.admitted, offering),
        offered_rate: per_sec(counts.offered, offering),
        throughput: per_sec(counts.succeeded, elapsed),
        offering_ms: offering.as_secs_f64() * 1e3,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        latency_ms: Latency::from_micros(&door.sink.latency()),
        queue,
        limiter,
        distributor,
        interrupted,
        first_error: door.sink.first_error(),
        chart: chart_path,
        db: config.db.display().to_string(),
        ok: checks.iter().all(|c| c.ok),
        checks,
        config,
    })
}

/// The chart's second line: the settings that shape it.
fn subtitle(c: &Config) -> String {
    format!(
        "{} requests, {} clients at {}x; token bucket {}/s burst {}; queue {}; {} workers; \
         {:.0}% injected failures; seed {}",
        c.requests,
        c.clients,
        c.load,
        c.rate,
        c.burst,
        c.queue_capacity,
        c.workers,
        c.failure_rate * 100.0,
        c.seed
    )
}

/// A progress bar on stderr, counting offered requests; hidden when stderr
/// is not a terminal, and with `--json` or `--quiet`.
fn progress_bar(config: &Config) -> ProgressBar {
    if config.json || config.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(config.requests), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed:>3} [{bar:25}] {pos}/{len} offered: {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_seeds_differ_by_stream_and_are_stable() {
        assert_eq!(mix(42, 1), mix(42, 1));
        assert_ne!(mix(42, 1), mix(42, 2));
        assert_ne!(mix(42, 1), mix(43, 1));
        // SplitMix64's first output from state 0.
        assert_eq!(mix(0x9E37_79B9_7F4A_7C15, 0), 0xE220_A839_7B1D_CDAF);
    }
}
