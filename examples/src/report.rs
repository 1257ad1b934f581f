//! What the binaries that end with a summary share: named checks and a
//! summary whose verdict follows from them, progress lines on a timer, and
//! printing to stdout (text, or one line of JSON that opens with its
//! `"type"`) without panicking when stdout is a closed pipe.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use sluicegate::pipeline::Outcome;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

/// Appends how a text summary ends to `out`: one `  error: <error>` line
/// per error, then the checks as [`write_checks`] writes them.
pub fn write_errors_and_checks(out: &mut String, errors: &[String], checks: &[Check]) {
    for error in errors {
        let _ = writeln!(out, "  error: {error}");
    }
    write_checks(out, checks);
}

/// One JSON line as the binaries print them: `{"type": kind, ..}`, then
/// the fields of `body`.
#[derive(Serialize)]
struct Tagged<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: T,
}

/// Prints one progress line on stdout and flushes it: with `json`, `line`
/// as one JSON object, its fields after `"type": "progress"`; else
/// `text()`. A progress line is not worth failing a run (nor a panic,
/// should stdout be a pipe whose reader left), so errors are ignored; a
/// line that cannot be serialized is skipped rather than printed empty,
/// which would break the JSON lines.
pub fn print_progress<T: Serialize>(json: bool, line: &T, text: impl FnOnce() -> String) {
    let line = if json {
        let tagged = Tagged {
            kind: "progress",
            body: line,
        };
        match serde_json::to_string(&tagged) {
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

/// A run's summary and the checks it passed or failed. As JSON, one
/// object: `"type": "summary"`, the fields of `body`, then `"checks"` and
/// `"ok"`, whether every check held (see [`ok`](Self::ok)), so the verdict
/// printed can never disagree with the checks.
#[derive(Debug)]
pub struct Checked<B> {
    /// What the run did.
    pub body: B,
    /// The identities checked on it.
    pub checks: Vec<Check>,
}

#[derive(Serialize)]
struct SummaryLine<'a, B> {
    #[serde(flatten)]
    body: &'a B,
    checks: &'a [Check],
    ok: bool,
}

impl<B> Checked<B> {
    /// `body` and its `checks`.
    pub fn new(body: B, checks: Vec<Check>) -> Self {
        Self { body, checks }
    }

    /// Whether every check held.
    pub fn ok(&self) -> bool {
        all_passed(&self.checks)
    }
}

impl<B: Serialize> Checked<B> {
    /// Prints the summary on stdout, as [`print_summary`] does: the JSON
    /// object with `json`, else `text(body, checks)`.
    ///
    /// # Errors
    ///
    /// As [`print_summary`].
    pub fn print(&self, json: bool, text: impl FnOnce(&B, &[Check]) -> String) -> io::Result<()> {
        print_summary(json, &self.line(), || text(&self.body, &self.checks))
    }

    fn line(&self) -> Tagged<SummaryLine<'_, B>> {
        Tagged {
            kind: "summary",
            body: SummaryLine {
                body: &self.body,
                checks: &self.checks,
                ok: self.ok(),
            },
        }
    }
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

/// A tokio task that calls a function on a timer, as [`every`] does, until
/// it is stopped: the binaries' progress lines.
///
/// Call [`stop`](Self::stop) before printing what must come last (the
/// summary). Dropping a `Ticker` ends the ticks too (its task sees the stop
/// channel closed) but does not wait: a tick already running may still
/// print.
#[derive(Debug)]
pub struct Ticker {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Ticker {
    /// Spawns a task on tokio that calls `tick` every `period`, the first
    /// call one period from now.
    pub fn spawn(period: Duration, tick: impl FnMut() + Send + 'static) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            stop,
            task: tokio::spawn(every(period, stopped, tick)),
        }
    }

    /// Stops the ticks and waits for the task to end: once this returns,
    /// `tick` is not running and never runs again.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

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
        let mut ending = String::new();
        write_errors_and_checks(&mut ending, &["disk full".to_owned()], &checks[..1]);
        assert_eq!(
            ending,
            "  error: disk full\nchecks:\n  ok   nothing lost: produced 3 = sent 3\n"
        );
        let mut no_errors = String::new();
        write_errors_and_checks(&mut no_errors, &[], &checks);
        assert_eq!(no_errors, text);
        let json = serde_json::to_value(&checks[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "rows = sent", "ok": false, "detail": "2 rows, 3 sent"})
        );
    }

    #[test]
    fn json_lines_open_with_their_type() {
        #[derive(Serialize)]
        struct Body {
            produced: u64,
            lost: i128,
        }
        let body = Body {
            produced: 3,
            lost: -1,
        };
        let progress = Tagged {
            kind: "progress",
            body: &body,
        };
        assert_eq!(
            serde_json::to_string(&progress).unwrap(),
            r#"{"type":"progress","produced":3,"lost":-1}"#
        );
        let failed = Checked::new(
            body,
            vec![Check::new("a", true, "1"), Check::new("b", false, "2")],
        );
        assert!(!failed.ok());
        assert_eq!(
            serde_json::to_string(&failed.line()).unwrap(),
            r#"{"type":"summary","produced":3,"lost":-1,"checks":[{"name":"a","ok":true,"detail":"1"},{"name":"b","ok":false,"detail":"2"}],"ok":false}"#
        );
        let passed = Checked::new(failed.body, vec![Check::new("a", true, "1")]);
        assert!(passed.ok());
        assert!(
            serde_json::to_string(&passed.line())
                .unwrap()
                .ends_with(r#""ok":true}"#)
        );
        assert!(Checked::new((), Vec::new()).ok());
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

    #[tokio::test]
    async fn a_stopped_ticker_has_ended() {
        // As above: an hour's period, so no tick may come before the stop.
        // The tick closure holds a clone of `ticks`: once `stop` returns,
        // the task has ended and dropped it.
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&ticks);
        let ticker = Ticker::spawn(Duration::from_secs(3600), move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        ticker.stop().await;
        assert_eq!(ticks.load(Ordering::Relaxed), 0);
        assert_eq!(Arc::strong_count(&ticks), 1);
    }
}
