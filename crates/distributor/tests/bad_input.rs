//! Settings that cannot work get a typed error, never a panic.

use std::convert::Infallible;

use sluicegate_distributor::{ConfigError, ResizeError, rt::BoxFuture};

fn spawner() -> impl Fn(BoxFuture) + Send + Sync + 'static {
    |f: BoxFuture| {
        std::thread::spawn(move || sluicegate_rt::block_on(f));
    }
}

#[test]
fn zero_workers_is_a_typed_error() {
    let err = sluicegate_distributor::builder::<(), Infallible>(0, 8)
        .build(spawner())
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroWorkers);
    assert_eq!(err.to_string(), "a pool needs at least 1 worker");
}

#[test]
fn zero_capacity_is_a_typed_error() {
    let err = sluicegate_distributor::builder::<(), Infallible>(4, 0)
        .build(spawner())
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroCapacity);
    assert_eq!(err.to_string(), "queue capacity must be at least 1");
}

#[test]
fn nothing_is_spawned_for_a_bad_config() {
    let spawned = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&spawned);
    let counting = move |_: BoxFuture| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    };
    assert!(
        sluicegate_distributor::builder::<(), Infallible>(0, 0)
            .build(counting)
            .is_err()
    );
    assert_eq!(spawned.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn resize_to_zero_or_after_stop_is_a_typed_error() {
    let pool = sluicegate_distributor::builder::<(), Infallible>(1, 1)
        .build(spawner())
        .unwrap();
    assert_eq!(pool.resize(0), Err(ResizeError::ZeroWorkers));
    assert_eq!(pool.workers(), 1, "a refused resize changes nothing");
    sluicegate_rt::block_on(pool.shutdown());
    assert_eq!(pool.resize(2), Err(ResizeError::Stopped));
    assert_eq!(pool.stats().workers, 0);
}

#[test]
fn absurd_worker_counts_are_typed_errors_and_spawn_nothing() {
    use sluicegate_distributor::MAX_WORKERS;
    let spawned = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&spawned);
    let counting = move |_: BoxFuture| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    };
    for workers in [MAX_WORKERS + 1, usize::MAX] {
        let err = sluicegate_distributor::builder::<(), Infallible>(workers, 8)
            .build(counting.clone())
            .unwrap_err();
        assert_eq!(err, ConfigError::TooManyWorkers(workers));
    }
    assert_eq!(spawned.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        ConfigError::TooManyWorkers(2_000_000).to_string(),
        "a pool takes at most 1048576 workers, got 2000000"
    );

    let pool = sluicegate_distributor::builder::<(), Infallible>(1, 1)
        .build(spawner())
        .unwrap();
    assert_eq!(
        pool.resize(usize::MAX),
        Err(ResizeError::TooManyWorkers(usize::MAX))
    );
    assert_eq!(pool.workers(), 1, "a refused resize changes nothing");
    sluicegate_rt::block_on(pool.shutdown());
}
