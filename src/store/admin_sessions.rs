//! Sign-in sessions of the admin UI, stored by the SHA-256 of the cookie value.

use super::{on_read, on_write, Store, StoreResult};

/// A session with its user as the user is now: a removed user or a changed role shows at the
/// next request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub org_id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub email: String,
    pub role: String,
    pub language: String,
    pub time_zone: String,
    pub org_slug: String,
    pub org_name: String,
}

impl Store {
    pub async fn create_session(
        &self,
        id_hash: &str,
        org_id: i64,
        user_id: i64,
        csrf_token: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO admin_sessions (id_hash, org_id, user_id, csrf_token, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id_hash)
            .bind(org_id)
            .bind(user_id)
            .bind(csrf_token)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The session and its (not removed) user, or NotFound.
    pub async fn session(&self, id_hash: &str) -> StoreResult<SessionRow> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT s.org_id, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, u.email, u.role, \
             u.language, u.time_zone, o.slug AS org_slug, o.name AS org_name \
             FROM admin_sessions s JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id \
             JOIN organizations o ON o.id = s.org_id \
             WHERE s.id_hash = $1 AND u.removed_at IS NULL"
        )
        .bind(id_hash)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn touch_session(&self, id_hash: &str, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("UPDATE admin_sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Ends every session of a user but `keep` (after a password change, all of them on removal).
    pub async fn delete_user_sessions(
        &self,
        org_id: i64,
        user_id: i64,
        keep: Option<&str>,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "DELETE FROM admin_sessions WHERE org_id = $1 AND user_id = $2 AND id_hash <> COALESCE($3, '')",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(keep)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`.
    pub async fn purge_sessions(&self, idle_before: i64, created_before: i64) -> StoreResult<u64> {
        on_write!(self, |p| {
            let done = sqlx::query(
                "DELETE FROM admin_sessions WHERE last_seen_at < $1 OR created_at < $2",
            )
            .bind(idle_before)
            .bind(created_before)
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
