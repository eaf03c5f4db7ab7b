//! `/api/v1/link-parameter`: the organisation's encrypted link parameter (scope admin). The
//! key is in the answer only when it is made (first save, or `rotate_key`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson};
use crate::services::link_params::{self, LinkParamInput, LinkParamView};

#[utoipa::path(get, path = "/api/v1/link-parameter", tag = "link parameter", security(("bearer" = [])),
    responses((status = 200, body = LinkParamView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(State(app): State<App>, Auth(p): Auth) -> Result<Json<LinkParamView>, ApiError> {
    Ok(Json(link_params::get(&app, &p).await?))
}

/// Turns the parameter on or changes it.
#[utoipa::path(put, path = "/api/v1/link-parameter", tag = "link parameter", security(("bearer" = [])), request_body = LinkParamInput,
    responses((status = 200, body = LinkParamView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn save(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<LinkParamInput>,
) -> Result<Json<LinkParamView>, ApiError> {
    Ok(Json(link_params::save(&app, &p, &req).await?))
}

/// Turns the parameter off.
#[utoipa::path(delete, path = "/api/v1/link-parameter", tag = "link parameter", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(State(app): State<App>, Auth(p): Auth) -> Result<StatusCode, ApiError> {
    link_params::delete(&app, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
