//! The report: every count, the accounting checks, rates and latency, as
//! text or JSON.

use std::fmt::{self, Write as _};

use hdrhistogram::Histogram;
use serde::Serialize;
use sluicegate::distributor;
use sluicegate::token_bucket;

use crate::args::Config;
use crate::traffic::Counts;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) config: Config,
    /// Requests the clients sent.
    pub(crate) offered: u64,
    /// Turned away by the token bucket.
    pub(crate) rejected_limiter: u64,
    /// Passed the bucket but found the queue full.
    pub(crate) rejected_queue_full: u64,
    /// Found the pool closed (only possible after shutdown: always 0).
    pub(crate) rejected_closed: u64,
    /// Taken into the queue.
    pub(crate) admitted: u64,
    /// Retries (attempts after the first), all causes.
    pub(crate) retried: u64,
    /// Retries after `SQLITE_BUSY` (another connection held the lock).
    pub(crate) retried_busy: u64,
    /// Retries after an injected failure.
    pub(crate) retried_injected: u64,
    /// Rows committed.
    pub(crate) succeeded: u64,
    /// Gave up after `max_attempts` transient failures.
    pub(crate) failed_after_retries: u64,
    /// Gave up at once on a permanent error.
    pub(crate) failed_permanent: u64,
    /// Admitted but neither succeeded nor failed: must be 0.
    pub(crate) lost: i64,
    /// `SELECT COUNT(*)` after the run: must equal `succeeded`.
    pub(crate) rows_in_db: u64,
    pub(crate) configured_rate: f64,
    /// Admitted per second while the clients were sending.
    pub(crate) delivered_rate: f64,
    /// Offered per second while the clients were sending.
    pub(crate) offered_rate: f64,
    /// Rows committed per second of the whole run (drain included).
    pub(crate) throughput: f64,
    /// From the start until the clients were done.
    pub(crate) offering_ms: f64,
    /// From the start until the last job finished.
    pub(crate) elapsed_ms: f64,
    pub(crate) latency_ms: Latency,
    pub(crate) queue: Queue,
    pub(crate) limiter: Limiter,
    pub(crate) distributor: Distributor,
    pub(crate) interrupted: bool,
    pub(crate) first_error: Option<String>,
    pub(crate) chart: String,
    pub(crate) db: String,
    pub(crate) checks: Vec<Check>,
    /// Every check passed.
    pub(crate) ok: bool,
}

/// Admission to commit, successes only.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    pub(crate) count: u64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

impl Latency {
    pub(crate) fn from_micros(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1e3;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1e3,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Queue {
    pub(crate) capacity: usize,
    pub(crate) high_watermark: usize,
    /// Submissions that found it full.
    pub(crate) full_events: u64,
}

/// The token bucket's own counters.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Limiter {
    pub(crate) admitted: u64,
    pub(crate) rejected: u64,
}

impl From<token_bucket::Stats> for Limiter {
    fn from(s: token_bucket::Stats) -> Self {
        Self {
            admitted: s.admitted,
            rejected: s.rejected,
        }
    }
}

/// The distributor's own counters, after shutdown.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Distributor {
    pub(crate) workers: usize,
    pub(crate) submitted: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) handed_back: u64,
    pub(crate) rejected: u64,
    pub(crate) balanced: bool,
}

impl Distributor {
    pub(crate) fn new(s: &distributor::Stats, workers: usize) -> Self {
        Self {
            workers,
            submitted: s.submitted,
            completed: s.completed,
            failed: s.failed,
            panicked: s.panicked,
            cancelled: s.cancelled,
            handed_back: s.handed_back,
            rejected: s.rejected,
            balanced: s.is_balanced(),
        }
    }
}

/// One accounting identity and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) ok: bool,
}

fn check(name: &str, left: u64, right: u64) -> Check {
    Check {
        name: format!("{name}: {left} = {right}"),
        ok: left == right,
    }
}

/// `admitted - (succeeded + failed)`: what was taken and never finished.
pub(crate) fn lost(c: &Counts) -> i64 {
    let finished = c.succeeded + c.failed_after_retries + c.failed_permanent;
    c.admitted as i64 - finished as i64
}

/// The identities a lossless run satisfies: our own counts add up, and
/// the limiter's, the distributor's and SQLite's counts agree with them.
pub(crate) fn checks(
    c: &Counts,
    rows: u64,
    limiter: &Limiter,
    pool: &Distributor,
    high_watermark: usize,
    capacity: usize,
) -> Vec<Check> {
    let failed = c.failed_after_retries + c.failed_permanent;
    vec![
        check(
            "offered = rejected_limiter + rejected_queue_full + rejected_closed + admitted",
            c.offered,
            c.rejected_limiter + c.rejected_queue_full + c.rejected_closed + c.admitted,
        ),
        Check {
            name: format!("lost = admitted - succeeded - failed = {}", lost(c)),
            ok: lost(c) == 0,
        },
        check("rows in SQLite = succeeded", rows, c.succeeded),
        check(
            "limiter rejected = rejected_limiter",
            limiter.rejected,
            c.rejected_limiter,
        ),
        check(
            "limiter admitted = admitted + rejected_queue_full + rejected_closed",
            limiter.admitted,
            c.admitted + c.rejected_queue_full + c.rejected_closed,
        ),
        check(
            "distributor submitted = admitted",
            pool.submitted,
            c.admitted,
        ),
        check(
            "distributor completed = succeeded",
            pool.completed,
            c.succeeded,
        ),
        check("distributor failed = failed", pool.failed, failed),
        check(
            "distributor panicked + cancelled + handed back = 0",
            pool.panicked + pool.cancelled + pool.handed_back,
            0,
        ),
        Check {
            name: "distributor stats balanced".to_owned(),
            ok: pool.balanced,
        },
        Check {
            name: format!("queue high watermark {high_watermark} <= capacity {capacity}"),
            ok: high_watermark <= capacity,
        },
    ]
}

/// `12.3%` of `whole`.
struct Percent(u64, u64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 == 0 {
            f.write_str("-")
        } else {
            write!(f, "{:.1}%", self.0 as f64 * 100.0 / self.1 as f64)
        }
    }
}

impl Report {
    /// The text report.
    pub(crate) fn text(&self) -> String {
        let mut s = String::new();
        let o = self.offered;
        let a = self.admitted;
        let line = |s: &mut String, name: &str, n: u64, of: u64| {
            let _ = writeln!(s, "  {name:<26}{n:>9}  {:>6}", Percent(n, of).to_string());
        };
        let _ = writeln!(s, "requests (share of offered)");
        line(&mut s, "offered", o, o);
        line(&mut s, "rejected by the limiter", self.rejected_limiter, o);
        line(&mut s, "rejected, queue full", self.rejected_queue_full, o);
        if self.rejected_closed > 0 {
            line(&mut s, "rejected, pool closed", self.rejected_closed, o);
        }
        line(&mut s, "admitted", a, o);
        let _ = writeln!(s, "admitted (share of admitted)");
        line(&mut s, "succeeded", self.succeeded, a);
        line(&mut s, "failed after retries", self.failed_after_retries, a);
        line(&mut s, "failed, permanent error", self.failed_permanent, a);
        let _ = writeln!(s, "  {:<26}{:>9}", "lost", self.lost);
        let _ = writeln!(
            s,
            "  {:<26}{:>9}  {}",
            "rows in SQLite",
            self.rows_in_db,
            if self.rows_in_db == self.succeeded {
                "= succeeded"
            } else {
                "!= succeeded"
            }
        );
        let _ = writeln!(
            s,
            "retries     {} ({} after SQLITE_BUSY, {} injected), {:.3} per admitted request",
            self.retried,
            self.retried_busy,
            self.retried_injected,
            if a == 0 {
                0.0
            } else {
                self.retried as f64 / a as f64
            }
        );
        let _ = writeln!(
            s,
            "rate        configured {:.0}/s, delivered {:.0}/s, offered {:.0}/s (over the {:.1} s of sending)",
            self.configured_rate,
            self.delivered_rate,
            self.offered_rate,
            self.offering_ms / 1e3
        );
        let _ = writeln!(
            s,
            "throughput  {:.0} rows/s ({} rows in {:.1} s, drain included)",
            self.throughput,
            self.succeeded,
            self.elapsed_ms / 1e3
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "latency     admission to commit: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} rows)",
            l.p50, l.p99, l.p999, l.max, l.count
        );
        let q = &self.queue;
        let _ = writeln!(
            s,
            "queue       capacity {}, high watermark {}, full events {}",
            q.capacity, q.high_watermark, q.full_events
        );
        let d = &self.distributor;
        let _ = writeln!(
            s,
            "distributor {} workers: submitted {}, completed {}, failed {}, panicked {}, cancelled {}, handed back {}, rejected {}{}",
            d.workers,
            d.submitted,
            d.completed,
            d.failed,
            d.panicked,
            d.cancelled,
            d.handed_back,
            d.rejected,
            if d.balanced {
                " (balanced)"
            } else {
                " (NOT balanced)"
            }
        );
        let passed = self.checks.iter().filter(|c| c.ok).count();
        let _ = writeln!(s, "checks      {passed} of {} passed", self.checks.len());
        for failed in self.checks.iter().filter(|c| !c.ok) {
            let _ = writeln!(s, "  FAILED: {}", failed.name);
        }
        if let Some(error) = &self.first_error {
            let _ = writeln!(s, "first permanent error: {error}");
        }
        if self.interrupted {
            let _ = writeln!(s, "interrupted: the clients stopped early (Ctrl-C)");
        }
        let _ = writeln!(
            s,
            "chart       {} (admitted rate and queue depth per {:.0} ms)",
            self.chart,
            self.config.sample_interval.as_secs_f64() * 1e3
        );
        let _ = writeln!(s, "database    {}", self.db);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced() -> (Counts, Limiter, Distributor) {
        let c = Counts {
            offered: 100,
            rejected_limiter: 20,
            rejected_queue_full: 5,
            admitted: 75,
            succeeded: 73,
            failed_after_retries: 2,
            retried_busy: 9,
            retried_injected: 4,
            ..Counts::default()
        };
        let limiter = Limiter {
            admitted: 80,
            rejected: 20,
        };
        let pool = Distributor {
            workers: 4,
            submitted: 75,
            completed: 73,
            failed: 2,
            panicked: 0,
            cancelled: 0,
            handed_back: 0,
            rejected: 5,
            balanced: true,
        };
        (c, limiter, pool)
    }

    #[test]
    fn a_lossless_run_passes_every_check() {
        let (c, limiter, pool) = balanced();
        let checks = checks(&c, 73, &limiter, &pool, 10, 10);
        assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
        assert_eq!(lost(&c), 0);
    }

    #[test]
    fn each_discrepancy_fails_its_check() {
        let (c, limiter, pool) = balanced();
        let failing = |c: &Counts, rows: u64, limiter: &Limiter, pool: &Distributor| {
            checks(c, rows, limiter, pool, 10, 10)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        // A job that vanished: lost, and the distributor disagrees.
        let vanished = Counts { succeeded: 72, ..c };
        let names = failing(&vanished, 72, &limiter, &pool);
        assert!(names.iter().any(|n| n.starts_with("lost")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("distributor completed")));
        assert_eq!(lost(&vanished), 1);
        // A row missing from SQLite.
        let names = failing(&c, 72, &limiter, &pool);
        assert_eq!(names, ["rows in SQLite = succeeded: 72 = 73"]);
        // An unbalanced pool.
        let names = failing(
            &c,
            73,
            &limiter,
            &Distributor {
                balanced: false,
                ..pool
            },
        );
        assert_eq!(names, ["distributor stats balanced"]);
        // A request counted nowhere.
        let names = failing(&Counts { offered: 101, ..c }, 73, &limiter, &pool);
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("offered ="));
    }

    #[test]
    fn percentages() {
        assert_eq!(Percent(1, 8).to_string(), "12.5%");
        assert_eq!(Percent(0, 0).to_string(), "-");
    }
}
