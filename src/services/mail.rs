//! Queues outgoing mail as durable jobs, so nothing is lost when the process stops.

use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::ValidationError;
use crate::mail::{compose, ComposedMessage, OutgoingMessage, SendError};
use crate::workers::SEND_MAIL;

/// Delivery attempts before a message is given up (with exponential backoff: about a day).
pub const MAIL_MAX_ATTEMPTS: i64 = 10;

/// Composes `msg` now (so a bad message fails here, not in the worker) and queues it.
pub async fn queue_mail(
    app: &App,
    org_id: Option<i64>,
    msg: &OutgoingMessage,
) -> ServiceResult<i64> {
    let composed = compose(msg, &app.config.mail_hostname(), app.now())
        .map_err(|e| ValidationError::single("message", "invalid_message", e.to_string()))?;
    let payload =
        serde_json::to_string(&composed).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let now = app.now();
    Ok(app
        .store
        .enqueue_job(org_id, SEND_MAIL, &payload, now, MAIL_MAX_ATTEMPTS, now)
        .await?)
}

/// Hands a composed message of an organisation (None: of the server) to the transport; a
/// sandbox organisation's mail goes to the outbox.
pub async fn deliver(
    app: &App,
    org_id: Option<i64>,
    m: &ComposedMessage,
) -> Result<String, SendError> {
    let sandbox = match org_id {
        Some(id) => {
            app.store
                .org_by_id(id)
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?
                .sandbox
        }
        None => false,
    };
    app.transport.send_for(sandbox, m).await
}
