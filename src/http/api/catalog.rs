//! `/api/v1/partners`, `/api/v1/points-of-sale` and `/api/v1/products`: what the ticket system
//! synchronises (scopes catalog:read / catalog:write).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::services::partners::{self, PartnerInput, PartnerView};
use crate::services::points_of_sale::{self, PosInput, PosView};
use crate::services::products::{self, ProductSync, ProductView, SyncResult};

#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", security(("bearer" = [])), responses((status = 200, body = Vec<PartnerView>)))]
pub async fn partners_index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<PartnerView>>, ApiError> {
    p.require(Scope::CatalogRead)?;
    Ok(Json(partners::all(&app, p.org_id).await?))
}

/// Creates a partner. Its key (the ticket system's id) can never be changed.
#[utoipa::path(post, path = "/api/v1/partners", tag = "partners", security(("bearer" = [])), request_body = PartnerInput,
    responses((status = 201, body = PartnerView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn partners_create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<PartnerInput>,
) -> Result<(StatusCode, Json<PartnerView>), ApiError> {
    p.require(Scope::CatalogWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(partners::create(&app, p.org_id, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/partners/{key}", tag = "partners", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = PartnerView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn partners_show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PartnerView>, ApiError> {
    p.require(Scope::CatalogRead)?;
    let row = partners::by_key(&app, p.org_id, &key).await?;
    Ok(Json(partners::view(&app, &row).await?))
}

/// Replaces a partner's kind, name, descriptions and privacy link.
#[utoipa::path(put, path = "/api/v1/partners/{key}", tag = "partners", security(("bearer" = [])), params(("key" = String, Path)), request_body = PartnerInput,
    responses((status = 200, body = PartnerView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn partners_update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<PartnerInput>,
) -> Result<Json<PartnerView>, ApiError> {
    p.require(Scope::CatalogWrite)?;
    Ok(Json(partners::update(&app, p.org_id, &key, &req).await?))
}

#[utoipa::path(get, path = "/api/v1/points-of-sale", tag = "partners", security(("bearer" = [])), responses((status = 200, body = Vec<PosView>)))]
pub async fn pos_index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<PosView>>, ApiError> {
    p.require(Scope::CatalogRead)?;
    Ok(Json(points_of_sale::all(&app, p.org_id).await?))
}

/// Creates a point of sale with its partner opt-in settings.
#[utoipa::path(post, path = "/api/v1/points-of-sale", tag = "partners", security(("bearer" = [])), request_body = PosInput,
    responses((status = 201, body = PosView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn pos_create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<PosInput>,
) -> Result<(StatusCode, Json<PosView>), ApiError> {
    p.require(Scope::CatalogWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(points_of_sale::create(&app, p.org_id, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/points-of-sale/{key}", tag = "partners", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = PosView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn pos_show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PosView>, ApiError> {
    p.require(Scope::CatalogRead)?;
    let row = points_of_sale::by_key(&app, p.org_id, &key).await?;
    Ok(Json(points_of_sale::view(&app, &row).await?))
}

/// Replaces a point of sale's settings and partners.
#[utoipa::path(put, path = "/api/v1/points-of-sale/{key}", tag = "partners", security(("bearer" = [])), params(("key" = String, Path)), request_body = PosInput,
    responses((status = 200, body = PosView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn pos_update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<PosInput>,
) -> Result<Json<PosView>, ApiError> {
    p.require(Scope::CatalogWrite)?;
    Ok(Json(
        points_of_sale::update(&app, p.org_id, &key, &req).await?,
    ))
}

/// Inserts or updates up to 10,000 products by id in one transaction (all or nothing).
#[utoipa::path(post, path = "/api/v1/products", tag = "partners", security(("bearer" = [])), request_body = ProductSync,
    responses((status = 200, body = SyncResult), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn products_sync(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<ProductSync>,
) -> Result<Json<SyncResult>, ApiError> {
    p.require(Scope::CatalogWrite)?;
    Ok(Json(products::sync(&app, p.org_id, &req).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProductPage {
    /// Continue after this product id.
    #[serde(default)]
    pub after: String,
    /// Only the products of this partner.
    pub partner: Option<String>,
    /// 1–1000 (default 100).
    pub limit: Option<i64>,
}

/// Products ordered by id (keyset paging with `after`).
#[utoipa::path(get, path = "/api/v1/products", tag = "partners", security(("bearer" = [])), params(ProductPage), responses((status = 200, body = Vec<ProductView>)))]
pub async fn products_index(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ProductPage>,
) -> Result<Json<Vec<ProductView>>, ApiError> {
    p.require(Scope::CatalogRead)?;
    Ok(Json(
        products::page(
            &app,
            p.org_id,
            &q.after,
            q.partner.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "partners", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn products_show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProductView>, ApiError> {
    p.require(Scope::CatalogRead)?;
    Ok(Json(products::get(&app, p.org_id, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "partners", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn products_delete(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::CatalogWrite)?;
    products::delete(&app, p.org_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
