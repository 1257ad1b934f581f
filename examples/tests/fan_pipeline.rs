//! Runs the built `fan_pipeline` binary and checks its summary: without a
//! failure every record generated is written; with `--fail-at` exactly one
//! error stops everything, and every record is still accounted for
//! (written, failed, discarded or handed back). Where the first error
//! catches the other records depends on timing, so the tests assert
//! identities, never those counts.

use std::path::Path;

use serde_json::Value;

mod support;

use support::u64_of as n;

const BIN: &str = env!("CARGO_BIN_EXE_fan_pipeline");

/// A quick `--json` run into `dir`, plus `extra` flags, expecting exit
/// code `code`: the summary (the last line; the others are progress).
fn quick(dir: &Path, extra: &[&str], code: i32) -> Value {
    support::quick_summary(BIN, &dir.join("fan.db"), extra, code)
}

fn sum(values: &Value) -> u64 {
    values.as_array().unwrap().iter().map(n).sum()
}

/// The identities every summary must satisfy.
fn assert_accounted(s: &Value) {
    let f = &s["fan_out"];
    let p = &s["pipeline"];
    let back = &f["handed_back"];
    let generated = n(&s["generated"]);
    assert_eq!(sum(&s["per_source"]), generated, "{s}");
    // Stage 2: every record taken is started or handed back unstarted;
    // every result goes to the pipeline or is handed back.
    assert_eq!(n(&f["taken"]), generated, "{s}");
    assert_eq!(
        n(&f["taken"]),
        n(&f["started"]) + n(&back["unstarted"]),
        "{s}"
    );
    assert_eq!(sum(&f["per_worker"]), n(&f["started"]), "{s}");
    assert_eq!(
        n(&f["started"]),
        n(&f["completed"]) + n(&f["panicked"]),
        "{s}"
    );
    assert_eq!(
        n(&f["delivered"]),
        n(&p["produced"]) + n(&back["results"]),
        "{s}"
    );
    assert_eq!(f["discarded"], 0, "{s}");
    assert_eq!(f["finished"], true, "{s}");
    // Stage 3.
    assert_eq!(
        n(&p["produced"]),
        n(&p["delivered"]) + n(&p["failed"]) + n(&p["filtered"]) + n(&p["discarded"]),
        "{s}"
    );
    assert_eq!(n(&s["written"]), n(&p["delivered"]), "{s}");
    assert_eq!(n(&s["rows_in_db"]), n(&s["written"]), "{s}");
    // End to end.
    assert_eq!(
        generated,
        n(&p["delivered"])
            + n(&p["failed"])
            + n(&p["discarded"])
            + n(&back["unstarted"])
            + n(&back["results"]),
        "{s}"
    );
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(
        s["errors"].as_array().unwrap().len() as u64,
        n(&p["errors"]),
        "{s}"
    );
    for check in s["checks"].as_array().unwrap() {
        assert_eq!(check["ok"], true, "{check}");
    }
    assert_eq!(s["ok"], true, "{s}");
}

#[test]
fn without_failures_every_record_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = quick(dir.path(), &[], 0);
    assert_eq!(s["outcome"], "completed");
    assert_eq!(n(&s["generated"]), 5000);
    assert_eq!(n(&s["written"]), 5000);
    assert_eq!(n(&s["pipeline"]["produced"]), 5000);
    assert!(s["errors"].as_array().unwrap().is_empty());
    assert_accounted(&s);
}

#[test]
fn any_number_of_sources_and_workers_writes_every_record() {
    for extra in [
        &["--workers", "1", "--sources", "1"][..],
        &["--workers", "8", "--sources", "5", "--batch-size", "1"],
        &["--workers", "3", "--items", "1", "--sources", "4"],
        &["--items", "0"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = quick(dir.path(), extra, 0);
        assert_eq!(s["outcome"], "completed", "{extra:?}");
        assert_eq!(s["written"], s["config"]["items"], "{extra:?}");
        assert_accounted(&s);
    }
}

#[test]
fn the_first_error_stops_everything_and_every_record_is_accounted_for() {
    for fail_at in ["1234", "0", "4999"] {
        let dir = tempfile::tempdir().unwrap();
        let s = quick(dir.path(), &["--fail-at", fail_at], 1);
        assert_eq!(s["outcome"], "failed_fast", "{s}");
        let errors = s["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{s}");
        let error = errors[0].as_str().unwrap();
        assert!(error.contains(&format!("record {fail_at}:")), "{error}");
        assert!(error.contains("check"), "the stage is named: {error}");
        assert_eq!(n(&s["pipeline"]["failed"]), 1, "{s}");
        assert_eq!(s["fan_out"]["handed_back"]["cancelled"], true, "{s}");
        // The corrupt record was generated; it was not written.
        assert!(n(&s["generated"]) > n(&s["written"]), "{s}");
        assert_accounted(&s);
    }
}

#[test]
fn a_failure_past_the_last_record_never_happens() {
    let dir = tempfile::tempdir().unwrap();
    let s = quick(dir.path(), &["--fail-at", "5000"], 0);
    assert_eq!(s["outcome"], "completed");
    assert_accounted(&s);
}

#[test]
fn ctrl_c_drains_the_pipeline_and_cancels_the_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fan.db");
    // Far more records than the run gets through before the signal, which
    // goes once the first progress line shows the run is going and Ctrl-C
    // is handled.
    let (first, s) = support::ctrl_c_after_first_progress(
        BIN,
        &[
            "--json",
            "--items",
            "20000000",
            "--work",
            "1000",
            "--progress-ms",
            "50",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(s["outcome"], "cancelled", "{s}");
    assert!(s["errors"].as_array().unwrap().is_empty(), "{s}");
    // A graceful cancel drains the pipeline: nothing discarded there.
    assert_eq!(s["pipeline"]["discarded"], 0, "{s}");
    assert_eq!(s["fan_out"]["handed_back"]["cancelled"], true, "{s}");
    assert!(n(&s["generated"]) >= n(&first["generated"]), "{s}");
    assert!(n(&s["generated"]) < 20_000_000, "{s}");
    assert_accounted(&s);
}

#[test]
fn bad_flags_exit_with_code_2() {
    support::assert_usage_errors(
        BIN,
        &[],
        &[
            (&["--no-such-flag"], "'--no-such-flag'"),
            (&["--items", "many"], "--items"),
            (&["--sources", "0"], "--sources"),
            (&["--fail-at", "-3"], "'-3'"),
        ],
    );
}

#[test]
fn settings_the_builders_reject_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fan.db");
    support::assert_refused_before_start(
        BIN,
        &["--quick"],
        &db,
        &[(&["--workers", "0"], "a fan-out needs at least 1 worker")],
    );
    support::assert_refused_before_start(BIN, &["--quick"], &db, support::ZERO_BATCH_SETTINGS);
}

/// Worker counts past what a machine could hold are a usage error, before
/// anything starts. `--workers 18446744073709551615` used to panic on an
/// overflow inside the fan-out, and a hundred million to abort the process
/// on a failed allocation.
#[test]
fn absurd_worker_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    support::assert_refused_before_start(
        BIN,
        &["--quick"],
        &dir.path().join("fan.db"),
        &[
            (&["--workers", "1025"], "--workers"),
            (&["--workers", "100000000"], "--workers"),
            (&["--workers", "18446744073709551615"], "--workers"),
        ],
    );
    // The largest allowed count runs, and loses nothing.
    let s = quick(dir.path(), &["--workers", "1024", "--items", "2000"], 0);
    assert_eq!(n(&s["fan_out"]["workers"]), 1024, "{s}");
    assert_accounted(&s);
}

/// `fan_pipeline | head -1`: a closed stdout makes printing the summary
/// fail, which is said on stderr and exits 3; the header, printed first,
/// used to panic (code 101).
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fan.db");
    support::assert_closed_stdout_fails(
        BIN,
        &["--quick", "--db", db.to_str().unwrap()],
        3,
        "error: cannot print the summary",
    );
}
