//! Internal automation triggers: the events database triggers write for consent changes and
//! added tags, turned into participations and deleted in one transaction; the daily search
//! for contacts whose date attribute is due; and what steps ask of contacts (branch
//! conditions) and of the step log (the outcome of a request a job made).

use super::automations::AUTOMATION_COLUMNS;
use super::{bind_segment, on_read, on_write, safe, write_tx, AutomationRow, Store, StoreResult};
use crate::domain::segment::Segment;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AutomationEventRow {
    pub id: i64,
    pub org_id: i64,
    pub contact_id: i64,
    /// `confirm` or `assert` (with `list_id`), or `tag` (with `tag`).
    pub kind: String,
    pub list_id: Option<i64>,
    pub tag: Option<String>,
}

/// A participation an event starts.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub automation_id: i64,
    pub version: i64,
    /// One participation at a time: nothing starts while one is active.
    pub single: bool,
}

/// A date-field automation's search for one day.
pub struct DateScan<'a> {
    pub automation: &'a AutomationRow,
    pub version: i64,
    pub single: bool,
    /// `YYYY-MM-DD` (UTC): the day searched, also the guard against a second search.
    pub today: &'a str,
    pub attribute: &'a str,
    /// Values the attribute's date part must equal (full dates, or `MM-DD` when yearly).
    pub wanted: &'a [String],
    pub yearly: bool,
    pub run_at: i64,
    pub now: i64,
}

/// Starts participations for the contacts `{who}` selects (`c` is the contact); `$1`
/// organisation, `$2` automation, `$3` version, `$4` single (0/1), `$5` first run, `$6` now.
const START: &str = "INSERT INTO participations (org_id, automation_id, version, contact_id, fields, status, step, next_run_at, started_at) \
     SELECT $1, $2, $3, c.id, '[]', 'active', 0, $5, $6 FROM contacts c WHERE c.org_id = $1 AND c.active AND {who} \
     AND ($4 = 0 OR NOT EXISTS (SELECT 1 FROM participations p WHERE p.org_id = $1 AND p.automation_id = $2 \
     AND p.contact_id = c.id AND p.status = 'active'))";

impl Store {
    /// Published automations with an event trigger (subscribed, confirmed, tag added), of
    /// every organisation.
    pub async fn event_triggered_automations(&self) -> StoreResult<Vec<AutomationRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {AUTOMATION_COLUMNS} FROM automations WHERE trigger_kind IN ('subscribed', 'confirmed', 'tag_added') \
             AND published_version IS NOT NULL AND archived_at IS NULL"
        ))
        .fetch_all(p)
        .await?)
        })
    }

    /// Takes up to `limit` trigger events (PostgreSQL skips those another node holds), starts
    /// the participations `entries` names for each, and deletes them, in one transaction.
    /// Returns how many events were used.
    pub async fn consume_automation_events(
        &self,
        limit: i64,
        now: i64,
        entries: impl Fn(&AutomationEventRow) -> Vec<Entry>,
    ) -> StoreResult<usize> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let start_one = START.replace("{who}", "c.id = $7");
        let n = write_tx!(self, |tx| {
            let events: Vec<AutomationEventRow> = sqlx::query_as(safe!(
                "SELECT id, org_id, contact_id, kind, list_id, tag FROM automation_events ORDER BY id LIMIT $1{lock}"
            ))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            for e in &events {
                for entry in entries(e) {
                    sqlx::query(safe!("{start_one}"))
                        .bind(e.org_id)
                        .bind(entry.automation_id)
                        .bind(entry.version)
                        .bind(i64::from(entry.single))
                        .bind(now)
                        .bind(now)
                        .bind(e.contact_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM automation_events WHERE id = $1")
                    .bind(e.id)
                    .execute(&mut *tx)
                    .await?;
            }
            events.len()
        });
        Ok(n)
    }

    /// Date-field automations that have not searched `today` yet.
    pub async fn date_automations_due(&self, today: &str) -> StoreResult<Vec<AutomationRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {AUTOMATION_COLUMNS} FROM automations WHERE trigger_kind = 'date_field' \
             AND published_version IS NOT NULL AND archived_at IS NULL \
             AND (date_scanned_on IS NULL OR date_scanned_on < $1)"
        ))
        .bind(today)
        .fetch_all(p)
        .await?))
    }

    /// Starts the day's participations of a date-field automation, once per day across all
    /// nodes; returns how many started (None: the day was searched already).
    pub async fn start_date_participations(&self, s: &DateScan<'_>) -> StoreResult<Option<u64>> {
        let (from, len) = if s.yearly { (6, 5) } else { (1, 10) };
        let value = match self {
            Store::Sqlite(_) => "json_extract(c.attributes, '$.' || $7)",
            Store::Postgres(_) => "(c.attributes::jsonb ->> $7::text)",
        };
        let who = format!("substr({value}, {from}, {len}) IN ($8, $9)");
        let a = s.automation;
        let started = write_tx!(self, |tx| {
            let claimed = sqlx::query(
                "UPDATE automations SET date_scanned_on = $3 WHERE org_id = $1 AND id = $2 \
                 AND (date_scanned_on IS NULL OR date_scanned_on < $3)",
            )
            .bind(a.org_id)
            .bind(a.id)
            .bind(s.today)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                None
            } else {
                let first = s.wanted.first().cloned().unwrap_or_default();
                let second = s.wanted.get(1).cloned().unwrap_or_else(|| first.clone());
                Some(
                    sqlx::query(safe!("{}", START.replace("{who}", &who)))
                        .bind(a.org_id)
                        .bind(a.id)
                        .bind(s.version)
                        .bind(i64::from(s.single))
                        .bind(s.run_at)
                        .bind(s.now)
                        .bind(s.attribute)
                        .bind(first)
                        .bind(second)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                )
            }
        });
        Ok(started)
    }

    /// Whether the contact matches a segment condition now (a branch step).
    pub async fn contact_matches(
        &self,
        org_id: i64,
        contact_id: i64,
        segment: &Segment,
        now: i64,
    ) -> StoreResult<bool> {
        let (cond, binds) = segment.to_sql(self.dialect(), 3, now);
        let sql =
            format!("SELECT COUNT(*) FROM contacts c WHERE c.org_id = $1 AND c.id = $2 AND {cond}");
        on_read!(self, |p| {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(contact_id);
            let n: i64 = bind_segment!(q, &binds).fetch_one(p).await?;
            Ok(n > 0)
        })
    }

    /// Marks the step log entry of a request that is about to go out `sending`; false when it
    /// is not `queued` any more. An entry a dead node left `sending` becomes `uncertain` (the
    /// request may have reached the other side), so a restart never repeats a request.
    pub async fn begin_step_request(
        &self,
        org_id: i64,
        participation_id: i64,
        step: i64,
    ) -> StoreResult<bool> {
        const WHERE: &str = "WHERE org_id = $1 AND participation_id = $2 AND step = $3";
        on_write!(self, |p| {
            let claimed = sqlx::query(safe!(
                "UPDATE participation_log SET outcome = 'sending' {WHERE} AND outcome = 'queued'"
            ))
            .bind(org_id)
            .bind(participation_id)
            .bind(step)
            .execute(p)
            .await?
            .rows_affected();
            if claimed == 0 {
                sqlx::query(safe!(
                    "UPDATE participation_log SET outcome = 'uncertain', \
                     detail = 'the node stopped while the request was out; it is not repeated' \
                     {WHERE} AND outcome = 'sending'"
                ))
                .bind(org_id)
                .bind(participation_id)
                .bind(step)
                .execute(p)
                .await?;
            }
            Ok(claimed > 0)
        })
    }

    /// Records the outcome of a step a job carried out (an SMS or HTTP request) in the step
    /// log entry that queued it (`queued` again: it will be retried).
    pub async fn settle_step_log(
        &self,
        org_id: i64,
        participation_id: i64,
        step: i64,
        outcome: &str,
        detail: &str,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE participation_log SET outcome = $4, detail = $5 WHERE org_id = $1 \
                 AND participation_id = $2 AND step = $3 AND outcome IN ('queued', 'sending')",
            )
            .bind(org_id)
            .bind(participation_id)
            .bind(step)
            .bind(outcome)
            .bind(detail)
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
