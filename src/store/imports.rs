//! Contact imports: the import records (mapping, progress, counts, lease), the refused rows,
//! and the bulk write of one chunk of rows — new contacts in one multi-row insert, matched
//! contacts in one multi-row update that touches only what changed, their tags — in one
//! transaction. A statement that hits a uniqueness rule (an e-mail address another contact
//! has) is redone row by row, so only the offending rows are refused.

use std::collections::HashMap;

use serde::Serialize;

use super::imports_sqlite;
use super::sqlite_raw::{with_handle, AsSqlite};
use super::{on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::import::{MatchOn, Mode, Row, RowError};
use crate::domain::segment::Dialect;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImportRow {
    pub org_id: i64,
    pub id: i64,
    pub origin: String,
    pub file_name: String,
    pub file_path: String,
    pub file_size: i64,
    pub file_sha256: String,
    pub mapping: String,
    pub status: String,
    pub rows_read: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub failed: i64,
    pub subscribed: i64,
    pub started: i64,
    pub records: i64,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewImport {
    pub org_id: i64,
    pub origin: String,
    pub file_name: String,
    pub file_path: String,
    pub file_size: i64,
    pub file_sha256: String,
    pub mapping: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImportErrorRow {
    pub line: i64,
    pub column_name: String,
    pub code: String,
    pub message: String,
}

/// What one chunk did, added to the import's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkCounts {
    pub rows: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub failed: i64,
    pub subscribed: i64,
    /// Participations started (an import that starts an automation).
    pub started: i64,
    /// Data-model records inserted or changed.
    pub records: i64,
}

/// One chunk of checked rows.
pub struct Chunk<'a> {
    pub org_id: i64,
    pub import_id: i64,
    pub match_on: MatchOn,
    pub mode: Mode,
    /// Text columns the mapping writes, and whether an empty cell clears them.
    pub columns: &'a [(&'static str, bool)],
    pub rows: &'a [Row],
    /// Rows refused before the write (bad cells), stored with the chunk.
    pub refused: &'a [RowError],
    /// Guids for the contacts the chunk may create (one per row).
    pub guids: &'a [String],
    /// Store at most this many refused rows per import.
    pub keep_errors: bool,
    /// Record the progress (`rows_read` += rows) in the same transaction; false when the
    /// caller still has work for the chunk (subscriptions) and records it after.
    pub commit_progress: bool,
    /// An automation every written row's contact starts in, in the same transaction.
    pub start: Option<ChunkStart<'a>>,
    /// Data-model records of the rows' contacts, inserted or replaced in the same transaction.
    pub records: &'a [ChunkRecord],
    pub now: i64,
}

/// A data-model record of a chunk's row (a webhook's order).
#[derive(Debug, Clone)]
pub struct ChunkRecord {
    pub row: usize,
    pub collection_id: i64,
    pub key: String,
    pub data: String,
}

/// The automation an import starts (a CSV trigger).
#[derive(Debug, Clone, Copy)]
pub struct ChunkStart<'a> {
    pub automation_id: i64,
    pub version: i64,
    /// Re-entry `single`: a contact with an active participation is not started again.
    pub single: bool,
    /// The automation fields (JSON) of each row.
    pub fields: &'a [String],
}

/// The chunk's outcome: counts, refused rows, and the contact of each written row.
#[derive(Debug, Default)]
pub struct ChunkOutcome {
    pub counts: ChunkCounts,
    pub errors: Vec<RowError>,
    /// (row index, contact id) of the rows that were written or matched.
    pub contacts: Vec<(usize, i64)>,
}

/// Adds a chunk's counts to an import and renews its lease, on the executor `$e`.
macro_rules! record_progress {
    ($e:expr, $org:expr, $id:expr, $c:expr, $lease:expr) => {
        sqlx::query(
            "UPDATE imports SET rows_read = rows_read + $3, inserted = inserted + $4, updated = updated + $5, \
             unchanged = unchanged + $6, skipped = skipped + $7, failed = failed + $8, subscribed = subscribed + $9, \
             started = started + $11, records = records + $12, locked_until = $10 WHERE org_id = $1 AND id = $2",
        )
        .bind($org)
        .bind($id)
        .bind($c.rows)
        .bind($c.inserted)
        .bind($c.updated)
        .bind($c.unchanged)
        .bind($c.skipped)
        .bind($c.failed)
        .bind($c.subscribed)
        .bind($lease)
        .bind($c.started)
        .bind($c.records)
        .execute($e)
        .await?
    };
}

/// Stores a refused row (once: a redone chunk refuses it again).
macro_rules! record_error {
    ($e:expr, $org:expr, $id:expr, $err:expr) => {
        sqlx::query(
            "INSERT INTO import_errors (org_id, import_id, line, column_name, code, message) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind($org)
        .bind($id)
        .bind($err.line as i64)
        .bind(&$err.column)
        .bind($err.code)
        .bind(&$err.message)
        .execute($e)
        .await?
    };
}

const IMPORT_COLUMNS: &str = "org_id, id, origin, file_name, file_path, file_size, file_sha256, mapping, status, rows_read, inserted, updated, unchanged, skipped, failed, subscribed, started, records, error, created_by, created_at, started_at, finished_at";

/// Rows per statement (SQLite takes at most 32,766 parameters in one).
const ROWS_PER_STATEMENT: usize = 500;

/// `n` placeholders from `first` on. SQLite gets anonymous `?` (bound in order): sqlx looks
/// a numbered parameter up by name, and SQLite finds a name by walking the list of all of
/// them, which makes a statement with thousands of `$N` quadratic.
fn numbered(dialect: Dialect, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| match dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row's value for a text column (None: not given, or cleared).
pub(super) fn cell<'r>(r: &'r Row, col: &str) -> Option<&'r str> {
    r.fields
        .iter()
        .find(|(c, _)| *c == col)
        .and_then(|(_, v)| v.as_deref())
}

pub(super) fn attributes_json(r: &Row, with_nulls: bool) -> Option<String> {
    if r.attributes.is_empty() {
        return None;
    }
    let m: serde_json::Map<String, serde_json::Value> = r
        .attributes
        .iter()
        .filter(|(_, v)| with_nulls || !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(serde_json::Value::Object(m).to_string())
}

/// The SQL that inserts `n` new contacts with the chunk's columns; parameters per row:
/// org, guid, email, external_id, the columns, attributes, now (created), now (updated).
/// `pass_over`: rows that clash with a unique key are left out (not returned) instead of
/// failing the statement.
fn insert_sql(
    dialect: Dialect,
    columns: &[(&'static str, bool)],
    n: usize,
    pass_over: bool,
) -> String {
    let per_row = 7 + columns.len();
    let names: String = columns.iter().map(|(c, _)| format!(", {c}")).collect();
    let values: Vec<String> = (0..n)
        .map(|i| format!("({})", numbered(dialect, 1 + i * per_row, per_row)))
        .collect();
    format!(
        "INSERT INTO contacts (org_id, guid, email, external_id{names}, attributes, created_at, updated_at) \
         VALUES {}{} RETURNING id, email, external_id",
        values.join(", "),
        if pass_over { " ON CONFLICT DO NOTHING" } else { "" }
    )
}

/// The SQL that updates `n` matched contacts (by id) with what changed; parameters per row:
/// id, email, external_id, the columns, attributes; then `now` last.
fn update_sql(
    dialect: Dialect,
    match_on: MatchOn,
    columns: &[(&'static str, bool)],
    n: usize,
) -> String {
    let per_row = 4 + columns.len();
    let now = n * per_row + 1;
    let mut names = vec!["id", "email", "external_id"];
    names.extend(columns.iter().map(|(c, _)| *c));
    names.push("attributes");
    let values: Vec<String> = (0..n)
        .map(|i| format!("({})", numbered(dialect, 1 + i * per_row, per_row)))
        .collect();
    let distinct = match dialect {
        Dialect::Sqlite => "IS NOT",
        Dialect::Postgres => "IS DISTINCT FROM",
    };
    let merged = match dialect {
        Dialect::Sqlite => "COALESCE(json_patch(contacts.attributes, v.attributes), contacts.attributes)",
        Dialect::Postgres => {
            "COALESCE(jsonb_strip_nulls(contacts.attributes::jsonb || v.attributes::jsonb)::text, contacts.attributes)"
        }
    };
    let mut sets: Vec<(String, String)> = Vec::new();
    // The key that matched stays; the other identifier is set when the row gives one.
    match match_on {
        MatchOn::Email => sets.push((
            "external_id".into(),
            "COALESCE(v.external_id, contacts.external_id)".into(),
        )),
        MatchOn::ExternalId => {
            sets.push(("email".into(), "COALESCE(v.email, contacts.email)".into()))
        }
    }
    for (c, clear) in columns {
        let expr = if *clear {
            format!("v.{c}")
        } else {
            format!("COALESCE(v.{c}, contacts.{c})")
        };
        sets.push((c.to_string(), expr));
    }
    sets.push(("attributes".into(), merged.into()));
    let changed: Vec<String> = sets
        .iter()
        .map(|(c, e)| {
            if c == "attributes" && dialect == Dialect::Postgres {
                format!("contacts.attributes::jsonb {distinct} ({e})::jsonb")
            } else {
                format!("contacts.{c} {distinct} {e}")
            }
        })
        .collect();
    let assignments: Vec<String> = sets.iter().map(|(c, e)| format!("{c} = {e}")).collect();
    // The organisation leads the primary key on PostgreSQL (org_id, id): without it the
    // join cannot use the key and walks the whole index for every row.
    format!(
        "WITH v ({}) AS (VALUES {}) UPDATE contacts SET {}, updated_at = {} FROM v \
         WHERE contacts.org_id = {} AND contacts.id = v.id AND ({})",
        names.join(", "),
        values.join(", "),
        assignments.join(", "),
        numbered(dialect, now, 1),
        numbered(dialect, now + 1, 1),
        changed.join(" OR ")
    )
}

impl Store {
    pub async fn create_import(&self, i: &NewImport, now: i64) -> StoreResult<ImportRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "INSERT INTO imports (org_id, origin, file_name, file_path, file_size, file_sha256, mapping, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) RETURNING {IMPORT_COLUMNS}"
        ))
        .bind(i.org_id)
        .bind(&i.origin)
        .bind(&i.file_name)
        .bind(&i.file_path)
        .bind(i.file_size)
        .bind(&i.file_sha256)
        .bind(&i.mapping)
        .bind(&i.created_by)
        .bind(now)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn import(&self, org_id: i64, id: i64) -> StoreResult<ImportRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn imports(&self, org_id: i64, limit: i64) -> StoreResult<Vec<ImportRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE org_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(org_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    pub async fn import_errors(
        &self,
        org_id: i64,
        import_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<ImportErrorRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT line, column_name, code, message FROM import_errors WHERE org_id = $1 AND import_id = $2 ORDER BY line LIMIT $3"
        )
        .bind(org_id)
        .bind(import_id)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Takes the oldest import that is queued, or running under a lapsed lease (its node
    /// stopped), for `lease_ms`; or a given one.
    pub async fn claim_import(
        &self,
        only: Option<(i64, i64)>,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<ImportRow>> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let which = if only.is_some() {
            "org_id = $3 AND id = $4"
        } else {
            "$3 = 0 AND $4 = 0"
        };
        let (org, id) = only.unwrap_or((0, 0));
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "UPDATE imports SET status = 'running', started_at = COALESCE(started_at, $1), locked_until = $2 \
             WHERE id = (SELECT id FROM imports WHERE {which} AND (status = 'queued' OR (status = 'running' \
             AND (locked_until IS NULL OR locked_until < $1))) ORDER BY id LIMIT 1{lock}) RETURNING {IMPORT_COLUMNS}"
        ))
        .bind(now)
        .bind(now + lease_ms)
        .bind(org)
        .bind(id)
        .fetch_optional(p)
        .await?)
        })
    }

    /// Adds a chunk's counts to the import (and moves its resume point past the chunk).
    pub async fn import_progress(
        &self,
        org_id: i64,
        id: i64,
        c: &ChunkCounts,
        lease_until: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            record_progress!(p, org_id, id, c, lease_until);
        });
        Ok(())
    }

    /// Ends an import: done, or failed with the reason.
    pub async fn finish_import(
        &self,
        org_id: i64,
        id: i64,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE imports SET status = $3, error = $4, finished_at = $5, locked_until = NULL \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .bind(if error.is_some() { "failed" } else { "done" })
            .bind(error)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Marks an import as started (`true`) or ended on this node. While any runs, SQLite's
    /// writer keeps 32 MB of pages instead of the default 2 MB, for the indexes of the
    /// contacts a chunk touches (docs/BENCHMARKS.md has what it was measured to give).
    /// Otherwise the memory is left to the rest of the node (a mailing of a million messages).
    /// Only a tuning: a failure to change the cache is logged and fails no import.
    pub async fn importing(&self, started: bool) {
        use std::sync::atomic::Ordering;
        let Store::Sqlite(s) = self else {
            return;
        };
        let size = if started {
            (s.importing.fetch_add(1, Ordering::SeqCst) == 0).then_some("-32768")
        } else {
            (s.importing.fetch_sub(1, Ordering::SeqCst) == 1).then_some("-2000")
        };
        if let Some(size) = size {
            let set = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA cache_size = {size}")))
                .execute(&s.write)
                .await;
            if let Err(e) = set {
                tracing::warn!(error = %e, size, "cannot change the SQLite writer's page cache");
            }
        }
    }

    /// Refreshes PostgreSQL's statistics of the contacts (a no-op on SQLite): a large import
    /// grows the table faster than autovacuum notices, and plans made for a small table scan
    /// it whole.
    pub async fn analyze_contacts(&self) -> StoreResult<()> {
        if let Store::Postgres(pg) = self {
            sqlx::query("ANALYZE contacts, contact_tags")
                .execute(pg)
                .await?;
        }
        Ok(())
    }

    /// Stores refused rows without writing anything else (an all-or-nothing import's check).
    pub async fn record_import_errors(
        &self,
        org_id: i64,
        import_id: i64,
        errors: &[RowError],
    ) -> StoreResult<()> {
        write_tx!(self, |tx| {
            for e in errors {
                record_error!(&mut *tx, org_id, import_id, e);
            }
        });
        Ok(())
    }

    /// Writes one chunk in one transaction (see the module).
    pub async fn write_import_chunk(&self, c: &Chunk<'_>) -> StoreResult<ChunkOutcome> {
        let dialect = self.dialect();
        // The parameters of one new row (see `insert_sql`) and of one matched row (`update_sql`).
        macro_rules! bind_new {
            ($q:expr, $i:expr) => {{
                let r = &c.rows[$i];
                let mut q = $q
                    .bind(c.org_id)
                    .bind(c.guids[$i].as_str())
                    .bind(r.email.as_deref())
                    .bind(r.external_id.as_deref());
                for (col, _) in c.columns {
                    q = q.bind(cell(r, col));
                }
                q.bind(attributes_json(r, false).unwrap_or_else(|| "{}".into()))
                    .bind(c.now)
                    .bind(c.now)
            }};
        }
        macro_rules! bind_matched {
            ($q:expr, $p:expr) => {{
                let (i, id) = $p;
                let r = &c.rows[i];
                let mut q = $q
                    .bind(id)
                    .bind(r.email.as_deref())
                    .bind(r.external_id.as_deref());
                for (col, _) in c.columns {
                    q = q.bind(cell(r, col));
                }
                q.bind(attributes_json(r, true))
            }};
        }
        // A statement of its own, and the undoing of a savepoint.
        macro_rules! exec {
            ($tx:ident, $sql:expr) => {
                sqlx::query($sql).execute(&mut *$tx).await?
            };
        }
        macro_rules! undo {
            ($tx:ident, $name:literal) => {
                exec!($tx, concat!("ROLLBACK TO SAVEPOINT ", $name));
                exec!($tx, concat!("RELEASE SAVEPOINT ", $name));
            };
        }
        let out = write_tx!(self, |tx| {
            // Every statement of a chunk finds contacts by an index. While a large import
            // grows the table, PostgreSQL's statistics lag behind and it would scan the whole
            // table (and hash it for the update) for every statement: it is told not to.
            if dialect == Dialect::Postgres {
                exec!(tx, "SET LOCAL enable_seqscan = off");
                exec!(tx, "SET LOCAL enable_hashjoin = off");
                exec!(tx, "SET LOCAL enable_mergejoin = off");
            }
            let mut out = ChunkOutcome::default();
            out.counts.rows = (c.rows.len() + c.refused.len()) as i64;
            out.errors.extend(c.refused.iter().cloned());
            // Which rows match a contact.
            let mut existing: HashMap<String, i64> = HashMap::new();
            if let Some(conn) = AsSqlite::sqlite(&mut *tx) {
                existing = with_handle(conn, |db| imports_sqlite::existing(db, c)).await?;
            } else {
                let key_col = match c.match_on {
                    MatchOn::Email => "email",
                    MatchOn::ExternalId => "external_id",
                };
                let keys: Vec<&str> = c.rows.iter().filter_map(|r| r.key(c.match_on)).collect();
                for part in keys.chunks(ROWS_PER_STATEMENT * 4) {
                    let sql = format!(
                    "SELECT {key_col}, id FROM contacts WHERE org_id = {} AND {key_col} IN ({})",
                    numbered(dialect, 1, 1),
                    numbered(dialect, 2, part.len())
                );
                    let mut q =
                        sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql)).bind(c.org_id);
                    for k in part {
                        q = q.bind(*k);
                    }
                    existing.extend(q.fetch_all(&mut *tx).await?);
                }
            }
            let mut new_rows = Vec::new();
            let mut matched = Vec::new();
            for (i, r) in c.rows.iter().enumerate() {
                match r.key(c.match_on).and_then(|k| existing.get(k)) {
                    Some(id) if c.mode != Mode::Insert => matched.push((i, *id)),
                    Some(_) => out.counts.skipped += 1,
                    None if c.mode == Mode::Update => out.counts.skipped += 1,
                    None if r.email.is_none() => out.errors.push(RowError {
                        line: r.line,
                        column: "row".into(),
                        code: "email_required",
                        message: "a new contact needs an e-mail address".into(),
                    }),
                    None => new_rows.push(i),
                }
            }
            // New contacts. On SQLite row by row on the raw handle, where a row that clashes
            // with another contact (its external id taken, say) fails only its own statement.
            // On PostgreSQL in multi-row statements that pass clashing rows over; those are
            // tried again alone, under a savepoint, to name the clash.
            if let Some(conn) = AsSqlite::sqlite(&mut *tx) {
                let (inserted, clashes) =
                    with_handle(conn, |db| imports_sqlite::insert_new(db, c, &new_rows)).await?;
                out.counts.inserted += inserted.len() as i64;
                out.contacts.extend(inserted);
                for (i, e) in clashes {
                    out.errors.push(conflict_error(&c.rows[i], &e));
                }
            } else {
                for part in new_rows.chunks(ROWS_PER_STATEMENT) {
                    let sql = insert_sql(dialect, c.columns, part.len(), true);
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                    for &i in part {
                        q = bind_new!(q, i);
                    }
                    let inserted: Vec<(i64, String, Option<String>)> =
                        q.fetch_all(&mut *tx).await?;
                    out.counts.inserted += inserted.len() as i64;
                    // RETURNING promises no order: rows are found again by their key.
                    let mut by_key: HashMap<&str, usize> = part
                        .iter()
                        .filter_map(|&i| c.rows[i].key(c.match_on).map(|k| (k, i)))
                        .collect();
                    for (id, email, ext) in inserted {
                        let key = match c.match_on {
                            MatchOn::Email => Some(email),
                            MatchOn::ExternalId => ext,
                        };
                        if let Some(i) = key.as_deref().and_then(|k| by_key.remove(k)) {
                            out.contacts.push((i, id));
                        }
                    }
                    let mut passed_over: Vec<usize> = by_key.into_values().collect();
                    passed_over.sort_unstable();
                    for i in passed_over {
                        exec!(tx, "SAVEPOINT one");
                        let q = bind_new!(
                            sqlx::query_as(sqlx::AssertSqlSafe(insert_sql(
                                dialect, c.columns, 1, false
                            ))),
                            i
                        );
                        let row: Result<(i64, String, Option<String>), _> =
                            q.fetch_one(&mut *tx).await;
                        match row {
                            Ok((id, _, _)) => {
                                exec!(tx, "RELEASE SAVEPOINT one");
                                out.counts.inserted += 1;
                                out.contacts.push((i, id));
                            }
                            Err(e) => {
                                let e = StoreError::from(e);
                                if !matches!(e, StoreError::Conflict(_)) {
                                    return Err(e);
                                }
                                undo!(tx, "one");
                                out.errors.push(conflict_error(&c.rows[i], &e));
                            }
                        }
                    }
                }
            }
            // Matched contacts: only what changed is written.
            for part in matched.chunks(ROWS_PER_STATEMENT) {
                exec!(tx, "SAVEPOINT chunk");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(update_sql(
                    dialect,
                    c.match_on,
                    c.columns,
                    part.len(),
                )));
                for &p in part {
                    q = bind_matched!(q, p);
                }
                let (changed, written) = match q.bind(c.now).bind(c.org_id).execute(&mut *tx).await
                {
                    Ok(r) => {
                        exec!(tx, "RELEASE SAVEPOINT chunk");
                        out.contacts.extend(part.iter().copied());
                        (r.rows_affected() as i64, part.len() as i64)
                    }
                    Err(e) if is_unique_violation(&e) => {
                        undo!(tx, "chunk");
                        let (mut changed, mut written) = (0, 0);
                        for &p in part {
                            exec!(tx, "SAVEPOINT one");
                            let q = bind_matched!(
                                sqlx::query(sqlx::AssertSqlSafe(update_sql(
                                    dialect, c.match_on, c.columns, 1
                                ))),
                                p
                            );
                            match q.bind(c.now).bind(c.org_id).execute(&mut *tx).await {
                                Ok(r) => {
                                    exec!(tx, "RELEASE SAVEPOINT one");
                                    out.contacts.push(p);
                                    changed += r.rows_affected() as i64;
                                    written += 1;
                                }
                                Err(e) => {
                                    let e = StoreError::from(e);
                                    if !matches!(e, StoreError::Conflict(_)) {
                                        return Err(e);
                                    }
                                    undo!(tx, "one");
                                    out.errors.push(conflict_error(&c.rows[p.0], &e));
                                }
                            }
                        }
                        (changed, written)
                    }
                    Err(e) => return Err(e.into()),
                };
                out.counts.updated += changed;
                out.counts.unchanged += written - changed;
            }
            // Tags of the written rows.
            let tags: Vec<(i64, &String)> = out
                .contacts
                .iter()
                .flat_map(|(i, id)| c.rows[*i].tags.iter().map(move |t| (*id, t)))
                .collect();
            if let Some(conn) = AsSqlite::sqlite(&mut *tx) {
                with_handle(conn, |db| imports_sqlite::add_tags(db, c.org_id, &tags)).await?;
            } else {
                for part in tags.chunks(ROWS_PER_STATEMENT * 2) {
                    let values: Vec<String> = (0..part.len())
                        .map(|i| format!("({})", numbered(dialect, 1 + i * 3, 3)))
                        .collect();
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO contact_tags (org_id, contact_id, tag) VALUES {} ON CONFLICT DO NOTHING",
                    values.join(", ")
                )))
                ;
                    for (id, t) in part {
                        q = q.bind(c.org_id).bind(*id).bind(t.as_str());
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            // Records of the written rows' contacts; a key twice: the later row's record. Only
            // what changed is written (and counted).
            let contact_of: HashMap<usize, i64> = out.contacts.iter().copied().collect();
            let mut last: HashMap<(i64, &str), usize> = HashMap::new();
            for (n, r) in c.records.iter().enumerate() {
                if contact_of.contains_key(&r.row) {
                    last.insert((r.collection_id, r.key.as_str()), n);
                }
            }
            let mut records: Vec<usize> = last.into_values().collect();
            records.sort_unstable();
            let distinct = match dialect {
                Dialect::Sqlite => "IS NOT",
                Dialect::Postgres => "IS DISTINCT FROM",
            };
            for part in records.chunks(ROWS_PER_STATEMENT) {
                let values: Vec<String> = (0..part.len())
                    .map(|i| {
                        format!(
                            "({}, {}, {}, {})",
                            c.org_id,
                            numbered(dialect, 1 + i * 4, 4),
                            c.now,
                            c.now
                        )
                    })
                    .collect();
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO records (org_id, collection_id, key, contact_id, data, created_at, updated_at) \
                     VALUES {} ON CONFLICT (org_id, collection_id, key) DO UPDATE SET \
                     contact_id = excluded.contact_id, data = excluded.data, updated_at = excluded.updated_at \
                     WHERE records.contact_id {distinct} excluded.contact_id OR records.data {distinct} excluded.data",
                    values.join(", ")
                )));
                for &n in part {
                    let r = &c.records[n];
                    q = q
                        .bind(r.collection_id)
                        .bind(r.key.as_str())
                        .bind(contact_of[&r.row])
                        .bind(r.data.as_str());
                }
                out.counts.records += q.execute(&mut *tx).await?.rows_affected() as i64;
            }
            // Participations of the written rows' contacts (a CSV trigger).
            if let Some(st) = &c.start {
                let single = if st.single {
                    " AND NOT EXISTS (SELECT 1 FROM participations p WHERE p.org_id = v.org_id \
                     AND p.automation_id = v.automation_id AND p.contact_id = v.contact_id AND p.status = 'active')"
                } else {
                    ""
                };
                for part in out.contacts.chunks(ROWS_PER_STATEMENT) {
                    let values: Vec<String> = (0..part.len())
                        .map(|i| {
                            format!(
                                "({}, {}, {}, {}, 'active', 0, {}, {})",
                                c.org_id,
                                st.automation_id,
                                st.version,
                                numbered(dialect, 1 + i * 2, 2),
                                c.now,
                                c.now
                            )
                        })
                        .collect();
                    let sql = format!(
                        "WITH v (org_id, automation_id, version, contact_id, fields, status, step, next_run_at, started_at) \
                         AS (VALUES {}) INSERT INTO participations (org_id, automation_id, version, contact_id, fields, status, \
                         step, next_run_at, started_at) SELECT * FROM v WHERE TRUE{single}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (i, id) in part {
                        q = q.bind(*id).bind(st.fields[*i].as_str());
                    }
                    out.counts.started += q.execute(&mut *tx).await?.rows_affected() as i64;
                }
            }
            out.counts.failed = out.errors.len() as i64;
            if c.keep_errors {
                for e in &out.errors {
                    record_error!(&mut *tx, c.org_id, c.import_id, e);
                }
            }
            if c.commit_progress {
                record_progress!(
                    &mut *tx,
                    c.org_id,
                    c.import_id,
                    out.counts,
                    c.now + IMPORT_LEASE_MS
                );
            }
            out
        });
        Ok(out)
    }
}

/// How long a node holds an import between chunks before another may resume it.
pub const IMPORT_LEASE_MS: i64 = 5 * 60 * 1000;

fn conflict_error(r: &Row, e: &StoreError) -> RowError {
    let (column, code, message) = if e.is_conflict_on("external_id") {
        (
            "external_id",
            "external_id_taken",
            "another contact has this external id",
        )
    } else {
        (
            "email",
            "email_taken",
            "another contact has this e-mail address",
        )
    };
    RowError {
        line: r.line,
        column: column.into(),
        code,
        message: message.into(),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
