//! The blanket impls: plain closures and functions are clocks, sleepers and
//! spawners, with no annotation at the call site.
//!
//! One test passes `tokio::time::sleep` itself as a sleeper: the real
//! runtime's function is the point there, and it runs on a paused tokio
//! runtime, so its waits pass in tokio's virtual time and nothing waits in
//! real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluicegate_rt::{Clock, Sleeper, Spawner};

fn take_spawner(s: impl Spawner) -> impl Spawner {
    s
}
fn take_sleeper<S: Sleeper>(s: S) -> S {
    s
}
fn take_clock<C: Clock>(c: C) -> C {
    c
}

#[test]
fn tokio_spawn_closure_is_a_spawner() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let spawner = take_spawner(|f| {
            tokio::spawn(f);
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let r = Arc::clone(&ran);
        spawner.spawn(async move {
            r.fetch_add(1, Ordering::SeqCst);
            tx.send(()).unwrap();
        });
        rx.await.unwrap();
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn tokio_sleep_fn_is_a_sleeper() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        // The real runtime's `tokio::time::sleep` is what is under test (the
        // blanket impl over a plain function); the runtime's clock is paused,
        // so the 3 s below pass in tokio's virtual time, not in real time.
        let sleeper = take_sleeper(tokio::time::sleep);
        let start = tokio::time::Instant::now();
        sleeper.sleep(Duration::from_secs(3)).await; // virtual: paused clock
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    });
}

#[test]
fn instant_now_is_a_clock() {
    let clock = take_clock(Instant::now);
    let a = clock.now();
    assert!(clock.now() >= a);
}
