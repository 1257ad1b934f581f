//! `distributor/trivial_<S>x<M>`: what running one trivial job costs.
//!
//! `S` submitters each submit `M` trivial jobs (`async { Ok(()) }`), then
//! the bench waits until every job has run. Groups: `trivial_1x100000`
//! (one submitter, 100,000 jobs: the 1M is cut to 10⁵ to keep the
//! run short) and `trivial_100x1000` (100 concurrent submitters × 1,000).
//!
//! Implementations (criterion functions):
//! - `sluicegate`: a sluicegate-distributor pool with 2 workers and
//!   capacity 1024 (`submit(..).await`), then `shutdown().await`.
//! - `spawn_per_job`: `tokio::spawn` per job, then every `JoinHandle`
//!   awaited. Unbounded: no backpressure at all.
//! - `joinset_semaphore`: a `JoinSet` per submitter and one shared
//!   `Arc<Semaphore>` of 1024 permits: `acquire_owned` before each spawn,
//!   the permit dropped inside the task; each submitter then joins its set.
//!   The baseline.
//! - `tasktracker_semaphore`: as `joinset_semaphore`, with one shared
//!   tokio-util `TaskTracker` instead of the `JoinSet`s, closed and waited
//!   on at the end.
//!
//! Everything runs on one tokio multi-thread runtime with 2 worker
//! threads, built once outside the timed loop. The submitters are spawned
//! tasks; the bench thread only waits for them. Building the pool (or the
//! semaphore) is inside the timed region, a negligible part of it.
//!
//! One criterion iteration is one full transfer of all `S × M` jobs
//! (`iter_custom`, 10 samples, flat sampling); the group's
//! `Throughput::Elements` is the job count, and docs/benchmarks.md divides
//! the median by it to get ns per job. Every timed transfer checks that exactly `S × M` jobs finished
//! (join results, or the pool's `completed` counter); before timing, each
//! function runs one transfer whose jobs bump an `AtomicUsize` and checks
//! that it reached `S × M`. For `sluicegate` every transfer also checks
//! that `shutdown` handed back no job and that its stats are balanced.
//!
//! Run: `cargo bench -p sluicegate-benches --bench distributor -- --noplot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// Permits for the semaphore baselines, and the pool's queue capacity.
const CAPACITY: usize = 1024;

/// The pool's workers, and the runtime's worker threads.
const WORKERS: usize = 2;

/// Submitters and jobs per submitter.
#[derive(Clone, Copy)]
struct Shape {
    submitters: usize,
    per_submitter: usize,
}

impl Shape {
    fn jobs(self) -> usize {
        self.submitters * self.per_submitter
    }
}

const SHAPES: [Shape; 2] = [
    Shape {
        submitters: 1,
        per_submitter: 100_000,
    },
    Shape {
        submitters: 100,
        per_submitter: 1_000,
    },
];

/// The job: trivial, or counting into `counter` (the check before timing).
type Counter = Option<Arc<AtomicUsize>>;

async fn job(counter: Counter) -> Result<(), ()> {
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
        let pool = sluicegate_distributor::builder::<(), ()>(WORKERS, CAPACITY)
            .build(spawner)
            .expect("valid pool settings");
        let submitters: Vec<_> = (0..shape.submitters)
            .map(|_| {
                let pool = pool.clone();
                let counter = counter.clone();
                rt.spawn(async move {
                    for _ in 0..shape.per_submitter {
                        pool.submit(job(counter.clone())).await.expect("pool open");
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
                        .map(|_| tokio::spawn(job(counter.clone())))
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
        let semaphore = Arc::new(Semaphore::new(CAPACITY));
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
                        let job = job(counter.clone());
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
        let semaphore = Arc::new(Semaphore::new(CAPACITY));
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
                        let job = job(counter.clone());
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

/// All groups; what `criterion_group!` would generate, written out so it
/// can carry a doc comment (workspace lint `missing_docs`).
fn benches() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("tokio runtime");
    for shape in SHAPES {
        let mut group = criterion.benchmark_group(format!(
            "distributor/trivial_{}x{}",
            shape.submitters, shape.per_submitter
        ));
        group.throughput(Throughput::Elements(shape.jobs() as u64));
        // Flat: every sample runs the same number of transfers, so the
        // slow baselines fit 10 samples into the measurement time.
        group.sampling_mode(SamplingMode::Flat);
        bench_one::<Sluicegate>(&mut group, &rt, shape);
        bench_one::<SpawnPerJob>(&mut group, &rt, shape);
        bench_one::<JoinSetSemaphore>(&mut group, &rt, shape);
        bench_one::<TaskTrackerSemaphore>(&mut group, &rt, shape);
        group.finish();
    }
}

criterion_main!(benches);
