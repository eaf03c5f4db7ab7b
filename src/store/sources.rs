//! Sources (folders and SFTP servers), the files they handed over, and the claims of due
//! work (a scheduled import, a look for CSV triggers).

use super::{on_read, on_write, safe, write_tx, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub path: String,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub private_key: Option<String>,
    pub host_key: Option<String>,
    pub import_pattern: Option<String>,
    pub import_mapping: Option<String>,
    pub import_schedule: Option<String>,
    pub import_next_at: Option<i64>,
    pub trigger_poll_secs: Option<i64>,
    pub trigger_next_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "org_id, id, key, kind, path, host, port, username, password, private_key, host_key, \
     import_pattern, import_mapping, import_schedule, import_next_at, trigger_poll_secs, trigger_next_at, \
     last_error, last_run_at, created_at, updated_at";

/// What a claimed source is due for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceWork {
    Import,
    Triggers,
}

/// A file a source handed over before (name, size and hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceFileRow {
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub import_id: Option<i64>,
    pub moved_to: Option<String>,
    pub detail: Option<String>,
    pub seen_at: i64,
}

impl Store {
    pub async fn sources(&self, org_id: i64) -> StoreResult<Vec<SourceRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM sources WHERE org_id = $1 ORDER BY key"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn source_by_key(&self, org_id: i64, key: &str) -> StoreResult<SourceRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM sources WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn source(&self, org_id: i64, id: i64) -> StoreResult<SourceRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM sources WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Creates the source `s.key` or replaces its settings (by key); returns its id.
    pub async fn save_source(&self, s: &SourceRow) -> StoreResult<i64> {
        on_write!(self, |p| {
            Ok(sqlx::query_scalar(
            "INSERT INTO sources (org_id, key, kind, path, host, port, username, password, private_key, host_key, \
             import_pattern, import_mapping, import_schedule, import_next_at, trigger_poll_secs, trigger_next_at, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
             ON CONFLICT (org_id, key) DO UPDATE SET kind = excluded.kind, path = excluded.path, host = excluded.host, \
             port = excluded.port, username = excluded.username, password = excluded.password, \
             private_key = excluded.private_key, host_key = excluded.host_key, import_pattern = excluded.import_pattern, \
             import_mapping = excluded.import_mapping, import_schedule = excluded.import_schedule, \
             import_next_at = excluded.import_next_at, trigger_poll_secs = excluded.trigger_poll_secs, \
             trigger_next_at = excluded.trigger_next_at, last_error = NULL, updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(s.org_id)
        .bind(&s.key)
        .bind(&s.kind)
        .bind(&s.path)
        .bind(&s.host)
        .bind(s.port)
        .bind(&s.username)
        .bind(&s.password)
        .bind(&s.private_key)
        .bind(&s.host_key)
        .bind(&s.import_pattern)
        .bind(&s.import_mapping)
        .bind(&s.import_schedule)
        .bind(s.import_next_at)
        .bind(s.trigger_poll_secs)
        .bind(s.trigger_next_at)
        .bind(s.updated_at)
        .fetch_one(p)
        .await?)
        })
    }

    /// Removes a source and the record of its files; false when there was none (the service
    /// refuses while an export writes to it).
    pub async fn delete_source(&self, org_id: i64, key: &str) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "DELETE FROM sources WHERE org_id = $1 AND key = $2 RETURNING id",
            )
            .bind(org_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM source_files WHERE org_id = $1 AND source_id = $2")
                    .bind(org_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(id.is_some())
        })
    }

    /// Claims one source with work due (a scheduled import or a look for CSV triggers) until
    /// `lease_until`; `release_source` sets that work's next time.
    pub async fn claim_source(
        &self,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<(SourceRow, SourceWork)>> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        on_write!(self, |p| {
            let least = match self {
                Store::Sqlite(_) => "min(COALESCE(import_next_at, trigger_next_at), COALESCE(trigger_next_at, import_next_at))",
                Store::Postgres(_) => "LEAST(import_next_at, trigger_next_at)",
            };
            let row: Option<SourceRow> = sqlx::query_as(safe!(
                "UPDATE sources SET locked_until = $2 WHERE id = (SELECT id FROM sources \
                 WHERE (locked_until IS NULL OR locked_until < $1) AND (import_next_at <= $1 OR trigger_next_at <= $1) \
                 ORDER BY {least} LIMIT 1{lock}) RETURNING {COLUMNS}"
            ))
            .bind(now)
            .bind(lease_until)
            .fetch_optional(p)
            .await?;
            Ok(row.map(|r| {
                let work = if r.trigger_next_at.is_some_and(|t| t <= now) {
                    SourceWork::Triggers
                } else {
                    SourceWork::Import
                };
                (r, work)
            }))
        })
    }

    /// Ends a claim: the next times of the work done, and the outcome (`error` None: fine).
    pub async fn release_source(
        &self,
        org_id: i64,
        id: i64,
        work: SourceWork,
        next_at: Option<i64>,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let column = match work {
            SourceWork::Import => "import_next_at",
            SourceWork::Triggers => "trigger_next_at",
        };
        on_write!(self, |p| {
            sqlx::query(safe!(
                "UPDATE sources SET {column} = $3, last_error = $4, last_run_at = $5, locked_until = NULL \
                 WHERE org_id = $1 AND id = $2"
            ))
            .bind(org_id)
            .bind(id)
            .bind(next_at)
            .bind(error)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Records what a source last did (a check from the API or the CLI).
    pub async fn source_outcome(
        &self,
        org_id: i64,
        id: i64,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("UPDATE sources SET last_error = $3, last_run_at = $4 WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .bind(error)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Pins the host key an SFTP source saw first.
    pub async fn pin_host_key(&self, org_id: i64, id: i64, fingerprint: &str) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE sources SET host_key = $3 WHERE org_id = $1 AND id = $2 AND host_key IS NULL",
            )
            .bind(org_id)
            .bind(id)
            .bind(fingerprint)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The record of a file (name, size, hash) handed over before, if any.
    pub async fn source_file(
        &self,
        org_id: i64,
        source_id: i64,
        name: &str,
        size: i64,
        sha256: &str,
    ) -> StoreResult<Option<SourceFileRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT name, size, sha256, import_id, moved_to, detail, seen_at FROM source_files \
             WHERE org_id = $1 AND source_id = $2 AND name = $3 AND size = $4 AND sha256 = $5"
        )
        .bind(org_id)
        .bind(source_id)
        .bind(name)
        .bind(size)
        .bind(sha256)
        .fetch_optional(p)
        .await?))
    }

    /// Records a file handed over (before its import starts); false when it was known.
    pub async fn record_source_file(
        &self,
        org_id: i64,
        source_id: i64,
        f: &SourceFileRow,
    ) -> StoreResult<bool> {
        on_write!(self, |p| {
            Ok(sqlx::query(
            "INSERT INTO source_files (org_id, source_id, name, size, sha256, import_id, moved_to, detail, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
        )
        .bind(org_id)
        .bind(source_id)
        .bind(&f.name)
        .bind(f.size)
        .bind(&f.sha256)
        .bind(f.import_id)
        .bind(&f.moved_to)
        .bind(&f.detail)
        .bind(f.seen_at)
        .execute(p)
        .await?
        .rows_affected()
            > 0)
        })
    }

    /// Forgets a file whose import could not even be made (the next look takes it again).
    pub async fn forget_source_file(
        &self,
        org_id: i64,
        source_id: i64,
        f: &SourceFileRow,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "DELETE FROM source_files WHERE org_id = $1 AND source_id = $2 AND name = $3 AND size = $4 AND sha256 = $5",
            )
            .bind(org_id)
            .bind(source_id)
            .bind(&f.name)
            .bind(f.size)
            .bind(&f.sha256)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Notes where a file went after its import (archive or failed) and why.
    pub async fn file_moved(
        &self,
        org_id: i64,
        source_id: i64,
        f: &SourceFileRow,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE source_files SET import_id = $6, moved_to = $7, detail = $8 \
                 WHERE org_id = $1 AND source_id = $2 AND name = $3 AND size = $4 AND sha256 = $5",
            )
            .bind(org_id)
            .bind(source_id)
            .bind(&f.name)
            .bind(f.size)
            .bind(&f.sha256)
            .bind(f.import_id)
            .bind(&f.moved_to)
            .bind(&f.detail)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The files a source handed over, newest first.
    pub async fn source_files(
        &self,
        org_id: i64,
        source_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<SourceFileRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT name, size, sha256, import_id, moved_to, detail, seen_at FROM source_files \
             WHERE org_id = $1 AND source_id = $2 ORDER BY seen_at DESC, name LIMIT $3"
        )
        .bind(org_id)
        .bind(source_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }
}
