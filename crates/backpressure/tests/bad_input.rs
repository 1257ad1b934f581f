//! Invalid settings are typed errors; extreme but valid ones work without
//! panics or overflow.

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use sluicegate_backpressure::{ConfigError, Overflow, SendTimeoutError};
use sluicegate_rt::ManualClock;
use support::{poll_once, queue};

#[test]
fn a_zero_capacity_is_rejected() {
    let err = sluicegate_backpressure::bounded::<u32>(0).unwrap_err();
    assert_eq!(err, ConfigError::ZeroCapacity);
    assert_eq!(err.to_string(), "capacity must be at least 1");
    for policy in [
        Overflow::Block,
        Overflow::Reject,
        Overflow::DropOldest,
        Overflow::DropNewest,
    ] {
        let built = sluicegate_backpressure::builder::<u32>(0)
            .policy(policy)
            .timer(ManualClock::new())
            .build();
        assert_eq!(built.unwrap_err(), ConfigError::ZeroCapacity);
    }
}

#[test]
fn a_huge_capacity_allocates_nothing_up_front() {
    let (tx, rx) = sluicegate_backpressure::bounded::<u64>(usize::MAX).unwrap();
    for i in 0..1_000 {
        tx.try_send(i).unwrap();
    }
    let s = tx.stats();
    assert_eq!(
        (s.capacity, s.len, s.high_watermark),
        (usize::MAX, 1_000, 1_000)
    );
    assert!(!tx.is_full());
    assert_eq!(rx.try_recv(), Ok(0));
}

#[test]
fn capacity_one_works_as_a_handoff() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    for i in 0..100 {
        tx.try_send(i).unwrap();
        assert!(tx.try_send(i).is_err());
        assert_eq!(rx.try_recv(), Ok(i));
    }
}

#[test]
fn a_zero_timeout_tries_once_and_hands_back() {
    let clock = ManualClock::new();
    let (tx, _rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    clock.block_on(tx.send_timeout(1, Duration::ZERO)).unwrap();
    let err = clock
        .block_on(tx.send_timeout(2, Duration::ZERO))
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::Timeout(2)));
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn a_max_timeout_saturates_instead_of_overflowing() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let mut send = pin!(tx.send_timeout(1, Duration::MAX));
    assert!(poll_once(send.as_mut()).is_pending());
    clock.advance(Duration::from_secs(86_400 * 365 * 100));
    assert!(poll_once(send.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(poll_once(send.as_mut()), Poll::Ready(Ok(())));
    // A century blocked fits the counter.
    assert_eq!(tx.stats().blocked, Duration::from_secs(86_400 * 365 * 100));
}

#[test]
fn a_panicking_drop_callback_leaks_no_slot() {
    let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
        .policy(Overflow::DropOldest)
        .on_drop(|item, _| assert_ne!(item, 0, "the callback panics on 0"))
        .build()
        .unwrap();
    tx.try_send(0).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.try_send(1)));
    assert!(panicked.is_err());
    // The new item went in before the callback ran; the slot is accounted.
    let s = tx.stats();
    assert_eq!((s.len, s.reserved, s.sent, s.dropped), (1, 0, 2, 1));
    assert_eq!(rx.try_recv(), Ok(1));
}
