//! `/api/v1/hooks`: webhook receivers (scope admin); the receiving end is `POST /hooks/{id}`
//! (see `crate::http::hooks`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::hooks::{self, HookInput, HookView};

#[utoipa::path(get, path = "/api/v1/hooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<HookView>)))]
pub async fn index(State(app): State<App>, Auth(p): Auth) -> Result<Json<Vec<HookView>>, ApiError> {
    Ok(Json(hooks::list(&app, &p).await?))
}

/// Creates a receiver; the answer holds its own token, once.
#[utoipa::path(post, path = "/api/v1/hooks", tag = "webhooks", security(("bearer" = [])), request_body = HookInput,
    responses((status = 201, body = HookView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<HookInput>,
) -> Result<(StatusCode, Json<HookView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(hooks::create(&app, &p, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/hooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = HookView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HookView>, ApiError> {
    Ok(Json(hooks::get(&app, &p, &id).await?))
}

#[utoipa::path(put, path = "/api/v1/hooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)), request_body = HookInput,
    responses((status = 200, body = HookView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<HookInput>,
) -> Result<Json<HookView>, ApiError> {
    Ok(Json(hooks::update(&app, &p, &id, &req).await?))
}

/// Reads a test payload (the request body) through the receiver's mapping as a call would,
/// and answers with what the call would write; nothing is written. A payload the call would
/// refuse gets the same 400, naming the pointer.
#[utoipa::path(post, path = "/api/v1/hooks/{id}/test", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = Object, description = "the payload, as the system would post it"),
    responses((status = 200, body = hooks::HookTest), (status = 400, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn test(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<hooks::HookTest>, ApiError> {
    hooks::test(&app, &p, &id, &body)
        .await
        .map(Json)
        .map_err(crate::http::hooks::payload_error)
}

/// A new own token; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/hooks/{id}/rotate", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = HookView)))]
pub async fn rotate(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HookView>, ApiError> {
    Ok(Json(hooks::rotate(&app, &p, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/hooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    hooks::delete(&app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
