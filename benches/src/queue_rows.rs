//! The queue-throughput rows shared by the criterion bench
//! `benches/benches/backpressure.rs` and the interleaved A/B harness
//! `src/bin/queue_ab.rs`: the [`Queue`] trait, the sluicegate and raw
//! async-channel implementations of it, the [`Shape`]s and capacities, and
//! the two multi-thread executors ([`Exec`]) that move the messages.
//!
//! A transfer creates a queue, splits `0..messages` between the producers,
//! spawns the consumers (which receive until the queue is closed and
//! drained) and the producers, and times it all until the last consumer is
//! done; [`Exec::checked`] panics unless exactly `messages` arrived with the
//! sum `0 + 1 + .. + messages-1`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one consumer saw: how many messages, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub count: u64,
    /// Their sum (wrapping).
    pub sum: u64,
}

impl Tally {
    /// Counts one message `v`.
    pub fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
    }

    /// What the consumers of a transfer of `messages` must see together:
    /// each of `0..messages` once.
    pub fn expected(messages: u64) -> Self {
        Self {
            count: messages,
            sum: sum_below(messages),
        }
    }

    /// Adds what another consumer saw.
    pub fn merge(&mut self, other: Self) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// One queue implementation under test, carrying `u64`s through its async
/// API (`send(..).await`, `recv().await`). An implementation gives its two
/// calls, [`send`](Queue::send) and [`recv`](Queue::recv); the producer and
/// consumer loops around them ([`produce`](Queue::produce),
/// [`consume`](Queue::consume)) are the same for every row.
pub trait Queue: 'static {
    /// The row's name (the criterion function name).
    const NAME: &'static str;
    /// Whether the receiver can be cloned (tokio's mpsc cannot).
    const MULTI_CONSUMER: bool;
    /// The sending handle.
    type Tx: Clone + Send + Sync + 'static;
    /// The receiving handle.
    type Rx: Send + 'static;

    /// A queue of `capacity` slots.
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// A second consumer handle (only called if `MULTI_CONSUMER`).
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    /// Sends `v`: `false` if every receiver is gone.
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = bool> + Send;
    /// The next message: `None` once the queue is closed and drained.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send;

    /// Sends every value of `values`, then drops `tx`.
    ///
    /// # Panics
    ///
    /// If every receiver is gone before the last value is sent.
    fn produce(
        tx: Self::Tx,
        values: std::ops::Range<u64>,
    ) -> impl Future<Output = ()> + Send + 'static {
        async move {
            for v in values {
                assert!(Self::send(&tx, v).await, "{}: receivers gone", Self::NAME);
            }
        }
    }
    /// Receives until the queue is closed and drained.
    fn consume(mut rx: Self::Rx) -> impl Future<Output = Tally> + Send + 'static {
        async move {
            let mut tally = Tally::default();
            while let Some(v) = Self::recv(&mut rx).await {
                tally.add(v);
            }
            tally
        }
    }
}

/// How a sluicegate row is configured, and the row's name.
pub trait RowConfig: Send + Sync + 'static {
    /// The row's name.
    const NAME: &'static str;
    /// Whether the queue times `Stats::blocked`
    /// (`Builder::time_blocked`).
    const TIME_BLOCKED: bool;
}

/// The default row: `Stats::blocked` timed on the system clock.
#[derive(Debug)]
pub struct Timed;

impl RowConfig for Timed {
    const NAME: &'static str = "sluicegate";
    const TIME_BLOCKED: bool = true;
}

/// The same queue built with `.time_blocked(false)`: no clock read per
/// wait (`Stats::blocked` stays zero).
#[derive(Debug)]
pub struct Untimed;

impl RowConfig for Untimed {
    const NAME: &'static str = "sluicegate_untimed";
    const TIME_BLOCKED: bool = false;
}

/// sluicegate-backpressure configured by `R` (`bounded(capacity)`, policy
/// `Block`, the system clock).
#[derive(Debug)]
pub struct Sluicegate<R>(std::marker::PhantomData<R>);

impl<R: RowConfig> Queue for Sluicegate<R> {
    const NAME: &'static str = R::NAME;
    const MULTI_CONSUMER: bool = true;
    type Tx = sluicegate_backpressure::Sender<u64>;
    type Rx = sluicegate_backpressure::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        sluicegate_backpressure::builder(capacity)
            .time_blocked(R::TIME_BLOCKED)
            .build()
            .expect("capacity > 0")
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

/// Raw async-channel `bounded`: the baseline.
#[derive(Debug)]
pub struct AsyncChannel;

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
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// Producers and consumers.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// `spsc`, `mpsc` or `mpmc`.
    pub name: &'static str,
    /// Producer tasks.
    pub producers: u64,
    /// Consumer tasks.
    pub consumers: usize,
}

/// 1 producer × 1 consumer, 4 × 1, 4 × 4.
pub const SHAPES: [Shape; 3] = [
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

/// The capacities of the matrix.
pub const CAPACITIES: [usize; 3] = [1, 64, 1024];

/// The tasks of one transfer, not yet spawned: a fresh queue of
/// `capacity`, its consumers (each receives until the queue is closed and
/// drained) and its producers (each sends its share of `0..messages`, then
/// drops its sender). [`Exec::transfer`] spawns them on a multi-thread
/// executor; `src/bin/queue_callgrind.rs` on a single-thread one.
pub struct Transfer<Q> {
    /// One per consumer of the shape.
    pub consumers: Vec<Consume>,
    /// One per producer of the shape.
    pub producers: Vec<Produce>,
    queue: std::marker::PhantomData<Q>,
}

/// A consumer task of a [`Transfer`]: what it received.
pub type Consume = std::pin::Pin<Box<dyn Future<Output = Tally> + Send + 'static>>;
/// A producer task of a [`Transfer`].
pub type Produce = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

impl<Q> std::fmt::Debug for Transfer<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("consumers", &self.consumers.len())
            .field("producers", &self.producers.len())
            .finish()
    }
}

impl<Q: Queue> Transfer<Q> {
    /// Creates the queue and its tasks: `0..messages` is split between the
    /// producers in contiguous ranges (the first `messages % producers` one
    /// longer).
    pub fn new(shape: Shape, capacity: usize, messages: u64) -> Self {
        let (tx, rx) = Q::bounded(capacity);
        let mut consumers: Vec<Consume> = Vec::with_capacity(shape.consumers);
        for _ in 1..shape.consumers {
            consumers.push(Box::pin(Q::consume(Q::clone_rx(&rx))));
        }
        consumers.push(Box::pin(Q::consume(rx)));
        let per = messages / shape.producers;
        let extra = messages % shape.producers;
        let mut producers: Vec<Produce> = Vec::new();
        let mut from = 0;
        for i in 0..shape.producers {
            let to = from + per + u64::from(i < extra);
            producers.push(Box::pin(Q::produce(tx.clone(), from..to)));
            from = to;
        }
        Self {
            consumers,
            producers,
            queue: std::marker::PhantomData,
        }
    }
}

/// Awaits every producer, then every consumer (spawned tasks' handles):
/// what the consumers received together.
pub async fn gather<P, C>(
    producers: impl IntoIterator<Item = P>,
    consumers: impl IntoIterator<Item = C>,
) -> Tally
where
    P: Future<Output = ()>,
    C: Future<Output = Tally>,
{
    for p in producers {
        p.await;
    }
    let mut total = Tally::default();
    for c in consumers {
        total.merge(c.await);
    }
    total
}

/// The executor the producers and consumers run on, built once.
#[derive(Debug)]
pub enum Exec {
    /// A tokio multi-thread runtime with 2 worker threads.
    Tokio(tokio::runtime::Runtime),
    /// A `smol::Executor` run on 2 threads.
    Smol(Arc<smol::Executor<'static>>),
}

impl Exec {
    /// A tokio multi-thread runtime, 2 workers.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built.
    pub fn tokio() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        Self::Tokio(rt)
    }

    /// A `smol::Executor` on 2 threads that run for the rest of the
    /// process.
    ///
    /// # Panics
    ///
    /// If a thread cannot be spawned.
    pub fn smol() -> Self {
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

    /// `tokio` or `smol`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tokio(_) => "tokio",
            Self::Smol(_) => "smol",
        }
    }

    /// Moves `messages` through a fresh queue of `capacity` in `shape` on
    /// this executor; returns the wall time and what the consumers got.
    ///
    /// # Panics
    ///
    /// If a task panics.
    pub fn transfer<Q: Queue>(
        &self,
        shape: Shape,
        capacity: usize,
        messages: u64,
    ) -> (Duration, Tally) {
        let start = Instant::now();
        let Transfer {
            consumers,
            producers,
            ..
        } = Transfer::<Q>::new(shape, capacity, messages);
        let tally = match self {
            Self::Tokio(rt) => {
                let consumers: Vec<_> = consumers.into_iter().map(|c| rt.spawn(c)).collect();
                let producers: Vec<_> = producers.into_iter().map(|p| rt.spawn(p)).collect();
                rt.block_on(gather(
                    producers
                        .into_iter()
                        .map(|p| async { p.await.expect("producer task") }),
                    consumers
                        .into_iter()
                        .map(|c| async { c.await.expect("consumer task") }),
                ))
            }
            Self::Smol(ex) => {
                let consumers: Vec<_> = consumers.into_iter().map(|c| ex.spawn(c)).collect();
                let producers: Vec<_> = producers.into_iter().map(|p| ex.spawn(p)).collect();
                smol::block_on(gather(producers, consumers))
            }
        };
        (start.elapsed(), tally)
    }

    /// [`transfer`](Self::transfer), checked.
    ///
    /// # Panics
    ///
    /// Unless exactly `messages` arrived with the sum
    /// `0 + 1 + .. + messages-1`.
    pub fn checked<Q: Queue>(&self, shape: Shape, capacity: usize, messages: u64) -> Duration {
        let (elapsed, tally) = self.transfer::<Q>(shape, capacity, messages);
        assert_eq!(
            tally,
            Tally::expected(messages),
            "{} lost or duplicated messages ({} {} cap {capacity})",
            Q::NAME,
            self.name(),
            shape.name,
        );
        elapsed
    }
}

/// `0 + 1 + .. + n-1`, wrapping as [`Tally::sum`] does: the even one of `n`
/// and `n - 1` is halved before the product wraps.
fn sum_below(n: u64) -> u64 {
    if n % 2 == 0 {
        (n / 2).wrapping_mul(n.wrapping_sub(1))
    } else {
        n.wrapping_mul((n - 1) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_below_is_the_wrapping_sum() {
        assert_eq!((sum_below(0), sum_below(1), sum_below(2)), (0, 0, 1));
        assert_eq!(sum_below(1_000_000), 499_999_500_000);
        // Past 2^32 the product wraps: halving after it would be wrong.
        for n in [(1_u64 << 33) - 1, 1 << 33, u64::MAX - 1, u64::MAX] {
            let exact = u128::from(n) * u128::from(n - 1) / 2;
            let wrapped = u64::try_from(exact % (1_u128 << 64)).unwrap();
            assert_eq!(sum_below(n), wrapped, "n = {n}");
        }
    }

    /// [`AsyncChannel`], but the message 7 is quietly dropped.
    struct Lossy;

    impl Queue for Lossy {
        const NAME: &'static str = "lossy";
        const MULTI_CONSUMER: bool = AsyncChannel::MULTI_CONSUMER;
        type Tx = <AsyncChannel as Queue>::Tx;
        type Rx = <AsyncChannel as Queue>::Rx;

        fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
            AsyncChannel::bounded(capacity)
        }
        fn clone_rx(rx: &Self::Rx) -> Self::Rx {
            AsyncChannel::clone_rx(rx)
        }
        async fn send(tx: &Self::Tx, v: u64) -> bool {
            v == 7 || AsyncChannel::send(tx, v).await
        }
        fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send {
            AsyncChannel::recv(rx)
        }
    }

    #[test]
    fn every_row_moves_every_message_on_both_executors() {
        for exec in [Exec::tokio(), Exec::smol()] {
            for shape in SHAPES {
                for capacity in [1, 64] {
                    exec.checked::<Sluicegate<Timed>>(shape, capacity, 1_001);
                    exec.checked::<Sluicegate<Untimed>>(shape, capacity, 1_001);
                    exec.checked::<AsyncChannel>(shape, capacity, 1_001);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "lossy lost or duplicated messages (tokio mpmc cap 4)")]
    fn a_lost_message_fails_the_check() {
        Exec::tokio().checked::<Lossy>(SHAPES[2], 4, 100);
    }
}
