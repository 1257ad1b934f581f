//! Core behaviour on virtual time: sending, waiting, counting full events,
//! timing out at the exact deadline, permits and closing.

mod support;

use std::pin::pin;
use std::task::{Context, Poll};

use sluicegate_backpressure::{
    Closed, DropReason, Overflow, SendError, SendTimeoutError, TryRecvError, TryReserveError,
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
