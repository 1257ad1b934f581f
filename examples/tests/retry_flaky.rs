//! Runs the built `retry_flaky` binary and checks what it prints, line by
//! line. `--base-ms 0` keeps every run free of real waiting.

mod support;

use support::Run;

fn run(args: &[&str]) -> Run {
    support::run(env!("CARGO_BIN_EXE_retry_flaky"), args)
}

/// A retry line: `attempt 2 failed: <error>; retrying in 87ms`.
#[derive(Debug, PartialEq)]
struct Retry {
    attempt: u32,
    error: String,
    delay_ms: u64,
}

fn retries(stdout: &str) -> Vec<Retry> {
    stdout
        .lines()
        .filter(|line| line.starts_with("attempt "))
        .map(|line| {
            let rest = line.strip_prefix("attempt ").unwrap();
            let (attempt, rest) = rest.split_once(" failed: ").expect(line);
            let (error, delay) = rest.split_once("; retrying in ").expect(line);
            Retry {
                attempt: attempt.parse().expect(line),
                error: error.to_owned(),
                delay_ms: delay.strip_suffix("ms").expect(line).parse().expect(line),
            }
        })
        .collect()
}

/// The summary, the last line: `<outcome> after <n> attempt(s) in <t>ms: <detail>`.
#[derive(Debug, PartialEq)]
struct Summary {
    outcome: String,
    attempts: u32,
    detail: String,
}

fn summary(stdout: &str) -> Summary {
    let line = stdout.lines().last().expect("some output");
    let (outcome, rest) = line.split_once(" after ").expect(line);
    let (count, rest) = rest.split_once(' ').expect(line);
    let rest = rest
        .strip_prefix("attempts in ")
        .or_else(|| rest.strip_prefix("attempt in "))
        .expect(line);
    let (elapsed, detail) = rest.split_once(": ").expect(line);
    assert!(elapsed.ends_with("ms"), "{line}");
    Summary {
        outcome: outcome.to_owned(),
        attempts: count.parse().expect(line),
        detail: detail.to_owned(),
    }
}

const TRANSIENT: &str = "service unavailable (transient)";

#[test]
fn succeeds_after_the_transient_failures() {
    let run = run(&["--failures", "3", "--base-ms", "0"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("policy: "), "{}", run.stdout);

    let retries = retries(&run.stdout);
    assert_eq!(
        retries.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        retries
            .iter()
            .all(|r| r.error == TRANSIENT && r.delay_ms == 0)
    );

    let summary = summary(&run.stdout);
    assert_eq!(summary.outcome, "succeeded");
    assert_eq!(summary.attempts, 4);
    assert_eq!(summary.detail, "pong from call 4");
}

#[test]
fn gives_up_when_the_attempts_run_out() {
    let run = run(&["--failures", "10", "--max-attempts", "4", "--base-ms", "0"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(retries(&run.stdout).len(), 3);
    assert_eq!(
        summary(&run.stdout),
        Summary {
            outcome: "gave up".to_owned(),
            attempts: 4,
            detail: TRANSIENT.to_owned(),
        }
    );
}

#[test]
fn stops_at_once_on_a_permanent_error() {
    let run = run(&["--permanent", "--base-ms", "0"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(retries(&run.stdout), []);
    assert_eq!(
        summary(&run.stdout),
        Summary {
            outcome: "permanent error".to_owned(),
            attempts: 1,
            detail: "request rejected (permanent)".to_owned(),
        }
    );
}

#[test]
fn a_seed_makes_the_delays_reproducible() {
    let args = ["--seed", "42", "--base-ms", "5", "--failures", "3"];
    let (first, second) = (run(&args), run(&args));
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let delays =
        |run: &Run| -> Vec<u64> { retries(&run.stdout).iter().map(|r| r.delay_ms).collect() };
    assert_eq!(delays(&first), delays(&second));
    // Full jitter: each delay is at most 5, 10, 20 ms.
    for (delay, cap) in delays(&first).into_iter().zip([5, 10, 20]) {
        assert!(delay <= cap, "{delay}ms > {cap}ms");
    }
}

#[test]
fn bad_flags_exit_with_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--failures", "abc"], "invalid value 'abc' for --failures"),
        (&["--base-ms"], "--base-ms needs a value"),
        (&["--max-attempts", "0"], "max_attempts must be at least 1"),
        (&["--retries", "3"], "unknown argument '--retries'"),
    ];
    for (args, message) in cases {
        let run = run(args);
        assert_eq!(run.code, Some(2), "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {}", run.stderr);
        assert!(first.contains(message), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn help_lists_the_flags() {
    support::assert_help_lists(
        env!("CARGO_BIN_EXE_retry_flaky"),
        &[
            "--failures",
            "--base-ms",
            "--max-attempts",
            "--seed",
            "--permanent",
            "--help",
        ],
    );
}

/// `retry_flaky | head -1`: its lines go nowhere, but the exit code is
/// still the retry's outcome, not a panic (code 101).
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let bin = env!("CARGO_BIN_EXE_retry_flaky");
    let ok = support::run_into_closed_pipe(bin, &["--failures", "2", "--base-ms", "0"]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let gave_up = support::run_into_closed_pipe(bin, &["--permanent", "--base-ms", "0"]);
    assert_eq!(gave_up.code, Some(1), "{}", gave_up.stderr);
    let help = support::run_into_closed_pipe(bin, &["--help"]);
    assert_eq!(help.code, Some(0), "{}", help.stderr);
}
