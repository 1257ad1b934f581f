//! [`KeyedRateLimitLayer`] and [`KeyedRateLimit`]: a bucket per key, the
//! key taken from each request.

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use sluicegate_rt::Clock;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, RateLimited, ResponseFuture};
use crate::error::KeyedError;
use crate::keyed::KeyedTokenBucket;

/// Wraps services in [`KeyedRateLimit`]: every request takes one token
/// from the bucket of its key in a shared [`KeyedTokenBucket`], the key
/// computed by `key` from the request (a client address, an API key, a
/// route). Per-client limiting for an HTTP front end, the tower-governor
/// use case, on any executor.
///
/// It rejects, it does not wait: the key is known only in `call`, after
/// `poll_ready`, so there is nothing to wait on before it. A request whose
/// key's bucket is empty fails with [`RateLimited`] (its `Retry-After`, for
/// a `429`), the same error as [`RateLimitLayer`](super::RateLimitLayer)'s;
/// a new key refused by the cap on keys fails with
/// [`KeyedError::TooManyKeys`] (a `503`: the server's limit, not the
/// client's): `max_keys` keys all owe tokens, or the idle ones sit in a
/// shard another caller holds at that moment (an `evict_idle` or a
/// `set_quota` walking it; see [`KeyedTokenBucket`]). Either way the inner
/// service is not called.
///
/// The layer and its services are `Clone` and share the limiter; keep an
/// `Arc` of it to read its stats or change its quota
/// ([`set_quota`](KeyedTokenBucket::set_quota)) while it serves.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use std::sync::Arc;
/// use sluicegate_rt::ManualClock;
/// use sluicegate_token_bucket::tower::{KeyedRateLimitLayer, RateLimited};
/// use sluicegate_token_bucket::{KeyedTokenBucket, Quota};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// struct Request { client: &'static str }
///
/// let limiter = Arc::new(KeyedTokenBucket::with_clock(
///     Quota::per_second(1)?, 10_000, ManualClock::new())?);
/// let svc = KeyedRateLimitLayer::new(limiter.clone(), |req: &Request| req.client)
///     .layer(service_fn(|req: Request| async move {
///         Ok::<_, std::convert::Infallible>(req.client)
///     }));
///
/// assert_eq!(svc.clone().oneshot(Request { client: "alice" }).await.unwrap(), "alice");
/// let err = svc.clone().oneshot(Request { client: "alice" }).await.unwrap_err();
/// assert!(err.downcast_ref::<RateLimited>().is_some(), "alice's bucket is empty");
/// assert!(svc.oneshot(Request { client: "bob" }).await.is_ok(), "bob has his own");
/// assert_eq!(limiter.stats().keys, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct KeyedRateLimitLayer<K, C, F> {
    limiter: Arc<KeyedTokenBucket<K, C>>,
    key: F,
}

impl<K, C, F> KeyedRateLimitLayer<K, C, F> {
    /// A layer that limits each request by the bucket of `key(&request)`
    /// in `limiter`.
    pub fn new(limiter: Arc<KeyedTokenBucket<K, C>>, key: F) -> Self {
        Self { limiter, key }
    }
}

impl<K, C, F: Clone> Clone for KeyedRateLimitLayer<K, C, F> {
    fn clone(&self) -> Self {
        Self {
            limiter: Arc::clone(&self.limiter),
            key: self.key.clone(),
        }
    }
}

impl<K, C, F> std::fmt::Debug for KeyedRateLimitLayer<K, C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<Svc, K, C, F: Clone> Layer<Svc> for KeyedRateLimitLayer<K, C, F> {
    type Service = KeyedRateLimit<Svc, K, C, F>;

    fn layer(&self, inner: Svc) -> Self::Service {
        KeyedRateLimit {
            inner,
            limiter: Arc::clone(&self.limiter),
            key: self.key.clone(),
        }
    }
}

/// A service admitting each request through the bucket of its key (see
/// [`KeyedRateLimitLayer`]). Errors are boxed: [`RateLimited`] for an
/// empty bucket, [`KeyedError::TooManyKeys`] for a key refused by the cap.
pub struct KeyedRateLimit<Svc, K, C, F> {
    inner: Svc,
    limiter: Arc<KeyedTokenBucket<K, C>>,
    key: F,
}

impl<Svc: Clone, K, C, F: Clone> Clone for KeyedRateLimit<Svc, K, C, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
            key: self.key.clone(),
        }
    }
}

impl<Svc: std::fmt::Debug, K, C, F> std::fmt::Debug for KeyedRateLimit<Svc, K, C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<Svc, Req, K, C, F> Service<Req> for KeyedRateLimit<Svc, K, C, F>
where
    Svc: Service<Req>,
    Svc::Error: Into<BoxError>,
    K: Hash + Eq + Clone,
    C: Clock,
    F: Fn(&Req) -> K,
{
    type Response = Svc::Response;
    type Error = BoxError;
    type Future = ResponseFuture<Svc::Future>;

    /// The inner service's readiness: the decision is made in `call`, where
    /// the request (and so its key) is known.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key)(&req);
        match self.limiter.try_acquire(&key, 1) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(KeyedError::Denied(denied)) => {
                ResponseFuture::rejected(RateLimited::new(denied.retry_after()))
            }
            Err(refused) => ResponseFuture::rejected(refused),
        }
    }
}
