//! Waiting for a key's tokens: [`KeyedTokenBucket::acquire`] and its
//! future, [`KeyedAcquire`].

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};

use crate::error::{KeyedError, TryAcquireError};
use crate::keyed::{KeyedTokenBucket, WaitTicket};

impl<K: Hash + Eq + Clone, C: Clock> KeyedTokenBucket<K, C> {
    /// Waits until `key`'s bucket has `n` tokens and takes them, sleeping on
    /// `sleeper` for as long as the bucket says (a [`Sleeper`] whose time
    /// runs with the limiter's clock: the limiter's
    /// [`ManualClock`](sluicegate_rt::ManualClock) itself in tests,
    /// `tokio::time::sleep`, a runtime adapter of sluicegate-rt...).
    /// Per-host politeness for a crawler, a per-tenant pace for outgoing
    /// calls.
    ///
    /// Waiters are not queued, unlike those of
    /// [`TokenBucket::acquire`](crate::TokenBucket::acquire): each sleeps until its key could admit it, then tries again, and may
    /// find the tokens taken by another waiter or a `try_acquire` and sleep
    /// again (governor's `until_key_ready` behaves the same way). Where
    /// arrival order matters for one key, give that key a
    /// [`TokenBucket`](crate::TokenBucket) of its own.
    ///
    /// Cancel-safe: the future books nothing while it sleeps, so dropping
    /// it gives nothing back and leaves the key as it was (it counts in
    /// [`KeyedStats::cancelled`](crate::KeyedStats::cancelled)). `n = 0`
    /// resolves at once, uncounted, as for `try_acquire`.
    ///
    /// A [`set_quota`](Self::set_quota) made while a call sleeps is seen when
    /// it wakes: it sleeps out the wait the old quota gave (a faster quota
    /// does not cut it short), then tries under the new one.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] (as [`KeyedError::Denied`]) when `n`
    /// exceeds the burst, which no wait can fix: at once, or on waking if a
    /// `set_quota` lowered the burst meanwhile. [`KeyedError::TooManyKeys`]
    /// for a new key refused by the cap (see [`KeyedTokenBucket`]): at once,
    /// or on waking if the key went idle at its due instant and was evicted
    /// to make room for another while every other key owed tokens.
    ///
    /// # Panics
    ///
    /// Polling the future again after it resolved panics, as for
    /// [`Acquire`](crate::Acquire).
    ///
    /// [`InsufficientCapacity`]: crate::TryAcquireError::InsufficientCapacity
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluicegate_rt::ManualClock;
    /// use sluicegate_token_bucket::{KeyedTokenBucket, Quota};
    ///
    /// let clock = ManualClock::new();
    /// let per_host = KeyedTokenBucket::with_clock(Quota::per_second(2)?, 1_000, clock.clone())?;
    /// clock.block_on(async {
    ///     for _ in 0..3 {
    ///         per_host.acquire(&"example.com", 1, &clock).await?;
    ///     }
    ///     per_host.acquire(&"example.org", 1, &clock).await?; // its own bucket
    ///     Ok::<_, sluicegate_token_bucket::KeyedError>(())
    /// })?;
    /// // Burst 2, then one every 500 ms: the third waited once.
    /// assert_eq!(clock.elapsed(), Duration::from_millis(500));
    /// let stats = per_host.stats();
    /// assert_eq!((stats.waited, stats.served_after_wait), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire<'a, S: Sleeper>(
        &'a self,
        key: &'a K,
        n: u32,
        sleeper: &'a S,
    ) -> KeyedAcquire<'a, K, C, S> {
        KeyedAcquire {
            limiter: self,
            key,
            n,
            sleeper,
            ticket: None,
            done: false,
            sleep: None,
        }
    }
}

pin_project! {
    /// The future of [`KeyedTokenBucket::acquire`]: resolves once the tokens
    /// are taken, or with the error that says they never will be. Cancel-
    /// safe (it books nothing while it sleeps).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct KeyedAcquire<'a, K, C, S>
    where
        S: Sleeper,
    {
        limiter: &'a KeyedTokenBucket<K, C>,
        key: &'a K,
        n: u32,
        sleeper: &'a S,
        // Present once the call has slept: counted as waiting.
        ticket: Option<WaitTicket<'a>>,
        done: bool,
        #[pin]
        sleep: Option<S::Sleep>,
    }
}

impl<K, C, S> Future for KeyedAcquire<'_, K, C, S>
where
    K: Hash + Eq + Clone,
    C: Clock,
    S: Sleeper,
{
    type Output = Result<(), KeyedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`KeyedAcquire` polled after completion");
        let mut woke = false;
        loop {
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                ready!(sleep.poll(cx));
                this.sleep.set(None);
                if woke {
                    // Two sleeps over in one poll: a sleeper that does not
                    // wait (or a clock it does not follow). Yield rather
                    // than spin inside this poll.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                woke = true;
            }
            match this.limiter.decide(this.key, *this.n, false) {
                Err(KeyedError::Denied(TryAcquireError::NotUntil(not_until))) => {
                    if this.ticket.is_none() {
                        *this.ticket = Some(WaitTicket::new(&this.limiter.waits));
                    }
                    // A duration, not `sleep_until`: a plain closure such as
                    // `tokio::time::sleep` measures deadlines on the system
                    // clock, which is not the limiter's under paused time.
                    this.sleep
                        .set(Some(this.sleeper.sleep(not_until.retry_after())));
                }
                done => {
                    *this.done = true;
                    if let Some(ticket) = this.ticket.take() {
                        if done.is_ok() {
                            ticket.served();
                        }
                    }
                    return Poll::Ready(done);
                }
            }
        }
    }
}

impl<K, C, S: Sleeper> std::fmt::Debug for KeyedAcquire<'_, K, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedAcquire")
            .field("n", &self.n)
            .field("sleeping", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}
