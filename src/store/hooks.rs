//! Webhook receivers (their payloads are written through the import chunk writer).

use super::{on_read, on_write, safe, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HookRow {
    pub org_id: i64,
    pub id: i64,
    pub public_id: String,
    pub name: String,
    pub token_hash: Option<String>,
    pub token_id: Option<i64>,
    pub mapping: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "org_id, id, public_id, name, token_hash, token_id, mapping, created_at, updated_at";

impl Store {
    pub async fn hooks(&self, org_id: i64) -> StoreResult<Vec<HookRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM hooks WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn hook_by_public_id(&self, public_id: &str) -> StoreResult<HookRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM hooks WHERE public_id = $1"
        ))
        .bind(public_id)
        .fetch_one(p)
        .await?))
    }

    pub async fn create_hook(&self, h: &HookRow) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO hooks (org_id, public_id, name, token_hash, token_id, mapping, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(h.org_id)
            .bind(&h.public_id)
            .bind(&h.name)
            .bind(&h.token_hash)
            .bind(h.token_id)
            .bind(&h.mapping)
            .bind(h.created_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Replaces a hook's name, mapping, tokens; false when there is none.
    pub async fn update_hook(&self, h: &HookRow) -> StoreResult<bool> {
        on_write!(self, |p| {
            Ok(sqlx::query(
            "UPDATE hooks SET name = $3, token_hash = $4, token_id = $5, mapping = $6, updated_at = $7 \
             WHERE org_id = $1 AND public_id = $2"
        )
        .bind(h.org_id)
        .bind(&h.public_id)
        .bind(&h.name)
        .bind(&h.token_hash)
        .bind(h.token_id)
        .bind(&h.mapping)
        .bind(h.updated_at)
        .execute(p)
        .await?
        .rows_affected()
            > 0)
        })
    }

    pub async fn delete_hook(&self, org_id: i64, public_id: &str) -> StoreResult<bool> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM hooks WHERE org_id = $1 AND public_id = $2"
        )
        .bind(org_id)
        .bind(public_id)
        .execute(p)
        .await?
        .rows_affected()
            > 0))
    }
}
