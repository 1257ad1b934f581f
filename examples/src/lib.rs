//! Shared parts of sluicegate's example binaries.
//!
//! Each binary in `src/bin/` is one scenario; what more than one of them
//! needs lives here, so the scenarios stay about the flow control:
//!
//! - [`db`]: the SQLite store the binaries write to, with real busy/locked
//!   errors classified as transient for retry.
//! - [`cli`]: a clap value parser, `--quick` defaults, default paths in the
//!   temp dir, the `--progress-ms`/`--json` flags, an unchosen seed, and the
//!   exit codes of a run that could not start.
//! - [`report`]: named checks and a summary checked by them, progress
//!   lines on a timer (a [`Ticker`](report::Ticker) task), printing a
//!   summary as text or JSON without panicking on a closed stdout, and the
//!   exit code that follows.
//! - [`signal`]: Ctrl-C and SIGTERM, caught from before anything is printed.

pub mod cli;
pub mod db;
pub mod report;
pub mod signal;
