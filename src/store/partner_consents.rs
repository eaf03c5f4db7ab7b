//! What a partner receives: the consent changes on its opt-ins with their proof, read from the
//! ledger by sequence number, and the schedules that write them to a folder.

use serde::Serialize;

use super::{fetch_in, on_read, on_write, safe, Store, StoreResult};

/// One consent change on a partner's opt-in (confirm, assert or unsubscribe), with the contact
/// as it is now (None once erased).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConsentEventRow {
    pub seq: i64,
    pub occurred_at: i64,
    pub action: String,
    pub optin: String,
    pub contact_id: Option<i64>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub name_prefix: Option<String>,
    pub last_name: Option<String>,
    pub language: Option<String>,
    pub source: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub text_shown: Option<String>,
    pub context: Option<String>,
    /// The `subscribe` entry a confirmation answers (double opt-in).
    pub request_seq: Option<i64>,
}

/// The request a confirmation answers: when and where the box was ticked, and what it said.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestRow {
    pub seq: i64,
    pub occurred_at: i64,
    pub source: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub text_shown: Option<String>,
    pub context: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PartnerExportRow {
    pub org_id: i64,
    pub id: i64,
    pub partner_id: i64,
    pub folder: String,
    pub format: String,
    pub every_minutes: i64,
    pub last_seq: i64,
    pub next_run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

const EXPORT_COLUMNS: &str = "org_id, id, partner_id, folder, format, every_minutes, last_seq, next_run_at, last_error, created_at";

impl Store {
    /// The consent changes on a partner's opt-ins after ledger entry `after`, oldest first.
    pub async fn partner_consent_events(
        &self,
        org_id: i64,
        partner_id: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ConsentEventRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT e.seq, e.occurred_at, e.action, l.key AS optin, e.contact_id, e.email, c.first_name, c.name_prefix, \
             c.last_name, c.language, e.source, e.ip, e.user_agent, e.text_shown, e.context, \
             (SELECT r.seq FROM consent_events r WHERE r.org_id = e.org_id AND r.contact_id = e.contact_id \
                 AND r.list_id = e.list_id AND r.action = 'subscribe' AND r.seq < e.seq ORDER BY r.seq DESC LIMIT 1) AS request_seq \
             FROM consent_events e JOIN lists l ON l.org_id = e.org_id AND l.id = e.list_id \
             LEFT JOIN contacts c ON c.org_id = e.org_id AND c.id = e.contact_id \
             WHERE e.org_id = $1 AND l.partner_id = $2 AND e.seq > $3 AND e.action IN ('confirm', 'assert', 'unsubscribe') \
             ORDER BY e.seq LIMIT $4"
        )
        .bind(org_id)
        .bind(partner_id)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Ledger entries by sequence number (the requests confirmations answer).
    pub async fn ledger_requests(&self, org_id: i64, seqs: &[i64]) -> StoreResult<Vec<RequestRow>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(fetch_in!(
            self,
            query_as,
            "SELECT seq, occurred_at, source, ip, user_agent, text_shown, context FROM consent_events \
             WHERE org_id = $1 AND seq {ids}",
            [org_id],
            2,
            seqs
        ))
    }

    pub async fn insert_partner_export(
        &self,
        org_id: i64,
        partner_id: i64,
        folder: &str,
        format: &str,
        every_minutes: i64,
        now: i64,
    ) -> StoreResult<PartnerExportRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "INSERT INTO partner_exports (org_id, partner_id, folder, format, every_minutes, next_run_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {EXPORT_COLUMNS}"
        ))
        .bind(org_id)
        .bind(partner_id)
        .bind(folder)
        .bind(format)
        .bind(every_minutes)
        .bind(now)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn partner_exports(&self, org_id: i64) -> StoreResult<Vec<PartnerExportRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {EXPORT_COLUMNS} FROM partner_exports WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn delete_partner_export(&self, org_id: i64, id: i64) -> StoreResult<bool> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM partner_exports WHERE org_id = $1 AND id = $2"
        )
        .bind(org_id)
        .bind(id)
        .execute(p)
        .await?
        .rows_affected()
            == 1))
    }

    pub async fn due_partner_exports(&self, now: i64) -> StoreResult<Vec<PartnerExportRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {EXPORT_COLUMNS} FROM partner_exports WHERE next_run_at <= $1 ORDER BY next_run_at LIMIT 100"
        ))
        .bind(now)
        .fetch_all(p)
        .await?)
        })
    }

    /// Claims a due export for one run: only one node wins (the row must still be as read).
    pub async fn claim_partner_export(
        &self,
        e: &PartnerExportRow,
        next_run_at: i64,
    ) -> StoreResult<bool> {
        on_write!(self, |p| {
            Ok(sqlx::query(
            "UPDATE partner_exports SET next_run_at = $3 WHERE org_id = $1 AND id = $2 AND next_run_at = $4"
        )
        .bind(e.org_id)
        .bind(e.id)
        .bind(next_run_at)
        .bind(e.next_run_at)
        .execute(p)
        .await?
        .rows_affected()
            == 1)
        })
    }

    /// Records a run: the last entry written (unchanged on failure) and the error, if any.
    pub async fn finish_partner_export(
        &self,
        org_id: i64,
        id: i64,
        last_seq: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE partner_exports SET last_seq = $3, last_error = $4 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .bind(last_seq)
            .bind(error)
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
