//! The [`Sleeper`] trait: how a primitive waits.

use std::future::Future;
use std::time::{Duration, Instant};

/// Makes futures that complete after a duration or at an instant.
///
/// Primitives wait only through a `Sleeper`, so they run on any executor and,
/// with [`ManualClock`](crate::ManualClock), in virtual time.
///
/// Any `Fn(Duration) -> impl Future<Output = ()>` is a sleeper, so
/// `tokio::time::sleep` works directly. A timer whose future yields something
/// else needs a wrapper: `async_io::Timer` yields an `Instant`, so write
/// `|d| async move { async_io::Timer::after(d).await; }`. Ready-made adapters
/// live behind this crate's features (`tokio`, `smol`, `futures-timer`,
/// `threads`).
///
/// ```
/// use sluicegate_rt::{ManualClock, Sleeper};
/// use std::time::Duration;
///
/// async fn pause(sleeper: &impl Sleeper) {
///     sleeper.sleep(Duration::from_millis(10)).await;
/// }
///
/// // A closure is a sleeper: this one never waits.
/// sluicegate_rt::block_on(pause(&|_| std::future::ready(())));
/// // So is a virtual clock: a zero-length sleep completes at once.
/// let clock = ManualClock::new();
/// sluicegate_rt::block_on(clock.sleep(Duration::ZERO));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Sleeper`",
    label = "this type cannot make sleep futures",
    note = "pass a sleeper: `tokio::time::sleep`, a `Fn(Duration) -> impl Future<Output = ()>` closure, `sluicegate_rt::ManualClock`, or an adapter from one of sluicegate-rt's features (`tokio`, `smol`, `futures-timer`, `threads`)"
)]
pub trait Sleeper {
    /// The future returned by [`sleep`](Sleeper::sleep) and
    /// [`sleep_until`](Sleeper::sleep_until).
    type Sleep: Future<Output = ()>;

    /// A future that completes once `dur` has passed. A zero duration
    /// completes at the first poll (or, for real timers, very soon).
    fn sleep(&self, dur: Duration) -> Self::Sleep;

    /// A future that completes at `deadline`; a deadline in the past completes
    /// at once.
    ///
    /// The default implementation converts the deadline into a duration from
    /// the real clock, [`Instant::now`]. Sleepers with their own notion of
    /// time (such as [`ManualClock`](crate::ManualClock) and the adapters)
    /// override it. So a plain closure such as `tokio::time::sleep` gets
    /// `sleep_until` wrong under `tokio::time::pause()`, and an instant from a
    /// `ManualClock` means nothing to it: pace against absolute instants with
    /// `TokioSleeper` or the clock's own sleeper.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}

impl<F, Fut> Sleeper for F
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    type Sleep = Fut;

    #[inline]
    fn sleep(&self, dur: Duration) -> Fut {
        self(dur)
    }
}

/// The longest wait handed to a real-time timer: about 30 years, as tokio's
/// "far future". Longer requests are clamped so that `Instant + Duration`
/// cannot overflow inside a timer implementation.
#[cfg(any(
    feature = "tokio",
    feature = "smol",
    feature = "futures-timer",
    feature = "threads"
))]
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + dur`, clamped to [`FAR_FUTURE`] and to what `Instant` can represent.
#[cfg(feature = "threads")]
pub(crate) fn deadline_after(now: Instant, dur: Duration) -> Instant {
    let mut dur = dur.min(FAR_FUTURE);
    loop {
        if let Some(deadline) = now.checked_add(dur) {
            return deadline;
        }
        dur /= 2;
    }
}
