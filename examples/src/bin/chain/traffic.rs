//! The front of the chain: simulated bursty clients, and the door they
//! knock on (token bucket, then the distributor's bounded queue).
//!
//! Traffic comes in *waves*: a lull at a quarter of the mean offered rate,
//! then a surge at one and a half times it. Within a wave each client sends
//! bursts of 1 to 100 requests back to back, then pauses. The mean offered
//! rate is `--load` times `--rate`, so the limiter must reject some; after
//! each lull the bucket is full again and the surge's first bursts are
//! admitted all at once, more than the workers drain in that moment, so the
//! queue fills and rejects some too. Both rejections are answers the client
//! gets at once (think HTTP 429 and 503), counted, never silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sluicegate::distributor::{Distributor, SubmitError};
use sluicegate::retry::RetryError;
use sluicegate::rt::TokioClock;
use sluicegate::token_bucket::TokenBucket;
use tokio::sync::watch;

use crate::sink::{Request, Sink, WriteFailure};

/// The pool's job type: `Ok(())` once the row is committed, or why not.
pub(crate) type Pool = Distributor<(), RetryError<WriteFailure>>;

/// Most requests a client sends in one burst.
const MAX_CLIENT_BURST: u64 = 100;
/// Share of a wave spent in the lull.
const LULL_SHARE: f64 = 0.4;
/// Offered rate during the lull, as a multiple of the mean.
const LULL_LEVEL: f64 = 0.25;
/// Offered rate during the surge, such that the wave averages the mean.
const SURGE_LEVEL: f64 = (1.0 - LULL_SHARE * LULL_LEVEL) / (1.0 - LULL_SHARE);

/// Every request's fate, counted where it is decided. At the end of a run
/// `offered == rejected_limiter + rejected_queue_full + rejected_closed +
/// admitted` and `admitted == succeeded + failed_after_retries +
/// failed_permanent + lost`, with `lost` computed and required to be 0.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) offered: AtomicU64,
    pub(crate) rejected_limiter: AtomicU64,
    pub(crate) rejected_queue_full: AtomicU64,
    pub(crate) rejected_closed: AtomicU64,
    pub(crate) admitted: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed_after_retries: AtomicU64,
    pub(crate) failed_permanent: AtomicU64,
    pub(crate) retried_busy: AtomicU64,
    pub(crate) retried_injected: AtomicU64,
}

/// A plain copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) offered: u64,
    pub(crate) rejected_limiter: u64,
    pub(crate) rejected_queue_full: u64,
    pub(crate) rejected_closed: u64,
    pub(crate) admitted: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed_after_retries: u64,
    pub(crate) failed_permanent: u64,
    pub(crate) retried_busy: u64,
    pub(crate) retried_injected: u64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            offered: get(&self.offered),
            rejected_limiter: get(&self.rejected_limiter),
            rejected_queue_full: get(&self.rejected_queue_full),
            rejected_closed: get(&self.rejected_closed),
            admitted: get(&self.admitted),
            succeeded: get(&self.succeeded),
            failed_after_retries: get(&self.failed_after_retries),
            failed_permanent: get(&self.failed_permanent),
            retried_busy: get(&self.retried_busy),
            retried_injected: get(&self.retried_injected),
        }
    }
}

/// What every client shares: the limiter, the pool, and what a job does.
#[derive(Debug)]
pub(crate) struct FrontDoor {
    pub(crate) bucket: TokenBucket<TokioClock>,
    pub(crate) pool: Pool,
    pub(crate) sink: Arc<Sink>,
    pub(crate) counters: Arc<Counters>,
}

impl FrontDoor {
    /// One request from `client`: admitted into the queue, or rejected
    /// with a count. Never waits.
    fn offer(&self, client: u32) {
        let c = &self.counters;
        // Ids are unique across clients: the row's primary key.
        let id = c.offered.fetch_add(1, Ordering::Relaxed);

        // 1. Admission. `try_acquire` answers now: over the rate, the client
        //    is told to come back later (its `Retry-After` is in the error).
        //    Waiting (`acquire().await`) would instead slow the client down:
        //    right for a batch job, wrong for a server answering callers.
        if self.bucket.try_acquire(1).is_err() {
            Counters::bump(&c.rejected_limiter);
            return;
        }

        // 2. Backpressure. `try_submit` takes the job if a queue slot is
        //    free and hands it back otherwise, so a full queue is an
        //    immediate, counted "503" rather than a growing backlog: the
        //    queue's capacity bounds the latency of everything admitted.
        //    (`submit().await` would make the client wait for a slot
        //    instead, pushing the pressure back to it.) The token is not
        //    refunded: the limiter meters attempts at the door.
        let job = self.sink.job(Request {
            id,
            client,
            admitted_at: Instant::now(),
        });
        match self.pool.try_submit(job) {
            Ok(()) => Counters::bump(&c.admitted),
            // The job comes back inside the error; dropping it here is the
            // rejection, and it is counted.
            Err(SubmitError::Full(_)) => Counters::bump(&c.rejected_queue_full),
            // Only after shutdown, which waits for every client: stays 0.
            Err(_) => Counters::bump(&c.rejected_closed),
        }
    }
}

/// The shape of the offered load, shared by every client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traffic {
    /// Mean requests per second per client.
    pub(crate) per_client: f64,
    pub(crate) wave_period: Duration,
    pub(crate) start: Instant,
}

impl Traffic {
    /// The offered level (a multiple of the mean) at `elapsed`, the time
    /// left before it changes, and the level after that.
    fn phase(&self, elapsed: Duration) -> (f64, Duration, f64) {
        let period = self.wave_period.as_secs_f64();
        let into = elapsed.as_secs_f64() % period;
        let lull = period * LULL_SHARE;
        if into < lull {
            (LULL_LEVEL, secs(lull - into), SURGE_LEVEL)
        } else {
            (SURGE_LEVEL, secs(period - into), LULL_LEVEL)
        }
    }

    /// The pause after a burst of `sent` requests: long enough to hold
    /// the current level on average (randomised by ±50%), but never past the
    /// next phase change by more than one pause of the next phase, so that
    /// clients wake up together when a surge starts.
    fn pause(&self, sent: u64, rng: &mut SmallRng) -> Duration {
        let (level, left, next) = self.phase(self.start.elapsed());
        let mean = |level: f64| sent as f64 / (self.per_client * level);
        let pause = mean(level) * rng.random_range(0.5..1.5);
        let latest = left.as_secs_f64() + mean(next) * rng.random::<f64>();
        secs(pause.min(latest))
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// One client: sends `share` requests in bursts, then returns. Stops early
/// when `stop` turns true (Ctrl-C).
pub(crate) async fn client(
    id: u32,
    share: u64,
    seed: u64,
    traffic: Traffic,
    door: Arc<FrontDoor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut left = share;
    while left > 0 && !*stop.borrow() {
        let burst = rng.random_range(1..=MAX_CLIENT_BURST).min(left);
        for _ in 0..burst {
            door.offer(id);
        }
        left -= burst;
        if left == 0 {
            break;
        }
        let pause = traffic.pause(burst, &mut rng);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Client `i`'s share of `requests`: as even as it gets.
pub(crate) fn share(requests: u64, clients: u32, i: u32) -> u64 {
    let clients = u64::from(clients);
    requests / clients + u64::from(u64::from(i) < requests % clients)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (requests, clients) in [(100_000, 8), (7, 3), (2, 5), (1, 1)] {
            let total: u64 = (0..clients).map(|i| share(requests, clients, i)).sum();
            assert_eq!(total, requests);
        }
    }

    #[test]
    fn a_wave_averages_the_mean_rate() {
        let average = LULL_SHARE * LULL_LEVEL + (1.0 - LULL_SHARE) * SURGE_LEVEL;
        assert!((average - 1.0).abs() < 1e-12);
        const { assert!(SURGE_LEVEL > 1.0 && LULL_LEVEL < 1.0) };
    }

    #[test]
    fn phases_follow_the_wave() {
        let traffic = Traffic {
            per_client: 100.0,
            wave_period: Duration::from_secs(1),
            start: Instant::now(),
        };
        let (level, left, next) = traffic.phase(Duration::from_millis(100));
        assert_eq!((level, next), (LULL_LEVEL, SURGE_LEVEL));
        assert!((left.as_secs_f64() - 0.3).abs() < 1e-9);
        let (level, left, next) = traffic.phase(Duration::from_millis(2_900));
        assert_eq!((level, next), (SURGE_LEVEL, LULL_LEVEL));
        assert!((left.as_secs_f64() - 0.1).abs() < 1e-9);
    }
}
