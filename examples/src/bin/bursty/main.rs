//! `bursty`: a bursty producer against a slower steady consumer over a
//! bounded queue of 100 (`sluicegate::backpressure`).
//!
//! The producer makes an item every 20 ms, with a 1 s pause before an item
//! at probability 0.1 (seeded); the consumer works 100 ms on each item:
//! slower than a burst, a little faster than the producer's average of
//! 120 ms per item. The queue absorbs the bursts; its full-event count and
//! high watermark say whether 100 slots is the right size; and every item is
//! accounted for: `produced == consumed + dropped + rejected` once drained,
//! checked item by item.
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin bursty                  # live view
//! cargo run --release -p sluicegate-examples --bin bursty -- --plain       # lines, for logs
//! cargo run --release -p sluicegate-examples --bin bursty -- --capacity 20 --policy drop-oldest
//! cargo run --release -p sluicegate-examples --bin bursty -- --quick --json --seed 1
//! ```
//!
//! `--quick` runs the same code on a `ManualClock`: virtual time, so the run
//! takes no real time and a seed repeats it exactly. Exit code: 0 when every
//! item is accounted for, 1 if not (a bug), 2 on a bad command line.
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors and interruptions on stderr"
)]

mod cli;
mod live;
mod report;
mod schedule;
mod sim;
mod state;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use clap::Parser;
use sluicegate::backpressure::{self, ConfigError};
use sluicegate::rt::{ManualClock, TokioClock, TokioSleeper};
use sluicegate_examples::report::{exit_code, print_line, print_summary};
use sluicegate_examples::signal::Interrupts;

use crate::cli::{Args, Plan};
use crate::report::{ClockKind, Summary};
use crate::schedule::BurstSchedule;
use crate::sim::Run;
use crate::state::{Interrupt, Shared};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let plan = Plan::new(&args, seed_from_clock());
    let schedule = match BurstSchedule::new(plan.seed, plan.pause_probability) {
        Ok(schedule) => schedule,
        Err(error) => return usage_error(&format!("invalid --pause-probability: {error}")),
    };
    let shared = Arc::new(Shared::new(plan.items));
    let ledger = Arc::clone(&shared);
    let queue = backpressure::builder::<u64>(plan.capacity)
        .policy(plan.policy.overflow())
        .on_drop(move |id, _reason| ledger.ledger.mark(id));

    let outcome = if args.quick {
        let clock = ManualClock::new();
        let (tx, rx) = match queue.timer(clock.clone()).build() {
            Ok(pair) => pair,
            Err(error) => return bad_queue(error),
        };
        let interrupts = listen_for_interrupts(Arc::clone(&shared), true);
        print_header(&plan, "virtual time (--quick): the same run, simulated");
        let probe = rx.clone();
        let run = Run {
            plan: plan.clone(),
            schedule,
            shared: Arc::clone(&shared),
            clock: clock.clone(),
            sleeper: clock.clone(),
            report: true,
        };
        // block_on keeps its thread busy: give it one of its own.
        let task = tokio::task::spawn_blocking(move || clock.block_on(run.simulate(tx, rx)));
        let result = task.await;
        interrupts.abort();
        result.map(|elapsed| (elapsed, probe, ClockKind::Virtual))
    } else {
        let (tx, rx) = match queue.clock(TokioClock).sleeper(TokioSleeper).build() {
            Ok(pair) => pair,
            Err(error) => return bad_queue(error),
        };
        // The live view needs a terminal; without one, print lines.
        let mut terminal = None;
        if !args.plain && std::io::stdout().is_terminal() {
            match live::init() {
                Ok(t) => terminal = Some(t),
                Err(error) => eprintln!("no live view ({error}); printing lines instead"),
            }
        }
        let live = terminal.is_some();
        let interrupts = listen_for_interrupts(Arc::clone(&shared), !live);
        if !live {
            print_header(&plan, "real time");
        }
        let probe = rx.clone();
        let run = Run {
            plan: plan.clone(),
            schedule,
            shared: Arc::clone(&shared),
            clock: TokioClock,
            sleeper: TokioSleeper,
            report: !live,
        };
        let simulation = tokio::spawn(run.simulate(tx, rx));
        let view = terminal.map(|terminal| {
            let (plan, shared, probe) = (plan.clone(), Arc::clone(&shared), probe.clone());
            tokio::task::spawn_blocking(move || live::run(terminal, &plan, &shared, &probe))
        });
        let result = simulation.await;
        // Ends the view even if the simulation panicked.
        shared.done.set();
        if let Some(view) = view {
            match view.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("the live view failed: {error}"),
                Err(_) => eprintln!("the live view panicked"),
            }
        }
        interrupts.abort();
        result.map(|elapsed| (elapsed, probe, ClockKind::Real))
    };

    let (elapsed, probe, clock) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: the run failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let summary = Summary::new(&plan, &shared, &probe.stats(), elapsed, clock);
    let printed = print_summary(args.json, &summary, || summary.to_text());
    exit_code(printed, if summary.accounted { 0 } else { 1 }, 1)
}

fn print_header(plan: &Plan, clock: &str) {
    print_line(&format!("bursty: {}; {clock}", plan.describe()));
    print_line(&plan.describe_rates());
}

/// A seed for runs without `--seed`: short enough to type back in.
fn seed_from_clock() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 100_000)
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\nFor more information, try '--help'.");
    ExitCode::from(2)
}

fn bad_queue(error: ConfigError) -> ExitCode {
    usage_error(&format!("invalid value for '--capacity': {error}"))
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM: the first stops the producer
/// so the run drains and prints its summary, the second drains without
/// the consumer's work. The handlers are installed before this returns, so
/// no signal sent after the run starts is missed. In the live view, raw
/// mode turns Ctrl-C into a key, which the view handles the same way; a
/// SIGTERM (`kill`) ends the view the same way too, so the terminal is
/// restored rather than left in raw mode.
fn listen_for_interrupts(shared: Arc<Shared>, say: bool) -> tokio::task::JoinHandle<()> {
    let interrupts = Interrupts::new(true);
    tokio::spawn(async move {
        // Without handlers the default applies: a signal ends the process.
        let Ok(mut interrupts) = interrupts else {
            return;
        };
        while interrupts.next().await.is_some() {
            match (shared.interrupt(), say) {
                (Interrupt::Stop, true) => eprintln!(
                    "interrupted: the producer stops and the consumer drains the queue \
                     (Ctrl-C again to drain without the work)"
                ),
                (Interrupt::Hurry, true) => {
                    eprintln!("interrupted again: draining without the work")
                }
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_seeds_are_short() {
        assert!(seed_from_clock() < 100_000);
    }
}
