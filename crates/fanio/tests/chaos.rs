//! Fan-out under random trouble, in virtual time (deterministic): tasks
//! dropped by their executor at random moments, worker, key and input
//! panics, a slow consumer, and an output read to its end, cancelled or
//! dropped part-way. After every run the output has ended (a hang makes
//! `ManualClock::block_on` panic: everything idle, no timer due), every
//! item taken is accounted for exactly once, and the counters balance.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use futures_lite::{StreamExt, future, stream};
use proptest::prelude::*;
use sluicegate_fanio::{Distribution, FanOut, FanOutBuilder, FanOutError, FanOutStats};
use support::*;

/// How the consumer stops.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Reads the output to its end.
    Read,
    /// Reads this many results, then cancels.
    Cancel(usize),
    /// Reads this many results, then drops the output.
    Drop(usize),
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::Read),
        (0usize..20).prop_map(End::Cancel),
        (0usize..20).prop_map(End::Drop),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    items: u32,
    workers: usize,
    keyed: bool,
    capacity: usize,
    output_capacity: usize,
    /// (task, virtual ms): task `task % (workers + 1)` is dropped then
    /// (the feeder is task `workers`).
    aborts: Vec<(usize, u64)>,
    /// Items `i` with `i % panic_every == panic_every - 1` panic in the
    /// worker (0: none).
    panic_every: u32,
    /// The input panics instead of yielding this item.
    input_panic: Option<u32>,
    /// The key function panics on this item (keyed only).
    key_panic: Option<u32>,
    /// Virtual ms the consumer waits before each read.
    consumer_delay: u64,
    end: End,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0u32..40, 1usize..4, any::<bool>(), 1usize..5, 1usize..4),
        prop::collection::vec((0usize..5, 0u64..30), 0..4),
        (
            0u32..6,
            prop::option::of(0u32..40),
            prop::option::of(0u32..40),
        ),
        (0u64..3, end()),
    )
        .prop_map(
            |(
                (items, workers, keyed, capacity, output_capacity),
                aborts,
                (panic_every, input_panic, key_panic),
                (consumer_delay, end),
            )| Case {
                items,
                workers,
                keyed,
                capacity,
                output_capacity,
                aborts,
                panic_every,
                input_panic,
                key_panic,
                consumer_delay,
                end,
            },
        )
}

/// What came out of a run.
#[derive(Debug, Default)]
struct Tally {
    /// Items whose result came out, or that came back (in an error or from
    /// `cancel`).
    items: Vec<u32>,
    /// The results, in the order they came out.
    ok: Vec<u32>,
    worker_panics: usize,
    lost: usize,
    input_panics: usize,
    feeder_dropped: usize,
}

impl Tally {
    fn add(&mut self, r: Result<u32, FanOutError<u32>>) {
        match r {
            Ok(i) => {
                self.items.push(i);
                self.ok.push(i);
            }
            Err(FanOutError::Unstarted { item, .. } | FanOutError::KeyPanicked { item, .. }) => {
                self.items.push(item)
            }
            Err(FanOutError::WorkerPanicked { .. }) => self.worker_panics += 1,
            Err(FanOutError::WorkerDropped { .. }) => self.lost += 1,
            Err(FanOutError::InputPanicked { .. }) => self.input_panics += 1,
            Err(FanOutError::FeederDropped) => self.feeder_dropped += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

type Work = Pin<Box<dyn Future<Output = u32> + Send>>;

fn run(c: &Case) -> (Option<Tally>, FanOutStats) {
    quiet_panics();
    let local = Local::new();
    let sp = Abortable::new(local.spawner());
    let input_panic = c.input_panic;
    let input = stream::iter(0..c.items).map(move |i| {
        if Some(i) == input_panic {
            panic!("{BOOM}: input");
        }
        i
    });
    let mut b = FanOutBuilder::new(c.workers)
        .capacity(c.capacity)
        .output_capacity(c.output_capacity);
    if c.keyed {
        let key_panic = c.key_panic;
        b = b.distribution(Distribution::keyed(move |&i: &u32| {
            if Some(i) == key_panic {
                panic!("{BOOM}: key");
            }
            i % 5
        }));
    }
    let l = local.clone();
    let panic_every = c.panic_every;
    let out: FanOut<u32, u32> = b
        .spawn(input, &sp, move |i| -> Work {
            let l = l.clone();
            Box::pin(async move {
                l.sleep(ms(u64::from(i * 7 % 5))).await;
                if panic_every != 0 && i % panic_every == panic_every - 1 {
                    panic!("{BOOM}: worker");
                }
                i
            })
        })
        .unwrap();
    let h = out.stats_handle();
    let tasks = c.workers + 1;
    let mut aborts = c.aborts.clone();
    aborts.sort_by_key(|&(_, at)| at);
    let killer = async {
        let mut now = 0;
        for &(task, at) in &aborts {
            local.sleep(ms(at - now)).await;
            now = at;
            sp.abort(task % tasks);
        }
    };
    let (l, h2, end, delay) = (local.clone(), h.clone(), c.end, c.consumer_delay);
    // A task of its own: polled only when woken, so a lost wake-up hangs.
    let consumer = local.task(async move {
        let (local, h) = (l, h2);
        let mut out = out;
        let mut t = Tally::default();
        let stop = match end {
            End::Read => usize::MAX,
            End::Cancel(k) | End::Drop(k) => k,
        };
        let mut read = 0;
        while read < stop {
            local.sleep(ms(delay)).await;
            match out.next().await {
                Some(r) => t.add(r),
                None => break,
            }
            read += 1;
        }
        match end {
            End::Read => {
                assert!(out.next().await.is_none());
                Some(t)
            }
            End::Cancel(_) => {
                let cancelled = out.cancel().await;
                t.items.extend(cancelled.unstarted);
                for r in cancelled.finished {
                    t.add(r);
                }
                assert!(cancelled.stats.finished, "{:?}", cancelled.stats);
                Some(t)
            }
            End::Drop(_) => {
                drop(out);
                // Bounded: the worker functions take at most 4 ms each.
                for _ in 0..10_000 {
                    if h.stats().finished {
                        break;
                    }
                    local.sleep(ms(1)).await;
                }
                None
            }
        }
    });
    let (tally, ()) = local.run(future::zip(consumer, killer));
    (tally, h.stats())
}

fn check(c: &Case) {
    let (tally, s) = run(c);
    assert!(s.finished, "{c:?}: tasks still alive: {s:?}");
    assert!(s.is_balanced(), "{c:?}: {s:?}");
    let Some(t) = tally else { return };
    let mut seen = BTreeSet::new();
    for &i in &t.items {
        assert!(seen.insert(i), "{c:?}: item {i} came out twice: {t:?}");
    }
    assert!(seen.iter().all(|&i| u64::from(i) < s.taken), "{c:?}: {t:?}");
    assert_eq!(
        seen.len() + t.worker_panics + t.lost,
        s.taken as usize,
        "{c:?}: items missing: {t:?} {s:?}"
    );
    assert_eq!(t.lost as u64, s.lost(), "{c:?}: {t:?} {s:?}");
    assert_eq!(t.worker_panics as u64, s.panicked(), "{c:?}: {t:?} {s:?}");
    assert_eq!(t.input_panics as u64, s.input_panics, "{c:?}: {t:?} {s:?}");
    assert!(t.feeder_dropped <= 1, "{c:?}: {t:?}");
    if c.keyed {
        // Results of one key come out in input order (the key is i % 5).
        for key in 0..5 {
            let per_key: Vec<u32> = t.ok.iter().copied().filter(|i| i % 5 == key).collect();
            assert!(per_key.is_sorted(), "{c:?}: key {key}: {per_key:?}");
        }
    }
    assert_eq!(
        t.feeder_dropped == 1,
        s.feeder_dropped,
        "{c:?}: {t:?} {s:?}"
    );
    let feeder_aborted = c
        .aborts
        .iter()
        .any(|&(task, _)| task % (c.workers + 1) == c.workers);
    if !feeder_aborted && matches!(c.end, End::Read) {
        let expected = match c.input_panic {
            Some(p) if p < c.items => p,
            _ => c.items,
        };
        assert_eq!(s.taken, u64::from(expected), "{c:?}: {s:?}");
    }
    if s.feeder_dropped {
        // Reported only if the input had not ended (or panicked) yet.
        assert!(feeder_aborted, "{c:?}: {s:?}");
        assert_eq!(t.input_panics, 0, "{c:?}: the input had ended: {t:?} {s:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_trouble_never_hangs_nor_loses_an_item(c in case()) {
        check(&c);
    }
}
