//! `retry_flaky`: retrying a flaky service with sluicegate's retry.
//!
//! A simulated service (in this file) fails with a *transient* error for its
//! first N calls and then answers; with `--permanent` it rejects every call
//! with a *permanent* error instead. The client calls it through
//! `sluicegate::retry` with an exponential policy and full jitter, on tokio,
//! sleeping with `sluicegate::rt::TokioSleeper`. It shows:
//!
//! - the policy, printed before the first call;
//! - each failed attempt and the jittered delay before the next one, from
//!   the retry's `.notify` hook;
//! - classification with `.when(|e| e.is_transient())`: a transient error is
//!   retried, a permanent one ends the retry at once;
//! - the outcome from `.report()`: success with its attempt count, or why
//!   the retry gave up (attempts exhausted, permanent error).
//!
//! Run it:
//!
//! ```text
//! cargo run --release -p sluicegate-examples --bin retry_flaky
//! cargo run --release -p sluicegate-examples --bin retry_flaky -- --failures 10 --max-attempts 4
//! cargo run --release -p sluicegate-examples --bin retry_flaky -- --permanent
//! cargo run --release -p sluicegate-examples --bin retry_flaky -- --help
//! ```
//!
//! Exit code: 0 on success, 1 when the retry gave up, 2 on a bad command
//! line. The default run waits about 0.35 s on average (at most 0.7 s).
#![expect(
    clippy::print_stderr,
    reason = "a command-line tool reports usage errors on stderr"
)]

use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sluicegate::retry::{Jitter, Policy, PolicyError, Report, RetryError};
use sluicegate::rt::TokioSleeper;
use sluicegate_examples::report::{print_line, print_text};

const USAGE: &str = "\
retry_flaky: retry a simulated flaky service with sluicegate's retry

USAGE:
    retry_flaky [OPTIONS]

OPTIONS:
    --failures N        transient failures before the service answers [default: 3]
    --base-ms N         first retry delay in milliseconds, doubling per retry,
                        capped at 10x, full jitter; 0 retries without waiting [default: 100]
    --max-attempts N    most attempts, the first call included (at least 1) [default: 6]
    --seed N            seed the jitter, for reproducible delays [default: random]
    --permanent         the service rejects every call with a permanent error
    -h, --help          print this help
";

/// The command line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    failures: u32,
    base_ms: u64,
    max_attempts: u32,
    seed: Option<u64>,
    permanent: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            failures: 3,
            base_ms: 100,
            max_attempts: 6,
            seed: None,
            permanent: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name. Accepts `--flag value` and
/// `--flag=value`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |what: &str| {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value ({what})"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--failures" => options.failures = parse_number(&flag, &value("a count")?)?,
            "--base-ms" => options.base_ms = parse_number(&flag, &value("milliseconds")?)?,
            "--max-attempts" => {
                options.max_attempts = parse_number(&flag, &value("a count")?)?;
            }
            "--seed" => options.seed = Some(parse_number(&flag, &value("a number")?)?),
            "--permanent" => {
                if inline_value.is_some() {
                    return Err(format!("{flag} takes no value"));
                }
                options.permanent = true;
            }
            _ => return Err(format!("unknown argument '{flag}'")),
        }
    }
    Ok(Command::Run(options))
}

fn parse_number<T>(flag: &str, value: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    value.parse().map_err(|error: T::Err| {
        format!("invalid value '{value}' for {flag}: expected a non-negative integer ({error})")
    })
}

/// The policy the command line describes: exponential from `--base-ms`,
/// doubling, capped at 10x the base, full jitter. A zero base means "retry
/// without waiting", which an exponential policy rejects (it could never
/// grow), so that case is a constant policy of zero.
fn build_policy(options: &Options) -> Result<Policy, PolicyError> {
    let base = Duration::from_millis(options.base_ms);
    let builder = if base.is_zero() {
        Policy::constant(Duration::ZERO)
    } else {
        Policy::exponential(base)
            .factor(2.0)
            .max_delay(base.saturating_mul(10))
    };
    let builder = builder
        .jitter(Jitter::Full)
        .max_attempts(options.max_attempts);
    match options.seed {
        Some(seed) => builder.seed(seed).build(),
        None => builder.build(),
    }
}

/// One line describing a policy, from its getters.
fn describe(policy: &Policy) -> String {
    let mut text = if policy.factor() > 1.0 {
        format!(
            "exponential backoff from {}, factor {}, cap {}",
            Millis(policy.base()),
            policy.factor(),
            Millis(policy.max_delay()),
        )
    } else {
        format!("constant backoff of {}", Millis(policy.base()))
    };
    let jitter = match policy.jitter() {
        Jitter::None => "no jitter",
        Jitter::Full => "full jitter",
        Jitter::Equal => "equal jitter",
        Jitter::Decorrelated => "decorrelated jitter",
        _ => "jitter",
    };
    text.push_str(&format!(", {jitter}"));
    match policy.max_attempts() {
        Some(n) => text.push_str(&format!(", at most {}", attempts(n))),
        None => text.push_str(", unlimited attempts"),
    }
    match policy.seed() {
        Some(seed) => text.push_str(&format!(", seed {seed}")),
        None => text.push_str(", random seed"),
    }
    text
}

/// A duration in whole milliseconds: `87ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0.as_millis())
    }
}

/// `1 attempt`, `4 attempts`.
fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

/// The simulated service's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceError {
    /// Overloaded or restarting: worth another try.
    Unavailable,
    /// The request itself is refused: retrying cannot help.
    Rejected,
}

impl ServiceError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable => f.write_str("service unavailable (transient)"),
            Self::Rejected => f.write_str("request rejected (permanent)"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// A service that fails transiently for its first `failures` calls, or
/// permanently for all of them.
#[derive(Debug)]
struct FlakyService {
    calls: AtomicU32,
    failures: u32,
    permanent: bool,
}

impl FlakyService {
    fn new(failures: u32, permanent: bool) -> Self {
        Self {
            calls: AtomicU32::new(0),
            failures,
            permanent,
        }
    }

    /// One request. Answers with the number of the call that succeeded.
    async fn call(&self) -> Result<String, ServiceError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.permanent {
            Err(ServiceError::Rejected)
        } else if n <= self.failures {
            Err(ServiceError::Unavailable)
        } else {
            Ok(format!("pong from call {n}"))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            let _ = print_text(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\nRun with --help for the options.");
            return ExitCode::from(2);
        }
    };
    let policy = match build_policy(&options) {
        Ok(policy) => policy,
        Err(error) => {
            eprintln!("error: invalid policy: {error}");
            return ExitCode::from(2);
        }
    };

    print_line(&format!("policy: {}", describe(&policy)));
    if options.permanent {
        print_line("service: rejects every call (permanent error)");
    } else if options.failures == 0 {
        print_line("service: answers every call");
    } else {
        print_line(&format!(
            "service: fails {} with a transient error, then answers",
            match options.failures {
                1 => "once".to_owned(),
                n => format!("{n} times"),
            }
        ));
    }

    let service = FlakyService::new(options.failures, options.permanent);
    let start = Instant::now();
    let Report {
        result,
        attempts: n,
        ..
    } = policy
        .retry(|| service.call())
        .sleep(TokioSleeper)
        .when(|e| e.is_transient())
        .notify(|error, attempt, delay| {
            print_line(&format!(
                "attempt {attempt} failed: {error}; retrying in {}",
                Millis(delay)
            ));
        })
        .report()
        .await;
    let elapsed = Millis(start.elapsed());

    match result {
        Ok(answer) => {
            print_line(&format!(
                "succeeded after {} in {elapsed}: {answer}",
                attempts(n)
            ));
            ExitCode::SUCCESS
        }
        Err(error) => {
            let why = match &error {
                RetryError::Permanent { .. } => "permanent error",
                RetryError::Exhausted { .. } => "gave up",
                RetryError::DeadlineExceeded { .. } => "deadline reached",
                RetryError::Cancelled { .. } => "cancelled",
                _ => "failed",
            };
            print_line(&format!(
                "{why} after {} in {elapsed}: {}",
                attempts(error.attempts()),
                error.last_error()
            ));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(&[]), Ok(Command::Run(Options::default())));
    }

    #[test]
    fn every_flag_in_both_spellings() {
        let expected = Options {
            failures: 10,
            base_ms: 0,
            max_attempts: 4,
            seed: Some(42),
            permanent: true,
        };
        let spaced = [
            "--failures",
            "10",
            "--base-ms",
            "0",
            "--max-attempts",
            "4",
            "--seed",
            "42",
            "--permanent",
        ];
        assert_eq!(parse(&spaced), Ok(Command::Run(expected.clone())));
        let joined = [
            "--failures=10",
            "--base-ms=0",
            "--max-attempts=4",
            "--seed=42",
            "--permanent",
        ];
        assert_eq!(parse(&joined), Ok(Command::Run(expected)));
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["--failures", "2", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--failures", "many"],
                "invalid value 'many' for --failures",
            ),
            (&["--base-ms", "-5"], "invalid value '-5' for --base-ms"),
            (&["--max-attempts"], "--max-attempts needs a value"),
            (&["--seed="], "invalid value '' for --seed"),
            (&["--permanent=yes"], "--permanent takes no value"),
            (&["--fast"], "unknown argument '--fast'"),
            (&["extra"], "unknown argument 'extra'"),
        ];
        for (args, message) in cases {
            let error = parse(args).expect_err(message);
            assert!(error.contains(message), "{args:?}: {error}");
        }
    }

    #[test]
    fn zero_attempts_is_a_policy_error() {
        let options = Options {
            max_attempts: 0,
            ..Options::default()
        };
        assert_eq!(build_policy(&options), Err(PolicyError::ZeroAttempts));
    }

    #[test]
    fn policy_description() {
        let options = Options {
            seed: Some(7),
            ..Options::default()
        };
        let policy = build_policy(&options).unwrap();
        assert_eq!(
            describe(&policy),
            "exponential backoff from 100ms, factor 2, cap 1000ms, full jitter, \
             at most 6 attempts, seed 7"
        );
        let zero = build_policy(&Options {
            base_ms: 0,
            ..Options::default()
        })
        .unwrap();
        assert_eq!(
            describe(&zero),
            "constant backoff of 0ms, full jitter, at most 6 attempts, random seed"
        );
    }
}
