//! Lossless cancellation, counted end to end: 10,000 sends, timed sends and
//! reserves raced against virtual-time deadlines while a consumer drains at
//! its own pace. Every item is received or handed back; no slot leaks.

mod support;

use std::time::Duration;

use futures_lite::future::zip;
use sluicegate_backpressure::{Overflow, Receiver, SendTimeoutError, Stats};
use sluicegate_rt::ManualClock;
use support::{Either, Rng, Tx, queue, race};

const COUNT: u32 = if cfg!(miri) { 300 } else { 10_000 };
const CAPACITY: usize = 8;

fn micros(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Receives at an irregular pace until every sender is gone.
async fn consume(clock: &ManualClock, rx: &Receiver<u32>, seed: u64) -> Vec<u32> {
    let mut rng = Rng(seed);
    let mut got = Vec::new();
    loop {
        clock.sleep(micros(rng.below(40))).await;
        for _ in 0..=rng.below(3) {
            match rx.recv().await {
                Some(item) => got.push(item),
                None => return got,
            }
        }
    }
}

/// Runs `produce` (which owns the sender and returns the items it got
/// back) against the consumer, on virtual time.
fn run<P: std::future::Future<Output = Vec<u32>>>(
    clock: &ManualClock,
    rx: &Receiver<u32>,
    produce: P,
) -> (Vec<u32>, Vec<u32>) {
    let (back, received) = clock.block_on(zip(produce, consume(clock, rx, 11)));
    (received, back)
}

/// Every item exactly once across `received` and `back`; FIFO; stats agree.
fn assert_lossless(received: &[u32], back: &[u32], s: Stats) {
    assert!(received.windows(2).all(|w| w[0] < w[1]), "FIFO, no repeats");
    let mut all: Vec<u32> = received.iter().chain(back).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..COUNT).collect::<Vec<_>>(), "0 items lost");
    assert!(
        !back.is_empty() && !received.is_empty(),
        "both outcomes happen: {} back",
        back.len()
    );
    assert_eq!(s.sent, received.len() as u64);
    assert_eq!(
        (s.received, s.len, s.reserved, s.dropped),
        (s.sent, 0, 0, 0)
    );
    assert!(s.full_events >= back.len() as u64);
    assert!(s.blocked > Duration::ZERO);
    assert!(s.high_watermark <= CAPACITY);
}

#[test]
fn sends_raced_against_a_deadline_lose_nothing() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, CAPACITY, Overflow::Block);
    let produce = async {
        let tx: Tx<u32> = tx;
        let mut rng = Rng(7);
        let mut back = Vec::new();
        for i in 0..COUNT {
            let mut send = tx.send(i);
            let mut deadline = Box::pin(clock.sleep(micros(rng.below(20))));
            match race(&mut send, &mut deadline, rng.below(2) == 0).await {
                Either::Left(sent) => sent.unwrap(),
                // Lost the race: the future is dropped, the item comes back.
                Either::Right(()) => back.push(send.into_inner().expect("not sent")),
            }
        }
        back
    };
    let (received, back) = run(&clock, &rx, produce);
    assert_lossless(&received, &back, rx.stats());
    assert_eq!(rx.stats().rejected, 0);
}

#[test]
fn timed_sends_hand_back_every_item_that_timed_out() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, CAPACITY, Overflow::Block);
    let produce = async {
        let tx: Tx<u32> = tx;
        let mut rng = Rng(3);
        let mut back = Vec::new();
        for i in 0..COUNT {
            match tx.send_timeout(i, micros(rng.below(20))).await {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(item)) => back.push(item),
                Err(other) => panic!("{other:?}"),
            }
        }
        back
    };
    let (received, back) = run(&clock, &rx, produce);
    let s = rx.stats();
    assert_lossless(&received, &back, s);
    assert_eq!(s.timed_out, back.len() as u64);
}

#[test]
fn reserves_raced_against_a_deadline_leak_no_slot() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, CAPACITY, Overflow::Block);
    let produce = async {
        let tx: Tx<u32> = tx;
        let mut rng = Rng(5);
        let mut back = Vec::new();
        for i in 0..COUNT {
            let mut reserve = tx.reserve();
            let mut deadline = Box::pin(clock.sleep(micros(rng.below(20))));
            match race(&mut reserve, &mut deadline, rng.below(2) == 0).await {
                Either::Left(permit) => {
                    let permit = permit.unwrap();
                    if rng.below(4) == 0 {
                        drop(permit); // an unused permit gives its slot back
                        back.push(i);
                    } else {
                        permit.send(i);
                    }
                }
                Either::Right(()) => back.push(i), // the reserve is dropped
            }
        }
        // Every slot is free again once the consumer catches up: no leak.
        back
    };
    let (received, back) = run(&clock, &rx, produce);
    assert_lossless(&received, &back, rx.stats());
}

#[test]
fn dropped_waiters_wake_the_next_one() {
    // A notified waiter that is dropped must pass its wake-up on.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let (flag, waker) = support::Flag::new();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut first = Box::pin(tx.send(1));
    let mut second = Box::pin(tx.send(2));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(std::future::Future::poll(second.as_mut(), &mut cx).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // notifies `first`
    drop(first);
    let _ = flag.take();
    assert!(std::future::Future::poll(second.as_mut(), &mut cx).is_ready());
    assert_eq!(rx.try_recv(), Ok(2));
    let s = rx.stats();
    assert_eq!((s.sent, s.received, s.len, s.reserved), (2, 2, 0, 0));
}
