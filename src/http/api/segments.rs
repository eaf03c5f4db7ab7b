//! `POST /api/v1/segments/preview`: count and sample an audience before sending.

use axum::extract::State;
use axum::Json;

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson};
use crate::services::segments::{self, PreviewRequest, PreviewResult};

#[utoipa::path(post, path = "/api/v1/segments/preview", tag = "mailings", security(("bearer" = [])), request_body = PreviewRequest,
    responses((status = 200, body = PreviewResult), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn preview(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewResult>, ApiError> {
    p.require(Scope::ContactsRead)?;
    Ok(Json(segments::preview(&app, p.org_id, &req).await?))
}
