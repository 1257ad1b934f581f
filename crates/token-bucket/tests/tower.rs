//! The tower layer: rejecting (load shedding with `Retry-After`) and waiting
//! (backpressure in `poll_ready`), on a `ManualClock`.
#![cfg(feature = "tower")]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{ms, ns};
use sluicegate_rt::ManualClock;
use sluicegate_token_bucket::tower::{BoxError, KeyedRateLimitLayer, RateLimitLayer, RateLimited};
use sluicegate_token_bucket::{KeyedError, KeyedTokenBucket, Quota, TokenBucket};
use tower::{Layer, Service, ServiceExt, service_fn};

type Bucket = TokenBucket<ManualClock, ManualClock>;

/// 10 per second (one token every 100 ms), burst `burst`, on a manual clock
/// that is also its sleeper.
fn bucket(burst: u32) -> (ManualClock, Bucket) {
    let clock = ManualClock::new();
    let quota = Quota::per_second(10).unwrap().with_burst(burst).unwrap();
    let bucket = TokenBucket::builder(quota)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build();
    (clock, bucket)
}

/// An inner service that echoes its request and counts its calls.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn service(
        &self,
    ) -> impl Service<u32, Response = u32, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static {
        let calls = self.0.clone();
        service_fn(move |req: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, Infallible>(req))
        })
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Calls `svc` once `poll_ready` says it may, and resolves the response
/// (inner futures here are ready at once).
fn ready_call<S>(svc: &mut S, req: u32) -> Result<u32, BoxError>
where
    S: Service<u32, Response = u32, Error = BoxError>,
{
    match svc.poll_ready(&mut cx()) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("poll_ready is pending"),
    }
    resolve(svc.call(req))
}

fn resolve<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut cx()) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the response future is pending"),
    }
}

/// The `Retry-After` of a rejection, failing on any other error.
fn rejected(err: BoxError) -> Option<Duration> {
    match err.downcast_ref::<RateLimited>() {
        Some(limited) => limited.retry_after(),
        None => panic!("expected RateLimited, got {err}"),
    }
}

fn is_ready<S: Service<u32>>(svc: &mut S) -> bool {
    match svc.poll_ready(&mut cx()) {
        Poll::Ready(Ok(())) => true,
        Poll::Ready(Err(_)) => panic!("poll_ready failed"),
        Poll::Pending => false,
    }
}

mod rejecting {
    use super::*;

    #[test]
    fn burst_passes_then_rejects_with_the_exact_retry_after() {
        let (clock, bucket) = bucket(3);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::new(bucket).layer(calls.service());

        for req in 0..3 {
            assert_eq!(ready_call(&mut svc, req).unwrap(), req);
        }
        assert_eq!(calls.get(), 3);
        let err = ready_call(&mut svc, 3).unwrap_err();
        assert_eq!(rejected(err), Some(ms(100)));
        assert_eq!(calls.get(), 3, "a rejected request reached the service");

        clock.advance(ms(40));
        assert_eq!(rejected(ready_call(&mut svc, 4).unwrap_err()), Some(ms(60)));
        clock.advance(ms(60));
        assert_eq!(ready_call(&mut svc, 5).unwrap(), 5);
        assert_eq!(
            rejected(ready_call(&mut svc, 6).unwrap_err()),
            Some(ms(100))
        );

        clock.advance(ms(300));
        for req in 7..10 {
            assert_eq!(ready_call(&mut svc, req).unwrap(), req);
        }
        assert!(ready_call(&mut svc, 10).is_err());
        assert_eq!(calls.get(), 7);
    }

    #[test]
    fn rejected_requests_never_reach_the_inner_service() {
        let (_clock, bucket) = bucket(1);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::new(bucket.clone()).layer(calls.service());
        ready_call(&mut svc, 0).unwrap();
        for req in 1..50 {
            assert!(ready_call(&mut svc, req).is_err());
        }
        assert_eq!(calls.get(), 1);
        // Every rejection was a `try_acquire` denial, and took nothing.
        let stats = bucket.stats();
        assert_eq!((stats.admitted, stats.rejected), (1, 49));
    }

    #[test]
    fn works_through_service_ext() {
        let (clock, bucket) = bucket(1);
        let calls = Calls::default();
        let svc = RateLimitLayer::new(bucket).layer(calls.service());
        assert_eq!(clock.block_on(svc.clone().oneshot(7)).unwrap(), 7);
        let err = clock.block_on(svc.clone().oneshot(8)).unwrap_err();
        assert_eq!(rejected(err), Some(ms(100)));
        assert_eq!(clock.elapsed(), Duration::ZERO, "a rejecting layer waited");
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn services_and_layers_share_one_bucket() {
        let (_clock, bucket) = bucket(3);
        let calls = Calls::default();
        let layer = RateLimitLayer::new(bucket);
        let mut a = layer.layer(calls.service());
        let mut b = layer.clone().layer(calls.service());
        let mut c = a.clone();
        let mut admitted = 0;
        for round in 0..10 {
            for svc in [&mut a, &mut b] {
                admitted += usize::from(ready_call(svc, round).is_ok());
            }
            admitted += usize::from(ready_call(&mut c, round).is_ok());
        }
        assert_eq!(admitted, 3);
        assert_eq!(calls.get(), 3);
    }
}

/// The keyed layer: requests `0..100` are client 0, `100..200` client 1...
mod keyed {
    use super::*;

    type Limiter = Arc<KeyedTokenBucket<u32, ManualClock>>;

    /// 10 per second per client, burst `burst`, at most `max_keys` clients.
    fn limiter(burst: u32, max_keys: usize) -> (ManualClock, Limiter) {
        let clock = ManualClock::new();
        let quota = Quota::per_second(10).unwrap().with_burst(burst).unwrap();
        let limiter = KeyedTokenBucket::with_clock(quota, max_keys, clock.clone()).unwrap();
        (clock, Arc::new(limiter))
    }

    fn client(req: &u32) -> u32 {
        req / 100
    }

    #[test]
    fn each_client_has_its_burst_and_an_exact_retry_after() {
        let (clock, limiter) = limiter(2, 16);
        let calls = Calls::default();
        let mut svc = KeyedRateLimitLayer::new(limiter.clone(), client).layer(calls.service());

        assert_eq!(ready_call(&mut svc, 1).unwrap(), 1);
        assert_eq!(ready_call(&mut svc, 2).unwrap(), 2);
        assert_eq!(
            rejected(ready_call(&mut svc, 3).unwrap_err()),
            Some(ms(100))
        );
        // Client 1's bucket is its own.
        assert_eq!(ready_call(&mut svc, 101).unwrap(), 101);
        assert_eq!(ready_call(&mut svc, 102).unwrap(), 102);
        assert!(ready_call(&mut svc, 103).is_err());
        assert_eq!(calls.get(), 4, "a rejected request reached the service");

        clock.advance(ms(40));
        assert_eq!(rejected(ready_call(&mut svc, 4).unwrap_err()), Some(ms(60)));
        clock.advance(ms(60));
        assert_eq!(ready_call(&mut svc, 5).unwrap(), 5);
        let stats = limiter.stats();
        assert_eq!((stats.admitted, stats.rejected, stats.keys), (5, 3, 2));
    }

    #[test]
    fn a_client_refused_by_the_cap_gets_too_many_keys_not_rate_limited() {
        let (_clock, limiter) = limiter(1, 1);
        let calls = Calls::default();
        let mut svc = KeyedRateLimitLayer::new(limiter, client).layer(calls.service());
        ready_call(&mut svc, 0).unwrap();
        let err = ready_call(&mut svc, 100).unwrap_err();
        assert!(err.downcast_ref::<RateLimited>().is_none());
        assert_eq!(
            err.downcast_ref::<KeyedError>(),
            Some(&KeyedError::TooManyKeys { max_keys: 1 })
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn services_and_layers_share_one_limiter_and_its_quota() {
        let (_clock, limiter) = limiter(3, 16);
        let calls = Calls::default();
        let layer = KeyedRateLimitLayer::new(limiter.clone(), client);
        let mut a = layer.layer(calls.service());
        let mut b = layer.clone().layer(calls.service());
        let mut c = a.clone();
        let mut admitted = 0;
        for req in 0..10 {
            for svc in [&mut a, &mut b, &mut c] {
                admitted += usize::from(ready_call(svc, req).is_ok());
            }
        }
        assert_eq!(admitted, 3, "one burst for client 0 across all services");

        limiter.set_quota(Quota::per_second(10).unwrap().with_burst(5).unwrap());
        for req in 100..105 {
            assert_eq!(ready_call(&mut a, req).unwrap(), req);
        }
        assert!(ready_call(&mut b, 105).is_err(), "the new burst, shared");
        assert_eq!(calls.get(), 8);
    }

    #[test]
    fn works_through_service_ext() {
        let (clock, limiter) = limiter(1, 16);
        let calls = Calls::default();
        let svc = KeyedRateLimitLayer::new(limiter, client).layer(calls.service());
        assert_eq!(clock.block_on(svc.clone().oneshot(7)).unwrap(), 7);
        let err = clock.block_on(svc.clone().oneshot(8)).unwrap_err();
        assert_eq!(rejected(err), Some(ms(100)));
        assert_eq!(clock.block_on(svc.oneshot(107)).unwrap(), 107);
        assert_eq!(clock.elapsed(), Duration::ZERO, "the keyed layer waited");
        assert_eq!(calls.get(), 2);
    }

    /// The inner service's readiness passes through: `poll_ready` takes no
    /// token (the key is not known yet), a not-ready inner keeps it pending.
    #[test]
    fn poll_ready_is_the_inner_services_and_takes_nothing() {
        let (_clock, limiter) = limiter(1, 16);
        let mut svc = KeyedRateLimitLayer::new(limiter.clone(), client).layer(tower::service_fn(
            |req: u32| std::future::ready(Ok::<_, Infallible>(req)),
        ));
        for _ in 0..5 {
            assert!(is_ready(&mut svc));
        }
        assert_eq!(limiter.remaining(&0), 1);

        let mut never = KeyedRateLimitLayer::new(limiter, client).layer(NeverReady);
        assert!(!is_ready(&mut never));
    }

    #[derive(Clone)]
    struct NeverReady;

    impl Service<u32> for NeverReady {
        type Response = u32;
        type Error = Infallible;
        type Future = std::future::Ready<Result<u32, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Pending
        }

        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(Ok(req))
        }
    }
}

mod waiting {
    use super::*;

    #[test]
    fn poll_ready_waits_exactly_one_interval() {
        let (clock, bucket) = bucket(1);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::waiting(bucket).layer(calls.service());

        assert!(is_ready(&mut svc));
        assert_eq!(resolve(svc.call(1)).unwrap(), 1);

        let start = clock.now();
        assert!(!is_ready(&mut svc));
        assert_eq!(clock.next_deadline(), Some(start + ms(100)));
        clock.advance(ms(100) - ns(1));
        assert!(!is_ready(&mut svc));
        assert_eq!(calls.get(), 1, "the inner service ran while waiting");
        clock.advance(ns(1));
        assert!(is_ready(&mut svc));
        assert_eq!(resolve(svc.call(2)).unwrap(), 2);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn service_ext_ready_waits_in_virtual_time() {
        let (clock, bucket) = bucket(2);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::waiting(bucket).layer(calls.service());
        for req in 0..5 {
            let ready = clock.block_on(svc.ready()).unwrap();
            assert_eq!(resolve(ready.call(req)).unwrap(), req);
        }
        // Two from the burst, then one every 100 ms.
        assert_eq!(clock.elapsed(), ms(300));
        assert_eq!(calls.get(), 5);
    }

    #[test]
    fn services_from_one_layer_share_the_burst() {
        let (clock, bucket) = bucket(2);
        let calls = Calls::default();
        let layer = RateLimitLayer::waiting(bucket);
        let mut a = layer.layer(calls.service());
        let mut b = layer.clone().layer(calls.service());
        let mut c = layer.layer(calls.service());

        assert!(is_ready(&mut a));
        assert!(is_ready(&mut a), "a ready service takes no second token");
        assert!(is_ready(&mut b));
        assert!(!is_ready(&mut c), "three services exceeded a burst of 2");
        resolve(a.call(0)).unwrap();
        resolve(b.call(0)).unwrap();
        assert!(!is_ready(&mut a));
        // c arrived first, so c is served first.
        clock.advance(ms(100));
        assert!(is_ready(&mut c));
        assert!(!is_ready(&mut a));
        clock.advance(ms(100));
        assert!(is_ready(&mut a));
        resolve(c.call(1)).unwrap();
        resolve(a.call(1)).unwrap();
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn a_clone_does_not_inherit_a_held_token() {
        let (_clock, bucket) = bucket(1);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::waiting(bucket).layer(calls.service());
        assert!(is_ready(&mut svc)); // holds the only token
        let mut clone = svc.clone();
        // The clone was not made ready: its call goes through the try path,
        // and the bucket is empty.
        let err = resolve(clone.call(1)).unwrap_err();
        assert_eq!(rejected(err), Some(ms(100)));
        assert_eq!(calls.get(), 0);
        assert!(!is_ready(&mut clone));
        // The original still holds its token.
        assert_eq!(resolve(svc.call(2)).unwrap(), 2);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn call_without_poll_ready_still_takes_a_token() {
        let (clock, bucket) = bucket(2);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::waiting(bucket.clone()).layer(calls.service());
        assert_eq!(resolve(svc.call(1)).unwrap(), 1);
        assert_eq!(resolve(svc.call(2)).unwrap(), 2);
        assert_eq!(bucket.peek().remaining, 0);
        let err = resolve(svc.call(3)).unwrap_err();
        assert_eq!(rejected(err), Some(ms(100)));
        assert_eq!(calls.get(), 2);
        clock.advance(ms(100));
        assert_eq!(resolve(svc.call(4)).unwrap(), 4);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_token_is_used_once() {
        let (_clock, bucket) = bucket(1);
        let calls = Calls::default();
        let mut svc = RateLimitLayer::waiting(bucket).layer(calls.service());
        assert!(is_ready(&mut svc));
        resolve(svc.call(1)).unwrap();
        // The held token went with the first call; the second needs a new one.
        assert!(resolve(svc.call(2)).is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn dropping_a_waiting_service_gives_its_booking_back() {
        let (clock, bucket) = bucket(1);
        let calls = Calls::default();
        let layer = RateLimitLayer::waiting(bucket.clone());
        let mut a = layer.layer(calls.service());
        assert!(is_ready(&mut a));
        resolve(a.call(0)).unwrap();
        let mut b = layer.layer(calls.service());
        assert!(!is_ready(&mut b)); // booked the next token, at 100 ms
        drop(b);
        assert_eq!(clock.pending_sleeps(), 0);
        clock.advance(ms(100));
        assert_eq!(bucket.peek().remaining, 1, "the booking leaked");
        assert_eq!(bucket.stats().refunded, 1);
    }
}

mod errors {
    use super::*;

    #[test]
    fn inner_errors_are_boxed_and_passed_through() {
        let (_clock, bucket) = bucket(2);
        let inner = service_fn(|req: u32| {
            std::future::ready(if req == 0 {
                Err(io::Error::other("boom"))
            } else {
                Ok(req)
            })
        });
        for layer in [
            RateLimitLayer::new(bucket.clone()),
            RateLimitLayer::waiting(bucket.clone()),
        ] {
            let mut svc = layer.layer(inner);
            let err = ready_call(&mut svc, 0).unwrap_err();
            let io = err.downcast_ref::<io::Error>().expect("an io::Error");
            assert_eq!(io.to_string(), "boom");
            assert!(err.downcast_ref::<RateLimited>().is_none());
        }
        // Each failed request was admitted: it took a token.
        assert_eq!(bucket.peek().remaining, 0);
    }

    #[test]
    fn inner_poll_ready_errors_are_passed_through() {
        struct Broken;
        impl Service<u32> for Broken {
            type Response = u32;
            type Error = io::Error;
            type Future = std::future::Ready<Result<u32, io::Error>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
                Poll::Ready(Err(io::Error::other("not ready")))
            }
            fn call(&mut self, req: u32) -> Self::Future {
                std::future::ready(Ok(req))
            }
        }
        let (_clock, bucket) = bucket(1);
        for layer in [
            RateLimitLayer::new(bucket.clone()),
            RateLimitLayer::waiting(bucket.clone()),
        ] {
            let mut svc = layer.layer(Broken);
            let Poll::Ready(Err(err)) = svc.poll_ready(&mut cx()) else {
                panic!("expected the inner error");
            };
            assert_eq!(
                err.downcast_ref::<io::Error>().unwrap().to_string(),
                "not ready"
            );
        }
    }

    #[test]
    fn rate_limited_displays_its_retry_after() {
        let limited = RateLimited::new(Some(ms(100)));
        assert_eq!(limited.to_string(), "rate limited; retry after 100ms");
        let never = RateLimited::new(None).to_string();
        assert!(never.starts_with("rate limited"), "{never}");
        assert!(!never.contains("None"), "{never}");
    }
}

mod traits {
    use super::*;
    use std::marker::PhantomData;

    /// Whether a value's type is `Sync`, as a `bool` (autoref specialisation:
    /// the `&&Probe` impl applies only to `Sync` types), so that the check
    /// can fail at run time instead of breaking the build.
    struct Probe<T>(PhantomData<T>);
    impl<T> Probe<T> {
        fn of(_: &T) -> Self {
            Self(PhantomData)
        }
    }
    trait IsSync {
        fn is_sync(&self) -> bool {
            true
        }
    }
    impl<T: Sync> IsSync for &&Probe<T> {}
    trait NotSync {
        fn is_sync(&self) -> bool {
            false
        }
    }
    impl<T> NotSync for &Probe<T> {}
    macro_rules! is_sync {
        ($value:expr) => {
            (&&&Probe::of($value)).is_sync()
        };
    }

    #[test]
    fn the_sync_probe_works() {
        assert!(is_sync!(&0_u32));
        assert!(!is_sync!(&std::cell::Cell::new(0_u32)));
    }

    /// axum 0.8 requires `Sync` of every service added to a `Router`
    /// (tokio-rs/axum#2473; sentry-rust#720 is the same problem in another
    /// layer).
    #[test]
    fn services_with_a_send_sync_inner_are_sync() {
        let (_clock, bucket) = bucket(1);
        let calls = Calls::default();
        let inner = calls.service();
        assert!(is_sync!(&inner));
        let rejecting = RateLimitLayer::new(bucket.clone()).layer(inner.clone());
        let waiting = RateLimitLayer::waiting(bucket).layer(inner);
        assert!(is_sync!(&rejecting), "the rejecting service is not Sync");
        assert!(is_sync!(&waiting), "the waiting service is not Sync");
    }

    #[test]
    fn keyed_services_are_send_sync_and_clone() {
        let limiter = Arc::new(
            KeyedTokenBucket::with_clock(Quota::per_second(1).unwrap(), 8, ManualClock::new())
                .unwrap(),
        );
        let calls = Calls::default();
        let layer = KeyedRateLimitLayer::new(limiter, |req: &u32| *req);
        send_sync_clone(&layer);
        let svc = layer.layer(calls.service());
        assert!(is_sync!(&svc), "the keyed service is not Sync");
        send_sync_clone(&svc);
        let mut svc = svc;
        fn send<T: Send>(_: &T) {}
        send(&svc.call(1));
    }

    fn send_clone<T: Send + Clone>(_: &T) {}
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}

    #[test]
    fn services_with_a_send_inner_are_send_and_clone() {
        let (_clock, bucket) = bucket(1);
        let calls = Calls::default();
        let rejecting = RateLimitLayer::new(bucket.clone());
        let waiting = RateLimitLayer::waiting(bucket);
        send_sync_clone(&rejecting);
        send_sync_clone(&waiting);
        let mut svc = waiting.layer(calls.service());
        send_clone(&rejecting.layer(calls.service()));
        send_clone(&svc);
        // Also while a wait is in flight.
        assert!(is_ready(&mut svc));
        resolve(svc.call(0)).unwrap();
        assert!(!is_ready(&mut svc));
        send_clone(&svc);
        let fut = svc.call(1);
        fn send<T: Send>(_: &T) {}
        send(&fut);
    }
}
