//! Every interleaving of the cancel token under loom: a `cancel` (or
//! `abort`) racing a waiter that is registering its listener must never be
//! lost, and racing `cancel`/`abort` calls must end aborted.
//!
//! Only the token's state is loom's atomic; event-listener's list is plain
//! std code, which loom runs as indivisible steps. The wakers are plain
//! flags (not loom's), so no loom operation runs inside event-listener's
//! lock.
//!
//! `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-pipeline --test loom --release`
#![cfg(sluicegate_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use sluicegate_pipeline::CancelToken;

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn poll_with<F: Future + Unpin>(fut: &mut F, flag: &Arc<Flag>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::clone(flag));
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[test]
fn a_cancel_racing_a_waiter_is_never_lost() {
    loom::model(|| {
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        let flag = Arc::new(Flag::default());
        let mut waiting = token.cancelled();
        let first = poll_with(&mut waiting, &flag);
        canceller.join().unwrap();
        if first.is_pending() {
            assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
            assert!(poll_with(&mut waiting, &flag).is_ready());
        }
        assert!(token.is_cancelled() && !token.is_aborted());
    });
}

#[test]
fn an_abort_after_a_cancel_wakes_an_abort_waiter() {
    loom::model(|| {
        let token = CancelToken::new();
        let stopper = {
            let token = token.clone();
            thread::spawn(move || {
                token.cancel();
                token.abort();
            })
        };
        let flag = Arc::new(Flag::default());
        let mut waiting = token.aborted();
        let first = poll_with(&mut waiting, &flag);
        stopper.join().unwrap();
        if first.is_pending() {
            assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
            assert!(poll_with(&mut waiting, &flag).is_ready());
        }
        assert!(token.is_aborted());
    });
}

#[test]
fn racing_cancel_and_abort_end_aborted() {
    loom::model(|| {
        let token = CancelToken::new();
        let a = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        let b = {
            let token = token.clone();
            thread::spawn(move || token.abort())
        };
        a.join().unwrap();
        b.join().unwrap();
        assert!(token.is_aborted() && token.is_cancelled());
    });
}
