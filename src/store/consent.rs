//! Subscriptions, suppressions and the append-only consent ledger. Every consent change and
//! its ledger entry are written in one transaction.

use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, Store, StoreResult};
use crate::domain::ledger::{pii_digest, Evidence, LedgerEntry, GENESIS_HASH};
use crate::domain::{ConsentAction, SuppressionReason};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub org_id: i64,
    pub contact_id: i64,
    pub list_id: i64,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
}

/// A ledger entry as stored, with its hash. `email`, `ip` and `user_agent` are None once the
/// contact's personal data was erased; `pii_digest` keeps them verifiable until then.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LedgerRow {
    pub org_id: i64,
    pub seq: i64,
    pub contact_id: Option<i64>,
    pub list_id: Option<i64>,
    pub email: Option<String>,
    pub action: String,
    pub source: String,
    pub actor: String,
    pub token_id: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub text_shown: Option<String>,
    pub occurred_at: i64,
    pub pii_digest: String,
    pub prev_hash: String,
    pub hash: String,
    pub context: Option<String>,
}

impl LedgerRow {
    fn entry(&self) -> LedgerEntry {
        LedgerEntry {
            org_id: self.org_id,
            seq: self.seq,
            contact_id: self.contact_id,
            list_id: self.list_id,
            action: self.action.clone(),
            source: self.source.clone(),
            actor: self.actor.clone(),
            token_id: self.token_id,
            text_shown: self.text_shown.clone(),
            occurred_at: self.occurred_at,
            pii_digest: self.pii_digest.clone(),
            prev_hash: self.prev_hash.clone(),
            context: self.context.clone(),
        }
    }

    /// Whether the stored personal data still matches the digest (erased data is not checked).
    fn pii_matches(&self) -> bool {
        match &self.email {
            None => self.ip.is_none() && self.user_agent.is_none(),
            Some(email) => {
                pii_digest(email, self.ip.as_deref(), self.user_agent.as_deref()) == self.pii_digest
            }
        }
    }
}

/// The outcome of recomputing an organisation's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub entries: i64,
    /// The first entry that does not fit the chain, with the reason.
    pub first_broken: Option<(i64, String)>,
}

pub(super) const SUBSCRIPTION_COLUMNS: &str =
    "org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at, unsubscribed_at";
const LEDGER_COLUMNS: &str =
    "org_id, seq, contact_id, list_id, email, action, source, actor, token_id, ip, user_agent, \
     text_shown, occurred_at, pii_digest, prev_hash, hash, context";

/// Inserts one ledger entry: binds the entry's fields, its email, IP address, user agent and hash.
pub(super) const INSERT_LEDGER: &str =
    "INSERT INTO consent_events (org_id, seq, contact_id, list_id, email, action, source, actor, \
     token_id, ip, user_agent, text_shown, occurred_at, pii_digest, prev_hash, hash, context) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// Appends one entry to the organisation's ledger inside the transaction `$tx`. The head row
/// is updated first, which serialises concurrent appends (a row lock on PostgreSQL, the write
/// lock on SQLite).
macro_rules! append_ledger {
    ($tx:ident, $org:expr, $contact:expr, $list:expr, $email:expr, $action:expr, $ev:expr, $now:expr) => {{
        let (seq, prev): (i64, String) = sqlx::query_as(
            "UPDATE consent_heads SET seq = seq + 1 WHERE org_id = $1 RETURNING seq, hash",
        )
        .bind($org)
        .fetch_one(&mut *$tx)
        .await?;
        let entry = LedgerEntry::new($org, seq, prev, $contact, $list, $email, $action, $ev, $now);
        let hash = entry.hash();
        sqlx::query($crate::store::consent::INSERT_LEDGER)
            .bind(entry.org_id)
            .bind(entry.seq)
            .bind(entry.contact_id)
            .bind(entry.list_id)
            .bind($email)
            .bind(&entry.action)
            .bind(&entry.source)
            .bind(&entry.actor)
            .bind(entry.token_id)
            .bind(&$ev.ip)
            .bind(&$ev.user_agent)
            .bind(&entry.text_shown)
            .bind(entry.occurred_at)
            .bind(&entry.pii_digest)
            .bind(&entry.prev_hash)
            .bind(&hash)
            .bind(&entry.context)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("UPDATE consent_heads SET hash = $2 WHERE org_id = $1")
            .bind($org)
            .bind(&hash)
            .execute(&mut *$tx)
            .await?;
        seq
    }};
}

pub(super) use append_ledger;

/// Sets the status of one subscription inside the transaction `$tx` and returns the row.
macro_rules! upsert_subscription {
    ($tx:ident, $org:expr, $contact:expr, $list:expr, $action:expr, $now:expr) => {{
        let action: ConsentAction = $action;
        let status = action.resulting_status().ok_or_else(|| {
            $crate::store::StoreError::Conflict(format!("{action} is not a subscription action"))
        })?;
        let confirmed_at =
            matches!(action, ConsentAction::Confirm | ConsentAction::Assert).then_some($now);
        let unsubscribed_at = (action == ConsentAction::Unsubscribe).then_some($now);
        let row: $crate::store::SubscriptionRow = sqlx::query_as(
            "INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at, unsubscribed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (org_id, contact_id, list_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, \
             confirmed_at = COALESCE(excluded.confirmed_at, subscriptions.confirmed_at), \
             unsubscribed_at = COALESCE(excluded.unsubscribed_at, subscriptions.unsubscribed_at) \
             RETURNING org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at, unsubscribed_at",
        )
        .bind($org)
        .bind($contact)
        .bind($list)
        .bind(status.as_str())
        .bind($now)
        .bind($now)
        .bind(confirmed_at)
        .bind(unsubscribed_at)
        .fetch_one(&mut *$tx)
        .await?;
        row
    }};
}
pub(super) use upsert_subscription;

impl Store {
    /// Applies a consent action for one contact on one list and records it in the ledger.
    /// Blacklist actions are not list actions: use [`Store::add_suppression`].
    #[allow(clippy::too_many_arguments)]
    pub async fn change_subscription(
        &self,
        org_id: i64,
        contact_id: i64,
        list_id: i64,
        email: &str,
        action: ConsentAction,
        evidence: &Evidence,
        now: i64,
    ) -> StoreResult<SubscriptionRow> {
        let row = write_tx!(self, |tx| {
            let row = upsert_subscription!(tx, org_id, contact_id, list_id, action, now);
            append_ledger!(
                tx,
                org_id,
                Some(contact_id),
                Some(list_id),
                email,
                action,
                evidence,
                now
            );
            row
        });
        Ok(row)
    }

    pub async fn subscription(
        &self,
        org_id: i64,
        contact_id: i64,
        list_id: i64,
    ) -> StoreResult<SubscriptionRow> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE org_id = $1 AND contact_id = $2 AND list_id = $3"
        ))
        .bind(org_id)
        .bind(contact_id)
        .bind(list_id)
        .fetch_one(p)
        .await?)
        })
    }

    /// Suppresses an address. Returns false when it already was suppressed for that reason.
    /// Blacklisting is a consent change and is written to the ledger.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_suppression(
        &self,
        org_id: i64,
        email: &str,
        reason: SuppressionReason,
        note: Option<&str>,
        contact_id: Option<i64>,
        evidence: &Evidence,
        now: i64,
    ) -> StoreResult<bool> {
        let added = write_tx!(self, |tx| {
            let r = sqlx::query(
                "INSERT INTO suppressions (org_id, email, reason, note, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id, email, reason) DO NOTHING",
            )
            .bind(org_id)
            .bind(email)
            .bind(reason.as_str())
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let added = r.rows_affected() == 1;
            if added && reason == SuppressionReason::Blacklist {
                append_ledger!(
                    tx,
                    org_id,
                    contact_id,
                    None,
                    email,
                    ConsentAction::BlacklistAdd,
                    evidence,
                    now
                );
            }
            added
        });
        Ok(added)
    }

    /// Lifts a suppression. Returns false when there was none.
    pub async fn remove_suppression(
        &self,
        org_id: i64,
        email: &str,
        reason: SuppressionReason,
        contact_id: Option<i64>,
        evidence: &Evidence,
        now: i64,
    ) -> StoreResult<bool> {
        let removed = write_tx!(self, |tx| {
            let r = sqlx::query(
                "DELETE FROM suppressions WHERE org_id = $1 AND email = $2 AND reason = $3",
            )
            .bind(org_id)
            .bind(email)
            .bind(reason.as_str())
            .execute(&mut *tx)
            .await?;
            let removed = r.rows_affected() == 1;
            if removed && reason == SuppressionReason::Blacklist {
                append_ledger!(
                    tx,
                    org_id,
                    contact_id,
                    None,
                    email,
                    ConsentAction::BlacklistRemove,
                    evidence,
                    now
                );
            }
            removed
        });
        Ok(removed)
    }

    /// The reasons for which an address is suppressed (empty: it may be mailed, consent permitting).
    pub async fn suppressions(
        &self,
        org_id: i64,
        email: &str,
    ) -> StoreResult<Vec<SuppressionReason>> {
        let rows: Vec<String> = on_read!(self, |p| sqlx::query_scalar(
            "SELECT reason FROM suppressions WHERE org_id = $1 AND email = $2 ORDER BY reason"
        )
        .bind(org_id)
        .bind(email)
        .fetch_all(p)
        .await?);
        Ok(rows
            .iter()
            .filter_map(|r| SuppressionReason::parse(r))
            .collect())
    }

    /// Ledger entries of the organisation after `after_seq`, in order.
    pub async fn ledger_page(
        &self,
        org_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<LedgerRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {LEDGER_COLUMNS} FROM consent_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(org_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// All ledger entries about one contact (the proof of consent for that person).
    pub async fn ledger_for_contact(
        &self,
        org_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<LedgerRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {LEDGER_COLUMNS} FROM consent_events WHERE org_id = $1 AND contact_id = $2 ORDER BY seq"
        ))
        .bind(org_id)
        .bind(contact_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Erases the personal data (address, IP address, user agent) from a contact's ledger
    /// entries; the entries themselves, their digests and the chain stay. Returns the number
    /// of entries erased.
    pub async fn erase_ledger_pii(&self, org_id: i64, contact_id: i64) -> StoreResult<u64> {
        Ok(on_write!(self, |p| sqlx::query(
            "UPDATE consent_events SET email = NULL, ip = NULL, user_agent = NULL \
             WHERE org_id = $1 AND contact_id = $2 AND email IS NOT NULL"
        )
        .bind(org_id)
        .bind(contact_id)
        .execute(p)
        .await?
        .rows_affected()))
    }

    /// Recomputes the organisation's hash chain from the first entry and reports the first
    /// entry that is missing, altered or out of place.
    pub async fn verify_ledger(&self, org_id: i64) -> StoreResult<VerifyReport> {
        const PAGE: i64 = 1_000;
        let mut expected_prev = GENESIS_HASH.to_string();
        let mut expected_seq = 1;
        loop {
            let rows = self.ledger_page(org_id, expected_seq - 1, PAGE).await?;
            let n = rows.len() as i64;
            for row in rows {
                let broken = if row.seq != expected_seq {
                    Some(format!("entry {expected_seq} is missing"))
                } else if row.prev_hash != expected_prev {
                    Some("its prev_hash does not match the hash of the entry before it".to_string())
                } else if row.entry().hash() != row.hash {
                    Some("its content does not match its hash".to_string())
                } else if !row.pii_matches() {
                    Some(
                        "its address, IP address or user agent does not match its digest"
                            .to_string(),
                    )
                } else {
                    None
                };
                if let Some(reason) = broken {
                    return Ok(VerifyReport {
                        entries: expected_seq - 1,
                        first_broken: Some((expected_seq.min(row.seq), reason)),
                    });
                }
                expected_prev = row.hash;
                expected_seq += 1;
            }
            if n < PAGE {
                break;
            }
        }
        let (head_seq, head_hash): (i64, String) = on_read!(self, |p| sqlx::query_as(
            "SELECT seq, hash FROM consent_heads WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_one(p)
        .await?);
        let entries = expected_seq - 1;
        let first_broken = (head_seq != entries || head_hash != expected_prev).then(|| {
            (
                entries + 1,
                format!("the ledger head records {head_seq} entries but the chain ends after {entries}: entries were removed"),
            )
        });
        Ok(VerifyReport {
            entries,
            first_broken,
        })
    }
}
