//! Batching against a reference model, for random arrival times, sizes and
//! waits, in virtual time: the same batches, closed at the same instants,
//! in both timer modes; every item exactly once, in order; none empty.

mod support;

use futures_lite::StreamExt;
use proptest::prelude::*;
use sluicegate_pipeline::{Batch, TimerMode, batch};
use sluicegate_rt::ManualClock;
use support::{ms, timed};

type Emitted = Vec<(u64, Vec<u64>)>;

/// What the batcher must do: items (their arrival times, sorted, in ms),
/// the input's end, and the settings.
fn model(arrivals: &[u64], end: u64, max: usize, wait: u64, ticks: bool) -> Emitted {
    let mut out = Vec::new();
    let mut buf: Vec<u64> = Vec::new();
    let mut deadline: Option<u64> = None;
    let mut next_tick = wait;
    let mut i = 0;
    loop {
        let t = arrivals.get(i).copied();
        let now = t.unwrap_or(end);
        // Timers that fire strictly before `now`.
        if ticks {
            while next_tick < now {
                if !buf.is_empty() {
                    out.push((next_tick, std::mem::take(&mut buf)));
                }
                next_tick += wait;
            }
        } else if let Some(d) = deadline {
            if d < now {
                out.push((d, std::mem::take(&mut buf)));
                deadline = None;
            }
        }
        let Some(t) = t else { break };
        // Every item arriving at `t` (items come before a timer due at t).
        while i < arrivals.len() && arrivals[i] == t {
            buf.push(arrivals[i]);
            i += 1;
            if buf.len() == max {
                out.push((t, std::mem::take(&mut buf)));
                deadline = None;
            }
        }
        if !ticks && !buf.is_empty() && deadline.is_none() {
            deadline = Some(t + wait);
        }
        if ticks && next_tick == t {
            if !buf.is_empty() {
                out.push((t, std::mem::take(&mut buf)));
            }
            next_tick += wait;
        }
    }
    if !buf.is_empty() {
        out.push((end, buf));
    }
    out
}

fn actual(arrivals: &[u64], end: u64, max: usize, wait: u64, ticks: bool) -> Emitted {
    let clock = ManualClock::new();
    let input = timed(
        &clock,
        arrivals.iter().map(|&t| (ms(t), t)).collect(),
        ms(end),
    );
    let mode = if ticks {
        TimerMode::FixedTicks
    } else {
        TimerMode::FromFirstItem
    };
    let cfg = Batch::size(max).max_wait(ms(wait)).timer(mode);
    let mut batches = batch(input, cfg, clock.clone()).unwrap();
    clock.block_on(async {
        let mut out = Vec::new();
        while let Some(b) = batches.next().await {
            let at = clock.elapsed();
            assert_eq!(at.subsec_nanos() % 1_000_000, 0);
            out.push((u64::try_from(at.as_millis()).unwrap(), b));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batches_match_the_model(
        mut arrivals in proptest::collection::vec(0u64..80, 0..30),
        tail in 0u64..40,
        max in 1usize..7,
        wait in 1u64..20,
        ticks in any::<bool>(),
    ) {
        arrivals.sort_unstable();
        let end = arrivals.last().copied().unwrap_or(0) + tail;
        let got = actual(&arrivals, end, max, wait, ticks);
        let want = model(&arrivals, end, max, wait, ticks);
        prop_assert_eq!(&got, &want);
        let flat: Vec<u64> = got.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        prop_assert_eq!(flat, arrivals);
        prop_assert!(got.iter().all(|(_, b)| !b.is_empty() && b.len() <= max));
    }
}

#[test]
fn the_model_agrees_with_the_issue_examples() {
    assert_eq!(model(&[0, 3, 7], 50, 100, 10, false), [(10, vec![0, 3, 7])]);
    assert_eq!(
        model(&[0, 3, 7, 15], 45, 100, 10, true),
        [(10, vec![0, 3, 7]), (20, vec![15])]
    );
}
