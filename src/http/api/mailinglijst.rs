//! `/api/v1/mailinglijst/keys`: the member keys of the MailingLijst-compatible API (scope
//! `admin`; a key acts on the caller's own organisation), and `/api/v1/lists/{key}/codes`:
//! the list codes and list fields it assigns. The same services as `handbill mlkey …`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::list_codes::{self, CodeView, NewCode};
use crate::services::ml_keys::{self, KeyView};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The account number callers pass as `a=` (default: the organisation's id).
    pub account: Option<i64>,
    /// Caller addresses or CIDR ranges (IPv4, IPv6). Without any, no address may use the key.
    #[serde(default)]
    pub allow_ip: Vec<String>,
    /// Actions such as `SUBSCRIBE,GET`, or `all` (default).
    pub actions: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// Replaces the allowlist.
    pub allow_ip: Option<Vec<String>>,
    /// Replaces the rights: `SUBSCRIBE,GET` or `all`.
    pub actions: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// The key (a GUID): shown only in this answer.
    pub key: String,
    #[serde(flatten)]
    pub view: KeyView,
}

/// Creates a member key for the caller's organisation.
#[utoipa::path(post, path = "/api/v1/mailinglijst/keys", tag = "mailinglijst", security(("bearer" = [])), request_body = CreateKey,
    responses((status = 201, body = IssuedKey), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create_key(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    p.require(Scope::Admin)?;
    let actions = req.actions.as_deref().unwrap_or("all");
    let (key, view) =
        ml_keys::create(&app, p.org_id, req.account, &req.allow_ip, actions, false).await?;
    Ok((StatusCode::CREATED, Json(IssuedKey { key, view })))
}

/// Lists the organisation's member keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/mailinglijst/keys", tag = "mailinglijst", security(("bearer" = [])), responses((status = 200, body = Vec<KeyView>)))]
pub async fn list_keys(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    p.require(Scope::Admin)?;
    Ok(Json(ml_keys::list(&app, Some(p.org_id)).await?))
}

/// Changes a key's allowlist or rights.
#[utoipa::path(patch, path = "/api/v1/mailinglijst/keys/{id}", tag = "mailinglijst", security(("bearer" = [])), params(("id" = i64, Path)), request_body = UpdateKey,
    responses((status = 200, body = KeyView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn update_key(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateKey>,
) -> Result<Json<KeyView>, ApiError> {
    p.require(Scope::Admin)?;
    let ips = req.allow_ip.as_deref().map(|ips| (ips, true));
    let view = ml_keys::update(&app, Some(p.org_id), id, ips, req.actions.as_deref()).await?;
    Ok(Json(view))
}

/// Revokes a key: it fails at once.
#[utoipa::path(delete, path = "/api/v1/mailinglijst/keys/{id}", tag = "mailinglijst", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::Admin)?;
    ml_keys::revoke(&app, Some(p.org_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The list codes and list fields of a list.
#[utoipa::path(get, path = "/api/v1/lists/{key}/codes", tag = "lists", security(("bearer" = [])), params(("key" = String, Path)), responses((status = 200, body = Vec<CodeView>)))]
pub async fn list_codes(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<CodeView>>, ApiError> {
    p.require(Scope::ListsRead)?;
    Ok(Json(list_codes::list(&app, p.org_id, &key).await?))
}

/// Defines a list code or list field.
#[utoipa::path(post, path = "/api/v1/lists/{key}/codes", tag = "lists", security(("bearer" = [])), params(("key" = String, Path)), request_body = NewCode,
    responses((status = 201, body = CodeView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create_code(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<NewCode>,
) -> Result<(StatusCode, Json<CodeView>), ApiError> {
    p.require(Scope::ListsWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(list_codes::create(&app, p.org_id, &key, &req).await?),
    ))
}

/// Removes a list code or list field, and its values on every contact.
#[utoipa::path(delete, path = "/api/v1/lists/{key}/codes/{id}", tag = "lists", security(("bearer" = [])), params(("key" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete_code(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath((key, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::ListsWrite)?;
    list_codes::delete(&app, p.org_id, &key, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
