//! [`ManualClock`]: virtual time for deterministic tests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::timers::TimerQueue;
use crate::{Clock, Sleeper};

/// Virtual time that drives both [`now()`](ManualClock::now) and every sleep
/// made from it.
///
/// Time stands still until [`advance`](ManualClock::advance) (or
/// [`advance_to`](ManualClock::advance_to),
/// [`advance_to_next`](ManualClock::advance_to_next)) moves it; each advance
/// wakes exactly the sleeps that are due, in deadline order (ties in the order
/// the sleeps were first polled). Sleeps of zero length or with a deadline in
/// the past complete at once. The clock is `Clone` and every clone shares the
/// same time, so one can be handed to the code under test while the test
/// holds another. Tests built on it are deterministic and take no real time.
///
/// ```
/// use sluicegate_rt::ManualClock;
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Waker};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// let mut sleep = pin!(clock.sleep(Duration::from_secs(5)));
/// let mut cx = Context::from_waker(Waker::noop());
///
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// assert_eq!(clock.next_deadline(), Some(start + Duration::from_secs(5)));
///
/// clock.advance(Duration::from_secs(4));
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// clock.advance(Duration::from_secs(1));
/// assert!(sleep.as_mut().poll(&mut cx).is_ready());
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    shared: Arc<Shared>,
}

struct Shared {
    origin: Instant,
    /// The largest offset from `origin` that `Instant` can represent here;
    /// time saturates there instead of overflowing.
    limit: Duration,
    state: Mutex<State>,
}

struct State {
    /// Virtual time since `origin`.
    elapsed: Duration,
    timers: TimerQueue<Duration>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can leave the state half-updated, so a panic elsewhere
        // while the lock was held is no reason to panic again.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn offset_of(&self, instant: Instant) -> Duration {
        instant
            .saturating_duration_since(self.origin)
            .min(self.limit)
    }

    fn instant_at(&self, offset: Duration) -> Instant {
        // `offset <= limit`, and `origin + limit` is representable.
        self.origin.checked_add(offset).unwrap_or(self.origin)
    }
}

/// The largest `d` such that `origin + d` is a valid `Instant`.
fn representable_limit(origin: Instant) -> Duration {
    if origin.checked_add(Duration::MAX).is_some() {
        return Duration::MAX;
    }
    // Binary search on whole seconds; platforms store at least seconds.
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if origin.checked_add(Duration::from_secs(mid)).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Duration::from_secs(lo)
}

impl ManualClock {
    /// A clock standing at the current real instant. Only its starting point
    /// is real; from then on it moves only when told to.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock standing at `origin`.
    pub fn starting_at(origin: Instant) -> Self {
        Self {
            shared: Arc::new(Shared {
                origin,
                limit: representable_limit(origin),
                state: Mutex::new(State {
                    elapsed: Duration::ZERO,
                    timers: TimerQueue::new(),
                }),
            }),
        }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        let elapsed = self.shared.lock().elapsed;
        self.shared.instant_at(elapsed)
    }

    /// Virtual time passed since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.shared.lock().elapsed
    }

    /// Moves time forward by `dur` and wakes every sleep that is now due, in
    /// deadline order. Time saturates at the largest representable instant
    /// (hundreds of billions of years away); once there, every sleep is due.
    ///
    /// Each call wakes its batch in order; two threads advancing at once may
    /// interleave their batches.
    pub fn advance(&self, dur: Duration) {
        let state = self.shared.lock();
        let target = state.elapsed.saturating_add(dur).min(self.shared.limit);
        self.advance_locked(state, target);
    }

    /// Moves time forward to `instant` (no-op if it is not in the future) and
    /// wakes every sleep that is now due, in deadline order.
    pub fn advance_to(&self, instant: Instant) {
        let target = self.shared.offset_of(instant);
        let state = self.shared.lock();
        self.advance_locked(state, target);
    }

    /// Moves time to the earliest pending sleep's deadline and wakes the
    /// sleeps due then. Returns the new time, or `None` (and leaves time
    /// alone) when no sleep is pending.
    ///
    /// Handy to step a future under test through each of its waits:
    /// "poll until pending, check [`next_deadline`](Self::next_deadline),
    /// `advance_to_next`, repeat".
    pub fn advance_to_next(&self) -> Option<Instant> {
        let state = self.shared.lock();
        let target = state.timers.next_deadline()?;
        self.advance_locked(state, target);
        Some(self.shared.instant_at(target))
    }

    fn advance_locked(&self, mut state: MutexGuard<'_, State>, target: Duration) {
        if target > state.elapsed {
            state.elapsed = target;
        }
        let mut due = Vec::new();
        let now = state.elapsed;
        state.timers.take_due(now, &mut due);
        drop(state);
        // Wake outside the lock: a waker may poll the sleep inline.
        for waker in due {
            waker.wake();
        }
    }

    /// Runs `fut` to completion on this thread in virtual time: poll it;
    /// when it is pending, poll again if it woke itself, otherwise move time
    /// to the next pending sleep ([`advance_to_next`](Self::advance_to_next)).
    /// Time moves only when nothing else can happen, as with tokio's paused
    /// clock, and the whole run takes no real time.
    ///
    /// # Panics
    ///
    /// When the future is pending, did not wake itself and no sleep is
    /// registered on this clock: nothing could ever wake it, so the future
    /// is deadlocked (a test bug worth a loud failure rather than a hang).
    /// Futures that wait on other threads need a real executor.
    ///
    /// ```
    /// use sluicegate_rt::ManualClock;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let start = clock.now();
    /// clock.block_on(async {
    ///     clock.sleep(Duration::from_secs(3600)).await;
    ///     clock.sleep(Duration::from_millis(5)).await;
    /// });
    /// assert_eq!(clock.now() - start, Duration::from_millis(3_600_005));
    /// ```
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let woken = Arc::new(WakeFlag(std::sync::atomic::AtomicBool::new(false)));
        let waker = std::task::Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            if woken.0.swap(false, std::sync::atomic::Ordering::AcqRel) {
                continue;
            }
            assert!(
                self.advance_to_next().is_some(),
                "ManualClock::block_on: the future is pending, did not wake itself, \
                 and no sleep is registered on this clock: it can never finish"
            );
        }
    }

    /// The deadline of the earliest sleep that has been polled and is still
    /// waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        let next = self.shared.lock().timers.next_deadline()?;
        Some(self.shared.instant_at(next))
    }

    /// How many sleeps have been polled and are waiting for time to move.
    pub fn pending_sleeps(&self) -> usize {
        self.shared.lock().timers.len()
    }

    /// A future that completes once virtual time has moved `dur` past now.
    pub fn sleep(&self, dur: Duration) -> ManualSleep {
        let elapsed = self.shared.lock().elapsed;
        self.sleep_at(elapsed.saturating_add(dur).min(self.shared.limit))
    }

    /// A future that completes once virtual time reaches `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> ManualSleep {
        self.sleep_at(self.shared.offset_of(deadline))
    }

    fn sleep_at(&self, deadline: Duration) -> ManualSleep {
        ManualSleep {
            shared: Arc::clone(&self.shared),
            deadline,
            id: None,
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ManualClock")
            .field("elapsed", &state.elapsed)
            .field("pending_sleeps", &state.timers.len())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        ManualClock::now(self)
    }
}

impl Sleeper for ManualClock {
    type Sleep = ManualSleep;

    fn sleep(&self, dur: Duration) -> ManualSleep {
        ManualClock::sleep(self, dur)
    }

    fn sleep_until(&self, deadline: Instant) -> ManualSleep {
        ManualClock::sleep_until(self, deadline)
    }
}

/// Records that a waker fired (for [`ManualClock::block_on`]).
struct WakeFlag(std::sync::atomic::AtomicBool);

impl std::task::Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// A sleep in [`ManualClock`]'s virtual time. Dropping it cancels it.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ManualSleep {
    shared: Arc<Shared>,
    deadline: Duration,
    id: Option<u64>,
}

impl ManualSleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.shared.instant_at(self.deadline)
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.shared.lock();
        if state.elapsed >= this.deadline {
            if let Some(id) = this.id.take() {
                state.timers.cancel(this.deadline, id);
            }
            return Poll::Ready(());
        }
        state
            .timers
            .register(this.deadline, &mut this.id, cx.waker());
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.lock().timers.cancel(self.deadline, id);
        }
    }
}

impl fmt::Debug for ManualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.id.is_some())
            .finish()
    }
}
