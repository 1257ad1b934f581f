//! Tower [`Layer`]s and [`Service`]s (feature `tower`), built on
//! tower-layer and tower-service only: no tokio.
//!
//! - [`RateLimitLayer`]: one [`TokenBucket`] for every request, rejecting
//!   or waiting.
//! - [`KeyedRateLimitLayer`]: a bucket per key (client, route, tenant) of a
//!   [`KeyedTokenBucket`](crate::KeyedTokenBucket), the key taken from each
//!   request; rejecting.
//!
//! [`Layer`]: tower_layer::Layer
//! [`Service`]: tower_service::Service

mod keyed;

pub use keyed::{KeyedRateLimit, KeyedRateLimitLayer};

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use sluicegate_rt::{Clock, Sleeper};
use tower_layer::Layer;
use tower_service::Service;

use crate::bucket::TokenBucket;
use crate::error::InsufficientCapacity;

/// The boxed error type tower middleware uses.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a [`RateLimit`] or [`KeyedRateLimit`] service returns (boxed)
/// when a bucket turns a request away: carries the `Retry-After` for a
/// `429` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimited {
    retry_after: Option<Duration>,
}

impl RateLimited {
    /// The error for a request turned away `retry_after` before it could be
    /// admitted (`None`: never).
    pub const fn new(retry_after: Option<Duration>) -> Self {
        Self { retry_after }
    }

    /// How long until a request would be admitted; `None` if it never can
    /// be (it costs more than the burst).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.retry_after {
            Some(wait) => write!(f, "rate limited; retry after {wait:?}"),
            None => f.write_str("rate limited; the request exceeds the burst"),
        }
    }
}

impl std::error::Error for RateLimited {}

/// A boxed wait for one token.
type WaitFuture = Pin<Box<dyn Future<Output = Result<(), InsufficientCapacity>> + Send>>;
/// Starts a [`WaitFuture`]; present only for layers built by
/// [`RateLimitLayer::waiting`], whose bucket has a sleeper.
type StartWait<C, S> = fn(&TokenBucket<C, S>) -> WaitFuture;

/// Wraps services in [`RateLimit`]: every request takes one token from a
/// shared [`TokenBucket`]. The layer and the services it makes are `Clone`,
/// and all clones draw from the same bucket (tower#794).
///
/// Two behaviours when the bucket is empty:
/// - [`new`](Self::new): reject at once with [`RateLimited`], carrying the
///   `Retry-After` (load shedding: an HTTP front end answers `429`);
/// - [`waiting`](Self::waiting): hold `poll_ready` until a token is free
///   (backpressure), in arrival order.
pub struct RateLimitLayer<C, S> {
    bucket: TokenBucket<C, S>,
    start_wait: Option<StartWait<C, S>>,
}

impl<C, S> Clone for RateLimitLayer<C, S> {
    fn clone(&self) -> Self {
        Self {
            bucket: self.bucket.clone(),
            start_wait: self.start_wait,
        }
    }
}

impl<C, S> std::fmt::Debug for RateLimitLayer<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("bucket", &self.bucket)
            .field("waits", &self.start_wait.is_some())
            .finish()
    }
}

impl<C, S> RateLimitLayer<C, S> {
    /// A layer that rejects requests when `bucket` is empty.
    pub fn new(bucket: TokenBucket<C, S>) -> Self {
        Self {
            bucket,
            start_wait: None,
        }
    }

    /// A layer whose services wait in `poll_ready` until `bucket` has a
    /// token.
    pub fn waiting(bucket: TokenBucket<C, S>) -> Self
    where
        C: Clock + Send + Sync + 'static,
        S: Sleeper + Send + Sync + 'static,
        S::Sleep: Send,
    {
        Self {
            bucket,
            start_wait: Some(|bucket| Box::pin(bucket.acquire(1))),
        }
    }
}

impl<Svc, C, S> Layer<Svc> for RateLimitLayer<C, S> {
    type Service = RateLimit<Svc, C, S>;

    fn layer(&self, inner: Svc) -> Self::Service {
        RateLimit {
            inner,
            bucket: self.bucket.clone(),
            start_wait: self.start_wait,
            wait: Mutex::new(None),
            holds_token: false,
        }
    }
}

/// A service admitting requests through a [`TokenBucket`] (see
/// [`RateLimitLayer`]). Errors are boxed, as is usual for tower middleware:
/// a turned-away request fails with [`RateLimited`].
///
/// A service dropped while it holds a token (after a successful
/// `poll_ready`, before `call`) does not give the token back, as is usual
/// for tower services.
pub struct RateLimit<Svc, C, S> {
    inner: Svc,
    bucket: TokenBucket<C, S>,
    start_wait: Option<StartWait<C, S>>,
    /// Behind a mutex only so the service is `Sync` (axum 0.8 requires it);
    /// it is reached with `get_mut` from `&mut self`, never locked.
    wait: Mutex<Option<WaitFuture>>,
    /// A token taken in `poll_ready`, for the next `call`.
    holds_token: bool,
}

impl<Svc: Clone, C, S> Clone for RateLimit<Svc, C, S> {
    /// A clone shares the bucket, not a token held for the next call.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bucket: self.bucket.clone(),
            start_wait: self.start_wait,
            wait: Mutex::new(None),
            holds_token: false,
        }
    }
}

impl<Svc: std::fmt::Debug, C, S> std::fmt::Debug for RateLimit<Svc, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("waits", &self.start_wait.is_some())
            .field("holds_token", &self.holds_token)
            .finish_non_exhaustive()
    }
}

impl<Svc, Req, C, S> Service<Req> for RateLimit<Svc, C, S>
where
    Svc: Service<Req>,
    Svc::Error: Into<BoxError>,
    C: Clock,
{
    type Response = Svc::Response;
    type Error = BoxError;
    type Future = ResponseFuture<Svc::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Some(start_wait) = self.start_wait {
            if !self.holds_token {
                let slot = self.wait.get_mut().unwrap_or_else(PoisonError::into_inner);
                let wait = slot.get_or_insert_with(|| start_wait(&self.bucket));
                let outcome = ready!(wait.as_mut().poll(cx));
                *slot = None;
                outcome?;
                self.holds_token = true;
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // A token from `poll_ready`, or (rejecting layers, or a `call`
        // without a successful `poll_ready`) the try path: never free.
        let admitted = if std::mem::take(&mut self.holds_token) {
            Ok(())
        } else {
            self.bucket.try_acquire(1)
        };
        match admitted {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(e) => ResponseFuture::rejected(RateLimited {
                retry_after: e.retry_after(),
            }),
        }
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected { error: Option<BoxError> },
    }
}

pin_project! {
    /// The response future of [`RateLimit`] and [`KeyedRateLimit`]: the
    /// inner service's future, or the error that turned the request away.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

impl<F> ResponseFuture<F> {
    fn inner(fut: F) -> Self {
        Self {
            kind: Kind::Inner { fut },
        }
    }

    fn rejected(error: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Rejected {
                error: Some(error.into()),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => fut.poll(cx).map_err(Into::into),
            // Polled again after it resolved: an error rather than a panic
            // (the first error was handed out; this one says "rate limited").
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| RateLimited::new(None).into()))),
        }
    }
}
