//! The activity log (filled by triggers, see migration 0010), read page by page with a
//! cursor that never skips or repeats a row while events keep arriving.

use sqlx::Row;

use super::{on_read, Store, StoreResult};
use crate::domain::segment::Dialect;

/// A position in the activity log: after the row (`txid`, `id`). On SQLite `txid` is always
/// 0 (ids grow in commit order there); on PostgreSQL it is the writing transaction's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ActivityCursor {
    pub txid: i64,
    pub id: i64,
}

#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub cursor: ActivityCursor,
    pub kind: String,
    pub at: i64,
    pub contact_id: Option<i64>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub mailing_id: Option<i64>,
    pub automation_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub list: Option<String>,
    pub detail: String,
}

const COLUMNS: &str =
    "a.kind, a.at, a.contact_id, c.email, c.external_id, a.mailing_id, a.automation_id, \
     a.delivery_id, l.key, a.detail FROM activity a \
     LEFT JOIN contacts c ON c.org_id = a.org_id AND c.id = a.contact_id \
     LEFT JOIN lists l ON l.org_id = a.org_id AND l.id = a.list_id";

impl Store {
    /// The cursor after the newest event a reader may see now (the start of an activity
    /// export that begins "now").
    pub async fn activity_end(&self, org_id: i64) -> StoreResult<ActivityCursor> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT 0, COALESCE(MAX(id), 0) FROM activity WHERE org_id = $1",
            Dialect::Postgres => {
                "SELECT COALESCE(MAX(txid), 0), COALESCE(MAX(id), 0) FROM activity WHERE org_id = $1 \
                 AND txid = (SELECT MAX(txid) FROM activity WHERE org_id = $1 \
                 AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
            }
        };
        let (txid, id): (i64, i64) = on_read!(self, |p| sqlx::query_as(sql)
            .bind(org_id)
            .fetch_one(p)
            .await?);
        Ok(ActivityCursor { txid, id })
    }

    /// Up to `limit` rows after `after`, oldest first; `kinds` (already validated names)
    /// narrows the kinds. On PostgreSQL only rows of transactions older than every running
    /// one are returned, so a row that commits later never lands behind a cursor handed out.
    pub async fn activity_page(
        &self,
        org_id: i64,
        after: ActivityCursor,
        kinds: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<ActivityRow>> {
        let kind_filter = if kinds.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = kinds.iter().map(|k| format!("'{k}'")).collect();
            format!(" AND a.kind IN ({})", quoted.join(", "))
        };
        on_read!(self, |p| {
            let sql = match self.dialect() {
                Dialect::Sqlite => format!(
                    "SELECT 0 AS txid, a.id, {COLUMNS} WHERE a.org_id = $1 AND $2 = $2 AND a.id > $3{kind_filter} \
                     ORDER BY a.id LIMIT $4"
                ),
                Dialect::Postgres => format!(
                    "SELECT a.txid, a.id, {COLUMNS} WHERE a.org_id = $1 AND (a.txid, a.id) > ($2, $3) \
                     AND a.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint{kind_filter} \
                     ORDER BY a.txid, a.id LIMIT $4"
                ),
            };
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(after.txid)
                .bind(after.id)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ActivityRow {
                        cursor: ActivityCursor {
                            txid: r.try_get(0)?,
                            id: r.try_get(1)?,
                        },
                        kind: r.try_get(2)?,
                        at: r.try_get(3)?,
                        contact_id: r.try_get(4)?,
                        email: r.try_get(5)?,
                        external_id: r.try_get(6)?,
                        mailing_id: r.try_get(7)?,
                        automation_id: r.try_get(8)?,
                        delivery_id: r.try_get(9)?,
                        list: r.try_get(10)?,
                        detail: r.try_get(11)?,
                    })
                })
                .collect()
        })
    }
}
