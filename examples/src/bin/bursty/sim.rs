//! The run itself: a bursty producer, a steady consumer and (in plain mode)
//! a progress reporter over one queue, generic over the clock and sleeper.
//! The same code runs on tokio in real time and on a `ManualClock` in
//! virtual time (`--quick`).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::future::{Either, join3, select};
use sluicegate::backpressure::{Receiver, SendError, Sender};
use sluicegate::rt::{Clock, Sleeper};

use sluicegate_examples::report::print_line;

use crate::cli::Plan;
use crate::report::progress_line;
use crate::schedule::BurstSchedule;
use crate::state::{Phase, Shared};

/// Everything one run needs besides the queue.
#[derive(Debug)]
pub(crate) struct Run<K, S> {
    pub(crate) plan: Plan,
    pub(crate) schedule: BurstSchedule,
    pub(crate) shared: Arc<Shared>,
    /// Reads time for the progress lines and the elapsed time.
    pub(crate) clock: K,
    /// Makes the producer's gaps, the consumer's work and the report ticks.
    pub(crate) sleeper: S,
    /// Print a progress line every `plan.report_every` (plain mode).
    pub(crate) report: bool,
}

impl<K: Clock, S: Sleeper> Run<K, S> {
    /// Runs the producer and the consumer to the end (all items made, or a
    /// stop request) and the queue drained; returns the elapsed time on
    /// `clock`.
    pub(crate) async fn simulate<C: Clock, Z>(
        self,
        tx: Sender<u64, C, Z>,
        rx: Receiver<u64>,
    ) -> Duration {
        let Self {
            plan,
            schedule,
            shared,
            clock,
            sleeper,
            report,
        } = self;
        let start = clock.now();
        let probe = rx.clone();
        let reporter = async {
            if report {
                report_progress(&plan, &probe, &clock, &sleeper, &shared, start).await;
            }
        };
        join3(
            produce(&plan, schedule, tx, &clock, &sleeper, &shared),
            consume(&plan, rx, &clock, &sleeper, &shared),
            reporter,
        )
        .await;
        clock.now().saturating_duration_since(start)
    }
}

/// Makes `plan.items` items (ids `0..items`), each after its gap from the
/// schedule, and sends each into the queue; stops early on a stop request.
/// Dropping `tx` at the end closes the queue, so the consumer drains and ends.
async fn produce<C: Clock, Z, K: Clock, S: Sleeper>(
    plan: &Plan,
    mut schedule: BurstSchedule,
    tx: Sender<u64, C, Z>,
    clock: &K,
    sleeper: &S,
    shared: &Shared,
) {
    let mut burst = 0;
    let mut pacer = Pacer::new(clock.now());
    let mut waited = false;
    for id in 0..plan.items {
        let (gap, pauses) = schedule.next_gap(plan.interval, plan.pause);
        if pauses {
            Shared::bump(&shared.pauses);
            burst = 0;
            shared.set_phase(Phase::Pausing);
        } else {
            shared.set_phase(Phase::Bursting);
        }
        let deadline = pacer.next(gap, clock.now(), waited);
        let sleep = sleeper.sleep_until(deadline);
        if !sleep_unless(sleep, shared.stop.wait(), shared.stop.is_set()).await {
            break;
        }
        burst += 1;
        shared.longest_burst.fetch_max(burst, Ordering::Relaxed);
        Shared::bump(&shared.produced);
        let (sent, blocked) = watch(tx.send(id), || shared.set_phase(Phase::Blocked)).await;
        waited = blocked;
        if let Err(SendError::Full(id) | SendError::Closed(id)) = sent {
            // Handed back (policy `reject`; `Closed` cannot happen while a
            // receiver lives): the producer discards it, and says so.
            Shared::bump(&shared.rejected);
            shared.ledger.mark(id);
        }
    }
    let made_all = Shared::get(&shared.produced) == plan.items;
    shared.set_phase(if made_all {
        Phase::Finished
    } else {
        Phase::Stopped
    });
    drop(tx);
}

/// Polls `fut` once; if it is not ready, calls `on_wait` and then waits for
/// it. Returns its output and whether it had to wait.
async fn watch<F: Future>(fut: F, on_wait: impl FnOnce()) -> (F::Output, bool) {
    let mut fut = pin!(fut);
    match poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        Poll::Ready(output) => (output, false),
        Poll::Pending => {
            on_wait();
            (fut.await, true)
        }
    }
}

/// Deadlines for a loop of timed steps that does not drift on a real timer
/// (tokio rounds each sleep up to the next millisecond; 20 ms steps would
/// run 5% slow). Each step is timed from the previous deadline, or from now
/// when the loop had to wait on the queue in between: waiting on the queue
/// pushes the schedule back, rounding does not. In virtual time both are
/// the same instant.
#[derive(Debug, Clone, Copy)]
struct Pacer {
    last: Instant,
}

impl Pacer {
    fn new(now: Instant) -> Self {
        Self { last: now }
    }

    /// The deadline of a step of `gap`: after the previous deadline, or
    /// after `now` if the loop `waited` (or fell behind) since then.
    fn next(&mut self, gap: Duration, now: Instant, waited: bool) -> Instant {
        let from = if waited {
            now.max(self.last)
        } else {
            self.last
        };
        // A gap of a year is as good as forever here, and always fits.
        let gap = gap.min(Duration::from_secs(365 * 24 * 3600));
        self.last = from.checked_add(gap).unwrap_or(from);
        self.last
    }
}

/// Takes items until the queue is closed and drained, working `plan.consume`
/// on each (no work once a second stop request asks to hurry).
async fn consume<K: Clock, S: Sleeper>(
    plan: &Plan,
    rx: Receiver<u64>,
    clock: &K,
    sleeper: &S,
    shared: &Shared,
) {
    let mut pacer = Pacer::new(clock.now());
    loop {
        let (item, waited) = watch(rx.recv(), || {}).await;
        let Some(id) = item else { break };
        if shared.hurry.is_set() {
            Shared::bump(&shared.drained_fast);
        } else {
            let deadline = pacer.next(plan.consume, clock.now(), waited);
            sleep_unless(sleeper.sleep_until(deadline), shared.hurry.wait(), false).await;
        }
        shared.ledger.mark(id);
        Shared::bump(&shared.consumed);
    }
    shared.done.set();
}

/// Prints a progress line every `plan.report_every` until the run is done.
async fn report_progress<K: Clock, S: Sleeper>(
    plan: &Plan,
    probe: &Receiver<u64>,
    clock: &K,
    sleeper: &S,
    shared: &Shared,
    start: Instant,
) {
    let mut next = start;
    loop {
        next += plan.report_every;
        if !sleep_unless(sleeper.sleep_until(next), shared.done.wait(), false).await {
            return;
        }
        let elapsed = clock.now().saturating_duration_since(start);
        print_line(&progress_line(elapsed, plan, shared, &probe.stats()));
    }
}

/// Sleeps unless `interrupt` completes first (or `already` is true):
/// returns whether the whole sleep happened.
async fn sleep_unless(
    sleep: impl Future<Output = ()>,
    interrupt: impl Future<Output = ()>,
    already: bool,
) -> bool {
    if already {
        return false;
    }
    matches!(select(pin!(sleep), pin!(interrupt)).await, Either::Left(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::PolicyArg;
    use sluicegate::backpressure::{self, Overflow};
    use sluicegate::rt::ManualClock;

    fn plan(items: u64, consume_ms: u64, capacity: usize, policy: PolicyArg) -> Plan {
        Plan {
            items,
            interval: Duration::from_millis(20),
            pause: Duration::from_secs(1),
            pause_probability: 0.0,
            consume: Duration::from_millis(consume_ms),
            capacity,
            policy,
            seed: 1,
            report_every: Duration::from_secs(1),
        }
    }

    /// Runs `plan` in virtual time; returns the queue's stats and the
    /// elapsed virtual time.
    fn run(plan: Plan) -> (Arc<Shared>, backpressure::Stats, Duration) {
        let clock = ManualClock::new();
        let shared = Arc::new(Shared::new(plan.items));
        let ledger = Arc::clone(&shared);
        let (tx, rx) = backpressure::builder::<u64>(plan.capacity)
            .policy(plan.policy.overflow())
            .on_drop(move |id, _| ledger.ledger.mark(id))
            .timer(clock.clone())
            .build()
            .unwrap();
        let probe = rx.clone();
        let run = Run {
            schedule: BurstSchedule::new(plan.seed, plan.pause_probability).unwrap(),
            plan,
            shared: Arc::clone(&shared),
            clock: clock.clone(),
            sleeper: clock.clone(),
            report: false,
        };
        let elapsed = clock.block_on(run.simulate(tx, rx));
        (shared, probe.stats(), elapsed)
    }

    #[test]
    fn the_pacer_keeps_time_unless_the_loop_waited() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pacer = Pacer::new(t0);
        // Woken 1 ms late each time: the next deadline ignores it.
        assert_eq!(pacer.next(ms(20), t0, false), t0 + ms(20));
        assert_eq!(pacer.next(ms(20), t0 + ms(21), false), t0 + ms(40));
        // Waited on the queue until 95 ms: the schedule moves.
        assert_eq!(pacer.next(ms(20), t0 + ms(95), true), t0 + ms(115));
        // A wait that ended before the last deadline does not move it back.
        assert_eq!(pacer.next(ms(20), t0 + ms(100), true), t0 + ms(135));
        // An endless gap is capped at a year rather than overflowing.
        let year = Duration::from_secs(365 * 24 * 3600);
        assert_eq!(pacer.next(Duration::MAX, t0, false), t0 + ms(135) + year);
    }

    #[test]
    fn a_fast_consumer_never_fills_the_queue() {
        let (shared, stats, elapsed) = run(plan(50, 10, 5, PolicyArg::Block));
        assert_eq!(Shared::get(&shared.consumed), 50);
        assert_eq!((stats.full_events, stats.high_watermark), (0, 1));
        assert_eq!(stats.blocked, Duration::ZERO);
        // 50 gaps of 20ms, then the last item's 10ms of work.
        assert_eq!(elapsed, Duration::from_millis(50 * 20 + 10));
        assert_eq!(shared.phase(), Phase::Finished);
    }

    #[test]
    fn a_slow_consumer_fills_the_queue_and_blocks_the_producer() {
        // 20ms per item in, 100ms per item out, 5 slots.
        let (shared, stats, elapsed) = run(plan(50, 100, 5, PolicyArg::Block));
        assert_eq!(Shared::get(&shared.produced), 50);
        assert_eq!(Shared::get(&shared.consumed), 50);
        assert_eq!(stats.high_watermark, 5);
        assert!(stats.full_events > 0);
        assert!(stats.blocked > Duration::ZERO);
        // The consumer sets the pace: it starts at 20ms and works 100ms per item.
        assert_eq!(elapsed, Duration::from_millis(20 + 50 * 100));
        assert_eq!(shared.ledger.check(50), Default::default());
    }

    #[test]
    fn drop_policies_account_for_every_item() {
        for policy in [
            PolicyArg::DropOldest,
            PolicyArg::DropNewest,
            PolicyArg::Reject,
        ] {
            let (shared, stats, _) = run(plan(200, 100, 5, policy));
            let produced = Shared::get(&shared.produced);
            let consumed = Shared::get(&shared.consumed);
            let rejected = Shared::get(&shared.rejected);
            assert_eq!(produced, 200, "{policy}");
            assert!(stats.dropped + rejected > 0, "{policy}");
            assert_eq!(produced, consumed + stats.dropped + rejected, "{policy}");
            assert_eq!(stats.blocked, Duration::ZERO, "{policy}");
            assert_eq!(
                shared.ledger.check(produced),
                Default::default(),
                "{policy}"
            );
            assert_eq!(policy.overflow() == Overflow::Reject, rejected > 0);
        }
    }

    #[test]
    fn a_stop_request_ends_production_and_drains() {
        let clock = ManualClock::new();
        let plan = plan(1000, 100, 10, PolicyArg::Block);
        let shared = Arc::new(Shared::new(plan.items));
        let (tx, rx) = backpressure::builder::<u64>(plan.capacity)
            .timer(clock.clone())
            .build()
            .unwrap();
        let probe = rx.clone();
        let run = Run {
            schedule: BurstSchedule::new(1, 0.0).unwrap(),
            plan,
            shared: Arc::clone(&shared),
            clock: clock.clone(),
            sleeper: clock.clone(),
            report: false,
        };
        let stopper = async {
            clock.sleep(Duration::from_millis(500)).await;
            shared.interrupt();
        };
        clock.block_on(futures_util::future::join(run.simulate(tx, rx), stopper));
        let produced = Shared::get(&shared.produced);
        assert!(produced > 0 && produced < 1000, "{produced}");
        assert_eq!(Shared::get(&shared.consumed), produced);
        assert_eq!(probe.stats().len, 0);
        assert_eq!(shared.phase(), Phase::Stopped);
        assert_eq!(shared.ledger.check(produced), Default::default());
    }
}
