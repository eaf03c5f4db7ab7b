//! Automations, their published versions, participations (claimed by workers with a lease,
//! advanced with their step's effects in one transaction), the step log and idempotency keys.

use serde::Serialize;
use serde_json::Value;

use crate::domain::automation_steps::FieldTarget;
use crate::domain::contact::MAX_ATTRIBUTES_BYTES;
use crate::domain::segment::Dialect;

use super::jobs::INSERT_JOB;
use super::{on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AutomationRow {
    pub org_id: i64,
    pub id: i64,
    pub name: String,
    pub trigger_code: String,
    pub trigger_kind: String,
    /// The trigger as JSON ([`crate::domain::automation_trigger::Trigger`]).
    pub trigger_config: String,
    pub list_id: Option<i64>,
    pub reentry: String,
    pub draft_steps: String,
    pub published_version: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived_at: Option<i64>,
}

/// An automation as written by the service (validated).
#[derive(Debug, Clone)]
pub struct NewAutomation {
    pub name: String,
    pub trigger_kind: String,
    pub trigger_config: String,
    pub list_id: Option<i64>,
    pub reentry: String,
    pub draft_steps: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ParticipationRow {
    pub org_id: i64,
    pub id: i64,
    pub automation_id: i64,
    pub version: i64,
    pub contact_id: Option<i64>,
    pub fields: String,
    pub status: String,
    pub step: i64,
    pub next_run_at: Option<i64>,
    pub steps_run: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub stop_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StepLogRow {
    pub step: i64,
    pub run: i64,
    pub kind: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub at: i64,
}

/// Builds the answer stored with an Idempotency-Key from the participation ids started.
pub type AnswerBuilder = Box<dyn Fn(&[i64]) -> String + Send + Sync>;

/// Starting participations for one trigger call.
pub struct Start {
    pub org_id: i64,
    pub automation_id: i64,
    pub version: i64,
    pub contact_id: i64,
    pub fields: String,
    /// One participation at a time: nothing starts while one is active.
    pub single: bool,
    pub now: i64,
    /// (key, builds the answer to store from the participation ids started).
    pub idempotency: Option<(String, AnswerBuilder)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Participations started now (empty: a single-entry automation already running).
    New(Vec<i64>),
    /// The stored answer of an earlier call with the same Idempotency-Key.
    Replayed(String),
}

/// What running a participation's due steps changed, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Advance {
    pub org_id: i64,
    pub participation_id: i64,
    pub contact_id: Option<i64>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub score: i64,
    /// Contact fields and attributes to set (null clears), in step order.
    pub set_fields: Vec<(FieldTarget, Value)>,
    /// Jobs to queue: (kind, payload).
    pub jobs: Vec<(String, String)>,
    /// Steps whose bucket the contact goes into (export steps, batched HTTP steps).
    pub buckets: Vec<i64>,
    /// (step, kind, outcome, detail) per step run.
    pub log: Vec<(i64, String, String, Option<String>)>,
    pub next_step: i64,
    /// None with `done`: the participation ended.
    pub next_run_at: Option<i64>,
    pub done: bool,
    pub stop_reason: Option<String>,
}

impl Advance {
    /// Whether the steps run so far change the contact (tags, score, fields).
    pub fn has_contact_effects(&self) -> bool {
        !self.add_tags.is_empty()
            || !self.remove_tags.is_empty()
            || self.score != 0
            || !self.set_fields.is_empty()
    }
}

pub(super) const AUTOMATION_COLUMNS: &str = "org_id, id, name, trigger_code, trigger_kind, trigger_config, list_id, reentry, draft_steps, published_version, created_at, updated_at, archived_at";
const PARTICIPATION_COLUMNS: &str = "org_id, id, automation_id, version, contact_id, fields, status, step, next_run_at, steps_run, started_at, finished_at, stop_reason";

impl Store {
    pub async fn create_automation(
        &self,
        org_id: i64,
        a: &NewAutomation,
        trigger_code: &str,
        now: i64,
    ) -> StoreResult<AutomationRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "INSERT INTO automations (org_id, name, trigger_code, trigger_kind, trigger_config, list_id, reentry, draft_steps, created_at, updated_at) \
             VALUES ($1, $2, $3, $8, $9, $4, $5, $6, $7, $7) RETURNING {AUTOMATION_COLUMNS}"
        ))
        .bind(org_id)
        .bind(&a.name)
        .bind(trigger_code)
        .bind(a.list_id)
        .bind(&a.reentry)
        .bind(&a.draft_steps)
        .bind(now)
        .bind(&a.trigger_kind)
        .bind(&a.trigger_config)
        .fetch_one(p)
        .await?)
        })
    }

    /// Replaces the draft (name, opt-in, re-entry, steps); published versions stay as they are.
    pub async fn update_automation(
        &self,
        org_id: i64,
        id: i64,
        a: &NewAutomation,
        now: i64,
    ) -> StoreResult<AutomationRow> {
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "UPDATE automations SET name = $3, list_id = $4, reentry = $5, draft_steps = $6, updated_at = $7, \
             trigger_kind = $8, trigger_config = $9 WHERE org_id = $1 AND id = $2 RETURNING {AUTOMATION_COLUMNS}"
        ))
        .bind(org_id)
        .bind(id)
        .bind(&a.name)
        .bind(a.list_id)
        .bind(&a.reentry)
        .bind(&a.draft_steps)
        .bind(now)
        .bind(&a.trigger_kind)
        .bind(&a.trigger_config)
        .fetch_one(p)
        .await?)
        })
    }

    /// Publishes the draft as the next version; new participations start on it, running ones
    /// finish on theirs.
    pub async fn publish_automation(&self, org_id: i64, id: i64, now: i64) -> StoreResult<i64> {
        let version = write_tx!(self, |tx| {
            let (draft, current): (String, Option<i64>) = sqlx::query_as(
                "SELECT draft_steps, published_version FROM automations WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let version = current.unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO automation_versions (org_id, automation_id, version, steps, published_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(org_id)
            .bind(id)
            .bind(version)
            .bind(&draft)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE automations SET published_version = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .bind(version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            version
        });
        Ok(version)
    }

    pub async fn automation_by_id(&self, org_id: i64, id: i64) -> StoreResult<AutomationRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {AUTOMATION_COLUMNS} FROM automations WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn automation_by_code(&self, org_id: i64, code: &str) -> StoreResult<AutomationRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {AUTOMATION_COLUMNS} FROM automations WHERE org_id = $1 AND trigger_code = $2"
        ))
        .bind(org_id)
        .bind(code)
        .fetch_one(p)
        .await?))
    }

    pub async fn automations(&self, org_id: i64) -> StoreResult<Vec<AutomationRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {AUTOMATION_COLUMNS} FROM automations WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// The steps (JSON) of a published version.
    pub async fn automation_version_steps(
        &self,
        org_id: i64,
        automation_id: i64,
        version: i64,
    ) -> StoreResult<String> {
        on_read!(self, |p| {
            Ok(sqlx::query_scalar(
            "SELECT steps FROM automation_versions WHERE org_id = $1 AND automation_id = $2 AND version = $3"
        )
        .bind(org_id)
        .bind(automation_id)
        .bind(version)
        .fetch_one(p)
        .await?)
        })
    }

    /// Starts a participation in one transaction with the idempotency record: a key seen
    /// before returns its stored answer and starts nothing.
    pub async fn start_participation(&self, s: Start) -> StoreResult<Started> {
        let s = &s;
        let out = write_tx!(self, |tx| {
            if let Some((key, _)) = &s.idempotency {
                let stored: Option<String> = sqlx::query_scalar(
                    "SELECT response FROM idempotency_keys WHERE org_id = $1 AND scope = 'trigger' AND key = $2",
                )
                .bind(s.org_id)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(r) = stored {
                    return Ok(Started::Replayed(r));
                }
            }
            let running: Option<i64> = if s.single {
                sqlx::query_scalar(
                    "SELECT id FROM participations WHERE org_id = $1 AND automation_id = $2 AND contact_id = $3 \
                     AND status = 'active' LIMIT 1",
                )
                .bind(s.org_id)
                .bind(s.automation_id)
                .bind(s.contact_id)
                .fetch_optional(&mut *tx)
                .await?
            } else {
                None
            };
            let ids = match running {
                Some(_) => Vec::new(),
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO participations (org_id, automation_id, version, contact_id, fields, status, step, next_run_at, started_at) \
                         VALUES ($1, $2, $3, $4, $5, 'active', 0, $6, $6) RETURNING id",
                    )
                    .bind(s.org_id)
                    .bind(s.automation_id)
                    .bind(s.version)
                    .bind(s.contact_id)
                    .bind(&s.fields)
                    .bind(s.now)
                    .fetch_one(&mut *tx)
                    .await?;
                    vec![id]
                }
            };
            if let Some((key, answer)) = &s.idempotency {
                sqlx::query(
                    "INSERT INTO idempotency_keys (org_id, scope, key, response, created_at) VALUES ($1, 'trigger', $2, $3, $4)",
                )
                .bind(s.org_id)
                .bind(key)
                .bind(answer(&ids))
                .bind(s.now)
                .execute(&mut *tx)
                .await?;
            }
            Started::New(ids)
        });
        Ok(out)
    }

    /// Forgets the answers of trigger calls older than `before` (retries come within minutes).
    pub async fn purge_idempotency_keys(&self, before: i64) -> StoreResult<u64> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < $1"
        )
        .bind(before)
        .execute(p)
        .await?
        .rows_affected()))
    }

    /// Stops the active participations of a contact in an automation; returns their ids.
    pub async fn stop_contact_participations(
        &self,
        org_id: i64,
        automation_id: i64,
        contact_id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<Vec<i64>> {
        on_write!(self, |p| {
            Ok(sqlx::query_scalar(
            "UPDATE participations SET status = 'stopped', finished_at = $4, stop_reason = $5, next_run_at = NULL \
             WHERE org_id = $1 AND automation_id = $2 AND contact_id = $3 AND status = 'active' RETURNING id"
        )
        .bind(org_id)
        .bind(automation_id)
        .bind(contact_id)
        .bind(now)
        .bind(reason)
        .fetch_all(p)
        .await?)
        })
    }

    /// Stops one participation; NotFound when it is not active (or not the organisation's).
    pub async fn stop_participation(
        &self,
        org_id: i64,
        id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query(
                "UPDATE participations SET status = 'stopped', finished_at = $3, stop_reason = $4, next_run_at = NULL \
                 WHERE org_id = $1 AND id = $2 AND status = 'active'",
            )
            .bind(org_id)
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(p)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    pub async fn participation(&self, org_id: i64, id: i64) -> StoreResult<ParticipationRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {PARTICIPATION_COLUMNS} FROM participations WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn participations(
        &self,
        org_id: i64,
        automation_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<ParticipationRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {PARTICIPATION_COLUMNS} FROM participations WHERE org_id = $1 AND automation_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(automation_id)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    pub async fn participation_log(
        &self,
        org_id: i64,
        participation_id: i64,
    ) -> StoreResult<Vec<StepLogRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT step, run, kind, outcome, detail, at FROM participation_log WHERE org_id = $1 AND participation_id = $2 ORDER BY run"
        )
        .bind(org_id)
        .bind(participation_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Leases up to `limit` participations whose next step is due (PostgreSQL skips rows other
    /// nodes hold). A lease that runs out (a node died) makes the row due again.
    pub async fn claim_participations(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ParticipationRow>> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        on_write!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "UPDATE participations SET locked_until = $2 WHERE id IN (SELECT id FROM participations \
             WHERE status = 'active' AND next_run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
             ORDER BY next_run_at LIMIT $3{lock}) RETURNING {PARTICIPATION_COLUMNS}"
        ))
        .bind(now)
        .bind(now + lease_ms)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Writes what running due steps did, for many participations in one transaction. A
    /// participation stopped in the meantime gets none of its effects.
    pub async fn advance_participations(
        &self,
        batch: &[Advance],
        max_attempts: i64,
        now: i64,
    ) -> StoreResult<usize> {
        let dialect = self.dialect();
        let applied = write_tx!(self, |tx| {
            let mut applied = 0;
            for a in batch {
                let status = if a.done { "done" } else { "active" };
                let updated: Option<i64> = sqlx::query_scalar(
                    "UPDATE participations SET step = $3, next_run_at = $4, status = $5, locked_until = NULL, \
                     steps_run = steps_run + $6, finished_at = CASE WHEN $5 = 'active' THEN NULL ELSE $7 END, \
                     stop_reason = COALESCE($8, stop_reason) \
                     WHERE org_id = $1 AND id = $2 AND status = 'active' RETURNING steps_run",
                )
                .bind(a.org_id)
                .bind(a.participation_id)
                .bind(a.next_step)
                .bind(a.next_run_at)
                .bind(status)
                .bind(a.log.len() as i64)
                .bind(now)
                .bind(&a.stop_reason)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(steps_run) = updated else { continue };
                applied += 1;
                let first_run = steps_run - a.log.len() as i64;
                for (i, (step, kind, outcome, detail)) in a.log.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO participation_log (org_id, participation_id, step, run, kind, outcome, detail, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(a.org_id)
                    .bind(a.participation_id)
                    .bind(step)
                    .bind(first_run + i as i64 + 1)
                    .bind(kind)
                    .bind(outcome)
                    .bind(detail)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(contact) = a.contact_id {
                    for tag in &a.add_tags {
                        sqlx::query("INSERT INTO contact_tags (org_id, contact_id, tag) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                            .bind(a.org_id)
                            .bind(contact)
                            .bind(tag)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for tag in &a.remove_tags {
                        sqlx::query("DELETE FROM contact_tags WHERE org_id = $1 AND contact_id = $2 AND tag = $3")
                            .bind(a.org_id)
                            .bind(contact)
                            .bind(tag)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for (target, value) in &a.set_fields {
                        let (sql, params) = set_field_sql(dialect, target, value);
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(a.org_id)
                            .bind(contact)
                            .bind(now);
                        for v in params {
                            q = q.bind(v);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    if a.score != 0 {
                        sqlx::query("UPDATE contacts SET score = score + $3, updated_at = $4 WHERE org_id = $1 AND id = $2")
                            .bind(a.org_id)
                            .bind(contact)
                            .bind(a.score)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for step in &a.buckets {
                    sqlx::query(
                        "INSERT INTO bucket_entries (org_id, automation_id, version, step, participation_id, contact_id, added_at) \
                         SELECT org_id, automation_id, version, $3, id, contact_id, $4 FROM participations WHERE org_id = $1 AND id = $2",
                    )
                    .bind(a.org_id)
                    .bind(a.participation_id)
                    .bind(step)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                for (kind, payload) in &a.jobs {
                    let _: i64 = sqlx::query_scalar(INSERT_JOB)
                        .bind(a.org_id)
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
            applied
        });
        Ok(applied)
    }
}

/// The statement of a set_field step over `$1` organisation, `$2` contact, `$3` now, and the
/// parameters it returns. Attributes are merged into the JSON object (each backend its own
/// way); a value that would make them larger than the limit is not written.
fn set_field_sql(
    dialect: Dialect,
    target: &FieldTarget,
    value: &Value,
) -> (String, Vec<Option<String>>) {
    const WHERE: &str = "WHERE org_id = $1 AND id = $2";
    match (target, value, dialect) {
        (FieldTarget::Column(col), v, _) => (
            format!("UPDATE contacts SET {col} = $4, updated_at = $3 {WHERE}"),
            vec![v.as_str().map(String::from)],
        ),
        (FieldTarget::Attribute(name), Value::Null, Dialect::Sqlite) => (
            format!("UPDATE contacts SET attributes = json_remove(attributes, '$.' || $4), updated_at = $3 {WHERE}"),
            vec![Some(name.clone())],
        ),
        (FieldTarget::Attribute(name), Value::Null, Dialect::Postgres) => (
            format!("UPDATE contacts SET attributes = (attributes::jsonb - $4::text)::text, updated_at = $3 {WHERE}"),
            vec![Some(name.clone())],
        ),
        (FieldTarget::Attribute(name), v, Dialect::Sqlite) => (
            format!("UPDATE contacts SET attributes = json_set(attributes, '$.' || $4, json($5)), updated_at = $3 \
                     {WHERE} AND length(attributes) + length($5) <= {MAX_ATTRIBUTES_BYTES}"),
            vec![Some(name.clone()), Some(v.to_string())],
        ),
        (FieldTarget::Attribute(name), v, Dialect::Postgres) => (
            format!("UPDATE contacts SET attributes = (attributes::jsonb || jsonb_build_object($4::text, $5::jsonb))::text, updated_at = $3 \
                     {WHERE} AND length(attributes) + length($5) <= {MAX_ATTRIBUTES_BYTES}"),
            vec![Some(name.clone()), Some(v.to_string())],
        ),
    }
}
