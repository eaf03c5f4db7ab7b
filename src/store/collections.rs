//! Data-model collections and their records.

use std::collections::HashMap;

use super::{on_read, on_write, safe, write_tx, Store, StoreResult};
use crate::domain::segment::Dialect;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectionRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub name: String,
    pub fields: String,
    pub primary_key: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "org_id, id, key, name, fields, primary_key, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub key: String,
    pub contact_id: i64,
    pub data: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One record to write: its key, contact and data (JSON).
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub key: String,
    pub contact_id: i64,
    pub data: String,
}

/// How a list of records is narrowed.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub contact_id: Option<i64>,
    /// (field, value): records whose field has this value (as text).
    pub equals: Option<(String, String)>,
    /// Records after this key (paging).
    pub after: Option<String>,
    pub limit: i64,
}

/// Rows per multi-row statement.
const ROWS_PER_STATEMENT: usize = 500;

fn placeholders(dialect: Dialect, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| match dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    pub async fn collections(&self, org_id: i64) -> StoreResult<Vec<CollectionRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM collections WHERE org_id = $1 ORDER BY key"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn collection_by_key(&self, org_id: i64, key: &str) -> StoreResult<CollectionRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM collections WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    /// Creates the collection `c.key` or replaces its definition; returns its id.
    pub async fn save_collection(&self, c: &CollectionRow) -> StoreResult<i64> {
        on_write!(self, |p| {
            Ok(sqlx::query_scalar(
            "INSERT INTO collections (org_id, key, name, fields, primary_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (org_id, key) DO UPDATE SET name = excluded.name, \
             fields = excluded.fields, primary_key = excluded.primary_key, updated_at = excluded.updated_at \
             RETURNING id"
        )
        .bind(c.org_id)
        .bind(&c.key)
        .bind(&c.name)
        .bind(&c.fields)
        .bind(&c.primary_key)
        .bind(c.updated_at)
        .fetch_one(p)
        .await?)
        })
    }

    /// Removes a collection and its records; false when there was none.
    pub async fn delete_collection(&self, org_id: i64, id: i64) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM records WHERE org_id = $1 AND collection_id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM collections WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
    }

    pub async fn count_records(&self, org_id: i64, collection_id: i64) -> StoreResult<i64> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM records WHERE org_id = $1 AND collection_id = $2"
        )
        .bind(org_id)
        .bind(collection_id)
        .fetch_one(p)
        .await?))
    }

    /// Inserts or replaces records (by key) in one transaction; returns (inserted, updated).
    pub async fn upsert_records(
        &self,
        org_id: i64,
        collection_id: i64,
        rows: &[RecordWrite],
        now: i64,
    ) -> StoreResult<(i64, i64)> {
        let dialect = self.dialect();
        write_tx!(self, |tx| {
            let mut updated = 0i64;
            for part in rows.chunks(ROWS_PER_STATEMENT) {
                let keys = placeholders(dialect, 3, part.len());
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM records WHERE org_id = {} AND collection_id = {} AND key IN ({keys})",
                    placeholders(dialect, 1, 1),
                    placeholders(dialect, 2, 1)
                )))
                .bind(org_id)
                .bind(collection_id);
                for r in part {
                    q = q.bind(r.key.as_str());
                }
                updated += q.fetch_one(&mut *tx).await?;
                let values: Vec<String> = (0..part.len())
                    .map(|i| {
                        format!(
                            "({org_id}, {collection_id}, {}, {now}, {now})",
                            placeholders(dialect, 1 + i * 3, 3)
                        )
                    })
                    .collect();
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO records (org_id, collection_id, key, contact_id, data, created_at, updated_at) VALUES {} \
                     ON CONFLICT (org_id, collection_id, key) DO UPDATE SET contact_id = excluded.contact_id, \
                     data = excluded.data, updated_at = excluded.updated_at",
                    values.join(", ")
                )));
                for r in part {
                    q = q
                        .bind(r.key.as_str())
                        .bind(r.contact_id)
                        .bind(r.data.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            Ok((rows.len() as i64 - updated, updated))
        })
    }

    /// Inserts one record; a conflict when its key is taken.
    pub async fn insert_record(
        &self,
        org_id: i64,
        collection_id: i64,
        r: &RecordWrite,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO records (org_id, collection_id, key, contact_id, data, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(org_id)
            .bind(collection_id)
            .bind(&r.key)
            .bind(r.contact_id)
            .bind(&r.data)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn record(
        &self,
        org_id: i64,
        collection_id: i64,
        key: &str,
    ) -> StoreResult<RecordRow> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT key, contact_id, data, created_at, updated_at FROM records \
             WHERE org_id = $1 AND collection_id = $2 AND key = $3"
        )
        .bind(org_id)
        .bind(collection_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn delete_record(
        &self,
        org_id: i64,
        collection_id: i64,
        key: &str,
    ) -> StoreResult<bool> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM records WHERE org_id = $1 AND collection_id = $2 AND key = $3"
        )
        .bind(org_id)
        .bind(collection_id)
        .bind(key)
        .execute(p)
        .await?
        .rows_affected()
            > 0))
    }

    /// Records of a collection by key order, narrowed by `f`. `f.equals` names a checked
    /// field (a-z, 0-9, _).
    pub async fn records(
        &self,
        org_id: i64,
        collection_id: i64,
        f: &RecordFilter,
    ) -> StoreResult<Vec<RecordRow>> {
        let value = match (self.dialect(), &f.equals) {
            (_, None) => "NULL".to_string(),
            (Dialect::Sqlite, Some((field, _))) => format!(
                // Booleans read as true/false, as on PostgreSQL.
                "(CASE json_type(data, '$.\"{field}\"') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 ELSE CAST(json_extract(data, '$.\"{field}\"') AS TEXT) END)"
            ),
            (Dialect::Postgres, Some((field, _))) => format!("(data::jsonb ->> '{field}')"),
        };
        let sql = format!(
            "SELECT key, contact_id, data, created_at, updated_at FROM records \
             WHERE org_id = $1 AND collection_id = $2 AND ($3 IS NULL OR contact_id = $3) \
             AND ($4 IS NULL OR {value} = $4) AND ($5 IS NULL OR key > $5) ORDER BY key LIMIT $6"
        );
        on_read!(self, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(org_id)
        .bind(collection_id)
        .bind(f.contact_id)
        .bind(f.equals.as_ref().map(|(_, v)| v.as_str()))
        .bind(f.after.as_deref())
        .bind(f.limit)
        .fetch_all(p)
        .await?))
    }

    /// A contact's records of every collection: (collection key, data JSON), by key.
    pub async fn contact_records(
        &self,
        org_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT co.key, r.data FROM records r JOIN collections co ON co.org_id = r.org_id AND co.id = r.collection_id \
             WHERE r.org_id = $1 AND r.contact_id = $2 ORDER BY co.key, r.key LIMIT 10000"
        )
        .bind(org_id)
        .bind(contact_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Contact ids by e-mail address or external id (`column`), for the values that exist.
    pub async fn contact_ids_by(
        &self,
        org_id: i64,
        column: ContactKey,
        values: &[String],
    ) -> StoreResult<HashMap<String, i64>> {
        let col = match column {
            ContactKey::Email => "email",
            ContactKey::ExternalId => "external_id",
            ContactKey::Id => "CAST(id AS TEXT)",
        };
        let dialect = self.dialect();
        let mut out = HashMap::new();
        for part in values.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {col}, id FROM contacts WHERE org_id = {} AND {col} IN ({})",
                placeholders(dialect, 1, 1),
                placeholders(dialect, 2, part.len())
            );
            let rows: Vec<(String, i64)> = on_read!(self, |p| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(org_id);
                for v in part {
                    q = q.bind(v.as_str());
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}

/// How a record names its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactKey {
    Id,
    Email,
    ExternalId,
}
