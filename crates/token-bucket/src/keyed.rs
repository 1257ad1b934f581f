//! [`KeyedTokenBucket`]: one bucket per key, in bounded memory.
//!
//! A key whose TAT is at or before now has a full bucket: it is exactly
//! like a key never seen, so it can be forgotten without changing any
//! decision. That is the only eviction there is: memory stays bounded by
//! `max_keys`, and a flood of new keys is refused
//! ([`KeyedError::TooManyKeys`]) instead of evicting keys that still owe
//! tokens (which would hand them a fresh burst).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, SystemClock};

use crate::error::{InsufficientCapacity, KeyedConfigError, KeyedError, NotUntil, TryAcquireError};
use crate::gcra::{HORIZON, cost_of};
use crate::quota::Quota;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 16;

/// One token bucket per key, for per-client or per-route limits.
///
/// Every key gets the same [`Quota`]. Keys are sharded over 16 mutexes;
/// each decision locks one shard for a few nanoseconds. Memory is bounded:
/// at most `max_keys` keys are tracked; idle keys (full buckets) are evicted
/// when room is needed or by [`evict_idle`](Self::evict_idle), and when
/// every tracked key still owes tokens a new key is refused.
///
/// Making room skips shards that another caller holds at that moment, so
/// under contention a new key can be refused while idle keys sit in a busy
/// shard: the cap never breaks, such refusals are counted in
/// [`KeyedStats::refused_keys`], and the next call can succeed.
///
/// ```
/// use sluicegate_rt::ManualClock;
/// use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota};
///
/// let clock = ManualClock::new();
/// let limiter = KeyedTokenBucket::with_clock(Quota::per_second(1)?, 2, clock.clone())?;
/// assert!(limiter.try_acquire(&"alice", 1).is_ok());
/// assert!(limiter.try_acquire(&"bob", 1).is_ok());
/// // Both buckets are empty, the cap is 2: a third key is refused.
/// assert!(matches!(limiter.try_acquire(&"carol", 1), Err(KeyedError::TooManyKeys { .. })));
/// clock.advance(std::time::Duration::from_secs(1));
/// // Alice and Bob are idle again; Carol takes one of their places.
/// assert!(limiter.try_acquire(&"carol", 1).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedTokenBucket<K, C = SystemClock> {
    shards: Box<[Mutex<HashMap<K, u64>>]>,
    hasher: RandomState,
    interval: u64,
    tolerance: u64,
    burst: u32,
    max_keys: usize,
    len: AtomicUsize,
    origin: Instant,
    clock: C,
    admitted: AtomicU64,
    rejected: AtomicU64,
    refused_keys: AtomicU64,
    evicted: AtomicU64,
}

/// Counters of a [`KeyedTokenBucket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KeyedStats {
    /// Requests admitted.
    pub admitted: u64,
    /// Requests denied by their key's bucket.
    pub rejected: u64,
    /// New keys refused because `max_keys` keys owed tokens.
    pub refused_keys: u64,
    /// Idle keys forgotten.
    pub evicted: u64,
    /// Keys tracked now.
    pub keys: usize,
}

impl<K: Hash + Eq + Clone> KeyedTokenBucket<K> {
    /// A keyed limiter on the system clock tracking at most `max_keys` keys.
    ///
    /// # Errors
    /// [`KeyedConfigError::ZeroMaxKeys`] if `max_keys` is 0.
    pub fn new(quota: Quota, max_keys: usize) -> Result<Self, KeyedConfigError> {
        Self::with_clock(quota, max_keys, SystemClock)
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedTokenBucket<K, C> {
    /// A keyed limiter on `clock`, tracking at most `max_keys` keys.
    ///
    /// # Errors
    /// [`KeyedConfigError::ZeroMaxKeys`] if `max_keys` is 0.
    pub fn with_clock(quota: Quota, max_keys: usize, clock: C) -> Result<Self, KeyedConfigError> {
        if max_keys == 0 {
            return Err(KeyedConfigError::ZeroMaxKeys);
        }
        Ok(Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            interval: quota.interval_ns,
            tolerance: quota.tolerance_ns(),
            burst: quota.burst(),
            max_keys,
            len: AtomicUsize::new(0),
            origin: clock.now(),
            clock,
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            refused_keys: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    fn now_ns(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos())
            .unwrap_or(u64::MAX)
            .min(HORIZON)
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, u64>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `n` tokens from `key`'s bucket now, or says why not.
    ///
    /// # Errors
    ///
    /// [`KeyedError::Denied`] from the key's bucket (with the
    /// `Retry-After`), or [`KeyedError::TooManyKeys`] for a new key when the
    /// limiter is full of keys that still owe tokens.
    pub fn try_acquire(&self, key: &K, n: u32) -> Result<(), KeyedError> {
        if n == 0 {
            return Ok(());
        }
        let Some(cost) = cost_of(n, self.interval, self.tolerance) else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(TryAcquireError::from(InsufficientCapacity {
                requested: n,
                burst: self.burst,
            })
            .into());
        };
        let now = self.now_ns();
        let mut shard = self.shard(key);
        let tat = match shard.get(key) {
            Some(&tat) => tat,
            None => {
                if !self.make_room(&mut shard, now) {
                    self.refused_keys.fetch_add(1, Ordering::Relaxed);
                    return Err(KeyedError::TooManyKeys {
                        max_keys: self.max_keys,
                    });
                }
                0
            }
        };
        // A new key starts full (TAT 0) and `cost <= tolerance`, so it is
        // always admitted: the place claimed for it is always used.
        let new = tat.max(now).saturating_add(cost);
        let ahead = new - now;
        if ahead > self.tolerance {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            let wait = ahead - self.tolerance;
            return Err(TryAcquireError::NotUntil(NotUntil {
                wait: Duration::from_nanos(wait),
                base: self.origin,
                offset: Duration::from_nanos(now.saturating_add(wait)),
            })
            .into());
        }
        // Existing keys are updated in place: no clone, no allocation.
        match shard.get_mut(key) {
            Some(tat) => *tat = new,
            None => {
                shard.insert(key.clone(), new);
            }
        }
        self.admitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Claims one place under the cap.
    fn claim(&self) -> bool {
        self.len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| {
                (len < self.max_keys).then_some(len + 1)
            })
            .is_ok()
    }

    /// Claims a place for a new key in the locked `shard`: under the cap,
    /// or after evicting idle keys (this shard first, then the others).
    fn make_room(&self, shard: &mut HashMap<K, u64>, now: u64) -> bool {
        if self.claim() {
            return true;
        }
        self.evict_in(shard, now);
        if self.claim() {
            return true;
        }
        for other in self.shards.iter() {
            // Skip the shard we hold; `try_lock` also avoids waiting on a
            // shard another caller is evicting from.
            if let Ok(mut other) = other.try_lock() {
                self.evict_in(&mut other, now);
                if self.claim() {
                    return true;
                }
            }
        }
        false
    }

    fn evict_in(&self, shard: &mut HashMap<K, u64>, now: u64) {
        let before = shard.len();
        shard.retain(|_, tat| *tat > now);
        let gone = before - shard.len();
        if gone > 0 {
            self.len.fetch_sub(gone, Ordering::Relaxed);
            self.evicted.fetch_add(gone as u64, Ordering::Relaxed);
        }
    }

    /// Forgets every idle key (full bucket): exactly the keys whose
    /// decisions would not change. Returns how many. Call it from a periodic
    /// task to keep memory proportional to the active keys.
    pub fn evict_idle(&self) -> usize {
        let now = self.now_ns();
        let mut total = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let before = shard.len();
            self.evict_in(&mut shard, now);
            total += before - shard.len();
        }
        total
    }

    /// Tokens available now for `key` (the burst for an unknown key).
    pub fn remaining(&self, key: &K) -> u32 {
        let now = self.now_ns();
        let tat = self.shard(key).get(key).copied().unwrap_or(0);
        let debt = tat.max(now) - now;
        u32::try_from(self.tolerance.saturating_sub(debt) / self.interval).unwrap_or(u32::MAX)
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since creation.
    pub fn stats(&self) -> KeyedStats {
        KeyedStats {
            admitted: self.admitted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            refused_keys: self.refused_keys.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            keys: self.len(),
        }
    }
}

impl<K, C> fmt::Debug for KeyedTokenBucket<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedTokenBucket")
            .field("max_keys", &self.max_keys)
            .field("keys", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
