//! Buckets of automation steps: entries wait until a batch is cut; a job hands the batch
//! over and settles the step log of its participations.

use super::jobs::INSERT_JOB;
use super::{on_read, safe, write_tx, Store, StoreResult};

/// A bucket with contacts waiting: (org, automation, version, step), how many, the oldest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenBucket {
    pub org_id: i64,
    pub automation_id: i64,
    pub version: i64,
    pub step: i64,
    pub waiting: i64,
    pub oldest: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRow {
    pub id: i64,
    pub org_id: i64,
    pub automation_id: i64,
    pub version: i64,
    pub step: i64,
}

/// A participation in a batch, with its automation fields.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchEntry {
    pub participation_id: i64,
    pub contact_id: Option<i64>,
    pub fields: String,
}

impl Store {
    pub async fn open_buckets(&self) -> StoreResult<Vec<OpenBucket>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT org_id, automation_id, version, step, COUNT(*) AS waiting, MIN(added_at) AS oldest \
             FROM bucket_entries WHERE batch_id IS NULL GROUP BY org_id, automation_id, version, step"
        )
        .fetch_all(p)
        .await?)
        })
    }

    /// Cuts a batch of the `size` oldest waiting entries of a bucket and queues the job
    /// (`job_kind`, payload `{"batch": ID}`) that hands it over; None when none waited.
    pub async fn cut_batch(
        &self,
        b: &OpenBucket,
        size: i64,
        job_kind: &str,
        max_attempts: i64,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        // Two nodes cutting at once never share an entry.
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let out = write_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO bucket_batches (org_id, automation_id, version, step, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(b.org_id)
            .bind(b.automation_id)
            .bind(b.version)
            .bind(b.step)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let taken = sqlx::query(safe!(
                "UPDATE bucket_entries SET batch_id = $5 WHERE batch_id IS NULL AND id IN (SELECT id FROM bucket_entries \
                 WHERE org_id = $1 AND automation_id = $2 AND version = $3 AND step = $4 AND batch_id IS NULL \
                 ORDER BY id LIMIT $6{lock})"
            ))
            .bind(b.org_id)
            .bind(b.automation_id)
            .bind(b.version)
            .bind(b.step)
            .bind(id)
            .bind(size)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                // Dropping the transaction takes the empty batch back.
                return Ok(None);
            }
            let _: i64 = sqlx::query_scalar(INSERT_JOB)
                .bind(b.org_id)
                .bind(job_kind)
                .bind(serde_json::json!({ "batch": id }).to_string())
                .bind(now)
                .bind(max_attempts)
                .bind(now)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            Some(id)
        });
        Ok(out)
    }

    pub async fn batch(&self, id: i64) -> StoreResult<BatchRow> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT id, org_id, automation_id, version, step FROM bucket_batches WHERE id = $1"
        )
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn batch_entries(&self, id: i64) -> StoreResult<Vec<BatchEntry>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT e.participation_id, e.contact_id, p.fields FROM bucket_entries e \
             JOIN participations p ON p.org_id = e.org_id AND p.id = e.participation_id \
             WHERE e.batch_id = $1 AND p.status <> 'stopped' ORDER BY e.id"
        )
        .bind(id)
        .fetch_all(p)
        .await?))
    }

    /// Settles the step log of a batch's participations and removes the batch.
    pub async fn finish_batch(&self, b: &BatchRow, outcome: &str, detail: &str) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE participation_log SET outcome = $3, detail = $4 WHERE org_id = $1 AND step = $5 \
                 AND outcome IN ('queued', 'sending') AND participation_id IN \
                 (SELECT participation_id FROM bucket_entries WHERE batch_id = $2)",
            )
            .bind(b.org_id)
            .bind(b.id)
            .bind(outcome)
            .bind(detail)
            .bind(b.step)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM bucket_entries WHERE batch_id = $1")
                .bind(b.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM bucket_batches WHERE id = $1")
                .bind(b.id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}
