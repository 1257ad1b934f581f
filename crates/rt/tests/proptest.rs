//! Property tests for `ManualClock`: for any set of sleeps and any sequence
//! of moves, each move wakes exactly the sleeps that have become due, in
//! deadline order (ties in registration order), and nothing else.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sluicegate_rt::{ManualClock, ManualSleep};

#[derive(Clone, Default)]
struct WakeLog(Arc<Mutex<Vec<usize>>>);

struct Recorder {
    id: usize,
    log: WakeLog,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.log.0.lock().unwrap().push(self.id);
    }
}

impl WakeLog {
    fn waker(&self, id: usize) -> Waker {
        Waker::from(Arc::new(Recorder {
            id,
            log: self.clone(),
        }))
    }

    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// One way of moving the clock, in milliseconds.
#[derive(Debug, Clone)]
enum Step {
    /// `advance(d)`.
    Advance(u64),
    /// `advance_to(origin + t)`; a no-op when `t` is not in the future.
    AdvanceTo(u64),
    /// `advance_to_next()`.
    AdvanceToNext,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..400).prop_map(Step::Advance),
        2 => (0u64..1_500).prop_map(Step::AdvanceTo),
        2 => Just(Step::AdvanceToNext),
    ]
}

fn sleep_millis() -> impl Strategy<Value = u64> {
    // Plenty of zeros and of ties.
    prop_oneof![1 => Just(0u64), 1 => 0u64..20, 3 => 0u64..1_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn advances_wake_exactly_the_due_sleeps_in_deadline_order(
        millis in prop::collection::vec(sleep_millis(), 0..24),
        steps in prop::collection::vec(step(), 0..24),
    ) {
        let origin = Instant::now();
        let clock = ManualClock::starting_at(origin);
        let log = WakeLog::default();
        let ms = Duration::from_millis;

        let mut sleeps: Vec<Pin<Box<ManualSleep>>> =
            millis.iter().map(|&m| Box::pin(clock.sleep(ms(m)))).collect();
        // `done[i]`: sleep i has completed (was woken, or was due at once).
        let mut done = vec![false; sleeps.len()];
        for (i, sleep) in sleeps.iter_mut().enumerate() {
            let ready = sleep
                .as_mut()
                .poll(&mut Context::from_waker(&log.waker(i)))
                .is_ready();
            // Zero-length sleeps are ready at once; the rest wait.
            prop_assert_eq!(ready, millis[i] == 0);
            done[i] = ready;
        }
        prop_assert_eq!(clock.pending_sleeps(), millis.iter().filter(|&&m| m > 0).count());
        prop_assert!(log.take().is_empty());

        let mut now = 0u64; // the model's time since origin, in ms
        for step in &steps {
            let earliest_waiting = (0..millis.len())
                .filter(|&i| !done[i])
                .map(|i| millis[i])
                .min();
            match *step {
                Step::Advance(d) => {
                    clock.advance(ms(d));
                    now += d;
                }
                Step::AdvanceTo(t) => {
                    clock.advance_to(origin + ms(t));
                    now = now.max(t);
                }
                Step::AdvanceToNext => {
                    let moved = clock.advance_to_next();
                    prop_assert_eq!(moved, earliest_waiting.map(|m| origin + ms(m)));
                    if let Some(m) = earliest_waiting {
                        now = m;
                    }
                }
            }
            prop_assert_eq!(clock.elapsed(), ms(now));
            prop_assert_eq!(clock.now(), origin + ms(now));

            // Exactly the newly due sleeps, by deadline then registration.
            let mut expected: Vec<usize> = (0..millis.len())
                .filter(|&i| !done[i] && millis[i] <= now)
                .collect();
            expected.sort_by_key(|&i| millis[i]); // stable: ties keep index order
            prop_assert_eq!(log.take(), expected.clone());
            for &i in &expected {
                done[i] = true;
            }

            // Woken sleeps are ready; the rest are still pending. Re-poll
            // the waiting ones with a fresh waker each time: the old waker
            // must be replaced, not kept alongside.
            for (i, sleep) in sleeps.iter_mut().enumerate() {
                if expected.contains(&i) || !done[i] {
                    let ready = sleep
                        .as_mut()
                        .poll(&mut Context::from_waker(&log.waker(i)))
                        .is_ready();
                    prop_assert_eq!(ready, done[i], "sleep {} at {} ms", i, now);
                }
            }
            let waiting: Vec<u64> =
                (0..millis.len()).filter(|&i| !done[i]).map(|i| millis[i]).collect();
            prop_assert_eq!(clock.pending_sleeps(), waiting.len());
            prop_assert_eq!(
                clock.next_deadline(),
                waiting.iter().min().map(|&m| origin + ms(m))
            );
            prop_assert!(log.take().is_empty());
        }
    }

    #[test]
    fn dropping_sleeps_removes_exactly_those_sleeps(
        millis in prop::collection::vec(1u64..1_000, 1..24),
        dropped in prop::collection::vec(any::<bool>(), 24),
    ) {
        let origin = Instant::now();
        let clock = ManualClock::starting_at(origin);
        let log = WakeLog::default();
        let mut sleeps: Vec<Option<Pin<Box<ManualSleep>>>> = millis
            .iter()
            .map(|&m| Some(Box::pin(clock.sleep(Duration::from_millis(m)))))
            .collect();
        for (i, sleep) in sleeps.iter_mut().enumerate() {
            let sleep = sleep.as_mut().unwrap();
            prop_assert!(sleep
                .as_mut()
                .poll(&mut Context::from_waker(&log.waker(i)))
                .is_pending());
        }
        for (i, sleep) in sleeps.iter_mut().enumerate() {
            if dropped[i] {
                *sleep = None;
            }
        }
        let mut kept: Vec<usize> = (0..millis.len()).filter(|&i| !dropped[i]).collect();
        prop_assert_eq!(clock.pending_sleeps(), kept.len());
        prop_assert_eq!(
            clock.next_deadline(),
            kept.iter().map(|&i| millis[i]).min().map(|m| origin + Duration::from_millis(m))
        );
        clock.advance(Duration::from_secs(1));
        kept.sort_by_key(|&i| millis[i]);
        prop_assert_eq!(log.take(), kept);
        prop_assert_eq!(clock.pending_sleeps(), 0);
    }
}
