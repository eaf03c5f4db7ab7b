//! The encrypted link parameter of an organisation.

use serde::Serialize;

use super::{on_read, on_write, Store, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LinkParamRow {
    pub org_id: i64,
    pub name: String,
    /// JSON array of contact field names.
    pub fields: String,
    /// The key, hex.
    #[serde(skip)]
    pub key: String,
    pub updated_at: i64,
}

impl Store {
    pub async fn link_param(&self, org_id: i64) -> StoreResult<LinkParamRow> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT org_id, name, fields, key, updated_at FROM link_params WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_one(p)
        .await?))
    }

    /// Creates or replaces the organisation's parameter.
    pub async fn save_link_param(&self, l: &LinkParamRow) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO link_params (org_id, name, fields, key, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, fields = excluded.fields, \
                 key = excluded.key, updated_at = excluded.updated_at",
            )
            .bind(l.org_id)
            .bind(&l.name)
            .bind(&l.fields)
            .bind(&l.key)
            .bind(l.updated_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Turns the parameter off; false when it was not on.
    pub async fn delete_link_param(&self, org_id: i64) -> StoreResult<bool> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM link_params WHERE org_id = $1"
        )
        .bind(org_id)
        .execute(p)
        .await?
        .rows_affected()
            > 0))
    }
}
