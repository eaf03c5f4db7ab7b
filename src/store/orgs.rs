use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, Store, StoreResult};
use crate::domain::ledger::GENESIS_HASH;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Org {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub default_language: String,
    pub created_at: i64,
    pub sender_email: Option<String>,
    pub sender_name: Option<String>,
    /// A sandbox organisation's mail never leaves the machine (it goes to the outbox).
    pub sandbox: bool,
    /// Whether a new mailing counts opens and clicks unless it says otherwise.
    pub track_opens: bool,
    pub track_clicks: bool,
}

const COLUMNS: &str =
    "id, slug, name, default_language, created_at, sender_email, sender_name, sandbox, track_opens, track_clicks";

impl Store {
    /// Creates an organisation together with the head of its consent ledger.
    pub async fn create_org(
        &self,
        slug: &str,
        name: &str,
        language: &str,
        now: i64,
    ) -> StoreResult<Org> {
        let org = write_tx!(self, |tx| {
            let org: Org = sqlx::query_as(safe!(
                "INSERT INTO organizations (slug, name, default_language, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
            ))
            .bind(slug)
            .bind(name)
            .bind(language)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO consent_heads (org_id, seq, hash) VALUES ($1, 0, $2)")
                .bind(org.id)
                .bind(GENESIS_HASH)
                .execute(&mut *tx)
                .await?;
            org
        });
        Ok(org)
    }

    /// Sets the From address and name of the organisation's mails.
    pub async fn set_org_sender(
        &self,
        org_id: i64,
        email: &str,
        name: Option<&str>,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE organizations SET sender_email = $2, sender_name = $3 WHERE id = $1",
            )
            .bind(org_id)
            .bind(email)
            .bind(name)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Sets whether new mailings count opens and clicks by default.
    pub async fn set_org_tracking(
        &self,
        org_id: i64,
        opens: bool,
        clicks: bool,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE organizations SET track_opens = $2, track_clicks = $3 WHERE id = $1",
            )
            .bind(org_id)
            .bind(opens)
            .bind(clicks)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM organizations ORDER BY slug"
        ))
        .fetch_all(p)
        .await?))
    }

    pub async fn org_by_slug(&self, slug: &str) -> StoreResult<Org> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM organizations WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_one(p)
        .await?))
    }

    pub async fn org_by_id(&self, id: i64) -> StoreResult<Org> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM organizations WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(p)
        .await?))
    }
}
