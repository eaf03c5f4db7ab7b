use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, SqliteStore, Store, StoreError, StoreResult};

/// A stored API token (never the secret itself: only its SHA-256).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TokenRow {
    pub org_id: i64,
    pub id: i64,
    #[serde(skip)]
    pub token_hash: String,
    pub display_prefix: String,
    pub name: Option<String>,
    pub scopes: String,
    pub allowed_ips: String,
    pub user_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub replaced_by: Option<i64>,
    /// Set when the owning user has been removed.
    pub user_removed_at: Option<i64>,
    /// The partner the token acts for (partner scopes only).
    pub partner_id: Option<i64>,
    pub partner_key: Option<String>,
}

/// What is needed to store a new token.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub org_id: i64,
    pub token_hash: String,
    pub display_prefix: String,
    pub name: Option<String>,
    pub scopes: String,
    pub allowed_ips: String,
    pub user_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub partner_id: Option<i64>,
}

const SELECT: &str = "SELECT t.org_id, t.id, t.token_hash, t.display_prefix, t.name, t.scopes, t.allowed_ips, \
     t.user_id, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.replaced_by, u.removed_at AS user_removed_at, t.partner_id, \
     pr.key AS partner_key FROM api_tokens t LEFT JOIN users u ON u.org_id = t.org_id AND u.id = t.user_id \
     LEFT JOIN partners pr ON pr.org_id = t.org_id AND pr.id = t.partner_id";

const INSERT: &str = "INSERT INTO api_tokens (org_id, token_hash, display_prefix, name, scopes, allowed_ips, user_id, created_at, expires_at, partner_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";

impl Store {
    pub async fn insert_token(&self, t: &NewToken) -> StoreResult<i64> {
        on_write!(self, |p| Ok(sqlx::query_scalar(INSERT)
            .bind(t.org_id)
            .bind(&t.token_hash)
            .bind(&t.display_prefix)
            .bind(&t.name)
            .bind(&t.scopes)
            .bind(&t.allowed_ips)
            .bind(t.user_id)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.partner_id)
            .fetch_one(p)
            .await?))
    }

    /// The token with this hash. Asked on every API request: on SQLite it is read on the
    /// calling thread.
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<TokenRow> {
        if let Store::Sqlite(SqliteStore {
            inline: Some(inline),
            ..
        }) = self
        {
            return inline.read(|db| {
                static BY_HASH: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| format!("{SELECT} WHERE t.token_hash = ?1"));
                db.prepare_cached(&BY_HASH)?.query_row([hash], |r| {
                    Ok(TokenRow {
                        org_id: r.get(0)?,
                        id: r.get(1)?,
                        token_hash: r.get(2)?,
                        display_prefix: r.get(3)?,
                        name: r.get(4)?,
                        scopes: r.get(5)?,
                        allowed_ips: r.get(6)?,
                        user_id: r.get(7)?,
                        created_at: r.get(8)?,
                        expires_at: r.get(9)?,
                        last_used_at: r.get(10)?,
                        revoked_at: r.get(11)?,
                        replaced_by: r.get(12)?,
                        user_removed_at: r.get(13)?,
                        partner_id: r.get(14)?,
                        partner_key: r.get(15)?,
                    })
                })
            });
        }
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "{SELECT} WHERE t.token_hash = $1"
        ))
        .bind(hash)
        .fetch_one(p)
        .await?))
    }

    pub async fn token_by_id(&self, id: i64) -> StoreResult<TokenRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "{SELECT} WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn list_tokens(&self, org_id: i64) -> StoreResult<Vec<TokenRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "{SELECT} WHERE t.org_id = $1 ORDER BY t.id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// Records use of a token. Only written when the stored value is older than `min_gap_ms`,
    /// so busy tokens do not cause a write per request.
    pub async fn touch_token(&self, id: i64, now: i64, min_gap_ms: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(id)
                .bind(now)
                .bind(now - min_gap_ms)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn revoke_token(&self, id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
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

    /// Stores `new` and revokes token `old_id` in one transaction; returns the new id.
    /// Fails with NotFound when the old token is already revoked.
    pub async fn rotate_token(&self, old_id: i64, new: &NewToken) -> StoreResult<i64> {
        let id = write_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(INSERT)
                .bind(new.org_id)
                .bind(&new.token_hash)
                .bind(&new.display_prefix)
                .bind(&new.name)
                .bind(&new.scopes)
                .bind(&new.allowed_ips)
                .bind(new.user_id)
                .bind(new.created_at)
                .bind(new.expires_at)
                .bind(new.partner_id)
                .fetch_one(&mut *tx)
                .await?;
            let r = sqlx::query("UPDATE api_tokens SET revoked_at = $2, replaced_by = $3 WHERE id = $1 AND revoked_at IS NULL")
                .bind(old_id)
                .bind(new.created_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            id
        });
        Ok(id)
    }
}
