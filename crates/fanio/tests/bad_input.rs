//! Bad settings get typed errors, and nothing is spawned.

mod support;

use std::sync::atomic::Ordering;

use futures_lite::stream;
use sluicegate_fanio::{
    ConfigError, Distribution, FanOutBuilder, SlowConsumer, broadcast, fan_out,
};
use support::Counting;

#[test]
fn zero_workers_is_an_error_and_spawns_nothing() {
    let spawner = Counting::default();
    let err = fan_out(stream::iter(0..3), 0, &spawner, |i: i32| async move { i }).unwrap_err();
    assert_eq!(err, ConfigError::ZeroWorkers);
    let err = FanOutBuilder::new(0)
        .distribution(Distribution::keyed(|i: &i32| *i))
        .spawn(stream::iter(0..3), &spawner, |i| async move { i })
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroWorkers);
    assert_eq!(spawner.0.load(Ordering::SeqCst), 0);
    assert_eq!(err.to_string(), "a fan-out needs at least 1 worker");
}

#[test]
fn absurd_worker_counts_are_errors_and_spawn_nothing() {
    let spawner = Counting::default();
    for workers in [sluicegate_fanio::MAX_WORKERS + 1, usize::MAX] {
        let err = fan_out(
            stream::iter(0..3),
            workers,
            &spawner,
            |i: i32| async move { i },
        )
        .unwrap_err();
        assert_eq!(err, ConfigError::TooManyWorkers(workers));
        let err = FanOutBuilder::new(workers)
            .distribution(Distribution::keyed(|i: &i32| *i))
            .spawn(stream::iter(0..3), &spawner, |i| async move { i })
            .unwrap_err();
        assert_eq!(err, ConfigError::TooManyWorkers(workers));
    }
    assert_eq!(spawner.0.load(Ordering::SeqCst), 0);
    assert_eq!(
        ConfigError::TooManyWorkers(70_000).to_string(),
        "a fan-out takes at most 65536 workers, got 70000"
    );
}

#[test]
fn zero_capacities_are_errors_and_spawn_nothing() {
    let spawner = Counting::default();
    for (cap, out_cap) in [(0, 1), (1, 0), (0, 0)] {
        let err = FanOutBuilder::new(2)
            .capacity(cap)
            .output_capacity(out_cap)
            .spawn(stream::iter(0..3), &spawner, |i: i32| async move { i })
            .unwrap_err();
        assert_eq!(err, ConfigError::ZeroCapacity);
    }
    assert_eq!(spawner.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_broadcast_of_zero_capacity_is_an_error() {
    for policy in [
        SlowConsumer::Backpressure,
        SlowConsumer::Drop,
        SlowConsumer::Disconnect,
    ] {
        let err = broadcast::<u8>(0, policy).unwrap_err();
        assert_eq!(err, ConfigError::ZeroCapacity);
        assert_eq!(err.to_string(), "capacity must be at least 1");
    }
}

#[test]
fn valid_settings_spawn_workers_plus_one_feeder() {
    let spawner = Counting::default();
    let out = fan_out(stream::iter(0..3), 5, &spawner, |i: i32| async move { i }).unwrap();
    assert_eq!(spawner.0.load(Ordering::SeqCst), 6);
    assert_eq!(out.stats().workers.len(), 5);
}

#[test]
fn absurd_capacities_are_errors_and_spawn_nothing() {
    // Queues are allocated up front: an absurd capacity must be refused,
    // not panic ("capacity overflow") or abort the process (out of memory).
    let spawner = Counting::default();
    let max = sluicegate_fanio::MAX_CAPACITY;
    for (cap, out_cap) in [(usize::MAX, 1), (1, usize::MAX), (max + 1, 1), (1, max)] {
        let err = FanOutBuilder::new(2)
            .capacity(cap)
            .output_capacity(out_cap)
            .spawn(stream::iter(0..3), &spawner, |i: i32| async move { i })
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::CapacityTooLarge(cap.saturating_add(out_cap))
        );
    }
    // Keyed: one queue per worker, so the total counts them all.
    let err = FanOutBuilder::new(1024)
        .distribution(Distribution::keyed(|i: &i32| *i))
        .capacity(max / 1024)
        .spawn(stream::iter(0..3), &spawner, |i| async move { i })
        .unwrap_err();
    assert_eq!(err, ConfigError::CapacityTooLarge(max + 64));
    assert_eq!(spawner.0.load(Ordering::SeqCst), 0);
    // The largest keyed pool at the default capacity is fine.
    let out = FanOutBuilder::new(sluicegate_fanio::MAX_WORKERS)
        .distribution(Distribution::keyed(|i: &i32| *i))
        .spawn(stream::iter(0..3), &spawner, |i| async move { i });
    assert!(out.is_ok());
}
