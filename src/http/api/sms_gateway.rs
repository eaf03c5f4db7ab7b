//! `/api/v1/sms-gateway`: the HTTP SMS gateway automation SMS steps send through (scopes
//! automations:read, automations:write). Header values are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson};
use crate::services::sms_gateways::{self, GatewayInput, GatewayView};

#[utoipa::path(get, path = "/api/v1/sms-gateway", tag = "automations", security(("bearer" = [])),
    responses((status = 200, body = GatewayView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(State(app): State<App>, Auth(p): Auth) -> Result<Json<GatewayView>, ApiError> {
    Ok(Json(sms_gateways::get(&app, &p).await?))
}

/// Creates or replaces the gateway.
#[utoipa::path(put, path = "/api/v1/sms-gateway", tag = "automations", security(("bearer" = [])), request_body = GatewayInput,
    responses((status = 200, body = GatewayView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn save(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<GatewayInput>,
) -> Result<Json<GatewayView>, ApiError> {
    Ok(Json(sms_gateways::save(&app, &p, &req).await?))
}

#[utoipa::path(delete, path = "/api/v1/sms-gateway", tag = "automations", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(State(app): State<App>, Auth(p): Auth) -> Result<StatusCode, ApiError> {
    sms_gateways::delete(&app, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
