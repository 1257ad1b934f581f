//! Fan-in: fairness (Jain's index), no starvation, the exact end, adding
//! sources while running, the per-poll budget, statistics.

mod support;

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_lite::{StreamExt, stream};
use sluicegate_fanio::{Merge, merge};
use support::*;

fn poll_once<S: Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
    Pin::new(s).poll_next(&mut Context::from_waker(Waker::noop()))
}

/// Counts per source among the first `m` items of a merge of tagged items.
fn counts(items: &[usize], n: usize) -> Vec<u64> {
    let mut c = vec![0u64; n];
    for &i in items {
        c[i] += 1;
    }
    c
}

#[test]
fn equal_rate_always_ready_sources_get_equal_shares() {
    for n in [2usize, 16, 1024] {
        let merged = merge((0..n).map(stream::repeat));
        let m = 100 * n + n / 3; // not a multiple of n: shares differ by at most 1
        let items: Vec<usize> = sluicegate_rt::block_on(merged.take(m).collect());
        let c = counts(&items, n);
        let j = jain(&c);
        assert!(j >= 0.99, "n={n}: Jain index {j}, counts {c:?}");
        let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
        assert!(
            max - min <= 1,
            "n={n}: round-robin shares differ by {}",
            max - min
        );
    }
}

#[test]
fn equal_rate_timed_sources_get_equal_shares() {
    // 64 sources each producing one item per virtual millisecond, started
    // at different offsets: the merge must not favour any of them.
    let local = Local::new();
    let n = 64;
    let sources = (0..n).map(|i| {
        let clock = local.clock.clone();
        stream::unfold(i == 0, move |first| {
            let clock = clock.clone();
            async move {
                if !first {
                    clock.sleep(ms(1)).await;
                }
                Some((i, false))
            }
        })
        .boxed()
    });
    let merged = merge(sources);
    let items: Vec<usize> = local.run(merged.take(50 * n + 7).collect());
    let c = counts(&items, n);
    let j = jain(&c);
    assert!(j >= 0.99, "Jain index {j}, counts {c:?}");
}

#[test]
fn an_always_ready_source_cannot_starve_slow_ones() {
    // Source 0 is always ready; sources 1..=15 get an item only now and then.
    // Each slow item must come out within `sources` items of being sent.
    let slow = 15;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..slow)
        .map(|_| async_channel::unbounded::<usize>())
        .unzip();
    let mut merged: Merge<_> = Merge::new();
    merged.push(stream::repeat(usize::MAX).boxed());
    for rx in rxs {
        merged.push(rx.boxed());
    }
    let mut sent_at: HashMap<usize, usize> = HashMap::new();
    let mut next_tag = 0;
    let mut worst = 0;
    for step in 0..20_000usize {
        if step % 7 == 0 {
            let src = (step / 7) % slow;
            txs[src].try_send(next_tag).unwrap();
            sent_at.insert(next_tag, step);
            next_tag += 1;
        }
        match poll_once(&mut merged) {
            Poll::Ready(Some(usize::MAX)) => {}
            Poll::Ready(Some(tag)) => {
                let waited = step - sent_at.remove(&tag).unwrap();
                worst = worst.max(waited);
            }
            other => panic!("the always-ready source keeps the merge ready: {other:?}"),
        }
    }
    assert!(
        worst <= slow + 1,
        "a slow item waited {worst} merged items behind the busy source"
    );
    // Everything sent came out, or was waiting its turn at the very end.
    assert!(sent_at.len() <= slow);
}

#[test]
fn a_woken_source_waits_for_at_most_one_item_of_each_other_source() {
    // Three always-ready sources and one channel: whenever an item is sent
    // to the channel, it comes out within 4 merged items (at most one of
    // each busy source first), whatever the phase of the rotation.
    let (tx, rx) = async_channel::unbounded::<usize>();
    let mut merged: Merge<_> = Merge::new();
    for _ in 0..3 {
        merged.push(stream::repeat(usize::MAX).boxed());
    }
    merged.push(rx.boxed());
    for phase in 0..50 {
        for _ in 0..phase % 5 {
            assert_eq!(poll_once(&mut merged), Poll::Ready(Some(usize::MAX)));
        }
        tx.try_send(phase).unwrap();
        assert!(
            (1..=4).any(|_| poll_once(&mut merged) == Poll::Ready(Some(phase))),
            "phase {phase}: the woken item waited more than 4 items"
        );
    }
}

#[test]
fn ends_exactly_when_every_source_has_ended() {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..5).map(|_| async_channel::unbounded::<u32>()).unzip();
    let mut merged = merge(rxs);
    assert_eq!(poll_once(&mut merged), Poll::Pending);
    for (i, tx) in txs.iter().enumerate() {
        tx.try_send(i as u32).unwrap();
    }
    let mut got = Vec::new();
    while let Poll::Ready(Some(x)) = poll_once(&mut merged) {
        got.push(x);
    }
    got.sort();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    let mut txs = txs.into_iter();
    for left in (1..5).rev() {
        drop(txs.next());
        assert_eq!(
            poll_once(&mut merged),
            Poll::Pending,
            "{left} sources still open"
        );
        assert_eq!(merged.active(), left);
    }
    let last = txs.next().unwrap();
    last.try_send(9).unwrap();
    drop(last);
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(9)));
    assert_eq!(poll_once(&mut merged), Poll::Ready(None));
    assert!(futures_core::stream::FusedStream::is_terminated(&merged));
    let s = merged.stats();
    assert_eq!((s.total, s.active, s.ended), (6, 0, 5));
    assert_eq!(s.per_source, [1, 1, 1, 1, 2]);
}

#[test]
fn a_merge_of_nothing_ends_at_once_and_restarts_on_push() {
    let mut merged: Merge<stream::Iter<std::vec::IntoIter<u8>>> = merge(vec![]);
    assert!(merged.is_empty());
    assert_eq!(poll_once(&mut merged), Poll::Ready(None));
    merged.push(stream::iter(vec![1, 2]));
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(1)));
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(2)));
    assert_eq!(poll_once(&mut merged), Poll::Ready(None));
}

#[test]
fn sources_added_while_running_take_their_turn() {
    let mut merged = merge([stream::repeat(0u32).boxed()]);
    for _ in 0..10 {
        assert_eq!(poll_once(&mut merged), Poll::Ready(Some(0)));
    }
    let idx = merged.push(stream::iter(vec![1, 1]).boxed());
    assert_eq!(idx, 1);
    let next: Vec<_> = (0..5).map(|_| poll_once(&mut merged)).collect();
    assert_eq!(
        next,
        [0, 1, 0, 1, 0].map(|x| Poll::Ready(Some(x))),
        "the new source alternates with the busy one"
    );
    assert_eq!(merged.stats().per_source, [13, 2]);
}

/// A source that wakes itself and stays pending forever (a badly behaved
/// "yield" loop).
struct Spinner;

impl Stream for Spinner {
    type Item = u32;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn the_poll_budget_stops_self_waking_sources_from_trapping_the_merge() {
    let mut merged = merge([Spinner.boxed(), Spinner.boxed(), Spinner.boxed()]);
    // Must return (Pending) instead of spinning forever.
    for _ in 0..3 {
        assert_eq!(poll_once(&mut merged), Poll::Pending);
    }
    merged.push(stream::iter(vec![7, 8]).boxed());
    let mut got = Vec::new();
    for _ in 0..20 {
        if let Poll::Ready(Some(x)) = poll_once(&mut merged) {
            got.push(x);
        }
    }
    assert_eq!(got, [7, 8]);
}

#[test]
fn wakes_only_the_sources_that_are_ready() {
    // 1024 idle channels and one busy: items of the busy one come out with
    // no poll of the idle ones (their wakers never fired).
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..1025).map(|_| async_channel::unbounded::<u32>()).unzip();
    let mut merged = merge(rxs);
    assert_eq!(poll_once(&mut merged), Poll::Pending); // first round polls everyone once
    for i in 0..1000 {
        txs[512].try_send(i).unwrap();
        assert_eq!(poll_once(&mut merged), Poll::Ready(Some(i)));
    }
    txs[3].try_send(5000).unwrap();
    txs[1000].try_send(6000).unwrap();
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(5000)));
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(6000)));
    assert_eq!(poll_once(&mut merged), Poll::Pending);
    drop(txs);
    assert_eq!(poll_once(&mut merged), Poll::Ready(None));
}

#[test]
fn merges_across_threads() {
    // Producers on threads; every item arrives once; ends when all end.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..8).map(|_| async_channel::bounded::<u32>(4)).unzip();
    let handles: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(s, tx)| {
            std::thread::spawn(move || {
                for i in 0..1000 {
                    tx.send_blocking(s as u32 * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let mut got: Vec<u32> = sluicegate_rt::block_on(merge(rxs).collect());
    for h in handles {
        h.join().unwrap();
    }
    got.sort();
    assert_eq!(got, (0..8000).collect::<Vec<_>>());
}

/// Yields 1, then panics on its second poll.
struct PanicsOnce(bool);

impl Stream for PanicsOnce {
    type Item = u32;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        if self.0 {
            panic!("{}", BOOM);
        }
        self.0 = true;
        Poll::Ready(Some(1))
    }
}

#[test]
fn a_source_that_panics_is_dropped_and_the_merge_goes_on() {
    quiet_panics();
    let mut merged = merge([
        PanicsOnce(false).boxed(),
        stream::iter(vec![10, 20, 30]).boxed(),
    ]);
    let mut got = Vec::new();
    let mut panics = 0;
    for _ in 0..20 {
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut merged)));
        match polled {
            Ok(Poll::Ready(Some(x))) => got.push(x),
            Ok(Poll::Ready(None)) => break,
            Ok(Poll::Pending) => panic!("nothing can be pending here"),
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 1, "the panicking source is not polled again");
    assert_eq!(got, [1, 10, 20, 30]);
    let s = merged.stats();
    assert_eq!((s.active, s.ended), (0, 2), "the merge ended: {s:?}");
}

/// Yields 1, ends, and panics when dropped.
struct PanicsOnDrop(bool);

impl Stream for PanicsOnDrop {
    type Item = u32;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        if self.0 {
            return Poll::Ready(None);
        }
        self.0 = true;
        Poll::Ready(Some(1))
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", BOOM);
        }
    }
}

#[test]
fn a_source_that_panics_when_dropped_at_its_end_still_ends() {
    quiet_panics();
    let mut merged = merge([
        PanicsOnDrop(false).boxed(),
        stream::iter(vec![10, 20]).boxed(),
    ]);
    let mut got = Vec::new();
    let mut panics = 0;
    let mut ended = false;
    for _ in 0..20 {
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut merged)));
        match polled {
            Ok(Poll::Ready(Some(x))) => got.push(x),
            Ok(Poll::Ready(None)) => {
                ended = true;
                break;
            }
            // (Would wait forever: no source is left to wake it.)
            Ok(Poll::Pending) => break,
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 1);
    assert_eq!(got, [1, 10, 20]);
    let s = merged.stats();
    assert!(ended, "the merge must end, every source has: {s:?}");
    assert_eq!((s.active, s.ended), (0, 2), "{s:?}");
}

/// Sends one item into a channel on its first poll, then stays pending
/// (it never wakes: a source with nothing more to give).
struct Kick(Option<async_channel::Sender<u32>>);

impl Stream for Kick {
    type Item = u32;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        if let Some(tx) = self.0.take() {
            tx.try_send(1).unwrap();
            std::mem::forget(tx); // keep the channel open
        }
        Poll::Pending
    }
}

#[test]
fn a_source_woken_during_the_poll_is_polled_in_the_same_call() {
    // `rx` is polled (empty), then `Kick` wakes it by sending: the merge
    // must poll it again right away instead of returning a spurious
    // `Pending` (and a self-wake, an executor round trip per item).
    let (tx, rx) = async_channel::unbounded::<u32>();
    let mut merged = merge([rx.boxed(), Kick(Some(tx)).boxed()]);
    assert_eq!(poll_once(&mut merged), Poll::Ready(Some(1)));
}

/// Two sources that wake each other on every poll and never yield.
struct PingPong {
    me: usize,
    wakers: std::sync::Arc<std::sync::Mutex<[Option<Waker>; 2]>>,
}

impl Stream for PingPong {
    type Item = u32;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        let other = {
            let mut w = self.wakers.lock().unwrap();
            w[self.me] = Some(cx.waker().clone());
            w[1 - self.me].take()
        };
        if let Some(w) = other {
            w.wake();
        }
        Poll::Pending
    }
}

#[test]
fn sources_waking_each_other_cannot_trap_the_merge() {
    let wakers = std::sync::Arc::default();
    let mut merged = merge((0..2).map(|me| PingPong {
        me,
        wakers: std::sync::Arc::clone(&wakers),
    }));
    for _ in 0..3 {
        assert_eq!(poll_once(&mut merged), Poll::Pending);
    }
}
