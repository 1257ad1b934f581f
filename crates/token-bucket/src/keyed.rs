//! [`KeyedTokenBucket`]: one bucket per key, in bounded memory.
//!
//! A key whose TAT is at or before now has a full bucket: it is exactly
//! like a key never seen, so it can be forgotten without changing any
//! decision. That is the only eviction there is: memory stays bounded by
//! `max_keys`, and a flood of new keys is refused
//! ([`KeyedError::TooManyKeys`]) instead of evicting keys that still owe
//! tokens (which would hand them a fresh burst).
//!
//! The quota lives in each shard beside its keys, so a decision reads the
//! key's state and the quota under one lock, and [`KeyedTokenBucket::set_quota`]
//! moves one shard at a time: each key sees the old quota or the new one,
//! never a mix.

use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use sluicegate_rt::{Clock, SystemClock};

use crate::error::{InsufficientCapacity, KeyedConfigError, KeyedError, NotUntil, TryAcquireError};
use crate::gcra::{HORIZON, cost_of, rescale_debt};
use crate::quota::Quota;
use crate::stats::Striped;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

/// One token bucket per key, for per-client or per-route limits.
///
/// Every key gets the same [`Quota`], which [`set_quota`](Self::set_quota)
/// changes live. Keys are sharded over 16 mutexes; each decision locks one
/// shard for a few nanoseconds. Memory is bounded:
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
    shards: Box<[Padded<Mutex<Shard<K>>>]>,
    hasher: RandomState,
    /// The quota in force; held by `set_quota` while it moves the shards.
    quota: Mutex<Quota>,
    max_keys: usize,
    len: AtomicUsize,
    origin: Instant,
    clock: C,
    /// Per decision: striped, so threads deciding at once do not bounce
    /// one cache line between their cores.
    admitted: Striped,
    rejected: Striped,
    refused_keys: AtomicU64,
    pub(crate) waits: WaitCounters,
    evicted: AtomicU64,
}

/// A shard on cache lines of its own: threads deciding in different shards
/// do not bounce each other's lock.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// One shard: its keys' TATs and the quota they are judged by.
struct Shard<K> {
    /// Each key with its TAT, placed by the key's hash (the one that chose
    /// the shard: a decision hashes its key once).
    tats: HashTable<(K, u64)>,
    limits: Limits,
}

/// A quota in nanoseconds, as decisions use it.
#[derive(Debug, Clone, Copy)]
struct Limits {
    interval: u64,
    tolerance: u64,
    burst: u32,
}

impl Limits {
    fn of(quota: Quota) -> Self {
        Self {
            interval: quota.interval_ns,
            tolerance: quota.tolerance_ns(),
            burst: quota.burst(),
        }
    }
}

/// The counters of sleeping `acquire` calls (see [`WaitTicket`]).
#[derive(Debug, Default)]
pub(crate) struct WaitCounters {
    waited: AtomicU64,
    served_after_wait: AtomicU64,
    cancelled: AtomicU64,
    waiting: AtomicUsize,
}

/// A call counted as waiting: `waited` and `waiting` go up when it is made;
/// when it is dropped, `waiting` goes down and the call counts as served or
/// cancelled, so `waited == served_after_wait + cancelled + waiting` holds
/// however the call ends (dropped futures included).
#[derive(Debug)]
pub(crate) struct WaitTicket<'a> {
    counters: &'a WaitCounters,
    served: bool,
}

impl<'a> WaitTicket<'a> {
    pub(crate) fn new(counters: &'a WaitCounters) -> Self {
        counters.waited.fetch_add(1, Ordering::Relaxed);
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        Self {
            counters,
            served: false,
        }
    }

    /// Ends the wait as served (the tokens were taken).
    pub(crate) fn served(mut self) {
        self.served = true;
    }
}

impl Drop for WaitTicket<'_> {
    fn drop(&mut self) {
        let c = self.counters;
        c.waiting.fetch_sub(1, Ordering::Relaxed);
        if self.served {
            c.served_after_wait.fetch_add(1, Ordering::Relaxed);
        } else {
            c.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counters of a [`KeyedTokenBucket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KeyedStats {
    /// Requests admitted.
    pub admitted: u64,
    /// Requests denied by their key's bucket: `try_acquire` denials, and
    /// requests for more than the burst.
    pub rejected: u64,
    /// [`acquire`](KeyedTokenBucket::acquire) calls that had to sleep (once
    /// each, however many times they slept). Each ends served
    /// (`served_after_wait`), cancelled, or is still `waiting`:
    /// `waited == served_after_wait + cancelled + waiting`.
    pub waited: u64,
    /// Sleeping `acquire` calls that got their tokens (also in `admitted`).
    pub served_after_wait: u64,
    /// Sleeping `acquire` calls that ended without tokens: dropped, or
    /// failed when they woke (a burst lowered below their request, their key
    /// evicted and its place taken).
    pub cancelled: u64,
    /// `acquire` calls sleeping now.
    pub waiting: usize,
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
        let limits = Limits::of(quota);
        Ok(Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        tats: HashTable::new(),
                        limits,
                    }))
                })
                .collect(),
            hasher: RandomState::new(),
            quota: Mutex::new(quota),
            max_keys,
            len: AtomicUsize::new(0),
            origin: clock.now(),
            clock,
            admitted: Striped::default(),
            rejected: Striped::default(),
            refused_keys: AtomicU64::new(0),
            waits: WaitCounters::default(),
            evicted: AtomicU64::new(0),
        })
    }

    fn now_ns(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos())
            .unwrap_or(u64::MAX)
            .min(HORIZON)
    }

    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a key's `hash`: chosen by bits that the table inside
    /// does not use (it places entries by the low bits and tags them with
    /// the top seven), so each shard's keys still spread over its table.
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<K>> {
        let i = (hash >> (64 - 7 - SHARD_BITS)) as usize % SHARDS;
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
        self.decide(key, n, true)
    }

    /// [`try_acquire`](Self::try_acquire); a "not yet" counts as rejected
    /// only if `count_not_yet` (a waiting `acquire` counts it as `waited`).
    pub(crate) fn decide(&self, key: &K, n: u32, count_not_yet: bool) -> Result<(), KeyedError> {
        if n == 0 {
            return Ok(());
        }
        let now = self.now_ns();
        let hash = self.hash(key);
        let mut guard = self.shard(hash);
        let shard = &mut *guard;
        let limits = shard.limits;
        let Some(cost) = cost_of(n, limits.interval, limits.tolerance) else {
            drop(guard);
            self.rejected.add_one();
            return Err(TryAcquireError::from(InsufficientCapacity {
                requested: n,
                burst: limits.burst,
            })
            .into());
        };
        // One lookup: a known key is judged and updated in place (no clone,
        // no allocation).
        let wait = match shard.tats.find_mut(hash, |(k, _)| k == key) {
            Some((_, tat)) => {
                let new = (*tat).max(now).saturating_add(cost);
                let ahead = new - now;
                if ahead > limits.tolerance {
                    Some(ahead - limits.tolerance)
                } else {
                    *tat = new;
                    None
                }
            }
            None => {
                // The user's code (`Clone`, and `Hash` when the table
                // grows) runs before a place is claimed: if it panics, the
                // count of keys stays true.
                let owned = key.clone();
                shard.tats.reserve(1, |(k, _)| self.hash(k));
                if !self.make_room(&mut shard.tats, now) {
                    drop(guard);
                    self.refused_keys.fetch_add(1, Ordering::Relaxed);
                    return Err(KeyedError::TooManyKeys {
                        max_keys: self.max_keys,
                    });
                }
                // A new key starts full and `cost <= tolerance`, so it is
                // always admitted: the place claimed for it is always used.
                // Room is reserved: no rehash, no user code, from here.
                shard
                    .tats
                    .insert_unique(hash, (owned, now.saturating_add(cost)), |(k, _)| {
                        self.hash(k)
                    });
                None
            }
        };
        drop(guard);
        match wait {
            None => {
                self.admitted.add_one();
                Ok(())
            }
            Some(wait) => {
                if count_not_yet {
                    self.rejected.add_one();
                }
                Err(TryAcquireError::NotUntil(NotUntil {
                    wait: Duration::from_nanos(wait),
                    base: self.origin,
                    offset: Duration::from_nanos(now.saturating_add(wait)),
                })
                .into())
            }
        }
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
    fn make_room(&self, shard: &mut HashTable<(K, u64)>, now: u64) -> bool {
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
                self.evict_in(&mut other.tats, now);
                if self.claim() {
                    return true;
                }
            }
        }
        false
    }

    fn evict_in(&self, shard: &mut HashTable<(K, u64)>, now: u64) {
        let before = shard.len();
        shard.retain(|(_, tat)| *tat > now);
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
            let before = shard.tats.len();
            self.evict_in(&mut shard.tats, now);
            total += before - shard.tats.len();
        }
        total
    }

    /// Tokens available now for `key` (the burst for an unknown key).
    pub fn remaining(&self, key: &K) -> u32 {
        let now = self.now_ns();
        let hash = self.hash(key);
        let shard = self.shard(hash);
        let tat = shard
            .tats
            .find(hash, |(k, _)| k == key)
            .map_or(0, |&(_, tat)| tat);
        let Limits {
            interval,
            tolerance,
            ..
        } = shard.limits;
        drop(shard);
        let debt = tat.max(now) - now;
        u32::try_from(tolerance.saturating_sub(debt) / interval).unwrap_or(u32::MAX)
    }

    /// Changes the quota of every key, live, granting no extra tokens to a
    /// key that owes.
    ///
    /// A key that owes tokens keeps the tokens it has now, capped at the new
    /// burst, and owes the rest at the new rate (as
    /// [`TokenBucket::set_quota`](crate::TokenBucket::set_quota) does), even
    /// if it owes less than one token. A key whose bucket is full is like a
    /// key never seen (it could be evicted without changing any decision),
    /// so it starts full under the new quota, as a new key does: raising
    /// the burst gives it the new burst at once. Nothing else is forgotten:
    /// rebuilding the limiter instead would hand every key a fresh burst.
    ///
    /// The shards move one at a time, each under its lock and at the time
    /// read under it: a decision sees its key under the old quota or the new
    /// one. Calls are serialised. It holds each shard for time in proportion
    /// to its keys; meanwhile a new key that needs an idle key of that shard
    /// evicted may be refused with [`KeyedError::TooManyKeys`] (see the type's
    /// docs).
    ///
    /// ```
    /// use sluicegate_rt::ManualClock;
    /// use sluicegate_token_bucket::{KeyedTokenBucket, Quota};
    ///
    /// let clock = ManualClock::new();
    /// let limiter =
    ///     KeyedTokenBucket::with_clock(Quota::per_second(10)?.with_burst(5)?, 100, clock.clone())?;
    /// limiter.try_acquire(&"alice", 4)?;
    /// limiter.try_acquire(&"bob", 1)?;
    /// clock.advance(std::time::Duration::from_millis(100)); // bob is full again
    /// limiter.set_quota(Quota::per_second(10)?.with_burst(20)?);
    /// assert_eq!(limiter.remaining(&"alice"), 2, "no extra tokens for a key that owes");
    /// assert_eq!(limiter.remaining(&"bob"), 20, "a full bucket is full under the new quota");
    /// assert_eq!(limiter.remaining(&"carol"), 20, "as is a key never seen");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        let mut current = self.quota.lock().unwrap_or_else(PoisonError::into_inner);
        let new = Limits::of(quota);
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            // Read under the shard's lock: no decision in this shard can
            // come between this instant and the rescale.
            let now = self.now_ns();
            let old = shard.limits;
            for (_, tat) in shard.tats.iter_mut() {
                let debt = tat.saturating_sub(now);
                if debt > 0 {
                    let new_debt = rescale_debt(
                        debt,
                        old.interval,
                        old.tolerance,
                        new.interval,
                        new.tolerance,
                    );
                    // `now <= HORIZON`, `new_debt <= MAX_SPAN`: no overflow.
                    *tat = now.saturating_add(new_debt);
                }
            }
            shard.limits = new;
        }
        *current = quota;
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        *self.quota.lock().unwrap_or_else(PoisonError::into_inner)
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
            admitted: self.admitted.sum(),
            rejected: self.rejected.sum(),
            refused_keys: self.refused_keys.load(Ordering::Relaxed),
            waited: self.waits.waited.load(Ordering::Relaxed),
            served_after_wait: self.waits.served_after_wait.load(Ordering::Relaxed),
            cancelled: self.waits.cancelled.load(Ordering::Relaxed),
            waiting: self.waits.waiting.load(Ordering::Relaxed),
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
