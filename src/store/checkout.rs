//! Partner opt-ins at checkout: which opt-ins a buyer is offered, the widgets handed to ticket
//! shops, and the buyer's answers (consent or refusal per opt-in) in one transaction.

use serde::Serialize;

use super::consent::{append_ledger, upsert_subscription};
use super::optins::{contact_for, queue_verification, status_of, JobBuilder};
use super::{fetch_in, on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::ledger::{Evidence, LedgerEntry};
use crate::domain::{ConsentAction, ContactFields, EmailAddress};

/// An opt-in that may be offered: a partner's active list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferRow {
    pub list_id: i64,
    pub list_key: String,
    pub partner_id: i64,
}

/// The texts of one list in one language.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferText {
    pub list_id: i64,
    #[sqlx(flatten)]
    pub text: super::ListText,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WidgetRow {
    pub org_id: i64,
    pub id: i64,
    pub pos_id: i64,
    pub token_id: Option<i64>,
    pub email: Option<String>,
    pub language: String,
    pub order_ref: Option<String>,
    /// JSON: the opt-ins shown with their exact texts.
    pub shown: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub submitted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewWidget {
    pub pos_id: i64,
    pub token_id: Option<i64>,
    pub email: String,
    pub language: String,
    pub order_ref: Option<String>,
    pub shown: String,
    pub expires_at: i64,
}

/// The buyer's answers, resolved and validated by the service.
pub struct CheckoutRecord {
    pub org_id: i64,
    /// The widget the answers came from: it is marked used in the same transaction, and a
    /// widget used (or expired) already fails the whole record with `WidgetSpent`.
    pub widget_id: Option<i64>,
    pub email: EmailAddress,
    pub guid: String,
    pub fields: ContactFields,
    /// Per opt-in shown: yes or no, with the evidence (text shown, point of sale, order).
    pub answers: Vec<(i64, bool, Evidence)>,
    /// Yes becomes pending and one verification mail is queued (else subscribed at once).
    pub double_optin: bool,
    pub now: i64,
    pub token_hash: String,
    pub token_expires_at: i64,
    pub verification_job: std::sync::Arc<JobBuilder>,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckoutOutcome {
    pub contact_id: i64,
    pub consented: Vec<i64>,
    pub refused: Vec<i64>,
    /// Opt-ins decided in the meantime (another order, another channel): left as they are.
    pub already_decided: Vec<i64>,
    pub verification_queued: bool,
}

/// A partner with its public description in one language (one row per language).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerTextRow {
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub name: String,
    pub privacy_url: String,
    pub language: Option<String>,
    pub description: Option<String>,
}

const WIDGET_COLUMNS: &str = "org_id, id, pos_id, token_id, email, language, order_ref, shown, created_at, expires_at, submitted_at";

impl Store {
    /// The active opt-ins of these partners on which `email` has no subscription row in any
    /// state (pending, subscribed, unsubscribed or refused all count as decided).
    pub async fn checkout_offers(
        &self,
        org_id: i64,
        partner_ids: &[i64],
        email: &str,
    ) -> StoreResult<Vec<OfferRow>> {
        if partner_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(fetch_in!(
            self,
            query_as,
            "SELECT l.id AS list_id, l.key AS list_key, l.partner_id FROM lists l \
             WHERE l.org_id = $1 AND l.archived_at IS NULL AND l.partner_id {ids} \
             AND NOT EXISTS (SELECT 1 FROM contacts c JOIN subscriptions s ON s.org_id = c.org_id AND s.contact_id = c.id \
                 WHERE c.org_id = $1 AND c.email = $2 AND s.list_id = l.id) \
             ORDER BY l.partner_id, l.number",
            [org_id, email],
            3,
            partner_ids
        ))
    }

    /// All texts of these lists.
    pub async fn offer_texts(&self, org_id: i64, list_ids: &[i64]) -> StoreResult<Vec<OfferText>> {
        if list_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(fetch_in!(
            self,
            query_as,
            "SELECT list_id, language, name, description, optin_text FROM list_texts \
             WHERE org_id = $1 AND list_id {ids} ORDER BY list_id, language",
            [org_id],
            2,
            list_ids
        ))
    }

    /// These partners with all their descriptions, in one query.
    pub async fn partners_with_texts(
        &self,
        org_id: i64,
        ids: &[i64],
    ) -> StoreResult<Vec<PartnerTextRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(fetch_in!(
            self,
            query_as,
            "SELECT p.id, p.key, p.kind, p.name, p.privacy_url, t.language, t.description FROM partners p \
             LEFT JOIN partner_texts t ON t.org_id = p.org_id AND t.partner_id = p.id \
             WHERE p.org_id = $1 AND p.id {ids} ORDER BY p.id, t.language",
            [org_id],
            2,
            ids
        ))
    }

    /// The partners defined for a point of sale.
    pub async fn pos_partner_ids(&self, org_id: i64, pos_id: i64) -> StoreResult<Vec<i64>> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT partner_id FROM pos_partners WHERE org_id = $1 AND pos_id = $2"
        )
        .bind(org_id)
        .bind(pos_id)
        .fetch_all(p)
        .await?))
    }

    pub async fn insert_widget(&self, org_id: i64, w: &NewWidget, now: i64) -> StoreResult<i64> {
        on_write!(self, |p| {
            Ok(sqlx::query_scalar(
            "INSERT INTO checkout_widgets (org_id, pos_id, token_id, email, language, order_ref, shown, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        )
        .bind(org_id)
        .bind(w.pos_id)
        .bind(w.token_id)
        .bind(&w.email)
        .bind(&w.language)
        .bind(&w.order_ref)
        .bind(&w.shown)
        .bind(now)
        .bind(w.expires_at)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn widget(&self, org_id: i64, id: i64) -> StoreResult<WidgetRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {WIDGET_COLUMNS} FROM checkout_widgets WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Forgets the address of widgets that expired unused (used ones forget it at once).
    pub async fn purge_widgets(&self, now: i64) -> StoreResult<u64> {
        on_write!(self, |p| Ok(sqlx::query(
            "UPDATE checkout_widgets SET email = NULL WHERE email IS NOT NULL AND expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected()))
    }

    /// Records a buyer's answers in one transaction: marks the widget used, finds or creates
    /// the contact, writes each answer with its ledger entry (skipping opt-ins decided in the
    /// meantime), and queues one verification mail for all the pending ones.
    pub async fn record_checkout(&self, r: CheckoutRecord) -> StoreResult<CheckoutOutcome> {
        let r = &r;
        let org_id = r.org_id;
        let outcome = write_tx!(self, |tx| {
            if let Some(widget) = r.widget_id {
                let used = sqlx::query(
                    "UPDATE checkout_widgets SET submitted_at = $3, email = NULL \
                     WHERE org_id = $1 AND id = $2 AND submitted_at IS NULL AND expires_at > $3",
                )
                .bind(org_id)
                .bind(widget)
                .bind(r.now)
                .execute(&mut *tx)
                .await?;
                if used.rows_affected() == 0 {
                    return Err(StoreError::Conflict("checkout_widgets.submitted_at".into()));
                }
            }
            let (contact_id, _) = contact_for!(tx, org_id, r);
            let mut out = CheckoutOutcome {
                contact_id,
                ..CheckoutOutcome::default()
            };
            for (list_id, yes, evidence) in &r.answers {
                if status_of!(tx, org_id, contact_id, *list_id).is_some() {
                    out.already_decided.push(*list_id);
                    continue;
                }
                let action = match (yes, r.double_optin) {
                    (false, _) => ConsentAction::Refuse,
                    (true, true) => ConsentAction::Subscribe,
                    (true, false) => ConsentAction::Assert,
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
                if *yes {
                    out.consented.push(*list_id);
                } else {
                    out.refused.push(*list_id);
                }
            }
            // One mail for the whole order, whatever the per-address resend interval: the
            // widget is single-use, so this cannot be repeated at will.
            if r.double_optin && !out.consented.is_empty() {
                out.verification_queued =
                    queue_verification!(tx, org_id, contact_id, &out.consented, r, i64::MAX);
            }
            out
        });
        Ok(outcome)
    }
}
