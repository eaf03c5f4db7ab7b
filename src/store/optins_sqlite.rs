//! Opt-in registrations on SQLite, committed in groups. SQLite has one writer and every commit
//! writes the touched pages to the WAL; so registrations that arrive together are written
//! together, in one IMMEDIATE transaction on the writer connection's raw handle: one hand-over
//! to the connection per group, one prepared statement per kind of write, values bound straight
//! into SQLite. Each caller still gets its answer only after the commit. The rules and outcome
//! are those of the generic path (`optins.rs`); when a group fails, each of its registrations
//! is retried alone, so one bad request never fails another.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::consent::INSERT_LEDGER;
use super::jobs::INSERT_JOB;
use super::optins::{Registration, RegistrationOutcome};
use super::sqlite_raw::with_handle;
use super::{StoreError, StoreResult};
use crate::domain::ledger::LedgerEntry;
use crate::domain::ConsentAction;

/// Most registrations written in one transaction.
const MAX_GROUP: usize = 128;

type Reply = oneshot::Sender<StoreResult<RegistrationOutcome>>;

/// The handle through which requests reach the group writer task.
#[derive(Debug, Clone)]
pub struct Registrations {
    tx: mpsc::UnboundedSender<(Registration, Reply)>,
}

impl Registrations {
    /// Starts the group writer on the write pool (one connection).
    pub fn start(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(group_writer(pool, rx));
        Self { tx }
    }

    pub async fn register(&self, r: Registration) -> StoreResult<RegistrationOutcome> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((r, reply))
            .map_err(|_| StoreError::Connect("the registration writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Connect("the registration writer has stopped".into()))?
    }
}

async fn group_writer(pool: SqlitePool, mut rx: mpsc::UnboundedReceiver<(Registration, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(item) => group.push(item),
                Err(_) => break,
            }
        }
        let regs: Vec<&Registration> = group.iter().map(|(r, _)| r).collect();
        match write_group(&pool, &regs).await {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(_) if group.len() > 1 => {
                for (r, reply) in group {
                    let outcome = write_group(&pool, &[&r]).await.map(|mut o| o.remove(0));
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                if let Some((_, reply)) = group.pop() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

async fn write_group(
    pool: &SqlitePool,
    regs: &[&Registration],
) -> StoreResult<Vec<RegistrationOutcome>> {
    let mut conn = pool.acquire().await?;
    with_handle(&mut conn, |db| {
        db.execute_batch("BEGIN IMMEDIATE")?;
        let result = write(db, regs).and_then(|outcomes| {
            db.execute_batch("COMMIT")?;
            Ok(outcomes)
        });
        if result.is_err() {
            let _ = db.execute_batch("ROLLBACK");
        }
        result
    })
    .await
}

/// What the group knows about a contact, kept up to date as its registrations are applied.
struct ContactState {
    sent_at: Option<i64>,
    statuses: HashMap<i64, String>,
}

const INSERT_CONTACT: &str = "INSERT INTO contacts (org_id, guid, email, external_id, first_name, name_prefix, last_name, \
     organisation, gender, street, house_number, zipcode, city, country, mobile, phone, mail_format, active, language, \
     source, import_code, sync_id, attributes, score, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
     ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?25) ON CONFLICT (org_id, email) DO NOTHING";

/// The contact of an address; whether the guid is the one just inserted tells whether this
/// registration created it.
const FIND_CONTACT: &str = "SELECT c.id, c.guid = ?3, c.verification_sent_at, \
     (SELECT group_concat(s.list_id || ':' || s.status, ' ') FROM subscriptions s WHERE s.org_id = c.org_id AND s.contact_id = c.id) \
     FROM contacts c WHERE c.org_id = ?1 AND c.email = ?2";

const UPSERT_SUBSCRIPTION: &str = "INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, \
     confirmed_at, unsubscribed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, NULL) ON CONFLICT (org_id, contact_id, list_id) \
     DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, \
     confirmed_at = COALESCE(excluded.confirmed_at, subscriptions.confirmed_at)";

fn write(db: &Connection, regs: &[&Registration]) -> StoreResult<Vec<RegistrationOutcome>> {
    let mut insert_contact = db.prepare(INSERT_CONTACT)?;
    let mut find_contact = db.prepare(FIND_CONTACT)?;
    let mut head_of = db.prepare("SELECT seq, hash FROM consent_heads WHERE org_id = ?1")?;
    let mut add_tag =
        db.prepare("INSERT INTO contact_tags (org_id, contact_id, tag) VALUES (?1, ?2, ?3)")?;
    let mut upsert_subscription = db.prepare(UPSERT_SUBSCRIPTION)?;
    let mut append_ledger = db.prepare(INSERT_LEDGER)?;
    let mut mark_sent =
        db.prepare("UPDATE contacts SET verification_sent_at = ?3 WHERE org_id = ?1 AND id = ?2")?;
    let mut insert_token = db.prepare(
        "INSERT INTO confirm_tokens (token_hash, org_id, contact_id, list_ids, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut insert_job = db.prepare(INSERT_JOB.trim_end_matches(" RETURNING id"))?;

    // Ledger heads and contact states carry over from one registration of the group to the next.
    let mut heads: HashMap<i64, (i64, String)> = HashMap::new();
    let mut contacts: HashMap<i64, ContactState> = HashMap::new();
    let mut outcomes = Vec::with_capacity(regs.len());
    for r in regs {
        let org = r.org_id;
        let f = &r.fields;
        insert_contact.execute(params![
            org,
            r.guid,
            r.email.as_str(),
            f.external_id,
            f.first_name,
            f.name_prefix,
            f.last_name,
            f.organisation,
            f.gender.code(),
            f.street,
            f.house_number,
            f.zipcode,
            f.city,
            f.country,
            f.mobile,
            f.phone,
            f.mail_format.as_str(),
            i64::from(f.active),
            f.language.map(|l| l.code()),
            f.source,
            f.import_code,
            f.sync_id,
            serde_json::Value::Object(f.attributes.clone()).to_string(),
            f.score,
            r.now,
        ])?;
        let (contact_id, created, sent_at, statuses) = find_contact
            .query_row(params![org, r.email.as_str(), r.guid], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, bool>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?
            .ok_or_else(|| {
                StoreError::Conflict("a registration's contact could not be created".into())
            })?;
        let head = match heads.entry(org) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(head_of.query_row([org], |row| Ok((row.get(0)?, row.get(1)?)))?)
            }
        };
        let state = contacts.entry(contact_id).or_insert_with(|| ContactState {
            sent_at,
            statuses: statuses
                .unwrap_or_default()
                .split(' ')
                .filter_map(|p| {
                    let (l, s) = p.split_once(':')?;
                    Some((l.parse().ok()?, s.to_string()))
                })
                .collect(),
        });
        if created {
            for tag in &f.tags {
                add_tag.execute(params![org, contact_id, tag])?;
            }
        }
        let action = if r.assert {
            ConsentAction::Assert
        } else {
            ConsentAction::Subscribe
        };
        let status = action
            .resulting_status()
            .map(|s| s.as_str())
            .unwrap_or_default();
        let mut changed = Vec::new();
        let mut pending = Vec::new();
        for (list_id, evidence) in &r.lists {
            match state.statuses.get(list_id).map(String::as_str) {
                // Never fall back from subscribed: that would let anyone unsubscribe anyone.
                Some("subscribed") => continue,
                Some("pending") if !r.assert => {
                    pending.push(*list_id);
                    continue;
                }
                _ => {}
            }
            upsert_subscription.execute(params![
                org,
                contact_id,
                list_id,
                status,
                r.now,
                r.assert.then_some(r.now),
            ])?;
            state.statuses.insert(*list_id, status.to_string());
            head.0 += 1;
            let entry = LedgerEntry::new(
                org,
                head.0,
                head.1.clone(),
                Some(contact_id),
                Some(*list_id),
                r.email.as_str(),
                action,
                evidence,
                r.now,
            );
            let hash = entry.hash();
            append_ledger.execute(params![
                org,
                entry.seq,
                contact_id,
                list_id,
                r.email.as_str(),
                entry.action,
                entry.source,
                entry.actor,
                entry.token_id,
                evidence.ip,
                evidence.user_agent,
                entry.text_shown,
                r.now,
                entry.pii_digest,
                entry.prev_hash,
                hash,
                entry.context,
            ])?;
            head.1 = hash;
            changed.push(*list_id);
            if !r.assert {
                pending.push(*list_id);
            }
        }
        let due = !pending.is_empty() && state.sent_at.is_none_or(|t| t < r.resend_before);
        if due {
            state.sent_at = Some(r.now);
            mark_sent.execute(params![org, contact_id, r.now])?;
            let list_ids = pending
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            insert_token.execute(params![
                r.token_hash,
                org,
                contact_id,
                list_ids,
                r.now,
                r.token_expires_at,
            ])?;
            let (kind, payload) = (r.verification_job)(contact_id, &pending);
            insert_job.execute(params![
                org,
                kind,
                payload,
                r.now,
                r.max_attempts,
                r.now,
                r.now
            ])?;
        }
        outcomes.push(RegistrationOutcome {
            contact_id,
            created,
            changed,
            verification_queued: due,
        });
    }
    let mut set_head =
        db.prepare("UPDATE consent_heads SET seq = ?2, hash = ?3 WHERE org_id = ?1 AND seq < ?2")?;
    for (org, (seq, hash)) in &heads {
        set_head.execute(params![org, seq, hash])?;
    }
    Ok(outcomes)
}
