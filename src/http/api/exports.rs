//! `/api/v1/exports`: export definitions (scope admin to define, exports:read to list, run
//! and download), their runs, and the files of download runs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::exports::{self, ExportInput, ExportView, RunView};

#[utoipa::path(get, path = "/api/v1/exports", tag = "exports", security(("bearer" = [])),
    responses((status = 200, body = Vec<ExportView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<ExportView>>, ApiError> {
    Ok(Json(exports::list(&app, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/exports", tag = "exports", security(("bearer" = [])), request_body = ExportInput,
    responses((status = 201, body = ExportView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<ExportInput>,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(exports::create(&app, &p, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ExportView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ExportView>, ApiError> {
    Ok(Json(exports::get(&app, &p, id).await?))
}

#[utoipa::path(put, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ExportInput,
    responses((status = 200, body = ExportView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ExportInput>,
) -> Result<Json<ExportView>, ApiError> {
    Ok(Json(exports::update(&app, &p, id, &req).await?))
}

#[utoipa::path(delete, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    exports::delete(&app, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs the export now (its schedule stays); answers with the finished run.
#[utoipa::path(post, path = "/api/v1/exports/{id}/run", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RunView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn run(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(exports::run_now(&app, &p, id).await?))
}

/// The runs of an export, newest first.
#[utoipa::path(get, path = "/api/v1/exports/{id}/runs", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RunView>)))]
pub async fn runs(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(exports::runs(&app, &p, id).await?))
}

/// The file of a download run, streamed.
#[utoipa::path(get, path = "/api/v1/exports/runs/{id}/file", tag = "exports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "the file (text/csv or application/x-ndjson)"), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn file(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (path, name) = exports::download(&app, &p, id).await?;
    Ok(crate::http::download::file(&path, &name).await?)
}
