//! Runs the built `batcher` binary and checks its summary: every event
//! produced is sent (in a committed batch) and in SQLite, batch sizes stay
//! within the limit, no batch is empty, and a Ctrl-C (a real SIGINT)
//! drains instead of losing events. How many batches the timer closes
//! depends on timing, so the tests assert identities, never those counts.

use std::path::Path;

use serde_json::Value;

mod support;

use support::u64_of;

const BIN: &str = env!("CARGO_BIN_EXE_batcher");

/// A quick run with `--json` into `dir`, plus `extra` flags: the summary.
fn quick(dir: &Path, extra: &[&str]) -> Value {
    support::quick_summary(BIN, &dir.join("batcher.db"), extra, 0)
}

/// A `--json` run bounded at about 100 s (200000 events at 2000 a second),
/// sent `signal` once its first progress line shows it is going and the
/// signal is handled: that progress line and the summary.
fn long_run_stopped_by(signal: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("batcher.db");
    support::signal_after_first_progress(
        BIN,
        &[
            "--json",
            "--events",
            "200000",
            "--rate",
            "2000",
            "--progress-ms",
            "50",
            "--db",
            db.to_str().unwrap(),
        ],
        signal,
    )
}

/// The identities every summary must satisfy.
fn assert_lossless(s: &Value) {
    let produced = u64_of(&s["produced"]);
    let sent = u64_of(&s["sent"]);
    let discarded = u64_of(&s["discarded"]);
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(produced, sent + discarded, "{s}");
    assert_eq!(u64_of(&s["rows_in_db"]), sent, "{s}");
    // The writer commits exactly what the pipeline handed it.
    assert_eq!(u64_of(&s["handed_to_writer"]), sent, "{s}");

    let limit = u64_of(&s["config"]["batch_size"]);
    let b = &s["batches"];
    let count = u64_of(&b["count"]);
    assert_eq!(
        u64_of(&b["closed_by_size"]) + u64_of(&b["closed_by_timer"]) + u64_of(&b["closed_at_end"]),
        count,
        "{s}"
    );
    assert!(u64_of(&b["closed_at_end"]) <= 1, "{s}");
    if sent > 0 {
        // No empty batch, none above the limit.
        assert!(u64_of(&b["min"]) >= 1, "{s}");
        assert!(u64_of(&b["max"]) <= limit, "{s}");
        // Full batches are the ones closed by size.
        assert!(count >= sent.div_ceil(limit), "{s}");
    }
    let histogram: u64 = b["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|range| u64_of(&range[2]))
        .sum();
    assert_eq!(histogram, count, "{s}");
    for check in s["checks"].as_array().unwrap() {
        assert_eq!(check["ok"], true, "{check}");
    }
    assert_eq!(s["ok"], true, "{s}");
}

#[test]
fn quick_run_sends_every_event_produced() {
    let dir = tempfile::tempdir().unwrap();
    let s = quick(dir.path(), &[]);
    assert_eq!(s["outcome"], "completed");
    assert_eq!(s["interrupted"], false);
    assert_eq!(u64_of(&s["produced"]), 3000);
    assert_eq!(u64_of(&s["sent"]), 3000);
    assert_eq!(s["discarded"], 0);
    assert_lossless(&s);
}

#[test]
fn fixed_ticks_and_small_batches_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = quick(
        dir.path(),
        &[
            "--timer",
            "ticks",
            "--batch-size",
            "7",
            "--max-wait-ms",
            "1",
            "--events",
            "1001",
        ],
    );
    assert_eq!(s["config"]["timer"], "ticks");
    assert_eq!(u64_of(&s["sent"]), 1001);
    assert_lossless(&s);
}

#[test]
fn a_paced_source_with_a_slow_writer_loses_nothing() {
    // Paced and slow enough that batches are closed by the timer and the
    // buffer fills; which happens how often is timing, the identities not.
    let dir = tempfile::tempdir().unwrap();
    let s = quick(
        dir.path(),
        &[
            "--events",
            "600",
            "--rate",
            "3000",
            "--wave-ms",
            "100",
            "--write-ms",
            "5",
            "--buffer",
            "16",
            "--batch-size",
            "50",
        ],
    );
    assert_eq!(u64_of(&s["produced"]), 600);
    assert_lossless(&s);
}

#[test]
fn one_event_batches_and_a_one_slot_buffer_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = quick(
        dir.path(),
        &[
            "--batch-size",
            "1",
            "--buffer",
            "1",
            "--events",
            "300",
            "--write-ms",
            "0",
        ],
    );
    assert_eq!(u64_of(&s["batches"]["count"]), 300);
    assert_eq!(u64_of(&s["batches"]["closed_by_size"]), 300);
    assert_lossless(&s);
}

#[test]
fn ctrl_c_drains_and_the_summary_still_adds_up() {
    let (first, s) = long_run_stopped_by("INT");
    assert_eq!(s["outcome"], "cancelled", "{s}");
    assert_eq!(s["interrupted"], true, "{s}");
    // A graceful cancel drains: nothing discarded, produced = sent.
    assert_eq!(s["discarded"], 0, "{s}");
    assert_eq!(s["produced"], s["sent"], "{s}");
    assert!(u64_of(&s["produced"]) >= u64_of(&first["produced"]), "{s}");
    assert!(u64_of(&s["produced"]) < 200_000, "{s}");
    assert_lossless(&s);
}

#[test]
fn bad_flags_exit_with_code_2() {
    support::assert_usage_errors(
        BIN,
        &[],
        &[
            (&["--no-such-flag"], "'--no-such-flag'"),
            (&["--timer", "sometimes"], "--timer"),
            (&["--rate", "-1"], "'-1'"),
            (&["--events", "many"], "--events"),
        ],
    );
}

#[test]
fn settings_the_pipeline_rejects_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("batcher.db");
    support::assert_refused_before_start(BIN, &["--quick"], &db, support::ZERO_BATCH_SETTINGS);
    support::assert_refused_before_start(
        BIN,
        &["--quick"],
        &db,
        &[(&["--buffer", "0"], "buffer capacity must be at least 1")],
    );
}

/// `batcher | head -1`: a closed stdout makes printing the summary fail,
/// which is said on stderr and exits 1; the header, printed first, used to
/// panic (code 101).
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("batcher.db");
    support::assert_closed_stdout_fails(
        BIN,
        &["--quick", "--db", db.to_str().unwrap()],
        1,
        "error: cannot print the summary",
    );
}

#[test]
fn sigterm_drains_like_ctrl_c() {
    let (_, s) = long_run_stopped_by("TERM");
    assert_eq!(s["outcome"], "cancelled", "{s}");
    assert_eq!(s["discarded"], 0, "{s}");
    assert_eq!(s["produced"], s["sent"], "{s}");
    assert_lossless(&s);
}

/// The JSON lines are read with no key twice in an object (a flattened
/// body field named `type`, `checks` or `ok` would shadow the line's own,
/// and plain `serde_json` would keep the last one without a word).
#[test]
fn json_lines_refuse_a_key_named_twice() {
    for twice in [
        r#"{"type":"summary","ok":false,"ok":true}"#,
        r#"{"type":"summary","config":{"quick":true,"quick":false}}"#,
        r#"{"type":"summary","checks":[{"name":"a","name":"b"}]}"#,
    ] {
        let error = support::json_line(twice).expect_err(twice);
        assert!(error.to_string().contains("twice"), "{error}");
    }
    let line = r#"{"type":"progress","lost":-1,"mean":0.5,"buffer":null,"last":["x",true]}"#;
    assert_eq!(
        support::json_line(line).unwrap(),
        serde_json::json!({"type": "progress", "lost": -1, "mean": 0.5, "buffer": null, "last": ["x", true]})
    );
}
