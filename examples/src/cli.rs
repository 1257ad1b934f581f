//! What the binaries' command lines share: a clap value parser, the
//! `--quick` defaults, an unchosen seed, and the exit codes of a run that
//! could not start or finish.

use std::hash::{BuildHasher, RandomState};
use std::process::ExitCode;
use std::time::SystemTime;

/// A clap value parser for a probability (`--failure-rate`,
/// `--pause-probability`): a number from 0 to 1, both included. NaN and
/// infinities are refused.
///
/// # Errors
///
/// A message for clap when `value` is not a number or not in `[0, 1]`.
pub fn probability(value: &str) -> Result<f64, String> {
    let p: f64 = value
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{value} is not a probability in [0, 1]"))
    }
}

/// A flag's value if given, else its default for the mode: `fast` with
/// `--quick`, `full` without. Explicit flags always win over `--quick`.
pub fn pick<T>(value: Option<T>, quick: bool, full: T, fast: T) -> T {
    value.unwrap_or(if quick { fast } else { full })
}

/// A seed nobody chose, for runs without `--seed`: std's randomly keyed
/// hasher over the time (no `rand` OS-entropy feature needed). The
/// binaries print it, so a run can be repeated.
pub fn random_seed() -> u64 {
    RandomState::new().hash_one(SystemTime::now())
}

/// Why a run could not start or finish, and so its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Settings that cannot work: exit code 2, like clap's usage errors.
    Usage(String),
    /// Anything else: the binary's own failure code.
    Run(String),
}

impl Failure {
    /// Prints `error: <message>` on stderr and returns the exit code: 2 for
    /// [`Usage`](Self::Usage), `run_code` for [`Run`](Self::Run).
    #[expect(
        clippy::print_stderr,
        reason = "a command-line tool reports errors on stderr"
    )]
    pub fn exit(self, run_code: u8) -> ExitCode {
        let (message, code) = match self {
            Self::Usage(message) => (message, 2),
            Self::Run(message) => (message, run_code),
        };
        eprintln!("error: {message}");
        ExitCode::from(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_are_numbers_from_0_to_1() {
        assert_eq!(probability("0"), Ok(0.0));
        assert_eq!(probability("0.25"), Ok(0.25));
        assert_eq!(probability("1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "NaN", "inf", "", "half"] {
            assert!(probability(bad).is_err(), "{bad}");
        }
        assert_eq!(
            probability("lots"),
            Err("'lots' is not a number".to_owned())
        );
        assert_eq!(
            probability("2"),
            Err("2 is not a probability in [0, 1]".to_owned())
        );
    }

    #[test]
    fn explicit_values_beat_both_defaults() {
        assert_eq!(pick(None, false, 100, 5), 100);
        assert_eq!(pick(None, true, 100, 5), 5);
        assert_eq!(pick(Some(7), true, 100, 5), 7);
        assert_eq!(pick(Some(7), false, 100, 5), 7);
    }

    #[test]
    fn random_seeds_differ() {
        // Each call keys a new hasher: two equal seeds in a row would be a
        // 2^-64 event.
        assert_ne!(random_seed(), random_seed());
    }
}
