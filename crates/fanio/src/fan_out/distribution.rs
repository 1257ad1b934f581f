//! [`Distribution`]: how a fan-out hands items to its workers.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// How a fan-out hands items to its workers, chosen with
/// [`Builder::distribution`](crate::FanOutBuilder::distribution).
#[non_exhaustive]
pub enum Distribution<T> {
    /// One shared bounded queue: an idle worker takes the next item. Best
    /// throughput and load balance; no order between items.
    Shared,
    /// Each item goes to the worker picked by the hash of its key (made
    /// with [`Distribution::keyed`]); each worker has a bounded queue of
    /// its own and handles its items one at a time, so **items with the
    /// same key are processed, and their results emitted, in input
    /// order**. A full worker queue holds up the input (head-of-line
    /// blocking) until that worker catches up (the feeder refills a full
    /// queue once it is half empty again): that is the price of order.
    Keyed(KeyFn<T>),
}

impl<T> Distribution<T> {
    /// Partitioning by the key `key(&item)`: items of one key go to one
    /// worker, in order. The key is hashed with std's `DefaultHasher`
    /// (SipHash with fixed keys), so the same key maps to the same worker
    /// in every run.
    pub fn keyed<K, F>(key: F) -> Self
    where
        K: Hash,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        Self::Keyed(KeyFn(Arc::new(move |item: &T| {
            let mut h = DefaultHasher::new();
            key(item).hash(&mut h);
            h.finish()
        })))
    }
}

// Derived, it would require `T: Default`.
#[allow(clippy::derivable_impls)]
impl<T> Default for Distribution<T> {
    fn default() -> Self {
        Self::Shared
    }
}

impl<T> Clone for Distribution<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Shared => Self::Shared,
            Self::Keyed(k) => Self::Keyed(k.clone()),
        }
    }
}

impl<T> fmt::Debug for Distribution<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shared => f.write_str("Shared"),
            Self::Keyed(_) => f.write_str("Keyed(..)"),
        }
    }
}

/// The hashed key function of [`Distribution::Keyed`], made by
/// [`Distribution::keyed`].
pub struct KeyFn<T>(Arc<dyn Fn(&T) -> u64 + Send + Sync>);

impl<T> KeyFn<T> {
    /// The worker (`0..workers`) for `item`.
    pub(crate) fn worker(&self, item: &T, workers: usize) -> usize {
        // `workers` fits in u64; the remainder is below `workers`.
        ((self.0)(item) % workers as u64) as usize
    }
}

impl<T> Clone for KeyFn<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> fmt::Debug for KeyFn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFn(..)")
    }
}
