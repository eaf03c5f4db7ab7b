//! `/api/v1/automations`: automations with their trigger codes, triggering and stopping them
//! (scopes automations:read, automations:write, automations:trigger). The Spotler-style
//! `/integrationservice/automation/…` routes call the same handlers.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::automations::{
    self, AutomationInput, AutomationView, ParticipationView, StopRequest, Stopped, TriggerRequest,
};
use crate::services::tokens::Principal;

#[utoipa::path(get, path = "/api/v1/automations", tag = "automations", security(("bearer" = [])),
    responses((status = 200, body = Vec<AutomationView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<AutomationView>>, ApiError> {
    Ok(Json(automations::all(&app, &p).await?))
}

/// Creates a draft automation with a generated trigger code.
#[utoipa::path(post, path = "/api/v1/automations", tag = "automations", security(("bearer" = [])), request_body = AutomationInput,
    responses((status = 201, body = AutomationView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<AutomationInput>,
) -> Result<(StatusCode, Json<AutomationView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(automations::create(&app, &p, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/automations/{id}", tag = "automations", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AutomationView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AutomationView>, ApiError> {
    Ok(Json(automations::get(&app, &p, id).await?))
}

/// Replaces the draft; publish to make it the version new participations start on.
#[utoipa::path(put, path = "/api/v1/automations/{id}", tag = "automations", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AutomationInput,
    responses((status = 200, body = AutomationView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AutomationInput>,
) -> Result<Json<AutomationView>, ApiError> {
    Ok(Json(automations::update(&app, &p, id, &req).await?))
}

#[utoipa::path(post, path = "/api/v1/automations/{id}/publish", tag = "automations", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AutomationView)))]
pub async fn publish(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AutomationView>, ApiError> {
    Ok(Json(automations::publish(&app, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/automations/{id}/participations", tag = "automations", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ParticipationView>)))]
pub async fn participations(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ParticipationView>>, ApiError> {
    Ok(Json(automations::participations(&app, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/automations/participations/{automationContactId}", tag = "automations", security(("bearer" = [])),
    params(("automationContactId" = i64, Path)), responses((status = 200, body = ParticipationView)))]
pub async fn participation(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ParticipationView>, ApiError> {
    Ok(Json(automations::participation(&app, &p, id).await?))
}

/// Starts the automation for a contact, with automation fields. Send an `Idempotency-Key`
/// header to make retries safe. Invalid fields are 400, unknown contact or trigger 404.
#[utoipa::path(post, path = "/api/v1/automations/trigger/{triggerCode}", tag = "automations", security(("bearer" = [])),
    params(("triggerCode" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = TriggerRequest,
    responses((status = 200, body = Object), (status = 400, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn trigger(
    State(app): State<App>,
    Auth(p): Auth,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<TriggerRequest>,
) -> Result<Json<Value>, ApiError> {
    trigger_as(&app, &p, &headers, &code, &req).await
}

/// The trigger call for a caller authenticated either way (Bearer or OAuth 1.0a).
pub async fn trigger_as(
    app: &App,
    p: &Principal,
    headers: &HeaderMap,
    code: &str,
    req: &TriggerRequest,
) -> Result<Json<Value>, ApiError> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    automations::trigger(app, p, code, req, key)
        .await
        .map(Json)
        .map_err(|e| ApiError::from(e).invalid_as_bad_request())
}

/// Stops every participation of the contact in the automation of this trigger code.
#[utoipa::path(post, path = "/api/v1/automations/stop/{triggerCode}", tag = "automations", security(("bearer" = [])),
    params(("triggerCode" = String, Path)), request_body = StopRequest, responses((status = 200, body = Stopped)))]
pub async fn stop(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<Stopped>, ApiError> {
    stop_as(&app, &p, &code, &req).await
}

pub async fn stop_as(
    app: &App,
    p: &Principal,
    code: &str,
    req: &StopRequest,
) -> Result<Json<Stopped>, ApiError> {
    automations::stop_contact(app, p, code, req)
        .await
        .map(Json)
        .map_err(|e| ApiError::from(e).invalid_as_bad_request())
}

/// Stops one participation: its steps not yet run never run.
#[utoipa::path(post, path = "/api/v1/automations/participations/{automationContactId}/stop", tag = "automations", security(("bearer" = [])),
    params(("automationContactId" = i64, Path)), responses((status = 200, body = Stopped)))]
pub async fn stop_participation(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Stopped>, ApiError> {
    Ok(Json(automations::stop_participation(&app, &p, id).await?))
}
