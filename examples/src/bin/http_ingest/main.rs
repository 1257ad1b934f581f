//! `http_ingest`: an HTTP ingestion service (axum) built from sluicegate's
//! primitives, for "a million requests a minute": accept fast, queue, write
//! in batches.
//!
//! - `POST /payloads` takes a JSON array of `{"client": u32, "payload":
//!   string}`. A token bucket's tower layer admits the request or answers
//!   `429` with `Retry-After`; axum's body limit answers `413`; bad JSON (not
//!   JSON, or the wrong shape) gets `400`, a body not labelled
//!   `application/json` `415`. The server assigns the rows their ids and
//!   submits ONE distributor job per request; the answer is `202 Accepted`
//!   with the job id and the item count, or `503` with `Retry-After` when
//!   the queue is full. A job inserts its whole collection into SQLite in
//!   one transaction, retried with backoff while the database is busy;
//!   jobs that wait on the same writer connection share a transaction
//!   (group commit, see `sink.rs`), which is what lets SQLite keep up.
//! - `GET /stats` shows the token bucket's, the distributor's (and its
//!   queue's), the retries' and the server's counters, and the rows in the
//!   database, as JSON.
//! - SIGINT or SIGTERM: stop accepting connections, finish the requests in
//!   flight, run every queued job, then print a summary and exit: `0` if
//!   nothing was lost (`accepted_items == written_items + failed_items` and
//!   the database holds exactly `written_items` rows), `1` otherwise.
//!
//! The first line on stdout is `listening on http://ADDR`, so a script can
//! start it on port 0 and read the port. The `loadgen` binary drives it.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin http_ingest -- --db /tmp/ingest.db
//! cargo run --release -p sluicegate-examples --bin loadgen -- --url http://127.0.0.1:3000
//! ```
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]

mod app;
mod sink;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use clap::builder::RangedU64ValueParser;
use serde_json::json;
use sluicegate::distributor;
use sluicegate::retry::{Jitter, Policy};
use sluicegate::rt::TokioSpawner;
use sluicegate::token_bucket::{Quota, TokenBucket};
use sluicegate_examples::cli::{probability, random_seed};
use sluicegate_examples::db::Store;
use sluicegate_examples::report::print_line;
use sluicegate_examples::signal::Interrupts;
use tokio::sync::watch;

use crate::app::{App, pool_json, router, snapshot};
use crate::sink::{Sink, get};

/// The command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "http_ingest",
    about = "An HTTP ingestion service: token bucket -> distributor -> retry -> SQLite"
)]
pub(crate) struct Config {
    /// Address to listen on (port 0: any free port; the first line printed
    /// says which).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// SQLite database file; created, or emptied if it exists.
    #[arg(long, default_value = "http_ingest.db")]
    db: PathBuf,
    /// Admitted requests per period on average: `N` or `N/s`, `N/min`, `N/h`.
    #[arg(long, default_value = "20000/s", value_parser = parse_rate)]
    rate: Rate,
    /// Requests admitted at once after a quiet spell.
    #[arg(long, default_value_t = 2000)]
    burst: u32,
    /// Jobs the write queue holds; a request finding it full gets 503.
    #[arg(long, default_value_t = 1024)]
    queue_capacity: usize,
    /// Distributor workers: jobs in progress at once. A job mostly waits
    /// for its lane's group commit, so many workers make large groups
    /// (at most 65536; each is a task).
    // 0 is let through: the distributor's builder rejects it, typed.
    #[arg(long, default_value_t = 256, value_parser = RangedU64ValueParser::<usize>::new().range(0..=65_536))]
    workers: usize,
    /// SQLite connections (lanes), each committing the jobs waiting on it
    /// in one transaction; more than one collide on the write lock
    /// (`SQLITE_BUSY`, retried).
    #[arg(long, default_value_t = 2, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    writers: usize,
    /// Largest request body in bytes; larger gets 413.
    #[arg(long, default_value_t = 64 * 1024)]
    body_limit: usize,
    /// Share of write attempts that fail on purpose with a transient error,
    /// to exercise the retry (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    failure_rate: f64,
    /// Most attempts per transaction, the first one included.
    #[arg(long, default_value_t = 20)]
    max_attempts: u32,
    /// Seed for the failure injection and the retry jitter.
    #[arg(long)]
    seed: Option<u64>,
    /// Hold every job, unwritten, until shutdown begins: makes a full
    /// queue (503) and the drain on SIGTERM reproducible, for tests and
    /// demonstrations.
    #[arg(long)]
    hold_until_shutdown: bool,
}

/// A rate: `count` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    count: u32,
    period: Duration,
    unit: &'static str,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit)
    }
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    let (count, unit) = text.split_once('/').unwrap_or((text, "s"));
    let (period, unit) = match unit {
        "s" | "sec" => (Duration::from_secs(1), "s"),
        "m" | "min" => (Duration::from_secs(60), "min"),
        "h" | "hour" => (Duration::from_secs(3600), "h"),
        other => return Err(format!("unknown period '{other}': use s, min or h")),
    };
    let count = count
        .parse()
        .map_err(|e| format!("'{count}' is not a count: {e}"))?;
    Ok(Rate {
        count,
        period,
        unit,
    })
}

/// The retry policy for one batch: exponential backoff from 1 ms, doubling,
/// capped at 50 ms, full jitter (many writers collide on one lock).
fn write_policy(config: &Config, seed: u64) -> Result<Policy, String> {
    Policy::exponential(Duration::from_millis(1))
        .factor(2.0)
        .max_delay(Duration::from_millis(50))
        .jitter(Jitter::Full)
        .max_attempts(config.max_attempts)
        .seed(seed)
        .build()
        .map_err(|e| format!("invalid retry policy: {e}"))
}

fn main() -> ExitCode {
    let config = Config::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(Setup(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// A problem before the service could start.
#[derive(Debug)]
struct Setup(String);

impl<E: fmt::Display> From<E> for Setup {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

/// Runs the service until a signal, then drains and reports. `Ok(true)`
/// when nothing was lost.
async fn run(config: Config) -> Result<bool, Setup> {
    let quota = Quota::new(config.rate.count, config.rate.period)
        .and_then(|q| q.with_burst(config.burst))
        .map_err(|e| format!("invalid --rate/--burst: {e}"))?;
    let bucket = TokenBucket::new(quota);
    let seed = config.seed.unwrap_or_else(random_seed);
    let policy = write_policy(&config, seed)?;
    let pool = distributor::builder(config.workers, config.queue_capacity)
        .build(TokioSpawner::new())
        .map_err(|e| format!("invalid --workers/--queue-capacity: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr()?;
    // Only now, with every setting checked and the port bound, is the
    // database created (or emptied).
    let store = Store::create(&config.db)
        .map_err(|e| format!("cannot create {}: {e}", config.db.display()))?;
    let (release, held) = watch::channel(!config.hold_until_shutdown);
    let sink = Arc::new(Sink::new(
        store,
        config.writers,
        policy,
        config.failure_rate,
        seed,
        held,
    ));
    let mut interrupts = Interrupts::new(true)?;

    let app = Arc::new(App::new(config.clone(), bucket, pool, Arc::clone(&sink)));
    print_line(&format!("listening on http://{addr}"));
    print_line(&format!(
        "rate {} burst {}, {} workers, {} writers, queue {}, body limit {} bytes, failure rate {}, at most {} attempts{}",
        config.rate,
        config.burst,
        config.workers,
        config.writers,
        config.queue_capacity,
        config.body_limit,
        config.failure_rate,
        config.max_attempts,
        if config.hold_until_shutdown {
            ", jobs held until shutdown"
        } else {
            ""
        },
    ));

    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        // Small requests and answers: do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
    });
    let shutdown = async move {
        let name = interrupts.next().await.unwrap_or("the end of the signals");
        print_line(&format!(
            "{name}: no new connections; finishing requests in flight"
        ));
    };
    axum::serve(listener, router(Arc::clone(&app)))
        .with_graceful_shutdown(shutdown)
        .await?;

    let before = app.pool.stats();
    print_line(&format!(
        "draining {} queued and {} running jobs",
        before.queued, before.running
    ));
    let _ = release.send(true);
    let stopped = app.pool.shutdown().await;
    // `shutdown` runs everything queued; jobs come back only from a
    // cancelled or aborted pool. Should any come back, run them here.
    let handed_back = stopped.handed_back.len();
    for job in stopped.handed_back {
        let _ = job.await;
    }

    let counters = &sink.counters;
    let accepted_items = get(&counters.accepted_items);
    let written_items = get(&counters.written_items);
    let failed_items = get(&counters.failed_items);
    let store = sink.store().clone();
    let rows = tokio::task::spawn_blocking(move || store.count())
        .await
        .map_err(|e| e.to_string())
        .and_then(|rows| rows.map_err(|e| e.to_string()));
    let (rows, rows_ok) = match rows {
        Ok(rows) => (json!(rows), rows == written_items),
        Err(error) => (json!({ "error": error }), false),
    };
    let lost = i128::from(accepted_items) - i128::from(written_items) - i128::from(failed_items);
    let balanced = stopped.stats.is_balanced();
    let ok = lost == 0 && rows_ok && balanced;
    let stats = snapshot(&app);
    let summary = json!({
        "accepted_requests": get(&counters.accepted_requests),
        "accepted_items": accepted_items,
        "written_items": written_items,
        "failed_items": failed_items,
        "rows_in_db": rows,
        "lost": lost,
        "handed_back": handed_back,
        "ok": ok,
        "responses": stats["server"]["responses"],
        "commit": stats["commit"],
        "retry": stats["retry"],
        "token_bucket": stats["token_bucket"],
        "distributor": pool_json(&stopped.stats),
    });
    print_line(&format!(
        "drained: accepted {} items in {} requests, wrote {written_items}, failed {failed_items}, lost {lost}, rows in db {rows}",
        accepted_items,
        get(&counters.accepted_requests),
    ));
    print_line(&format!("summary: {summary}"));
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_a_count_and_a_period() {
        let rate = |count, secs, unit| Rate {
            count,
            period: Duration::from_secs(secs),
            unit,
        };
        assert_eq!(parse_rate("20000"), Ok(rate(20000, 1, "s")));
        assert_eq!(parse_rate("5/s"), Ok(rate(5, 1, "s")));
        assert_eq!(parse_rate("1000000/min"), Ok(rate(1_000_000, 60, "min")));
        assert_eq!(parse_rate("1/h"), Ok(rate(1, 3600, "h")));
        assert_eq!(
            parse_rate("1/h").map(|r| r.to_string()),
            Ok("1/h".to_owned())
        );
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("many/s").is_err());
        assert!(parse_rate("-1").is_err());
    }

    #[test]
    fn the_command_line_parses_and_checks_its_values() {
        let config = Config::try_parse_from(["http_ingest"]).expect("defaults");
        assert_eq!(config.rate.to_string(), "20000/s");
        assert_eq!((config.workers, config.writers), (256, 2));
        assert!(Config::try_parse_from(["http_ingest", "--failure-rate", "2"]).is_err());
        assert!(Config::try_parse_from(["http_ingest", "--addr", "nowhere"]).is_err());
        // Counts that would spawn or open without bound are refused before
        // anything starts (they used to hang the process or abort it on a
        // failed allocation).
        for args in [
            ["--workers", "65537"],
            ["--writers", "0"],
            ["--writers", "100000000"],
        ] {
            let error = Config::try_parse_from(["http_ingest", args[0], args[1]]).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let most =
            Config::try_parse_from(["http_ingest", "--workers", "65536", "--writers", "1024"]);
        assert_eq!(
            most.map(|c| (c.workers, c.writers)).ok(),
            Some((65_536, 1024))
        );
    }
}
