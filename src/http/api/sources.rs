//! `/api/v1/sources`: folders and SFTP servers that files come from (scheduled imports, CSV
//! triggers) and exports go to (scope admin; passwords and keys are write-only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::sources::{self, CheckResult, SourceFileView, SourceInput, SourceView};

#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", security(("bearer" = [])),
    responses((status = 200, body = Vec<SourceView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<SourceView>>, ApiError> {
    Ok(Json(sources::list(&app, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/sources/{key}", tag = "sources", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = SourceView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<SourceView>, ApiError> {
    Ok(Json(sources::get(&app, &p, &key).await?))
}

/// Creates (201) or replaces (200) a source.
#[utoipa::path(put, path = "/api/v1/sources/{key}", tag = "sources", security(("bearer" = [])), params(("key" = String, Path)), request_body = SourceInput,
    responses((status = 200, body = SourceView), (status = 201, body = SourceView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn save(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<SourceInput>,
) -> Result<(StatusCode, Json<SourceView>), ApiError> {
    let (view, created) = sources::save(&app, &p, &key, &req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[utoipa::path(delete, path = "/api/v1/sources/{key}", tag = "sources", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    sources::delete(&app, &p, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs in and lists the folder (an SFTP server's first host key is pinned).
#[utoipa::path(post, path = "/api/v1/sources/{key}/check", tag = "sources", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = CheckResult), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn check(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<CheckResult>, ApiError> {
    Ok(Json(sources::check(&app, &p, &key).await?))
}

/// The files the source handed over (never imported twice), newest first.
#[utoipa::path(get, path = "/api/v1/sources/{key}/files", tag = "sources", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = Vec<SourceFileView>)))]
pub async fn files(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<SourceFileView>>, ApiError> {
    Ok(Json(sources::files(&app, &p, &key).await?))
}
