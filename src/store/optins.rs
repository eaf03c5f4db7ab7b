//! Opt-in registration, confirmation links, purging of unconfirmed signups, erasure, mail
//! template overrides and shared secrets. Each use case is one transaction.

use serde::Serialize;

use super::consent::{append_ledger, upsert_subscription};
use super::jobs::INSERT_JOB;
use super::{on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::ledger::{Evidence, LedgerEntry};
use crate::domain::{ConsentAction, ContactFields, EmailAddress};

/// Builds a job's (kind, payload) for (contact id, list ids), once the ids are known.
pub type JobBuilder = dyn Fn(i64, &[i64]) -> (String, String) + Send + Sync;

/// A registration request, resolved and validated by the service.
pub struct Registration {
    pub org_id: i64,
    pub email: EmailAddress,
    pub guid: String,
    pub fields: ContactFields,
    /// The lists asked for, each with the evidence of this request (the text shown differs).
    pub lists: Vec<(i64, Evidence)>,
    /// Subscribe at once on the caller's assertion (single opt-in) instead of pending.
    pub assert: bool,
    pub now: i64,
    /// A verification mail is sent only when the last one was sent before this moment.
    pub resend_before: i64,
    /// Hash and expiry of the confirmation token to store when a mail is sent.
    pub token_hash: String,
    pub token_expires_at: i64,
    /// Builds the verification job's (kind, payload) for (contact id, pending list ids).
    pub verification_job: std::sync::Arc<JobBuilder>,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationOutcome {
    pub contact_id: i64,
    pub created: bool,
    /// Lists whose status this request changed.
    pub changed: Vec<i64>,
    pub verification_queued: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConfirmTokenRow {
    pub token_hash: String,
    pub org_id: i64,
    pub contact_id: i64,
    pub list_ids: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl ConfirmTokenRow {
    pub fn list_ids(&self) -> Vec<i64> {
        self.list_ids
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MailTemplateRow {
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
}

pub(super) fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
}

/// The status of one subscription, read inside the transaction `$tx`.
macro_rules! status_of {
    ($tx:ident, $org:expr, $contact:expr, $list:expr) => {{
        let s: Option<String> = sqlx::query_scalar(
            "SELECT status FROM subscriptions WHERE org_id = $1 AND contact_id = $2 AND list_id = $3",
        )
        .bind($org)
        .bind($contact)
        .bind($list)
        .fetch_optional(&mut *$tx)
        .await?;
        s
    }};
}
pub(super) use status_of;

/// Inside the transaction `$tx`: the id of the contact with `$r.email`, created from `$r`'s
/// guid and fields when there is none; evaluates to (id, created).
macro_rules! contact_for {
    ($tx:ident, $org:expr, $r:expr) => {{
        let inserted: Option<i64> = $crate::store::contacts::insert_contact!(
            $tx,
            $org,
            &$r.guid,
            &$r.email,
            &$r.fields,
            $r.now,
            "ON CONFLICT (org_id, email) DO NOTHING"
        );
        match inserted {
            Some(id) => (id, true),
            None => (
                sqlx::query_scalar("SELECT id FROM contacts WHERE org_id = $1 AND email = $2")
                    .bind($org)
                    .bind($r.email.as_str())
                    .fetch_one(&mut *$tx)
                    .await?,
                false,
            ),
        }
    }};
}

/// Inside the transaction `$tx`: when the contact's last verification mail went out before
/// `$resend_before`, stores `$r`'s confirmation token for the `$pending` lists and queues the
/// verification mail; evaluates to whether it did. `$r` carries the token, its expiry, the
/// job builder, the attempts and the time.
macro_rules! queue_verification {
    ($tx:ident, $org:expr, $contact:expr, $pending:expr, $r:expr, $resend_before:expr) => {{
        let due = sqlx::query(
            "UPDATE contacts SET verification_sent_at = $3 WHERE org_id = $1 AND id = $2 \
             AND (verification_sent_at IS NULL OR verification_sent_at < $4)",
        )
        .bind($org)
        .bind($contact)
        .bind($r.now)
        .bind($resend_before)
        .execute(&mut *$tx)
        .await?;
        if due.rows_affected() == 1 {
            sqlx::query(
                "INSERT INTO confirm_tokens (token_hash, org_id, contact_id, list_ids, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&$r.token_hash)
            .bind($org)
            .bind($contact)
            .bind($crate::store::optins::join_ids($pending))
            .bind($r.now)
            .bind($r.token_expires_at)
            .execute(&mut *$tx)
            .await?;
            let (kind, payload) = ($r.verification_job)($contact, $pending);
            let _: i64 = sqlx::query_scalar($crate::store::jobs::INSERT_JOB)
                .bind($org)
                .bind(kind)
                .bind(payload)
                .bind($r.now)
                .bind($r.max_attempts)
                .bind($r.now)
                .bind($r.now)
                .fetch_one(&mut *$tx)
                .await?;
            true
        } else {
            false
        }
    }};
}
pub(super) use {contact_for, queue_verification};

impl Store {
    /// Registers an address for lists in one transaction: finds or creates the contact, moves
    /// each list to pending (or subscribed when asserted) unless it is subscribed already,
    /// writes the ledger, and — at most once per resend interval — stores a confirmation token
    /// and queues the verification mail.
    pub async fn register_optin(&self, r: Registration) -> StoreResult<RegistrationOutcome> {
        if let Store::Sqlite(s) = self {
            return s.registrations.register(r).await;
        }
        let r = &r;
        let org_id = r.org_id;
        let outcome = write_tx!(self, |tx| {
            let (contact_id, created) = contact_for!(tx, org_id, r);
            let mut changed = Vec::new();
            let mut pending = Vec::new();
            for (list_id, evidence) in &r.lists {
                let status = status_of!(tx, org_id, contact_id, *list_id);
                match status.as_deref() {
                    // Never fall back from subscribed: that would let anyone unsubscribe anyone.
                    Some("subscribed") => continue,
                    Some("pending") if !r.assert => {
                        pending.push(*list_id);
                        continue;
                    }
                    _ => {}
                }
                let action = if r.assert {
                    ConsentAction::Assert
                } else {
                    ConsentAction::Subscribe
                };
                upsert_subscription!(tx, org_id, contact_id, *list_id, action, r.now);
                append_ledger!(
                    tx,
                    org_id,
                    Some(contact_id),
                    Some(*list_id),
                    r.email.as_str(),
                    action,
                    evidence,
                    r.now
                );
                changed.push(*list_id);
                if !r.assert {
                    pending.push(*list_id);
                }
            }
            let verification_queued = !pending.is_empty()
                && queue_verification!(tx, org_id, contact_id, &pending, r, r.resend_before);
            RegistrationOutcome {
                contact_id,
                created,
                changed,
                verification_queued,
            }
        });
        Ok(outcome)
    }

    pub async fn confirm_token(&self, token_hash: &str) -> StoreResult<ConfirmTokenRow> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT token_hash, org_id, contact_id, list_ids, created_at, expires_at, used_at FROM confirm_tokens WHERE token_hash = $1"
        )
        .bind(token_hash)
        .fetch_one(p)
        .await?)
        })
    }

    /// Uses a confirmation token once: every list of it that is still pending becomes
    /// subscribed, with a ledger entry carrying `evidence` of that list, and the welcome jobs
    /// `(list id, kind, payload)` are queued. Fails with NotFound when the token is unknown,
    /// used or expired. Returns the lists confirmed now.
    pub async fn use_confirm_token(
        &self,
        token_hash: &str,
        email: &str,
        evidence: &[(i64, Evidence)],
        welcome_jobs: &[(i64, String, String)],
        max_attempts: i64,
        now: i64,
    ) -> StoreResult<Vec<i64>> {
        let confirmed = write_tx!(self, |tx| {
            let token: Option<(i64, i64)> = sqlx::query_as(
                "UPDATE confirm_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING org_id, contact_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let (org_id, contact_id) = token.ok_or(StoreError::NotFound)?;
            let mut confirmed = Vec::new();
            for (list_id, ev) in evidence {
                if status_of!(tx, org_id, contact_id, *list_id).as_deref() != Some("pending") {
                    continue;
                }
                upsert_subscription!(
                    tx,
                    org_id,
                    contact_id,
                    *list_id,
                    ConsentAction::Confirm,
                    now
                );
                append_ledger!(
                    tx,
                    org_id,
                    Some(contact_id),
                    Some(*list_id),
                    email,
                    ConsentAction::Confirm,
                    ev,
                    now
                );
                confirmed.push(*list_id);
                for (_, kind, payload) in welcome_jobs.iter().filter(|(l, _, _)| l == list_id) {
                    let _: i64 = sqlx::query_scalar(INSERT_JOB)
                        .bind(org_id)
                        .bind(kind)
                        .bind(payload)
                        .bind(now)
                        .bind(max_attempts)
                        .bind(now)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                }
            }
            confirmed
        });
        Ok(confirmed)
    }

    /// Erases a contact (GDPR art. 17): the contact, its subscriptions, tags and tokens are
    /// deleted and its ledger entries lose their personal data; the entries themselves stay.
    pub async fn erase_contact(&self, org_id: i64, contact_id: i64) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE consent_events SET email = NULL, ip = NULL, user_agent = NULL \
                 WHERE org_id = $1 AND contact_id = $2 AND email IS NOT NULL",
            )
            .bind(org_id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
            // Automations stop for the person; their history stays without the person.
            sqlx::query(
                "UPDATE participations SET status = CASE WHEN status = 'active' THEN 'stopped' ELSE status END, \
                 stop_reason = CASE WHEN status = 'active' THEN 'the contact was erased' ELSE stop_reason END, \
                 next_run_at = NULL, contact_id = NULL, fields = '[]' WHERE org_id = $1 AND contact_id = $2",
            )
            .bind(org_id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM automation_events WHERE org_id = $1 AND contact_id = $2")
                .bind(org_id)
                .bind(contact_id)
                .execute(&mut *tx)
                .await?;
            // Widgets handed out for the person's orders and not used yet forget the address.
            sqlx::query(
                "UPDATE checkout_widgets SET email = NULL WHERE org_id = $1 \
                 AND email = (SELECT email FROM contacts WHERE org_id = $1 AND id = $2)",
            )
            .bind(org_id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
            // The delivery log, mail events and activity stay for the statistics, without the person.
            for table in ["deliveries", "mail_events", "activity"] {
                sqlx::query(safe!(
                    "UPDATE {table} SET contact_id = NULL WHERE org_id = $1 AND contact_id = $2"
                ))
                .bind(org_id)
                .bind(contact_id)
                .execute(&mut *tx)
                .await?;
            }
            // A place in an automation's bucket goes too (nothing is sent for an erased person).
            sqlx::query("DELETE FROM bucket_entries WHERE org_id = $1 AND contact_id = $2")
                .bind(org_id)
                .bind(contact_id)
                .execute(&mut *tx)
                .await?;
            // Data-model records are the person's own data: they go with the contact.
            sqlx::query("DELETE FROM records WHERE org_id = $1 AND contact_id = $2")
                .bind(org_id)
                .bind(contact_id)
                .execute(&mut *tx)
                .await?;
            let r = sqlx::query("DELETE FROM contacts WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(contact_id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    /// Purges signups whose confirmation link expired before `expired_before`: a contact that
    /// never confirmed anything (only pending subscriptions, no live link) is erased; for
    /// others only the dead links go. Returns how many contacts were erased.
    pub async fn purge_expired_signups(&self, expired_before: i64, now: i64) -> StoreResult<u64> {
        let candidates: Vec<(i64, i64)> = on_read!(self, |p| {
            sqlx::query_as(
            "SELECT DISTINCT org_id, contact_id FROM confirm_tokens WHERE used_at IS NULL AND expires_at <= $1 LIMIT 500"
        )
        .bind(expired_before)
        .fetch_all(p)
        .await?
        });
        let mut erased = 0;
        for (org_id, contact_id) in candidates {
            let (settled, live): (i64, i64) = on_read!(self, |p| {
                sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND contact_id = $2 AND status <> 'pending'), \
                        (SELECT COUNT(*) FROM confirm_tokens WHERE org_id = $1 AND contact_id = $2 AND used_at IS NULL AND expires_at > $3)"
            )
            .bind(org_id)
            .bind(contact_id)
            .bind(now)
            .fetch_one(p)
            .await?
            });
            if settled == 0 && live == 0 {
                match self.erase_contact(org_id, contact_id).await {
                    Ok(()) | Err(StoreError::NotFound) => erased += 1,
                    Err(e) => return Err(e),
                }
            } else {
                on_write!(self, |p| {
                    sqlx::query(
                        "DELETE FROM confirm_tokens WHERE org_id = $1 AND contact_id = $2 AND used_at IS NULL AND expires_at <= $3",
                    )
                    .bind(org_id)
                    .bind(contact_id)
                    .bind(expired_before)
                    .execute(p)
                    .await?;
                });
            }
        }
        Ok(erased)
    }

    pub async fn mail_template(
        &self,
        org_id: i64,
        list_id: i64,
        kind: &str,
        language: &str,
    ) -> StoreResult<Option<MailTemplateRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT subject, html, text FROM mail_templates WHERE org_id = $1 AND list_id = $2 AND kind = $3 AND language = $4"
        )
        .bind(org_id)
        .bind(list_id)
        .bind(kind)
        .bind(language)
        .fetch_optional(p)
        .await?)
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn put_mail_template(
        &self,
        org_id: i64,
        list_id: i64,
        kind: &str,
        language: &str,
        t: &MailTemplateRow,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO mail_templates (org_id, list_id, kind, language, subject, html, text, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, list_id, kind, language) \
                 DO UPDATE SET subject = excluded.subject, html = excluded.html, text = excluded.text, updated_at = excluded.updated_at",
            )
            .bind(org_id)
            .bind(list_id)
            .bind(kind)
            .bind(language)
            .bind(&t.subject)
            .bind(&t.html)
            .bind(&t.text)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The named secret shared by all nodes, created with `generate` on first use.
    pub async fn server_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
        now: i64,
    ) -> StoreResult<String> {
        on_write!(self, |p| {
            sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(generate())
                .bind(now)
                .execute(p)
                .await?;
        });
        on_write!(self, |p| Ok(sqlx::query_scalar(
            "SELECT value FROM server_secrets WHERE name = $1"
        )
        .bind(name)
        .fetch_one(p)
        .await?))
    }
}
