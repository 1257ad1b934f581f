//! Core behaviour on virtual time: sending, waiting, counting full events,
//! timing out at the exact deadline, permits and closing.

mod support;

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_sink::Sink;

use sluicegate_backpressure::{
    Closed, DropReason, Overflow, SendError, SendTimeoutError, Stats, TryRecvError, TryReserveError,
};
use sluicegate_rt::ManualClock;
use support::{Flag, assert_accounted, ms, poll_once, queue};

#[test]
fn send_and_receive_in_order() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    clock.block_on(async {
        for i in 0..4 {
            tx.send(i).await.unwrap();
        }
        for i in 0..4 {
            assert_eq!(rx.recv().await, Some(i));
        }
    });
    let s = tx.stats();
    assert_eq!((s.sent, s.received, s.len, s.full_events), (4, 4, 0, 0));
    assert_eq!((s.capacity, s.high_watermark), (4, 4));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn try_send_hands_the_item_back_when_full() {
    let clock = ManualClock::new();
    let (tx, _rx, _) = queue::<String>(&clock, 1, Overflow::Block);
    tx.try_send("a".into()).unwrap();
    let err = tx.try_send("b".into()).unwrap_err();
    assert!(err.is_full() && !err.is_closed());
    assert_eq!(err.to_string(), "sending into a full queue");
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.into_inner(), "b");
    let s = tx.stats();
    assert_eq!((s.full_events, s.rejected, s.sent), (1, 1, 1));
    assert!(tx.is_full());
}

#[test]
fn send_counts_one_full_event_then_waits_and_measures_the_wait() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(tx.send(1));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    assert_eq!(tx.stats().full_events, 1, "counted when first found full");
    // Polled again while still full: the same call, no new event.
    assert!(send.as_mut().poll(&mut cx).is_pending());
    assert_eq!(tx.stats().full_events, 1);
    assert!(!flag.take());

    clock.advance(ms(5));
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(flag.take(), "a receive wakes the waiting sender");
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    let s = tx.stats();
    assert_eq!((s.full_events, s.blocked, s.sent, s.len), (1, ms(5), 2, 1));
    assert_accounted(&tx);
}

/// Every kind of wait for a slot (`send`, `reserve`, a `send_timeout` that
/// times out, a `send` dropped mid-wait, the `Sink`'s `poll_ready`, and a
/// `Sink` dropped mid-wait), each 5 ms of virtual time, on a queue built
/// with `.time_blocked(time_blocked)`: the stats, and how often the clock
/// was read. The wake-ups are asserted on the way, so they are the same
/// either way.
fn every_kind_of_wait(time_blocked: bool) -> (Stats, usize) {
    let clock = ManualClock::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = sluicegate_backpressure::builder::<u32>(1)
        .clock({
            let (clock, reads) = (clock.clone(), Arc::clone(&reads));
            move || {
                reads.fetch_add(1, Ordering::SeqCst);
                clock.now()
            }
        })
        .sleeper(clock.clone())
        .time_blocked(time_blocked)
        .build()
        .unwrap();
    tx.try_send(0).unwrap();
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    {
        let mut send = pin!(tx.send(1));
        assert!(send.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(5));
        assert_eq!(rx.try_recv(), Ok(0));
        assert!(flag.take());
        assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    {
        let mut reserve = pin!(tx.reserve());
        assert!(reserve.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(5));
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(flag.take());
        let Poll::Ready(Ok(permit)) = reserve.as_mut().poll(&mut cx) else {
            panic!("the freed slot goes to the reserve");
        };
        permit.send(2);
    }
    {
        let mut timed = pin!(tx.send_timeout(3, ms(5)));
        assert!(poll_once(timed.as_mut()).is_pending());
        clock.advance(ms(5));
        assert!(matches!(
            poll_once(timed.as_mut()),
            Poll::Ready(Err(SendTimeoutError::Timeout(3)))
        ));
    }
    {
        let mut cancelled = pin!(tx.send(9));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        clock.advance(ms(5));
    } // dropped mid-wait: its blocked time still counts (when timed)
    let mut sink = tx.clone();
    {
        let mut ready = pin!(std::future::poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)));
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(5));
        assert_eq!(rx.try_recv(), Ok(2));
        assert!(flag.take());
        assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    Pin::new(&mut sink).start_send(4).unwrap();
    {
        let mut ready = pin!(std::future::poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)));
        assert!(ready.as_mut().poll(&mut cx).is_pending());
    }
    clock.advance(ms(5));
    drop(sink); // mid-wait: its blocked time still counts (when timed)
    assert_accounted(&tx);
    (tx.stats(), reads.load(Ordering::SeqCst))
}

#[test]
fn time_blocked_false_reads_no_clock_and_keeps_every_other_count() {
    let (timed, timed_reads) = every_kind_of_wait(true);
    let (untimed, untimed_reads) = every_kind_of_wait(false);
    // Six waits, each timed from sleep to end: two reads apiece.
    assert_eq!((timed.blocked, timed_reads), (ms(30), 12));
    assert_eq!((untimed.blocked, untimed_reads), (ms(0), 0));
    // Every other statistic is the timed queue's.
    let mut same = timed;
    same.blocked = ms(0);
    assert_eq!(untimed, same);
    assert_eq!((untimed.full_events, untimed.timed_out), (6, 1));
    assert_eq!((untimed.sent, untimed.received, untimed.len), (4, 3, 1));
}

#[test]
fn a_send_that_never_waits_counts_no_full_event() {
    let clock = ManualClock::new();
    let (tx, _rx, _) = queue::<u32>(&clock, 2, Overflow::Block);
    clock.block_on(async {
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
    });
    let s = tx.stats();
    assert_eq!((s.full_events, s.blocked), (0, ms(0)));
}

#[test]
fn send_timeout_hands_the_item_back_exactly_at_the_deadline() {
    let clock = ManualClock::new();
    let start = clock.now();
    let (tx, _rx, _) = queue::<String>(&clock, 1, Overflow::Block);
    tx.try_send("first".into()).unwrap();
    let mut send = pin!(tx.send_timeout("second".into(), ms(10)));
    assert!(poll_once(send.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(start + ms(10)));
    clock.advance(ms(9));
    assert!(poll_once(send.as_mut()).is_pending());
    clock.advance(ms(1));
    match poll_once(send.as_mut()) {
        Poll::Ready(Err(SendTimeoutError::Timeout(item))) => assert_eq!(item, "second"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(clock.now() - start, ms(10));
    let s = tx.stats();
    assert_eq!(
        (s.timed_out, s.full_events, s.blocked, s.sent),
        (1, 1, ms(10), 1)
    );
    assert_accounted(&tx);
}

#[test]
fn send_timeout_takes_a_slot_freed_at_the_deadline() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let mut send = pin!(tx.send_timeout(1, ms(10)));
    assert!(poll_once(send.as_mut()).is_pending());
    clock.advance(ms(10));
    assert_eq!(rx.try_recv(), Ok(0));
    // The send is tried before the timer: the freed slot wins the tie.
    assert_eq!(poll_once(send.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(tx.stats().timed_out, 0);
}

#[test]
fn send_timeout_with_room_never_touches_the_timer() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    clock.block_on(tx.send_timeout(5, ms(1))).unwrap();
    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn reserve_holds_a_slot_and_the_permit_send_cannot_fail() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 2, Overflow::Block);
    let permit = clock.block_on(tx.reserve()).unwrap();
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_send(2), Err(SendError::Full(2)));
    assert_eq!(tx.try_reserve().unwrap_err(), TryReserveError::Full);
    let s = tx.stats();
    assert_eq!((s.len, s.reserved, s.high_watermark), (1, 1, 2));
    permit.send(0);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(0));
    assert_accounted(&tx);
}

#[test]
fn a_dropped_permit_gives_its_slot_back_and_wakes_a_sender() {
    let clock = ManualClock::new();
    let (tx, _rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    let permit = tx.try_reserve().unwrap();
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(tx.send(7));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    drop(permit);
    assert!(flag.take());
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    let s = tx.stats();
    assert_eq!((s.len, s.reserved, s.sent), (1, 0, 1));
}

#[test]
fn a_pending_reserve_gets_a_permit_when_a_slot_frees() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let mut reserve = pin!(tx.reserve());
    assert!(poll_once(reserve.as_mut()).is_pending());
    assert_eq!(tx.stats().full_events, 1);
    clock.advance(ms(3));
    assert_eq!(rx.try_recv(), Ok(0));
    let Poll::Ready(Ok(permit)) = poll_once(reserve.as_mut()) else {
        panic!("the freed slot goes to the reserver");
    };
    permit.send(1);
    assert_eq!(tx.stats().blocked, ms(3));
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn when_all_senders_drop_the_receiver_drains_then_ends() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    tx2.try_send(2).unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "a sender remains");
    drop(tx2);
    assert!(rx.is_closed());
    clock.block_on(async {
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
    });
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn an_outstanding_permit_keeps_the_queue_open() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let permit = tx.try_reserve().unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    permit.send(9);
    assert_eq!(rx.try_recv(), Ok(9));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn when_all_receivers_drop_sends_fail_and_queued_items_go_to_the_callback() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 2, Overflow::Block);
    let rx2 = rx.clone();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut waiting = pin!(tx.send(3));
    assert!(poll_once(waiting.as_mut()).is_pending());
    let permit = tx.try_reserve();
    assert!(permit.is_err(), "full");
    drop(rx);
    assert!(!tx.is_closed());
    drop(rx2);
    assert!(tx.is_closed());
    assert_eq!(
        poll_once(waiting.as_mut()),
        Poll::Ready(Err(SendError::Closed(3)))
    );
    assert_eq!(tx.try_send(4), Err(SendError::Closed(4)));
    assert_eq!(
        clock.block_on(tx.reserve()).unwrap_err().to_string(),
        "the queue is closed"
    );
    assert_eq!(
        log.items(),
        [(1, DropReason::Closed), (2, DropReason::Closed)]
    );
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.dropped, s.len, s.reserved),
        (2, 0, 2, 0, 0)
    );
    assert_accounted(&tx);
}

#[test]
fn a_permit_used_after_the_receivers_are_gone_hands_the_item_to_the_callback() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 2, Overflow::Block);
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    permit.send(5);
    assert_eq!(log.items(), [(5, DropReason::Closed)]);
    let s = tx.stats();
    assert_eq!((s.sent, s.dropped, s.reserved), (1, 1, 0));
    assert_accounted(&tx);
}

#[test]
fn send_into_a_pending_future_can_be_taken_back() {
    let clock = ManualClock::new();
    let (tx, _rx, _) = queue::<String>(&clock, 1, Overflow::Block);
    tx.try_send("x".into()).unwrap();
    let mut send = tx.send("kept".to_string());
    assert!(poll_once(std::pin::Pin::new(&mut send)).is_pending());
    assert_eq!(send.into_inner().as_deref(), Some("kept"));
    assert_eq!(tx.stats().reserved, 0);
}

#[test]
fn errors_display_in_lower_case_and_debug_without_t_debug() {
    struct Opaque;
    let full = SendError::Full(Opaque);
    let closed = SendError::Closed(Opaque);
    assert_eq!(format!("{full:?} {closed:?}"), "Full(..) Closed(..)");
    assert_eq!(closed.to_string(), "sending into a closed queue");
    let t = SendTimeoutError::Timeout(Opaque);
    assert!(t.is_timeout() && !t.is_full() && !t.is_closed());
    assert_eq!(
        format!("{t:?}: {t}"),
        "Timeout(..): timed out waiting for room in the queue"
    );
    let e: SendTimeoutError<u8> = SendError::Full(1).into();
    assert!(e.is_full());
    assert_eq!(e.into_inner(), 1);
    assert_eq!(
        TryRecvError::Empty.to_string(),
        "receiving from an empty queue"
    );
    assert_eq!(
        TryReserveError::Closed.to_string(),
        "reserving a slot in a closed queue"
    );
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<SendError<Opaque>>();
    is_error::<SendTimeoutError<Opaque>>();
    is_error::<Closed>();
}

#[test]
fn slots_freed_at_once_wake_waiters_one_after_another() {
    // Only the release that frees the first slot notifies; each waiter
    // that then takes a slot wakes the next while slots are still free.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 2, Overflow::Block);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let flags: Vec<_> = (0..3).map(|_| Flag::new()).collect();
    let mut sends: Vec<_> = (10..13).map(|i| Box::pin(tx.send(i))).collect();
    for (send, (_, waker)) in sends.iter_mut().zip(&flags) {
        let mut cx = Context::from_waker(waker);
        assert!(send.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    let woken = |i: usize| flags[i].0.take();
    assert!(woken(0), "the first freed slot wakes the first waiter");
    assert!(
        !woken(1) && !woken(2),
        "the second one waits for the hand-over"
    );
    let poll = |send: &mut std::pin::Pin<Box<support::SendFut<'_>>>, i: usize| {
        send.as_mut().poll(&mut Context::from_waker(&flags[i].1))
    };
    assert_eq!(poll(&mut sends[0], 0), Poll::Ready(Ok(())));
    assert!(
        woken(1),
        "a slot is still free: the first waiter wakes the next"
    );
    assert_eq!(poll(&mut sends[1], 1), Poll::Ready(Ok(())));
    assert!(!woken(2), "no slot is left");
    assert!(poll(&mut sends[2], 2).is_pending());
    assert_eq!(rx.try_recv(), Ok(10));
    assert!(woken(2));
    assert_eq!(poll(&mut sends[2], 2), Poll::Ready(Ok(())));
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(11), Ok(12)));
    assert_accounted(&tx);
}

#[test]
fn a_woken_waiter_dropped_with_slots_free_hands_over_to_the_rest() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 2, Overflow::Block);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let flags: Vec<_> = (0..3).map(|_| Flag::new()).collect();
    let mut sends: Vec<_> = (10..13).map(|i| Some(Box::pin(tx.send(i)))).collect();
    for (send, (_, waker)) in sends.iter_mut().zip(&flags) {
        let mut cx = Context::from_waker(waker);
        assert!(send.as_mut().unwrap().as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(0), Ok(1)));
    assert!(flags[0].0.take());
    drop(sends[0].take()); // woken, never polled: passes the wake-up on
    for i in 1..3 {
        assert!(flags[i].0.take(), "waiter {i} is woken");
        let mut cx = Context::from_waker(&flags[i].1);
        let send = sends[i].as_mut().unwrap().as_mut();
        assert_eq!(send.poll(&mut cx), Poll::Ready(Ok(())));
    }
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(11), Ok(12)));
    assert_accounted(&tx);
}

#[test]
fn the_bound_holds_on_both_sides_of_the_preallocation_limit() {
    // Up to 1024 slots the items live in a preallocated ring, above that in
    // an unbounded channel: the bound, the order and the counts are the
    // same either way.
    let clock = ManualClock::new();
    for capacity in [1, 1023, 1024, 1025, 5000] {
        let (tx, rx, _) = queue::<usize>(&clock, capacity, Overflow::Block);
        for i in 0..capacity {
            tx.try_send(i).unwrap();
        }
        assert!(tx.try_send(capacity).unwrap_err().is_full(), "{capacity}");
        let permit_full = tx.try_reserve();
        assert_eq!(permit_full.unwrap_err(), TryReserveError::Full);
        assert_eq!(rx.try_recv(), Ok(0));
        let permit = tx.try_reserve().unwrap();
        permit.send(capacity);
        for i in 1..=capacity {
            assert_eq!(rx.try_recv(), Ok(i), "{capacity}");
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let s = tx.stats();
        assert_eq!((s.high_watermark, s.full_events), (capacity, 2));
        assert_accounted(&tx);
    }
}

#[test]
fn blocked_time_spans_a_spurious_wake_up_and_the_wait_after_it() {
    // The send sleeps at 0, is woken at 5 by a receive whose slot another
    // sender takes first, registers again and sleeps, and gets a slot at 12:
    // blocked 12 ms (one wait), one full event. A second call that finds the
    // queue full but a slot on its re-check adds no time.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    tx.try_send(0).unwrap();
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(tx.send(1));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    clock.advance(ms(5));
    assert_eq!(rx.try_recv(), Ok(0));
    tx.try_send(2).unwrap(); // takes the freed slot first
    assert!(flag.take());
    assert!(send.as_mut().poll(&mut cx).is_pending(), "woken in vain");
    assert_eq!(tx.stats().blocked, ms(0), "still waiting: not added yet");
    clock.advance(ms(7));
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(flag.take(), "the wait after the spurious wake-up is woken");
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    let s = tx.stats();
    assert_eq!((s.blocked, s.full_events, s.high_watermark), (ms(12), 1, 1));
    assert_accounted(&tx);
}
