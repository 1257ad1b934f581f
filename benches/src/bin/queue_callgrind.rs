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
//! - `n`: messages, split between the producers in contiguous ranges
//!   (100000 is plenty: the fixed cost of starting the process is below 1%
//!   of it);
//! - `executor`: `tokio` (a current-thread runtime, the default) or `smol`
//!   (a `smol::LocalExecutor` under `futures_lite::future::block_on`).
//!
//! The queue, its producers and its consumers are the very tasks the
//! criterion bench and `queue_ab` run (`queue_rows::Transfer`), here
//! spawned on one thread. Everything runs on one thread, so the instruction count is the same on
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

use std::process::ExitCode;
use std::time::Instant;

use sluicegate_benches::queue_rows::{
    AsyncChannel, Queue, SHAPES, Sluicegate, Tally, Timed, Transfer, Untimed, gather,
};

/// Runs the transfer to completion on `executor` (single-threaded); what
/// its consumers received.
fn run<Q: Queue>(executor: &str, transfer: Transfer<Q>) -> Tally {
    let Transfer {
        consumers,
        producers,
        ..
    } = transfer;
    match executor {
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a tokio runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async {
                let consumers: Vec<_> = consumers
                    .into_iter()
                    .map(tokio::task::spawn_local)
                    .collect();
                let producers: Vec<_> = producers
                    .into_iter()
                    .map(tokio::task::spawn_local)
                    .collect();
                gather(
                    producers
                        .into_iter()
                        .map(|p| async { p.await.expect("producer completes") }),
                    consumers
                        .into_iter()
                        .map(|c| async { c.await.expect("consumer completes") }),
                )
                .await
            })
        }
        "smol" => {
            let ex = smol::LocalExecutor::new();
            futures_lite::future::block_on(ex.run(async {
                let consumers: Vec<_> = consumers.into_iter().map(|c| ex.spawn(c)).collect();
                let producers: Vec<_> = producers.into_iter().map(|p| ex.spawn(p)).collect();
                gather(producers, consumers).await
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
    let Some(shape) = SHAPES.into_iter().find(|s| s.name == args[2]) else {
        panic!("unknown shape {:?}: spsc, mpsc or mpmc", args[2]);
    };
    let capacity: usize = args[3].parse().expect("capacity: a number");
    let n: u64 = args[4].parse().expect("n: a number");
    let executor = args.get(5).map_or("tokio", String::as_str);

    let start = Instant::now();
    let got = match imp {
        "sluicegate" => run(
            executor,
            Transfer::<Sluicegate<Timed>>::new(shape, capacity, n),
        ),
        // No clock read per wait for `Stats::blocked`: it isolates what
        // that statistic costs from what the rest of the wrapper costs.
        "sluicegate_untimed" => run(
            executor,
            Transfer::<Sluicegate<Untimed>>::new(shape, capacity, n),
        ),
        "async_channel" => run(executor, Transfer::<AsyncChannel>::new(shape, capacity, n)),
        other => panic!("unknown impl {other:?}: sluicegate, sluicegate_untimed or async_channel"),
    };
    let elapsed = start.elapsed();
    assert_eq!(
        got,
        Tally::expected(n),
        "every message arrives exactly once"
    );
    let shape = shape.name;
    #[allow(clippy::cast_precision_loss)] // a printed ratio
    let per_message = elapsed.as_nanos() as f64 / n.max(1) as f64;
    println!("{imp} {executor} {shape} cap{capacity} n={n}: {per_message:.1} ns/msg (wall)");
    ExitCode::SUCCESS
}
