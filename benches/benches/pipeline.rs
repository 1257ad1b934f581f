//! `pipeline/<case>`: sluicegate-pipeline against the stream combinators a
//! user would otherwise pick, on the same work in the same run.
//!
//! Implementations (criterion functions): `sluicegate`
//! (sluicegate-pipeline), `futures_util` (`StreamExt::map` +
//! `ready_chunks`, or `buffered` / `buffer_unordered`) and `tokio_stream`
//! (`StreamExt::map` + `chunks_timeout`).
//!
//! Groups:
//! - `map_batch_sink_b{1,64,1024}`: 100 000 `u64`s from `stream::iter`,
//!   mapped (`x * 2`), batched by size `b` (with a 10 ms `max_wait` for
//!   sluicegate and `chunks_timeout`; `ready_chunks` has no timer), and
//!   summed by the sink. Everything runs in one `block_on` on a tokio
//!   multi-thread runtime (2 workers): sluicegate's stages are fused, so no
//!   task is spawned by anyone. Like for like: `sluicegate` (`map_sync`, a
//!   plain closure), `futures_util` and `tokio_stream` (`map`, a plain
//!   closure); `sluicegate_async` (`map` with an async function, a future
//!   per item) against `futures_util_then` (`then`, a future per item).
//! - `parallel_{ordered,unordered}_k{4,16}`: 4 000 items, each running
//!   `spin` (about 15 µs of integer arithmetic) through a bounded parallel
//!   step: sluicegate's `parallel(k, Order::Input | Order::Completion,
//!   TokioSpawner, ..)` (k worker tasks on the runtime's workers) against
//!   `buffered(k)` / `buffer_unordered(k)` (every future in the one task
//!   that polls the stream). Both run as a task spawned on the runtime.
//!   `parallel_ordered_k16_trivial` does no work per item: the pure
//!   overhead of handing items to other tasks.
//!
//! One criterion iteration is one whole run (100 000 or 4 000 items);
//! throughput is reported in elements. Each run checks the sink's sum.
//!
//! Before criterion starts, a separate pass measures **batch latency**:
//! each item is stamped with `Instant::now()` when the source yields it,
//! and the sink computes `now - stamp` for every item of each batch it
//! receives; the p50 and p99 over 100 000 items are printed per
//! implementation and batch size (not a criterion measurement).
//!
//! Run: `cargo bench -p sluicegate-benches --bench pipeline -- --warm-up-time 1 --measurement-time 3 --noplot`.

use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_main, measurement::WallTime};
use futures_util::StreamExt as _;
use sluicegate_pipeline::{Batch, CancelToken, Order, Pipeline};
use sluicegate_rt::{TokioSleeper, TokioSpawner};

/// Items per batching run.
const ITEMS: u64 = 100_000;
/// Items per parallel run.
const PAR_ITEMS: u64 = 4_000;
/// The batch timer (never fires: the source is always ready).
const MAX_WAIT: Duration = Duration::from_millis(10);
/// Rounds of `spin` per parallel item.
const WORK: u32 = 100_000;

/// Some integer work that the optimiser cannot remove.
fn spin(x: u64, rounds: u32) -> u64 {
    let mut h = black_box(x);
    for _ in 0..rounds {
        h = h
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    h
}

fn expected_batch_sum() -> u64 {
    (0..ITEMS).map(|x| x * 2).sum()
}

/// map_sync -> batch(b) -> sink, sluicegate: returns the sum the sink saw.
async fn sluicegate_batch(b: usize) -> u64 {
    // A plain `u64` the sink closure borrows, as for the peers (no lock).
    let mut sum = 0u64;
    let run = Pipeline::<_, Infallible>::source(futures_util::stream::iter(0..ITEMS))
        .map_sync(|x| x * 2)
        .batch(Batch::size(b).max_wait(MAX_WAIT), TokioSleeper)
        .sink(|batch: Vec<u64>| {
            sum += batch.iter().sum::<u64>();
            ready(())
        })
        .expect("valid pipeline")
        .run(CancelToken::new());
    let summary = run.await;
    assert_eq!(summary.delivered, ITEMS);
    sum
}

/// The same with an async `map` (a future per item), like futures-util's
/// `then`.
async fn sluicegate_async_batch(b: usize) -> u64 {
    // A plain `u64` the sink closure borrows, as for the peers (no lock).
    let mut sum = 0u64;
    let run = Pipeline::<_, Infallible>::source(futures_util::stream::iter(0..ITEMS))
        .map(|x| ready(x * 2))
        .batch(Batch::size(b).max_wait(MAX_WAIT), TokioSleeper)
        .sink(|batch: Vec<u64>| {
            sum += batch.iter().sum::<u64>();
            ready(())
        })
        .expect("valid pipeline")
        .run(CancelToken::new());
    let summary = run.await;
    assert_eq!(summary.delivered, ITEMS);
    sum
}

async fn futures_util_batch(b: usize) -> u64 {
    let mut sum = 0u64;
    futures_util::stream::iter(0..ITEMS)
        .map(|x| x * 2)
        .ready_chunks(b)
        .for_each(|batch| {
            sum += batch.iter().sum::<u64>();
            ready(())
        })
        .await;
    sum
}

async fn futures_util_then_batch(b: usize) -> u64 {
    let mut sum = 0u64;
    futures_util::stream::iter(0..ITEMS)
        .then(|x| ready(x * 2))
        .ready_chunks(b)
        .for_each(|batch| {
            sum += batch.iter().sum::<u64>();
            ready(())
        })
        .await;
    sum
}

async fn tokio_stream_batch(b: usize) -> u64 {
    use tokio_stream::StreamExt as Ts;
    let mut sum = 0u64;
    let mapped = Ts::map(tokio_stream::iter(0..ITEMS), |x| x * 2);
    let mut batches = std::pin::pin!(Ts::chunks_timeout(mapped, b, MAX_WAIT));
    while let Some(batch) = Ts::next(&mut batches).await {
        sum += batch.iter().sum::<u64>();
    }
    sum
}

fn bench_batching(criterion: &mut Criterion, rt: &tokio::runtime::Runtime) {
    for b in [1usize, 64, 1024] {
        let mut group = criterion.benchmark_group(format!("pipeline/map_batch_sink_b{b}"));
        group.throughput(Throughput::Elements(ITEMS));
        let want = expected_batch_sum();
        group.bench_function("sluicegate", |bench| {
            bench.iter(|| assert_eq!(rt.block_on(sluicegate_batch(b)), want));
        });
        group.bench_function("futures_util", |bench| {
            bench.iter(|| assert_eq!(rt.block_on(futures_util_batch(b)), want));
        });
        group.bench_function("tokio_stream", |bench| {
            bench.iter(|| assert_eq!(rt.block_on(tokio_stream_batch(b)), want));
        });
        // Async per-item function on both sides: `map(async fn)` vs `then`.
        group.bench_function("sluicegate_async", |bench| {
            bench.iter(|| assert_eq!(rt.block_on(sluicegate_async_batch(b)), want));
        });
        group.bench_function("futures_util_then", |bench| {
            bench.iter(|| assert_eq!(rt.block_on(futures_util_then_batch(b)), want));
        });
        group.finish();
    }
}

fn expected_par_sum(rounds: u32) -> u64 {
    (0..PAR_ITEMS).fold(0u64, |acc, x| acc.wrapping_add(spin(x, rounds)))
}

async fn sluicegate_parallel(k: usize, order: Order, rounds: u32) -> u64 {
    let sum = Arc::new(Mutex::new(0u64));
    let sink = Arc::clone(&sum);
    let summary = Pipeline::<_, Infallible>::source(futures_util::stream::iter(0..PAR_ITEMS))
        .parallel(k, order, TokioSpawner::new(), move |x| async move {
            spin(x, rounds)
        })
        .sink(move |y: u64| {
            let mut s = sink.lock().unwrap();
            *s = s.wrapping_add(y);
            ready(())
        })
        .expect("valid pipeline")
        .run(CancelToken::new())
        .await;
    assert_eq!(summary.delivered, PAR_ITEMS);
    *sum.lock().unwrap()
}

async fn futures_util_parallel(k: usize, order: Order, rounds: u32) -> u64 {
    let mut sum = 0u64;
    let futs = futures_util::stream::iter(0..PAR_ITEMS).map(|x| async move { spin(x, rounds) });
    let add = |y: u64| {
        sum = sum.wrapping_add(y);
        ready(())
    };
    match order {
        Order::Completion => futs.buffer_unordered(k).for_each(add).await,
        _ => futs.buffered(k).for_each(add).await,
    }
    sum
}

fn bench_parallel_group(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    k: usize,
    order: Order,
    rounds: u32,
) {
    let want = expected_par_sum(rounds);
    group.throughput(Throughput::Elements(PAR_ITEMS));
    // Both run as a task on the runtime (as `tokio::spawn(pipeline.run(..))`
    // would), so sluicegate's workers and the pipeline share the 2 workers.
    group.bench_function("sluicegate", |bench| {
        bench.iter(|| {
            let task = rt.spawn(sluicegate_parallel(k, order, rounds));
            assert_eq!(rt.block_on(task).unwrap(), want);
        });
    });
    group.bench_function("futures_util", |bench| {
        bench.iter(|| {
            let task = rt.spawn(futures_util_parallel(k, order, rounds));
            assert_eq!(rt.block_on(task).unwrap(), want);
        });
    });
}

fn bench_parallel(criterion: &mut Criterion, rt: &tokio::runtime::Runtime) {
    for (name, order) in [("ordered", Order::Input), ("unordered", Order::Completion)] {
        for k in [4usize, 16] {
            let mut group = criterion.benchmark_group(format!("pipeline/parallel_{name}_k{k}"));
            bench_parallel_group(&mut group, rt, k, order, WORK);
            group.finish();
        }
    }
    let mut group = criterion.benchmark_group("pipeline/parallel_ordered_k16_trivial");
    bench_parallel_group(&mut group, rt, 16, Order::Input, 0);
    group.finish();
}

/// Per-item latencies (source yield to the sink getting the batch), sorted.
type Latencies = Vec<Duration>;

fn record(lat: &Mutex<Latencies>, batch: &[Instant]) {
    let now = Instant::now();
    let mut lat = lat.lock().unwrap();
    lat.extend(batch.iter().map(|t| now - *t));
}

async fn latency_sluicegate(b: usize) -> Latencies {
    let lat = Arc::new(Mutex::new(Vec::with_capacity(ITEMS as usize)));
    let sink = Arc::clone(&lat);
    // Stamped in the source stream, as for the peers; no extra stage.
    Pipeline::<_, Infallible>::source(futures_util::stream::iter(0..ITEMS).map(|_| Instant::now()))
        .batch(Batch::size(b).max_wait(MAX_WAIT), TokioSleeper)
        .sink(move |batch: Vec<Instant>| {
            record(&sink, &batch);
            ready(())
        })
        .expect("valid pipeline")
        .run(CancelToken::new())
        .await;
    std::mem::take(&mut *lat.lock().unwrap())
}

async fn latency_futures_util(b: usize) -> Latencies {
    let lat = Mutex::new(Vec::with_capacity(ITEMS as usize));
    futures_util::stream::iter(0..ITEMS)
        .map(|_| Instant::now())
        .ready_chunks(b)
        .for_each(|batch| {
            record(&lat, &batch);
            ready(())
        })
        .await;
    lat.into_inner().unwrap()
}

async fn latency_tokio_stream(b: usize) -> Latencies {
    use tokio_stream::StreamExt as Ts;
    let lat = Mutex::new(Vec::with_capacity(ITEMS as usize));
    let stamped = Ts::map(tokio_stream::iter(0..ITEMS), |_| Instant::now());
    let mut batches = std::pin::pin!(Ts::chunks_timeout(stamped, b, MAX_WAIT));
    while let Some(batch) = Ts::next(&mut batches).await {
        record(&lat, &batch);
    }
    lat.into_inner().unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

/// The batch-latency pass (not criterion): p50/p99 per implementation.
fn latency_pass(rt: &tokio::runtime::Runtime) {
    println!("batch latency (source yield -> sink), {ITEMS} items, median of 5 runs of p50/p99:");
    println!("| batch | implementation | p50 | p99 |");
    println!("|---|---|---|---|");
    for b in [1usize, 64, 1024] {
        for name in ["sluicegate", "futures_util", "tokio_stream"] {
            let mut p50s = Vec::new();
            let mut p99s = Vec::new();
            for _ in 0..5 {
                let mut lat = match name {
                    "sluicegate" => rt.block_on(latency_sluicegate(b)),
                    "futures_util" => rt.block_on(latency_futures_util(b)),
                    _ => rt.block_on(latency_tokio_stream(b)),
                };
                assert_eq!(lat.len() as u64, ITEMS);
                lat.sort_unstable();
                p50s.push(percentile(&lat, 0.50));
                p99s.push(percentile(&lat, 0.99));
            }
            p50s.sort_unstable();
            p99s.sort_unstable();
            println!("| {b} | {name} | {:?} | {:?} |", p50s[2], p99s[2]);
        }
    }
}

/// All groups; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if std::env::var_os("PIPELINE_SKIP_LATENCY").is_none() {
        latency_pass(&rt);
    }
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_batching(&mut criterion, &rt);
    bench_parallel(&mut criterion, &rt);
}

criterion_main!(benches);
