//! Shared parts of sluicegate's example binaries.
//!
//! Each binary in `src/bin/` is one scenario; what more than one of them
//! needs lives here, so the scenarios stay about the flow control:
//!
//! - [`db`]: the SQLite store the chain and the HTTP service write to, with
//!   real busy/locked errors classified as transient for retry.

pub mod db;
