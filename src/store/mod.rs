//! Persistence: one type, two backends (SQLite and PostgreSQL) with the same methods.
//! All SQL of the application lives below this module.

mod activity;
mod admin_sessions;
mod automation_triggers;
mod automations;
mod buckets;
mod catalog;
mod checkout;
mod collections;
mod consent;
mod contacts;
mod deliveries;
mod exports;
mod hooks;
mod imports;
mod imports_sqlite;
mod jobs;
mod link_params;
mod lists;
mod mailinglijst;
mod mailings;
mod oauth;
mod optins;
mod optins_sqlite;
mod orgs;
mod partner_consents;
mod sms_gateways;
mod sources;
mod sqlite_raw;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use activity::{ActivityCursor, ActivityRow};
pub use admin_sessions::SessionRow;
pub use automation_triggers::{AutomationEventRow, DateScan, Entry};
pub use automations::{
    Advance, AnswerBuilder, AutomationRow, NewAutomation, ParticipationRow, Start, Started,
    StepLogRow,
};
pub use buckets::{BatchEntry, BatchRow, OpenBucket};
pub use catalog::{NewPartner, NewPos, NewProduct, PartnerRow, PosRow, ProductRow};
pub use checkout::{
    CheckoutOutcome, CheckoutRecord, NewWidget, OfferRow, OfferText, PartnerTextRow, WidgetRow,
};
pub use collections::{CollectionRow, ContactKey, RecordFilter, RecordRow, RecordWrite};
pub use consent::{LedgerRow, SubscriptionRow, VerifyReport};
pub use contacts::ContactRow;
pub use deliveries::{Claimed, DeliveryCounts, DeliveryRow, EventRow, NewEvent, Outcome};
pub use exports::{ExportContact, ExportRow, ExportRunRow, RunOutcome};
pub use hooks::HookRow;
pub use imports::{
    Chunk, ChunkCounts, ChunkOutcome, ChunkRecord, ChunkStart, ImportErrorRow, ImportRow,
    NewImport, IMPORT_LEASE_MS,
};
pub use jobs::{Job, JobCounts};
pub use link_params::LinkParamRow;
pub use lists::{ListRow, ListText, ListWithTexts, NewList};
pub use mailinglijst::{
    AddressWrite, AddressWritten, BounceRow, ContactCodeRow, ListCodeRow, MlAccountRow, MlKeyRow,
    SendHistoryRow,
};
pub use mailings::{MailingContent, MailingRow, NewTemplate, TemplateRow};
pub use oauth::OAuthConsumerRow;
pub use optins::{ConfirmTokenRow, JobBuilder, MailTemplateRow, Registration, RegistrationOutcome};
pub use orgs::Org;
pub use partner_consents::{ConsentEventRow, PartnerExportRow, RequestRow};
pub use sms_gateways::SmsGatewayRow;
pub use sources::{SourceFileRow, SourceRow, SourceWork};
pub use tokens::{NewToken, TokenRow};
pub use users::UserRow;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text names the constraint or columns.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot open database: {0}")]
    Connect(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(
                db.constraint()
                    .map(str::to_string)
                    .unwrap_or_else(|| db.message().to_string()),
            ),
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Whether a conflict concerns the given column (works with both backends' messages).
    pub fn is_conflict_on(&self, column: &str) -> bool {
        matches!(self, StoreError::Conflict(c) if c.contains(column))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite gets one writer connection (writes queue in the process instead of failing with
/// SQLITE_BUSY) and a pool of read-only connections; WAL lets them run side by side.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// Opt-in registrations are written in groups by one task (see `optins_sqlite`).
    registrations: optins_sqlite::Registrations,
    /// Imports running on this node: while there are any, the writer has a larger page cache.
    importing: Arc<std::sync::atomic::AtomicUsize>,
    /// Reads answered on the calling thread (none for an in-memory database).
    inline: Option<Arc<sqlite_raw::InlineReads>>,
}

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgPool),
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub sqlite_busy_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// SQL assembled from the module's own constants (column lists, backend clauses), never from input.
macro_rules! safe {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

/// Runs `$body` with `$p` bound to the pool that takes writes, for either backend.
macro_rules! on_write {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let $p = &s.write;
                $body
            }
            $crate::store::Store::Postgres(pg) => {
                let $p = pg;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to a pool for reads.
macro_rules! on_read {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let $p = &s.read;
                $body
            }
            $crate::store::Store::Postgres(pg) => {
                let $p = pg;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction bound to `$tx` and commits it; an early return
/// (`?`) drops the transaction, which rolls it back. SQLite transactions start IMMEDIATE
/// so that they take the write lock up front and never fail half-way on a lock upgrade.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:block) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                #[allow(unused_mut)]
                let mut $tx = s.write.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Store::Postgres(pg) => {
                #[allow(unused_mut)]
                let mut $tx = pg.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Fetches the rows of `$sql`, read-only, where `{ids}` in the SQL stands for a condition on a
/// list of values: `IN ($first, …)` with one parameter per value on SQLite, `= ANY($first)`
/// with one array parameter on PostgreSQL (evaluated once instead of per row scanned). The
/// parameters before `$first` are bound from `[$bind, …]`.
macro_rules! fetch_in {
    ($store:expr, $query:ident, $sql:expr, [$($bind:expr),*], $first:expr, $values:expr) => {{
        let values = $values;
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let sql = $sql.replace(
                    "{ids}",
                    &format!("IN ({})", $crate::store::placeholders($first, values.len())),
                );
                let mut q = sqlx::$query(sqlx::AssertSqlSafe(sql))$(.bind($bind))*;
                for v in values {
                    q = q.bind(v);
                }
                q.fetch_all(&s.read).await?
            }
            $crate::store::Store::Postgres(pg) => {
                let sql = $sql.replace("{ids}", &format!("= ANY(${})", $first));
                sqlx::$query(sqlx::AssertSqlSafe(sql))$(.bind($bind))*
                    .bind(values.to_vec())
                    .fetch_all(pg)
                    .await?
            }
        }
    }};
}

/// Binds the compiled values of a segment to a query.
macro_rules! bind_segment {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                $crate::domain::segment::Bind::Text(s) => q.bind(s.clone()),
                $crate::domain::segment::Bind::Int(i) => q.bind(*i),
                $crate::domain::segment::Bind::Real(f) => q.bind(*f),
            };
        }
        q
    }};
}

pub(crate) use {bind_segment, fetch_in, on_read, on_write, safe, write_tx};

/// `$first, $first+1, …` for `n` placeholders (for `IN (…)` lists and multi-row inserts).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Opens the database named by `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`).
    /// SQLite files and their directory are created when missing.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Connect(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            return Ok(Store::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Connect(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        }
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Connect(e.to_string()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(opts.sqlite_busy_timeout)
            .pragma("temp_store", "memory");
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if !memory {
            if let Some(dir) = std::path::Path::new(base.get_filename()).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Connect(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        // A connection to a local file cannot drop: no ping (a round trip to the connection's
        // worker thread) before each use.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        // An in-memory database exists only on its one connection: reads share it.
        let read = if memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(opts.max_connections.max(1))
                .connect_with(base.clone().read_only(true))
                .await
                .map_err(|e| StoreError::Connect(e.to_string()))?
        };
        let registrations = optins_sqlite::Registrations::start(write.clone());
        let inline = (!memory).then(|| {
            Arc::new(sqlite_raw::InlineReads::new(
                base.get_filename().to_path_buf(),
                opts.sqlite_busy_timeout,
            ))
        });
        Ok(Store::Sqlite(SqliteStore {
            write,
            read,
            registrations,
            importing: Arc::default(),
            inline,
        }))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(s) => SQLITE_MIGRATIONS.run(&s.write).await?,
            Store::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        on_read!(self, |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => {
                s.read.close().await;
                s.write.close().await;
            }
            Store::Postgres(p) => p.close().await,
        }
    }
}
