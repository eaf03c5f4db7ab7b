//! The Spotler-style integration service: `/integrationservice/automation/…` with the same
//! calls and shapes as the native automation API, so an integration moves over by changing
//! the host name.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::app::App;
use crate::http::api::automations as native;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::services::automations;

pub fn router() -> Router<App> {
    Router::new()
        .route("/integrationservice/automation/list", get(list))
        .route(
            "/integrationservice/automation/trigger/{triggerCode}",
            post(native::trigger),
        )
        .route(
            "/integrationservice/automation/stop/{triggerCode}",
            post(native::stop),
        )
        .route(
            "/integrationservice/automation/participation/{automationContactId}/stop",
            post(native::stop_participation),
        )
}

/// The published automations with their trigger codes.
async fn list(State(app): State<App>, Auth(p): Auth) -> Result<Json<Value>, ApiError> {
    let all = automations::all(&app, &p).await?;
    Ok(Json(Value::Array(
        all.into_iter()
            .filter(|a| a.published_version.is_some())
            .map(|a| json!({"id": a.id, "name": a.name, "triggerCode": a.trigger_code, "version": a.published_version}))
            .collect(),
    )))
}
