//! How exactly the limiters hold their rate, in virtual and in real time.
//!
//! ```sh
//! cargo run --release -p sluicegate-benches --bin rate_accuracy
//! ```
//!
//! 1. Virtual time (`ManualClock`, exact): under saturating load no window
//!    `W` admits more than `burst + rate·W`, and the whole run admits at
//!    least `rate·W − 1` after the burst.
//! 2. Real time, try path: 2 threads call `try_acquire` in a loop for 2 s at
//!    10,000/s; admitted versus `burst + rate · elapsed`.
//! 3. Real time, wait path: 8 tokio tasks `acquire(1).await` in a loop for
//!    2 s at 1,000/s; released versus expected, and the p50/p99 gap between
//!    consecutive releases.
//! 4. Real time, pacing: one tokio task paced at 1,000/s for 2 s by
//!    sluicegate-leaky-bucket and by the leaky-bucket crate (refill 1 every
//!    1 ms, max 1); delivered versus expected and the gaps, side by side.
//!
//! Results are measurements on a shared machine, printed, not asserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluicegate_rt::{ManualClock, TokioClock, TokioSleeper};
use sluicegate_token_bucket::{Quota, TokenBucket};

fn main() {
    virtual_windows();
    for burst in [1, 10] {
        real_try_path(burst);
    }
    for burst in [1, 10] {
        real_wait_path(burst);
    }
    pacing();
}

/// Gap percentiles (p50, p99) between consecutive instants.
fn gaps(instants: &[Instant]) -> (Duration, Duration) {
    let mut gaps: Vec<Duration> = instants.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let q = |p: f64| gaps[((gaps.len() - 1) as f64 * p) as usize];
    (q(0.5), q(0.99))
}

fn pacing() {
    let rate = 1_000u32;
    let run = Duration::from_secs(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let expected = f64::from(rate) * run.as_secs_f64();
    println!("real time, pacing: {rate}/s for 2 s, one paced task on tokio");

    let bucket = sluicegate_leaky_bucket::LeakyBucket::per_second(rate)
        .clock(TokioClock)
        .sleeper(TokioSleeper)
        .build()
        .expect("valid bucket");
    let ours = runtime.block_on(async {
        let start = Instant::now();
        let mut out = Vec::with_capacity(4_096);
        while start.elapsed() < run {
            if bucket.acquire().await.is_ok() && start.elapsed() <= run {
                out.push(Instant::now());
            }
        }
        out
    });
    let peer = runtime.block_on(async {
        let limiter = leaky_bucket::RateLimiter::builder()
            .initial(1)
            .refill(1)
            .max(1)
            .interval(Duration::from_millis(1))
            .build();
        let start = Instant::now();
        let mut out = Vec::with_capacity(4_096);
        while start.elapsed() < run {
            limiter.acquire_one().await;
            if start.elapsed() <= run {
                out.push(Instant::now());
            }
        }
        out
    });
    for (name, released) in [("sluicegate", &ours), ("leaky_bucket", &peer)] {
        let (p50, p99) = gaps(released);
        println!(
            "  {name:<12} delivered {}, expected {expected:.0}: error {:+.3}% (target within 0.5%); gap p50 {p50:?}, p99 {p99:?}",
            released.len(),
            pct(released.len() as f64, expected),
        );
    }
}

fn pct(measured: f64, expected: f64) -> f64 {
    (measured - expected) / expected * 100.0
}

fn virtual_windows() {
    let (rate, burst) = (1_000u32, 20u32);
    let clock = ManualClock::new();
    let quota = Quota::per_second(rate).and_then(|q| q.with_burst(burst));
    let bucket = TokenBucket::builder(quota.expect("valid quota"))
        .clock(clock.clone())
        .build();
    // One attempt every 137 µs for 10 s: saturating (7.3 tries per token).
    let step = Duration::from_micros(137);
    let mut admitted = Vec::new();
    while clock.elapsed() < Duration::from_secs(10) {
        if bucket.try_acquire(1).is_ok() {
            admitted.push(clock.elapsed().as_nanos());
        }
        clock.advance(step);
    }
    let t = 1_000_000u128; // ns per token
    let mut worst_excess = i128::MIN;
    for i in 0..admitted.len() {
        // Windows starting at each admission; the count grows by one per
        // later admission, so scanning j is linear per i.
        for (k, end) in admitted[i..].iter().enumerate() {
            let count = (k + 1) as i128;
            let allowed = i128::from(burst) + ((end - admitted[i]) / t) as i128;
            worst_excess = worst_excess.max(count - allowed);
        }
    }
    let run = clock.elapsed().as_nanos();
    let floor = (run / t) as i128 - 1;
    println!("virtual time: {rate}/s, burst {burst}, saturating tries every {step:?} for 10 s");
    println!(
        "  admitted {} (burst + rate·W = {}); worst window excess over burst + rate·W: {} (must be <= 0)",
        admitted.len(),
        i128::from(burst) + (run / t) as i128,
        worst_excess
    );
    println!(
        "  at least rate·W − 1 = {floor}: {}",
        if admitted.len() as i128 >= floor {
            "yes"
        } else {
            "NO"
        }
    );
}

fn real_try_path(burst: u32) {
    let rate = 10_000u32;
    let quota = Quota::per_second(rate).and_then(|q| q.with_burst(burst));
    let bucket = TokenBucket::new(quota.expect("valid quota"));
    let run = Duration::from_secs(2);
    let start = Instant::now();
    let admitted: u64 = std::thread::scope(|s| {
        let worker = || {
            let mut n = 0u64;
            while start.elapsed() < run {
                if bucket.try_acquire(1).is_ok() {
                    n += 1;
                }
            }
            n
        };
        let other = s.spawn(worker);
        worker() + other.join().expect("worker thread")
    });
    let elapsed = start.elapsed().as_secs_f64();
    let expected = f64::from(burst) + f64::from(rate) * elapsed;
    println!("real time, try path: {rate}/s, burst {burst}, 2 threads, {elapsed:.3} s");
    println!(
        "  admitted {admitted}, expected {expected:.1}: error {:+.4}% (target |error| <= 0.05%)",
        pct(admitted as f64, expected)
    );
}

fn real_wait_path(burst: u32) {
    let rate = 1_000u32;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let quota = Quota::per_second(rate).and_then(|q| q.with_burst(burst));
    let bucket = TokenBucket::builder(quota.expect("valid quota"))
        .clock(TokioClock)
        .sleeper(TokioSleeper)
        .build();
    let releases = Arc::new(Mutex::new(Vec::with_capacity(4_096)));
    let run = Duration::from_secs(2);
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (bucket, releases) = (bucket.clone(), Arc::clone(&releases));
                tokio::spawn(async move {
                    while start.elapsed() < run {
                        if bucket.acquire(1).await.is_ok() {
                            let now = Instant::now();
                            if now.duration_since(start) <= run {
                                releases.lock().expect("releases").push(now);
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("waiter task");
        }
    });
    let mut releases = Arc::try_unwrap(releases)
        .expect("all tasks done")
        .into_inner()
        .expect("releases");
    releases.sort();
    let expected = f64::from(burst) + f64::from(rate) * run.as_secs_f64();
    let (p50, p99) = gaps(&releases);
    println!("real time, wait path: {rate}/s, burst {burst}, 8 waiters on tokio, 2 s");
    println!(
        "  released {}, expected {expected:.0}: error {:+.3}% (target within 0.5%); gap p50 {p50:?}, p99 {p99:?}",
        releases.len(),
        pct(releases.len() as f64, expected),
    );
}
