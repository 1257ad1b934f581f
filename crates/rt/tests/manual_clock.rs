//! `ManualClock`: virtual time that moves only when told to, and wakes exactly
//! the sleeps that are due, in deadline order.
//!
//! Nothing here sleeps in real time or asserts a wall-clock duration. Sleeps
//! are polled by hand with recording wakers, so each test sees *which* sleeps
//! were woken and *in what order*.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, ManualClock, ManualSleep, Sleeper};

const MS: Duration = Duration::from_millis(1);

/// A shared, ordered record of wake-ups.
#[derive(Clone, Default)]
struct WakeLog(Arc<Mutex<Vec<usize>>>);

/// A waker that appends its id to a [`WakeLog`] each time it is woken.
struct Recorder {
    id: usize,
    log: WakeLog,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.log.0.lock().unwrap().push(self.id);
    }
}

impl WakeLog {
    /// A fresh waker (a new allocation each call) that records `id`.
    fn waker(&self, id: usize) -> Waker {
        Waker::from(Arc::new(Recorder {
            id,
            log: self.clone(),
        }))
    }

    /// The ids woken since the last call, in wake order.
    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn poll_with<F: Future<Output = ()>>(fut: Pin<&mut F>, waker: &Waker) -> Poll<()> {
    fut.poll(&mut Context::from_waker(waker))
}

fn poll_noop<F: Future<Output = ()>>(fut: Pin<&mut F>) -> Poll<()> {
    poll_with(fut, Waker::noop())
}

// ---------------------------------------------------------------- time

#[test]
fn now_stands_still_while_real_time_moves() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    assert_eq!(clock.now(), origin);
    // Busy-wait (no sleep) until the real clock has visibly moved on.
    while Instant::now() <= origin {
        std::hint::spin_loop();
    }
    assert_eq!(clock.now(), origin);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn new_starts_at_the_current_real_instant() {
    let before = Instant::now();
    let clock = ManualClock::new();
    let after = Instant::now();
    let start = clock.now();
    assert!(before <= start && start <= after);
    assert_eq!(clock.elapsed(), Duration::ZERO);
    // `Default` is `new`.
    let clock = ManualClock::default();
    assert!(clock.now() >= after);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn advance_moves_now_by_exactly_the_duration() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);

    clock.advance(Duration::from_nanos(1));
    assert_eq!(clock.now(), origin + Duration::from_nanos(1));
    assert_eq!(clock.elapsed(), Duration::from_nanos(1));

    clock.advance(Duration::from_millis(1500));
    assert_eq!(clock.now(), origin + Duration::new(1, 500_000_001));
    assert_eq!(clock.elapsed(), Duration::new(1, 500_000_001));

    clock.advance(Duration::ZERO);
    assert_eq!(clock.elapsed(), Duration::new(1, 500_000_001));

    clock.advance(Duration::from_secs(3600));
    assert_eq!(clock.elapsed(), Duration::new(3601, 500_000_001));
    assert_eq!(clock.now() - origin, clock.elapsed());
}

#[test]
fn advance_to_moves_forward_only() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);

    clock.advance_to(origin + Duration::from_secs(10));
    assert_eq!(clock.now(), origin + Duration::from_secs(10));

    // The past and the present are no-ops.
    clock.advance_to(origin + Duration::from_secs(4));
    assert_eq!(clock.now(), origin + Duration::from_secs(10));
    clock.advance_to(origin);
    assert_eq!(clock.now(), origin + Duration::from_secs(10));
    clock.advance_to(clock.now());
    assert_eq!(clock.now(), origin + Duration::from_secs(10));
    if let Some(before_origin) = origin.checked_sub(Duration::from_secs(1)) {
        clock.advance_to(before_origin);
        assert_eq!(clock.now(), origin + Duration::from_secs(10));
    }

    clock.advance_to(origin + Duration::from_millis(10_250));
    assert_eq!(clock.elapsed(), Duration::from_millis(10_250));
}

#[test]
fn advance_to_wakes_the_sleeps_it_passes() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    let log = WakeLog::default();
    let mut a = pin!(clock.sleep(5 * MS));
    let mut b = pin!(clock.sleep(9 * MS));
    assert!(poll_with(a.as_mut(), &log.waker(0)).is_pending());
    assert!(poll_with(b.as_mut(), &log.waker(1)).is_pending());

    clock.advance_to(origin + 3 * MS);
    assert_eq!(log.take(), Vec::<usize>::new());
    clock.advance_to(origin + 5 * MS);
    assert_eq!(log.take(), [0]);
    assert!(poll_noop(a.as_mut()).is_ready());
    assert!(poll_with(b.as_mut(), &log.waker(1)).is_pending());
    // Going "back" wakes nothing and moves nothing.
    clock.advance_to(origin + MS);
    assert_eq!(log.take(), Vec::<usize>::new());
    assert_eq!(clock.elapsed(), 5 * MS);
    clock.advance_to(origin + 100 * MS);
    assert_eq!(log.take(), [1]);
    assert!(poll_noop(b.as_mut()).is_ready());
}

// ---------------------------------------------------------------- waking

#[test]
fn advance_wakes_exactly_the_due_sleeps_in_deadline_order() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    let log = WakeLog::default();
    let millis = [30, 10, 20, 10, 40];
    let mut sleeps: Vec<Pin<Box<ManualSleep>>> = millis
        .iter()
        .map(|&ms| Box::pin(clock.sleep(ms * MS)))
        .collect();
    for (id, sleep) in sleeps.iter_mut().enumerate() {
        assert!(poll_with(sleep.as_mut(), &log.waker(id)).is_pending());
    }
    assert_eq!(clock.pending_sleeps(), 5);
    assert_eq!(clock.next_deadline(), Some(origin + 10 * MS));

    // Just short of the first deadline: nothing.
    clock.advance(9 * MS);
    assert_eq!(log.take(), Vec::<usize>::new());
    assert_eq!(clock.pending_sleeps(), 5);

    // Both 10 ms sleeps, in registration order.
    clock.advance(MS);
    assert_eq!(log.take(), [1, 3]);
    assert_eq!(clock.pending_sleeps(), 3);
    assert_eq!(clock.next_deadline(), Some(origin + 20 * MS));

    // To 25 ms: only the 20 ms sleep.
    clock.advance(15 * MS);
    assert_eq!(log.take(), [2]);
    assert_eq!(clock.pending_sleeps(), 2);

    // Woken sleeps are ready; the others still wait.
    for (id, sleep) in sleeps.iter_mut().enumerate() {
        let ready = poll_with(sleep.as_mut(), &log.waker(id)).is_ready();
        assert_eq!(ready, [1, 2, 3].contains(&id), "sleep {id}");
    }
    // Re-polling the waiting ones did not add registrations.
    assert_eq!(clock.pending_sleeps(), 2);

    // One big step past both remaining deadlines: deadline order again.
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.take(), [0, 4]);
    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(clock.next_deadline(), None);
    for sleep in &mut sleeps {
        assert!(poll_noop(sleep.as_mut()).is_ready());
    }
    // Nothing is woken twice.
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.take(), Vec::<usize>::new());
}

#[test]
fn wake_order_is_deadline_order_not_creation_order() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut late = pin!(clock.sleep(3 * MS));
    let mut early = pin!(clock.sleep(MS));
    let mut middle = pin!(clock.sleep(2 * MS));
    assert!(poll_with(late.as_mut(), &log.waker(3)).is_pending());
    assert!(poll_with(early.as_mut(), &log.waker(1)).is_pending());
    assert!(poll_with(middle.as_mut(), &log.waker(2)).is_pending());
    clock.advance(3 * MS);
    assert_eq!(log.take(), [1, 2, 3]);
}

#[test]
fn ties_are_woken_in_the_order_they_were_first_polled() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    // Created a, b, c, all with the same deadline, first polled c, a, b.
    let mut a = pin!(clock.sleep(5 * MS));
    let mut b = pin!(clock.sleep(5 * MS));
    let mut c = pin!(clock.sleep(5 * MS));
    assert!(poll_with(c.as_mut(), &log.waker(2)).is_pending());
    assert!(poll_with(a.as_mut(), &log.waker(0)).is_pending());
    assert!(poll_with(b.as_mut(), &log.waker(1)).is_pending());
    // A later re-poll does not move a sleep to the back of its tie group.
    assert!(poll_with(c.as_mut(), &log.waker(2)).is_pending());
    clock.advance(5 * MS);
    assert_eq!(log.take(), [2, 0, 1]);
}

#[test]
fn woken_sleeps_leave_the_queue_before_they_are_polled_again() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut sleep = pin!(clock.sleep(MS));
    assert!(poll_with(sleep.as_mut(), &log.waker(0)).is_pending());
    clock.advance(MS);
    assert_eq!(log.take(), [0]);
    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(clock.next_deadline(), None);
    assert!(poll_with(sleep.as_mut(), &log.waker(0)).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn a_sleep_is_measured_from_when_it_was_made() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    clock.advance(Duration::from_secs(1));
    let mut sleep = pin!(clock.sleep(Duration::from_secs(2)));
    assert_eq!(sleep.deadline(), origin + Duration::from_secs(3));
    // Time passing between creation and first poll counts.
    clock.advance(Duration::from_secs(1));
    assert!(poll_noop(sleep.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(origin + Duration::from_secs(3)));
    clock.advance(Duration::from_secs(1));
    assert!(poll_noop(sleep.as_mut()).is_ready());
}

#[test]
fn a_waker_may_call_back_into_the_clock() {
    // Wakers run outside the clock's lock: one that reads the clock (as an
    // executor polling inline would) must not deadlock.
    struct Reentrant {
        clock: ManualClock,
        seen: Mutex<Vec<(Duration, usize)>>,
    }
    impl Wake for Reentrant {
        fn wake(self: Arc<Self>) {
            let seen = (self.clock.elapsed(), self.clock.pending_sleeps());
            self.seen.lock().unwrap().push(seen);
        }
    }
    let clock = ManualClock::new();
    let probe = Arc::new(Reentrant {
        clock: clock.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let waker = Waker::from(Arc::clone(&probe));
    let mut first = pin!(clock.sleep(MS));
    let mut second = pin!(clock.sleep(2 * MS));
    assert!(poll_with(first.as_mut(), &waker).is_pending());
    assert!(poll_with(second.as_mut(), &waker).is_pending());
    clock.advance(5 * MS);
    // Both sleeps were taken off the queue before either waker ran.
    assert_eq!(*probe.seen.lock().unwrap(), [(5 * MS, 0), (5 * MS, 0)]);
}

// ------------------------------------------------- zero and past deadlines

#[test]
fn zero_sleep_is_ready_at_first_poll_and_never_registered() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut sleep = pin!(clock.sleep(Duration::ZERO));
    assert!(poll_with(sleep.as_mut(), &log.waker(0)).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(clock.next_deadline(), None);
    assert_eq!(log.take(), Vec::<usize>::new());
    // Same after time has moved.
    clock.advance(Duration::from_secs(7));
    let mut sleep = pin!(clock.sleep(Duration::ZERO));
    assert!(poll_with(sleep.as_mut(), &log.waker(1)).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn past_and_present_deadlines_are_ready_at_first_poll() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    clock.advance(Duration::from_secs(3600));
    let log = WakeLog::default();

    let mut now = pin!(clock.sleep_until(clock.now()));
    assert!(poll_with(now.as_mut(), &log.waker(0)).is_ready());
    let mut past = pin!(clock.sleep_until(clock.now() - Duration::from_secs(60)));
    assert!(poll_with(past.as_mut(), &log.waker(1)).is_ready());
    let mut at_origin = pin!(clock.sleep_until(origin));
    assert!(poll_with(at_origin.as_mut(), &log.waker(2)).is_ready());
    if let Some(before_origin) = origin.checked_sub(Duration::from_secs(1)) {
        let mut before = pin!(clock.sleep_until(before_origin));
        assert!(poll_with(before.as_mut(), &log.waker(3)).is_ready());
    }

    assert_eq!(clock.pending_sleeps(), 0);
    assert_eq!(clock.next_deadline(), None);
    assert_eq!(log.take(), Vec::<usize>::new());
}

#[test]
fn a_sleep_overtaken_before_its_first_poll_is_ready_and_never_registered() {
    let clock = ManualClock::new();
    let mut sleep = pin!(clock.sleep(5 * MS));
    clock.advance(5 * MS);
    assert!(poll_noop(sleep.as_mut()).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn sleep_until_a_future_instant_waits_for_exactly_that_instant() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    let log = WakeLog::default();
    let mut sleep = pin!(clock.sleep_until(origin + 250 * MS));
    assert_eq!(sleep.deadline(), origin + 250 * MS);
    assert!(poll_with(sleep.as_mut(), &log.waker(0)).is_pending());
    clock.advance(249 * MS);
    assert_eq!(log.take(), Vec::<usize>::new());
    clock.advance(MS);
    assert_eq!(log.take(), [0]);
    assert!(poll_noop(sleep.as_mut()).is_ready());
}

// ---------------------------------------------------------------- clones

#[test]
fn clones_share_time_and_timers() {
    let clock = ManualClock::new();
    let other = clock.clone();
    let log = WakeLog::default();

    clock.advance(Duration::from_secs(2));
    assert_eq!(other.now(), clock.now());
    assert_eq!(other.elapsed(), Duration::from_secs(2));

    // A sleep made from one clone is seen by, and woken through, the other.
    let mut sleep = pin!(other.sleep(Duration::from_secs(1)));
    assert!(poll_with(sleep.as_mut(), &log.waker(7)).is_pending());
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(
        clock.next_deadline(),
        Some(other.now() + Duration::from_secs(1))
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.take(), [7]);
    assert_eq!(other.pending_sleeps(), 0);
    assert!(poll_noop(sleep.as_mut()).is_ready());

    // And the other way round.
    let mut sleep = pin!(clock.sleep(MS));
    assert!(poll_with(sleep.as_mut(), &log.waker(8)).is_pending());
    other.advance_to_next();
    assert_eq!(log.take(), [8]);
    assert_eq!(clock.elapsed(), Duration::from_secs(3) + MS);
}

#[test]
fn separate_clocks_are_independent() {
    let origin = Instant::now();
    let a = ManualClock::starting_at(origin);
    let b = ManualClock::starting_at(origin);
    let mut sleep = pin!(b.sleep(MS));
    assert!(poll_noop(sleep.as_mut()).is_pending());
    a.advance(Duration::from_secs(1));
    assert_eq!(b.elapsed(), Duration::ZERO);
    assert_eq!(a.pending_sleeps(), 0);
    assert_eq!(b.pending_sleeps(), 1);
    assert!(poll_noop(sleep.as_mut()).is_pending());
}

#[test]
fn a_sleep_blocked_on_another_thread_is_woken_by_advance_here() {
    let clock = ManualClock::new();
    let start = clock.now();
    let theirs = clock.clone();
    let sleeper = std::thread::spawn(move || {
        sluicegate_rt::block_on(theirs.sleep(Duration::from_secs(5)));
        theirs.now()
    });
    // Deterministic hand-off: wait until the other thread has registered.
    while clock.pending_sleeps() == 0 {
        std::thread::yield_now();
    }
    assert_eq!(clock.next_deadline(), Some(start + Duration::from_secs(5)));
    clock.advance(Duration::from_secs(5));
    let woke_at = sleeper.join().unwrap();
    assert_eq!(woke_at, start + Duration::from_secs(5));
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn many_threads_each_woken_by_their_own_deadline() {
    const THREADS: u64 = 4;
    let clock = ManualClock::new();
    let start = clock.now();
    let handles: Vec<_> = (1..=THREADS)
        .map(|i| {
            let clock = clock.clone();
            std::thread::spawn(move || {
                sluicegate_rt::block_on(clock.sleep(Duration::from_secs(i)));
                clock.now()
            })
        })
        .collect();
    while clock.pending_sleeps() < THREADS as usize {
        std::thread::yield_now();
    }
    // Step through the deadlines one by one; each step releases one thread.
    for i in 1..=THREADS {
        assert_eq!(
            clock.advance_to_next(),
            Some(start + Duration::from_secs(i))
        );
        assert_eq!(clock.pending_sleeps(), (THREADS - i) as usize);
    }
    assert_eq!(clock.advance_to_next(), None);
    for (i, handle) in (1..=THREADS).zip(handles) {
        // Each thread observes a time at or after its own deadline.
        assert!(handle.join().unwrap() >= start + Duration::from_secs(i));
    }
}

// ---------------------------------------------------------------- cancel

#[test]
fn dropping_a_pending_sleep_deregisters_it() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    let log = WakeLog::default();
    let mut keep = Box::pin(clock.sleep(20 * MS));
    let mut gone = Box::pin(clock.sleep(10 * MS));
    assert!(poll_with(keep.as_mut(), &log.waker(0)).is_pending());
    assert!(poll_with(gone.as_mut(), &log.waker(1)).is_pending());
    assert_eq!(clock.pending_sleeps(), 2);
    assert_eq!(clock.next_deadline(), Some(origin + 10 * MS));

    drop(gone);
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(clock.next_deadline(), Some(origin + 20 * MS));

    clock.advance(10 * MS);
    assert_eq!(log.take(), Vec::<usize>::new());
    assert_eq!(clock.advance_to_next(), Some(origin + 20 * MS));
    assert_eq!(log.take(), [0]);
    assert!(poll_noop(keep.as_mut()).is_ready());
}

#[test]
fn dropping_unpolled_woken_or_finished_sleeps_changes_nothing() {
    let clock = ManualClock::new();
    let mut waiting = Box::pin(clock.sleep(10 * MS));
    assert!(poll_noop(waiting.as_mut()).is_pending());

    // Never polled: never registered.
    drop(clock.sleep(MS));
    assert_eq!(clock.pending_sleeps(), 1);

    // Woken but not polled again, and polled to completion.
    let mut woken = Box::pin(clock.sleep(MS));
    let mut done = Box::pin(clock.sleep(MS));
    assert!(poll_noop(woken.as_mut()).is_pending());
    assert!(poll_noop(done.as_mut()).is_pending());
    assert_eq!(clock.pending_sleeps(), 3);
    clock.advance(MS);
    assert_eq!(clock.pending_sleeps(), 1);
    assert!(poll_noop(done.as_mut()).is_ready());
    drop(woken);
    drop(done);
    assert_eq!(clock.pending_sleeps(), 1);
    assert_eq!(clock.next_deadline(), Some(waiting.deadline()));
}

#[test]
fn dropping_one_of_two_tied_sleeps_keeps_the_other() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut a = Box::pin(clock.sleep(MS));
    let mut b = Box::pin(clock.sleep(MS));
    assert!(poll_with(a.as_mut(), &log.waker(0)).is_pending());
    assert!(poll_with(b.as_mut(), &log.waker(1)).is_pending());
    drop(a);
    assert_eq!(clock.pending_sleeps(), 1);
    clock.advance(MS);
    assert_eq!(log.take(), [1]);
}

// ---------------------------------------------------------------- wakers

#[test]
fn re_polling_with_a_new_waker_replaces_the_old_one() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut sleep = pin!(clock.sleep(MS));
    assert!(poll_with(sleep.as_mut(), &log.waker(1)).is_pending());
    assert!(poll_with(sleep.as_mut(), &log.waker(2)).is_pending());
    assert_eq!(clock.pending_sleeps(), 1);
    clock.advance(MS);
    assert_eq!(log.take(), [2]);
}

#[test]
fn re_polling_with_the_same_waker_wakes_once() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let waker = log.waker(4);
    let mut sleep = pin!(clock.sleep(MS));
    for _ in 0..3 {
        assert!(poll_with(sleep.as_mut(), &waker).is_pending());
    }
    assert!(poll_with(sleep.as_mut(), &waker.clone()).is_pending());
    assert_eq!(clock.pending_sleeps(), 1);
    clock.advance(MS);
    assert_eq!(log.take(), [4]);
}

// ------------------------------------------------- advance_to_next and next_deadline

#[test]
fn advance_to_next_with_nothing_pending_returns_none_and_keeps_time() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1));
    assert_eq!(clock.advance_to_next(), None);
    assert_eq!(clock.elapsed(), Duration::from_secs(1));
    // A sleep that exists but was never polled is not pending.
    let _unpolled = clock.sleep(MS);
    assert_eq!(clock.advance_to_next(), None);
    assert_eq!(clock.elapsed(), Duration::from_secs(1));
}

#[test]
fn advance_to_next_jumps_exactly_to_the_earliest_deadline() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    let log = WakeLog::default();
    let mut seven = pin!(clock.sleep(7 * MS));
    let mut three = pin!(clock.sleep(3 * MS));
    let mut three_too = pin!(clock.sleep_until(origin + 3 * MS));
    assert!(poll_with(seven.as_mut(), &log.waker(7)).is_pending());
    assert!(poll_with(three.as_mut(), &log.waker(3)).is_pending());
    assert!(poll_with(three_too.as_mut(), &log.waker(33)).is_pending());

    assert_eq!(clock.advance_to_next(), Some(origin + 3 * MS));
    assert_eq!(clock.now(), origin + 3 * MS);
    assert_eq!(log.take(), [3, 33]);

    assert_eq!(clock.advance_to_next(), Some(origin + 7 * MS));
    assert_eq!(clock.elapsed(), 7 * MS);
    assert_eq!(log.take(), [7]);

    assert_eq!(clock.advance_to_next(), None);
    assert_eq!(clock.elapsed(), 7 * MS);
}

#[test]
fn next_deadline_tracks_the_earliest_polled_sleep() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    assert_eq!(clock.next_deadline(), None);

    let mut later = pin!(clock.sleep(Duration::from_secs(9)));
    // Not polled yet: not counted.
    assert_eq!(clock.next_deadline(), None);
    assert!(poll_noop(later.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(later.deadline()));
    assert_eq!(clock.next_deadline(), Some(origin + Duration::from_secs(9)));

    let mut sooner = pin!(clock.sleep(Duration::from_secs(2)));
    assert!(poll_noop(sooner.as_mut()).is_pending());
    assert_eq!(clock.next_deadline(), Some(origin + Duration::from_secs(2)));

    // Reading the next deadline moves nothing.
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(clock.pending_sleeps(), 2);
}

// ---------------------------------------------------------------- extremes

#[test]
fn a_duration_max_sleep_outlasts_a_year_and_completes_at_the_end_of_time() {
    let clock = ManualClock::new();
    let log = WakeLog::default();
    let mut forever = pin!(clock.sleep(Duration::MAX));
    assert!(poll_with(forever.as_mut(), &log.waker(0)).is_pending());
    assert!(clock.next_deadline().is_some());
    let _ = forever.deadline();

    clock.advance(Duration::from_secs(3600 * 24 * 365));
    assert_eq!(log.take(), Vec::<usize>::new());
    assert_eq!(clock.pending_sleeps(), 1);
    assert!(poll_with(forever.as_mut(), &log.waker(0)).is_pending());

    clock.advance(Duration::MAX);
    assert_eq!(log.take(), [0]);
    assert_eq!(clock.pending_sleeps(), 0);
    assert!(poll_noop(forever.as_mut()).is_ready());
    let end = clock.now();
    assert!(end > clock.now() - clock.elapsed());
}

#[test]
fn time_saturates_instead_of_overflowing() {
    let clock = ManualClock::new();
    clock.advance(Duration::MAX);
    let end = clock.now();
    let elapsed = clock.elapsed();
    assert!(elapsed > Duration::from_secs(3600 * 24 * 365 * 100));

    // Further moves of any kind are harmless and leave time where it is.
    clock.advance(Duration::MAX);
    clock.advance(Duration::from_secs(1));
    clock.advance_to(end);
    assert_eq!(clock.now(), end);
    assert_eq!(clock.elapsed(), elapsed);
    assert_eq!(clock.advance_to_next(), None);

    // Making and polling sleeps at the end of time does not panic either.
    let mut sleep = pin!(clock.sleep(Duration::MAX));
    let _ = poll_noop(sleep.as_mut());
    let mut sleep = pin!(clock.sleep_until(end));
    assert!(poll_noop(sleep.as_mut()).is_ready());
}

#[test]
fn sleep_until_far_beyond_the_clock_is_clamped_not_panicking() {
    let clock = ManualClock::new();
    // About the farthest instant the platform can represent (to a factor of
    // two), far beyond anything `advance` by a year reaches.
    let far = (0..64)
        .rev()
        .find_map(|shift| clock.now().checked_add(Duration::from_secs(1 << shift)))
        .unwrap();
    let mut sleep = pin!(clock.sleep_until(far));
    assert!(poll_noop(sleep.as_mut()).is_pending());
    clock.advance(Duration::from_secs(3600 * 24 * 365));
    assert!(poll_noop(sleep.as_mut()).is_pending());
    clock.advance_to(far);
    assert!(poll_noop(sleep.as_mut()).is_ready());
}

// ---------------------------------------------------------------- traits

fn trait_now<C: Clock>(clock: &C) -> Instant {
    clock.now()
}

fn trait_sleep<S: Sleeper>(sleeper: &S, dur: Duration) -> S::Sleep {
    sleeper.sleep(dur)
}

fn trait_sleep_until<S: Sleeper>(sleeper: &S, deadline: Instant) -> S::Sleep {
    sleeper.sleep_until(deadline)
}

#[test]
fn clock_trait_reads_virtual_time() {
    let origin = Instant::now();
    let clock = ManualClock::starting_at(origin);
    assert_eq!(trait_now(&clock), origin);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(trait_now(&clock), clock.now());
    assert_eq!(trait_now(&clock), origin + Duration::from_secs(3600));
}

#[test]
fn sleeper_trait_sleeps_in_virtual_time() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(3600));
    let log = WakeLog::default();

    let mut by_trait = pin!(trait_sleep(&clock, Duration::from_secs(2)));
    let inherent = clock.sleep(Duration::from_secs(2));
    assert_eq!(by_trait.deadline(), inherent.deadline());
    assert_eq!(by_trait.deadline(), clock.now() + Duration::from_secs(2));

    assert!(poll_with(by_trait.as_mut(), &log.waker(0)).is_pending());
    clock.advance(Duration::from_secs(2));
    assert_eq!(log.take(), [0]);
    assert!(poll_noop(by_trait.as_mut()).is_ready());

    let mut zero = pin!(trait_sleep(&clock, Duration::ZERO));
    assert!(poll_noop(zero.as_mut()).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn sleeper_trait_sleep_until_uses_virtual_time_not_the_real_clock() {
    // The default `Sleeper::sleep_until` converts through the *real* clock;
    // ManualClock must override it. Starting an hour of virtual time ahead
    // of the real clock makes the two disagree.
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(3600));
    let log = WakeLog::default();

    let target = clock.now() + Duration::from_secs(1);
    let mut by_trait = pin!(trait_sleep_until(&clock, target));
    assert_eq!(by_trait.deadline(), target);
    assert_eq!(by_trait.deadline(), clock.sleep_until(target).deadline());
    assert!(poll_with(by_trait.as_mut(), &log.waker(0)).is_pending());
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.take(), [0]);

    // Half an hour ago in virtual time is still in the real future.
    let mut past = pin!(trait_sleep_until(
        &clock,
        clock.now() - Duration::from_secs(1800)
    ));
    assert!(poll_noop(past.as_mut()).is_ready());
    assert_eq!(clock.pending_sleeps(), 0);
}

// ---------------------------------------------------------------- misc

#[test]
fn debug_output_shows_the_state() {
    let clock = ManualClock::new();
    let mut sleep = pin!(clock.sleep(MS));
    let before = format!("{sleep:?}");
    assert!(before.contains("registered: false"), "{before}");
    assert!(poll_noop(sleep.as_mut()).is_pending());
    assert!(format!("{sleep:?}").contains("registered: true"));
    let shown = format!("{clock:?}");
    assert!(shown.contains("ManualClock"), "{shown}");
    assert!(shown.contains("pending_sleeps: 1"), "{shown}");
}

#[test]
fn block_on_drives_a_future_through_virtual_sleeps() {
    // The crate-level example: a driver thread steps the clock to each
    // deadline the future under test waits on.
    let clock = ManualClock::new();
    let driver = clock.clone();
    let stepper = std::thread::spawn(move || {
        let mut steps = Vec::new();
        while steps.len() < 3 {
            if let Some(at) = driver.advance_to_next() {
                steps.push(at);
            }
            std::thread::yield_now();
        }
        steps
    });
    let start = clock.now();
    let waited = sluicegate_rt::block_on(async {
        clock.sleep(100 * MS).await;
        clock.sleep(Duration::ZERO).await;
        clock.sleep(250 * MS).await;
        clock.sleep(MS).await;
        clock.now() - start
    });
    let steps = stepper.join().unwrap();
    assert_eq!(waited, 351 * MS);
    assert_eq!(
        steps,
        [start + 100 * MS, start + 350 * MS, start + 351 * MS]
    );
}

#[test]
fn block_on_runs_in_virtual_time_and_reports_deadlocks() {
    let clock = ManualClock::new();
    let start = clock.now();
    // Sleeps, a self-wake (a yield) and a join of two sleeps.
    let out = clock.block_on(async {
        clock.sleep(Duration::from_secs(10)).await;
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
        clock.sleep(Duration::from_millis(250)).await;
        7
    });
    assert_eq!(out, 7);
    assert_eq!(clock.now() - start, Duration::from_millis(10_250));
    assert_eq!(clock.pending_sleeps(), 0);

    let deadlock = std::panic::catch_unwind(|| {
        ManualClock::new().block_on(std::future::pending::<()>());
    });
    assert!(
        deadlock.is_err(),
        "a future nothing can wake must fail, not hang"
    );
}
