//! Background workers: they lease due jobs from the `jobs` table, run them, and retry failures
//! with exponential backoff. Jobs survive restarts; a node that dies mid-job loses its lease
//! and another node picks the job up.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::mail::{ComposedMessage, SendError};
use crate::services::{
    automation_buckets, automation_engine, automation_jobs, delivery, exports, imports, mail,
    optin_mail, optins, partner_consents, sources, templates,
};
use crate::store::Job;

/// Job kind: deliver one composed message.
pub const SEND_MAIL: &str = "mail.send";

/// How long a claimed job is reserved for its worker.
const LEASE_MS: i64 = 5 * 60 * 1000;
const BACKOFF_BASE_MS: i64 = 30_000;
const BACKOFF_MAX_MS: i64 = 6 * 60 * 60 * 1000;
/// How long a trigger call's Idempotency-Key is remembered.
const IDEMPOTENCY_DAYS: i64 = 7;
/// How often a node looks for expired, unconfirmed signups.
const PURGE_EVERY_MS: i64 = 60_000;

/// The outcome of one job run.
#[derive(Debug)]
enum Outcome {
    Done,
    Retry(String),
    Fatal(String),
}

/// Delay before attempt `attempts + 1`: 30 s, 1 min, 2 min … capped at 6 h.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (BACKOFF_BASE_MS.saturating_mul(1 << exp)).min(BACKOFF_MAX_MS)
}

async fn run_job(app: &App, job: &Job) -> Outcome {
    match job.kind.as_str() {
        SEND_MAIL => {
            let msg: ComposedMessage = match serde_json::from_str(&job.payload) {
                Ok(m) => m,
                Err(e) => return Outcome::Fatal(format!("bad payload: {e}")),
            };
            match mail::deliver(app, job.org_id, &msg).await {
                Ok(_) => Outcome::Done,
                Err(SendError::Transient(e)) => Outcome::Retry(e),
                Err(SendError::Permanent(e)) => Outcome::Fatal(e),
            }
        }
        optin_mail::VERIFICATION | optin_mail::WELCOME => {
            let org_id = job.org_id.unwrap_or_default();
            let sent = if job.kind == optin_mail::VERIFICATION {
                match serde_json::from_str(&job.payload) {
                    Ok(p) => optin_mail::send_verification(app, org_id, &p).await,
                    Err(e) => return Outcome::Fatal(format!("bad payload: {e}")),
                }
            } else {
                match serde_json::from_str(&job.payload) {
                    Ok(p) => optin_mail::send_welcome(app, org_id, &p).await,
                    Err(e) => return Outcome::Fatal(format!("bad payload: {e}")),
                }
            };
            match sent {
                Ok(()) => Outcome::Done,
                Err(SendError::Transient(e)) => Outcome::Retry(e),
                Err(SendError::Permanent(e)) => Outcome::Fatal(e),
            }
        }
        templates::TX_JOB => {
            let last = job.attempts >= job.max_attempts;
            match templates::run_tx_job(app, job.org_id.unwrap_or_default(), &job.payload, last)
                .await
            {
                Ok(()) => Outcome::Done,
                Err(SendError::Transient(e)) => Outcome::Retry(e),
                Err(SendError::Permanent(e)) => Outcome::Fatal(e),
            }
        }
        automation_jobs::EMAIL_JOB | automation_jobs::SMS_JOB | automation_jobs::HTTP_JOB => {
            let step: automation_jobs::StepJob = match serde_json::from_str(&job.payload) {
                Ok(p) => p,
                Err(e) => return Outcome::Fatal(format!("bad payload: {e}")),
            };
            let org_id = job.org_id.unwrap_or_default();
            let last = job.attempts >= job.max_attempts;
            let done = match job.kind.as_str() {
                automation_jobs::EMAIL_JOB => automation_jobs::send_email(app, org_id, &step).await,
                automation_jobs::SMS_JOB => {
                    automation_jobs::send_sms(app, org_id, &step, last).await
                }
                _ => automation_jobs::call_http(app, org_id, &step, last).await,
            };
            match done {
                Ok(()) => Outcome::Done,
                Err(SendError::Transient(e)) => Outcome::Retry(e),
                Err(SendError::Permanent(e)) => Outcome::Fatal(e),
            }
        }
        automation_buckets::BATCH_JOB => {
            let last = job.attempts >= job.max_attempts;
            match automation_buckets::run_batch_job(app, &job.payload, last).await {
                Ok(()) => Outcome::Done,
                Err(SendError::Transient(e)) => Outcome::Retry(e),
                Err(SendError::Permanent(e)) => Outcome::Fatal(e),
            }
        }
        other => Outcome::Fatal(format!("unknown job kind '{other}'")),
    }
}

/// Claims and runs one batch of due jobs; returns how many ran.
pub async fn run_batch(
    app: &App,
    worker: &str,
    limit: usize,
) -> Result<usize, crate::store::StoreError> {
    let jobs = app
        .store
        .claim_jobs(worker, limit as i64, LEASE_MS, app.now())
        .await?;
    let n = jobs.len();
    let runs = jobs.iter().map(|job| async move {
        let outcome = run_job(app, job).await;
        let now = app.now();
        let res = match &outcome {
            Outcome::Done => app.store.complete_job(job.id, now).await,
            Outcome::Retry(e) if job.attempts < job.max_attempts => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed, will retry");
                app.store.fail_job(job.id, e, Some(now + backoff_ms(job.attempts)), now).await
            }
            Outcome::Retry(e) | Outcome::Fatal(e) => {
                tracing::error!(job = job.id, kind = %job.kind, error = %e, "job failed for good");
                app.store.fail_job(job.id, e, None, now).await
            }
        };
        if let Err(e) = res {
            tracing::error!(job = job.id, error = %e, "could not record job outcome");
        }
    });
    futures_util::future::join_all(runs).await;
    Ok(n)
}

/// Sends what the mailings have due; errors are logged, the loop goes on.
async fn mailings_tick(app: &App, sender: &mut delivery::Sender) -> usize {
    match sender.tick(app).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "mailing delivery failed");
            0
        }
    }
}

/// Data in and out: the next import that is due (to its end), the sources with work due
/// (scheduled imports, CSV triggers) and the exports that are due; errors are logged, the
/// loop goes on.
async fn exchange_tick(app: &App) -> usize {
    let imported = match imports::run_next(app).await {
        Ok(ran) => usize::from(ran),
        Err(e) => {
            tracing::error!(error = %e, "import failed; it resumes later");
            0
        }
    };
    let sourced = sources::tick(app).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "sources failed");
        0
    });
    let exported = exports::tick(app).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "exports failed");
        0
    });
    imported + sourced + exported
}

/// The data exchange loop of `handbill serve`: imports, sources and exports run beside mail
/// and automations, one at a time per node, until `shutdown` turns true.
async fn run_exchange(app: App, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if exchange_tick(&app).await == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Runs the automation steps that are due and cuts the bucket batches that are due;
/// errors are logged, the loop goes on.
async fn automations_tick(app: &App, engine: &mut automation_engine::Engine) -> usize {
    let steps = engine.tick(app).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "automation steps failed");
        0
    });
    let batches = automation_buckets::tick(app).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "automation buckets failed");
        0
    });
    steps + batches
}

/// Runs jobs, automation steps and mailing batches until nothing is due (for tests and the
/// CLI; uses the injected clock).
pub async fn run_until_idle(app: &App) -> Result<usize, crate::store::StoreError> {
    let mut sender = delivery::Sender::new(&app.config.node_name());
    let mut engine = automation_engine::Engine::default();
    let mut total = 0;
    loop {
        let n = automations_tick(app, &mut engine).await
            + run_batch(app, "inline", app.config.worker_concurrency).await?
            + mailings_tick(app, &mut sender).await
            + exchange_tick(app).await;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// Marks the messages this node had in flight before it (re)started, and those of dead
/// nodes, as `uncertain`: they are never sent again.
pub async fn recover(app: &App) -> Result<u64, crate::store::StoreError> {
    let n = app
        .store
        .recover_in_flight(Some(&app.config.node_name()), app.now())
        .await?;
    if n > 0 {
        tracing::warn!(
            messages = n,
            "messages in flight at the last stop are marked uncertain"
        );
    }
    Ok(n)
}

/// The mailing sender loop of `handbill serve`, beside the job loop, until `shutdown` turns
/// true; then it finishes the batch in hand.
async fn send_mailings(app: App, mut shutdown: watch::Receiver<bool>) {
    let mut sender = delivery::Sender::new(&app.config.node_name());
    while !*shutdown.borrow() {
        if mailings_tick(&app, &mut sender).await == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Logs what a periodic clean-up did (`what` names it), or why it failed.
fn log_cleanup<E: std::fmt::Display>(what: &str, done: Result<u64, E>) {
    match done {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "{what}"),
        Err(e) => tracing::error!(error = %e, "{what} failed"),
    }
}

/// The once-a-minute work of a node: purges of expired personal data and of replay guards,
/// and the partner exports that are due.
async fn housekeeping(app: &App) {
    let now = app.now();
    log_cleanup(
        "purge of unconfirmed signups",
        optins::purge_expired(app).await,
    );
    log_cleanup(
        "purge of the addresses of expired widgets",
        app.store.purge_widgets(now).await,
    );
    log_cleanup(
        "purge of OAuth nonces",
        app.store
            .purge_nonces(now - 2 * crate::services::oauth_consumers::WINDOW_MS)
            .await,
    );
    log_cleanup(
        "purge of idempotency keys",
        app.store
            .purge_idempotency_keys(now - IDEMPOTENCY_DAYS * crate::clock::DAY_MS)
            .await,
    );
    app.limits.forget_idle();
    log_cleanup(
        "purge of expired admin sessions",
        crate::services::admin_sessions::purge(app).await,
    );
    log_cleanup(
        "removal of old export downloads",
        exports::expire_downloads(app).await,
    );
    log_cleanup(
        "scheduled partner exports",
        partner_consents::run_due(app).await.map(|n| n as u64),
    );
}

/// The worker loops of `handbill serve`: the mailing sender, and the job loop that polls for
/// due jobs until `shutdown` turns true, then finishes the batch in hand.
pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    let node = app.config.node_name();
    let worker = format!("{node}-{}", std::process::id());
    if let Err(e) = recover(&app).await {
        tracing::error!(error = %e, "could not recover the messages in flight");
    }
    let sender = tokio::spawn(send_mailings(app.clone(), shutdown.clone()));
    let exchange = tokio::spawn(run_exchange(app.clone(), shutdown.clone()));
    tracing::info!(%worker, "workers started");
    let mut last_purge = 0;
    let mut engine = automation_engine::Engine::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if app.now() - last_purge >= PURGE_EVERY_MS {
            last_purge = app.now();
            // Batches of nodes that died and never came back: their lease ran out.
            match app.store.recover_in_flight(None, app.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    messages = n,
                    "messages of a vanished node are marked uncertain"
                ),
                Err(e) => tracing::error!(error = %e, "could not look for vanished nodes"),
            }
            housekeeping(&app).await;
        }
        let ran = automations_tick(&app, &mut engine).await
            + match run_batch(&app, &worker, app.config.worker_concurrency).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "could not claim jobs");
                    0
                }
            };
        if ran == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    let _ = sender.await;
    let _ = exchange.await;
    tracing::info!("workers stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(3), 120_000);
        assert_eq!(backoff_ms(40), BACKOFF_MAX_MS);
    }
}
