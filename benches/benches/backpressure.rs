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
//! In the capacity-1 groups only, `sluicegate_untimed` is sluicegate with a
//! clock that stands still (`.clock(..)` returning a fixed instant): at
//! capacity 1 every send waits, and each wait reads the clock twice for
//! `Stats::blocked` (the default system clock: ~25 ns a read on the
//! reference machine). The row separates that statistic's cost from the
//! rest of the wrapper's; it is not a setting the crate recommends.
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
//! For an A/B between builds on a busy machine, count instructions
//! instead: `benches/src/bin/queue_callgrind.rs` runs the same shapes on a
//! single-thread executor under callgrind.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_main};

/// What one consumer saw: how many messages, and their sum.
#[derive(Clone, Copy, Default)]
struct Tally {
    count: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
    }
}

/// One queue implementation under test.
trait Queue {
    const NAME: &'static str;
    const MULTI_CONSUMER: bool;
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// A second consumer handle (only called if `MULTI_CONSUMER`).
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    /// Sends every value of `values`, then drops `tx`.
    fn produce(
        tx: Self::Tx,
        values: std::ops::Range<u64>,
    ) -> impl Future<Output = ()> + Send + 'static;
    /// Receives until the queue is closed and drained.
    fn consume(rx: Self::Rx) -> impl Future<Output = Tally> + Send + 'static;
}

/// The clock a sluicegate row runs on, and the row's name.
trait RowClock: sluicegate_rt::Clock + Send + Sync + 'static {
    const NAME: &'static str;
    fn make() -> Self;
}

/// The default row: the system clock, `Stats::blocked` timed.
impl RowClock for sluicegate_rt::SystemClock {
    const NAME: &'static str = "sluicegate";
    fn make() -> Self {
        sluicegate_rt::SystemClock
    }
}

/// A clock that stands still: `Stats::blocked` stays zero.
#[derive(Debug, Clone, Copy)]
struct StillClock(Instant);

impl sluicegate_rt::Clock for StillClock {
    fn now(&self) -> Instant {
        self.0
    }
}

/// The same queue without the two clock reads per wait that
/// `Stats::blocked` costs.
impl RowClock for StillClock {
    const NAME: &'static str = "sluicegate_untimed";
    fn make() -> Self {
        StillClock(Instant::now())
    }
}

/// sluicegate-backpressure on clock `C` (`bounded(capacity)`, policy
/// `Block`).
struct Sluicegate<C>(std::marker::PhantomData<C>);

impl<C: RowClock> Queue for Sluicegate<C> {
    const NAME: &'static str = C::NAME;
    const MULTI_CONSUMER: bool = true;
    type Tx = sluicegate_backpressure::Sender<u64, C>;
    type Rx = sluicegate_backpressure::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        sluicegate_backpressure::builder(capacity)
            .clock(C::make())
            .build()
            .expect("capacity > 0")
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn produce(tx: Self::Tx, values: std::ops::Range<u64>) {
        for v in values {
            tx.send(v).await.expect("receivers alive");
        }
    }
    async fn consume(rx: Self::Rx) -> Tally {
        let mut tally = Tally::default();
        while let Some(v) = rx.recv().await {
            tally.add(v);
        }
        tally
    }
}

struct AsyncChannel;

impl Queue for AsyncChannel {
    const NAME: &'static str = "async_channel";
    const MULTI_CONSUMER: bool = true;
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(capacity)
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn produce(tx: Self::Tx, values: std::ops::Range<u64>) {
        for v in values {
            tx.send(v).await.expect("receivers alive");
        }
    }
    async fn consume(rx: Self::Rx) -> Tally {
        let mut tally = Tally::default();
        while let Ok(v) = rx.recv().await {
            tally.add(v);
        }
        tally
    }
}

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
    async fn produce(tx: Self::Tx, values: std::ops::Range<u64>) {
        for v in values {
            tx.send(v).await.expect("receiver alive");
        }
    }
    async fn consume(mut rx: Self::Rx) -> Tally {
        let mut tally = Tally::default();
        while let Some(v) = rx.recv().await {
            tally.add(v);
        }
        tally
    }
}

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
    async fn produce(tx: Self::Tx, values: std::ops::Range<u64>) {
        for v in values {
            tx.send_async(v).await.expect("receivers alive");
        }
    }
    async fn consume(rx: Self::Rx) -> Tally {
        let mut tally = Tally::default();
        while let Ok(v) = rx.recv_async().await {
            tally.add(v);
        }
        tally
    }
}

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
    async fn produce(tx: Self::Tx, values: std::ops::Range<u64>) {
        for v in values {
            tx.send(v).await.expect("receivers alive");
        }
    }
    async fn consume(rx: Self::Rx) -> Tally {
        let mut tally = Tally::default();
        while let Ok(v) = rx.recv().await {
            tally.add(v);
        }
        tally
    }
}

/// Producers and consumers.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    producers: u64,
    consumers: usize,
}

const SHAPES: [Shape; 3] = [
    Shape {
        name: "spsc",
        producers: 1,
        consumers: 1,
    },
    Shape {
        name: "mpsc",
        producers: 4,
        consumers: 1,
    },
    Shape {
        name: "mpmc",
        producers: 4,
        consumers: 4,
    },
];

const CAPACITIES: [usize; 3] = [1, 64, 1024];

/// Messages moved (and checked) once per function before it is timed.
const CHECK_MESSAGES: u64 = 100_000;

/// The executor the producers and consumers run on, built once.
enum Exec {
    Tokio(tokio::runtime::Runtime),
    Smol(Arc<smol::Executor<'static>>),
}

impl Exec {
    fn tokio() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        Self::Tokio(rt)
    }

    fn smol() -> Self {
        let ex = Arc::new(smol::Executor::new());
        for i in 0..2 {
            let ex = Arc::clone(&ex);
            std::thread::Builder::new()
                .name(format!("smol-{i}"))
                .spawn(move || smol::block_on(ex.run(std::future::pending::<()>())))
                .expect("smol worker thread");
        }
        Self::Smol(ex)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Tokio(_) => "tokio",
            Self::Smol(_) => "smol",
        }
    }

    /// Moves `messages` through a fresh queue of `capacity` in `shape` on
    /// this executor; returns the wall time and what the consumers got.
    fn transfer<Q: Queue>(
        &self,
        shape: Shape,
        capacity: usize,
        messages: u64,
    ) -> (Duration, Tally) {
        let start = Instant::now();
        let (tx, rx) = Q::bounded(capacity);
        let mut consumers = Vec::with_capacity(shape.consumers);
        for _ in 1..shape.consumers {
            consumers.push(Q::consume(Q::clone_rx(&rx)));
        }
        consumers.push(Q::consume(rx));
        let per = messages / shape.producers;
        let extra = messages % shape.producers;
        let mut producers = Vec::with_capacity(shape.producers as usize);
        let mut from = 0;
        for i in 0..shape.producers {
            let to = from + per + u64::from(i < extra);
            producers.push(Q::produce(tx.clone(), from..to));
            from = to;
        }
        drop(tx);
        let tally = match self {
            Self::Tokio(rt) => {
                let consumers: Vec<_> = consumers.into_iter().map(|c| rt.spawn(c)).collect();
                let producers: Vec<_> = producers.into_iter().map(|p| rt.spawn(p)).collect();
                rt.block_on(async {
                    for p in producers {
                        p.await.expect("producer task");
                    }
                    let mut total = Tally::default();
                    for c in consumers {
                        let t = c.await.expect("consumer task");
                        total.count += t.count;
                        total.sum = total.sum.wrapping_add(t.sum);
                    }
                    total
                })
            }
            Self::Smol(ex) => {
                let consumers: Vec<_> = consumers.into_iter().map(|c| ex.spawn(c)).collect();
                let producers: Vec<_> = producers.into_iter().map(|p| ex.spawn(p)).collect();
                smol::block_on(async {
                    for p in producers {
                        p.await;
                    }
                    let mut total = Tally::default();
                    for c in consumers {
                        let t = c.await;
                        total.count += t.count;
                        total.sum = total.sum.wrapping_add(t.sum);
                    }
                    total
                })
            }
        };
        (start.elapsed(), tally)
    }

    /// [`transfer`](Self::transfer), panicking unless exactly `messages`
    /// arrived with the right sum.
    fn checked<Q: Queue>(&self, shape: Shape, capacity: usize, messages: u64) -> Duration {
        let (elapsed, tally) = self.transfer::<Q>(shape, capacity, messages);
        let expected = if messages == 0 {
            0
        } else {
            (messages - 1).wrapping_mul(messages) / 2
        };
        assert_eq!(
            (tally.count, tally.sum),
            (messages, expected),
            "{} lost or duplicated messages ({} {} cap {capacity})",
            Q::NAME,
            self.name(),
            shape.name,
        );
        elapsed
    }
}

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
            bench_one::<Sluicegate<sluicegate_rt::SystemClock>>(&mut group, exec, shape, capacity);
            if capacity == 1 {
                // Where every send waits: what the blocked-time clock costs.
                bench_one::<Sluicegate<StillClock>>(&mut group, exec, shape, capacity);
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
