//! What the binaries' command lines share: a clap value parser, the
//! `--quick` defaults, default paths in the temp dir, the progress and JSON
//! flags, an unchosen seed, and the exit codes of a run that could not
//! start or finish.

use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde::Serialize;

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

/// A path flag's value if given, else `file` in the system temp dir (the
/// default of `--db` and such).
pub fn or_temp_file(path: Option<PathBuf>, file: &str) -> PathBuf {
    path.unwrap_or_else(|| std::env::temp_dir().join(file))
}

/// How a binary that reports on a timer prints: `--progress-ms` and
/// `--json`. Flattened into its clap flags (`#[command(flatten)]`) and into
/// the settings its summary shows (`#[serde(flatten)]`), where it is
/// `"progress_ms"` (`--json` is how the summary is printed, not a setting
/// of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args, Serialize)]
pub struct OutputFlags {
    /// Time between progress lines [default: 1000]
    #[arg(
        long,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=3_600_000),
        default_value_t = 1_000,
        hide_default_value = true
    )]
    pub progress_ms: u64,

    /// Print progress and the summary as JSON, one object per line
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl OutputFlags {
    /// The time between progress lines.
    pub fn progress_every(&self) -> Duration {
        Duration::from_millis(self.progress_ms)
    }
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
    fn output_flags_parse_and_serialize_as_one_setting() {
        use clap::Parser;

        #[derive(Debug, Parser)]
        struct Flags {
            #[command(flatten)]
            output: OutputFlags,
        }
        let parse = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
                .map(|flags| flags.output)
        };
        let default = parse(&[]).unwrap();
        assert_eq!((default.progress_ms, default.json), (1_000, false));
        assert_eq!(default.progress_every(), Duration::from_secs(1));
        let given = parse(&["--json", "--progress-ms", "50"]).unwrap();
        assert_eq!((given.progress_ms, given.json), (50, true));
        for bad in [&["--progress-ms", "0"][..], &["--progress-ms", "3600001"]] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert_eq!(
            serde_json::to_value(given).unwrap(),
            serde_json::json!({"progress_ms": 50})
        );
    }

    #[test]
    fn paths_default_to_the_temp_dir() {
        let given = PathBuf::from("here.db");
        assert_eq!(or_temp_file(Some(given.clone()), "x.db"), given);
        assert_eq!(
            or_temp_file(None, "x.db"),
            std::env::temp_dir().join("x.db")
        );
    }

    #[test]
    fn random_seeds_differ() {
        // Each call keys a new hasher: two equal seeds in a row would be a
        // 2^-64 event.
        assert_ne!(random_seed(), random_seed());
    }
}
