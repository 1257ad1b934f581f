//! Settings that cannot work come back as typed errors, never panics.

use std::convert::Infallible;
use std::time::Duration;

use sluicegate_pipeline::{Batch, ConfigError, Order, Pipeline, TimerMode, batch, batch_hand_back};
use sluicegate_rt::ManualClock;

fn items() -> futures_lite::stream::Iter<std::ops::Range<u32>> {
    futures_lite::stream::iter(0..3)
}

#[test]
fn batch_settings_are_checked() {
    let clock = ManualClock::new();
    assert_eq!(Batch::size(0).validate(), Err(ConfigError::ZeroBatchSize));
    assert_eq!(
        Batch::size(4).max_wait(Duration::ZERO).validate(),
        Err(ConfigError::ZeroMaxWait)
    );
    assert_eq!(
        Batch::time(Duration::ZERO).validate(),
        Err(ConfigError::ZeroMaxWait)
    );
    assert_eq!(
        Batch::size(4).timer(TimerMode::FixedTicks).validate(),
        Err(ConfigError::TicksWithoutPeriod)
    );
    assert!(Batch::size(1).validate().is_ok());
    assert!(Batch::time(Duration::MAX).validate().is_ok());
    assert!(
        Batch::size(usize::MAX)
            .max_wait(Duration::from_nanos(1))
            .validate()
            .is_ok()
    );
    assert_eq!(
        batch(items(), Batch::size(0), clock.clone()).err(),
        Some(ConfigError::ZeroBatchSize)
    );
    assert_eq!(
        batch_hand_back(items(), Batch::size(2).max_wait(Duration::ZERO), clock).err(),
        Some(ConfigError::ZeroMaxWait)
    );
}

#[test]
fn the_builder_returns_the_first_bad_setting_from_sink() {
    let clock = ManualClock::new();
    let err = Pipeline::<_, Infallible>::source(items())
        .buffer(0)
        .sink(|_x| async {})
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroCapacity);

    let err = Pipeline::<_, Infallible>::source(items())
        .batch(Batch::size(0), clock.clone())
        .sink(|_b| async {})
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroBatchSize);

    let err = Pipeline::<_, Infallible>::source(items())
        .parallel(
            0,
            Order::Input,
            |_f: sluicegate_rt::BoxFuture| {},
            |x| async move { x },
        )
        .sink(|_x| async {})
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroParallelism);

    let err = Pipeline::<_, Infallible, _>::generator(0, |_out| async {})
        .sink(|_x: u32| async {})
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroCapacity);

    // The first bad setting wins.
    let err = Pipeline::<_, Infallible>::source(items())
        .batch_hand_back(Batch::size(4).max_wait(Duration::ZERO), clock)
        .buffer(0)
        .sink(|_b| async {})
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxWait);
}

#[test]
fn errors_display_in_lower_case() {
    for e in [
        ConfigError::ZeroCapacity,
        ConfigError::ZeroBatchSize,
        ConfigError::ZeroMaxWait,
        ConfigError::ZeroParallelism,
        ConfigError::TicksWithoutPeriod,
    ] {
        let msg = e.to_string();
        assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
    }
    let e = sluicegate_pipeline::EmitError(vec![1u8]);
    assert_eq!(format!("{e:?}"), "EmitError(..)");
    assert_eq!(e.to_string(), "emitting into a stopped pipeline");
}

#[test]
fn extreme_waits_do_not_overflow() {
    // Duration::MAX as max_wait: the timer never fires, the input's end
    // still flushes the batch.
    let clock = ManualClock::new();
    let mut b = batch(
        items(),
        Batch::size(100).max_wait(Duration::MAX),
        clock.clone(),
    )
    .unwrap();
    let got = clock.block_on(futures_lite::StreamExt::next(&mut b));
    assert_eq!(got, Some(vec![0, 1, 2]));
}
