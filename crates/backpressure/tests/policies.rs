//! Each overflow policy: exact queue contents, drop log and counters.

mod support;

use std::pin::pin;
use std::task::{Context, Poll};

use sluicegate_backpressure::{DropReason, Overflow, Receiver, SendError, SendTimeoutError};
use sluicegate_rt::ManualClock;
use support::{Flag, assert_accounted, ms, poll_once, queue};

fn drain(rx: &Receiver<u32>) -> Vec<u32> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn block_waits_and_keeps_everything() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 3, Overflow::Block);
    assert_eq!(tx.policy(), Overflow::Block);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
    let mut send = pin!(tx.send(3));
    assert!(poll_once(send.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(poll_once(send.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(drain(&rx), [1, 2, 3]);
    assert_eq!(log.len(), 0);
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.dropped, s.rejected, s.full_events),
        (4, 4, 0, 1, 2)
    );
    assert_accounted(&tx);
}

#[test]
fn reject_hands_the_item_back_even_from_send() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 3, Overflow::Reject);
    for i in 0..3 {
        clock.block_on(tx.send(i)).unwrap();
    }
    assert_eq!(clock.block_on(tx.send(3)), Err(SendError::Full(3)));
    assert_eq!(tx.try_send(4), Err(SendError::Full(4)));
    let timed = clock.block_on(tx.send_timeout(5, ms(10)));
    assert!(matches!(timed, Err(SendTimeoutError::Full(5))));
    assert_eq!(clock.elapsed(), ms(0), "no waiting under Reject");
    assert_eq!(drain(&rx), [0, 1, 2]);
    assert_eq!(log.len(), 0);
    let s = tx.stats();
    assert_eq!(
        (
            s.sent,
            s.received,
            s.dropped,
            s.rejected,
            s.full_events,
            s.blocked
        ),
        (3, 3, 0, 3, 3, ms(0))
    );
    assert_accounted(&tx);
}

#[test]
fn drop_oldest_evicts_to_the_callback_and_keeps_the_newest() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 3, Overflow::DropOldest);
    clock.block_on(async {
        for i in 0..4 {
            tx.send(i).await.unwrap();
        }
    });
    tx.try_send(4).unwrap();
    tx.try_send(5).unwrap();
    assert_eq!(
        log.items(),
        [
            (0, DropReason::Oldest),
            (1, DropReason::Oldest),
            (2, DropReason::Oldest)
        ]
    );
    let s = tx.stats();
    assert_eq!(
        (
            s.sent,
            s.len,
            s.dropped,
            s.full_events,
            s.rejected,
            s.high_watermark
        ),
        (6, 3, 3, 3, 0, 3)
    );
    assert_accounted(&tx);
    assert_eq!(drain(&rx), [3, 4, 5]);
    assert_accounted(&tx);
}

#[test]
fn drop_oldest_with_every_slot_reserved_has_nothing_to_evict() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 2, Overflow::DropOldest);
    let a = tx.try_reserve().unwrap();
    let b = tx.try_reserve().unwrap();
    assert_eq!(tx.try_send(9), Err(SendError::Full(9)));
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(tx.send(10));
    assert!(send.as_mut().poll(&mut cx).is_pending(), "waits like Block");
    a.send(1);
    // One item queued now: the waiting send is woken and evicts it.
    assert!(flag.take());
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    b.send(2);
    assert_eq!(log.items(), [(1, DropReason::Oldest)]);
    assert_eq!(drain(&rx), [10, 2]);
    assert_accounted(&tx);
}

#[test]
fn drop_newest_keeps_the_queue_and_drops_the_arrival() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 3, Overflow::DropNewest);
    clock.block_on(async {
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
    });
    tx.try_send(5).unwrap();
    assert_eq!(
        log.items(),
        [
            (3, DropReason::Newest),
            (4, DropReason::Newest),
            (5, DropReason::Newest)
        ]
    );
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.len, s.dropped, s.full_events, s.rejected),
        (6, 3, 3, 3, 0)
    );
    assert_eq!(drain(&rx), [0, 1, 2]);
    assert_accounted(&tx);
}

#[test]
fn drop_policies_without_a_callback_still_count() {
    for policy in [Overflow::DropOldest, Overflow::DropNewest] {
        let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
            .policy(policy)
            .build()
            .unwrap();
        for i in 0..10 {
            tx.try_send(i).unwrap();
        }
        let s = tx.stats();
        assert_eq!((s.sent, s.dropped, s.len, s.full_events), (10, 9, 1, 9));
        let kept = rx.try_recv().unwrap();
        assert_eq!(kept, if policy == Overflow::DropOldest { 9 } else { 0 });
    }
}

#[test]
fn reserve_waits_under_every_policy() {
    for policy in [
        Overflow::Block,
        Overflow::Reject,
        Overflow::DropOldest,
        Overflow::DropNewest,
    ] {
        let clock = ManualClock::new();
        let (tx, rx, log) = queue::<u32>(&clock, 1, policy);
        tx.try_send(0).unwrap();
        let mut reserve = pin!(tx.reserve());
        assert!(poll_once(reserve.as_mut()).is_pending(), "{policy:?}");
        assert_eq!(rx.try_recv(), Ok(0));
        let Poll::Ready(Ok(permit)) = poll_once(reserve.as_mut()) else {
            panic!("{policy:?}: the slot goes to the reserver");
        };
        permit.send(1);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(log.len(), 0);
    }
}

#[test]
fn drop_oldest_wakes_every_waiting_send_once_there_is_something_to_evict() {
    // Two sends wait (every slot is reserved: nothing to evict). The permit's
    // item wakes the first, which evicts it; the queue then holds an item
    // again, so the second waiter can evict too and must be woken, not left
    // asleep until some receiver happens to take an item.
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 1, Overflow::DropOldest);
    let permit = tx.try_reserve().unwrap();
    let (f1, w1) = Flag::new();
    let (f2, w2) = Flag::new();
    let mut s1 = pin!(tx.send(1));
    let mut s2 = pin!(tx.send(2));
    assert!(s1.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
    assert!(s2.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
    permit.send(0);
    assert!(f1.take(), "the permit's item wakes a waiter");
    let mut cx1 = Context::from_waker(&w1);
    assert_eq!(s1.as_mut().poll(&mut cx1), Poll::Ready(Ok(())));
    assert!(f2.take(), "lost wake-up: an item is queued to evict");
    let mut cx2 = Context::from_waker(&w2);
    assert_eq!(s2.as_mut().poll(&mut cx2), Poll::Ready(Ok(())));
    assert_eq!(
        log.items(),
        [(0, DropReason::Oldest), (1, DropReason::Oldest)]
    );
    assert_eq!(drain(&rx), [2]);
    assert_accounted(&tx);
}

#[test]
fn drop_oldest_wakes_a_waiting_send_behind_a_waiting_reserve() {
    // A reserve waits for a real slot whatever the policy; a `DropOldest`
    // send waits only while there is nothing to evict. When the permit's
    // item arrives, the reserve (first in line) still cannot go on, but the
    // send can: it must be woken, not left asleep behind the reserve until
    // some receiver takes an item.
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 1, Overflow::DropOldest);
    let permit = tx.try_reserve().unwrap();
    let (fr, wr) = Flag::new();
    let (fs, ws) = Flag::new();
    let mut reserve = pin!(tx.reserve());
    let mut send = pin!(tx.send(1));
    assert!(
        reserve
            .as_mut()
            .poll(&mut Context::from_waker(&wr))
            .is_pending()
    );
    assert!(
        send.as_mut()
            .poll(&mut Context::from_waker(&ws))
            .is_pending()
    );
    permit.send(0);
    if fr.take() {
        let mut cx = Context::from_waker(&wr);
        assert!(reserve.as_mut().poll(&mut cx).is_pending(), "no free slot");
    }
    assert!(fs.take(), "lost wake-up: an item is queued to evict");
    let mut cx = Context::from_waker(&ws);
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(log.items(), [(0, DropReason::Oldest)]);
    // The receive frees the slot: the reserve gets it.
    assert_eq!(drain(&rx), [1]);
    assert!(fr.take());
    let mut cx = Context::from_waker(&wr);
    let Poll::Ready(Ok(permit)) = reserve.as_mut().poll(&mut cx) else {
        panic!("the reserve gets the freed slot");
    };
    permit.send(2);
    assert_eq!(drain(&rx), [2]);
    assert_accounted(&tx);
}
