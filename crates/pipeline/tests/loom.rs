//! Every interleaving of the cancel token under loom: a `cancel` (or
//! `abort`) racing a waiter that is registering its listener must never be
//! lost, and racing `cancel`/`abort` calls must end aborted. And an emit on
//! another thread racing the end of the run: its item is in the summary the
//! run returns, or handed back.
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

use std::convert::Infallible;

use loom::thread;
use sluicegate_pipeline::{CancelToken, Pipeline, Summary};

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

fn balanced(s: &Summary) -> bool {
    s.produced == s.delivered + s.failed + s.filtered + s.discarded
}

#[test]
fn an_emit_racing_the_end_of_the_run_is_in_the_returned_summary() {
    loom::model(|| {
        let stash = Arc::new(std::sync::Mutex::new(None));
        let runnable = Pipeline::<_, Infallible, _>::generator(1, {
            let stash = Arc::clone(&stash);
            move |out| {
                // Emit from another thread, as a user's producer would.
                *stash.lock().unwrap() = Some(out);
                async {}
            }
        })
        .sink(|_: u64| async {})
        .unwrap();
        let monitor = runnable.monitor();
        let token = CancelToken::new();
        let run = runnable.run(token.clone());
        let emitter = stash.lock().unwrap().take().unwrap();
        let producer = thread::spawn(move || loom::future::block_on(emitter.emit(7)).is_ok());
        token.abort();
        let summary = loom::future::block_on(run);
        let emitted = u64::from(producer.join().unwrap());
        // The summary the run returned is final: an emit that got in is
        // in it (discarded by the abort); one that did not got its item back.
        assert!(balanced(&summary), "{summary:?}");
        assert_eq!(summary.produced, emitted, "{summary:?}");
        assert_eq!(summary.discarded, emitted, "{summary:?}");
        let after = monitor.summary();
        assert_eq!((after.produced, after.discarded), (emitted, emitted));
    });
}
