//! What the integration tests share: running a built binary and capturing
//! what it prints, stopping one with a real signal, and reading JSON lines.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// One finished run of a binary.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn new(code: Option<i32>, stdout: String, stderr: String) -> Self {
        let run = Self {
            code,
            stdout,
            stderr,
        };
        assert!(
            !run.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            run.stderr
        );
        run
    }
}

/// Runs the built binary `bin` (an `env!("CARGO_BIN_EXE_<name>")`) with
/// `args` to the end; asserts that it did not panic.
pub(crate) fn run(bin: &str, args: &[&str]) -> Run {
    let output = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin} runs: {e}"));
    Run::new(
        output.status.code(),
        String::from_utf8(output.stdout).expect("utf-8 stdout"),
        String::from_utf8(output.stderr).expect("utf-8 stderr"),
    )
}

/// Starts `bin` with `args`, reads its stdout until a line for which
/// `ready` is true, sends it `signal` (`"INT"`, `"TERM"`) with `kill`, and
/// lets it finish. Returns that line and the whole run (every line of
/// stdout, the ready one included).
///
/// Nothing here waits on a clock: the signal goes once the binary says it
/// is running. A watchdog kills the binary if it has not finished two
/// minutes later, so a missed signal fails the test instead of hanging it.
pub(crate) fn signal_when(
    bin: &str,
    args: &[&str],
    signal: &str,
    ready: impl Fn(&str) -> bool,
) -> (String, Run) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
    let pid = child.id().to_string();

    let (finished, watchdog) = mpsc::channel::<()>();
    let guard_pid = pid.clone();
    let guard = std::thread::spawn(move || {
        let hung = watchdog.recv_timeout(Duration::from_secs(120)).is_err();
        if hung {
            let _ = Command::new("kill").args(["-KILL", &guard_pid]).status();
        }
        hung
    });

    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut stdout = String::new();
    let mut ready_line = None;
    for line in lines.by_ref() {
        let line = line.expect("utf-8 stdout");
        stdout.push_str(&line);
        stdout.push('\n');
        if ready(&line) {
            ready_line = Some(line);
            break;
        }
    }
    let ready_line = ready_line.unwrap_or_else(|| panic!("never ready:\n{stdout}"));
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
    for line in lines {
        stdout.push_str(&line.expect("utf-8 stdout"));
        stdout.push('\n');
    }
    let output = child.wait_with_output().expect("the binary exits");
    let _ = finished.send(());
    assert!(!guard.join().unwrap(), "the run hung and was killed");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    (ready_line, Run::new(output.status.code(), stdout, stderr))
}

/// Parses one line of JSON, refusing an object that names a key twice.
/// `serde_json` would keep the last one silently, and the summaries are
/// built by flattening a body into a line that adds `type`, `checks` and
/// `ok`: a body field of one of those names would shadow the line's own.
pub(crate) fn json_line(line: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<UniqueKeys>(line).map(|parsed| parsed.0)
}

/// A JSON value parsed by [`json_line`]'s rules.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        input.deserialize_any(UniqueKeysVisitor).map(Self)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("the key {key:?} twice")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses output of JSON lines ([`json_line`]: no key twice in an object):
/// every line an object with a `type`, the last one the `summary`, the
/// others `progress`.
pub(crate) fn json_lines(stdout: &str) -> (Vec<Value>, Value) {
    let mut objects: Vec<Value> = stdout
        .lines()
        .map(|line| json_line(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let summary = objects.pop().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{stdout}");
    for progress in &objects {
        assert_eq!(progress["type"], "progress", "{stdout}");
    }
    (objects, summary)
}

/// `value` as a count.
pub(crate) fn u64_of(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a u64: {value}"))
}

/// A `--quick --json` run of `bin` writing to `db`, plus `extra` flags,
/// that must exit with `code`: its summary (the last line; the others are
/// progress).
pub(crate) fn quick_summary(bin: &str, db: &Path, extra: &[&str], code: i32) -> Value {
    let mut args = vec![
        "--quick",
        "--json",
        "--db",
        db.to_str().expect("a UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let run = run(bin, &args);
    assert_eq!(
        run.code,
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    json_lines(&run.stdout).1
}

/// Command lines a binary must refuse, each with what its stderr must then
/// say: `(arguments, message)`.
pub(crate) type Refusals<'a> = [(&'a [&'a str], &'a str)];

/// The batch settings sluicegate's pipeline refuses, as the flags of the
/// binaries that batch (`--batch-size`, `--max-wait-ms`), and what it says.
pub(crate) const ZERO_BATCH_SETTINGS: &Refusals<'_> = &[
    (&["--batch-size", "0"], "batch size must be at least 1"),
    (
        &["--max-wait-ms", "0"],
        "batch max_wait must be longer than zero",
    ),
];

/// Runs `bin` with `first`, then each case's arguments: each run must be
/// refused as a usage error, exit code 2 with nothing on stdout, and an
/// `error: ` on stderr that contains the case's message.
pub(crate) fn assert_usage_errors(bin: &str, first: &[&str], cases: &Refusals<'_>) {
    assert_refused(bin, first, cases, |_| {});
}

/// [`assert_usage_errors`] for settings refused before anything starts:
/// each case runs after `first` and `--db <db>`, and must leave no file at
/// `db` (the database is not created before the settings are checked).
pub(crate) fn assert_refused_before_start(
    bin: &str,
    first: &[&str],
    db: &Path,
    cases: &Refusals<'_>,
) {
    let mut before = first.to_vec();
    before.extend(["--db", db.to_str().expect("a UTF-8 path")]);
    assert_refused(bin, &before, cases, |args| {
        assert!(!db.exists(), "{args:?} created the database");
    });
}

fn assert_refused(bin: &str, first: &[&str], cases: &Refusals<'_>, then: impl Fn(&[&str])) {
    for &(args, message) in cases {
        let mut all = first.to_vec();
        all.extend_from_slice(args);
        let run = run(bin, &all);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        then(args);
    }
}

/// Runs `bin --help` and checks that it exits 0 and names every flag.
pub(crate) fn assert_help_lists(bin: &str, flags: &[&str]) {
    let run = run(bin, &["--help"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for flag in flags {
        assert!(
            run.stdout.contains(flag),
            "{flag} missing from:\n{}",
            run.stdout
        );
    }
}

/// A `--json` run of `bin` (progress lines, then the summary) sent SIGINT
/// once it printed its first progress line: it must exit 0. Returns that
/// progress line and the summary.
pub(crate) fn ctrl_c_after_first_progress(bin: &str, args: &[&str]) -> (Value, Value) {
    signal_after_first_progress(bin, args, "INT")
}

/// As [`ctrl_c_after_first_progress`], with any signal (`"TERM"`).
pub(crate) fn signal_after_first_progress(
    bin: &str,
    args: &[&str],
    signal: &str,
) -> (Value, Value) {
    let (first, run) = signal_when(bin, args, signal, |_| true);
    let first = json_line(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(first["type"], "progress", "{first}");
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, run.stdout);
    (first, json_lines(&run.stdout).1)
}

/// Runs `bin` with `args` and its stdout a pipe whose reader has already
/// gone, as in `bin | head -1` once `head` is done: every write to stdout
/// fails (`EPIPE`; Rust ignores `SIGPIPE`). Deterministic: bash starts the
/// reader (`true`) in a process substitution and waits for it to exit
/// before it execs the binary. Asserts that the binary did not panic (as
/// `println!` does on a closed stdout); stdout is empty.
pub(crate) fn run_into_closed_pipe(bin: &str, args: &[&str]) -> Run {
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"exec 3> >(true); wait $!; exec "$0" "$@" >&3"#)
        .arg(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bash runs {bin}: {e}"));
    assert!(output.stdout.is_empty());
    Run::new(
        output.status.code(),
        String::new(),
        String::from_utf8(output.stderr).expect("utf-8 stderr"),
    )
}

/// [`run_into_closed_pipe`], expecting the binary to fail with exit code
/// `code` and say `message` on stderr: its summary could not be printed.
pub(crate) fn assert_closed_stdout_fails(bin: &str, args: &[&str], code: i32, message: &str) {
    let run = run_into_closed_pipe(bin, args);
    assert_eq!(run.code, Some(code), "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
}
