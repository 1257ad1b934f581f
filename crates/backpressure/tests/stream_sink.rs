//! The receiver as a `Stream`, the sender as a `Sink`.

mod support;

use std::pin::{Pin, pin};
use std::task::Poll;

use futures_core::Stream;
use futures_core::stream::FusedStream;
use futures_sink::Sink;
use futures_util::{SinkExt, StreamExt, stream};
use sluicegate_backpressure::{DropReason, Overflow};
use sluicegate_rt::ManualClock;
use support::{assert_accounted, ms, poll_once, queue};

#[test]
fn the_receiver_streams_until_every_sender_is_gone() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    let mut rx = rx;
    // Closed (no sender left), sole receiver: exactly what is queued.
    assert_eq!(Stream::size_hint(&rx), (3, Some(3)));
    let got: Vec<u32> = clock.block_on((&mut rx).collect());
    assert_eq!(got, [0, 1, 2]);
    assert!(rx.is_terminated());
    assert_eq!(rx.stats().received, 3);
}

/// `size_hint`'s lower bound must hold whatever the other handles do: a
/// second receiver can take any queued item and a `DropOldest` send can
/// evict one, so then it is 0.
#[test]
fn size_hint_promises_only_what_no_other_handle_can_take() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    // Open, sole receiver, a policy that never evicts: a lower bound.
    assert_eq!(Stream::size_hint(&rx), (2, None));
    let other = rx.clone();
    assert_eq!(Stream::size_hint(&rx), (0, None));
    assert_eq!(other.try_recv(), Ok(1));
    assert_eq!(other.try_recv(), Ok(2));
    drop(other);
    assert_eq!(Stream::size_hint(&rx), (0, None));

    let (tx, rx, _) = queue::<u32>(&clock, 2, Overflow::DropOldest);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(Stream::size_hint(&rx), (0, None));
    // The evicting send the hint allowed for: item 1 is gone.
    tx.try_send(3).unwrap();
    drop(tx);
    assert_eq!(Stream::size_hint(&rx), (2, Some(2)));
}

#[test]
fn a_stream_of_a_full_queue_wakes_the_producer() {
    let clock = ManualClock::new();
    let (tx, mut rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    let producer = async move {
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
    };
    let (_, got) = clock.block_on(futures_lite::future::zip(producer, async {
        (&mut rx).collect::<Vec<_>>().await
    }));
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let s = rx.stats();
    assert_eq!((s.sent, s.received, s.high_watermark), (10, 10, 1));
    assert!(s.full_events > 0);
}

#[test]
fn the_sender_is_a_sink_that_waits_for_room() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 2, Overflow::Block);
    let mut tx = tx;
    clock.block_on(async {
        tx.send(0).await.unwrap(); // SinkExt::send via poll_ready/start_send
    });
    tx.try_send(1).unwrap();
    // Full: poll_ready waits (and counts a full event), then reserves.
    let mut ready = pin!(std::future::poll_fn(|cx| Pin::new(&mut tx).poll_ready(cx)));
    assert!(poll_once(ready.as_mut()).is_pending());
    clock.advance(ms(2));
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(poll_once(ready.as_mut()), Poll::Ready(Ok(())));
    let s = tx.stats();
    assert_eq!((s.reserved, s.full_events, s.blocked), (1, 1, ms(2)));
    Pin::new(&mut tx).start_send(2).unwrap();
    assert_eq!(tx.stats().reserved, 0);
    // poll_close gives back an unused reservation and closes nothing.
    assert_eq!(rx.try_recv(), Ok(1));
    clock
        .block_on(std::future::poll_fn(|cx| Pin::new(&mut tx).poll_ready(cx)))
        .unwrap();
    assert_eq!(tx.stats().reserved, 1);
    clock.block_on(SinkExt::close(&mut tx)).unwrap();
    assert_eq!(tx.stats().reserved, 0);
    assert!(!tx.is_closed());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_accounted(&tx);
}

#[test]
fn send_all_forwards_a_stream_losslessly() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 3, Overflow::Block);
    let mut tx = tx;
    let producer = async move {
        tx.send_all(&mut stream::iter(0..100).map(Ok))
            .await
            .unwrap();
    };
    let (_, got) = clock.block_on(futures_lite::future::zip(
        producer,
        rx.clone().collect::<Vec<_>>(),
    ));
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_sink_under_a_drop_policy_never_waits() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 2, Overflow::DropNewest);
    let mut tx = tx;
    clock.block_on(async {
        for i in 0..5 {
            tx.feed(i).await.unwrap();
        }
        tx.flush().await.unwrap();
    });
    assert_eq!(clock.elapsed(), ms(0));
    assert_eq!(
        log.items(),
        [
            (2, DropReason::Newest),
            (3, DropReason::Newest),
            (4, DropReason::Newest)
        ]
    );
    assert_eq!(rx.try_recv(), Ok(0));
    assert_accounted(&tx);
}

#[test]
fn a_sink_fails_with_closed_and_the_item_is_seen() {
    let clock = ManualClock::new();
    let (tx, rx, log) = queue::<u32>(&clock, 2, Overflow::Block);
    let mut tx = tx;
    clock
        .block_on(std::future::poll_fn(|cx| Pin::new(&mut tx).poll_ready(cx)))
        .unwrap();
    drop(rx);
    // Reserved before the close: start_send cannot fail, the item goes to
    // the callback.
    Pin::new(&mut tx).start_send(7).unwrap();
    assert_eq!(log.items(), [(7, DropReason::Closed)]);
    let err = clock.block_on(tx.send(8)).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(
        clock
            .block_on(SinkExt::send(&mut tx, 9))
            .unwrap_err()
            .to_string(),
        "the queue is closed"
    );
    assert_accounted(&tx);
}

#[test]
fn a_sink_dropped_mid_wait_counts_its_blocked_time_and_holds_no_slot() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 1, Overflow::Block);
    let mut sink = tx.clone();
    tx.try_send(0).unwrap();
    let pending = poll_once(pin!(std::future::poll_fn(|cx| {
        Pin::new(&mut sink).poll_ready(cx)
    })));
    assert!(pending.is_pending());
    clock.advance(ms(4));
    drop(sink);
    let s = rx.stats();
    assert_eq!((s.blocked, s.full_events, s.reserved), (ms(4), 1, 0));
    assert_eq!(rx.try_recv(), Ok(0));
}
