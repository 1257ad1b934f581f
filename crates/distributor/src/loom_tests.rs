//! Loom models of the gate and the worker count: every interleaving of
//! submits against a close, and of resizes against retiring workers. Run
//! with
//! `RUSTFLAGS="--cfg sluicegate_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p sluicegate-distributor --lib --release`.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::gate::{Gate, WorkerCount};

/// A submit that passed the gate enqueues (here: bumps `queue`) before it
/// leaves. A worker that sees the gate drained must then see every item
/// enqueued: none can arrive after it decides the queue will stay empty.
#[test]
fn drained_gate_means_no_more_items() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let queue = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let (gate, queue) = (Arc::clone(&gate), Arc::clone(&queue));
                thread::spawn(move || {
                    let entered = gate.enter();
                    if entered {
                        queue.fetch_add(1, Ordering::Relaxed);
                    }
                    let drained_by_me = gate.leave();
                    (entered, drained_by_me)
                })
            })
            .collect();
        let first = gate.close();
        assert!(first);
        let seen_drained = gate.is_drained();
        let seen = queue.load(Ordering::Relaxed);
        let outcomes: Vec<_> = submitters.into_iter().map(|t| t.join().unwrap()).collect();
        let entered = outcomes.iter().filter(|(e, _)| *e).count();
        if seen_drained {
            assert_eq!(seen, entered, "an item arrived after the gate drained");
        }
        // Whoever last leaves a closed gate announces it, so a worker that
        // did not see it drained is woken.
        let announced = outcomes.iter().filter(|(_, d)| *d).count();
        assert!(gate.is_drained());
        assert!(
            seen_drained || announced >= 1,
            "nobody would wake the workers"
        );
        assert!(!gate.close(), "only the first close reports first");
    });
}

/// Concurrent growth and retirement settle exactly on the target: a
/// worker retires only against the target current at its compare-and-swap
/// (live and target share one word), so a resize racing with a shrink
/// never leaves the pool short.
#[test]
fn resize_and_retire_settle_on_the_target() {
    loom::model(|| {
        let count = Arc::new(WorkerCount::new(2));
        assert!(count.try_grow());
        assert!(count.try_grow());
        assert!(!count.try_grow());
        count.set_target(1);
        // Two workers race to retire; one resize races to grow back to 2.
        let retirers: Vec<_> = (0..2)
            .map(|_| {
                let count = Arc::clone(&count);
                thread::spawn(move || count.try_retire())
            })
            .collect();
        let grower = {
            let count = Arc::clone(&count);
            thread::spawn(move || {
                count.set_target(2);
                count.try_grow()
            })
        };
        let retired = retirers
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|r| *r)
            .count();
        let grew = grower.join().unwrap();
        assert!(retired <= 1, "retired below the target");
        assert_eq!(usize::from(grew), retired);
        assert_eq!((count.live(), count.target()), (2, 2));
        count.leave();
        assert_eq!(count.live(), 1);
    });
}
