//! Waiting receivers, on one thread: who is woken by a send, a dropped
//! `Recv`, and the close. (`tests/loom.rs` checks the same protocol against
//! every interleaving; these pin the policy: one `Recv` per item, every
//! stream, and nobody when nobody waits.)

mod support;

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use sluicegate_backpressure::{Overflow, Receiver};
use sluicegate_rt::ManualClock;
use support::{Flag, assert_accounted, queue};

/// A `Recv` on `rx`, polled once and left waiting, with the flag its
/// waker sets and the waker.
fn waiting_recv(
    rx: &Receiver<u32>,
) -> (
    Pin<Box<impl Future<Output = Option<u32>> + '_>>,
    Arc<Flag>,
    Waker,
) {
    let (flag, waker) = Flag::new();
    let mut recv = Box::pin(rx.recv());
    assert!(
        recv.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    (recv, flag, waker)
}

#[test]
fn a_send_wakes_one_waiting_recv_per_item() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let (mut r1, f1, w1) = waiting_recv(&rx);
    let (mut r2, f2, w2) = waiting_recv(&rx);

    tx.try_send(1).unwrap();
    assert!(f1.take(), "the first waiter is woken");
    assert!(!f2.take(), "one item wakes one `Recv`");
    tx.try_send(2).unwrap();
    assert!(f2.take(), "the second item wakes the second waiter");

    let mut cx1 = Context::from_waker(&w1);
    let mut cx2 = Context::from_waker(&w2);
    assert_eq!(r1.as_mut().poll(&mut cx1), Poll::Ready(Some(1)));
    assert_eq!(r2.as_mut().poll(&mut cx2), Poll::Ready(Some(2)));
    assert_accounted(&tx);
}

/// Unlike `Send` (which panics), a `Recv` polled again after it resolved
/// is a fresh receive: it takes the next item, or waits (counted) and is
/// woken by the next send.
#[test]
fn a_recv_polled_after_it_resolved_receives_again() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let (mut recv, flag, waker) = waiting_recv(&rx);
    let mut cx = Context::from_waker(&waker);
    tx.try_send(1).unwrap();
    assert!(flag.take());
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(1)));

    tx.try_send(2).unwrap();
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(2)));
    assert!(!flag.take(), "an item queued: no wake-up needed");

    assert!(
        recv.as_mut().poll(&mut cx).is_pending(),
        "empty: it waits again"
    );
    tx.try_send(3).unwrap();
    assert!(flag.take(), "and the next send wakes it");
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(3)));
    drop(recv);
    assert_accounted(&tx);
    assert_eq!(tx.stats().received, 3);
}

#[test]
fn a_dropped_recv_passes_its_wake_up_on() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let (r1, f1, _) = waiting_recv(&rx);
    let (mut r2, f2, w2) = waiting_recv(&rx);

    tx.try_send(7).unwrap();
    assert!(f1.take() && !f2.take());
    drop(r1); // woken, never polled: the wake-up must not die with it
    assert!(f2.take(), "the notification passed on to the other waiter");
    assert_eq!(
        r2.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(Some(7))
    );
    assert_accounted(&tx);
}

#[test]
fn a_push_skips_the_lock_only_when_every_waiting_recv_is_notified() {
    // Two `Recv`s wait; the first item notifies one, the second the
    // other, and a third finds both notified: nobody more to wake. Once
    // one of them has run and waits again, the next item must wake it:
    // the notification it used is taken back, so it is not counted as
    // notified any more.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 8, Overflow::Block);
    let (mut r1, f1, w1) = waiting_recv(&rx);
    let (mut r2, f2, w2) = waiting_recv(&rx);
    let mut cx1 = Context::from_waker(&w1);
    let mut cx2 = Context::from_waker(&w2);
    for item in 1..=3 {
        tx.try_send(item).unwrap();
    }
    assert!(f1.take() && f2.take(), "one item per waiting `Recv`");
    // r1 takes an item with its own pop (the notification is spent on it).
    assert_eq!(r1.as_mut().poll(&mut cx1), Poll::Ready(Some(1)));
    let mut r3 = pin!(rx.recv());
    assert_eq!(r3.as_mut().poll(&mut cx1), Poll::Ready(Some(2)));
    assert_eq!(r2.as_mut().poll(&mut cx2), Poll::Ready(Some(3)));
    // Both wait again: each new item wakes one of them.
    let mut r4 = pin!(rx.recv());
    let mut r5 = pin!(rx.recv());
    assert!(r4.as_mut().poll(&mut cx1).is_pending());
    assert!(r5.as_mut().poll(&mut cx2).is_pending());
    tx.try_send(4).unwrap();
    assert!(
        f1.take() && !f2.take(),
        "the first item wakes the first waiter"
    );
    tx.try_send(5).unwrap();
    assert!(f2.take(), "the second item wakes the second waiter");
    assert_eq!(r4.as_mut().poll(&mut cx1), Poll::Ready(Some(4)));
    assert_eq!(r5.as_mut().poll(&mut cx2), Poll::Ready(Some(5)));
    assert_accounted(&tx);
}

#[test]
fn a_recv_woken_for_an_item_someone_else_took_is_woken_by_the_next() {
    // r1 is notified, but another receiver takes the item first: r1's
    // listener has fired, it finds nothing and waits again. Its used
    // notification must not still count as pending, or the next push
    // would take r1 for notified and leave it asleep.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let (mut r1, f1, w1) = waiting_recv(&rx);
    let mut cx1 = Context::from_waker(&w1);
    tx.try_send(1).unwrap();
    assert!(f1.take());
    assert_eq!(rx.try_recv(), Ok(1), "another receiver is quicker");
    assert!(
        r1.as_mut().poll(&mut cx1).is_pending(),
        "nothing left: waits again"
    );
    tx.try_send(2).unwrap();
    assert!(f1.take(), "the next item wakes it");
    assert_eq!(r1.as_mut().poll(&mut cx1), Poll::Ready(Some(2)));
    assert_accounted(&tx);
}

#[test]
fn a_dropped_notified_recv_wakes_nobody_when_nothing_is_queued() {
    // The item r1 was woken for is gone (taken by another receiver): its
    // notification is not handed to r2, which would only find nothing.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let (r1, f1, _) = waiting_recv(&rx);
    let (mut r2, f2, w2) = waiting_recv(&rx);
    tx.try_send(1).unwrap();
    assert!(f1.take() && !f2.take());
    assert_eq!(rx.try_recv(), Ok(1));
    drop(r1);
    assert!(!f2.take(), "nothing queued: nobody to wake");
    tx.try_send(2).unwrap();
    assert!(f2.take(), "the next item wakes the waiter left");
    assert_eq!(
        r2.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(Some(2))
    );
    assert_accounted(&tx);
}

#[test]
fn an_unpolled_stream_does_not_swallow_the_wake_up() {
    // A `Receiver` polled as a `Stream` keeps its listener between polls
    // (it may sit in a `select!` that went elsewhere): every waiting
    // stream is woken, and a waiting `Recv` too, so the item is not stuck
    // behind a receiver that is not looking.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let mut stream_rx = rx.clone();
    let (fs, ws) = Flag::new();
    let (fr, wr) = Flag::new();
    assert!(
        Pin::new(&mut stream_rx)
            .poll_next(&mut Context::from_waker(&ws))
            .is_pending()
    );
    let mut recv = pin!(rx.recv());
    assert!(
        recv.as_mut()
            .poll(&mut Context::from_waker(&wr))
            .is_pending()
    );

    tx.try_send(3).unwrap();
    assert!(fs.take(), "the waiting stream is woken");
    assert!(fr.take(), "the waiting `Recv` is woken too");
    assert_eq!(
        recv.as_mut().poll(&mut Context::from_waker(&wr)),
        Poll::Ready(Some(3))
    );
    // The stream, polled at last, finds nothing and waits again.
    assert!(
        Pin::new(&mut stream_rx)
            .poll_next(&mut Context::from_waker(&ws))
            .is_pending()
    );
    tx.try_send(4).unwrap();
    assert!(fs.take());
    assert_eq!(
        Pin::new(&mut stream_rx).poll_next(&mut Context::from_waker(&ws)),
        Poll::Ready(Some(4))
    );
    assert_accounted(&tx);
}

#[test]
fn a_notified_stream_left_unpolled_does_not_keep_another_stream_asleep() {
    // A push skips the notification only when the one waiting stream is
    // notified already; with two registered, one of them notified but
    // not looking, the other must still be woken.
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let mut idle = rx.clone();
    let mut busy = rx;
    let (fi, wi) = Flag::new();
    let (fb, wb) = Flag::new();
    let poll =
        |s: &mut Receiver<u32>, w: &Waker| Pin::new(s).poll_next(&mut Context::from_waker(w));
    assert!(poll(&mut idle, &wi).is_pending());
    assert!(poll(&mut busy, &wb).is_pending());

    tx.try_send(1).unwrap();
    assert!(fi.take() && fb.take(), "every waiting stream is woken");
    assert_eq!(poll(&mut busy, &wb), Poll::Ready(Some(1)));
    // `busy` waits again; `idle` is still notified, and never polled.
    assert!(poll(&mut busy, &wb).is_pending());
    tx.try_send(2).unwrap();
    assert!(fb.take(), "the waiting stream is woken");
    assert_eq!(poll(&mut busy, &wb), Poll::Ready(Some(2)));
    drop(idle);
    assert_accounted(&tx);
}

#[test]
fn the_close_wakes_every_waiting_receiver() {
    let clock = ManualClock::new();
    let (tx, rx, _) = queue::<u32>(&clock, 4, Overflow::Block);
    let mut stream_rx = rx.clone();
    let (mut r1, f1, w1) = waiting_recv(&rx);
    let (mut r2, f2, w2) = waiting_recv(&rx);
    let (fs, ws) = Flag::new();
    assert!(
        Pin::new(&mut stream_rx)
            .poll_next(&mut Context::from_waker(&ws))
            .is_pending()
    );
    let permit = tx.try_reserve().unwrap();
    drop(tx);
    assert!(
        !f1.take() && !f2.take() && !fs.take(),
        "a permit keeps the queue open"
    );
    drop(permit);
    assert!(f1.take() && f2.take() && fs.take(), "everyone sees the end");
    assert_eq!(
        r1.as_mut().poll(&mut Context::from_waker(&w1)),
        Poll::Ready(None)
    );
    assert_eq!(
        r2.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(None)
    );
    assert_eq!(
        Pin::new(&mut stream_rx).poll_next(&mut Context::from_waker(&ws)),
        Poll::Ready(None)
    );
}
