//! Lossless under races: 10,000 submits raced against their timeouts (on a
//! `ManualClock` moved by a driver thread) lose no job. Every job either ran
//! or came back in `Timeout(job)`, counted end to end.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use sluicegate_distributor::SubmitError;
use sluicegate_rt::{ManualClock, block_on};
use support::*;

const JOBS: u32 = if cfg!(miri) { 200 } else { 10_000 };

/// A job that yields a few times (to be slower than the submitter, so the
/// queue fills and timeouts happen), then records its id.
fn job(
    id: u32,
    ran: &Arc<Mutex<Vec<u32>>>,
) -> impl std::future::Future<Output = Result<u32, String>> + Send + 'static {
    let ran = Arc::clone(ran);
    async move {
        for _ in 0..(id % 4) {
            yield_now().await;
        }
        ran.lock().unwrap().push(id);
        Ok(id)
    }
}

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

#[test]
fn ten_thousand_submits_raced_against_a_timeout_lose_nothing() {
    let clock = ManualClock::new();
    let (pool, spawner) = pool(2, 4, &clock);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    // Moves virtual time whenever a submit is waiting on its deadline.
    let driver = {
        let (clock, done) = (clock.clone(), Arc::clone(&done));
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if clock.pending_sleeps() > 0 {
                    clock.advance(ms(1));
                }
                thread::yield_now();
            }
        })
    };
    let mut back = Vec::new();
    for id in 0..JOBS {
        match block_on(pool.submit_timeout(job(id, &ran), ms(1))) {
            Ok(()) => {}
            Err(SubmitError::Timeout(job)) => back.push((id, job)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let stopped = block_on(pool.shutdown());
    done.store(true, Ordering::SeqCst);
    driver.join().unwrap();
    assert!(stopped.handed_back.is_empty());

    let timed_out = back.len() as u64;
    // Each handed-back job is intact: awaiting it runs it.
    let back_ids: Vec<u32> = back
        .into_iter()
        .map(|(id, job)| {
            assert_eq!(block_on(async { job.await }), Ok(id));
            id
        })
        .collect();
    let mut ran = ran.lock().unwrap().clone();
    // The handed-back jobs we just ran ourselves recorded too: separate them.
    let mut all = ran.clone();
    all.sort_unstable();
    assert_eq!(all, (0..JOBS).collect::<Vec<_>>(), "every job exactly once");
    ran.retain(|id| !back_ids.contains(id));
    let s = stopped.stats;
    assert_eq!(s.submitted, ran.len() as u64);
    assert_eq!(s.completed, s.submitted);
    assert_eq!(s.rejected, timed_out);
    assert_eq!(s.submitted + s.rejected, u64::from(JOBS));
    assert!(s.is_balanced());
    assert_eq!(spawner.inner_join(), 2);
}

/// Submitters race an abort: every job is run, cancelled, handed back by
/// the abort, or handed back to its submitter in `Closed(job)`.
#[test]
fn submits_raced_against_an_abort_lose_nothing() {
    const PER: u32 = 2_000;
    let clock = ManualClock::new();
    let (pool, spawner) = pool(2, 8, &clock);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let submitters: Vec<_> = (0..3u32)
        .map(|t| {
            let (pool, ran) = (pool.clone(), Arc::clone(&ran));
            thread::spawn(move || {
                let mut refused = Vec::new();
                for n in 0..PER {
                    let id = t * PER + n;
                    if let Err(e) = block_on(pool.submit(job(id, &ran))) {
                        assert!(e.is_closed());
                        refused.push(id);
                    }
                }
                refused
            })
        })
        .collect();
    wait_until("some jobs ran", || ran.lock().unwrap().len() > 100);
    let stopped = block_on(pool.abort());
    let refused: Vec<u32> = submitters
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    // Submitters refused after the abort returned count later: read the
    // counters once they have all finished.
    let s = pool.stats();
    let handed_back = stopped.handed_back.len() as u64;
    assert_eq!(s.handed_back, handed_back);
    assert_eq!(s.rejected, refused.len() as u64);
    assert_eq!(s.submitted + s.rejected, u64::from(3 * PER));
    assert_eq!(s.completed, ran.lock().unwrap().len() as u64);
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(spawner.inner_join(), 2);
}
