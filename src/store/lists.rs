use serde::Serialize;

use super::{on_read, safe, write_tx, Store, StoreResult};

/// A list (opt-in / newsletter). Its key never changes once created.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ListRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub number: i64,
    pub double_optin: bool,
    pub is_default: bool,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

/// The texts of a list in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ListText {
    pub language: String,
    pub name: String,
    pub description: String,
    pub optin_text: String,
}

const COLUMNS: &str = "org_id, id, key, number, double_optin, is_default, created_at, archived_at";

/// Numbers of new lists start here (MailingLijst's `l=` parameter is numeric).
pub const FIRST_LIST_NUMBER: i64 = 100_000;

impl Store {
    /// Creates a list with its texts; it gets the next free number of the organisation. The
    /// first list of an organisation becomes its default.
    pub async fn create_list(
        &self,
        org_id: i64,
        key: &str,
        double_optin: bool,
        texts: &[ListText],
        now: i64,
    ) -> StoreResult<ListRow> {
        let row = write_tx!(self, |tx| {
            let (next, count): (Option<i64>, i64) =
                sqlx::query_as("SELECT MAX(number) + 1, COUNT(*) FROM lists WHERE org_id = $1")
                    .bind(org_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let row: ListRow = sqlx::query_as(safe!(
                "INSERT INTO lists (org_id, key, number, double_optin, is_default, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
            ))
            .bind(org_id)
            .bind(key)
            .bind(next.unwrap_or(FIRST_LIST_NUMBER))
            .bind(double_optin)
            .bind(count == 0)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for t in texts {
                sqlx::query("INSERT INTO list_texts (org_id, list_id, language, name, description, optin_text) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(org_id)
                    .bind(row.id)
                    .bind(&t.language)
                    .bind(&t.name)
                    .bind(&t.description)
                    .bind(&t.optin_text)
                    .execute(&mut *tx)
                    .await?;
            }
            row
        });
        Ok(row)
    }

    pub async fn list_by_key(&self, org_id: i64, key: &str) -> StoreResult<ListRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM lists WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn lists(&self, org_id: i64) -> StoreResult<Vec<ListRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM lists WHERE org_id = $1 ORDER BY number"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn list_texts(&self, org_id: i64, list_id: i64) -> StoreResult<Vec<ListText>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT language, name, description, optin_text FROM list_texts WHERE org_id = $1 AND list_id = $2 ORDER BY language"
        )
        .bind(org_id)
        .bind(list_id)
        .fetch_all(p)
        .await?)
        })
    }
}
