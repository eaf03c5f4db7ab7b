//! The durable job queue: a job is a row with a kind and a JSON payload. Workers lease jobs;
//! a lease that runs out (a crashed node) makes the job claimable again.

use serde::Serialize;

use super::{on_read, on_write, safe, Store, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub org_id: Option<i64>,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

const COLUMNS: &str =
    "id, org_id, kind, payload, status, run_at, attempts, max_attempts, locked_until, last_error";

/// Inserts a job: binds org_id, kind, payload, run_at, max_attempts, created_at, updated_at.
pub(super) const INSERT_JOB: &str =
    "INSERT INTO jobs (org_id, kind, payload, status, run_at, attempts, max_attempts, created_at, updated_at) \
     VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6, $7) RETURNING id";

impl Store {
    pub async fn enqueue_job(
        &self,
        org_id: Option<i64>,
        kind: &str,
        payload: &str,
        run_at: i64,
        max_attempts: i64,
        now: i64,
    ) -> StoreResult<i64> {
        on_write!(self, |p| {
            Ok(sqlx::query_scalar(INSERT_JOB)
                .bind(org_id)
                .bind(kind)
                .bind(payload)
                .bind(run_at)
                .bind(max_attempts)
                .bind(now)
                .bind(now)
                .fetch_one(p)
                .await?)
        })
    }

    /// Leases up to `limit` due jobs for `lease_ms` to `worker`. PostgreSQL nodes skip rows
    /// another node is claiming (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        limit: i64,
        lease_ms: i64,
        now: i64,
    ) -> StoreResult<Vec<Job>> {
        let due =
            "(status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1)";
        let sql = match self {
            Store::Sqlite(_) => format!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, locked_by = $3, updated_at = $1 \
                 WHERE id IN (SELECT id FROM jobs WHERE {due} ORDER BY run_at, id LIMIT $4) RETURNING {COLUMNS}"
            ),
            // The rows are picked once in a CTE: a `LIMIT … SKIP LOCKED` subquery inside `IN (…)`
            // may be run again by the planner and pick more rows than asked for.
            Store::Postgres(_) => format!(
                "WITH picked AS (SELECT id FROM jobs WHERE {due} ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, locked_by = $3, updated_at = $1 \
                 FROM picked WHERE jobs.id = picked.id RETURNING {}",
                COLUMNS.split(", ").map(|c| format!("jobs.{c}")).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut jobs: Vec<Job> = on_write!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(now + lease_ms)
            .bind(worker)
            .bind(limit)
            .fetch_all(p)
            .await?);
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    pub async fn complete_job(&self, id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            // The payload may hold links or personal data: a finished job keeps none of it.
            sqlx::query("UPDATE jobs SET status = 'done', payload = '{}', locked_until = NULL, last_error = NULL, updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Records a failure: the job runs again at `retry_at`, or is dead when `retry_at` is None.
    pub async fn fail_job(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        let status = if retry_at.is_some() { "queued" } else { "dead" };
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE jobs SET status = $2, run_at = COALESCE($3, run_at), locked_until = NULL, last_error = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(retry_at)
            .bind(error)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn job(&self, id: i64) -> StoreResult<Job> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn job_counts(&self) -> StoreResult<JobCounts> {
        let rows: Vec<(String, i64)> = on_read!(self, |p| sqlx::query_as(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status"
        )
        .fetch_all(p)
        .await?);
        let mut c = JobCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "queued" => c.queued = n,
                "running" => c.running = n,
                "done" => c.done = n,
                _ => c.dead += n,
            }
        }
        Ok(c)
    }
}
