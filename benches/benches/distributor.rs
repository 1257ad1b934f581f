//! `distributor/<work>_<S>x<M>`: what running one job costs, and
//! `distributor/shutdown_<case>`: how long a stop takes, and that it loses
//! nothing.
//!
//! # Throughput groups
//!
//! `S` submitters each submit `M` jobs, then the bench waits until every
//! job has run. The work:
//! - `trivial`: `async { Ok(()) }`. Shapes `trivial_1x1000000` (one
//!   submitter, 1M jobs) and `trivial_1000x1000` (1,000 concurrent
//!   submitters × 1,000 jobs = 1M): the shapes.
//! - `sleep1ms`: `tokio::time::sleep(1 ms)`, then `Ok(())`. With a
//!   concurrency limit of `L` jobs, 1M such jobs take at least 1M / L ms
//!   (about 4 s with `L` = 256), too long for repeated samples, so this
//!   work runs 10,000 jobs: `sleep1ms_1x10000` and `sleep1ms_1000x10` (the
//!   issue's submitter counts, 10,000 jobs each).
//!
//! Implementations (criterion functions), and their concurrency limits:
//! - `sluicegate`: a sluicegate-distributor pool of capacity 1024
//!   (`submit(..).await`), then `shutdown().await`. 2 workers (the
//!   runtime's threads) for `trivial`, 256 workers for `sleep1ms`.
//! - `spawn_per_job`: `tokio::spawn` per job, then every `JoinHandle`
//!   awaited. Unbounded: no backpressure and no concurrency limit, so its
//!   `sleep1ms` row sleeps all 10,000 jobs at once (a reference, not a
//!   peer).
//! - `joinset_semaphore`: a `JoinSet` per submitter and one shared
//!   `Arc<Semaphore>`: `acquire_owned` before each spawn, the permit
//!   dropped inside the task; each submitter then joins its set. The
//!   baseline. 1024 permits for `trivial` (like the pool's queue: both hold
//!   the submitters back at about 1024 outstanding jobs), 256 for
//!   `sleep1ms` (the pool's worker count: the same jobs in flight).
//! - `tasktracker_semaphore`: as `joinset_semaphore`, with one shared
//!   tokio-util `TaskTracker` instead of the `JoinSet`s, closed and waited
//!   on at the end.
//!
//! One criterion iteration is one full transfer of all `S × M` jobs
//! (`iter_custom`, 10 samples, flat sampling); the group's
//! `Throughput::Elements` is the job count, so ns per job is the median
//! divided by it. A 1M-job transfer takes 0.2-1 s, so a `trivial` sample
//! is one or two transfers and criterion stretches the 3 s measurement
//! time (it says so) rather than take fewer than 10 samples. Every timed
//! transfer checks that exactly `S × M` jobs finished (join results, or
//! the pool's `completed`); before timing, each function runs one transfer
//! whose jobs bump an `AtomicUsize` and checks that it reached `S × M`.
//! For `sluicegate` every transfer also checks that `shutdown` handed back
//! no job and that its stats are balanced.
//!
//! # Shutdown groups
//!
//! Only `sluicegate` (the function name): a pool is loaded, then one stop
//! call is timed, from the call to its return:
//! - `shutdown_trivial_drain`: 2 workers, 1,024 trivial jobs submitted,
//!   then `shutdown()`: runs what is queued, waits for the workers.
//! - `shutdown_sleep1ms_drain`: 256 workers, 1,280 jobs of 1 ms submitted
//!   (256 running, up to 1,024 queued), then `shutdown()`: at least 5 ms of
//!   sleeping left to run.
//! - `shutdown_sleep1s_timeout1ms`: 256 workers, 1,280 jobs of 1 s
//!   submitted, then `shutdown_timeout(1 ms)`: the running jobs are
//!   cancelled at the deadline, the queued ones handed back.
//!
//! Each stop checks `lost = submitted - (completed + failed + panicked +
//! cancelled + handed_back) == 0`, and before timing each case prints one
//! stop's figures, `lost` included.
//!
//! Everything runs on one tokio multi-thread runtime with 2 worker
//! threads and the time driver, built once outside the timed loop. The
//! submitters are spawned tasks; the bench thread only waits for them.
//! Building the pool (or the semaphore) is inside the timed region of the
//! throughput groups, a negligible part of it.
//!
//! Run: `cargo bench -p sluicegate-benches --bench distributor -- --noplot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_main};
use sluicegate_distributor::Stats;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// The pool's queue capacity (all groups).
const CAPACITY: usize = 1024;

/// The runtime's worker threads.
const THREADS: usize = 2;

/// What each job does.
#[derive(Clone, Copy)]
enum Work {
    /// `async { Ok(()) }`.
    Trivial,
    /// `tokio::time::sleep(d)`, then `Ok(())`.
    Sleep(Duration),
}

impl Work {
    /// The pool's workers for this work.
    fn workers(self) -> usize {
        match self {
            Self::Trivial => THREADS,
            Self::Sleep(_) => 256,
        }
    }

    /// The semaphore baselines' permits for this work.
    fn permits(self) -> usize {
        match self {
            Self::Trivial => CAPACITY,
            Self::Sleep(_) => 256,
        }
    }
}

/// Submitters, jobs per submitter, and the work.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    submitters: usize,
    per_submitter: usize,
    work: Work,
}

impl Shape {
    fn jobs(self) -> usize {
        self.submitters * self.per_submitter
    }
}

const MS: Duration = Duration::from_millis(1);

const SHAPES: [Shape; 4] = [
    Shape {
        name: "trivial",
        submitters: 1,
        per_submitter: 1_000_000,
        work: Work::Trivial,
    },
    Shape {
        name: "trivial",
        submitters: 1_000,
        per_submitter: 1_000,
        work: Work::Trivial,
    },
    Shape {
        name: "sleep1ms",
        submitters: 1,
        per_submitter: 10_000,
        work: Work::Sleep(MS),
    },
    Shape {
        name: "sleep1ms",
        submitters: 1_000,
        per_submitter: 10,
        work: Work::Sleep(MS),
    },
];

/// The job: `work`, then a bump of `counter` (the check before timing).
type Counter = Option<Arc<AtomicUsize>>;

async fn job(work: Work, counter: Counter) -> Result<(), ()> {
    if let Work::Sleep(d) = work {
        tokio::time::sleep(d).await;
    }
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One implementation under test.
trait Pool {
    const NAME: &'static str;
    /// Runs all jobs of `shape` on `rt`; returns how many finished.
    fn transfer(rt: &Runtime, shape: Shape, counter: &Counter) -> usize;
}

struct Sluicegate;

impl Pool for Sluicegate {
    const NAME: &'static str = "sluicegate";

    fn transfer(rt: &Runtime, shape: Shape, counter: &Counter) -> usize {
        let spawner = sluicegate_rt::TokioSpawner::with_handle(rt.handle().clone());
        let pool = sluicegate_distributor::builder::<(), ()>(shape.work.workers(), CAPACITY)
            .build(spawner)
            .expect("valid pool settings");
        let submitters: Vec<_> = (0..shape.submitters)
            .map(|_| {
                let pool = pool.clone();
                let counter = counter.clone();
                rt.spawn(async move {
                    for _ in 0..shape.per_submitter {
                        let job = job(shape.work, counter.clone());
                        pool.submit(job).await.expect("pool open");
                    }
                })
            })
            .collect();
        let stopped = rt.block_on(async {
            for s in submitters {
                s.await.expect("submitter task");
            }
            pool.shutdown().await
        });
        assert_eq!(stopped.handed_back.len(), 0, "jobs handed back at stop");
        assert!(stopped.stats.is_balanced(), "stats not balanced");
        assert_eq!(stopped.stats.submitted, shape.jobs() as u64);
        usize::try_from(stopped.stats.completed).expect("fits")
    }
}

struct SpawnPerJob;

impl Pool for SpawnPerJob {
    const NAME: &'static str = "spawn_per_job";

    fn transfer(rt: &Runtime, shape: Shape, counter: &Counter) -> usize {
        let submitters: Vec<_> = (0..shape.submitters)
            .map(|_| {
                let counter = counter.clone();
                rt.spawn(async move {
                    let handles: Vec<_> = (0..shape.per_submitter)
                        .map(|_| tokio::spawn(job(shape.work, counter.clone())))
                        .collect();
                    let mut done = 0;
                    for h in handles {
                        h.await.expect("job task").expect("job ok");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        rt.block_on(join_counts(submitters))
    }
}

struct JoinSetSemaphore;

impl Pool for JoinSetSemaphore {
    const NAME: &'static str = "joinset_semaphore";

    fn transfer(rt: &Runtime, shape: Shape, counter: &Counter) -> usize {
        let semaphore = Arc::new(Semaphore::new(shape.work.permits()));
        let submitters: Vec<_> = (0..shape.submitters)
            .map(|_| {
                let counter = counter.clone();
                let semaphore = Arc::clone(&semaphore);
                rt.spawn(async move {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..shape.per_submitter {
                        let permit = Arc::clone(&semaphore)
                            .acquire_owned()
                            .await
                            .expect("semaphore open");
                        let job = job(shape.work, counter.clone());
                        set.spawn(async move {
                            let r = job.await;
                            drop(permit);
                            r
                        });
                    }
                    let mut done = 0;
                    while let Some(r) = set.join_next().await {
                        r.expect("job task").expect("job ok");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        rt.block_on(join_counts(submitters))
    }
}

struct TaskTrackerSemaphore;

impl Pool for TaskTrackerSemaphore {
    const NAME: &'static str = "tasktracker_semaphore";

    fn transfer(rt: &Runtime, shape: Shape, counter: &Counter) -> usize {
        let semaphore = Arc::new(Semaphore::new(shape.work.permits()));
        let tracker = tokio_util::task::TaskTracker::new();
        let done = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..shape.submitters)
            .map(|_| {
                let counter = counter.clone();
                let semaphore = Arc::clone(&semaphore);
                let tracker = tracker.clone();
                let done = Arc::clone(&done);
                rt.spawn(async move {
                    for _ in 0..shape.per_submitter {
                        let permit = Arc::clone(&semaphore)
                            .acquire_owned()
                            .await
                            .expect("semaphore open");
                        let job = job(shape.work, counter.clone());
                        let done = Arc::clone(&done);
                        tracker.spawn(async move {
                            job.await.expect("job ok");
                            drop(permit);
                            done.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for s in submitters {
                s.await.expect("submitter task");
            }
            tracker.close();
            tracker.wait().await;
        });
        done.load(Ordering::Relaxed)
    }
}

/// Awaits the submitters and sums the jobs each saw finish.
async fn join_counts(submitters: Vec<tokio::task::JoinHandle<usize>>) -> usize {
    let mut total = 0;
    for s in submitters {
        total += s.await.expect("submitter task");
    }
    total
}

/// One timed transfer, panicking unless every job finished.
fn timed<P: Pool>(rt: &Runtime, shape: Shape) -> Duration {
    let start = Instant::now();
    let finished = P::transfer(rt, shape, &None);
    let elapsed = start.elapsed();
    assert_eq!(finished, shape.jobs(), "{} lost or added jobs", P::NAME);
    elapsed
}

/// The check before timing: every job runs exactly once.
fn check<P: Pool>(rt: &Runtime, shape: Shape) {
    let counter = Arc::new(AtomicUsize::new(0));
    let finished = P::transfer(rt, shape, &Some(Arc::clone(&counter)));
    assert_eq!(finished, shape.jobs(), "{} lost or added jobs", P::NAME);
    assert_eq!(
        counter.load(Ordering::Relaxed),
        shape.jobs(),
        "{} did not run every job exactly once",
        P::NAME
    );
}

fn bench_one<P: Pool>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    shape: Shape,
) {
    // Checked here, not before `bench_function`, so that a filtered-out
    // function does not run.
    let mut checked = false;
    group.bench_function(P::NAME, |b| {
        if !checked {
            check::<P>(rt, shape);
            checked = true;
        }
        b.iter_custom(|iters| (0..iters).map(|_| timed::<P>(rt, shape)).sum())
    });
}

fn throughput(c: &mut Criterion, rt: &Runtime) {
    for shape in SHAPES {
        let mut group = c.benchmark_group(format!(
            "distributor/{}_{}x{}",
            shape.name, shape.submitters, shape.per_submitter
        ));
        group.throughput(Throughput::Elements(shape.jobs() as u64));
        // Flat: every sample runs the same number of transfers, so the
        // slow baselines fit 10 samples into the measurement time.
        group.sampling_mode(SamplingMode::Flat);
        bench_one::<Sluicegate>(&mut group, rt, shape);
        bench_one::<SpawnPerJob>(&mut group, rt, shape);
        bench_one::<JoinSetSemaphore>(&mut group, rt, shape);
        bench_one::<TaskTrackerSemaphore>(&mut group, rt, shape);
        group.finish();
    }
}

/// A stop to time: the load, then `shutdown()` or `shutdown_timeout(..)`.
#[derive(Clone, Copy)]
struct Stop {
    name: &'static str,
    work: Work,
    /// Jobs submitted (`submit(..).await`) before the stop.
    load: usize,
    /// `None`: `shutdown()`; `Some(t)`: `shutdown_timeout(t)`.
    timeout: Option<Duration>,
}

const STOPS: [Stop; 3] = [
    Stop {
        name: "trivial_drain",
        work: Work::Trivial,
        load: CAPACITY,
        timeout: None,
    },
    Stop {
        name: "sleep1ms_drain",
        work: Work::Sleep(MS),
        load: 256 + CAPACITY,
        timeout: None,
    },
    Stop {
        name: "sleep1s_timeout1ms",
        work: Work::Sleep(Duration::from_secs(1)),
        load: 256 + CAPACITY,
        timeout: Some(MS),
    },
];

/// Jobs the pool took and cannot account for: must be 0.
fn lost(s: &Stats) -> u64 {
    s.submitted - (s.completed + s.failed + s.panicked + s.cancelled + s.handed_back)
}

/// Loads a fresh pool, then times the stop alone; panics if a job is lost.
fn stop_once(rt: &Runtime, stop: Stop) -> (Duration, Stats) {
    let spawner = sluicegate_rt::TokioSpawner::with_handle(rt.handle().clone());
    let pool = sluicegate_distributor::builder::<(), ()>(stop.work.workers(), CAPACITY)
        .sleeper(sluicegate_rt::TokioSleeper)
        .build(spawner)
        .expect("valid pool settings");
    rt.block_on(async {
        for _ in 0..stop.load {
            pool.submit(job(stop.work, None)).await.expect("pool open");
        }
        let start = Instant::now();
        let stopped = match stop.timeout {
            None => pool.shutdown().await,
            Some(t) => pool.shutdown_timeout(t).await,
        };
        let elapsed = start.elapsed();
        let s = stopped.stats;
        assert_eq!(s.submitted, stop.load as u64);
        assert_eq!(stopped.handed_back.len() as u64, s.handed_back);
        assert_eq!(lost(&s), 0, "{}: jobs lost at stop: {s:?}", stop.name);
        assert!(s.is_balanced());
        (elapsed, s)
    })
}

fn shutdown(c: &mut Criterion, rt: &Runtime) {
    for stop in STOPS {
        let mut group = c.benchmark_group(format!("distributor/shutdown_{}", stop.name));
        group.sampling_mode(SamplingMode::Flat);
        let mut printed = false;
        group.bench_function("sluicegate", |b| {
            if !printed {
                let (took, s) = stop_once(rt, stop);
                println!(
                    "distributor/shutdown_{}: stop took {took:?}; submitted {}, completed {}, \
                     failed {}, panicked {}, cancelled {}, handed back {}, lost {}",
                    stop.name,
                    s.submitted,
                    s.completed,
                    s.failed,
                    s.panicked,
                    s.cancelled,
                    s.handed_back,
                    lost(&s),
                );
                printed = true;
            }
            b.iter_custom(|iters| (0..iters).map(|_| stop_once(rt, stop).0).sum())
        });
        group.finish();
    }
}

/// All groups; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_time()
        .build()
        .expect("tokio runtime");
    throughput(&mut criterion, &rt);
    shutdown(&mut criterion, &rt);
}

criterion_main!(benches);
