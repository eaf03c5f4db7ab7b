//! Mailings, their lists and tracked links, and reusable templates (layouts, transactional).

use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::MailingStatus;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MailingRow {
    pub org_id: i64,
    pub id: i64,
    pub name: String,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_email: String,
    pub reply_to: Option<String>,
    pub html: String,
    pub text: Option<String>,
    pub layout_id: Option<i64>,
    pub segment: Option<String>,
    pub track_opens: bool,
    pub track_clicks: bool,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub held_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub plan_cursor: i64,
    pub planned: bool,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MailingRow {
    pub fn status(&self) -> MailingStatus {
        MailingStatus::parse(&self.status).unwrap_or(MailingStatus::Draft)
    }
}

/// The content and audience of a mailing, as saved from a draft.
#[derive(Debug, Clone)]
pub struct MailingContent {
    pub name: String,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_email: String,
    pub reply_to: Option<String>,
    pub html: String,
    pub text: Option<String>,
    pub layout_id: Option<i64>,
    pub segment: Option<String>,
    pub track_opens: bool,
    pub track_clicks: bool,
    /// A note for the marketers, and the owner code a MailingLijst integration gave it.
    pub description: Option<String>,
    pub owner: Option<String>,
    pub list_ids: Vec<i64>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TemplateRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub name: String,
    pub subject: Option<String>,
    pub html: String,
    pub text: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub subject: Option<String>,
    pub html: String,
    pub text: Option<String>,
}

const MAILING_COLUMNS: &str = "org_id, id, name, subject, from_name, from_email, reply_to, html, text, layout_id, segment, \
     track_opens, track_clicks, description, owner, status, scheduled_at, held_at, started_at, finished_at, plan_cursor, planned, source, \
     created_at, updated_at";
const TEMPLATE_COLUMNS: &str =
    "org_id, id, key, kind, name, subject, html, text, created_at, updated_at";

/// SQL list of status literals (from the enum, never from input).
fn status_list(statuses: &[MailingStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Binds the content columns of a [`MailingContent`] in the order both statements list them.
macro_rules! bind_content {
    ($q:expr, $m:expr) => {
        $q.bind(&$m.name)
            .bind(&$m.subject)
            .bind(&$m.from_name)
            .bind(&$m.from_email)
            .bind(&$m.reply_to)
            .bind(&$m.html)
            .bind(&$m.text)
            .bind($m.layout_id)
            .bind(&$m.segment)
            .bind($m.track_opens)
            .bind($m.track_clicks)
            .bind(&$m.description)
            .bind(&$m.owner)
    };
}

macro_rules! replace_lists {
    ($tx:ident, $org:expr, $id:expr, $lists:expr) => {
        sqlx::query("DELETE FROM mailing_lists WHERE org_id = $1 AND mailing_id = $2")
            .bind($org)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        for l in $lists {
            sqlx::query(
                "INSERT INTO mailing_lists (org_id, mailing_id, list_id) VALUES ($1, $2, $3)",
            )
            .bind($org)
            .bind($id)
            .bind(*l)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

impl Store {
    pub async fn insert_mailing(
        &self,
        org_id: i64,
        m: &MailingContent,
        now: i64,
    ) -> StoreResult<MailingRow> {
        let id: i64 = write_tx!(self, |tx| {
            let q = sqlx::query_scalar(
                "INSERT INTO mailings (org_id, name, subject, from_name, from_email, reply_to, html, text, layout_id, segment, \
                 track_opens, track_clicks, description, owner, status, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'draft', $15, $16, $16) RETURNING id",
            );
            let id: i64 = bind_content!(q.bind(org_id), m)
                .bind(&m.source)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            replace_lists!(tx, org_id, id, &m.list_ids);
            id
        });
        self.mailing(org_id, id).await
    }

    /// Replaces content and audience of a draft or scheduled mailing; NotFound when there is
    /// no such mailing in an editable state.
    pub async fn update_mailing(
        &self,
        org_id: i64,
        id: i64,
        m: &MailingContent,
        now: i64,
    ) -> StoreResult<MailingRow> {
        write_tx!(self, |tx| {
            let q = sqlx::query(
                "UPDATE mailings SET name = $3, subject = $4, from_name = $5, from_email = $6, reply_to = $7, html = $8, \
                 text = $9, layout_id = $10, segment = $11, track_opens = $12, track_clicks = $13, description = $14, \
                 owner = $15, updated_at = $16 \
                 WHERE org_id = $1 AND id = $2 AND status IN ('draft', 'scheduled')",
            );
            let r = bind_content!(q.bind(org_id).bind(id), m)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            replace_lists!(tx, org_id, id, &m.list_ids);
        });
        self.mailing(org_id, id).await
    }

    pub async fn mailing(&self, org_id: i64, id: i64) -> StoreResult<MailingRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {MAILING_COLUMNS} FROM mailings WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Mailings of an organisation, newest first, optionally of one status.
    pub async fn mailings(
        &self,
        org_id: i64,
        status: Option<MailingStatus>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<MailingRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {MAILING_COLUMNS} FROM mailings WHERE org_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(org_id)
        .bind(status.map(|s| s.as_str()))
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await?)
        })
    }

    pub async fn mailing_list_ids(&self, org_id: i64, id: i64) -> StoreResult<Vec<i64>> {
        on_read!(self, |p| {
            Ok(sqlx::query_scalar(
            "SELECT list_id FROM mailing_lists WHERE org_id = $1 AND mailing_id = $2 ORDER BY list_id"
        )
        .bind(org_id)
        .bind(id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Moves a mailing from one of `from` to `to`; false when it was in no such state.
    /// `scheduled_at` is set when moving to `scheduled`. Cancelling also cancels every
    /// message not sent yet.
    pub async fn transition_mailing(
        &self,
        org_id: i64,
        id: i64,
        from: &[MailingStatus],
        to: MailingStatus,
        scheduled_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE mailings SET status = $3, \
             scheduled_at = CASE WHEN $3 = 'scheduled' THEN $4 ELSE scheduled_at END, held_at = NULL, \
             started_at = CASE WHEN $3 = 'sending' THEN COALESCE(started_at, $5) ELSE started_at END, \
             finished_at = CASE WHEN $3 IN ('sent', 'cancelled') THEN $5 ELSE finished_at END, updated_at = $5 \
             WHERE org_id = $1 AND id = $2 AND status IN ({})",
            status_list(from)
        );
        write_tx!(self, |tx| {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(id)
                .bind(to.as_str())
                .bind(scheduled_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 1 && to == MailingStatus::Cancelled {
                sqlx::query(
                    "UPDATE deliveries SET status = 'cancelled', updated_at = $3 \
                     WHERE org_id = $1 AND mailing_id = $2 AND status = 'queued'",
                )
                .bind(org_id)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ok(r.rows_affected() == 1)
        })
    }

    /// Scheduled mailings whose time has come (not held), across organisations.
    pub async fn due_mailings(&self, now: i64) -> StoreResult<Vec<MailingRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {MAILING_COLUMNS} FROM mailings WHERE status = 'scheduled' AND held_at IS NULL AND scheduled_at <= $1 \
             ORDER BY scheduled_at, id"
        ))
        .bind(now)
        .fetch_all(p)
        .await?)
        })
    }

    /// Mailings being sent, across organisations.
    pub async fn sending_mailings(&self) -> StoreResult<Vec<MailingRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {MAILING_COLUMNS} FROM mailings WHERE status = 'sending' ORDER BY started_at, id"
        ))
        .fetch_all(p)
        .await?)
        })
    }

    /// Holds a scheduled mailing whose time passed long ago: it waits for a person.
    pub async fn hold_mailing(&self, org_id: i64, id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE mailings SET held_at = $3, updated_at = $3 WHERE org_id = $1 AND id = $2 AND status = 'scheduled' AND held_at IS NULL",
            )
            .bind(org_id)
            .bind(id)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Starts sending a draft or scheduled mailing and stores its tracked links (position =
    /// index in the click URL), in one transaction: false when it was in no such state (e.g.
    /// another node started it first).
    pub async fn start_mailing(
        &self,
        org_id: i64,
        id: i64,
        urls: &[String],
        now: i64,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let r = sqlx::query(
                "UPDATE mailings SET status = 'sending', held_at = NULL, started_at = COALESCE(started_at, $3), updated_at = $3 \
                 WHERE org_id = $1 AND id = $2 AND status IN ('draft', 'scheduled')",
            )
            .bind(org_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM mailing_links WHERE org_id = $1 AND mailing_id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (idx, url) in urls.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO mailing_links (org_id, mailing_id, idx, url) VALUES ($1, $2, $3, $4)",
                )
                .bind(org_id)
                .bind(id)
                .bind(idx as i64)
                .bind(url)
                .execute(&mut *tx)
                .await?;
            }
            Ok(true)
        })
    }

    pub async fn mailing_links(&self, org_id: i64, id: i64) -> StoreResult<Vec<String>> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT url FROM mailing_links WHERE org_id = $1 AND mailing_id = $2 ORDER BY idx"
        )
        .bind(org_id)
        .bind(id)
        .fetch_all(p)
        .await?))
    }

    pub async fn mailing_link(&self, org_id: i64, id: i64, idx: i64) -> StoreResult<String> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT url FROM mailing_links WHERE org_id = $1 AND mailing_id = $2 AND idx = $3"
        )
        .bind(org_id)
        .bind(id)
        .bind(idx)
        .fetch_one(p)
        .await?))
    }

    pub async fn insert_template(
        &self,
        org_id: i64,
        t: &NewTemplate,
        now: i64,
    ) -> StoreResult<TemplateRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "INSERT INTO templates (org_id, key, kind, name, subject, html, text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {TEMPLATE_COLUMNS}"
        ))
        .bind(org_id)
        .bind(&t.key)
        .bind(&t.kind)
        .bind(&t.name)
        .bind(&t.subject)
        .bind(&t.html)
        .bind(&t.text)
        .bind(now)
        .fetch_one(p)
        .await?)
        })
    }

    /// Replaces a template's content (its key and kind stay).
    pub async fn update_template(
        &self,
        org_id: i64,
        key: &str,
        t: &NewTemplate,
        now: i64,
    ) -> StoreResult<TemplateRow> {
        on_write!(self, |p| Ok(sqlx::query_as(safe!(
            "UPDATE templates SET name = $3, subject = $4, html = $5, text = $6, updated_at = $7 \
             WHERE org_id = $1 AND key = $2 RETURNING {TEMPLATE_COLUMNS}"
        ))
        .bind(org_id)
        .bind(key)
        .bind(&t.name)
        .bind(&t.subject)
        .bind(&t.html)
        .bind(&t.text)
        .bind(now)
        .fetch_one(p)
        .await?))
    }

    pub async fn template_by_key(&self, org_id: i64, key: &str) -> StoreResult<TemplateRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn template_by_id(&self, org_id: i64, id: i64) -> StoreResult<TemplateRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn templates(&self, org_id: i64) -> StoreResult<Vec<TemplateRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE org_id = $1 ORDER BY key"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }
}
