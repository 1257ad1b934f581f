//! Helpers shared by the test suites: spawners that count their live
//! tasks, a valve that holds jobs until the test lets them go, a panic hook
//! that keeps the expected job panics quiet, and spin-waits (no sleeping).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use sluicegate_distributor::Distributor;
use sluicegate_rt::{ManualClock, Spawner};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The marker of panics the tests raise on purpose.
pub const BOOM: &str = "job panic (expected by the test)";

/// Keeps the panics the tests raise on purpose off stderr; every other
/// panic (a failed assertion) is still printed.
pub fn quiet_job_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains(BOOM) {
                default(info);
            }
        }));
    });
}

/// Wraps a spawner and counts the tasks alive: a task counts from `spawn`
/// until its future is dropped (finished, or dropped by its executor).
#[derive(Clone)]
pub struct Tracked<Sp> {
    inner: Sp,
    pub live: Arc<AtomicUsize>,
    pub spawned: Arc<AtomicUsize>,
}

struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<Sp> Tracked<Sp> {
    pub fn new(inner: Sp) -> Self {
        Self {
            inner,
            live: Arc::default(),
            spawned: Arc::default(),
        }
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

impl<Sp: Spawner> Spawner for Tracked<Sp> {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.live.fetch_add(1, Ordering::SeqCst);
        self.spawned.fetch_add(1, Ordering::SeqCst);
        let alive = Alive(Arc::clone(&self.live));
        self.inner.spawn(async move {
            let _alive = alive;
            fut.await;
        });
    }
}

/// A spawner that runs each task on its own thread and keeps the join
/// handles, so a test can prove every thread has exited.
#[derive(Clone, Default)]
pub struct Joinable(pub Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Spawner for Joinable {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = thread::spawn(move || sluicegate_rt::block_on(fut));
        self.0.lock().unwrap().push(handle);
    }
}

impl Joinable {
    /// Joins every thread spawned so far (and any spawned meanwhile).
    pub fn join_all(&self) -> usize {
        let mut joined = 0;
        loop {
            let batch: Vec<_> = self.0.lock().unwrap().drain(..).collect();
            if batch.is_empty() {
                return joined;
            }
            for h in batch {
                h.join().unwrap();
                joined += 1;
            }
        }
    }
}

/// Spins (yielding, never sleeping) until `cond` holds.
///
/// # Panics
///
/// After a very large number of tries, so that a bug fails the test
/// instead of hanging it.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200_000_000u64 {
        if cond() {
            return;
        }
        thread::yield_now();
    }
    panic!("never happened: {what}");
}

/// Holds jobs until the test opens it (runtime-neutral: tokio's semaphore
/// needs no tokio runtime).
#[derive(Clone)]
pub struct Valve(Arc<tokio::sync::Semaphore>);

impl Default for Valve {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(0)))
    }
}

impl Valve {
    pub async fn pass(&self) {
        self.0.acquire().await.unwrap().forget();
    }

    pub fn open(&self, n: usize) {
        self.0.add_permits(n);
    }
}

/// Events from jobs to the test thread.
pub fn events() -> (mpsc::Sender<u32>, mpsc::Receiver<u32>) {
    mpsc::channel()
}

/// Receives `n` events, failing (not hanging) if they never come.
pub fn recv_n(rx: &mpsc::Receiver<u32>, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("an expected job event never came")
        })
        .collect()
}

pub type Pool = Distributor<u32, String, ManualClock>;

/// A pool on tracked, joinable threads with a `ManualClock` sleeper.
pub fn pool(workers: usize, capacity: usize, clock: &ManualClock) -> (Pool, Tracked<Joinable>) {
    let spawner = Tracked::new(Joinable::default());
    let pool = sluicegate_distributor::builder(workers, capacity)
        .sleeper(clock.clone())
        .build(spawner.clone())
        .unwrap();
    (pool, spawner)
}

/// A job that reports `id` as started, waits for the valve, and yields `id`.
pub fn held(
    id: u32,
    started: &mpsc::Sender<u32>,
    valve: &Valve,
) -> impl Future<Output = Result<u32, String>> + Send + 'static {
    let (started, valve) = (started.clone(), valve.clone());
    async move {
        let _ = started.send(id);
        valve.pass().await;
        Ok(id)
    }
}

/// A job that yields `id` at once.
pub async fn quick(id: u32) -> Result<u32, String> {
    Ok(id)
}

/// Awaits handed-back jobs in place, returning their outputs.
pub fn run_back(jobs: Vec<sluicegate_distributor::Job<u32, String>>) -> Vec<u32> {
    jobs.into_iter()
        .map(|job| sluicegate_rt::block_on(async { job.await }).unwrap())
        .collect()
}

impl Tracked<Joinable> {
    /// Joins every worker thread.
    pub fn inner_join(&self) -> usize {
        self.inner.join_all()
    }
}
