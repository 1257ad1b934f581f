//! `fanio/merge_<n>` and `fanio/fan_out_<w>`: fan-in and fan-out
//! throughput against the peers, plus a fairness pass (Jain's index).
//!
//! Groups and implementations (criterion functions):
//!
//! - `fanio/merge_<n>` for n = 2, 16, 1024 sources, 100 000 items in all
//!   (each source a `futures_util::stream::iter` of `100_000 / n` numbers,
//!   always ready), drained on a tokio multi-thread runtime (2 workers,
//!   `block_on`): `sluicegate` (`sluicegate_fanio::merge`), `futures_util`
//!   (`select_all`), `tokio_stream` (`StreamExt::merge` chained for n = 2
//!   and 16; `StreamMap` for n = 1024, where a chain of 1023 merges is not
//!   practical). Every merge is boxed (`BoxStream`) before it is drained,
//!   so that all three run the very same draining code: tokio-stream's
//!   chain has to be boxed, and left unboxed the others got a differently
//!   inlined `fold` around them, which alone moved a row by up to 2.5x
//!   (measured with the same merge code). One criterion iteration is one
//!   whole merge of 100 000 items; throughput is reported in items.
//! - `fanio/fan_out_<w>` for w = 1, 4, 16 workers, 1 000 items, each
//!   running a CPU-bound function of a few µs (40 000 dependent
//!   multiply-adds: the kind of work worth fanning out), on the same tokio
//!   runtime, the consumer itself a task on it: `sluicegate` (`fan_out` with `TokioSpawner`, shared
//!   queue), `futures_util` (`buffer_unordered(w)`: concurrency on one
//!   task, no parallelism), `tokio_mpsc` (hand-rolled: `w` spawned tasks
//!   sharing a `tokio::sync::mpsc` receiver behind a tokio `Mutex`, results
//!   back through another mpsc).
//!
//! Every run checks the count and sum of what came out.
//!
//! Before criterion runs, a separate pass prints Jain's fairness index of
//! each merge implementation over equal-rate sources: n endless
//! `repeat(i)` sources, the first `100 * n + n / 3` merged items, counts per
//! source, `(sum x)^2 / (n * sum x^2)` (1 = perfectly even).
//!
//! Run: `cargo bench -p sluicegate-benches --bench fanio -- --warm-up-time 1 --measurement-time 3 --noplot`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use sluicegate_rt::TokioSpawner;

/// Items merged per iteration.
const MERGE_ITEMS: u64 = 100_000;
/// Items fanned out per iteration.
const FAN_OUT_ITEMS: u64 = 1_000;
/// Multiply-adds per fanned-out item.
const WORK: u32 = 40_000;
/// tokio worker threads (the machine has 2 cores).
const THREADS: usize = 2;

/// The sources of one merge: `n` streams splitting `0..MERGE_ITEMS`.
fn sources(n: u64) -> impl Iterator<Item = stream::Iter<std::ops::Range<u64>>> {
    let per = MERGE_ITEMS / n;
    (0..n).map(move |i| stream::iter(i * per..(i + 1) * per))
}

/// The expected sum of a merge of [`sources`].
fn merge_sum(n: u64) -> u64 {
    let total = MERGE_ITEMS / n * n;
    total * (total - 1) / 2
}

/// Drains `s`, returning (count, sum).
async fn drain<S: Stream<Item = u64>>(s: S) -> (u64, u64) {
    s.fold((0u64, 0u64), |(c, t), x| async move { (c + 1, t + x) })
        .await
}

/// tokio-stream's merge for `n` sources: chained `merge` for small `n`,
/// `StreamMap` otherwise.
fn tokio_stream_merge<S>(sources: Vec<S>) -> BoxStream<'static, S::Item>
where
    S: Stream + Unpin + Send + 'static,
    S::Item: Send + 'static,
{
    if sources.len() <= 16 {
        let mut it = sources.into_iter();
        let first: BoxStream<'static, S::Item> = it.next().expect("a source").boxed();
        it.fold(first, |acc, s| {
            tokio_stream::StreamExt::merge(acc, s).boxed()
        })
    } else {
        let mut map = tokio_stream::StreamMap::new();
        for (i, s) in sources.into_iter().enumerate() {
            map.insert(i, s);
        }
        tokio_stream::StreamExt::map(map, |(_, v)| v).boxed()
    }
}

fn merge_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    for n in [2u64, 16, 1024] {
        let mut group = c.benchmark_group(format!("fanio/merge_{n}"));
        group.throughput(Throughput::Elements(MERGE_ITEMS / n * n));
        let want = (MERGE_ITEMS / n * n, merge_sum(n));
        group.bench_function("sluicegate", |b| {
            b.iter(|| {
                let got = rt.block_on(drain(sluicegate_fanio::merge(sources(n)).boxed()));
                assert_eq!(got, want);
            })
        });
        group.bench_function("futures_util", |b| {
            b.iter(|| {
                let got = rt.block_on(drain(stream::select_all(sources(n)).boxed()));
                assert_eq!(got, want);
            })
        });
        group.bench_function("tokio_stream", |b| {
            b.iter(|| {
                let got = rt.block_on(drain(tokio_stream_merge(sources(n).collect())));
                assert_eq!(got, want);
            })
        });
        group.finish();
    }
}

/// The work of one item: [`WORK`] dependent multiply-adds.
fn work(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..WORK {
        h = h
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    black_box(h)
}

/// The expected (count, sum) of a fan-out.
fn fan_out_want() -> (u64, u64) {
    (
        FAN_OUT_ITEMS,
        (0..FAN_OUT_ITEMS).map(work).fold(0, u64::wrapping_add),
    )
}

/// Drains a stream of results: (count, wrapping sum).
async fn tally<S: Stream<Item = u64>>(s: S) -> (u64, u64) {
    s.fold((0u64, 0u64), |(c, t), x| async move {
        (c + 1, t.wrapping_add(x))
    })
    .await
}

/// The hand-rolled pool: `w` tasks share one mpsc receiver.
async fn tokio_mpsc_pool(w: usize) -> (u64, u64) {
    let (work_tx, work_rx) = tokio::sync::mpsc::channel::<u64>(64);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<u64>(64);
    let work_rx = Arc::new(tokio::sync::Mutex::new(work_rx));
    for _ in 0..w {
        let work_rx = Arc::clone(&work_rx);
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            loop {
                let next = work_rx.lock().await.recv().await;
                let Some(x) = next else { break };
                if out_tx.send(work(x)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(out_tx);
    tokio::spawn(async move {
        for x in 0..FAN_OUT_ITEMS {
            if work_tx.send(x).await.is_err() {
                break;
            }
        }
    });
    let (mut count, mut sum) = (0u64, 0u64);
    while let Some(x) = out_rx.recv().await {
        count += 1;
        sum = sum.wrapping_add(x);
    }
    (count, sum)
}

/// Runs `fut` as a task on the runtime (not on the bench thread), so the
/// consumer is scheduled like the workers.
fn in_task<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async { tokio::spawn(fut).await.expect("the task panicked") })
}

fn fan_out_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let want = fan_out_want();
    for w in [1usize, 4, 16] {
        let mut group = c.benchmark_group(format!("fanio/fan_out_{w}"));
        group.throughput(Throughput::Elements(FAN_OUT_ITEMS));
        let spawner = TokioSpawner::with_handle(rt.handle().clone());
        group.bench_function("sluicegate", |b| {
            b.iter(|| {
                let out = sluicegate_fanio::fan_out(
                    stream::iter(0..FAN_OUT_ITEMS),
                    w,
                    &spawner,
                    |x| async move { work(x) },
                )
                .expect("valid settings");
                let got = in_task(rt, tally(out.map(|r| r.expect("no panic"))));
                assert_eq!(got, want);
            })
        });
        group.bench_function("futures_util", |b| {
            b.iter(|| {
                let s = stream::iter(0..FAN_OUT_ITEMS)
                    .map(|x| async move { work(x) })
                    .buffer_unordered(w);
                let got = in_task(rt, tally(s));
                assert_eq!(got, want);
            })
        });
        group.bench_function("tokio_mpsc", |b| {
            b.iter(|| {
                let got = in_task(rt, tokio_mpsc_pool(w));
                assert_eq!(got, want);
            })
        });
        group.finish();
    }
}

/// Jain's fairness index: `(sum x)^2 / (n * sum x^2)`.
fn jain(xs: &[u64]) -> f64 {
    let n = xs.len() as f64;
    let sum: f64 = xs.iter().map(|&x| x as f64).sum();
    let sq: f64 = xs.iter().map(|&x| (x as f64).powi(2)).sum();
    sum * sum / (n * sq)
}

/// Counts per source among the first `m` items of `merged`.
fn shares<S>(rt: &tokio::runtime::Runtime, merged: S, n: usize, m: usize) -> Vec<u64>
where
    S: Stream<Item = usize>,
{
    let items: Vec<usize> = rt.block_on(merged.take(m).collect());
    let mut counts = vec![0u64; n];
    for i in items {
        counts[i] += 1;
    }
    counts
}

/// Equal-rate endless sources.
fn repeaters(n: usize) -> Vec<stream::Repeat<usize>> {
    (0..n).map(stream::repeat).collect()
}

/// The fairness pass: prints Jain's index per implementation and `n`
/// (outside criterion's timing).
fn fairness(rt: &tokio::runtime::Runtime) {
    println!("fairness: Jain index over the first 100*n + n/3 items of n equal-rate sources");
    for n in [2usize, 16, 1024] {
        let m = 100 * n + n / 3;
        let results: [(&str, Vec<u64>); 3] = [
            (
                "sluicegate",
                shares(rt, sluicegate_fanio::merge(repeaters(n)), n, m),
            ),
            (
                "futures_util",
                shares(rt, stream::select_all(repeaters(n)), n, m),
            ),
            (
                "tokio_stream",
                shares(rt, tokio_stream_merge(repeaters(n)), n, m),
            ),
        ];
        for (name, counts) in results {
            let (min, max) = (
                counts.iter().min().copied().unwrap_or(0),
                counts.iter().max().copied().unwrap_or(0),
            );
            println!(
                "fanio/merge_{n}/{name}: jain {:.4} (per-source min {min}, max {max})",
                jain(&counts)
            );
        }
    }
}

/// All groups; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .build()
        .expect("tokio runtime");
    fairness(&rt);
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    merge_benches(&mut criterion, &rt);
    fan_out_benches(&mut criterion, &rt);
}

criterion_main!(benches);
