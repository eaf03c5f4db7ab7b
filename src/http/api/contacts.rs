//! `/api/v1/contacts` (scopes contacts:read / contacts:write).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::domain::{EmailAddress, Scope, ValidationError};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::services::contacts::{self, ContactView};
use crate::services::ServiceError;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateContact {
    pub email: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// Find the contact with this address.
    pub email: Option<String>,
    /// Find the contact with this external id.
    pub external_id: Option<String>,
    /// Search address and names (case-insensitive substring).
    pub q: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Return contacts after this id (the `next_after` of the previous page).
    pub after: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<ContactView>,
    pub next_after: Option<i64>,
}

/// Creates a contact (no subscription: consent comes only through the opt-in flow).
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", security(("bearer" = [])), request_body = CreateContact,
    responses((status = 201, body = ContactView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CreateContact>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    p.require(Scope::ContactsWrite)?;
    let input: ContactInput = serde_json::from_value(Value::Object(req.fields)).map_err(|e| {
        ServiceError::from(ValidationError::single(
            "body",
            "invalid_field",
            e.to_string(),
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(contacts::create(&app, p.org_id, &req.email, &input).await?),
    ))
}

/// Looks a contact up by `email` or `external_id`, or searches with paging.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", security(("bearer" = [])), params(Lookup),
    responses((status = 200, body = Page), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<Lookup>,
) -> Result<Json<Value>, ApiError> {
    p.require(Scope::ContactsRead)?;
    let found = match (&q.email, &q.external_id) {
        (Some(e), _) => Some(
            app.store
                .contact_by_email(
                    p.org_id,
                    &EmailAddress::parse(e).map_err(ServiceError::from)?,
                )
                .await,
        ),
        (None, Some(x)) => Some(app.store.contact_by_external_id(p.org_id, x).await),
        (None, None) => None,
    };
    if let Some(found) = found {
        let c = found.map_err(|e| match e {
            crate::store::StoreError::NotFound => ServiceError::NotFound("contact"),
            e => e.into(),
        })?;
        return Ok(Json(
            serde_json::to_value(contacts::view(&app, &c).await?).unwrap_or_default(),
        ));
    }
    let limit = q.limit.unwrap_or(50);
    let rows =
        contacts::search(&app, p.org_id, q.q.as_deref(), q.after.unwrap_or(0), limit).await?;
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|c| c.id))
        .flatten();
    let mut items = Vec::with_capacity(rows.len());
    for c in &rows {
        items.push(contacts::view(&app, c).await?);
    }
    Ok(Json(
        serde_json::to_value(Page { items, next_after }).unwrap_or_default(),
    ))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ContactView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ContactView>, ApiError> {
    p.require(Scope::ContactsRead)?;
    let c = contacts::get(&app, p.org_id, id).await?;
    Ok(Json(contacts::view(&app, &c).await?))
}

/// Changes the fields given (`null` clears one); `email` changes the address.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = Object, responses((status = 200, body = ContactView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<ContactView>, ApiError> {
    p.require(Scope::ContactsWrite)?;
    Ok(Json(contacts::update(&app, p.org_id, id, &patch).await?))
}

/// Erases the contact (GDPR art. 17); its consent ledger entries stay, without personal data.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn erase(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::ContactsWrite)?;
    contacts::erase(&app, p.org_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything stored about the contact, with its consent proof (GDPR art. 15).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/export", tag = "contacts", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Object)))]
pub async fn export(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    p.require(Scope::ContactsRead)?;
    Ok(Json(contacts::export(&app, p.org_id, id).await?))
}
