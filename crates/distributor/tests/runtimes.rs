//! The runtime matrix: the same checks with workers on tokio (multi-thread),
//! on smol and on plain threads. Deterministic: no sleeping; real sleepers
//! are only asked for zero-length waits.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sluicegate_distributor::Distributor;
use sluicegate_rt::{Sleeper, Spawner, block_on};
use support::*;

type P<S> = Distributor<u32, String, S>;

fn build<Sp, S>(spawner: Sp, sleeper: S) -> P<S>
where
    Sp: Spawner + Send + Sync + 'static,
    S: Sleeper + Send + Sync + 'static,
{
    sluicegate_distributor::builder(3, 8)
        .sleeper(sleeper)
        .build(spawner)
        .unwrap()
}

/// 4 submitters x 250 jobs (some failing, some panicking), then shutdown:
/// every job accounted for.
async fn load_then_shutdown<S: Sleeper>(pool: P<S>) {
    quiet_job_panics();
    let ran = Arc::new(AtomicU32::new(0));
    for i in 0..1000u32 {
        let ran = Arc::clone(&ran);
        pool.submit(async move {
            ran.fetch_add(1, Ordering::SeqCst);
            match i % 10 {
                0 => panic!("{BOOM}"),
                1 => Err("no".to_owned()),
                _ => Ok(i),
            }
        })
        .await
        .unwrap();
    }
    let s = pool.shutdown().await.stats;
    assert_eq!(
        (s.submitted, s.completed, s.failed, s.panicked),
        (1000, 800, 100, 100)
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
    assert!(s.is_balanced());
    assert_eq!(s.workers, 0);
}

/// A full queue and a zero-length deadline: the job comes back.
async fn zero_timeout_hands_back<S: Sleeper>(pool: P<S>) {
    let valve = Valve::default();
    let (tx, started) = events();
    for i in 0..3 {
        pool.submit(held(i, &tx, &valve)).await.unwrap();
    }
    recv_n(&started, 3);
    for i in 3..11 {
        pool.submit(quick(i)).await.unwrap();
    }
    let err = pool
        .submit_timeout(quick(99), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let stopped = pool.abort().await;
    assert_eq!(run_back(stopped.handed_back), (3..11).collect::<Vec<_>>());
    assert_eq!(stopped.stats.cancelled, 3);
    assert!(stopped.stats.is_balanced());
}

/// Dropping every handle: the tracked worker tasks all end.
fn drop_leaves_no_task<
    Sp: Spawner + Clone + Send + Sync + 'static,
    S: Sleeper + Send + Sync + 'static,
>(
    spawner: Sp,
    sleeper: S,
) {
    let tracked = Tracked::new(spawner);
    let pool = build(tracked.clone(), sleeper);
    for i in 0..20 {
        block_on(pool.submit(quick(i))).unwrap();
    }
    drop(pool);
    wait_until("every worker task ends", || tracked.live() == 0);
    assert_eq!(tracked.spawned.load(Ordering::SeqCst), 3);
}

mod tokio_rt {
    use super::*;
    use sluicegate_rt::{TokioSleeper, TokioSpawner};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn load_then_shutdown_accounts_every_job() {
        let rt = rt();
        let pool = build(TokioSpawner::with_handle(rt.handle().clone()), TokioSleeper);
        rt.block_on(load_then_shutdown(pool));
    }

    #[test]
    fn zero_timeout_and_abort_hand_back() {
        let rt = rt();
        let pool = build(TokioSpawner::with_handle(rt.handle().clone()), TokioSleeper);
        rt.block_on(zero_timeout_hands_back(pool));
    }

    #[test]
    fn drop_without_shutdown_leaves_no_task() {
        let rt = rt();
        drop_leaves_no_task(TokioSpawner::with_handle(rt.handle().clone()), TokioSleeper);
    }
}

mod smol_rt {
    use super::*;
    use sluicegate_rt::{SmolSleeper, SmolSpawner};

    #[test]
    fn load_then_shutdown_accounts_every_job() {
        smol::block_on(load_then_shutdown(build(SmolSpawner::new(), SmolSleeper)));
    }

    #[test]
    fn zero_timeout_and_abort_hand_back() {
        smol::block_on(zero_timeout_hands_back(build(
            SmolSpawner::new(),
            SmolSleeper,
        )));
    }

    #[test]
    fn drop_without_shutdown_leaves_no_task() {
        drop_leaves_no_task(SmolSpawner::new(), SmolSleeper);
    }
}

mod threads_rt {
    use super::*;
    use sluicegate_rt::{ThreadSleeper, ThreadSpawner};

    #[test]
    fn load_then_shutdown_accounts_every_job() {
        block_on(load_then_shutdown(build(
            ThreadSpawner::new(),
            ThreadSleeper,
        )));
    }

    #[test]
    fn zero_timeout_and_abort_hand_back() {
        block_on(zero_timeout_hands_back(build(
            ThreadSpawner::new(),
            ThreadSleeper,
        )));
    }

    #[test]
    fn drop_without_shutdown_leaves_no_task() {
        drop_leaves_no_task(ThreadSpawner::new(), ThreadSleeper);
    }
}
