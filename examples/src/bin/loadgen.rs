//! `loadgen`: drives `http_ingest` over HTTP/1.1 keep-alive connections and
//! checks that what the server accepted is what the database holds.
//!
//! `--concurrency` tasks share `--requests` POSTs to `/payloads`, each with
//! `--items` items, over hyper-util's pooled client (one connection per
//! task). With `--bad PERCENT`, that share of the requests is broken on
//! purpose, alternately too large for the server's body limit (read from
//! `/stats`: expect `413`) and malformed JSON (expect `400`). Every answer is
//! counted by status; an answer a request should not get (a `202` for a
//! broken body, a `500`...) is an error.
//!
//! At the end it waits until the server has written (or given up on) every
//! item it accepted (`GET /stats`), then compares, as differences
//! between the `/stats` read before (once the server has finished what it
//! accepted earlier) and after the run, so it can run against a server that
//! already took requests, as long as nobody else sends any meanwhile:
//!
//! ```text
//! items in 202 answers == server's accepted_items
//!                      == new rows in the database + items whose write failed
//! ```
//!
//! and prints throughput and latency (p50/p90/p99/max, hdrhistogram).
//! Exit code: 0 when everything matches, 1 on a mismatch, a transport error
//! or an unexpected status, 2 on a bad command line or an unreachable server.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin loadgen -- --url http://127.0.0.1:3000 --requests 100000
//! ```
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use clap::builder::RangedU64ValueParser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluicegate_examples::report::print_line;

/// The command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for http_ingest: send, count, check nothing was lost"
)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Requests to send in all.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Requests in flight at once (one keep-alive connection each), at
    /// most 4096.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    concurrency: u64,
    /// Items in each request's collection, 1 to 100000.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    items: u32,
    /// Bytes of each item's payload string, at most 1 MiB.
    #[arg(long, default_value_t = 32, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1 << 20))]
    payload_bytes: usize,
    /// Percentage of requests broken on purpose, alternately oversized
    /// (expect 413) and malformed JSON (expect 400), 0 to 100.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    bad: u8,
    /// Longest wait for the server's queue to drain after the last answer.
    #[arg(long, default_value_t = 60)]
    drain_timeout_secs: u64,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What a request carries, and so which answers it may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Good,
    Oversized,
    Malformed,
}

impl Kind {
    /// Request `i` of the run: `bad` percent are broken, alternately
    /// oversized and malformed. Deterministic, so counts are exact.
    fn of(i: u64, bad: u8) -> Self {
        if i % 100 >= u64::from(bad) {
            Self::Good
        } else if i % 2 == 0 {
            Self::Oversized
        } else {
            Self::Malformed
        }
    }

    /// The answers this kind of request may get. The rate limit (429) comes
    /// before the body is read, so any request may meet it.
    fn allows(self, status: u16) -> bool {
        matches!(
            (self, status),
            (_, 429) | (Self::Good, 202 | 503) | (Self::Oversized, 413) | (Self::Malformed, 400)
        )
    }
}

/// One task's counts, merged at the end.
#[derive(Debug)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    accepted_requests: u64,
    accepted_items: u64,
    sent: BTreeMap<&'static str, u64>,
    transport_errors: u64,
    unexpected: u64,
    first_problem: Option<String>,
    latency_us: Histogram<u64>,
}

impl Tally {
    fn new() -> Result<Self, String> {
        Ok(Self {
            statuses: BTreeMap::new(),
            accepted_requests: 0,
            accepted_items: 0,
            sent: BTreeMap::new(),
            transport_errors: 0,
            unexpected: 0,
            first_problem: None,
            // 1 us to 1 hour, 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| e.to_string())?,
        })
    }

    fn problem(&mut self, what: String) {
        self.first_problem.get_or_insert(what);
    }

    fn merge(&mut self, other: Self) -> Result<(), String> {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.sent {
            *self.sent.entry(kind).or_default() += n;
        }
        self.accepted_requests += other.accepted_requests;
        self.accepted_items += other.accepted_items;
        self.transport_errors += other.transport_errors;
        self.unexpected += other.unexpected;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.latency_us
            .add(&other.latency_us)
            .map_err(|e| e.to_string())
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The client and the URLs.
#[derive(Debug, Clone)]
struct Target {
    client: HttpClient,
    payloads: Uri,
    stats: Uri,
}

impl Target {
    fn new(base: &str, connections: usize) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        let uri = |path: &str| -> Result<Uri, String> {
            format!("{base}{path}")
                .parse()
                .map_err(|e| format!("invalid --url '{base}': {e}"))
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build(connector);
        Ok(Self {
            client,
            payloads: uri("/payloads")?,
            stats: uri("/stats")?,
        })
    }

    /// One POST; the status and the body.
    async fn post(&self, body: Bytes) -> Result<(u16, Bytes), String> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.payloads.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("POST {}: {e:?}", self.payloads))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading an answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// GET /stats, parsed.
    async fn stats(&self) -> Result<Value, String> {
        let request = Request::builder()
            .uri(self.stats.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("GET {}: {e}", self.stats))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading /stats: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("GET {} answered {status}", self.stats));
        }
        serde_json::from_slice(&body).map_err(|e| format!("/stats is not JSON: {e}"))
    }
}

/// The largest oversized body loadgen builds: past it, `--bad` is refused
/// (the server's body limit is read from `/stats`).
const MAX_OVERSIZED: usize = 64 << 20;

/// The three request bodies.
#[derive(Debug, Clone)]
struct Bodies {
    good: Bytes,
    oversized: Bytes,
    malformed: Bytes,
}

/// One item of a collection.
fn item(client: u64, n: u32, payload: &str) -> Value {
    json!({ "client": client, "payload": format!("{n}:{payload}") })
}

/// A valid collection one item past `body_limit` bytes: only its size is
/// wrong. Built once and shared by every task (a `Bytes` clone is a
/// reference count), and only when requests are broken on purpose: the
/// server's limit may be large.
fn oversized(body_limit: usize, payload_bytes: usize) -> Bytes {
    let payload = "x".repeat(payload_bytes);
    let mut oversized = String::from("[");
    let mut n = 0;
    while oversized.len() < body_limit {
        if n > 0 {
            oversized.push(',');
        }
        oversized.push_str(&item(0, n, &payload).to_string());
        n += 1;
    }
    oversized.push(']');
    Bytes::from(oversized)
}

impl Bodies {
    /// Client `client`'s good and malformed bodies, and the shared
    /// `oversized` one.
    fn new(client: u64, items: u32, payload_bytes: usize, oversized: Bytes) -> Self {
        let payload = "x".repeat(payload_bytes);
        let good = Value::Array((0..items).map(|n| item(client, n, &payload)).collect());
        let malformed = format!("[{{\"client\": {client}, \"payload\": \"unterminated");
        Self {
            good: Bytes::from(good.to_string()),
            oversized,
            malformed: Bytes::from(malformed),
        }
    }

    fn get(&self, kind: Kind) -> Bytes {
        match kind {
            Kind::Good => self.good.clone(),
            Kind::Oversized => self.oversized.clone(),
            Kind::Malformed => self.malformed.clone(),
        }
    }
}

/// One task: takes request numbers until there are none left.
async fn drive(
    target: Target,
    bodies: Bodies,
    next: Arc<AtomicU64>,
    args: Arc<Args>,
) -> Result<Tally, String> {
    let mut tally = Tally::new()?;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= args.requests {
            return Ok(tally);
        }
        let kind = Kind::of(i, args.bad);
        *tally
            .sent
            .entry(match kind {
                Kind::Good => "good",
                Kind::Oversized => "oversized",
                Kind::Malformed => "malformed",
            })
            .or_default() += 1;
        let start = Instant::now();
        let answer = target.post(bodies.get(kind)).await;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        tally.latency_us.saturating_record(micros.max(1));
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                tally.transport_errors += 1;
                tally.problem(format!("a {kind:?} request: {error}"));
                continue;
            }
        };
        *tally.statuses.entry(status).or_default() += 1;
        if !kind.allows(status) {
            tally.unexpected += 1;
            tally.problem(format!(
                "a {kind:?} request got {status}: {}",
                String::from_utf8_lossy(&body)
            ));
            continue;
        }
        if status == 202 {
            let items = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["items"].as_u64());
            match items {
                Some(items) => {
                    tally.accepted_requests += 1;
                    tally.accepted_items += items;
                    if items != u64::from(args.items) {
                        tally.unexpected += 1;
                        tally.problem(format!("sent {} items, 202 says {items}", args.items));
                    }
                }
                None => {
                    tally.unexpected += 1;
                    tally.problem(format!(
                        "a 202 without an item count: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
        }
    }
}

/// A number at `path` in a `/stats` answer.
fn number(stats: &Value, path: &[&str]) -> Result<u64, String> {
    let mut value = stats;
    for key in path {
        value = &value[key];
    }
    value
        .as_u64()
        .ok_or_else(|| format!("/stats has no number at {}", path.join(".")))
}

/// Polls `/stats` until the server has finished every item it accepted
/// (`accepted_items == written_items + failed_items`, and every job the
/// distributor took has ended), then reads `/stats` once more, so that the
/// row count is taken after the last commit. `Ok(None)` if that did not
/// happen before the timeout.
///
/// (`queued == 0 && running == 0` is not enough: between a worker taking a
/// job off the queue and counting it as running, a snapshot sees neither.)
async fn drained(target: &Target, timeout: Duration) -> Result<Option<(Value, Duration)>, String> {
    let start = Instant::now();
    loop {
        let stats = target.stats().await?;
        let n = |path: &[&str]| number(&stats, path);
        let items_done = n(&["server", "accepted_items"])?
            == n(&["server", "written_items"])? + n(&["server", "failed_items"])?;
        let jobs_done = n(&["distributor", "submitted"])?
            == n(&["distributor", "completed"])?
                + n(&["distributor", "failed"])?
                + n(&["distributor", "panicked"])?
                + n(&["distributor", "cancelled"])?
                + n(&["distributor", "handed_back"])?;
        if items_done && jobs_done {
            return Ok(Some((target.stats().await?, start.elapsed())));
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Arc::new(Args::parse());
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load and prints the summary; `Ok(true)` when everything matched.
async fn run(args: Arc<Args>) -> Result<bool, String> {
    let connections = usize::try_from(args.concurrency).map_err(|e| e.to_string())?;
    let target = Target::new(&args.url, connections)?;
    // The baseline: once whatever the server accepted before is written,
    // so that only this run's items show in the differences.
    let timeout = Duration::from_secs(args.drain_timeout_secs);
    let before = match drained(&target, timeout).await? {
        Some((before, _)) => before,
        None => {
            return Err(format!(
                "the server did not finish its earlier work within {timeout:?}"
            ));
        }
    };
    let body_limit = number(&before, &["config", "body_limit"])?;
    let body_limit = usize::try_from(body_limit).map_err(|e| e.to_string())?;
    if !args.json {
        print_line(&format!(
            "loadgen: {} requests to {}, {} connections, {} items each, {}% bad",
            args.requests, target.payloads, args.concurrency, args.items, args.bad
        ));
    }

    let oversized = if args.bad == 0 {
        Bytes::new()
    } else if body_limit > MAX_OVERSIZED {
        return Err(format!(
            "the server's body limit ({body_limit} bytes) is above the {MAX_OVERSIZED} bytes \
             loadgen builds an oversized request for: use --bad 0"
        ));
    } else {
        oversized(body_limit, args.payload_bytes)
    };

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|client| {
            let bodies = Bodies::new(client, args.items, args.payload_bytes, oversized.clone());
            tokio::spawn(drive(
                target.clone(),
                bodies,
                Arc::clone(&next),
                Arc::clone(&args),
            ))
        })
        .collect();
    let mut tally = Tally::new()?;
    for task in tasks {
        let part = task
            .await
            .map_err(|e| format!("a sender task failed: {e}"))??;
        tally.merge(part)?;
    }
    let elapsed = start.elapsed();

    let (after, drain, drained_ok) = match drained(&target, timeout).await? {
        Some((after, drain)) => (after, drain, true),
        None => {
            eprintln!("error: the server did not drain its queue within {timeout:?}");
            (target.stats().await?, timeout, false)
        }
    };
    let delta = |path: &[&str]| -> Result<u64, String> {
        Ok(number(&after, path)?.saturating_sub(number(&before, path)?))
    };
    let server_accepted = delta(&["server", "accepted_items"])?;
    let rows = delta(&["db", "rows"])?;
    let failed = delta(&["server", "failed_items"])?;
    let lost = i128::from(tally.accepted_items) - i128::from(rows) - i128::from(failed);
    let matched = lost == 0 && server_accepted == tally.accepted_items && drained_ok;
    let ok = matched && tally.transport_errors == 0 && tally.unexpected == 0;

    let secs = elapsed.as_secs_f64().max(1e-9);
    let rps = args.requests as f64 / secs;
    let h = &tally.latency_us;
    let statuses: BTreeMap<String, u64> = tally
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    if args.json {
        let summary = json!({
            "url": args.url,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "items_per_request": args.items,
            "sent": tally.sent,
            "statuses": statuses,
            "transport_errors": tally.transport_errors,
            "unexpected": tally.unexpected,
            "first_problem": tally.first_problem,
            "accepted_requests": tally.accepted_requests,
            "accepted_items": tally.accepted_items,
            "server_accepted_items": server_accepted,
            "rows": rows,
            "failed_items": failed,
            "lost": lost,
            "drained": drained_ok,
            "match": matched,
            "ok": ok,
            "elapsed_secs": elapsed.as_secs_f64(),
            "requests_per_sec": rps,
            "latency_us": {
                "p50": h.value_at_quantile(0.50),
                "p90": h.value_at_quantile(0.90),
                "p99": h.value_at_quantile(0.99),
                "max": h.max(),
            },
        });
        print_line(&format!("{summary}"));
    } else {
        print_line(&format!(
            "sent {} requests in {:.2} s: {:.0} requests/s, {:.0} items/s accepted ({:.0}% of the 16667 requests/s of a million a minute)",
            args.requests,
            secs,
            rps,
            tally.accepted_items as f64 / secs,
            rps / (1_000_000.0 / 60.0) * 100.0,
        ));
        let answers: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} x {n}")).collect();
        print_line(&format!(
            "answers: {}; transport errors {}; unexpected {}",
            answers.join(", "),
            tally.transport_errors,
            tally.unexpected
        ));
        print_line(&format!(
            "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            h.value_at_quantile(0.50) as f64 / 1000.0,
            h.value_at_quantile(0.90) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
        ));
        print_line(&format!(
            "accepted {} items in {} requests; server says {server_accepted}; drained in {:.2} s",
            tally.accepted_items,
            tally.accepted_requests,
            drain.as_secs_f64()
        ));
        print_line(&format!(
            "database: {rows} new rows, {failed} items failed to write; lost {lost}"
        ));
        if let Some(problem) = &tally.first_problem {
            print_line(&format!("first problem: {problem}"));
        }
        print_line(&format!("match: {}", if matched { "yes" } else { "NO" }));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_share_is_exact_and_split_in_two() {
        let count = |bad, kind| (0..1000).filter(|&i| Kind::of(i, bad) == kind).count();
        assert_eq!(count(0, Kind::Good), 1000);
        assert_eq!(count(10, Kind::Oversized), 50);
        assert_eq!(count(10, Kind::Malformed), 50);
        assert_eq!(count(100, Kind::Good), 0);
    }

    #[test]
    fn each_kind_allows_its_answers_and_429() {
        assert!(Kind::Good.allows(202) && Kind::Good.allows(503) && Kind::Good.allows(429));
        assert!(!Kind::Good.allows(400) && !Kind::Good.allows(500));
        assert!(Kind::Oversized.allows(413) && !Kind::Oversized.allows(202));
        assert!(Kind::Malformed.allows(400) && !Kind::Malformed.allows(413));
    }

    #[test]
    fn the_oversized_body_is_valid_json_just_over_the_limit() {
        let bodies = Bodies::new(3, 2, 8, oversized(1024, 8));
        assert!(bodies.oversized.len() > 1024);
        assert!(bodies.oversized.len() < 1024 + 100);
        let parsed: Value = serde_json::from_slice(&bodies.oversized).expect("valid JSON");
        assert!(parsed.is_array());
        let good: Value = serde_json::from_slice(&bodies.good).expect("valid JSON");
        assert_eq!(good.as_array().map(Vec::len), Some(2));
        assert!(serde_json::from_slice::<Value>(&bodies.malformed).is_err());
    }
}
