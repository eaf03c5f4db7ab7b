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
    /// The admin UI's language for this user (`en` or `nl`).
    pub language: String,
    /// The IANA time zone the admin UI shows dates in.
    pub time_zone: String,
}

const COLUMNS: &str =
    "org_id, id, email, password_hash, role, created_at, removed_at, language, time_zone";

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

    pub async fn user(&self, org_id: i64, id: i64) -> StoreResult<UserRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM users WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// The users of an organisation, removed ones included, by address.
    pub async fn users(&self, org_id: i64) -> StoreResult<Vec<UserRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM users WHERE org_id = $1 ORDER BY email"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// The active users with this address, in every organisation (the sign-in form asks for no
    /// organisation).
    pub async fn active_users_by_email(&self, email: &str) -> StoreResult<Vec<UserRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM users WHERE email = $1 AND removed_at IS NULL ORDER BY org_id"
        ))
        .bind(email)
        .fetch_all(p)
        .await?))
    }

    pub async fn set_user_password(
        &self,
        org_id: i64,
        id: i64,
        password_hash: &str,
    ) -> StoreResult<()> {
        self.update_user(org_id, id, "password_hash", password_hash)
            .await
    }

    pub async fn set_user_role(&self, org_id: i64, id: i64, role: &str) -> StoreResult<()> {
        self.update_user(org_id, id, "role", role).await
    }

    pub async fn set_user_preferences(
        &self,
        org_id: i64,
        id: i64,
        language: &str,
        time_zone: &str,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE users SET language = $3, time_zone = $4 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .bind(language)
            .bind(time_zone)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    async fn update_user(
        &self,
        org_id: i64,
        id: i64,
        column: &'static str,
        value: &str,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            let done = sqlx::query(safe!(
                "UPDATE users SET {column} = $3 WHERE org_id = $1 AND id = $2 AND removed_at IS NULL"
            ))
            .bind(org_id)
            .bind(id)
            .bind(value)
            .execute(p)
            .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
        });
        Ok(())
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
