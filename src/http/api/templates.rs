//! `/api/v1/templates` (layouts and transactional templates) and `POST /api/v1/tx`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::templates::{self, TemplateInput, TemplateView, TxAccepted, TxRequest};

type Problem = crate::http::error::Problem;

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), responses((status = 200, body = Vec<TemplateView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(templates::all(&app, p.org_id).await?))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(t): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(templates::create(&app, p.org_id, &t).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/templates/{key}", tag = "templates", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<TemplateView>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(templates::get(&app, p.org_id, &key).await?))
}

#[utoipa::path(put, path = "/api/v1/templates/{key}", tag = "templates", security(("bearer" = [])), params(("key" = String, Path)),
    request_body = TemplateInput, responses((status = 200, body = TemplateView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(t): ApiJson<TemplateInput>,
) -> Result<Json<TemplateView>, ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok(Json(templates::update(&app, p.org_id, &key, &t).await?))
}

/// Sends one transactional template to one address now (order confirmations and the like).
/// Outside the consent rules, but recorded in the delivery log.
#[utoipa::path(post, path = "/api/v1/tx", tag = "templates", security(("bearer" = [])), request_body = TxRequest,
    responses((status = 202, body = TxAccepted), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn tx(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<TxRequest>,
) -> Result<(StatusCode, Json<TxAccepted>), ApiError> {
    p.require(Scope::TxSend)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(templates::send_tx(&app, p.org_id, &req).await?),
    ))
}
