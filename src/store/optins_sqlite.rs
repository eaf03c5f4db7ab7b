//! The opt-in registration on SQLite in three round trips to the database thread instead of a
//! dozen: SQLite runs every statement on one writer thread, so each hand-over costs more than
//! the statement itself. Same rules and outcome as the generic path (`optins.rs`), in one
//! IMMEDIATE transaction that holds the write lock from the first statement.

use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, Row};

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
pub(super) struct Batch {
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

pub async fn register(pool: &SqlitePool, r: &Registration<'_>) -> StoreResult<RegistrationOutcome> {
    let mut conn = pool.acquire().await?;
    let result = run(&mut conn, r).await;
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    result
}

async fn run(
    conn: &mut sqlx::SqliteConnection,
    r: &Registration<'_>,
) -> StoreResult<RegistrationOutcome> {
    let org = r.org_id;
    let f = r.fields;
    // 1: take the write lock and create the contact unless the address exists.
    let mut first = Batch::default();
    first.push("BEGIN IMMEDIATE", vec![]);
    first.push(
        "INSERT INTO contacts (org_id, guid, email, external_id, first_name, name_prefix, last_name, organisation, gender, \
         street, house_number, zipcode, city, country, mobile, phone, mail_format, active, language, source, import_code, \
         sync_id, attributes, score, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) ON CONFLICT (org_id, email) DO NOTHING RETURNING id",
        vec![
            Val::Int(org),
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
    let inserted: Option<i64> = first
        .query()
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.get(0));
    // 2: the contact, its statuses, its last verification mail and the ledger head.
    let state = sqlx::query(
        "SELECT c.id, c.verification_sent_at, h.seq, h.hash, \
         (SELECT group_concat(s.list_id || ':' || s.status, ' ') FROM subscriptions s WHERE s.org_id = c.org_id AND s.contact_id = c.id) \
         FROM contacts c JOIN consent_heads h ON h.org_id = c.org_id WHERE c.org_id = $1 AND c.email = $2",
    )
    .bind(org)
    .bind(r.email.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let contact_id: i64 = state.get(0);
    let sent_at: Option<i64> = state.get(1);
    let (mut seq, mut prev): (i64, String) = (state.get(2), state.get(3));
    let statuses: Option<String> = state.get(4);
    let status_of = |list: i64| {
        statuses.as_deref().unwrap_or("").split(' ').find_map(|p| {
            let (l, s) = p.split_once(':')?;
            (l.parse::<i64>().ok()? == list).then_some(s)
        })
    };

    // 3: every write, then COMMIT.
    let mut writes = Batch::default();
    if inserted.is_some() {
        for tag in &f.tags {
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
    for (list_id, evidence) in r.lists {
        match status_of(*list_id) {
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
        seq += 1;
        let entry = LedgerEntry::new(
            org,
            seq,
            prev.clone(),
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
                Val::Int(seq),
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
                Val::Text(prev.clone()),
                Val::Text(hash.clone()),
            ],
        );
        prev = hash;
        changed.push(*list_id);
        if !r.assert {
            pending.push(*list_id);
        }
    }
    if !changed.is_empty() {
        writes.push(
            "UPDATE consent_heads SET seq = $2, hash = $3 WHERE org_id = $1",
            vec![Val::Int(org), Val::Int(seq), Val::Text(prev)],
        );
    }
    let due = !pending.is_empty() && sent_at.is_none_or(|t| t < r.resend_before);
    if due {
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
    writes.push("COMMIT", vec![]);
    writes
        .query()
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    Ok(RegistrationOutcome {
        contact_id,
        created: inserted.is_some(),
        changed,
        verification_queued: due,
    })
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
