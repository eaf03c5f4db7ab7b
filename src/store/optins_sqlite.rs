//! Opt-in registrations on SQLite, committed in groups. SQLite has one writer, every statement
//! is handed to its thread and back, and every commit writes the touched pages to the WAL; so
//! registrations that arrive together are written together: one IMMEDIATE transaction, two
//! round trips, shared pages. Each caller still gets its answer only after the commit. The
//! rules and outcome are those of the generic path (`optins.rs`); when a group fails, each of
//! its registrations is retried alone, so one bad request never fails another.

use std::collections::HashMap;

use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::consent::INSERT_LEDGER;
use super::jobs::INSERT_JOB;
use super::optins::{Registration, RegistrationOutcome};
use super::{StoreError, StoreResult};
use crate::domain::ledger::LedgerEntry;
use crate::domain::ConsentAction;

/// One value of a batch of statements.
enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

/// Statements with numbered parameters that run as one query.
#[derive(Default)]
struct Batch {
    sql: String,
    vals: Vec<Val>,
}

impl Batch {
    /// Appends a statement whose `$1…$k` refer to `vals`, renumbering them after the ones before.
    fn push(&mut self, statement: &str, vals: Vec<Val>) {
        let base = self.vals.len();
        let mut chars = statement.chars().peekable();
        while let Some(c) = chars.next() {
            self.sql.push(c);
            if c == '$' {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let n: usize = n.parse().unwrap_or(0);
                self.sql.push_str(&(base + n).to_string());
            }
        }
        self.sql.push_str(";\n");
        self.vals.extend(vals);
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.sql.clone()));
        for v in &self.vals {
            q = match v {
                Val::Int(i) => q.bind(*i),
                Val::OptInt(i) => q.bind(*i),
                Val::Text(s) => q.bind(s.as_str()),
                Val::OptText(s) => q.bind(s.as_deref()),
            };
        }
        q
    }
}

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
    let result = run(&mut conn, regs).await;
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    result
}

/// What the group knows about a contact, kept up to date as its registrations are applied.
struct ContactState {
    sent_at: Option<i64>,
    statuses: HashMap<i64, String>,
}

async fn run(
    conn: &mut sqlx::SqliteConnection,
    regs: &[&Registration],
) -> StoreResult<Vec<RegistrationOutcome>> {
    // 1: take the write lock, create the contacts whose address is new, and read each
    // registration's contact, its statuses, its last verification mail and the ledger head.
    // The random guid tells whether a registration created its contact.
    let mut first = Batch::default();
    first.push("BEGIN IMMEDIATE", vec![]);
    for r in regs {
        let f = &r.fields;
        first.push(
            "INSERT INTO contacts (org_id, guid, email, external_id, first_name, name_prefix, last_name, organisation, gender, \
             street, house_number, zipcode, city, country, mobile, phone, mail_format, active, language, source, import_code, \
             sync_id, attributes, score, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) ON CONFLICT (org_id, email) DO NOTHING",
            vec![
                Val::Int(r.org_id),
                Val::Text(r.guid.clone()),
                Val::Text(r.email.as_str().into()),
                Val::OptText(f.external_id.clone()),
                Val::OptText(f.first_name.clone()),
                Val::OptText(f.name_prefix.clone()),
                Val::OptText(f.last_name.clone()),
                Val::OptText(f.organisation.clone()),
                Val::Int(f.gender.code()),
                Val::OptText(f.street.clone()),
                Val::OptText(f.house_number.clone()),
                Val::OptText(f.zipcode.clone()),
                Val::OptText(f.city.clone()),
                Val::OptText(f.country.clone()),
                Val::OptText(f.mobile.clone()),
                Val::OptText(f.phone.clone()),
                Val::Text(f.mail_format.as_str().into()),
                Val::Int(i64::from(f.active)),
                Val::OptText(f.language.map(|l| l.code().to_string())),
                Val::OptText(f.source.clone()),
                Val::OptText(f.import_code.clone()),
                Val::OptText(f.sync_id.clone()),
                Val::Text(serde_json::Value::Object(f.attributes.clone()).to_string()),
                Val::Int(f.score),
                Val::Int(r.now),
                Val::Int(r.now),
            ],
        );
    }
    for r in regs {
        first.push(
            "SELECT c.id, c.guid = $3, c.verification_sent_at, h.seq, h.hash, \
             (SELECT group_concat(s.list_id || ':' || s.status, ' ') FROM subscriptions s WHERE s.org_id = c.org_id AND s.contact_id = c.id) \
             FROM contacts c JOIN consent_heads h ON h.org_id = c.org_id WHERE c.org_id = $1 AND c.email = $2",
            vec![Val::Int(r.org_id), Val::Text(r.email.as_str().into()), Val::Text(r.guid.clone())],
        );
    }
    let rows = first.query().fetch_all(&mut *conn).await?;
    if rows.len() != regs.len() {
        return Err(StoreError::Conflict(
            "a registration's contact could not be created".into(),
        ));
    }

    // 2: every write, then COMMIT. Ledger heads and contact states carry over from one
    // registration of the group to the next.
    let mut heads: HashMap<i64, (i64, String)> = HashMap::new();
    let mut contacts: HashMap<i64, ContactState> = HashMap::new();
    let mut writes = Batch::default();
    let mut outcomes = Vec::with_capacity(regs.len());
    for (r, row) in regs.iter().zip(&rows) {
        let org = r.org_id;
        let contact_id: i64 = row.get(0);
        let created: bool = row.get(1);
        let head = heads.entry(org).or_insert_with(|| (row.get(3), row.get(4)));
        let state = contacts.entry(contact_id).or_insert_with(|| ContactState {
            sent_at: row.get(2),
            statuses: row
                .get::<Option<String>, _>(5)
                .unwrap_or_default()
                .split(' ')
                .filter_map(|p| {
                    let (l, s) = p.split_once(':')?;
                    Some((l.parse().ok()?, s.to_string()))
                })
                .collect(),
        });
        if created {
            for tag in &r.fields.tags {
                writes.push(
                    "INSERT INTO contact_tags (org_id, contact_id, tag) VALUES ($1, $2, $3)",
                    vec![Val::Int(org), Val::Int(contact_id), Val::Text(tag.clone())],
                );
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
            writes.push(
                "INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at, unsubscribed_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, NULL) ON CONFLICT (org_id, contact_id, list_id) DO UPDATE SET \
                 status = excluded.status, updated_at = excluded.updated_at, \
                 confirmed_at = COALESCE(excluded.confirmed_at, subscriptions.confirmed_at)",
                vec![
                    Val::Int(org),
                    Val::Int(contact_id),
                    Val::Int(*list_id),
                    Val::Text(status.into()),
                    Val::Int(r.now),
                    Val::OptInt(r.assert.then_some(r.now)),
                ],
            );
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
            writes.push(
                INSERT_LEDGER,
                vec![
                    Val::Int(org),
                    Val::Int(entry.seq),
                    Val::Int(contact_id),
                    Val::Int(*list_id),
                    Val::Text(r.email.as_str().into()),
                    Val::Text(entry.action.clone()),
                    Val::Text(entry.source.clone()),
                    Val::Text(entry.actor.clone()),
                    Val::OptInt(entry.token_id),
                    Val::OptText(evidence.ip.clone()),
                    Val::OptText(evidence.user_agent.clone()),
                    Val::OptText(entry.text_shown.clone()),
                    Val::Int(r.now),
                    Val::Text(entry.pii_digest.clone()),
                    Val::Text(entry.prev_hash.clone()),
                    Val::Text(hash.clone()),
                    Val::OptText(entry.context.clone()),
                ],
            );
            head.1 = hash;
            changed.push(*list_id);
            if !r.assert {
                pending.push(*list_id);
            }
        }
        let due = !pending.is_empty() && state.sent_at.is_none_or(|t| t < r.resend_before);
        if due {
            state.sent_at = Some(r.now);
            writes.push(
                "UPDATE contacts SET verification_sent_at = $3 WHERE org_id = $1 AND id = $2",
                vec![Val::Int(org), Val::Int(contact_id), Val::Int(r.now)],
            );
            writes.push(
                "INSERT INTO confirm_tokens (token_hash, org_id, contact_id, list_ids, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    Val::Text(r.token_hash.clone()),
                    Val::Int(org),
                    Val::Int(contact_id),
                    Val::Text(pending.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")),
                    Val::Int(r.now),
                    Val::Int(r.token_expires_at),
                ],
            );
            let (kind, payload) = (r.verification_job)(contact_id, &pending);
            writes.push(
                INSERT_JOB.trim_end_matches(" RETURNING id"),
                vec![
                    Val::Int(org),
                    Val::Text(kind),
                    Val::Text(payload),
                    Val::Int(r.now),
                    Val::Int(r.max_attempts),
                    Val::Int(r.now),
                    Val::Int(r.now),
                ],
            );
        }
        outcomes.push(RegistrationOutcome {
            contact_id,
            created,
            changed,
            verification_queued: due,
        });
    }
    for (org, (seq, hash)) in &heads {
        writes.push(
            "UPDATE consent_heads SET seq = $2, hash = $3 WHERE org_id = $1 AND seq < $2",
            vec![Val::Int(*org), Val::Int(*seq), Val::Text(hash.clone())],
        );
    }
    writes.push("COMMIT", vec![]);
    writes.query().execute(&mut *conn).await?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_per_statement() {
        let mut b = Batch::default();
        b.push("A $1 $2", vec![Val::Int(1), Val::Int(2)]);
        b.push("B $1 $10 $2 $1", (0..10).map(Val::Int).collect());
        assert_eq!(b.sql, "A $1 $2;\nB $3 $12 $4 $3;\n");
        assert_eq!(b.vals.len(), 12);
    }
}
