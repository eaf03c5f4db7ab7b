//! Buckets of automation steps (the Deployteq bucket → export, and the HTTP request object
//! in batches): contacts that pass an export step or a batched HTTP step wait in the step's
//! bucket; when it holds `size` contacts, or its oldest has waited `minutes`, a batch is cut
//! and a job hands it over: one file through the export, or one HTTP request of at most 1,000
//! contacts (a JSON array, or the step's body template over `contacts`). Failures are retried
//! with backoff; the step log of each participation says how its batch went.

use minijinja::Value as JinjaValue;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::mail::MAIL_MAX_ATTEMPTS;
use super::ServiceResult;
use crate::app::App;
use crate::domain::automation::AutomationField;
use crate::domain::automation_steps::Step;
use crate::mail::SendError;
use crate::store::{BatchRow, StoreError};

/// Job kind: hand over one batch of a bucket.
pub const BATCH_JOB: &str = "automation.batch";

#[derive(Debug, Serialize, Deserialize)]
pub struct BatchJob {
    pub batch: i64,
}

async fn step_of(
    app: &App,
    org_id: i64,
    automation_id: i64,
    version: i64,
    step: i64,
) -> Result<Option<Step>, StoreError> {
    let json = app
        .store
        .automation_version_steps(org_id, automation_id, version)
        .await?;
    let steps: Vec<Step> = serde_json::from_str(&json).unwrap_or_default();
    Ok(steps.into_iter().nth(step.max(0) as usize))
}

/// Cuts the batches that are due: full ones, and what waited long enough; returns how many.
pub async fn tick(app: &App) -> ServiceResult<usize> {
    let mut cut = 0;
    let now = app.now();
    for b in app.store.open_buckets().await? {
        let Some(bucket) = step_of(app, b.org_id, b.automation_id, b.version, b.step)
            .await?
            .and_then(|s| s.bucket())
        else {
            continue;
        };
        let expired = b.oldest + bucket.minutes * 60_000 <= now;
        let mut waiting = b.waiting;
        while waiting >= bucket.size || (expired && waiting > 0) {
            match app
                .store
                .cut_batch(&b, bucket.size, BATCH_JOB, MAIL_MAX_ATTEMPTS, now)
                .await?
            {
                Some(_) => {
                    cut += 1;
                    waiting -= bucket.size;
                }
                None => break,
            }
        }
    }
    Ok(cut)
}

/// Runs a batch job: Ok when handed over (or when there is nothing left to do), Err for a
/// failure the job queue retries (`Permanent` ends it; the step log says why).
pub async fn run_batch_job(app: &App, payload: &str, last_attempt: bool) -> Result<(), SendError> {
    let job: BatchJob = serde_json::from_str(payload)
        .map_err(|e| SendError::Permanent(format!("bad payload: {e}")))?;
    let b = match app.store.batch(job.batch).await {
        Ok(b) => b,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(SendError::transient(e)),
    };
    let result = hand_over(app, &b).await;
    let (outcome, detail, back) = match &result {
        Ok(detail) => ("sent", detail.clone(), Ok(())),
        Err(SendError::Transient(e)) if !last_attempt => {
            tracing::warn!(batch = b.id, error = %e, "batch will be retried");
            return Err(SendError::Transient(e.clone()));
        }
        Err(SendError::Transient(e) | SendError::Permanent(e)) => {
            ("failed", e.clone(), Err(SendError::Permanent(e.clone())))
        }
    };
    app.store
        .finish_batch(&b, outcome, &detail)
        .await
        .map_err(SendError::transient)?;
    back
}

/// Hands a batch over; the detail for the step log.
async fn hand_over(app: &App, b: &BatchRow) -> Result<String, SendError> {
    let step = step_of(app, b.org_id, b.automation_id, b.version, b.step)
        .await
        .map_err(SendError::transient)?
        .ok_or_else(|| SendError::Permanent("the step is gone".into()))?;
    let entries = app
        .store
        .batch_entries(b.id)
        .await
        .map_err(SendError::transient)?;
    let ids: Vec<i64> = entries.iter().filter_map(|e| e.contact_id).collect();
    match &step {
        Step::Export { export, .. } => {
            let out = super::exports::run_for_contacts(app, b.org_id, *export, &ids)
                .await
                .map_err(|e| match e {
                    super::ServiceError::NotFound(_) => {
                        SendError::Permanent(format!("export {export} is gone"))
                    }
                    super::ServiceError::Validation(v) => SendError::Permanent(v.to_string()),
                    e => SendError::Transient(e.to_string()),
                })?;
            match out.error {
                Some(e) => Err(SendError::Transient(format!("export {export}: {e}"))),
                None => Ok(format!(
                    "export {export}: {} of a batch of {} in {}",
                    out.rows,
                    entries.len(),
                    out.file_name.unwrap_or_default()
                )),
            }
        }
        Step::Http { .. } => {
            let contacts = app
                .store
                .contacts_by_ids(b.org_id, &ids)
                .await
                .map_err(SendError::transient)?;
            let list: Vec<Value> = entries
                .iter()
                .filter_map(|e| {
                    let c = contacts.iter().find(|c| Some(c.id) == e.contact_id)?;
                    let fields: Vec<AutomationField> =
                        serde_json::from_str(&e.fields).unwrap_or_default();
                    let fields: serde_json::Map<String, Value> = fields
                        .into_iter()
                        .map(|f| (f.name, Value::String(f.values.join(", "))))
                        .collect();
                    Some(json!({
                        "id": c.id, "email": c.email, "external_id": c.external_id,
                        "first_name": c.first_name, "last_name": c.last_name,
                        "automation_contact_id": e.participation_id, "fields": fields,
                    }))
                })
                .collect();
            if list.is_empty() {
                return Ok("every contact of the batch was erased: nothing sent".into());
            }
            let org = app
                .store
                .org_by_id(b.org_id)
                .await
                .map_err(SendError::transient)?;
            let ctx: JinjaValue = minijinja::context! {
                contacts => JinjaValue::from_serialize(&list),
                org => minijinja::context! { name => org.name.as_str() },
            };
            let request = super::automation_jobs::http_request(&step, &ctx)?;
            let answer = super::outbound::send(app, &request).await?;
            Ok(format!("{} (a batch of {})", answer.summary(), list.len()))
        }
        _ => Err(SendError::Permanent(format!(
            "step {} of automation {} has no bucket",
            b.step, b.automation_id
        ))),
    }
}
