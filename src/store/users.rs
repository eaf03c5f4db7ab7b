use serde::Serialize;

use super::{on_read, on_write, safe, Store, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub org_id: i64,
    pub id: i64,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    pub removed_at: Option<i64>,
}

const COLUMNS: &str = "org_id, id, email, password_hash, role, created_at, removed_at";

impl Store {
    pub async fn create_user(
        &self,
        org_id: i64,
        email: &str,
        password_hash: &str,
        role: &str,
        now: i64,
    ) -> StoreResult<UserRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "INSERT INTO users (org_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(org_id)
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .bind(now)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn user_by_email(&self, org_id: i64, email: &str) -> StoreResult<UserRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM users WHERE org_id = $1 AND email = $2"
        ))
        .bind(org_id)
        .bind(email)
        .fetch_one(p)
        .await?))
    }

    /// Marks a user removed; the user's API tokens stop working at once (they are checked on use).
    pub async fn remove_user(&self, org_id: i64, user_id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            let done = sqlx::query("UPDATE users SET removed_at = $3 WHERE org_id = $1 AND id = $2 AND removed_at IS NULL")
                .bind(org_id)
                .bind(user_id)
                .bind(now)
                .execute(p)
                .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
        });
        Ok(())
    }
}
