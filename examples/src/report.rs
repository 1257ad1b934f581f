//! What the binaries that end with a summary share: named checks, progress
//! lines on a timer, and printing to stdout (text, or one line of JSON)
//! without panicking when stdout is a closed pipe.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use sluicegate::pipeline::Outcome;
use tokio::sync::oneshot;

/// One named identity of a summary, whether it held, and the numbers behind
/// it. Serialized as `{"name": .., "ok": .., "detail": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked, e.g. `nothing lost`.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// The numbers, e.g. `produced 10 = sent 10 + failed 0`.
    pub detail: String,
}

impl Check {
    /// A check named `name` that held if `ok`.
    pub fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
        }
    }
}

/// Whether every check held.
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|check| check.ok)
}

/// Appends the text form of `checks` to `out`: a `checks:` line, then one
/// line per check, `  ok   name: detail` or `  FAIL name: detail`.
pub fn write_checks(out: &mut String, checks: &[Check]) {
    let _ = writeln!(out, "checks:");
    for check in checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  {mark} {}: {}", check.name, check.detail);
    }
}

/// Prints one progress line on stdout and flushes it: `line` as JSON with
/// `json`, else `text()`. A progress line is not worth failing a run (nor a
/// panic, should stdout be a pipe whose reader left), so errors are
/// ignored; a line that cannot be serialized is skipped rather than printed
/// empty, which would break the JSON lines.
pub fn print_progress<T: Serialize>(json: bool, line: &T, text: impl FnOnce() -> String) {
    let line = if json {
        match serde_json::to_string(line) {
            Ok(line) => line,
            Err(_) => return,
        }
    } else {
        text()
    };
    print_line(&line);
}

/// Prints one line on stdout and flushes it, ignoring errors: unlike
/// `println!`, which panics when stdout is a pipe whose reader left
/// (`| head`).
pub fn print_line(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints `text` on stdout as is and flushes it.
///
/// # Errors
///
/// When stdout cannot be written (a pipe whose reader left): the caller
/// decides, where `print!` would panic.
pub fn print_text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints a summary on stdout: `summary` as one line of JSON with `json`,
/// else `text()`, and flushes it.
///
/// # Errors
///
/// When the summary cannot be serialized or stdout cannot be written
/// (the caller then exits with a failure code, having printed nothing
/// misleading).
pub fn print_summary<T: Serialize>(
    json: bool,
    summary: &T,
    text: impl FnOnce() -> String,
) -> io::Result<()> {
    let text = if json {
        serde_json::to_string(summary)? + "\n"
    } else {
        text()
    };
    print_text(&text)
}

/// The exit code of a run whose summary was just printed (`printed`):
/// `code` once it was, else `failure`, with the error on stderr (a summary
/// that cannot be printed, stdout a pipe whose reader left, is a failed run:
/// no one saw its checks).
#[expect(
    clippy::print_stderr,
    reason = "a command-line tool reports errors on stderr"
)]
pub fn exit_code(printed: io::Result<()>, code: u8, failure: u8) -> ExitCode {
    match printed {
        Ok(()) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: cannot print the summary: {error}");
            ExitCode::from(failure)
        }
    }
}

/// Calls `tick` every `period` (the first call one period from now) until
/// `stop` fires or its sender is dropped. Late ticks are delayed, never
/// bunched up.
pub async fn every(period: Duration, mut stop: oneshot::Receiver<()>, mut tick: impl FnMut()) {
    let start = tokio::time::Instant::now() + period;
    let mut ticks = tokio::time::interval_at(start, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        tick();
    }
}

/// A pipeline's outcome as the summaries name it: `completed`, `cancelled`,
/// `aborted`, `failed_fast` (or `other` for an outcome added later).
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Cancelled => "cancelled",
        Outcome::Aborted => "aborted",
        Outcome::FailedFast => "failed_fast",
        _ => "other",
    }
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_print_their_mark_name_and_detail() {
        let checks = [
            Check::new("nothing lost", true, "produced 3 = sent 3"),
            Check::new("rows = sent", false, format!("{} rows, {} sent", 2, 3)),
        ];
        assert!(!all_passed(&checks));
        assert!(all_passed(&checks[..1]));
        assert!(all_passed(&[]));
        let mut text = String::new();
        write_checks(&mut text, &checks);
        assert_eq!(
            text,
            "checks:\n  ok   nothing lost: produced 3 = sent 3\n  FAIL rows = sent: 2 rows, 3 sent\n"
        );
        let json = serde_json::to_value(&checks[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "rows = sent", "ok": false, "detail": "2 rows, 3 sent"})
        );
    }

    #[test]
    fn outcomes_and_millis() {
        assert_eq!(outcome_name(Outcome::Completed), "completed");
        assert_eq!(outcome_name(Outcome::Cancelled), "cancelled");
        assert_eq!(outcome_name(Outcome::Aborted), "aborted");
        assert_eq!(outcome_name(Outcome::FailedFast), "failed_fast");
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn the_exit_code_says_whether_the_summary_was_printed() {
        assert_eq!(exit_code(Ok(()), 0, 3), ExitCode::from(0));
        assert_eq!(exit_code(Ok(()), 1, 3), ExitCode::from(1));
        let closed = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(exit_code(Err(closed), 0, 3), ExitCode::from(3));
    }

    #[tokio::test]
    async fn every_stops_when_told_or_when_the_sender_goes() {
        // An hour's period: a tick would hang the test, so none may come
        // before the stop is seen.
        let hour = Duration::from_secs(3600);
        let (stop, stopped) = oneshot::channel();
        let _ = stop.send(());
        let mut ticks = 0;
        every(hour, stopped, || ticks += 1).await;
        let (stop, stopped) = oneshot::channel::<()>();
        drop(stop);
        every(hour, stopped, || ticks += 1).await;
        assert_eq!(ticks, 0);
    }
}
