//! Every interleaving of the slot accounting, under loom: concurrent sends,
//! receives, reservations, evictions and closes. A lost wake-up shows as a
//! pending waiter whose waker never fired; a leaked or doubly used slot
//! shows in the counters.
//!
//! Only this crate's atomics are loom's; concurrent-queue's queue and
//! event-listener's list are plain std code, which loom runs as indivisible
//! steps (no loom operation runs inside a push or a pop, so loom never
//! switches threads half-way through one). The wakers are plain flags (not
//! loom's), so no loom operation runs inside event-listener's lock. Where
//! a real thread can be preempted between two such calls and that matters
//! (a receiver between its empty pop and its listener; a `DropOldest`
//! sender between its eviction's pop and its push), the crate holds a
//! loom-only switching point (`Core::preemptible`, a `yield_now`).
//!
//! Both wake-up protocols are modelled: a sender waiting for a slot (woken
//! by a receive or a dropped permit) and a receiver waiting for an item
//! (woken by a send, or by the close), as a `Recv` future and as a
//! `Stream`. Removing either half of a Dekker pair (the fence after a push,
//! the count and re-check before a receiver sleeps) makes these models
//! fail with "lost wake-up". (The fence in `Core::pass_on` is the one
//! whose removal no model here catches:
//! `a_woken_sender_passes_the_wake_up_to_one_registering_meanwhile` races
//! a registration against `pass_on` and fails without `pass_on`, but not
//! without its fence, at preemption bounds 3 and 5; see the comment
//! there.)
//!
//! `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-backpressure --test loom --release`
#![cfg(sluicegate_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::StreamExt;
use loom::thread;
use sluicegate_backpressure::{DropReason, Overflow, Receiver, SendError, Sender};

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type Log = Arc<Mutex<Vec<(u32, DropReason)>>>;

fn queue(capacity: usize, policy: Overflow) -> (Sender<u32>, Receiver<u32>, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let (tx, rx) = sluicegate_backpressure::builder(capacity)
        .policy(policy)
        .on_drop(move |item, reason| sink.lock().unwrap().push((item, reason)))
        .build()
        .unwrap();
    (tx, rx, log)
}

fn poll_with<F: Future + Unpin>(fut: &mut F, flag: &Arc<Flag>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::clone(flag));
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// What a poll returned, if anything.
fn ready<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// The end of a race between a future's first poll (`first`, made while
/// another thread ran) and that thread, once it is joined: a future left
/// pending must have been woken, and must be ready when polled again.
fn woken_then_ready<F: Future + Unpin>(
    fut: &mut F,
    flag: &Arc<Flag>,
    first: Poll<F::Output>,
) -> F::Output {
    match first {
        Poll::Ready(out) => out,
        Poll::Pending => {
            assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
            match poll_with(fut, flag) {
                Poll::Ready(out) => out,
                Poll::Pending => panic!("woken, but still pending"),
            }
        }
    }
}

/// Once every thread is joined: polls each unfinished future whose waker
/// fired, again and again until no waker fires. `out` holds what each has
/// returned so far; a `None` left in it is a future that lost its wake-up.
fn settle<F: Future + Unpin>(futs: &mut [F], flags: &[Arc<Flag>], out: &mut [Option<F::Output>]) {
    loop {
        let mut progress = false;
        for ((fut, flag), out) in futs.iter_mut().zip(flags).zip(out.iter_mut()) {
            if out.is_none() && flag.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(item) = poll_with(fut, flag) {
                    *out = Some(item);
                }
                progress = true;
            }
        }
        if !progress {
            return;
        }
    }
}

fn assert_accounted(tx: &Sender<u32>) {
    let s = tx.stats();
    assert_eq!(s.sent, s.received + s.len as u64 + s.dropped, "{s:?}");
}

#[test]
fn racing_senders_never_overfill_and_count_exactly() {
    loom::model(|| {
        let (tx, rx, _) = queue(1, Overflow::Block);
        let senders: Vec<_> = (1..=2)
            .map(|i| {
                let tx = tx.clone();
                thread::spawn(move || tx.try_send(i).is_ok())
            })
            .collect();
        let got = rx.try_recv().ok();
        let ok = senders
            .into_iter()
            .map(|h| u64::from(h.join().unwrap()))
            .sum::<u64>();
        let s = tx.stats();
        assert_eq!(s.sent, ok);
        assert_eq!(s.received, u64::from(got.is_some()));
        assert_eq!(s.reserved, 0);
        assert!(s.high_watermark <= 1 && s.len <= 1);
        assert_eq!(s.rejected + s.sent, 2);
        assert_accounted(&tx);
    });
}

#[test]
fn a_receive_wakes_a_waiting_sender() {
    loom::model(|| {
        let (tx, rx, _) = queue(1, Overflow::Block);
        tx.try_send(0).unwrap();
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(0));
            rx
        });
        let flag = Arc::new(Flag::default());
        let mut send = tx.send(1);
        let first = poll_with(&mut send, &flag);
        let rx = receiver.join().unwrap();
        assert_eq!(woken_then_ready(&mut send, &flag, first), Ok(()));
        drop(send);
        assert_eq!(rx.try_recv(), Ok(1));
        let s = tx.stats();
        assert_eq!((s.len, s.reserved, s.sent, s.received), (0, 0, 2, 2));
    });
}

#[test]
fn two_releases_wake_two_waiting_senders() {
    // Only the release that frees the first slot notifies; the sender it
    // wakes hands the wake-up on to the other one. Neither may be left
    // pending with a slot free.
    loom::model(|| {
        let (tx, rx, _) = queue(2, Overflow::Block);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(0));
            assert_eq!(rx.try_recv(), Ok(1));
            rx
        });
        let flags = [Arc::new(Flag::default()), Arc::new(Flag::default())];
        let mut sends = [tx.send(10), tx.send(11)];
        let mut done = [None, None];
        for i in 0..2 {
            done[i] = ready(poll_with(&mut sends[i], &flags[i]));
        }
        let rx = receiver.join().unwrap();
        // Everything released: a sender still pending once none is woken
        // lost its wake-up.
        settle(&mut sends, &flags, &mut done);
        assert_eq!(done, [Some(Ok(())), Some(Ok(()))], "lost wake-up");
        drop(sends);
        let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [10, 11]);
        assert_accounted(&tx);
    });
}

#[test]
fn a_woken_sender_passes_the_wake_up_to_one_registering_meanwhile() {
    // Two slots freed at once: only the first release notifies (`woken`,
    // on the main thread). `woken` uncounts its listener, takes one slot
    // and, in `Core::pass_on`, looks for another waiter to wake, while
    // `late` registers on another thread: either `pass_on` sees `late`
    // counted, or `late`'s re-check sees the second slot still free.
    //
    // Without `pass_on` this fails ("lost wake-up"). It was written to
    // catch the removal of `pass_on`'s fence too, and does not (preemption
    // bounds 3 and 5): here the first release's fence already orders
    // things (if `late`'s fence comes first in the fences' total order,
    // that release reads `late`'s count, and `woken`'s take acquires that
    // through the second release; if it comes after, `late`'s re-check
    // sees the first release's free slot). The fence stays; it costs
    // nothing at capacity 1 (`pass_on` stops at its first load).
    loom::model(|| {
        let (tx, rx, _) = queue(2, Overflow::Block);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        // `late` lives on beyond its thread: a `Send` borrows its sender.
        let tx_late: &'static Sender<u32> = Box::leak(Box::new(tx.clone()));
        let woken_flag = Arc::new(Flag::default());
        let mut woken = tx.send(10);
        assert!(poll_with(&mut woken, &woken_flag).is_pending());
        let receiver = thread::spawn(move || {
            assert!(rx.try_recv().is_ok());
            assert!(rx.try_recv().is_ok());
            rx
        });
        let late_flag = Arc::new(Flag::default());
        let registering = {
            let flag = Arc::clone(&late_flag);
            thread::spawn(move || {
                let mut late = tx_late.send(11);
                let done = ready(poll_with(&mut late, &flag));
                (late, done)
            })
        };
        // Woken or not, poll once more while `late` registers.
        let woken_done = ready(poll_with(&mut woken, &woken_flag));
        let rx = receiver.join().unwrap();
        let (late, late_done) = registering.join().unwrap();
        let mut sends = [woken, late];
        let mut done = [woken_done, late_done];
        settle(&mut sends, &[woken_flag, late_flag], &mut done);
        assert_eq!(done, [Some(Ok(())), Some(Ok(()))], "lost wake-up");
        drop(sends);
        let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [10, 11]);
        assert_accounted(&tx);
    });
}

#[test]
fn a_dropped_permit_wakes_a_waiting_reserver() {
    loom::model(|| {
        let (tx, rx, _) = queue(1, Overflow::Block);
        let permit = tx.try_reserve().unwrap();
        let dropper = thread::spawn(move || drop(permit));
        let flag = Arc::new(Flag::default());
        let mut reserve = tx.reserve();
        let first = poll_with(&mut reserve, &flag);
        dropper.join().unwrap();
        let permit = woken_then_ready(&mut reserve, &flag, first).unwrap();
        drop(reserve);
        permit.send(7);
        assert_eq!(rx.try_recv(), Ok(7));
        let s = tx.stats();
        assert_eq!((s.len, s.reserved, s.high_watermark), (0, 0, 1));
    });
}

#[test]
fn drop_oldest_evictions_race_without_loss() {
    loom::model(|| {
        let (tx, rx, log) = queue(1, Overflow::DropOldest);
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (1..=2)
            .map(|i| {
                let tx = tx.clone();
                thread::spawn(move || match tx.try_send(i) {
                    Ok(()) => None,
                    Err(SendError::Full(item)) => Some(item),
                    Err(SendError::Closed(_)) => unreachable!(),
                })
            })
            .collect();
        let mut seen: Vec<u32> = rx.try_recv().into_iter().collect();
        for h in senders {
            seen.extend(h.join().unwrap()); // handed back
        }
        seen.extend(std::iter::from_fn(|| rx.try_recv().ok()));
        seen.extend(log.lock().unwrap().iter().map(|(item, _)| *item));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2], "each item exactly once");
        let s = tx.stats();
        assert_eq!((s.len, s.reserved), (0, 0));
        assert_accounted(&tx);
    });
}

#[test]
fn closing_races_a_permit_send_and_the_item_is_seen() {
    loom::model(|| {
        let (tx, rx, log) = queue(1, Overflow::Block);
        let permit = tx.try_reserve().unwrap();
        let sender = thread::spawn(move || permit.send(1));
        drop(rx);
        sender.join().unwrap();
        assert_eq!(*log.lock().unwrap(), [(1, DropReason::Closed)]);
        let s = tx.stats();
        assert_eq!((s.sent, s.dropped, s.len, s.reserved), (1, 1, 0, 0));
        assert!(tx.try_send(2).unwrap_err().is_closed());
    });
}

#[test]
fn a_send_wakes_a_waiting_receiver() {
    loom::model(|| {
        let (tx, rx, _) = queue(1, Overflow::Block);
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx
        });
        let flag = Arc::new(Flag::default());
        let mut recv = rx.recv();
        let first = poll_with(&mut recv, &flag);
        let tx = sender.join().unwrap();
        assert_eq!(woken_then_ready(&mut recv, &flag, first), Some(1));
        drop(recv);
        let s = tx.stats();
        assert_eq!((s.sent, s.received, s.len, s.reserved), (1, 1, 0, 0));
    });
}

#[test]
fn a_send_wakes_a_waiting_stream() {
    loom::model(|| {
        let (tx, mut rx, _) = queue(1, Overflow::Block);
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx
        });
        let flag = Arc::new(Flag::default());
        // `next` polls the stream (`poll_next`): the listener it registers
        // is the `Receiver`'s.
        let mut next = rx.next();
        let first = poll_with(&mut next, &flag);
        let tx = sender.join().unwrap();
        assert_eq!(woken_then_ready(&mut next, &flag, first), Some(1));
        let s = tx.stats();
        assert_eq!((s.sent, s.received, s.len), (1, 1, 0));
    });
}

#[test]
fn two_sends_wake_two_waiting_receivers() {
    // Each push wakes one more waiting `Recv`; neither receiver may be left
    // pending with an item queued.
    loom::model(|| {
        let (tx, rx, _) = queue(2, Overflow::Block);
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            tx
        });
        let flags = [Arc::new(Flag::default()), Arc::new(Flag::default())];
        let mut recvs = [rx.recv(), rx.recv()];
        let mut got = [None, None];
        for i in 0..2 {
            got[i] = ready(poll_with(&mut recvs[i], &flags[i]));
        }
        let tx = sender.join().unwrap();
        // Everything sent: a receiver still pending once none is woken
        // lost its wake-up.
        settle(&mut recvs, &flags, &mut got);
        let mut got = got.map(|item| item.flatten().expect("lost wake-up"));
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(recvs);
        let s = tx.stats();
        assert_eq!((s.sent, s.received, s.len), (2, 2, 0));
    });
}

#[test]
fn a_recv_dropped_while_a_send_notifies_it_hands_the_wake_up_on() {
    // Two `Recv`s wait; one is dropped while a push notifies. Whichever
    // comes first, the other must be woken for the item: the push
    // notifies it directly (the dropped one is gone or uncounted), or
    // the dropped one, discarded while notified, hands its notification
    // on (`Core::pass_recv_on`, which takes it back from
    // `recv_notified`).
    loom::model(|| {
        let (tx, rx, _) = queue(2, Overflow::Block);
        let flags = [Arc::new(Flag::default()), Arc::new(Flag::default())];
        let mut dropped = rx.recv();
        let mut kept = rx.recv();
        assert!(poll_with(&mut dropped, &flags[0]).is_pending());
        assert!(poll_with(&mut kept, &flags[1]).is_pending());
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx
        });
        drop(dropped);
        let tx = sender.join().unwrap();
        assert_eq!(
            woken_then_ready(&mut kept, &flags[1], Poll::Pending),
            Some(1)
        );
        assert_accounted(&tx);
    });
}

#[test]
fn two_sends_wake_a_waiting_stream_and_a_waiting_recv() {
    // Above capacity 1 a push skips notifying a kind whose one counted
    // listener is notified already (`Core::wake_receivers`): a stream and a
    // `Recv` wait on different events, one of each counted, and neither
    // may be left pending with an item queued.
    loom::model(|| {
        let (tx, mut rx, _) = queue(2, Overflow::Block);
        let other = rx.clone();
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            tx
        });
        let flags = [Arc::new(Flag::default()), Arc::new(Flag::default())];
        let mut recv = other.recv();
        let mut next = rx.next();
        let mut got = [
            ready(poll_with(&mut recv, &flags[0])),
            ready(poll_with(&mut next, &flags[1])),
        ];
        let tx = sender.join().unwrap();
        // Everything sent: poll whichever was woken until none is.
        loop {
            let mut progress = false;
            if got[0].is_none() && flags[0].0.swap(false, Ordering::SeqCst) {
                got[0] = ready(poll_with(&mut recv, &flags[0]));
                progress = true;
            }
            if got[1].is_none() && flags[1].0.swap(false, Ordering::SeqCst) {
                got[1] = ready(poll_with(&mut next, &flags[1]));
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let mut got = got.map(|item| item.flatten().expect("lost wake-up"));
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(recv);
        let s = tx.stats();
        assert_eq!((s.sent, s.received, s.len), (2, 2, 0));
    });
}

#[test]
fn the_last_sender_going_wakes_a_waiting_receiver() {
    loom::model(|| {
        let (tx, rx, _) = queue(1, Overflow::Block);
        let sender = thread::spawn(move || drop(tx));
        let flag = Arc::new(Flag::default());
        let mut recv = rx.recv();
        let first = poll_with(&mut recv, &flag);
        sender.join().unwrap();
        assert_eq!(woken_then_ready(&mut recv, &flag, first), None);
    });
}

#[test]
fn a_permit_send_wakes_a_drop_oldest_send_with_nothing_to_evict() {
    // Every slot is reserved, so the `DropOldest` send waits; the permit's
    // push (fence, read `waiting`) and the send's re-check (count, fence,
    // evict again) are a Dekker pair.
    loom::model(|| {
        let (tx, rx, log) = queue(1, Overflow::DropOldest);
        let permit = tx.try_reserve().unwrap();
        let sender = thread::spawn(move || permit.send(0));
        let flag = Arc::new(Flag::default());
        let mut send = tx.send(1);
        let first = poll_with(&mut send, &flag);
        sender.join().unwrap();
        assert_eq!(woken_then_ready(&mut send, &flag, first), Ok(()));
        drop(send);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(*log.lock().unwrap(), [(0, DropReason::Oldest)]);
        assert_accounted(&tx);
    });
}

#[test]
fn an_eviction_wakes_a_drop_oldest_send_that_found_nothing_to_evict() {
    // A `DropOldest` send that runs between another sender's eviction (its
    // pop) and that sender's push finds the queue empty and every slot
    // taken, and waits: the push must wake it, or it sleeps beside an item
    // it could evict until some receiver happens to take one.
    loom::model(|| {
        let (tx, rx, log) = queue(1, Overflow::DropOldest);
        tx.try_send(0).unwrap();
        let evictor = {
            let tx = tx.clone();
            thread::spawn(move || match tx.try_send(1) {
                Ok(()) => None,
                Err(SendError::Full(item)) => Some(item), // handed back
                Err(SendError::Closed(_)) => unreachable!(),
            })
        };
        let flag = Arc::new(Flag::default());
        let mut send = tx.send(2);
        let first = poll_with(&mut send, &flag);
        let mut seen: Vec<u32> = evictor.join().unwrap().into_iter().collect();
        assert_eq!(woken_then_ready(&mut send, &flag, first), Ok(()));
        drop(send);
        seen.extend(std::iter::from_fn(|| rx.try_recv().ok()));
        seen.extend(log.lock().unwrap().iter().map(|(item, _)| *item));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2], "each item exactly once");
        assert_accounted(&tx);
    });
}

#[test]
fn a_recv_counted_late_hands_on_the_wake_up_a_push_skipped() {
    // `late` (thread) listens before `early` (main) but
    // counts after it: a push that reads the counts in between notifies
    // `late` (the oldest unnotified listener) for `early`'s count, and
    // the next push reads recv_notified (1) >= recvs (1) and skips while
    // `early`, counted, is unnotified. Only `late`'s hand-on (its own pop
    // takes an item while its listener is notified: discard ->
    // `pass_recv_on`) then wakes `early`.
    loom::model(|| {
        let (tx, rx, _) = queue(2, Overflow::Block);
        // The thread hands its pending `Recv` back, so the receiver it
        // borrows must outlive the thread: leaked (one per iteration).
        let rx_late: &'static Receiver<u32> = Box::leak(Box::new(rx.clone()));
        let late_flag = Arc::new(Flag::default());
        let late_thread = {
            let flag = Arc::clone(&late_flag);
            thread::spawn(move || {
                let mut late = rx_late.recv();
                let done = ready(poll_with(&mut late, &flag));
                (late, done)
            })
        };
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            tx
        });
        let early_flag = Arc::new(Flag::default());
        let mut early = rx.recv();
        let early_done = ready(poll_with(&mut early, &early_flag));
        let tx = sender.join().unwrap();
        let (late, late_done) = late_thread.join().unwrap();
        let mut recvs = [early, late];
        let mut got = [early_done, late_done];
        settle(&mut recvs, &[early_flag, late_flag], &mut got);
        let mut got = got.map(|item| item.flatten().expect("lost wake-up"));
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        drop(recvs);
        assert_accounted(&tx);
    });
}
