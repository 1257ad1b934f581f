//! Stream pacing in virtual time: items come out at their slots, share the
//! FIFO with `acquire` callers, and are never lost.

mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_core::stream::FusedStream;
use futures_util::StreamExt;
use futures_util::stream;
use sluicegate_rt::ManualClock;
use support::{Crowd, every, ms, poll_once};

/// Polls a stream once with a no-op waker.
fn poll_next<S: Stream + ?Sized>(s: Pin<&mut S>) -> Poll<Option<S::Item>> {
    s.poll_next(&mut Context::from_waker(Waker::noop()))
}

/// Drains a stream in virtual time, recording (item, elapsed) pairs.
fn collect_timed<S: Stream + Unpin>(clock: &ManualClock, s: &mut S) -> Vec<(S::Item, Duration)> {
    let mut out = Vec::new();
    while let Some(item) = clock.block_on(s.next()) {
        out.push((item, clock.elapsed()));
    }
    out
}

#[test]
fn items_come_out_at_their_slots_in_order() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let mut paced = bucket.pace(stream::iter(0..6));
    let out = collect_timed(&clock, &mut paced);
    let expected: Vec<_> = (0..6).map(|i| (i, ms(10 * i as u64))).collect();
    assert_eq!(out, expected);
    assert!(paced.is_terminated());
    assert_eq!(bucket.stats().passed, 6);
}

#[test]
fn a_slow_source_does_not_bank_slots() {
    // Items appear at 0, 5 and 100 ms; slots are 10 ms apart, no slack.
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let start = clock.now();
    let source = {
        let clock = clock.clone();
        stream::unfold(0u32, move |i| {
            let clock = clock.clone();
            async move {
                match i {
                    0 => {}
                    1 => clock.sleep(ms(5)).await,
                    2 => clock.sleep_until(start + ms(100)).await,
                    _ => return None,
                }
                Some((i, i + 1))
            }
        })
    };
    let mut paced = pin!(bucket.pace(source));
    let mut out = Vec::new();
    while let Some(item) = clock.block_on(paced.next()) {
        out.push((item, clock.elapsed()));
    }
    // The second item waits for slot 10; the third arrives after a long
    // idle spell and passes at once, not at 20.
    assert_eq!(out, [(0, ms(0)), (1, ms(10)), (2, ms(100))]);
}

#[test]
fn paced_items_share_the_fifo_with_acquire_callers() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 8);
    let mut crowd = Crowd::new(&clock);
    let first = crowd.acquire_n(&bucket, 2); // slots 0 and 10
    let mut paced = Box::pin(bucket.pace(stream::iter(["a", "b"])));
    assert!(poll_next(paced.as_mut()).is_pending()); // "a" waits for slot 20
    let last = crowd.acquire_n(&bucket, 1); // slot 30
    crowd.advance(ms(10));
    clock.advance(ms(10));
    assert_eq!(poll_next(paced.as_mut()), Poll::Ready(Some("a")));
    assert_eq!(clock.elapsed(), ms(20));
    // "b" queues behind the caller who arrived before it was pulled.
    assert!(poll_next(paced.as_mut()).is_pending());
    crowd.run();
    assert_eq!(crowd.released_at(&first), [ms(0), ms(10)]);
    assert_eq!(crowd.released_at(&last), [ms(30)]);
    clock.advance(ms(10));
    assert_eq!(poll_next(paced.as_mut()), Poll::Ready(Some("b")));
    assert_eq!(clock.elapsed(), ms(40));
    assert_eq!(poll_next(paced.as_mut()), Poll::Ready(None));
}

#[test]
fn dropping_next_mid_wait_loses_nothing() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let mut paced = bucket.pace(stream::iter(0..4));
    assert_eq!(clock.block_on(paced.next()), Some(0));
    {
        // A `next()` future is dropped while item 1 waits for its slot (as in
        // a `select!` whose other branch won).
        let mut next = paced.next();
        assert!(poll_once(Pin::new(&mut next)).is_pending());
    }
    assert_eq!(paced.held(), Some(&1));
    assert_eq!(bucket.stats().waiting, 1, "it kept its place");
    let rest = collect_timed(&clock, &mut paced);
    assert_eq!(rest, [(1, ms(10)), (2, ms(20)), (3, ms(30))]);
    assert_eq!(bucket.stats().cancelled, 0);
}

#[test]
fn dropping_the_paced_stream_gives_back_its_place_and_its_item() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let mut paced = bucket.pace(stream::iter(0..4));
    assert_eq!(clock.block_on(paced.next()), Some(0));
    assert!(poll_once(Pin::new(&mut paced.next())).is_pending());
    let mut crowd = Crowd::new(&clock);
    let behind = crowd.acquire_n(&bucket, 1);
    // Stop pacing: the held item comes back, and the rest of the stream.
    let (rest, held) = paced.into_parts();
    assert_eq!(held, Some(1));
    assert_eq!(clock.block_on(rest.collect::<Vec<_>>()), [2, 3]);
    // Its slot (10 ms) goes to the caller behind it.
    crowd.run();
    assert_eq!(crowd.released_at(&behind), [ms(10)]);
    let s = bucket.stats();
    assert_eq!((s.passed, s.cancelled), (2, 1));
}

#[test]
fn a_full_room_makes_a_paced_stream_wait_for_a_place_not_spill() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1);
    let mut crowd = Crowd::new(&clock);
    let ids = crowd.acquire_n(&bucket, 2); // 0 passes; the room (1) is full
    let mut paced = Box::pin(bucket.pace(stream::iter(0..3)));
    assert!(poll_next(paced.as_mut()).is_pending());
    assert_eq!(bucket.stats().waiting_for_room, 1);
    assert_eq!(bucket.stats().spilled, 0);
    // A new `acquire` does not overtake the stream waiting for room.
    let spilled = crowd.arrive(bucket.acquire());
    assert!(crowd.outcome(spilled).unwrap().is_err());
    // The waiter leaves at 10 ms: the stream takes the place and slot 20.
    crowd.advance(ms(10));
    assert!(crowd.is_done(ids[1]));
    let mut out = Vec::new();
    while let Some(item) = clock.block_on(paced.next()) {
        out.push((item, clock.elapsed()));
    }
    assert_eq!(out, [(0, ms(20)), (1, ms(30)), (2, ms(40))]);
    let s = bucket.stats();
    assert_eq!((s.passed, s.spilled, s.waiting_for_room), (5, 1, 0));
}

#[test]
fn streams_waiting_for_room_get_places_in_order_even_when_one_gives_up() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1);
    let mut crowd = Crowd::new(&clock);
    crowd.acquire_n(&bucket, 2); // the room is full until 10 ms
    let mut a = Box::pin(bucket.pace(stream::iter(["a"])));
    let mut b = Box::pin(bucket.pace(stream::iter(["b"])));
    let mut c = Box::pin(bucket.pace(stream::iter(["c"])));
    for s in [&mut a, &mut b, &mut c] {
        assert!(poll_next(s.as_mut()).is_pending());
    }
    assert_eq!(bucket.stats().waiting_for_room, 3);
    // A place frees at 10 ms; the first in line is woken, but dropped
    // before it runs: the wake-up passes to the next one.
    crowd.advance(ms(10));
    drop(a);
    let mut cx_b = std::task::Context::from_waker(Waker::noop());
    assert!(b.as_mut().poll_next(&mut cx_b).is_pending());
    assert_eq!(bucket.stats().waiting, 1, "b took the place");
    assert_eq!(bucket.stats().waiting_for_room, 1);
    assert_eq!(clock.block_on(b.next()), Some("b"));
    assert_eq!(clock.elapsed(), ms(20));
    assert_eq!(clock.block_on(c.next()), Some("c"));
    assert_eq!(clock.elapsed(), ms(30));
    assert_eq!(bucket.stats().cancelled, 1);
}

#[test]
fn the_wake_up_chain_reaches_streams_waiting_for_room() {
    // Wakers, not extra polls, must carry the place from the waiter that
    // leaves to the stream waiting for room.
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 1);
    let mut crowd = Crowd::new(&clock);
    crowd.acquire_n(&bucket, 2);
    let paced = bucket.pace(stream::iter([7]));
    let mut item = None;
    let fut = {
        let mut paced = paced;
        async move { paced.next().await }
    };
    let mut fut = pin!(fut);
    let flag = std::sync::Arc::new(support::Flag::default());
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    crowd.advance(ms(10));
    assert!(flag.take(), "the stream waiting for room was woken");
    assert!(fut.as_mut().poll(&mut cx).is_pending()); // sleeping until 20
    clock.advance(ms(10));
    assert!(flag.take(), "its timer woke it");
    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
        item = v;
    }
    assert_eq!(item, Some(7));
}

#[test]
fn size_hint_counts_the_held_item_and_the_stream_is_fused() {
    let clock = ManualClock::new();
    let bucket = every(&clock, ms(10), 4);
    let mut paced = bucket.pace(stream::iter(0..3));
    assert_eq!(paced.size_hint(), (3, Some(3)));
    assert_eq!(clock.block_on(paced.next()), Some(0));
    assert!(poll_once(Pin::new(&mut paced.next())).is_pending());
    assert_eq!(paced.size_hint(), (2, Some(2)));
    assert_eq!(*paced.get_ref().size_hint().1.as_ref().unwrap(), 1);
    assert!(!paced.is_terminated());
    let rest: Vec<_> = collect_timed(&clock, &mut paced)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rest, [1, 2]);
    assert!(paced.is_terminated());
    assert_eq!(paced.size_hint(), (0, Some(0)));
    assert_eq!(clock.block_on(paced.next()), None);
    assert!(format!("{paced:?}").contains("Paced"));
    assert_eq!(paced.bucket().stats().passed, 3);
    let _ = paced.get_mut();
}
