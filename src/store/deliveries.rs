//! The delivery log: one row per recipient of a mailing, written before anything is sent.
//! Planning turns the audience into rows in chunks of contact ids; workers claim queued rows
//! (`sending`, leased), send, and record each outcome. A row still `sending` after its node
//! died becomes `uncertain` and is never sent again: that is what makes a crash cost at most
//! the messages in flight.

use serde::Serialize;

use super::{bind_segment, on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::segment::{Dialect, Segment};
use crate::domain::{DeliveryStatus, EventKind};
use crate::store::ContactRow;

/// Outcomes written by one bulk statement (6 parameters each; sqlx looks parameters up by
/// name, which grows with their number).
const OUTCOME_CHUNK: usize = 25;

/// The rules that make contact `c` a recipient of a mailing to `list_ids`: subscribed to one
/// of the lists, active, and not suppressed. The list ids are written into the SQL (numbers
/// from our own tables), so the subscription is looked up by its primary key whatever the
/// planner's statistics say.
fn eligible(list_ids: &[i64]) -> String {
    let lists = if list_ids.is_empty() {
        "NULL".to_string()
    } else {
        list_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "c.active AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.org_id = c.org_id AND s.contact_id = c.id \
           AND s.list_id IN ({lists}) AND s.status = 'subscribed') \
         AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.org_id = c.org_id AND x.email = c.email)"
    )
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub org_id: i64,
    pub id: i64,
    pub mailing_id: Option<i64>,
    pub template_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub message_id: Option<String>,
    pub smtp_response: Option<String>,
    pub sent_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const DELIVERY_COLUMNS: &str =
    "org_id, id, mailing_id, template_id, contact_id, status, attempts, next_attempt_at, \
     message_id, smtp_response, sent_at, created_at, updated_at";

/// A claimed message: its row and its recipient (None when the contact is gone or may no
/// longer be mailed).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub attempts: i64,
    pub contact: Option<ContactRow>,
}

/// What happened to one claimed message.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: i64,
    pub status: DeliveryStatus,
    pub message_id: Option<String>,
    pub smtp_response: Option<String>,
    /// For a temporary failure with attempts left: when to try again.
    pub retry_at: Option<i64>,
    pub event: Option<(EventKind, Option<i64>)>,
    /// Suppress this address (hard bounce).
    pub suppress: Option<String>,
}

impl Outcome {
    /// An outcome without retry, event or suppression.
    pub fn new(delivery_id: i64, status: DeliveryStatus, smtp_response: Option<String>) -> Self {
        Self {
            delivery_id,
            status,
            message_id: None,
            smtp_response,
            retry_at: None,
            event: None,
            suppress: None,
        }
    }
}

/// A recorded event (open, click, bounce …) as a contact's page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub mailing_id: Option<i64>,
    pub kind: String,
    pub link_idx: Option<i64>,
    pub flagged: bool,
    pub source: String,
    pub at: i64,
}

/// An event to record about a message.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub mailing_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub kind: EventKind,
    pub link_idx: Option<i64>,
    pub flagged: bool,
    pub source: String,
    pub detail: Option<String>,
}

impl NewEvent {
    /// An event about delivery `d` (and its contact), not flagged, without link or detail.
    pub fn for_delivery(d: &DeliveryRow, kind: EventKind, source: &str) -> Self {
        Self {
            mailing_id: d.mailing_id,
            delivery_id: Some(d.id),
            contact_id: d.contact_id,
            kind,
            link_idx: None,
            flagged: false,
            source: source.into(),
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub bounced: i64,
    pub skipped: i64,
    pub uncertain: i64,
    pub cancelled: i64,
}

impl DeliveryCounts {
    pub fn total(&self) -> i64 {
        self.queued
            + self.sending
            + self.sent
            + self.failed
            + self.bounced
            + self.skipped
            + self.uncertain
            + self.cancelled
    }
}

const EVENT_INSERT: &str = "INSERT INTO mail_events (org_id, mailing_id, delivery_id, contact_id, kind, link_idx, flagged, source, detail, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Inserts `$ev` (a `NewEvent`) inside `$tx`.
macro_rules! insert_event {
    ($tx:ident, $org:expr, $ev:expr, $now:expr) => {
        sqlx::query(EVENT_INSERT)
            .bind($org)
            .bind($ev.mailing_id)
            .bind($ev.delivery_id)
            .bind($ev.contact_id)
            .bind($ev.kind.as_str())
            .bind($ev.link_idx)
            .bind($ev.flagged)
            .bind(&$ev.source)
            .bind(&$ev.detail)
            .bind($now)
            .execute(&mut *$tx)
            .await?
    };
}

impl Store {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Store::Sqlite(_) => Dialect::Sqlite,
            Store::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Turns the next `chunk` contact ids of the organisation into queued deliveries for the
    /// eligible ones in `segment`; returns (rows added, planning finished). Several nodes may
    /// call it at once: the mailing row is locked, and a contact is never added twice.
    pub async fn plan_deliveries(
        &self,
        org_id: i64,
        mailing_id: i64,
        segment: Option<&Segment>,
        chunk: i64,
        now: i64,
    ) -> StoreResult<(u64, bool)> {
        let (seg_sql, binds) = match segment {
            Some(s) => s.to_sql(self.dialect(), 6, now),
            None => ("TRUE".to_string(), Vec::new()),
        };
        let eligible = eligible(&self.mailing_list_ids(org_id, mailing_id).await?);
        let insert = format!(
            "INSERT INTO deliveries (org_id, mailing_id, contact_id, status, attempts, next_attempt_at, created_at, updated_at) \
             SELECT c.org_id, $2, c.id, 'queued', 0, $5, $5, $5 FROM contacts c \
             WHERE c.org_id = $1 AND c.id > $3 AND c.id <= $4 AND {eligible} AND {seg_sql} \
             ON CONFLICT DO NOTHING"
        );
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        write_tx!(self, |tx| {
            let state: Option<(i64, bool, String)> = sqlx::query_as(safe!(
                "SELECT plan_cursor, planned, status FROM mailings WHERE org_id = $1 AND id = $2{lock}"
            ))
            .bind(org_id)
            .bind(mailing_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((cursor, planned, status)) = state else {
                return Ok((0, true));
            };
            if planned || status != "sending" {
                return Ok((0, planned));
            }
            let end: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM contacts WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT 1 OFFSET $3",
            )
            .bind(org_id)
            .bind(cursor)
            .bind(chunk - 1)
            .fetch_optional(&mut *tx)
            .await?;
            let upto = end.unwrap_or(i64::MAX);
            let q = sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(org_id)
                .bind(mailing_id)
                .bind(cursor)
                .bind(upto)
                .bind(now);
            let added = bind_segment!(q, &binds)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE mailings SET plan_cursor = $3, planned = $4, updated_at = $5 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(mailing_id)
            .bind(upto)
            .bind(end.is_none())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok((added, end.is_none()))
        })
    }

    /// Counts the contacts a segment selects among the subscribers of `list_ids`, with a
    /// sample of the first `sample` of them.
    pub async fn preview_segment(
        &self,
        org_id: i64,
        list_ids: &[i64],
        segment: Option<&Segment>,
        sample: i64,
        now: i64,
    ) -> StoreResult<(i64, Vec<ContactRow>)> {
        let (seg_sql, binds) = match segment {
            Some(s) => s.to_sql(self.dialect(), 2, now),
            None => ("TRUE".to_string(), Vec::new()),
        };
        let from = format!(
            "FROM contacts c WHERE c.org_id = $1 AND {} AND {seg_sql}",
            eligible(list_ids)
        );
        let cols = super::contacts::COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        on_read!(self, |p| {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {from}")))
                .bind(org_id);
            let count: i64 = bind_segment!(q, &binds).fetch_one(p).await?;
            let q = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {cols} {from} ORDER BY c.id LIMIT {sample}"
            )))
            .bind(org_id);
            let rows: Vec<ContactRow> = bind_segment!(q, &binds).fetch_all(p).await?;
            Ok((count, rows))
        })
    }

    /// Claims up to `limit` due messages of a mailing for `claim` (a unique batch name) until
    /// `lease_until`, and loads their recipients, re-checking right now that each may still be
    /// mailed. Nothing is claimed of a mailing that is no longer sending (paused, cancelled).
    pub async fn claim_deliveries(
        &self,
        org_id: i64,
        mailing_id: i64,
        claim: &str,
        limit: i64,
        lease_until: i64,
        now: i64,
    ) -> StoreResult<Vec<Claimed>> {
        // PostgreSQL: the rows are picked once in a CTE; a `LIMIT … SKIP LOCKED` subquery inside
        // `IN (…)` may be run again by the planner and pick more rows than asked for.
        let sql = match self {
            Store::Sqlite(_) => "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, locked_by = $3, locked_until = $4, updated_at = $5 \
                 WHERE org_id = $1 AND id IN (SELECT id FROM deliveries WHERE org_id = $1 AND mailing_id = $2 AND status = 'queued' \
                   AND next_attempt_at <= $5 AND EXISTS (SELECT 1 FROM mailings WHERE org_id = $1 AND id = $2 AND status = 'sending') \
                   ORDER BY id LIMIT $6) RETURNING id, attempts, contact_id",
            Store::Postgres(_) => "WITH picked AS (SELECT id FROM deliveries WHERE org_id = $1 AND mailing_id = $2 AND status = 'queued' \
                   AND next_attempt_at <= $5 AND EXISTS (SELECT 1 FROM mailings WHERE org_id = $1 AND id = $2 AND status = 'sending') \
                   ORDER BY id LIMIT $6 FOR UPDATE SKIP LOCKED) \
                 UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, locked_by = $3, locked_until = $4, updated_at = $5 \
                 FROM picked WHERE d.org_id = $1 AND d.id = picked.id RETURNING d.id, d.attempts, d.contact_id",
        };
        let claimed: Vec<(i64, i64, Option<i64>)> = on_write!(self, |p| sqlx::query_as(sql)
            .bind(org_id)
            .bind(mailing_id)
            .bind(claim)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?);
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let cols = super::contacts::COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let eligible = eligible(&self.mailing_list_ids(org_id, mailing_id).await?);
        let contacts: Vec<ContactRow> = on_write!(self, |p| {
            sqlx::query_as(safe!(
            "SELECT {cols} FROM contacts c WHERE c.org_id = $1 AND c.id IN \
               (SELECT contact_id FROM deliveries WHERE org_id = $1 AND mailing_id = $2 AND locked_by = $3 AND status = 'sending') \
             AND {eligible}"
        ))
        .bind(org_id)
        .bind(mailing_id)
        .bind(claim)
        .fetch_all(p)
        .await?
        });
        let mut by_id: std::collections::HashMap<i64, ContactRow> =
            contacts.into_iter().map(|c| (c.id, c)).collect();
        let mut out: Vec<Claimed> = claimed
            .into_iter()
            .map(|(id, attempts, contact_id)| Claimed {
                delivery_id: id,
                attempts,
                contact: contact_id.and_then(|c| by_id.remove(&c)),
            })
            .collect();
        out.sort_by_key(|c| c.delivery_id);
        Ok(out)
    }

    /// Records the outcomes of a batch in one transaction: delivery rows, their events, and
    /// the suppression of hard-bounced addresses.
    pub async fn record_outcomes(
        &self,
        org_id: i64,
        mailing_id: Option<i64>,
        outcomes: &[Outcome],
        now: i64,
    ) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        // The plain outcomes (most of a batch) are written in bulk: one statement per chunk.
        let (plain, special): (Vec<&Outcome>, Vec<&Outcome>) = outcomes
            .iter()
            .partition(|o| o.event.is_none() && o.suppress.is_none());
        write_tx!(self, |tx| {
            for chunk in plain.chunks(OUTCOME_CHUNK) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        let b = 3 + i * 6;
                        format!(
                            "(${b}, ${}, ${}, ${}, ${}, ${})",
                            b + 1,
                            b + 2,
                            b + 3,
                            b + 4,
                            b + 5
                        )
                    })
                    .collect();
                let sql = format!(
                    "WITH v (id, status, message_id, response, sent_at, next_at) AS (VALUES {}) \
                     UPDATE deliveries SET status = v.status, message_id = COALESCE(v.message_id, deliveries.message_id), \
                     smtp_response = v.response, sent_at = COALESCE(v.sent_at, deliveries.sent_at), next_attempt_at = v.next_at, \
                     locked_by = NULL, locked_until = NULL, updated_at = $2 \
                     FROM v WHERE deliveries.org_id = $1 AND deliveries.id = v.id AND deliveries.status IN ('sending', 'uncertain')",
                    rows.join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(now);
                for o in chunk {
                    let (status, next) = match o.retry_at {
                        Some(at) => (DeliveryStatus::Queued, at),
                        None => (o.status, now),
                    };
                    q = q
                        .bind(o.delivery_id)
                        .bind(status.as_str())
                        .bind(o.message_id.clone())
                        .bind(o.smtp_response.clone())
                        .bind((status == DeliveryStatus::Sent).then_some(now))
                        .bind(next);
                }
                q.execute(&mut *tx).await?;
            }
            for o in special {
                let contact_id: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE deliveries SET status = $3, message_id = COALESCE($4, message_id), smtp_response = $5, \
                     next_attempt_at = $6, locked_by = NULL, locked_until = NULL, updated_at = $6 \
                     WHERE org_id = $1 AND id = $2 AND status IN ('sending', 'uncertain') RETURNING contact_id",
                )
                .bind(org_id)
                .bind(o.delivery_id)
                .bind(o.status.as_str())
                .bind(&o.message_id)
                .bind(&o.smtp_response)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((kind, link_idx)) = o.event {
                    let ev = NewEvent {
                        mailing_id,
                        delivery_id: Some(o.delivery_id),
                        contact_id: contact_id.flatten(),
                        kind,
                        link_idx,
                        flagged: false,
                        source: "smtp".into(),
                        detail: o.smtp_response.clone(),
                    };
                    insert_event!(tx, org_id, ev, now);
                }
                if let Some(email) = &o.suppress {
                    sqlx::query(
                        "INSERT INTO suppressions (org_id, email, reason, note, created_at) VALUES ($1, $2, 'hard_bounce', $3, $4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(org_id)
                    .bind(email)
                    .bind(&o.smtp_response)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        });
        Ok(())
    }

    /// Marks as `uncertain` the messages that were in flight on a node that died: those whose
    /// lease ran out, and (at a node's start) those it claimed itself before (`NODE#…`).
    pub async fn recover_in_flight(&self, own_node: Option<&str>, now: i64) -> StoreResult<u64> {
        let own = own_node.map(|n| format!("{}#%", n.replace(['%', '_'], "")));
        Ok(on_write!(self, |p| {
            sqlx::query(
                "UPDATE deliveries SET status = 'uncertain', locked_by = NULL, locked_until = NULL, updated_at = $2 \
                 WHERE status = 'sending' AND (locked_until < $2 OR locked_by LIKE $1)",
            )
            .bind(own)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
        }))
    }

    /// Marks a sending mailing as sent once it is fully planned and nothing is left to send.
    pub async fn finish_mailing_if_done(
        &self,
        org_id: i64,
        mailing_id: i64,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(on_write!(self, |p| {
            sqlx::query(
            "UPDATE mailings SET status = 'sent', finished_at = $3, updated_at = $3 \
             WHERE org_id = $1 AND id = $2 AND status = 'sending' AND planned \
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE org_id = $1 AND mailing_id = $2 AND status IN ('queued', 'sending'))"
        )
        .bind(org_id)
        .bind(mailing_id)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected()
            == 1
        }))
    }

    pub async fn delivery_counts(
        &self,
        org_id: i64,
        mailing_id: i64,
    ) -> StoreResult<DeliveryCounts> {
        let rows: Vec<(String, i64)> = on_read!(self, |p| {
            sqlx::query_as(
            "SELECT status, COUNT(*) FROM deliveries WHERE org_id = $1 AND mailing_id = $2 GROUP BY status"
        )
        .bind(org_id)
        .bind(mailing_id)
        .fetch_all(p)
        .await?
        });
        let mut c = DeliveryCounts::default();
        for (s, n) in rows {
            match DeliveryStatus::parse(&s) {
                Some(DeliveryStatus::Queued) => c.queued = n,
                Some(DeliveryStatus::Sending) => c.sending = n,
                Some(DeliveryStatus::Sent) => c.sent = n,
                Some(DeliveryStatus::Failed) => c.failed = n,
                Some(DeliveryStatus::Bounced) => c.bounced = n,
                Some(DeliveryStatus::Skipped) => c.skipped = n,
                Some(DeliveryStatus::Uncertain) => c.uncertain = n,
                Some(DeliveryStatus::Cancelled) | None => c.cancelled += n,
            }
        }
        Ok(c)
    }

    pub async fn delivery(&self, org_id: i64, id: i64) -> StoreResult<DeliveryRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Deliveries of a mailing or of a contact, in id order after `after_id`.
    pub async fn deliveries(
        &self,
        org_id: i64,
        mailing_id: Option<i64>,
        contact_id: Option<i64>,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE org_id = $1 AND ($2 IS NULL OR mailing_id = $2) \
             AND ($3 IS NULL OR contact_id = $3) AND id > $4 ORDER BY id LIMIT $5"
        ))
        .bind(org_id)
        .bind(mailing_id)
        .bind(contact_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Records a transactional message (of a template, perhaps sent by an automation) as a
    /// delivery row in flight and queues the job that sends it, in one transaction. `payload` builds the job payload from the new row's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_tx_message(
        &self,
        org_id: i64,
        (template_id, automation_id): (i64, Option<i64>),
        contact_id: i64,
        job_kind: &str,
        max_attempts: i64,
        now: i64,
        payload: impl FnOnce(i64) -> Result<String, String>,
    ) -> StoreResult<i64> {
        write_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO deliveries (org_id, template_id, automation_id, contact_id, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $5, $3, 'sending', 1, $4, $4, $4) RETURNING id",
            )
            .bind(org_id)
            .bind(template_id)
            .bind(contact_id)
            .bind(now)
            .bind(automation_id)
            .fetch_one(&mut *tx)
            .await?;
            let payload = payload(id).map_err(StoreError::Conflict)?;
            sqlx::query(super::jobs::INSERT_JOB)
                .bind(Some(org_id))
                .bind(job_kind)
                .bind(payload)
                .bind(now)
                .bind(max_attempts)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            Ok(id)
        })
    }

    /// Marks a message the relay had accepted as bounced (a DSN or webhook came back).
    pub async fn mark_bounced(
        &self,
        org_id: i64,
        id: i64,
        detail: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE deliveries SET status = 'bounced', smtp_response = $3, updated_at = $4 \
                 WHERE org_id = $1 AND id = $2 AND status IN ('sent', 'uncertain')",
            )
            .bind(org_id)
            .bind(id)
            .bind(detail)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// A contact's newest deliveries.
    pub async fn contact_deliveries(
        &self,
        org_id: i64,
        contact_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE org_id = $1 AND contact_id = $2 \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// A contact's newest events.
    pub async fn contact_events(
        &self,
        org_id: i64,
        contact_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT mailing_id, kind, link_idx, flagged, source, at FROM mail_events \
             WHERE org_id = $1 AND contact_id = $2 ORDER BY at DESC, id DESC LIMIT $3"
        )
        .bind(org_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Soft bounces recorded for a contact (all mailings).
    pub async fn soft_bounces(&self, org_id: i64, contact_id: i64) -> StoreResult<i64> {
        on_read!(self, |p| {
            Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM mail_events WHERE org_id = $1 AND contact_id = $2 AND kind = 'bounce_soft'"
        )
        .bind(org_id)
        .bind(contact_id)
        .fetch_one(p)
        .await?)
        })
    }

    pub async fn insert_event(&self, org_id: i64, ev: &NewEvent, now: i64) -> StoreResult<()> {
        write_tx!(self, |tx| {
            insert_event!(tx, org_id, ev, now);
        });
        Ok(())
    }

    /// Event counts of a mailing: (kind, total, distinct contacts), flagged (scanner)
    /// events left out.
    pub async fn event_counts(
        &self,
        org_id: i64,
        mailing_id: i64,
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT kind, COUNT(*), COUNT(DISTINCT COALESCE(contact_id, -delivery_id)) FROM mail_events \
             WHERE org_id = $1 AND mailing_id = $2 AND NOT flagged GROUP BY kind"
        )
        .bind(org_id)
        .bind(mailing_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Scanner-flagged events of a mailing, by kind.
    pub async fn flagged_counts(
        &self,
        org_id: i64,
        mailing_id: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT kind, COUNT(*) FROM mail_events WHERE org_id = $1 AND mailing_id = $2 AND flagged GROUP BY kind"
        )
        .bind(org_id)
        .bind(mailing_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Unique clickers per tracked link of a mailing: (link index, clicks, distinct contacts).
    pub async fn link_clicks(
        &self,
        org_id: i64,
        mailing_id: i64,
    ) -> StoreResult<Vec<(i64, i64, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT link_idx, COUNT(*), COUNT(DISTINCT COALESCE(contact_id, -delivery_id)) FROM mail_events \
             WHERE org_id = $1 AND mailing_id = $2 AND kind = 'click' AND NOT flagged AND link_idx IS NOT NULL \
             GROUP BY link_idx ORDER BY link_idx"
        )
        .bind(org_id)
        .bind(mailing_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Messages sent and events per hour (unix ms of the hour's start), for charts.
    pub async fn hourly_series(
        &self,
        org_id: i64,
        mailing_id: i64,
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT (sent_at / 3600000) * 3600000 AS hour, 'sent' AS kind, COUNT(*) FROM deliveries \
               WHERE org_id = $1 AND mailing_id = $2 AND status = 'sent' GROUP BY 1 \
             UNION ALL \
             SELECT (at / 3600000) * 3600000 AS hour, kind, COUNT(*) FROM mail_events \
               WHERE org_id = $1 AND mailing_id = $2 AND NOT flagged GROUP BY 1, 2 \
             ORDER BY 1, 2"
        )
        .bind(org_id)
        .bind(mailing_id)
        .fetch_all(p)
        .await?)
        })
    }
}
