//! Broadcast: every subscriber gets every item in order; backpressure
//! holds the producer at the slowest buffer; drop and disconnect count
//! exactly what each subscriber missed; late subscribers; closing.

mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_lite::StreamExt;
use proptest::prelude::*;
use sluicegate_fanio::{RecvError, SendError, SlowConsumer, Subscriber, broadcast};

fn poll_sub<T>(s: &mut Subscriber<T>) -> Poll<Option<Result<T, RecvError>>> {
    Pin::new(s).poll_next(&mut Context::from_waker(Waker::noop()))
}

/// Everything buffered for `s` now (the broadcast stays open).
fn drain<T>(s: &mut Subscriber<T>) -> Vec<Result<T, RecvError>> {
    let mut out = Vec::new();
    while let Poll::Ready(Some(x)) = poll_sub(s) {
        out.push(x);
    }
    out
}

#[test]
fn every_subscriber_gets_every_item_in_order() {
    let publisher = broadcast::<u32>(8, SlowConsumer::Backpressure).unwrap();
    let subs: Vec<_> = (0..5).map(|_| publisher.subscribe()).collect();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|s| std::thread::spawn(move || sluicegate_rt::block_on(s.collect::<Vec<_>>())))
        .collect();
    sluicegate_rt::block_on(async {
        for i in 0..2000 {
            assert_eq!(publisher.send(i).await, Ok(5));
        }
    });
    drop(publisher);
    for r in readers {
        let got: Vec<u32> = r.join().unwrap().into_iter().map(Result::unwrap).collect();
        assert_eq!(got, (0..2000).collect::<Vec<_>>());
    }
}

#[test]
fn backpressure_holds_the_producer_at_the_slowest_buffer() {
    let cap = 3;
    let publisher = broadcast::<u32>(cap, SlowConsumer::Backpressure).unwrap();
    let mut fast = publisher.subscribe();
    let mut slow = publisher.subscribe();
    let mut sent = 0u32;
    let mut slow_read = 0u32;
    for round in 0..50 {
        // Send until held.
        loop {
            let mut send = pin!(publisher.send(sent));
            match send.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(r) => {
                    assert_eq!(r, Ok(2));
                    sent += 1;
                }
                Poll::Pending => break, // dropping it sends nothing
            }
            assert_eq!(drain(&mut fast).len(), 1, "the fast one keeps up");
        }
        // Held exactly at the slow subscriber's buffer.
        assert_eq!(sent, slow_read + cap as u32, "round {round}");
        assert_eq!(slow.stats().buffered, cap);
        assert!(matches!(publisher.try_send(999), Err(SendError::Full(999))));
        // The slow one reads one or two.
        for _ in 0..(1 + round % 2) {
            assert_eq!(poll_sub(&mut slow), Poll::Ready(Some(Ok(slow_read))));
            slow_read += 1;
        }
    }
    let s = publisher.stats();
    assert_eq!(s.dropped, 0);
    assert!(s.full_events >= 50);
    assert!(s.subscribers.iter().all(|x| x.high_watermark <= cap));
}

#[test]
fn a_waiting_producer_wakes_when_the_slow_subscriber_reads_or_leaves() {
    let publisher = broadcast::<u32>(1, SlowConsumer::Backpressure).unwrap();
    let mut a = publisher.subscribe();
    let b = publisher.subscribe();
    publisher.try_send(0).unwrap();
    assert_eq!(drain(&mut a), [Ok(0)]);
    let handle = {
        let publisher = publisher.clone();
        std::thread::spawn(move || sluicegate_rt::block_on(publisher.send(1)))
    };
    // `b` never reads but leaves: its unread item is counted, the send goes on.
    while publisher.stats().full_events == 0 {
        std::thread::yield_now();
    }
    drop(b);
    assert_eq!(handle.join().unwrap(), Ok(1));
    assert_eq!(drain(&mut a), [Ok(1)]);
    let s = publisher.stats();
    assert_eq!((s.unsubscribed, s.left_unread), (1, 1));
}

proptest! {
    /// Random interleavings of sends and reads by three subscribers under
    /// `Drop`: per subscriber `sent_to == delivered + buffered + dropped`,
    /// the items it gets are in order, and the `Lagged(n)` markers sit
    /// exactly where `n` items are missing.
    #[test]
    fn drop_mode_counts_exactly_what_was_dropped_for_whom(
        ops in prop::collection::vec(0u8..4, 1..400),
        cap in 1usize..5,
    ) {
        let publisher = broadcast::<u32>(cap, SlowConsumer::Drop).unwrap();
        let mut subs: Vec<_> = (0..3).map(|_| publisher.subscribe()).collect();
        let mut seen: Vec<Vec<Result<u32, RecvError>>> = vec![Vec::new(); 3];
        let mut next = 0u32;
        for op in ops {
            match op {
                3 => {
                    prop_assert_eq!(publisher.try_send(next).map(|_| ()), Ok(()));
                    next += 1;
                }
                k => {
                    if let Poll::Ready(Some(x)) = poll_sub(&mut subs[k as usize]) {
                        seen[k as usize].push(x);
                    }
                }
            }
        }
        for (k, sub) in subs.iter_mut().enumerate() {
            let st = sub.stats();
            prop_assert_eq!(st.sent_to, u64::from(next));
            prop_assert_eq!(st.sent_to, st.delivered + st.buffered as u64 + st.dropped);
            seen[k].extend(drain(sub));
            let st = sub.stats();
            prop_assert_eq!(st.buffered, 0);
            // Replay: items in order, each gap exactly the marker before it.
            let mut expect = 0u32;
            let mut dropped = 0u64;
            for x in &seen[k] {
                match x {
                    Ok(v) => { prop_assert_eq!(*v, expect); expect += 1; }
                    Err(RecvError::Lagged(n)) => { expect += *n as u32; dropped += n; }
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                }
            }
            prop_assert_eq!(expect, next);
            prop_assert_eq!(dropped, st.dropped);
            prop_assert!(st.high_watermark <= cap);
        }
        let total: u64 = subs.iter().map(|s| s.stats().dropped).sum();
        prop_assert_eq!(publisher.stats().dropped, total);
    }
}

#[test]
fn disconnect_mode_cuts_off_the_slow_subscriber_only() {
    let publisher = broadcast::<u32>(2, SlowConsumer::Disconnect).unwrap();
    let mut fast = publisher.subscribe();
    let mut slow = publisher.subscribe();
    for i in 0..5 {
        publisher.try_send(i).unwrap();
        assert_eq!(drain(&mut fast), [Ok(i)]);
    }
    assert_eq!(publisher.subscribers(), 1);
    assert_eq!(
        drain(&mut slow),
        [Ok(0), Ok(1), Err(RecvError::Disconnected)]
    );
    assert_eq!(
        poll_sub(&mut slow),
        Poll::Ready(None),
        "then its stream ends"
    );
    let st = slow.stats();
    assert!(st.disconnected);
    assert_eq!((st.sent_to, st.delivered, st.dropped), (3, 2, 1));
    assert_eq!(st.sent_to, st.delivered + st.buffered as u64 + st.dropped);
    // The fast one is unaffected and the broadcast goes on.
    assert_eq!(publisher.try_send(5), Ok(1));
    assert_eq!(drain(&mut fast), [Ok(5)]);
}

#[test]
fn a_late_subscriber_gets_items_from_then_on() {
    let publisher = broadcast::<u32>(4, SlowConsumer::Backpressure).unwrap();
    let mut early = publisher.subscribe();
    publisher.try_send(1).unwrap();
    publisher.try_send(2).unwrap();
    let mut late = publisher.subscribe();
    let mut later = late.resubscribe();
    publisher.try_send(3).unwrap();
    assert_eq!(drain(&mut early), [Ok(1), Ok(2), Ok(3)]);
    assert_eq!(drain(&mut late), [Ok(3)]);
    assert_eq!(drain(&mut later), [Ok(3)]);
    assert_eq!(late.stats().sent_to, 1);
}

#[test]
fn sending_to_nobody_hands_the_item_back() {
    let publisher = broadcast::<String>(4, SlowConsumer::Drop).unwrap();
    let err = sluicegate_rt::block_on(publisher.send("hi".to_owned())).unwrap_err();
    assert!(matches!(&err, SendError::NoSubscribers(s) if s == "hi"));
    assert_eq!(err.into_inner(), "hi");
    let sub = publisher.subscribe();
    drop(sub);
    assert!(matches!(
        publisher.try_send("again".to_owned()),
        Err(SendError::NoSubscribers(_))
    ));
    assert_eq!(publisher.stats().no_subscribers, 2);
}

#[test]
fn closing_ends_every_stream_after_its_buffer() {
    let publisher = broadcast::<u32>(4, SlowConsumer::Backpressure).unwrap();
    let mut a = publisher.subscribe();
    let other = publisher.clone();
    publisher.try_send(1).unwrap();
    drop(publisher);
    assert_eq!(poll_sub(&mut a), Poll::Ready(Some(Ok(1))));
    assert_eq!(poll_sub(&mut a), Poll::Pending, "a publisher remains");
    other.try_send(2).unwrap();
    other.close();
    assert!(other.is_closed());
    assert!(matches!(other.try_send(3), Err(SendError::Closed(3))));
    assert_eq!(poll_sub(&mut a), Poll::Ready(Some(Ok(2))));
    assert_eq!(poll_sub(&mut a), Poll::Ready(None));
    let mut after = other.subscribe();
    assert_eq!(poll_sub(&mut after), Poll::Ready(None));
}

#[test]
fn close_releases_a_waiting_producer_with_its_item() {
    let publisher = broadcast::<u32>(1, SlowConsumer::Backpressure).unwrap();
    let _sub = publisher.subscribe();
    publisher.try_send(0).unwrap();
    let mut send = pin!(publisher.send(1));
    let cx = &mut Context::from_waker(Waker::noop());
    assert!(send.as_mut().poll(cx).is_pending());
    publisher.close();
    assert_eq!(
        send.as_mut().poll(cx),
        Poll::Ready(Err(SendError::Closed(1)))
    );
}

#[test]
fn a_send_given_up_hands_its_item_back() {
    let publisher = broadcast::<u32>(1, SlowConsumer::Backpressure).unwrap();
    let _sub = publisher.subscribe();
    publisher.try_send(0).unwrap();
    let mut send = publisher.send(7);
    let cx = &mut Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut send).poll(cx).is_pending());
    assert_eq!(send.into_inner(), Some(7));
    assert_eq!(publisher.stats().sent, 1);
}

/// An item whose `clone` panics while `armed` is set.
#[derive(Debug)]
struct Bomb(Arc<AtomicBool>);

impl Clone for Bomb {
    fn clone(&self) -> Self {
        assert!(!self.0.load(Ordering::SeqCst), "{}", support::BOOM);
        Bomb(Arc::clone(&self.0))
    }
}

#[test]
fn a_panicking_clone_leaves_the_counts_consistent() {
    support::quiet_panics();
    let armed = Arc::new(AtomicBool::new(false));
    let publisher = broadcast::<Bomb>(1, SlowConsumer::Disconnect).unwrap();
    let slow = publisher.subscribe();
    let mut fast = publisher.subscribe();
    publisher.try_send(Bomb(Arc::clone(&armed))).unwrap();
    assert!(matches!(poll_sub(&mut fast), Poll::Ready(Some(Ok(_)))));
    // `slow` is full and gets cut off; the clone for `fast` panics.
    armed.store(true, Ordering::SeqCst);
    let item = Bomb(Arc::clone(&armed));
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| publisher.try_send(item)));
    assert!(sent.is_err());
    armed.store(false, Ordering::SeqCst);
    assert_eq!(publisher.subscribers(), 1, "only `fast` is connected");
    let s = publisher.stats();
    let per_sub: u64 = s.subscribers.iter().map(|s| s.dropped).sum();
    assert_eq!(s.dropped, per_sub, "{s:?}");
    for sub in &s.subscribers {
        assert_eq!(
            sub.sent_to,
            sub.delivered + sub.buffered as u64 + sub.dropped
        );
    }
    drop(fast);
    // Nobody is connected: the item must come back, not vanish.
    let back = publisher.try_send(Bomb(Arc::clone(&armed)));
    assert!(matches!(back, Err(SendError::NoSubscribers(_))), "{back:?}");
    drop(slow);
}

/// A waker that uses the broadcast when woken, as a waker that polls its
/// task inline would.
struct Reentrant(sluicegate_fanio::Publisher<u32>, AtomicBool);

impl std::task::Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        assert_eq!(self.0.subscribers(), 1);
        self.1.store(true, Ordering::SeqCst);
    }
}

#[test]
fn subscribers_are_woken_outside_the_lock() {
    // Waking under the broadcast's lock would deadlock this waker.
    for close in [false, true] {
        let publisher = broadcast::<u32>(4, SlowConsumer::Backpressure).unwrap();
        let mut sub = publisher.subscribe();
        let waker = Arc::new(Reentrant(publisher.clone(), AtomicBool::new(false)));
        let w = Waker::from(Arc::clone(&waker));
        assert!(
            Pin::new(&mut sub)
                .poll_next(&mut Context::from_waker(&w))
                .is_pending()
        );
        if close {
            publisher.close();
        } else {
            publisher.try_send(1).unwrap();
        }
        assert!(waker.1.load(Ordering::SeqCst));
    }
}

/// An item that owns a publisher of the same broadcast. (Its clone is
/// never called here: with one subscriber the item itself is delivered.)
#[derive(Clone)]
struct Carrier(#[allow(dead_code)] sluicegate_fanio::Publisher<Carrier>);

#[test]
fn unread_items_are_dropped_outside_the_lock() {
    // Dropping an item under the broadcast's lock would deadlock an item
    // whose drop uses the broadcast (here: drops a publisher).
    let publisher = broadcast::<Carrier>(4, SlowConsumer::Drop).unwrap();
    let sub = publisher.subscribe();
    publisher.try_send(Carrier(publisher.clone())).unwrap();
    drop(sub); // drops its unread item
    assert_eq!(publisher.stats().left_unread, 1);
}

#[test]
fn an_item_dropped_for_a_full_subscriber_is_dropped_outside_the_lock() {
    // Under `Drop`, the item no subscriber had room for is dropped by the
    // send: outside the lock too.
    let publisher = broadcast::<Carrier>(1, SlowConsumer::Drop).unwrap();
    let _sub = publisher.subscribe();
    publisher.try_send(Carrier(publisher.clone())).unwrap();
    assert_eq!(publisher.try_send(Carrier(publisher.clone())).ok(), Some(0));
    assert_eq!(publisher.stats().dropped, 1);
}
