use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, Store, StoreResult};

/// A list (opt-in / newsletter). Its key never changes once created.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ListRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub number: i64,
    pub double_optin: bool,
    pub is_default: bool,
    pub send_welcome: bool,
    pub created_at: i64,
    pub archived_at: Option<i64>,
    /// The partner that owns the opt-in; None: the organisation itself.
    pub partner_id: Option<i64>,
}

/// The texts of a list in one language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ListText {
    pub language: String,
    pub name: String,
    pub description: String,
    pub optin_text: String,
}

const COLUMNS: &str =
    "org_id, id, key, number, double_optin, is_default, send_welcome, created_at, archived_at, partner_id";

/// What is needed to create a list.
#[derive(Debug, Clone)]
pub struct NewList {
    pub key: String,
    pub double_optin: bool,
    /// None: default when it is the organisation's first list.
    pub is_default: Option<bool>,
    pub send_welcome: bool,
    pub texts: Vec<ListText>,
    pub partner_id: Option<i64>,
}

/// A list with all its texts and its organisation's language, read in one query.
#[derive(Debug, Clone)]
pub struct ListWithTexts {
    pub list: ListRow,
    pub texts: Vec<ListText>,
    pub org_language: String,
}

#[derive(sqlx::FromRow)]
struct ListTextRow {
    #[sqlx(flatten)]
    list: ListRow,
    default_language: String,
    language: Option<String>,
    name: Option<String>,
    description: Option<String>,
    optin_text: Option<String>,
}

/// Numbers of new lists start here (MailingLijst's `l=` parameter is numeric).
pub const FIRST_LIST_NUMBER: i64 = 100_000;

impl Store {
    /// Creates a list with its texts; it gets the next free number of the organisation. The
    /// first list of an organisation becomes its default.
    pub async fn create_list(&self, org_id: i64, new: &NewList, now: i64) -> StoreResult<ListRow> {
        let row = write_tx!(self, |tx| {
            let (next, count): (Option<i64>, i64) =
                sqlx::query_as("SELECT MAX(number) + 1, COUNT(*) FROM lists WHERE org_id = $1")
                    .bind(org_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let is_default = new.is_default.unwrap_or(count == 0);
            if is_default {
                sqlx::query("UPDATE lists SET is_default = FALSE WHERE org_id = $1 AND is_default")
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: ListRow = sqlx::query_as(safe!(
                "INSERT INTO lists (org_id, key, number, double_optin, is_default, send_welcome, created_at, partner_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            ))
            .bind(org_id)
            .bind(&new.key)
            .bind(next.unwrap_or(FIRST_LIST_NUMBER))
            .bind(new.double_optin)
            .bind(is_default)
            .bind(new.send_welcome)
            .bind(now)
            .bind(new.partner_id)
            .fetch_one(&mut *tx)
            .await?;
            for t in &new.texts {
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

    /// Archives a list: it takes no new subscriptions and is no longer offered. Archiving the
    /// default list leaves the organisation without one.
    pub async fn archive_list(&self, org_id: i64, list_id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("UPDATE lists SET archived_at = $3, is_default = FALSE WHERE org_id = $1 AND id = $2 AND archived_at IS NULL")
                .bind(org_id)
                .bind(list_id)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn list_by_id(&self, org_id: i64, id: i64) -> StoreResult<ListRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM lists WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// The lists with these keys — or, with no keys, the default list — with their texts, in
    /// one query (registration is a hot path).
    pub async fn lists_with_texts(
        &self,
        org_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<ListWithTexts>> {
        let filter = if keys.is_empty() {
            "l.is_default AND l.archived_at IS NULL".to_string()
        } else {
            let params: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
            format!("l.key IN ({})", params.join(", "))
        };
        let sql = format!(
            "SELECT l.org_id, l.id, l.key, l.number, l.double_optin, l.is_default, l.send_welcome, l.created_at, l.archived_at, l.partner_id, \
             o.default_language, t.language, t.name, t.description, t.optin_text \
             FROM organizations o JOIN lists l ON l.org_id = o.id \
             LEFT JOIN list_texts t ON t.org_id = l.org_id AND t.list_id = l.id \
             WHERE o.id = $1 AND {filter} ORDER BY l.id, t.language"
        );
        let rows: Vec<ListTextRow> = on_read!(self, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(org_id);
            for k in keys {
                q = q.bind(k);
            }
            q.fetch_all(p).await?
        });
        let mut out: Vec<ListWithTexts> = Vec::new();
        for r in rows {
            let text = r.language.map(|language| ListText {
                language,
                name: r.name.unwrap_or_default(),
                description: r.description.unwrap_or_default(),
                optin_text: r.optin_text.unwrap_or_default(),
            });
            match out.last_mut() {
                Some(last) if last.list.id == r.list.id => last.texts.extend(text),
                _ => out.push(ListWithTexts {
                    list: r.list,
                    texts: text.into_iter().collect(),
                    org_language: r.default_language,
                }),
            }
        }
        Ok(out)
    }

    /// All subscriptions of a contact.
    pub async fn contact_subscriptions(
        &self,
        org_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<super::SubscriptionRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {} FROM subscriptions WHERE org_id = $1 AND contact_id = $2 ORDER BY list_id",
            super::consent::SUBSCRIPTION_COLUMNS
        ))
        .bind(org_id)
        .bind(contact_id)
        .fetch_all(p)
        .await?))
    }

    /// Subscriptions per list and status: `(list_id, status, count)`.
    pub async fn audience_counts(&self, org_id: i64) -> StoreResult<Vec<(i64, String, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT list_id, status, COUNT(*) FROM subscriptions WHERE org_id = $1 GROUP BY list_id, status"
        )
        .bind(org_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Subscriptions confirmed and ended per day (UTC) since `since`: `(day, confirmed,
    /// unsubscribed)`, days as unix days, only days with either.
    pub async fn subscription_days(
        &self,
        org_id: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, i64, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT day, SUM(confirmed), SUM(ended) FROM ( \
               SELECT confirmed_at / 86400000 AS day, 1 AS confirmed, 0 AS ended FROM subscriptions \
                 WHERE org_id = $1 AND confirmed_at >= $2 \
               UNION ALL \
               SELECT unsubscribed_at / 86400000, 0, 1 FROM subscriptions \
                 WHERE org_id = $1 AND unsubscribed_at >= $2 \
             ) d GROUP BY day ORDER BY day"
        )
        .bind(org_id)
        .bind(since)
        .fetch_all(p)
        .await?)
        })
    }

    pub async fn count_contacts(&self, org_id: i64) -> StoreResult<i64> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM contacts WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_one(p)
        .await?))
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
