//! Runs the built `bursty` binary and checks what it prints. Most runs use
//! `--quick`: the same code on a `ManualClock`, so they take no real time
//! and every number is fixed by the flags and the seed (no machine can make
//! them come out differently). One Unix-only test sends a real SIGINT to a
//! real-time run.

use serde_json::Value;

mod support;

use support::Run;

fn run(args: &[&str]) -> Run {
    support::run(env!("CARGO_BIN_EXE_bursty"), args)
}

/// The JSON summary on the last line of a `--json` run.
fn summary(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let last = run.stdout.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

fn num(summary: &Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing from {summary}"))
}

/// The check every run must pass: each item made is consumed, dropped or
/// rejected (nothing left queued after the drain), the ledger found every
/// id exactly once, and the program agrees.
fn assert_nothing_lost(s: &Value) {
    let produced = num(s, "produced");
    assert_eq!(
        produced,
        num(s, "consumed") + num(s, "dropped") + num(s, "rejected"),
        "{s}"
    );
    assert_eq!(num(s, "queued"), 0, "{s}");
    assert_eq!((num(s, "lost"), num(s, "duplicated")), (0, 0), "{s}");
    assert_eq!(s["accounted"], true, "{s}");
    // The queue took what was not rejected.
    assert_eq!(num(s, "sent"), produced - num(s, "rejected"), "{s}");
    // A full event is a send that found the queue full: at most one per item.
    assert!(num(s, "full_events") <= produced, "{s}");
    assert!(num(s, "high_watermark") <= num(s, "capacity"), "{s}");
}

/// A progress line: `[  3.0s] produced 27/500 queue 12/100 consumed 14 ...`.
#[derive(Debug)]
struct Progress {
    produced: u64,
    queued: u64,
    consumed: u64,
    dropped: u64,
    rejected: u64,
    full_events: u64,
}

fn progress(stdout: &str) -> Vec<Progress> {
    stdout
        .lines()
        .filter(|line| line.starts_with('['))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |name: &str| -> u64 {
                let at = words.iter().position(|w| *w == name).expect(line);
                let value = words[at + 1].split('/').next().expect(line);
                value.parse().expect(line)
            };
            Progress {
                produced: after("produced"),
                queued: after("queue"),
                consumed: after("consumed"),
                dropped: after("dropped"),
                rejected: after("rejected"),
                full_events: after("full_events"),
            }
        })
        .collect()
}

#[test]
fn the_default_scenario_loses_nothing() {
    let run = run(&["--plain", "--quick", "--json", "--seed", "1"]);
    let s = summary(&run);
    assert_nothing_lost(&s);
    assert_eq!(num(&s, "items"), 500);
    assert_eq!(num(&s, "produced"), 500, "block: every item is made");
    assert_eq!(num(&s, "consumed"), 500, "block: nothing is dropped");
    assert_eq!(num(&s, "capacity"), 100);
    assert_eq!(s["policy"], "block");
    assert_eq!(s["clock"], "virtual");
    assert_eq!(s["stopped_early"], false);
    assert!(num(&s, "pauses") > 0, "{s}");
    // The default consumer keeps up on average: the queue of 100 absorbs
    // this seed's bursts without filling, which the advice says.
    assert_eq!(num(&s, "full_events"), 0, "{s}");
    assert!(num(&s, "high_watermark") > 1, "{s}");
    assert!(
        s["advice"].as_str().unwrap().contains("never filled"),
        "{s}"
    );

    // The progress lines (one per virtual second) add up too: what was made
    // is consumed, queued, dropped, rejected, or in flight (at most one item
    // in the producer's hands and one in the consumer's).
    let lines = progress(&run.stdout);
    assert!(lines.len() >= 50, "{}", run.stdout);
    for (line, next) in lines.iter().zip(lines.iter().skip(1)) {
        let accounted = line.consumed + line.queued + line.dropped + line.rejected;
        assert!(
            line.produced >= accounted && line.produced - accounted <= 2,
            "{line:?}"
        );
        assert!(next.produced >= line.produced && next.consumed >= line.consumed);
        assert!(next.full_events >= line.full_events);
    }
}

#[test]
fn a_seed_repeats_a_run_exactly() {
    let args = ["--quick", "--json", "--seed", "7", "--capacity", "30"];
    let (first, second) = (summary(&run(&args)), summary(&run(&args)));
    assert_eq!(first, second);
    assert_nothing_lost(&first);
    // 30 slots are too few for this seed's bursts, though the consumer keeps
    // up on average: the queue fills, and the advice names the fix.
    assert!(num(&first, "full_events") > 0, "{first}");
    let advice = first["advice"].as_str().unwrap();
    assert!(
        advice.contains("was full") && advice.contains("a larger queue"),
        "{first}"
    );
    let other = summary(&run(&[
        "--quick",
        "--json",
        "--seed",
        "8",
        "--capacity",
        "30",
    ]));
    assert_ne!(first["elapsed_ms"], other["elapsed_ms"]);
}

#[test]
fn a_small_queue_fills_and_blocks_the_producer() {
    // No pauses: 20 ms per item in, 100 ms per item out, 10 slots. The
    // queue must fill, whatever the seed and however slow the machine.
    let s = summary(&run(&[
        "--quick",
        "--json",
        "--items",
        "100",
        "--pause-probability",
        "0",
        "--capacity",
        "10",
    ]));
    assert_nothing_lost(&s);
    assert_eq!(num(&s, "produced"), 100);
    assert!(num(&s, "full_events") > 0, "{s}");
    assert_eq!(num(&s, "high_watermark"), 10, "{s}");
    assert!(num(&s, "blocked_ms") > 0, "{s}");
    // The consumer sets the pace: the first item at 20 ms, then 100 ms each.
    assert_eq!(num(&s, "elapsed_ms"), 20 + 100 * 100, "{s}");
    // Without pauses the consumer is slower than the producer on average:
    // the advice says no queue size would do.
    assert!(
        s["advice"].as_str().unwrap().contains("no size is enough"),
        "{s}"
    );
}

#[test]
fn drop_policies_lose_items_on_purpose_and_count_them() {
    for policy in ["drop-oldest", "drop-newest", "reject"] {
        let s = summary(&run(&[
            "--quick",
            "--json",
            "--seed",
            "1",
            "--items",
            "200",
            "--pause-probability",
            "0",
            "--capacity",
            "10",
            "--policy",
            policy,
        ]));
        assert_nothing_lost(&s);
        assert_eq!(s["policy"], policy);
        assert_eq!(
            num(&s, "produced"),
            200,
            "{policy}: the producer never waits"
        );
        let shed = num(&s, "dropped") + num(&s, "rejected");
        assert!(shed > 0, "{s}");
        // Under these policies each full event costs exactly one item.
        assert_eq!(num(&s, "full_events"), shed, "{s}");
        assert_eq!(num(&s, "blocked_ms"), 0, "{s}");
        assert_eq!(num(&s, "rejected") > 0, policy == "reject", "{s}");
    }
}

#[test]
fn the_text_summary_shows_the_check() {
    let run = run(&["--quick", "--seed", "1", "--items", "50"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("bursty: 50 items"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("lost            0 (produced 50 = consumed 50 + dropped 0 + rejected 0 + queued 0: adds up)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().last().unwrap().starts_with("advice: "),
        "{}",
        run.stdout
    );
}

#[test]
fn without_a_terminal_it_prints_lines() {
    // Real time, but no waiting: stdout is a pipe, so no live view.
    let run = run(&[
        "--items",
        "20",
        "--interval-ms",
        "0",
        "--consume-ms",
        "0",
        "--pause-probability",
        "0",
        "--json",
    ]);
    let s = summary(&run);
    assert!(run.stdout.starts_with("bursty: 20 items"), "{}", run.stdout);
    assert!(run.stdout.contains("; real time"), "{}", run.stdout);
    assert_eq!(s["clock"], "real");
    assert_eq!(num(&s, "produced"), 20);
    assert_nothing_lost(&s);
}

#[test]
fn bad_flags_exit_with_code_2() {
    support::assert_usage_errors(
        env!("CARGO_BIN_EXE_bursty"),
        &["--quick"],
        &[
            (&["--capacity", "0"], "capacity must be at least 1"),
            (&["--pause-probability", "1.5"], "--pause-probability"),
            (&["--items", "0"], "--items"),
            (&["--policy", "sometimes"], "--policy"),
            (&["--consume-ms=-1"], "--consume-ms"),
            (&["--frobnicate"], "--frobnicate"),
        ],
    );
}

#[test]
fn help_lists_the_flags() {
    support::assert_help_lists(
        env!("CARGO_BIN_EXE_bursty"),
        &[
            "--items",
            "--interval-ms",
            "--pause-ms",
            "--pause-probability",
            "--consume-ms",
            "--capacity",
            "--policy",
            "--seed",
            "--plain",
            "--quick",
            "--json",
            "--report-ms",
        ],
    );
}

/// A real-time run that would take minutes, stopped with `signal` once it
/// has printed a progress line: it stops producing, drains, and its summary
/// still adds up.
fn stop_with(signal: &str) {
    let (_, run) = support::signal_when(
        env!("CARGO_BIN_EXE_bursty"),
        &[
            "--plain",
            "--json",
            "--items",
            "100000",
            "--interval-ms",
            "1",
            "--consume-ms",
            "2",
            "--pause-probability",
            "0",
            "--capacity",
            "20",
            "--report-ms",
            "20",
        ],
        signal,
        |line| line.starts_with('['),
    );
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let s = summary(&run);
    assert_eq!(s["stopped_early"], true, "{s}");
    assert!(num(&s, "produced") < 100_000, "{s}");
    assert_nothing_lost(&s);
}

#[test]
fn ctrl_c_stops_drains_and_still_adds_up() {
    stop_with("INT");
}

/// `kill` (SIGTERM) is a stop request too: without a handler it would end
/// the process at once, with no summary and, in the live view, the
/// terminal left in raw mode on the alternate screen.
#[test]
fn sigterm_stops_drains_and_still_adds_up() {
    stop_with("TERM");
}

/// `bursty | head -1`: a closed stdout makes printing the summary fail,
/// which is said on stderr and exits 1, rather than a panic (code 101) at
/// the first line or progress line.
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    for json in [&[][..], &["--json"]] {
        let mut args = vec!["--quick", "--seed", "1", "--items", "50"];
        args.extend_from_slice(json);
        support::assert_closed_stdout_fails(
            env!("CARGO_BIN_EXE_bursty"),
            &args,
            1,
            "error: cannot print the summary",
        );
    }
}
