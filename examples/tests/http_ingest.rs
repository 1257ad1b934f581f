//! Runs the built `http_ingest` server on a real loopback socket (port 0, a
//! temporary database) and talks to it with plain HTTP/1.1 over
//! `std::net::TcpStream`: every answer the issue names (202, 400, 413, 429
//! with `Retry-After`, 503 with `Retry-After`), plus 415 and `GET /stats`;
//! then the built `loadgen` against it; then SIGTERM and the drain summary.
//!
//! Nothing here waits on a clock: the server prints its address before it
//! serves (the test blocks reading that line), the 429 comes from a bucket
//! that refills once an hour, and the 503 from a server started with
//! `--hold-until-shutdown`, whose jobs stay queued until SIGTERM, so the
//! queue is full after `capacity + workers` requests whatever the timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod support;

/// A running server; killed on drop if the test did not stop it.
struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    /// What it printed so far, for failure messages.
    printed: String,
}

impl Server {
    fn start(db: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_http_ingest"))
            .args(["--addr", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the http_ingest binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // Blocks until the server has bound its socket and says where.
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the first line");
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .parse()
            .expect("a socket address");
        Self {
            child,
            addr,
            stdout,
            printed: first,
        }
    }

    fn post(&self, content_type: Option<&str>, body: &[u8]) -> Reply {
        request(self.addr, "POST", "/payloads", content_type, body)
    }

    fn post_json(&self, body: &str) -> Reply {
        self.post(Some("application/json"), body.as_bytes())
    }

    fn stats(&self) -> Value {
        let reply = request(self.addr, "GET", "/stats", None, b"");
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    /// A server whose token bucket never runs dry in these tests (no 429):
    /// `args`, then 100000 tokens a second and a burst of as many.
    fn unlimited(db: &Path, args: &[&str]) -> Self {
        let mut all = args.to_vec();
        all.extend(["--rate", "100000/s", "--burst", "100000"]);
        Self::start(db, &all)
    }

    /// [`terminate`](Self::terminate) for a run that must end well: exit
    /// code 0, and a summary whose checks passed, that lost nothing, and
    /// whose distributor balanced. Returns the summary and all that was
    /// printed.
    fn drain(self) -> (Value, String) {
        let (code, summary, printed) = self.terminate();
        assert_eq!(code, Some(0), "{printed}");
        assert_eq!(summary["ok"], true, "{summary}");
        assert_eq!(summary["lost"], 0, "{summary}");
        assert_eq!(summary["distributor"]["balanced"], true, "{summary}");
        (summary, printed)
    }

    /// Sends SIGTERM, waits for the exit, and returns the exit code and the
    /// summary line's JSON.
    fn terminate(mut self) -> (Option<i32>, Value, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("the rest of stdout");
        let status = self.child.wait().expect("the server exits");
        self.printed.push_str(&rest);
        let summary = self
            .printed
            .lines()
            .find_map(|line| line.strip_prefix("summary: "))
            .unwrap_or_else(|| panic!("no summary in:\n{}", self.printed));
        let summary = serde_json::from_str(summary).expect("the summary is JSON");
        (status.code(), summary, self.printed.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached with the child still running when a test failed
        // before `terminate`; `kill` on an exited child is harmless.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// An error answer: JSON `{"error": "...", "status": N}`.
    fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["status"], status, "{self:?}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

/// One request on its own connection (`Connection: close`), the whole
/// answer read to the end. The read timeout only keeps a broken server from
/// hanging the test; no assertion depends on time.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    // One write: the server reads the small request whole, so even an
    // answer it sends before reading the body (413) is not lost to a reset.
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message).expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let raw = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A collection of `n` items.
fn items(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"client": {i}, "payload": "item {i}"}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

/// Runs the built loadgen with `--json` and returns its exit code and summary.
fn loadgen(addr: SocketAddr, args: &[&str]) -> (Option<i32>, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", &format!("http://{addr}"), "--json"])
        .args(args)
        .output()
        .expect("the loadgen binary runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    let summary = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("loadgen printed no JSON ({e}):\n{stdout}\n{stderr}"));
    (output.status.code(), summary)
}

#[test]
fn answers_202_400_413_415_and_stats_then_loadgen_then_drains_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A burst above every request the test sends: no 429 here. A queue
    // larger than the loadgen run: no 503 here.
    let server = Server::unlimited(
        &dir.path().join("ingest.db"),
        &[
            "--body-limit",
            "1024",
            "--workers",
            "8",
            "--writers",
            "2",
            "--queue-capacity",
            "4096",
        ],
    );

    // 202: one job for the whole collection; ids assigned by the server.
    let accepted = server.post_json(&items(3));
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let body = accepted.json();
    assert_eq!(body["items"], 3);
    assert_eq!(body["job"], 1);
    assert_eq!(body["first_id"], 1);

    // 400: not JSON; JSON of the wrong shape (axum's 422, mapped to 400);
    // an unknown field; an empty collection.
    server
        .post_json(r#"[{"client": 1, "payload": "#)
        .assert_error(400);
    server
        .post_json(r#"{"client": 1, "payload": "not a list"}"#)
        .assert_error(400);
    server
        .post_json(r#"[{"client": 1, "payload": "x", "extra": true}]"#)
        .assert_error(400);
    server.post_json("[]").assert_error(400);
    // 415: the body is not labelled as JSON.
    server.post(None, items(1).as_bytes()).assert_error(415);
    // 413: a well-formed collection over the 1024-byte limit.
    let big = items(40);
    assert!(big.len() > 1024);
    server.post_json(&big).assert_error(413);
    // Routing: other paths and methods are not served.
    assert_eq!(request(server.addr, "GET", "/nope", None, b"").status, 404);
    assert_eq!(
        request(server.addr, "GET", "/payloads", None, b"").status,
        405
    );

    let stats = server.stats();
    let responses = &stats["server"]["responses"];
    assert_eq!(responses["202"], 1, "{stats}");
    assert_eq!(responses["400"], 4, "{stats}");
    assert_eq!(responses["413"], 1, "{stats}");
    assert_eq!(responses["415"], 1, "{stats}");
    assert_eq!(responses["429"], 0, "{stats}");
    assert_eq!(responses["503"], 0, "{stats}");
    assert_eq!(stats["server"]["requests"], 7, "{stats}");
    assert_eq!(stats["server"]["accepted_items"], 3, "{stats}");
    // Every POST took a token, valid or not; GETs are not limited.
    assert_eq!(stats["token_bucket"]["admitted"], 7, "{stats}");
    assert_eq!(stats["token_bucket"]["rejected"], 0, "{stats}");
    assert_eq!(stats["distributor"]["submitted"], 1, "{stats}");
    assert_eq!(stats["distributor"]["workers"], 8, "{stats}");
    assert_eq!(stats["distributor"]["capacity"], 4096, "{stats}");
    assert_eq!(stats["config"]["body_limit"], 1024, "{stats}");
    assert!(
        stats["db"]["rows"].as_u64().is_some_and(|r| r <= 3),
        "{stats}"
    );
    assert!(stats["retry"]["attempts"].is_u64(), "{stats}");

    // loadgen: 500 requests, 10% broken on purpose (every 100: 5 oversized,
    // 5 malformed), 4 items each.
    let (code, run) = loadgen(
        server.addr,
        &[
            "--requests",
            "500",
            "--concurrency",
            "8",
            "--items",
            "4",
            "--bad",
            "10",
        ],
    );
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["ok"], true, "{run}");
    assert_eq!(run["match"], true, "{run}");
    assert_eq!(run["transport_errors"], 0, "{run}");
    assert_eq!(run["unexpected"], 0, "{run}");
    assert_eq!(run["statuses"]["202"], 450, "{run}");
    assert_eq!(run["statuses"]["413"], 25, "{run}");
    assert_eq!(run["statuses"]["400"], 25, "{run}");
    assert_eq!(run["accepted_items"], 1800, "{run}");
    assert_eq!(run["server_accepted_items"], 1800, "{run}");
    assert_eq!(run["rows"], 1800, "{run}");
    assert_eq!(run["failed_items"], 0, "{run}");
    assert_eq!(run["lost"], 0, "{run}");

    // SIGTERM: stop, drain, account.
    let (summary, printed) = server.drain();
    assert!(printed.contains("SIGTERM: no new connections"), "{printed}");
    assert_eq!(summary["accepted_requests"], 451, "{summary}");
    assert_eq!(summary["accepted_items"], 1803, "{summary}");
    assert_eq!(summary["written_items"], 1803, "{summary}");
    assert_eq!(summary["failed_items"], 0, "{summary}");
    assert_eq!(summary["rows_in_db"], 1803, "{summary}");
    assert_eq!(summary["handed_back"], 0, "{summary}");
    assert_eq!(summary["responses"]["202"], 451, "{summary}");
    assert_eq!(summary["responses"]["400"], 29, "{summary}");
    assert_eq!(summary["responses"]["413"], 26, "{summary}");
    let pool = &summary["distributor"];
    assert_eq!(pool["submitted"], 451, "{summary}");
    assert_eq!(pool["completed"], 451, "{summary}");
    assert_eq!(pool["queued"], 0, "{summary}");
    assert_eq!(pool["workers"], 0, "{summary}");
    // Group commit: at most one transaction per job, at least one in all.
    let transactions = summary["commit"]["transactions"].as_u64().expect("a count");
    assert!((1..=451).contains(&transactions), "{summary}");
}

#[test]
fn answers_503_when_the_queue_is_full_and_429_when_the_bucket_is_empty_then_drains() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Jobs are held until SIGTERM: the one worker holds at most one, the
    // queue two, so at most 3 requests are accepted and the first 2 always
    // are. 7 tokens, refilled once an hour: the 8th POST gets 429.
    let server = Server::start(
        &dir.path().join("ingest.db"),
        &[
            "--rate",
            "1/h",
            "--burst",
            "7",
            "--workers",
            "1",
            "--queue-capacity",
            "2",
            "--hold-until-shutdown",
        ],
    );

    let replies: Vec<Reply> = (0..7).map(|_| server.post_json(&items(2))).collect();
    assert_eq!(replies[0].status, 202, "{:?}", replies[0]);
    assert_eq!(replies[1].status, 202, "{:?}", replies[1]);
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert!((2..=3).contains(&accepted), "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 202) {
        reply.assert_error(503);
        assert_eq!(reply.header("retry-after"), Some("1"), "{reply:?}");
    }
    let unavailable = 7 - accepted;

    // The bucket is empty: 429 with Retry-After in whole seconds (at most
    // an hour), before the body is even looked at.
    for body in [items(2), "not json".to_owned()] {
        let reply = server.post_json(&body);
        reply.assert_error(429);
        let retry_after: u64 = reply
            .header("retry-after")
            .expect("a Retry-After header")
            .parse()
            .expect("whole seconds");
        assert!((1..=3600).contains(&retry_after), "{reply:?}");
    }

    let stats = server.stats();
    assert_eq!(stats["config"]["hold_until_shutdown"], true, "{stats}");
    assert_eq!(stats["token_bucket"]["admitted"], 7, "{stats}");
    assert_eq!(stats["token_bucket"]["rejected"], 2, "{stats}");
    assert_eq!(stats["server"]["responses"]["429"], 2, "{stats}");
    assert_eq!(stats["server"]["responses"]["503"], unavailable, "{stats}");
    let pool = &stats["distributor"];
    assert_eq!(pool["submitted"], accepted, "{stats}");
    assert_eq!(pool["rejected"], unavailable, "{stats}");
    assert_eq!(pool["completed"], 0, "{stats}");
    assert!(
        pool["full_events"].as_u64() >= Some(unavailable as u64),
        "{stats}"
    );
    // Held: nothing written yet.
    assert_eq!(stats["db"]["rows"], 0, "{stats}");
    assert_eq!(stats["server"]["written_items"], 0, "{stats}");

    // SIGTERM releases the held jobs and drains them all.
    let (summary, printed) = server.drain();
    // The one worker may or may not have taken a held job off the queue.
    let draining = printed
        .lines()
        .find_map(|line| line.strip_prefix("draining "))
        .unwrap_or_else(|| panic!("no drain line in:\n{printed}"));
    let words: Vec<&str> = draining.split(' ').collect();
    let queued: usize = words[0].parse().expect(draining);
    let running: usize = words[3].parse().expect(draining);
    assert!(queued <= 2 && running <= 1, "{printed}");
    assert!(queued + running <= accepted, "{printed}");
    assert_eq!(summary["accepted_requests"], accepted, "{summary}");
    assert_eq!(summary["accepted_items"], 2 * accepted, "{summary}");
    assert_eq!(summary["written_items"], 2 * accepted, "{summary}");
    assert_eq!(summary["rows_in_db"], 2 * accepted, "{summary}");
    assert_eq!(summary["distributor"]["completed"], accepted, "{summary}");
}

#[test]
fn failed_writes_are_retried_and_counted_never_lost() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Half the attempts fail on purpose, at most 3 attempts: about one
    // transaction in eight gives up. Its items are counted failed and are
    // not in the database; everything else is written. One worker and one
    // writer: one job per transaction, and the seeded draws fall the same
    // way on every run.
    let server = Server::unlimited(
        &dir.path().join("ingest.db"),
        &[
            "--failure-rate",
            "0.5",
            "--max-attempts",
            "3",
            "--seed",
            "7",
            "--workers",
            "1",
            "--writers",
            "1",
            "--queue-capacity",
            "4096",
        ],
    );
    let (code, run) = loadgen(
        server.addr,
        &["--requests", "400", "--concurrency", "8", "--items", "5"],
    );
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["statuses"]["202"], 400, "{run}");
    assert_eq!(run["accepted_items"], 2000, "{run}");
    assert_eq!(run["lost"], 0, "{run}");
    let failed = run["failed_items"].as_u64().expect("a count");
    let rows = run["rows"].as_u64().expect("a count");
    assert_eq!(rows + failed, 2000, "{run}");
    // With 400 transactions each failing with probability 1/8, none
    // failing would be a 1e-23 event (and the seed fixes the draws).
    assert!(failed > 0, "{run}");

    let (summary, _) = server.drain();
    assert_eq!(summary["failed_items"], failed, "{summary}");
    assert_eq!(summary["written_items"], rows, "{summary}");
    assert_eq!(summary["rows_in_db"], rows, "{summary}");
    let retry = &summary["retry"];
    assert!(retry["retries"].as_u64() > Some(0), "{summary}");
    assert!(retry["injected"].as_u64() > Some(0), "{summary}");
    // One job per transaction: each failed transaction is one failed job.
    assert_eq!(retry["exhausted"].as_u64(), Some(failed / 5), "{summary}");
    assert_eq!(retry["permanent"], 0, "{summary}");
    assert_eq!(summary["distributor"]["failed"], failed / 5, "{summary}");
    assert_eq!(summary["commit"]["largest_group"], 1, "{summary}");
    assert_eq!(
        summary["commit"]["transactions"].as_u64(),
        Some(400 - failed / 5),
        "{summary}"
    );
}

#[test]
fn loadgen_copes_with_a_huge_body_limit_and_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A 4 GB body limit is a legitimate setting. loadgen used to build a
    // body just over it for each of its tasks, whether or not any request
    // was to be oversized: gigabytes per task, until it aborted.
    let server = Server::unlimited(
        &dir.path().join("ingest.db"),
        &["--body-limit", "4000000000"],
    );
    let (code, run) = loadgen(
        server.addr,
        &["--requests", "40", "--concurrency", "8", "--items", "3"],
    );
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["statuses"]["202"], 40, "{run}");
    assert_eq!(run["rows"], 120, "{run}");
    assert_eq!(run["lost"], 0, "{run}");

    // `loadgen | head -1`: its summary goes nowhere, but the exit code is
    // still the comparison's, not a panic (code 101) at the first line.
    let url = format!("http://{}", server.addr);
    for json in [&[][..], &["--json"]] {
        let mut args = vec!["--url", url.as_str(), "--requests", "10", "--items", "2"];
        args.extend_from_slice(json);
        let run = support::run_into_closed_pipe(env!("CARGO_BIN_EXE_loadgen"), &args);
        assert_eq!(run.code, Some(0), "{json:?}: {}", run.stderr);
    }

    // Oversized requests would need a 4 GB body: refused, before sending.
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", &format!("http://{}", server.addr), "--bad", "10"])
        .output()
        .expect("the loadgen binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("use --bad 0"), "{stderr}");

    let (summary, _) = server.drain();
    assert_eq!(summary["accepted_items"], 160, "{summary}");
    assert_eq!(summary["rows_in_db"], 160, "{summary}");
}

#[test]
fn bad_settings_and_a_taken_port_exit_with_2_and_leave_the_database_alone() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("ingest.db");
    let bin = env!("CARGO_BIN_EXE_http_ingest");
    // Settings are checked before the database is created or emptied.
    support::assert_refused_before_start(
        bin,
        &["--addr", "127.0.0.1:0"],
        &db,
        &[
            (&["--rate", "0"], "--rate"),
            (&["--rate", "5/fortnight"], "--rate"),
            (&["--burst", "0"], "--burst"),
            (&["--workers", "0"], "--workers"),
            (&["--writers", "0"], "--writers"),
            (&["--queue-capacity", "0"], "--queue-capacity"),
            (&["--failure-rate", "1.5"], "--failure-rate"),
            (&["--max-attempts", "0"], "max_attempts"),
            // One SQLite connection per writer: this many used to abort
            // the process on a failed allocation of their lanes.
            (&["--writers", "100000000"], "--writers"),
            (&["--workers", "65537"], "--workers"),
        ],
    );

    // A port in use: no service, and the database is left alone.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken = taken.local_addr().expect("an address").to_string();
    support::assert_refused_before_start(bin, &["--addr", &taken], &db, &[(&[], "cannot listen")]);
}
