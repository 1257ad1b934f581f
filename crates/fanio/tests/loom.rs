//! Loom models of the merge's wake protocol (per-source wakers feeding a
//! shared inbox, a "queued" flag per source, the parent waker registered
//! before the merge returns `Pending`): no interleaving of producers
//! waking sources on other threads loses a wake-up (loom's `block_on`
//! would report the deadlock) or an item, and the merge ends exactly once
//! every source has ended.
//!
//! Run: `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-fanio --test loom --release`
#![cfg(sluicegate_loom)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use sluicegate_fanio::merge;

/// A source fed by another thread: `items` waiting, then `done`.
#[derive(Default)]
struct Cell {
    items: AtomicUsize,
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Cell {
    fn push(&self) {
        self.items.fetch_add(1, Ordering::AcqRel);
        self.wake();
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.wake();
    }

    fn wake(&self) {
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

struct Source(Arc<Cell>, u32);

impl Stream for Source {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        let tag = self.1;
        let cell = &self.0;
        let check = || {
            let n = cell.items.load(Ordering::Acquire);
            if n > 0 {
                cell.items.fetch_sub(1, Ordering::AcqRel);
                return Some(Some(tag));
            }
            // Items are pushed before `done`: re-read them after it.
            if cell.done.load(Ordering::Acquire) {
                if cell.items.load(Ordering::Acquire) > 0 {
                    cell.items.fetch_sub(1, Ordering::AcqRel);
                    return Some(Some(tag));
                }
                return Some(None);
            }
            None
        };
        if let Some(r) = check() {
            return Poll::Ready(r);
        }
        *cell.waker.lock().unwrap() = Some(cx.waker().clone());
        match check() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

async fn collect<S: Stream + Unpin>(mut s: S) -> Vec<S::Item> {
    let mut out = Vec::new();
    while let Some(x) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
        out.push(x);
    }
    out
}

#[test]
fn two_sources_woken_from_other_threads() {
    loom::model(|| {
        let cells: Vec<Arc<Cell>> = (0..2).map(|_| Arc::new(Cell::default())).collect();
        let merged = merge(
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| Source(Arc::clone(c), i as u32)),
        );
        let producers: Vec<_> = cells
            .iter()
            .map(|c| {
                let c = Arc::clone(c);
                loom::thread::spawn(move || {
                    c.push();
                    c.finish();
                })
            })
            .collect();
        let mut got = loom::future::block_on(collect(merged));
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
    });
}

#[test]
fn one_source_woken_twice_while_polled() {
    loom::model(|| {
        let cell = Arc::new(Cell::default());
        let merged = merge([Source(Arc::clone(&cell), 7)]);
        let producer = {
            let c = Arc::clone(&cell);
            loom::thread::spawn(move || {
                c.push();
                c.push();
                c.finish();
            })
        };
        let got = loom::future::block_on(collect(merged));
        producer.join().unwrap();
        assert_eq!(got, [7, 7]);
    });
}

#[test]
fn the_test_source_alone_is_sound() {
    loom::model(|| {
        let cell = Arc::new(Cell::default());
        let src = Source(Arc::clone(&cell), 7);
        let producer = {
            let c = Arc::clone(&cell);
            loom::thread::spawn(move || {
                c.push();
                c.finish();
            })
        };
        let got = loom::future::block_on(collect(src));
        producer.join().unwrap();
        assert_eq!(got, [7]);
    });
}
