//! Runs the built `chain` binary in quick mode and checks its report: every
//! accounting identity, nothing lost, the rows in SQLite (counted here too)
//! equal to the successes, and the chart. How many requests the limiter or
//! the full queue turn away depends on timing, so the tests assert
//! identities, never those counts.

use std::path::Path;

use serde_json::Value;

mod support;

use support::Run;

fn run(args: &[&str]) -> Run {
    support::run(env!("CARGO_BIN_EXE_chain"), args)
}

/// A quick run with `--json` into `dir`, plus `extra` flags: the parsed
/// report.
fn quick_json(dir: &Path, extra: &[&str]) -> Value {
    let db = dir.join("x.db");
    let chart = dir.join("x.svg");
    let mut args = vec![
        "--quick",
        "--json",
        "--db",
        db.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = run(&args);
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn n(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {report:#}"))
}

fn f(report: &Value, path: &[&str]) -> f64 {
    let mut v = report;
    for key in path {
        v = &v[key];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number"))
}

/// Rows, and the sum of their `attempts` column, counted here with
/// rusqlite rather than trusting the binary.
fn rows_and_attempts(db: &Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(attempts), 0) FROM events",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

/// The identities every report satisfies, whatever the timing.
fn assert_accounting(report: &Value, db: &Path) {
    let offered = n(report, "offered");
    let admitted = n(report, "admitted");
    let succeeded = n(report, "succeeded");
    let failed = n(report, "failed_after_retries") + n(report, "failed_permanent");
    assert_eq!(
        offered,
        n(report, "rejected_limiter")
            + n(report, "rejected_queue_full")
            + n(report, "rejected_closed")
            + admitted,
        "offered is accounted for"
    );
    assert_eq!(n(report, "rejected_closed"), 0);
    assert_eq!(report["lost"].as_i64(), Some(0), "nothing lost");
    assert_eq!(admitted, succeeded + failed, "every admitted request ended");
    assert_eq!(
        n(report, "retried"),
        n(report, "retried_busy") + n(report, "retried_injected")
    );

    // SQLite agrees, counted by the binary and by us.
    let (rows, attempts) = rows_and_attempts(db);
    assert_eq!(n(report, "rows_in_db"), succeeded);
    assert_eq!(rows, succeeded);
    // Each row stores the attempt that wrote it, so its retries are
    // `attempts - 1`; a request that gave up made `max_attempts` attempts.
    // Together they are every retry counted.
    assert_eq!(n(report, "failed_permanent"), 0);
    let max_attempts = report["config"]["max_attempts"].as_u64().unwrap();
    assert_eq!(
        attempts - rows + (max_attempts - 1) * n(report, "failed_after_retries"),
        n(report, "retried"),
        "retries match the attempts stored in SQLite"
    );

    // The limiter's and the distributor's own statistics agree.
    let limiter = &report["limiter"];
    assert_eq!(
        limiter["rejected"].as_u64(),
        Some(n(report, "rejected_limiter"))
    );
    assert_eq!(
        limiter["admitted"].as_u64(),
        Some(admitted + n(report, "rejected_queue_full"))
    );
    let pool = &report["distributor"];
    assert_eq!(pool["submitted"].as_u64(), Some(admitted));
    assert_eq!(pool["completed"].as_u64(), Some(succeeded));
    assert_eq!(pool["failed"].as_u64(), Some(failed));
    assert_eq!(
        pool["rejected"].as_u64(),
        Some(n(report, "rejected_queue_full"))
    );
    assert_eq!(pool["balanced"], Value::Bool(true));
    let queue = &report["queue"];
    assert!(queue["high_watermark"].as_u64() <= queue["capacity"].as_u64());
    assert!(queue["full_events"].as_u64() >= Some(n(report, "rejected_queue_full")));

    // Latency covers each success, in order.
    assert_eq!(report["latency_ms"]["count"].as_u64(), Some(succeeded));
    let (p50, p99, max) = (
        f(report, &["latency_ms", "p50"]),
        f(report, &["latency_ms", "p99"]),
        f(report, &["latency_ms", "max"]),
    );
    assert!(p50 <= p99 && p99 <= max, "{p50} {p99} {max}");

    // The binary's own checks all passed.
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 10);
    for check in checks {
        assert_eq!(check["ok"], Value::Bool(true), "{check}");
    }
    assert_eq!(report["ok"], Value::Bool(true));
}

#[test]
fn quick_run_loses_nothing_and_matches_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let report = quick_json(dir.path(), &["--failure-rate", "0.2", "--seed", "7"]);
    assert_accounting(&report, &dir.path().join("x.db"));
    assert_eq!(n(&report, "offered"), 2_000);
    // At least the first burst (200 tokens) is admitted, and a fifth of the
    // attempts fail on purpose: some of them must have been retried.
    assert!(n(&report, "admitted") >= 1);
    assert!(n(&report, "retried_injected") > 0);
    assert_eq!(report["interrupted"], Value::Bool(false));
    assert_eq!(
        report["db"].as_str(),
        dir.path().join("x.db").to_str(),
        "the report names the database"
    );

    // The chart: an SVG document with both series, where the report says.
    let chart = dir.path().join("x.svg");
    assert_eq!(report["chart"].as_str(), chart.to_str());
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for series in [r#"id="admitted-rate" d="M"#, r#"id="queue-depth" d="M"#] {
        assert!(svg.contains(series), "{series} missing");
    }
    assert!(!svg.contains("NaN"));
}

#[test]
fn when_every_attempt_fails_every_failure_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let report = quick_json(
        dir.path(),
        &["--failure-rate", "1", "--max-attempts", "3", "--seed", "11"],
    );
    assert_accounting(&report, &dir.path().join("x.db"));
    let admitted = n(&report, "admitted");
    assert!(admitted > 0);
    assert_eq!(n(&report, "succeeded"), 0);
    assert_eq!(n(&report, "rows_in_db"), 0);
    assert_eq!(n(&report, "failed_after_retries"), admitted);
    // Injected failures happen before the database: no busy retries.
    assert_eq!(n(&report, "retried_injected"), 2 * admitted);
    assert_eq!(n(&report, "retried_busy"), 0);
}

/// The count after `label` in a text report (`  lost        0`).
fn text_value(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in\n{stdout}"));
    line[line.find(label).unwrap() + label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The text report's `checks  N of N passed` line says all passed, and
/// its lost and row counts agree with the database at `db`.
fn assert_text_report_adds_up(stdout: &str, db: &Path) {
    assert_eq!(text_value(stdout, "lost"), 0, "{stdout}");
    let rows = text_value(stdout, "rows in SQLite");
    assert_eq!(rows, text_value(stdout, "succeeded"), "{stdout}");
    assert_eq!(rows, rows_and_attempts(db).0, "{stdout}");
    assert!(stdout.contains("= succeeded"), "{stdout}");
    let checks = stdout
        .lines()
        .find(|l| l.starts_with("checks"))
        .unwrap_or_else(|| panic!("no checks line in\n{stdout}"));
    let (passed, total) = checks
        .trim_start_matches("checks")
        .trim()
        .split_once(" of ")
        .unwrap();
    assert_eq!(total, format!("{passed} passed"), "{stdout}");
}

#[test]
fn text_report_says_nothing_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let chart = dir.path().join("t.svg");
    let run = run(&[
        "--quick",
        "--db",
        db.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("chain: 2000 requests"),
        "{}",
        run.stdout
    );
    assert_text_report_adds_up(&run.stdout, &db);
    assert!(run.stdout.contains(chart.to_str().unwrap()));
    assert!(chart.exists());
}

#[test]
fn bad_flags_exit_with_code_2() {
    support::assert_usage_errors(
        env!("CARGO_BIN_EXE_chain"),
        &[],
        &[
            (&["--rate", "0"], "--rate"),
            (&["--failure-rate", "2"], "--failure-rate"),
            (&["--workers", "many"], "--workers"),
            (&["--queue-capacity", "0"], "--queue-capacity"),
            (&["--max-attempts", "0"], "--max-attempts"),
            (&["--load", "-1"], "'-1'"),
            (&["--retries", "3"], "'--retries'"),
        ],
    );
}

#[test]
fn help_lists_the_flags() {
    support::assert_help_lists(
        env!("CARGO_BIN_EXE_chain"),
        &[
            "--requests",
            "--rate",
            "--burst",
            "--queue-capacity",
            "--workers",
            "--clients",
            "--load",
            "--failure-rate",
            "--max-attempts",
            "--seed",
            "--db",
            "--chart",
            "--json",
            "--quiet",
            "--quick",
        ],
    );
}

/// A run that would take half an hour, sent SIGINT once its header is out:
/// the clients stop, everything admitted is still written, and the report
/// still adds up (and says it was interrupted).
#[test]
fn ctrl_c_stops_the_clients_and_the_report_still_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let chart = dir.path().join("c.svg");
    let (header, run) = support::signal_when(
        env!("CARGO_BIN_EXE_chain"),
        &[
            "--requests",
            "10000000",
            "--quiet",
            "--db",
            db.to_str().unwrap(),
            "--chart",
            chart.to_str().unwrap(),
        ],
        "INT",
        |line| line.starts_with("chain: "),
    );
    assert!(header.starts_with("chain: 10000000 requests"), "{header}");
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("interrupted: the clients stopped early (Ctrl-C)"),
        "{}",
        run.stdout
    );
    assert!(
        text_value(&run.stdout, "offered") < 10_000_000,
        "{}",
        run.stdout
    );
    assert_text_report_adds_up(&run.stdout, &db);
}

/// `chain | head -1`: a closed stdout makes printing the report fail, which
/// is said on stderr and exits 1, rather than a panic (code 101).
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let chart = dir.path().join("p.svg");
    let (db, chart) = (db.to_str().unwrap(), chart.to_str().unwrap());
    for json in [&[][..], &["--json"]] {
        let mut args = vec!["--quick", "--db", db, "--chart", chart];
        args.extend_from_slice(json);
        support::assert_closed_stdout_fails(
            env!("CARGO_BIN_EXE_chain"),
            &args,
            1,
            "error: cannot print the summary",
        );
    }
}
