//! rusqlite on SQLite, where sqlx's way costs more than the work: sqlx runs every statement on
//! its connection's worker thread, hands it each bound value and hands each row back, and the
//! two thread wake-ups per statement cost more than an indexed look-up or a row insert.
//!
//! - `with_handle` runs synchronous rusqlite work on the raw handle of a sqlx connection: an
//!   import chunk inside the transaction sqlx opened, an opt-in group in its own.
//! - `InlineReads` answers the hottest reads (the API token of every request) on the calling
//!   thread from a small pool of read-only rusqlite connections on the same file. A look-up on
//!   a cached page takes microseconds, and in WAL mode a reader never waits for the writer, so
//!   blocking the calling task that long is cheaper than handing it over.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sqlx::SqliteConnection;

use super::{StoreError, StoreResult};

/// The SQLite connection of a transaction, when it is one.
pub trait AsSqlite {
    fn sqlite(&mut self) -> Option<&mut SqliteConnection>;
}

impl AsSqlite for SqliteConnection {
    fn sqlite(&mut self) -> Option<&mut SqliteConnection> {
        Some(self)
    }
}

impl AsSqlite for sqlx::PgConnection {
    fn sqlite(&mut self) -> Option<&mut SqliteConnection> {
        None
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg)
                if f.code == ErrorCode::ConstraintViolation
                    && matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
            {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()))
            }
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            _ => StoreError::Database(sqlx::Error::Protocol(format!("sqlite: {e}"))),
        }
    }
}

/// Runs `f` with the connection's raw handle. The work is synchronous: on a multi-threaded
/// runtime the thread is handed over for it (`block_in_place`), so other tasks move on.
pub async fn with_handle<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> StoreResult<T> {
    let mut handle = conn.lock_handle().await?;
    let raw = handle.as_raw_handle().as_ptr();
    let run = || {
        // SAFETY: the handle is locked for this caller until `handle` drops, after `run`;
        // a connection made with `from_handle` never closes the handle it was given.
        let db = unsafe { Connection::from_handle(raw) }?;
        f(&db)
    };
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// Most idle connections kept; more callers at once open more and close them after.
const KEEP: usize = 8;

#[derive(Debug)]
pub struct InlineReads {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReads {
    pub fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        Self {
            path,
            busy_timeout,
            idle: Mutex::default(),
        }
    }

    /// Runs `f` on an idle connection (opened when there is none).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or_default();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(self.busy_timeout)?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut v) = self.idle.lock() {
            if v.len() < KEEP {
                v.push(conn);
            }
        }
        Ok(out?)
    }
}
