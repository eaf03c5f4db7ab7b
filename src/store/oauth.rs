//! OAuth 1.0a consumers of the Spotler-style integration service and the nonces they used.

use serde::Serialize;

use super::{on_read, on_write, safe, Store, StoreError, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OAuthConsumerRow {
    pub org_id: i64,
    pub id: i64,
    pub consumer_key: String,
    #[serde(skip)]
    pub secret: String,
    pub scopes: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "org_id, id, consumer_key, secret, scopes, name, created_at, revoked_at";

impl Store {
    pub async fn insert_oauth_consumer(
        &self,
        org_id: i64,
        key: &str,
        secret: &str,
        scopes: &str,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<OAuthConsumerRow> {
        on_write!(self, |p| Ok(sqlx::query_as(safe!(
            "INSERT INTO oauth_consumers (org_id, consumer_key, secret, scopes, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(org_id)
        .bind(key)
        .bind(secret)
        .bind(scopes)
        .bind(name)
        .bind(now)
        .fetch_one(p)
        .await?))
    }

    pub async fn oauth_consumer_by_key(&self, key: &str) -> StoreResult<OAuthConsumerRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM oauth_consumers WHERE consumer_key = $1"
        ))
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn oauth_consumers(&self, org_id: i64) -> StoreResult<Vec<OAuthConsumerRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM oauth_consumers WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn revoke_oauth_consumer(&self, org_id: i64, id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query(
                "UPDATE oauth_consumers SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(org_id)
            .bind(id)
            .bind(now)
            .execute(p)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    /// Records a nonce of a consumer; false when it was seen before (a replay).
    pub async fn remember_nonce(
        &self,
        consumer_id: i64,
        nonce: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_write!(self, |p| {
            Ok(sqlx::query(
            "INSERT INTO oauth_nonces (consumer_id, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        )
        .bind(consumer_id)
        .bind(nonce)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected()
            == 1)
        })
    }

    /// Forgets nonces older than the timestamp window (they can no longer be replayed).
    pub async fn purge_nonces(&self, before: i64) -> StoreResult<u64> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM oauth_nonces WHERE seen_at < $1"
        )
        .bind(before)
        .execute(p)
        .await?
        .rows_affected()))
    }
}
