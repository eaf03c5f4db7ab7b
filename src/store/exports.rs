//! Export definitions, their runs, and the pages of contacts an export reads.

use std::collections::HashMap;

use super::contacts::ContactRow;
use super::{bind_segment, on_read, on_write, safe, write_tx, Store, StoreResult};
use crate::domain::segment::Segment;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub org_id: i64,
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub segment: Option<String>,
    /// JSON array of column names (contacts).
    pub columns: String,
    /// JSON array of activity kinds (activity; empty: all).
    pub kinds: String,
    /// Where the last activity run stopped.
    pub cursor: Option<String>,
    pub format: String,
    pub source_id: Option<i64>,
    pub file_name: String,
    /// JSON schedule.
    pub schedule: String,
    pub next_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "org_id, id, name, kind, segment, columns, kinds, cursor, format, source_id, file_name, \
     schedule, next_run_at, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRunRow {
    pub org_id: i64,
    pub id: i64,
    pub export_id: i64,
    pub status: String,
    pub rows: i64,
    pub bytes: i64,
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

const RUN_COLUMNS: &str =
    "org_id, id, export_id, status, rows, bytes, file_name, file_path, error, started_at, finished_at";

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub rows: i64,
    pub bytes: i64,
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub error: Option<String>,
    /// An activity export's new cursor (saved with a successful run only).
    pub cursor: Option<String>,
}

/// A contact of an export page with the subscriptions and tags it asked for.
#[derive(Debug, Clone)]
pub struct ExportContact {
    pub contact: ContactRow,
    /// Status per list id asked for.
    pub subscriptions: HashMap<i64, String>,
    pub tags: Vec<String>,
}

impl Store {
    pub async fn exports(&self, org_id: i64) -> StoreResult<Vec<ExportRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM exports WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn export(&self, org_id: i64, id: i64) -> StoreResult<ExportRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM exports WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Creates an export (`e.id` 0) or replaces one's definition; returns its id. The cursor
    /// of an activity export stays.
    pub async fn save_export(&self, e: &ExportRow) -> StoreResult<i64> {
        // The definition's values are $2 to $13 in both statements.
        macro_rules! definition {
            ($sql:expr) => {
                sqlx::query_scalar($sql)
                    .bind(e.org_id)
                    .bind(&e.name)
                    .bind(&e.kind)
                    .bind(&e.segment)
                    .bind(&e.columns)
                    .bind(&e.kinds)
                    .bind(&e.cursor)
                    .bind(&e.format)
                    .bind(e.source_id)
                    .bind(&e.file_name)
                    .bind(&e.schedule)
                    .bind(e.next_run_at)
                    .bind(e.updated_at)
            };
        }
        on_write!(self, |p| Ok(if e.id == 0 {
            definition!(
                "INSERT INTO exports (org_id, name, kind, segment, columns, kinds, cursor, format, source_id, file_name, \
                 schedule, next_run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id"
            )
            .fetch_one(p)
            .await?
        } else {
            definition!(
                "UPDATE exports SET name = $2, kind = $3, segment = $4, columns = $5, kinds = $6, \
                 cursor = COALESCE(cursor, $7), format = $8, source_id = $9, file_name = $10, schedule = $11, \
                 next_run_at = $12, updated_at = $13 WHERE org_id = $1 AND id = $14 RETURNING id"
            )
            .bind(e.id)
            .fetch_one(p)
            .await?
        }))
    }

    /// Removes an export and the record of its runs; false when there was none. Returns the
    /// files of its downloads, for the caller to delete.
    pub async fn delete_export(&self, org_id: i64, id: i64) -> StoreResult<Option<Vec<String>>> {
        write_tx!(self, |tx| {
            let gone = sqlx::query("DELETE FROM exports WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone == 0 {
                return Ok(None);
            }
            let files: Vec<Option<String>> = sqlx::query_scalar(
                "DELETE FROM export_runs WHERE org_id = $1 AND export_id = $2 RETURNING file_path",
            )
            .bind(org_id)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            Ok(Some(files.into_iter().flatten().collect()))
        })
    }

    /// Claims an export whose time has come (or the one given) and starts a run of it:
    /// the export's next time moves on to `next_at` (None: it ran for the last time).
    pub async fn start_export_run(
        &self,
        only: Option<(i64, i64)>,
        now: i64,
        lease_until: i64,
        next_at: impl Fn(&ExportRow) -> Option<i64>,
    ) -> StoreResult<Option<(ExportRow, ExportRunRow)>> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let which = if only.is_some() {
            "org_id = $2 AND id = $3"
        } else {
            "next_run_at <= $1 AND $2 = 0 AND $3 = 0"
        };
        let (org, id) = only.unwrap_or((0, 0));
        let out = write_tx!(self, |tx| {
            let e: Option<ExportRow> = sqlx::query_as(safe!(
                "SELECT {COLUMNS} FROM exports WHERE {which} AND (locked_until IS NULL OR locked_until < $1) \
                 ORDER BY next_run_at LIMIT 1{lock}"
            ))
            .bind(now)
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(e) = e else {
                return Ok(None);
            };
            // A run asked for by hand leaves the schedule as it is.
            let next = if only.is_some() {
                e.next_run_at
            } else {
                next_at(&e)
            };
            // A run still "running" belonged to a node that stopped (its claim ran out).
            sqlx::query(
                "UPDATE export_runs SET status = 'failed', error = 'interrupted: the node running it stopped', \
                 finished_at = $3 WHERE org_id = $1 AND export_id = $2 AND status = 'running'",
            )
            .bind(e.org_id)
            .bind(e.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE exports SET locked_until = $3, next_run_at = $4 WHERE org_id = $1 AND id = $2",
            )
            .bind(e.org_id)
            .bind(e.id)
            .bind(lease_until)
            .bind(next)
            .execute(&mut *tx)
            .await?;
            let run: ExportRunRow = sqlx::query_as(safe!(
                "INSERT INTO export_runs (org_id, export_id, status, started_at) VALUES ($1, $2, 'running', $3) \
                 RETURNING {RUN_COLUMNS}"
            ))
            .bind(e.org_id)
            .bind(e.id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            Some((e, run))
        });
        Ok(out)
    }

    /// Ends a run (and the export's claim); a successful activity run saves its cursor, a
    /// failed one is tried again at `retry_at` (or its next time, if that is sooner).
    pub async fn finish_export_run(
        &self,
        run: &ExportRunRow,
        o: &RunOutcome,
        retry_at: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE export_runs SET status = $3, rows = $4, bytes = $5, file_name = $6, file_path = $7, \
                 error = $8, finished_at = $9 WHERE org_id = $1 AND id = $2",
            )
            .bind(run.org_id)
            .bind(run.id)
            .bind(if o.error.is_some() { "failed" } else { "done" })
            .bind(o.rows)
            .bind(o.bytes)
            .bind(&o.file_name)
            .bind(&o.file_path)
            .bind(&o.error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let cursor = if o.error.is_none() {
                o.cursor.as_deref()
            } else {
                None
            };
            let retry = o.error.as_ref().and(retry_at);
            sqlx::query(
                "UPDATE exports SET locked_until = NULL, cursor = COALESCE($3, cursor), \
                 next_run_at = CASE WHEN $4 IS NULL THEN next_run_at \
                 WHEN next_run_at IS NULL OR next_run_at > $4 THEN $4 ELSE next_run_at END \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(run.org_id)
            .bind(run.export_id)
            .bind(cursor)
            .bind(retry)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    pub async fn export_runs(
        &self,
        org_id: i64,
        export_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<ExportRunRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {RUN_COLUMNS} FROM export_runs WHERE org_id = $1 AND export_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(export_id)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    pub async fn export_run(&self, org_id: i64, id: i64) -> StoreResult<ExportRunRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {RUN_COLUMNS} FROM export_runs WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Downloads older than `before`: their files go, the record of the run stays.
    pub async fn expire_export_files(&self, before: i64) -> StoreResult<Vec<String>> {
        on_write!(self, |p| {
            let files: Vec<Option<String>> = sqlx::query_scalar(
                "UPDATE export_runs SET file_path = NULL WHERE file_path IS NOT NULL AND finished_at < $1 \
                 RETURNING file_path",
            )
            .bind(before)
            .fetch_all(p)
            .await?;
            Ok(files.into_iter().flatten().collect())
        })
    }

    /// The next page of an export: up to `limit` contacts after id `after` that match the
    /// segment (and are among `only`, when given), with the subscriptions to `lists` and —
    /// when `tags` — their tags.
    #[allow(clippy::too_many_arguments)]
    pub async fn export_contacts_page(
        &self,
        org_id: i64,
        segment: Option<&Segment>,
        only: Option<&[i64]>,
        after: i64,
        limit: i64,
        lists: &[i64],
        tags: bool,
        now: i64,
    ) -> StoreResult<Vec<ExportContact>> {
        let (seg_sql, binds) = match segment {
            Some(s) => s.to_sql(self.dialect(), 4, now),
            None => ("TRUE".to_string(), Vec::new()),
        };
        let only_sql = match only {
            Some([]) => " AND FALSE".to_string(),
            Some(ids) => format!(
                " AND c.id IN ({})",
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let cols = super::contacts::COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM contacts c WHERE c.org_id = $1 AND c.id > $2{only_sql} AND {seg_sql} \
             ORDER BY c.id LIMIT $3"
        );
        let contacts: Vec<ContactRow> = on_read!(self, |p| {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(org_id)
                .bind(after)
                .bind(limit);
            bind_segment!(q, &binds).fetch_all(p).await?
        });
        let ids = contacts
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut subs: HashMap<i64, HashMap<i64, String>> = HashMap::new();
        let mut tag_map: HashMap<i64, Vec<String>> = HashMap::new();
        if !contacts.is_empty() && !lists.is_empty() {
            let list_ids = lists
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let rows: Vec<(i64, i64, String)> = on_read!(self, |p| sqlx::query_as(safe!(
                "SELECT contact_id, list_id, status FROM subscriptions WHERE org_id = $1 \
                 AND contact_id IN ({ids}) AND list_id IN ({list_ids})"
            ))
            .bind(org_id)
            .fetch_all(p)
            .await?);
            for (contact, list, status) in rows {
                subs.entry(contact).or_default().insert(list, status);
            }
        }
        if !contacts.is_empty() && tags {
            let rows: Vec<(i64, String)> = on_read!(self, |p| {
                sqlx::query_as(safe!(
                "SELECT contact_id, tag FROM contact_tags WHERE org_id = $1 AND contact_id IN ({ids}) \
                 ORDER BY contact_id, tag"
            ))
            .bind(org_id)
            .fetch_all(p)
            .await?
            });
            for (contact, tag) in rows {
                tag_map.entry(contact).or_default().push(tag);
            }
        }
        Ok(contacts
            .into_iter()
            .map(|c| ExportContact {
                subscriptions: subs.remove(&c.id).unwrap_or_default(),
                tags: tag_map.remove(&c.id).unwrap_or_default(),
                contact: c,
            })
            .collect())
    }
}
