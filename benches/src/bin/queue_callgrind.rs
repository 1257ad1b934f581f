//! Queue throughput by instruction count: sluicegate-backpressure against
//! raw async-channel, on a single-thread executor, for callgrind.
//!
//! ```sh
//! cargo build --release -p sluicegate-benches --bin queue_callgrind
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/queue_callgrind <impl> <shape> <capacity> <n> [executor]
//! ```
//!
//! - `impl`: `sluicegate` (`bounded(capacity)`: `Overflow::Block`, the
//!   system clock; `send(..).await` / `recv().await`), `async_channel`
//!   (`bounded(capacity)`, the same calls), or `sluicegate_untimed`
//!   (sluicegate built with `.time_blocked(false)`: by default every wait
//!   for a slot reads the clock twice for `Stats::blocked`, ~25 ns a read
//!   here, and this row shows the wrapper without that cost);
//! - `shape`: `spsc` (1 producer, 1 consumer), `mpsc` (4 producers, 1
//!   consumer) or `mpmc` (4 producers, 4 consumers), the shapes of the
//!   criterion bench `backpressure`;
//! - `capacity`: the queue's slots (the bench uses 1, 64 and 1024);
//! - `n`: messages, split between the producers (100000 is plenty: the
//!   fixed cost of starting the process is below 1% of it);
//! - `executor`: `tokio` (a current-thread runtime, the default) or `smol`
//!   (a `smol::LocalExecutor` under `futures_lite::future::block_on`).
//!
//! Everything runs on one thread, so the instruction count is the same on
//! every run (the interleaving is the executor's, deterministic): callgrind's
//! `Collected` line divided by `n` is the cost per message, A/B-comparable
//! between builds to a fraction of a percent, on a loaded machine too. It
//! counts instructions, not time: a locked instruction or a cache miss
//! counts as one. Wall-clock throughput on several threads is the criterion
//! bench's job (`benches/benches/backpressure.rs`).
//!
//! The program checks that exactly `n` messages arrived with the sum
//! `0 + 1 + .. + n-1`, and prints one line: the arguments and the wall time
//! per message (meaningless under valgrind; handy without it).

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;

/// A task's future, boxed so that both executors spawn the same type.
type Task = Pin<Box<dyn Future<Output = u64> + 'static>>;

/// Producers and consumers of one run: the tasks to spawn, each resolving
/// to the sum of what it received (0 for producers).
fn tasks(imp: &str, producers: u64, consumers: usize, capacity: usize, n: u64) -> Vec<Task> {
    let mut out: Vec<Task> = Vec::new();
    match imp {
        "sluicegate" => {
            let (tx, rx) = sluicegate_backpressure::bounded::<u64>(capacity).expect("capacity > 0");
            sluicegate_tasks(&mut out, tx, rx, producers, consumers, n);
        }
        "sluicegate_untimed" => {
            // No clock read per wait for `Stats::blocked`: it isolates
            // what that statistic costs from what the rest of the wrapper
            // costs.
            let (tx, rx) = sluicegate_backpressure::builder::<u64>(capacity)
                .time_blocked(false)
                .build()
                .expect("capacity > 0");
            sluicegate_tasks(&mut out, tx, rx, producers, consumers, n);
        }
        "async_channel" => {
            let (tx, rx) = async_channel::bounded::<u64>(capacity);
            for _ in 0..consumers {
                let rx = rx.clone();
                out.push(Box::pin(async move {
                    let mut sum = 0_u64;
                    while let Ok(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                }));
            }
            for p in 0..producers {
                let tx = tx.clone();
                out.push(Box::pin(async move {
                    let mut v = p;
                    while v < n {
                        tx.send(v).await.expect("receivers alive");
                        v += producers;
                    }
                    0
                }));
            }
        }
        other => panic!("unknown impl {other:?}: sluicegate, sluicegate_untimed or async_channel"),
    }
    out
}

/// The tasks of one run on a sluicegate queue, whatever its settings.
fn sluicegate_tasks(
    out: &mut Vec<Task>,
    tx: sluicegate_backpressure::Sender<u64>,
    rx: sluicegate_backpressure::Receiver<u64>,
    producers: u64,
    consumers: usize,
    n: u64,
) {
    for _ in 0..consumers {
        let rx = rx.clone();
        out.push(Box::pin(async move {
            let mut sum = 0_u64;
            while let Some(v) = rx.recv().await {
                sum = sum.wrapping_add(v);
            }
            sum
        }));
    }
    for p in 0..producers {
        let tx = tx.clone();
        out.push(Box::pin(async move {
            let mut v = p;
            while v < n {
                tx.send(v).await.expect("receivers alive");
                v += producers;
            }
            0
        }));
    }
}

/// Runs the tasks to completion on `executor`; the sum of their outputs.
fn run(executor: &str, tasks: Vec<Task>) -> u64 {
    match executor {
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a tokio runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async {
                let handles: Vec<_> = tasks.into_iter().map(tokio::task::spawn_local).collect();
                let mut sum = 0_u64;
                for h in handles {
                    sum = sum.wrapping_add(h.await.expect("task completes"));
                }
                sum
            })
        }
        "smol" => {
            let ex = smol::LocalExecutor::new();
            futures_lite::future::block_on(ex.run(async {
                let handles: Vec<_> = tasks.into_iter().map(|t| ex.spawn(t)).collect();
                let mut sum = 0_u64;
                for h in handles {
                    sum = sum.wrapping_add(h.await);
                }
                sum
            }))
        }
        other => panic!("unknown executor {other:?}: tokio or smol"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        println!(
            "usage: queue_callgrind <sluicegate|sluicegate_untimed|async_channel> <spsc|mpsc|mpmc> <capacity> <n> [tokio|smol]"
        );
        return ExitCode::FAILURE;
    }
    let imp = args[1].as_str();
    let shape = args[2].as_str();
    let (producers, consumers) = match shape {
        "spsc" => (1, 1),
        "mpsc" => (4, 1),
        "mpmc" => (4, 4),
        other => panic!("unknown shape {other:?}: spsc, mpsc or mpmc"),
    };
    let capacity: usize = args[3].parse().expect("capacity: a number");
    let n: u64 = args[4].parse().expect("n: a number");
    let executor = args.get(5).map_or("tokio", String::as_str);

    let start = Instant::now();
    let sum = run(executor, tasks(imp, producers, consumers, capacity, n));
    let elapsed = start.elapsed();
    let expected = (0..n).fold(0_u64, u64::wrapping_add);
    assert_eq!(sum, expected, "every message arrives exactly once");
    #[allow(clippy::cast_precision_loss)] // a printed ratio
    let per_message = elapsed.as_nanos() as f64 / n.max(1) as f64;
    println!("{imp} {executor} {shape} cap{capacity} n={n}: {per_message:.1} ns/msg (wall)");
    ExitCode::SUCCESS
}
