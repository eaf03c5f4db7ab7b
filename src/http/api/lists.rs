//! `/api/v1/lists`: opt-ins (scopes lists:read / lists:write).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::lists::{self, CreateList, ListView, TemplateOverride};

/// All opt-ins of the organisation, archived ones included.
#[utoipa::path(get, path = "/api/v1/lists", tag = "lists", security(("bearer" = [])), responses((status = 200, body = Vec<ListView>)))]
pub async fn index(State(app): State<App>, Auth(p): Auth) -> Result<Json<Vec<ListView>>, ApiError> {
    p.require(Scope::ListsRead)?;
    Ok(Json(lists::all(&app, p.org_id).await?))
}

/// Creates an opt-in. Its key can never be changed.
#[utoipa::path(post, path = "/api/v1/lists", tag = "lists", security(("bearer" = [])), request_body = CreateList,
    responses((status = 201, body = ListView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CreateList>,
) -> Result<(StatusCode, Json<ListView>), ApiError> {
    p.require(Scope::ListsWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(lists::create(&app, p.org_id, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/lists/{key}", tag = "lists", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = ListView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<ListView>, ApiError> {
    p.require(Scope::ListsRead)?;
    let l = lists::by_key(&app, p.org_id, &key).await?;
    Ok(Json(lists::view(&app, &l).await?))
}

/// Archives an opt-in: it takes no new subscriptions; existing ones stay on record.
#[utoipa::path(post, path = "/api/v1/lists/{key}/archive", tag = "lists", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = ListView)))]
pub async fn archive(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<ListView>, ApiError> {
    p.require(Scope::ListsWrite)?;
    Ok(Json(lists::archive(&app, p.org_id, &key).await?))
}

/// Overrides the verification or welcome mail of an opt-in in one language.
#[utoipa::path(put, path = "/api/v1/lists/{key}/templates/{kind}/{language}", tag = "lists", security(("bearer" = [])),
    params(("key" = String, Path), ("kind" = String, Path, description = "verification or welcome"), ("language" = String, Path)),
    request_body = TemplateOverride, responses((status = 204), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn put_template(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath((key, kind, language)): ApiPath<(String, String, String)>,
    ApiJson(t): ApiJson<TemplateOverride>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::ListsWrite)?;
    lists::put_template(&app, p.org_id, &key, &kind, &language, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}
