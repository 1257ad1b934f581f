//! [`Pipeline`]: the typed builder, from a source through stages to a sink.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures_core::Stream;
use sluicegate_rt::{Clock, Sleeper, Spawner};

use crate::batch::Batch;
use crate::batch::core::{Batcher, LoanSlot};
use crate::control::{ClockOf, Control, DynClock, ErrorPolicy};
use crate::error::{ConfigError, PipelineError};
use crate::run::{BufferProbe, Probe, Runnable};
use crate::stage::ctx::Ctx;
use crate::stage::{
    BatchStage, Drain, Emitter, Fallible, Filter, FilterAsync, FilterFn, FilterSync, GenSource,
    Generate, Infallible, Join, Lend, Map, MapAsync, MapFn, MapSync, NoDrivers, Order, Parallel,
    Plain, Pump, SinkOutput, SinkStage, Source, TryMap, TryMapAsync, TryMapFn, TryMapSync,
    Weighted,
};
use crate::stats::{Derived, StageCounters};

/// A pipeline under construction: a source, then stages, finished by a
/// sink into a [`Runnable`].
///
/// - `S`: the stages so far, fused into one stream (you never name it);
/// - `E`: the pipeline's error type: the error of every fallible stage
///   (`try_map`, `try_parallel`, `try_sink`). The first fallible stage fixes
///   it; a pipeline without one names it, e.g.
///   `Pipeline::<_, std::convert::Infallible>::source(..)`;
/// - `D`: the futures that drive the stages before each
///   [`buffer`](Pipeline::buffer) (and a generator).
///
/// Stages with no buffer between them run in one fused chain, pulled by the
/// next stage (so a slow stage slows the ones before it with no queue at
/// all); a [`buffer`](Pipeline::buffer) decouples the stages before it from
/// those after, with a bounded queue between them. Either way the whole
/// pipeline is one future, [`Run`](crate::Run), that works on any executor;
/// only a [parallel step](Pipeline::parallel) spawns tasks, through the
/// [`Spawner`] you give it.
///
/// Settings that cannot work (a zero capacity, batch size, wait or
/// parallelism) are remembered and the first one is returned by
/// [`sink`](Pipeline::sink) as a [`ConfigError`]: the builder never panics.
#[must_use = "a pipeline does nothing until `.sink(..)` and `.run(..)`"]
pub struct Pipeline<S, E, D = NoDrivers> {
    stream: S,
    drivers: D,
    parts: Parts<E>,
}

/// What the builder accumulates besides the typed chain.
pub(crate) struct Parts<E> {
    pub(crate) control: Arc<Control<E>>,
    pub(crate) errors: async_channel::Receiver<PipelineError<E>>,
    pub(crate) stages: Vec<Arc<StageCounters>>,
    pub(crate) buffers: Vec<Box<dyn Probe>>,
    pub(crate) clock: Option<DynClock>,
    pub(crate) config_error: Option<ConfigError>,
    /// The loan flags of the hand-back batch stages so far: every batch
    /// stage after one watches them (see `Batcher::watch_lenders`).
    pub(crate) lenders: Vec<Arc<AtomicBool>>,
}

impl<E> Parts<E> {
    fn new(first: &str, derived: Derived) -> Self {
        let (control, errors) = Control::new();
        Self {
            control,
            errors,
            stages: vec![StageCounters::new(0, first, derived)],
            buffers: Vec::new(),
            clock: None,
            config_error: None,
            lenders: Vec::new(),
        }
    }

    fn last(&self) -> Arc<StageCounters> {
        Arc::clone(self.stages.last().expect("a pipeline has a source"))
    }

    /// A new stage's context.
    fn stage(&mut self, name: &str) -> Ctx<E> {
        self.stage_with(name, Derived::Nothing)
    }

    /// A new stage's context, with some counters derived (see [`Derived`]).
    fn stage_with(&mut self, name: &str, derived: Derived) -> Ctx<E> {
        let counters = StageCounters::new(self.stages.len(), name, derived);
        self.stages.push(Arc::clone(&counters));
        Ctx::new(Arc::clone(&self.control), counters)
    }

    /// The stage being added can keep an element across a wait (an async
    /// step's future, a parallel step's tasks): a loan of a hand-back batch
    /// stage before it may be in there, and come back without the help of
    /// a batch stage after it, so later batch stages do not watch those
    /// lenders (they would close their batches early for nothing).
    fn may_hold_a_loan(&mut self) {
        self.lenders.clear();
    }

    fn check(&mut self, result: Result<(), ConfigError>) {
        if let Err(e) = result {
            self.config_error.get_or_insert(e);
        }
    }
}

impl<St: Stream, E> Pipeline<Source<St, E>, E, NoDrivers> {
    /// A pipeline whose source is `stream`: it takes items until the stream
    /// ends, or until the pipeline is cancelled (then it stops polling the
    /// stream; items not taken were never produced).
    ///
    /// ```
    /// use sluicegate_pipeline::{CancelToken, Pipeline};
    /// use std::convert::Infallible;
    ///
    /// let run = Pipeline::<_, Infallible>::source(futures_lite::stream::iter(1..=3))
    ///     .map(|x: u32| async move { x * 10 })
    ///     .sink(|x| async move { assert_eq!(x % 10, 0) })?
    ///     .run(CancelToken::new());
    /// let summary = sluicegate_rt::block_on(run);
    /// assert_eq!((summary.produced, summary.delivered), (3, 3));
    /// # Ok::<(), sluicegate_pipeline::ConfigError>(())
    /// ```
    pub fn source(stream: St) -> Self {
        let parts = Parts::new("source", Derived::StreamSource);
        let stream = Source::new(stream, Arc::clone(&parts.control), parts.last());
        Self {
            stream,
            drivers: NoDrivers,
            parts,
        }
    }
}

impl<T, E, G> Pipeline<GenSource<T, E>, E, Generate<G>>
where
    G: Future<Output = ()>,
{
    /// A pipeline whose source is a generator: `generate` gets an
    /// [`Emitter`], the pipeline's input, which it owns; it
    /// [`emit`](Emitter::emit)s items (waiting while the first buffer of
    /// `capacity` items is full) and the input ends when it returns, as a
    /// Go generator closes its channel. Once the pipeline stops taking items,
    /// `emit` hands the item back and the generator should return; the run
    /// does not wait for it to (it is dropped when the run ends).
    ///
    /// A zero `capacity` is reported by [`sink`](Pipeline::sink) as
    /// [`ConfigError::ZeroCapacity`].
    ///
    /// # Panics
    ///
    /// Never: the queue is built with a capacity of at least 1.
    ///
    /// ```
    /// use sluicegate_pipeline::{CancelToken, Pipeline};
    /// use std::convert::Infallible;
    ///
    /// let run = Pipeline::<_, Infallible, _>::generator(8, |out| async move {
    ///     for i in 0..100u64 {
    ///         if out.emit(i).await.is_err() {
    ///             return; // stopped: the item came back
    ///         }
    ///     }
    /// })
    /// .sink(|_: u64| async {})?
    /// .run(CancelToken::new());
    /// assert_eq!(sluicegate_rt::block_on(run).delivered, 100);
    /// # Ok::<(), sluicegate_pipeline::ConfigError>(())
    /// ```
    pub fn generator<F>(capacity: usize, generate: F) -> Self
    where
        F: FnOnce(Emitter<T, E>) -> G,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut parts = Parts::new("generator", Derived::Nothing);
        if capacity == 0 {
            parts.check(Err(ConfigError::ZeroCapacity));
        }
        let counters = parts.last();
        let control = Arc::clone(&parts.control);
        let on_drop = {
            let control = Arc::clone(&control);
            let counters = Arc::clone(&counters);
            move |_item: T, _reason| control.discard(&counters, 1, 1)
        };
        let (tx, rx) = sluicegate_backpressure::builder(capacity.max(1))
            .on_drop(on_drop)
            .build()
            .expect("capacity is at least 1");
        let fut = generate(Emitter::new(
            tx,
            Arc::clone(&control),
            Arc::clone(&counters),
        ));
        Self {
            stream: GenSource::new(rx, control, counters),
            drivers: Generate::new(fut),
            parts,
        }
    }
}

// The return types spell out the typed chain: that is the point.
#[allow(clippy::type_complexity)]
impl<S, E, D, T> Pipeline<S, E, D>
where
    S: Stream<Item = Weighted<T>>,
{
    /// Names the last stage added (in [`StageStats`](crate::StageStats)
    /// and errors); default: its kind (`"map"`, `"batch"`, ...).
    pub fn named(self, name: &str) -> Self {
        self.parts.last().rename(name);
        self
    }

    /// What to do when a stage fails (default [`ErrorPolicy::Collect`]).
    pub fn on_error(self, policy: ErrorPolicy) -> Self {
        self.parts.control.set_policy(policy);
        self
    }

    /// Times every stage on `clock`: turns on
    /// [`StageStats::busy`](crate::StageStats::busy) (two clock reads per
    /// element and stage, about 40 ns with
    /// [`SystemClock`](sluicegate_rt::SystemClock), so it is off by
    /// default) and reads the buffers' blocked time from it (default: the
    /// system clock). A [`ManualClock`](sluicegate_rt::ManualClock) in
    /// tests.
    pub fn clock<C: Clock + Send + Sync + 'static>(mut self, clock: C) -> Self {
        self.parts.clock = Some(Arc::new(clock));
        self
    }

    /// An async stage `T -> U`.
    pub fn map<F, Fut>(mut self, f: F) -> Pipeline<Map<S, F, Fut, E>, E, D>
    where
        F: FnMut(T) -> Fut,
        Fut: Future,
    {
        self.parts.may_hold_a_loan();
        let ctx = self.parts.stage("map");
        Pipeline {
            stream: Map::new(self.stream, MapAsync(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// An async stage `T -> Result<U, E>`: an `Ok` goes on, an `Err` goes
    /// to the error stream (and counts the item as failed).
    pub fn try_map<F, Fut, U>(mut self, f: F) -> Pipeline<TryMap<S, F, Fut, E>, E, D>
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<U, E>>,
    {
        self.parts.may_hold_a_loan();
        let ctx = self.parts.stage("try_map");
        Pipeline {
            stream: TryMap::new(self.stream, TryMapAsync(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// An async predicate: elements for which it returns `false` are
    /// dropped and counted in [`Summary::filtered`](crate::Summary::filtered).
    pub fn filter<F, Fut>(mut self, f: F) -> Pipeline<Filter<S, F, Fut, T, E>, E, D>
    where
        F: FnMut(&T) -> Fut,
        Fut: Future<Output = bool>,
    {
        self.parts.may_hold_a_loan();
        let ctx = self.parts.stage("filter");
        Pipeline {
            stream: Filter::new(self.stream, FilterAsync(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// A synchronous stage `T -> U`: a plain closure, for work that does
    /// not wait (parsing, arithmetic, reshaping).
    ///
    /// Same accounting, panic guard and cancellation as
    /// [`map`](Self::map), without a future per element: `map` takes an
    /// `async` function (futures-util's `then`), `map_sync` a plain closure
    /// (futures-util's `map`, Go's stage loop body). Prefer `map_sync`
    /// whenever the function never awaits; it is the faster of the two.
    /// The closure blocks the pipeline's task while it runs, so keep slow
    /// or blocking work in [`map`](Self::map) (awaiting) or a
    /// [parallel step](Self::parallel).
    ///
    /// ```
    /// use sluicegate_pipeline::{CancelToken, Pipeline};
    /// use std::convert::Infallible;
    ///
    /// let run = Pipeline::<_, Infallible>::source(futures_lite::stream::iter(1..=3u32))
    ///     .map_sync(|x| x * 10)
    ///     .filter_sync(|x| *x != 20)
    ///     .sink(|x| async move { assert!(x == 10 || x == 30) })?
    ///     .run(CancelToken::new());
    /// let summary = sluicegate_rt::block_on(run);
    /// assert_eq!((summary.delivered, summary.filtered), (2, 1));
    /// # Ok::<(), sluicegate_pipeline::ConfigError>(())
    /// ```
    pub fn map_sync<F, U>(mut self, f: F) -> Pipeline<MapSync<S, F, E>, E, D>
    where
        F: FnMut(T) -> U,
    {
        let ctx = self.parts.stage_with("map", Derived::SyncOutput);
        Pipeline {
            stream: MapSync::new(self.stream, MapFn(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// A synchronous fallible stage `T -> Result<U, E>`: like
    /// [`try_map`](Self::try_map) for a plain closure (see
    /// [`map_sync`](Self::map_sync) for when to use which). An `Err` goes to
    /// the error stream and counts the item as failed.
    pub fn try_map_sync<F, U>(mut self, f: F) -> Pipeline<TryMapSync<S, F, E>, E, D>
    where
        F: FnMut(T) -> Result<U, E>,
    {
        let ctx = self.parts.stage_with("try_map", Derived::SyncOutput);
        Pipeline {
            stream: TryMapSync::new(self.stream, TryMapFn(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// A synchronous predicate: like [`filter`](Self::filter) for a plain
    /// closure (see [`map_sync`](Self::map_sync) for when to use which).
    /// Elements for which it returns `false` are dropped and counted in
    /// [`Summary::filtered`](crate::Summary::filtered).
    pub fn filter_sync<F>(mut self, f: F) -> Pipeline<FilterSync<S, F, E>, E, D>
    where
        F: FnMut(&T) -> bool,
    {
        let ctx = self.parts.stage_with("filter", Derived::SyncOutput);
        Pipeline {
            stream: FilterSync::new(self.stream, FilterFn(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// A bounded buffer of `capacity` elements after the stages so far:
    /// they run ahead of the stages after it by at most `capacity`
    /// elements, and wait (a full event, counted in
    /// [`BufferStats`](crate::BufferStats)) when it is full. Without a
    /// buffer, stages run in lockstep. A zero `capacity` is reported by
    /// [`sink`](Pipeline::sink) as [`ConfigError::ZeroCapacity`].
    ///
    /// # Panics
    ///
    /// Never: the queue is built with a capacity of at least 1.
    pub fn buffer(mut self, capacity: usize) -> Pipeline<Drain<T, E>, E, Join<D, Pump<S, T, E>>>
    where
        T: Send + 'static,
    {
        if capacity == 0 {
            self.parts.check(Err(ConfigError::ZeroCapacity));
        }
        let clock = ClockOf(Arc::clone(&self.parts.control), self.parts.last());
        let (tx, rx) = sluicegate_backpressure::builder::<Weighted<T>>(capacity.max(1))
            .on_drop({
                let ledger = Arc::clone(&self.parts.control.ledger);
                move |element: Weighted<T>, _reason| {
                    StageCounters::add(&ledger.discarded, element.weight);
                }
            })
            .clock(clock)
            .build()
            .expect("capacity is at least 1");
        self.parts
            .buffers
            .push(Box::new(BufferProbe::new(rx.clone(), self.parts.last())));
        let control = Arc::clone(&self.parts.control);
        Pipeline {
            stream: Drain::new(rx, control),
            drivers: Join::new(self.drivers, Pump::new(self.stream, tx)),
            parts: self.parts,
        }
    }

    /// Batches by size or time (see [`Batch`]); the timer runs on
    /// `sleeper`. Passes on `Vec<T>`s, never empty; the last, partial batch
    /// is passed on when the input ends (also on a graceful cancel).
    pub fn batch<Sl: Sleeper>(
        mut self,
        cfg: Batch,
        sleeper: Sl,
    ) -> Pipeline<BatchStage<S, T, Sl, E, Plain>, E, D> {
        self.parts.check(cfg.validate());
        let ctx = self.parts.stage("batch");
        let core = Batcher::new(cfg, sleeper, None).watch_lenders(self.parts.lenders.clone());
        Pipeline {
            stream: BatchStage::new(self.stream, core, ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// Like [`batch`](Self::batch), in hand-back mode: each batch is lent
    /// as a [`Loan`](crate::Loan), and the next batch is built only after
    /// the writer handed the last one back (dropped the loan). Put a
    /// [`buffer`](Self::buffer) before it so the stages before keep
    /// working meanwhile.
    ///
    /// A loan kept beyond the stages after it (stored by the sink
    /// function, say) holds the batch stage, and so the run: it ends,
    /// even after a graceful cancel, only once that loan is dropped
    /// ([`Loan::into_vec`](crate::Loan::into_vec) keeps the items and
    /// hands the buffer back at once). An abort does not wait for it.
    ///
    /// A batch stage after this one (`.batch_hand_back(..).batch(..)`)
    /// closes its batch as soon as this one waits for its loan (counted in
    /// [`BatchStats::by_lender`](crate::BatchStats::by_lender)): the
    /// batch holds the loan, so nothing more can come in before it is
    /// passed on. Only with nothing but synchronous steps, buffers and
    /// batch stages between the two: an async or parallel step between
    /// them may hold the loan itself and give it back on its own, so the
    /// later batch stage keeps filling, and if that step passes the loan
    /// on instead, the later batch closes only by its timer or the end of
    /// the input. (Two standalone adapters, [`batch`](crate::batch) over
    /// [`batch_hand_back`](crate::batch_hand_back), cannot see each other
    /// either: the outer one waits for its timer or the end of the input.)
    pub fn batch_hand_back<Sl: Sleeper>(
        mut self,
        cfg: Batch,
        sleeper: Sl,
    ) -> Pipeline<BatchStage<S, T, Sl, E, Lend>, E, D> {
        self.parts.check(cfg.validate());
        let ctx = self.parts.stage("batch");
        let slot = Arc::new(LoanSlot::default());
        let core = Batcher::new(cfg, sleeper, Some(Arc::clone(&slot)))
            .watch_lenders(self.parts.lenders.clone());
        self.parts.lenders.push(slot.lent());
        Pipeline {
            stream: BatchStage::new(self.stream, core, ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// A bounded parallel step: `f` runs on up to `k` items at once, in
    /// `k` worker tasks started through `spawner` (so they use every core
    /// of a multi-threaded executor); results are passed on in `order`. A
    /// panic in `f` fails only its item (reported on the error stream).
    ///
    /// A graceful [cancel](crate::CancelToken::cancel) lets the running
    /// tasks finish. An [abort](crate::CancelToken::abort), fail-fast or
    /// dropping the [`Run`](crate::Run) drops them at their next poll,
    /// with their items, which are counted as discarded: no `f` goes on
    /// running for an item the summary reports discarded (a task busy on
    /// another thread stops at its next `.await`).
    ///
    /// ```
    /// use sluicegate_pipeline::{CancelToken, Order, Pipeline};
    /// use sluicegate_rt::BoxFuture;
    /// use std::sync::{Arc, Mutex};
    ///
    /// // Any `Fn(BoxFuture)` is a spawner: here, a thread per worker.
    /// let on_threads = |task: BoxFuture| {
    ///     std::thread::spawn(move || sluicegate_rt::block_on(task));
    /// };
    /// let out = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&out);
    /// let run = Pipeline::<_, std::convert::Infallible>::source(futures_lite::stream::iter(0..20u64))
    ///     .parallel(4, Order::Input, on_threads, |x| async move { x * x })
    ///     .sink(move |y| {
    ///         sink.lock().unwrap().push(y);
    ///         async {}
    ///     })?
    ///     .run(CancelToken::new());
    /// let summary = sluicegate_rt::block_on(run);
    /// assert_eq!(*out.lock().unwrap(), (0..20).map(|x| x * x).collect::<Vec<_>>());
    /// assert_eq!(summary.delivered, 20);
    /// # Ok::<(), sluicegate_pipeline::ConfigError>(())
    /// ```
    pub fn parallel<Sp, F, Fut>(
        mut self,
        k: usize,
        order: Order,
        spawner: Sp,
        f: F,
    ) -> Pipeline<Parallel<S, T, Infallible<F>, Sp, E>, E, D>
    where
        Sp: Spawner,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        E: 'static,
    {
        if k == 0 {
            self.parts.check(Err(ConfigError::ZeroParallelism));
        }
        self.parts.may_hold_a_loan();
        let ctx = self.parts.stage("parallel");
        Pipeline {
            stream: Parallel::new(self.stream, k.max(1), order, spawner, Infallible(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// Like [`parallel`](Self::parallel) for a fallible `f`: an `Err` goes
    /// to the error stream.
    pub fn try_parallel<Sp, F, Fut, U>(
        mut self,
        k: usize,
        order: Order,
        spawner: Sp,
        f: F,
    ) -> Pipeline<Parallel<S, T, Fallible<F>, Sp, E>, E, D>
    where
        Sp: Spawner,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        if k == 0 {
            self.parts.check(Err(ConfigError::ZeroParallelism));
        }
        self.parts.may_hold_a_loan();
        let ctx = self.parts.stage("parallel");
        Pipeline {
            stream: Parallel::new(self.stream, k.max(1), order, spawner, Fallible(f), ctx),
            drivers: self.drivers,
            parts: self.parts,
        }
    }

    /// Finishes the pipeline with a sink: `f` gets each element; when its
    /// future resolves, the element's items count as delivered.
    ///
    /// # Errors
    ///
    /// The first bad setting given to the builder.
    pub fn sink<F, Fut>(self, f: F) -> Result<Runnable<D, SinkStage<S, F, Fut, E>, E>, ConfigError>
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.finish(f)
    }

    /// Finishes the pipeline with a fallible sink: an `Err` fails the
    /// element's items (all of a batch's) and goes to the error stream.
    ///
    /// # Errors
    ///
    /// The first bad setting given to the builder.
    pub fn try_sink<F, Fut>(
        self,
        f: F,
    ) -> Result<Runnable<D, SinkStage<S, F, Fut, E>, E>, ConfigError>
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.finish(f)
    }

    fn finish<F, Fut>(
        mut self,
        f: F,
    ) -> Result<Runnable<D, SinkStage<S, F, Fut, E>, E>, ConfigError>
    where
        F: FnMut(T) -> Fut,
        Fut: Future,
        Fut::Output: SinkOutput<E>,
    {
        if let Some(e) = self.parts.config_error {
            return Err(e);
        }
        let ctx = self.parts.stage("sink");
        let tail = SinkStage::new(self.stream, f, ctx);
        Ok(Runnable::new(self.drivers, tail, self.parts))
    }
}

impl<S, E, D> fmt::Debug for Pipeline<S, E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stages: Vec<_> = self.parts.stages.iter().map(|s| s.id()).collect();
        f.debug_struct("Pipeline")
            .field("stages", &stages)
            .field("buffers", &self.parts.buffers.len())
            .field("config_error", &self.parts.config_error)
            .finish_non_exhaustive()
    }
}
