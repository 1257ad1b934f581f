//! The SQLite store the examples write to (rusqlite, bundled SQLite: nothing
//! to install).
//!
//! Several [`Writer`]s, each with its own connection, write to the same file.
//! Every write is its own `BEGIN IMMEDIATE` transaction and the busy timeout
//! is zero, so when two writers collide SQLite answers `SQLITE_BUSY` at once:
//! a real transient error, which the examples resolve with
//! `sluicegate::retry`. Writes are idempotent (the request id is the primary
//! key and a repeated insert is ignored), so a retry after an ambiguous
//! failure never writes a row twice, and `COUNT(*)` can be checked against
//! the number of successes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};

/// A database file with the examples' `events` table.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// Creates (or empties) the database at `path`: WAL journal, the `events`
    /// table, no rows.
    ///
    /// # Errors
    ///
    /// Any SQLite error opening or preparing the file.
    pub fn create(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        // WAL lets readers run beside the one writer; NORMAL sync is the
        // usual WAL setting (durable at checkpoints, never corrupt).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "DROP TABLE IF EXISTS events;
             CREATE TABLE events (
                 id         INTEGER PRIMARY KEY,
                 client     INTEGER NOT NULL,
                 payload    TEXT    NOT NULL,
                 attempts   INTEGER NOT NULL
             );",
        )?;
        Ok(Self { path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a new writer: its own connection to the file, with a zero busy
    /// timeout so that contention surfaces as [`WriteError::Busy`].
    ///
    /// # Errors
    ///
    /// Any SQLite error opening the connection.
    pub fn writer(&self) -> rusqlite::Result<Writer> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Writer { conn })
    }

    /// Counts the rows in `events`, on a fresh connection that waits for
    /// writers rather than failing.
    ///
    /// # Errors
    ///
    /// Any SQLite error.
    pub fn count(&self) -> rusqlite::Result<u64> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
    }
}

/// One row for [`Writer::insert`] and [`Writer::insert_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Unique id of the request; the primary key.
    pub id: u64,
    /// Which client sent it.
    pub client: u32,
    /// The payload, stored as text.
    pub payload: String,
}

/// A connection that writes rows; see [`Store::writer`].
#[derive(Debug)]
pub struct Writer {
    conn: Connection,
}

impl Writer {
    /// Inserts one row in its own immediate transaction. `attempts` is
    /// stored beside it (how many tries the write took). Inserting an id that
    /// is already there is not an error and writes nothing.
    ///
    /// # Errors
    ///
    /// [`WriteError::Busy`] when another writer holds the lock (transient),
    /// [`WriteError::Sqlite`] for anything else.
    pub fn insert(&mut self, row: &Row, attempts: u32) -> Result<(), WriteError> {
        self.insert_batch(std::slice::from_ref(row), attempts)
    }

    /// Inserts rows in one immediate transaction: all or none. Ids already
    /// present are skipped.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn insert_batch(&mut self, rows: &[Row], attempts: u32) -> Result<(), WriteError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (id, client, payload, attempts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO NOTHING",
            )?;
            for row in rows {
                // SQLite integers are i64; ids above i64::MAX wrap to
                // negative keys, which are still unique.
                insert.execute(params![row.id as i64, row.client, row.payload, attempts])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Another connection holds the write lock (`SQLITE_BUSY` or
    /// `SQLITE_LOCKED`): transient, retry later.
    #[error("database is busy: {0}")]
    Busy(#[source] rusqlite::Error),
    /// Any other SQLite error: permanent.
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl WriteError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy(_))
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy(error),
            _ => Self::Sqlite(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64) -> Row {
        Row {
            id,
            client: 7,
            payload: format!("payload {id}"),
        }
    }

    #[test]
    fn inserts_are_counted_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("t.db")).unwrap();
        let mut writer = store.writer().unwrap();
        writer.insert(&row(1), 1).unwrap();
        writer.insert(&row(1), 2).unwrap(); // a retry of a write that landed
        writer.insert_batch(&[row(2), row(3), row(1)], 1).unwrap();
        assert_eq!(store.count().unwrap(), 3);
    }

    #[test]
    fn a_held_write_lock_is_a_transient_busy_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("t.db")).unwrap();
        let mut holder = store.writer().unwrap();
        let mut other = store.writer().unwrap();
        let tx = holder
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let err = other.insert(&row(1), 1).unwrap_err();
        assert!(err.is_transient(), "{err}");
        tx.commit().unwrap();
        other.insert(&row(1), 2).unwrap();
        assert_eq!(store.count().unwrap(), 1);
    }

    #[test]
    fn create_empties_an_existing_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::create(&path).unwrap();
        store.writer().unwrap().insert(&row(1), 1).unwrap();
        let store = Store::create(&path).unwrap();
        assert_eq!(store.count().unwrap(), 0);
    }
}
