//! Queue throughput, sluicegate-backpressure against raw async-channel,
//! interleaved: the A/B that the "≤ 5% over async-channel" target of the
//! backpressure crate is judged on.
//!
//! ```sh
//! cargo run --release -p sluicegate-benches --bin queue_ab -- \
//!     [--rounds R] [--n N] [--n1 N1] [--caps 1,64,1024] [--a IMPL] [ROW_FILTER..]
//! cargo run --release -p sluicegate-benches --bin queue_ab -- --rounds 25 mpsc mpmc
//! ```
//!
//! - rows: executor × shape × capacity, named `<executor>_<shape>_cap<N>`
//!   as the criterion groups `backpressure/<row>`: executor `tokio` (a
//!   multi-thread runtime, 2 workers) or `smol` (a `smol::Executor` on 2
//!   threads), shape `spsc` (1 producer, 1 consumer), `mpsc` (4 × 1) or
//!   `mpmc` (4 × 4), capacity 1, 64 or 1024: 18 rows. `ROW_FILTER`s
//!   (substrings, any of which selects a row: `tokio_spsc`, `smol_mpmc`,
//!   `mpsc_cap64`...) keep some; none keeps all.
//! - `--caps 1,64`: only these capacities (a substring `cap1` would also
//!   match `cap1024`).
//! - `--rounds R` (default 15): each round runs A and async_channel once
//!   each, on the same executor, A first in even rounds and async_channel
//!   first in odd ones, after one unmeasured warm-up round per row.
//! - `--n N` (default 1,000,000) messages per run at capacity 64 and 1024,
//!   `--n1 N1` (default 200,000) at capacity 1 (every message waits there,
//!   ~5-10x slower per message). Defaults: the 18 rows take ~1-4 minutes
//!   on 2 cores, depending on load.
//! - `--a IMPL`: the A side, `sluicegate` (default: the default settings,
//!   `Stats::blocked` timed on the system clock) or `sluicegate_untimed`
//!   (built with `.time_blocked(false)`).
//!
//! Every run checks that exactly the messages sent arrived, with the right
//! sum (`queue_rows::Exec::checked`, shared with the criterion bench
//! `backpressure`, which builds the same rows).
//!
//! Per row it prints a markdown table row: the median (and min) ns/message
//! of A and of async_channel, the median of the per-round ratios
//! A ÷ async_channel (the figure of record: both halves of a round ran back
//! to back on the same runtime, so slow phases of a loaded machine hit
//! both), their interquartile range and their min..max, and the ratio of
//! the two minimums (each side's least disturbed run, a second view on a
//! loaded machine). Quantiles interpolate between ranks (the median of an
//! even number of rounds is the mean of the middle two). A row "flipping" between runs in criterion (which runs
//! one implementation after the other) shows here as a wide range.

use std::process::ExitCode;
use std::time::Duration;

use sluicegate_benches::queue_rows::{
    AsyncChannel, CAPACITIES, Exec, Queue, RowConfig, SHAPES, Shape, Sluicegate, Timed, Untimed,
};

/// The command line.
struct Args {
    rounds: usize,
    n: u64,
    n1: u64,
    untimed: bool,
    caps: Vec<usize>,
    filters: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rounds: 15,
        n: 1_000_000,
        n1: 200_000,
        untimed: false,
        caps: CAPACITIES.to_vec(),
        filters: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--rounds" => {
                args.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
            }
            "--n" => args.n = value("--n")?.parse().map_err(|e| format!("--n: {e}"))?,
            "--n1" => args.n1 = value("--n1")?.parse().map_err(|e| format!("--n1: {e}"))?,
            "--caps" => {
                args.caps = value("--caps")?
                    .split(',')
                    .map(|c| c.parse().map_err(|e| format!("--caps: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--a" => match value("--a")?.as_str() {
                "sluicegate" => args.untimed = false,
                "sluicegate_untimed" => args.untimed = true,
                other => {
                    return Err(format!(
                        "--a: sluicegate or sluicegate_untimed, not {other}"
                    ));
                }
            },
            "-h" | "--help" => return Err(String::new()),
            filter if !filter.starts_with('-') => args.filters.push(filter.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.rounds == 0 {
        return Err("--rounds must be at least 1".to_owned());
    }
    if args.caps.contains(&0) {
        return Err("--caps: a capacity is at least 1".to_owned());
    }
    Ok(args)
}

/// The `q`-quantile (0..=1) of sorted, non-empty `v`, interpolated
/// between the two nearest ranks: the median of an even count is the mean
/// of the middle two.
fn quantile(v: &[f64], q: f64) -> f64 {
    // Indices of a short vector: no precision concern.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let (pos, lo) = {
        let pos = (v.len() - 1) as f64 * q;
        (pos, pos.floor() as usize)
    };
    let hi = (lo + 1).min(v.len() - 1);
    #[allow(clippy::cast_precision_loss)]
    let frac = pos - lo as f64;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// `v`, sorted.
fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// ns per message of one checked run.
fn ns_per_msg<Q: Queue>(exec: &Exec, shape: Shape, capacity: usize, n: u64) -> f64 {
    let elapsed: Duration = exec.checked::<Q>(shape, capacity, n);
    // A printed figure.
    #[allow(clippy::cast_precision_loss)]
    let per = elapsed.as_nanos() as f64 / n.max(1) as f64;
    per
}

/// One row: `rounds` interleaved rounds of `A` and async_channel.
fn row<A: Queue>(exec: &Exec, shape: Shape, capacity: usize, n: u64, rounds: usize) {
    let name = format!("{}_{}_cap{capacity}", exec.name(), shape.name);
    // Warm-up: the runtime's threads, the allocator, the caches.
    ns_per_msg::<A>(exec, shape, capacity, n / 4);
    ns_per_msg::<AsyncChannel>(exec, shape, capacity, n / 4);
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = ns_per_msg::<A>(exec, shape, capacity, n);
            (ta, ns_per_msg::<AsyncChannel>(exec, shape, capacity, n))
        } else {
            let tb = ns_per_msg::<AsyncChannel>(exec, shape, capacity, n);
            (ns_per_msg::<A>(exec, shape, capacity, n), tb)
        };
        a.push(ta);
        b.push(tb);
        ratios.push(ta / tb);
    }
    let (a, b, r) = (sorted(a), sorted(b), sorted(ratios));
    println!(
        "| {name} | {:.1} ({:.1}) | {:.1} ({:.1}) | **{:.3}** | {:.3}..{:.3} | {:.3}..{:.3} | {:.3} |",
        quantile(&a, 0.5),
        a[0],
        quantile(&b, 0.5),
        b[0],
        quantile(&r, 0.5),
        quantile(&r, 0.25),
        quantile(&r, 0.75),
        r[0],
        r[r.len() - 1],
        a[0] / b[0],
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                println!("queue_ab: {e}");
            }
            println!(
                "usage: queue_ab [--rounds R] [--n N] [--n1 N1] [--caps 1,64,1024] \
                 [--a sluicegate|sluicegate_untimed] [ROW_FILTER..]"
            );
            return ExitCode::FAILURE;
        }
    };
    let a_name = if args.untimed {
        Untimed::NAME
    } else {
        Timed::NAME
    };
    println!(
        "rounds {}, n {} (capacity 1: {}); A = {a_name}, B = async_channel",
        args.rounds, args.n, args.n1
    );
    println!(
        "| row | A ns/msg median (min) | async_channel ns/msg median (min) | A ÷ ac, median of rounds | IQR | min..max | min ÷ min |"
    );
    println!("|---|---|---|---|---|---|---|");
    for exec in [Exec::tokio(), Exec::smol()] {
        for shape in SHAPES {
            for &capacity in &args.caps {
                let name = format!("{}_{}_cap{capacity}", exec.name(), shape.name);
                if !args.filters.is_empty()
                    && !args.filters.iter().any(|f| name.contains(f.as_str()))
                {
                    continue;
                }
                let n = if capacity == 1 { args.n1 } else { args.n };
                if args.untimed {
                    row::<Sluicegate<Untimed>>(&exec, shape, capacity, n, args.rounds);
                } else {
                    row::<Sluicegate<Timed>>(&exec, shape, capacity, n, args.rounds);
                }
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate_between_ranks() {
        assert_eq!(quantile(&[2.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 10.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 4.0, 10.0], 0.5), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 4.0, 10.0], 0.0), 1.0);
        assert_eq!(quantile(&[1.0, 2.0, 4.0, 10.0], 1.0), 10.0);
        assert_eq!(quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.25), 1.0);
        assert_eq!(quantile(&[0.0, 4.0], 0.25), 1.0);
    }
}
