//! `POST /webhooks/{postmark,mailgun,sendgrid,ses}`: bounce and complaint reports of relay
//! providers. Unsigned or badly signed calls get 401 and change nothing; a provider that is
//! not configured answers 404.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::App;
use crate::services::webhooks::{self, ProviderEvent, WebhookError};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn answer(
    app: &App,
    source: &str,
    events: Result<Vec<ProviderEvent>, WebhookError>,
) -> Result<Json<Value>, ApiError> {
    let events = events.map_err(to_api)?;
    let applied = webhooks::apply_events(app, source, &events)
        .await
        .map_err(to_api)?;
    Ok(Json(json!({"events": events.len(), "applied": applied})))
}

fn to_api(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NotConfigured => ApiError::not_found(),
        WebhookError::Unauthorized => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "missing or wrong signature",
        ),
        WebhookError::Malformed(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_payload", m)
        }
        WebhookError::Service(s) => ApiError::from(s),
    }
}

pub async fn postmark(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let events = webhooks::postmark(&app, header(&headers, "authorization"), &body);
    answer(&app, "postmark", events).await
}

pub async fn mailgun(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let events = webhooks::mailgun(&app, &body);
    answer(&app, "mailgun", events).await
}

pub async fn ses(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let events = crate::services::sns::ses(&app, &body).await;
    answer(&app, "ses", events).await
}

pub async fn sendgrid(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let events = webhooks::sendgrid(
        &app,
        header(&headers, "x-twilio-email-event-webhook-signature"),
        header(&headers, "x-twilio-email-event-webhook-timestamp"),
        &body,
    );
    answer(&app, "sendgrid", events).await
}
