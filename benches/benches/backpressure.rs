//! `backpressure/<executor>_<shape>_cap<N>`: queue throughput, per message.
//!
//! Implementations (criterion functions): `sluicegate`
//! (sluicegate-backpressure, `Overflow::Block`), `async_channel` (raw
//! async-channel `bounded`, the baseline: sluicegate keeps its items in
//! async-channel's own queue, a `concurrent_queue::ConcurrentQueue`,
//! `bounded(cap)` up to 1024 slots, waits with event-listener as
//! async-channel does, and adds its slot count, wake-ups and statistics),
//! `tokio_mpsc` (`tokio::sync::mpsc::channel`), `flume`
//! (`send_async`/`recv_async`) and `kanal` (`bounded_async`). Every one
//! carries `u64`s and is driven through its async API (`send(..).await`,
//! `recv().await`).
//!
//! In the capacity-1 groups only, `sluicegate_untimed` is sluicegate built
//! with `.time_blocked(false)`: at capacity 1 every send waits, and by
//! default each wait reads the clock twice for `Stats::blocked` (the system
//! clock: ~25 ns a read on the reference machine). The row shows what the
//! switch saves.
//!
//! Groups:
//! - executor: `tokio` (a multi-thread runtime with 2 worker threads) or
//!   `smol` (a `smol::Executor` run on 2 threads). Both are built once,
//!   outside the timed loop; the tasks run on their workers while the bench
//!   thread waits for them.
//! - shape: `spsc` (1 producer, 1 consumer), `mpsc` (4 producers, 1
//!   consumer), `mpmc` (4 producers, 4 consumers). tokio's mpsc has a
//!   single receiver, so it sits out the `mpmc` groups.
//! - capacity: 1, 64, 1024.
//!
//! One criterion iteration is one message: `iter_custom(iters)` creates a
//! queue, spawns the producers (which split `0..iters` between them) and the
//! consumers (which receive until the queue is closed and drained), and
//! times it all until the last consumer is done. The reported time is thus
//! nanoseconds per message. With 10 samples and ~1.5 s of measurement, a
//! sample moves roughly 10⁵ to a few 10⁶ messages (the issue's "1M
//! messages" is within that range) and the queue and task set-up is a
//! negligible part of it.
//!
//! Every run checks that exactly `iters` messages arrived and that their
//! sum is `0 + 1 + .. + iters-1`; before timing each function also moves
//! 100 000 messages and checks the same.
//!
//! Run: `cargo bench -p sluicegate-benches --bench backpressure -- --noplot`.
//!
//! The sluicegate and async_channel rows, the shapes and the executors are
//! `sluicegate_benches::queue_rows`, shared with `src/bin/queue_ab.rs`: the
//! interleaved A/B (each round runs both back to back on the same runtime)
//! that the wrapper's cost over async-channel is judged on; criterion runs
//! one function after the other, and on a shared 2-core machine a row can
//! flip between runs. For an A/B between builds on a busy machine, count
//! instructions instead: `benches/src/bin/queue_callgrind.rs` runs the same
//! shapes on a single-thread executor under callgrind.

use std::time::Duration;

use criterion::{Criterion, criterion_main};
use sluicegate_benches::queue_rows::{
    AsyncChannel, CAPACITIES, Exec, Queue, SHAPES, Shape, Sluicegate, Timed, Untimed,
};

/// `tokio::sync::mpsc::channel`.
struct TokioMpsc;

impl Queue for TokioMpsc {
    const NAME: &'static str = "tokio_mpsc";
    const MULTI_CONSUMER: bool = false;
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(capacity)
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("tokio mpsc has a single receiver")
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

/// `flume::bounded`, async API.
struct Flume;

impl Queue for Flume {
    const NAME: &'static str = "flume";
    const MULTI_CONSUMER: bool = true;
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(capacity)
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send_async(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

/// `kanal::bounded_async`.
struct Kanal;

impl Queue for Kanal {
    const NAME: &'static str = "kanal";
    const MULTI_CONSUMER: bool = true;
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(capacity)
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// Messages moved (and checked) once per function before it is timed.
const CHECK_MESSAGES: u64 = 100_000;

fn bench_one<Q: Queue>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    exec: &Exec,
    shape: Shape,
    capacity: usize,
) {
    if shape.consumers > 1 && !Q::MULTI_CONSUMER {
        return;
    }
    // Checked here, not before `bench_function`, so that a filtered-out
    // function does not run.
    let mut checked = false;
    group.bench_function(Q::NAME, |b| {
        if !checked {
            exec.checked::<Q>(shape, capacity, CHECK_MESSAGES);
            checked = true;
        }
        b.iter_custom(|iters| exec.checked::<Q>(shape, capacity, iters))
    });
}

fn throughput(c: &mut Criterion, exec: &Exec) {
    for shape in SHAPES {
        for capacity in CAPACITIES {
            let mut group = c.benchmark_group(format!(
                "backpressure/{}_{}_cap{capacity}",
                exec.name(),
                shape.name
            ));
            bench_one::<Sluicegate<Timed>>(&mut group, exec, shape, capacity);
            if capacity == 1 {
                // Where every send waits: what the blocked-time clock costs.
                bench_one::<Sluicegate<Untimed>>(&mut group, exec, shape, capacity);
            }
            bench_one::<AsyncChannel>(&mut group, exec, shape, capacity);
            bench_one::<TokioMpsc>(&mut group, exec, shape, capacity);
            bench_one::<Flume>(&mut group, exec, shape, capacity);
            bench_one::<Kanal>(&mut group, exec, shape, capacity);
            group.finish();
        }
    }
}

/// All groups; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let tokio = Exec::tokio();
    throughput(&mut criterion, &tokio);
    let smol = Exec::smol();
    throughput(&mut criterion, &smol);
}

criterion_main!(benches);
