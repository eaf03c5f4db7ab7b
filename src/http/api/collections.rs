//! `/api/v1/collections`: the data model (scope admin to define collections, contacts:read
//! and contacts:write for records).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::services::collections::{
    self, BulkInput, BulkResult, CollectionInput, CollectionView, RecordInput, RecordQuery,
    RecordView,
};

#[utoipa::path(get, path = "/api/v1/collections", tag = "data model", security(("bearer" = [])),
    responses((status = 200, body = Vec<CollectionView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<CollectionView>>, ApiError> {
    Ok(Json(collections::list(&app, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/collections/{key}", tag = "data model", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 200, body = CollectionView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<CollectionView>, ApiError> {
    Ok(Json(collections::get(&app, &p, &key).await?))
}

/// Creates (201) or replaces (200) a collection.
#[utoipa::path(put, path = "/api/v1/collections/{key}", tag = "data model", security(("bearer" = [])), params(("key" = String, Path)), request_body = CollectionInput,
    responses((status = 200, body = CollectionView), (status = 201, body = CollectionView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn save(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<CollectionInput>,
) -> Result<(StatusCode, Json<CollectionView>), ApiError> {
    let (view, created) = collections::save(&app, &p, &key, &req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// Removes a collection with its records.
#[utoipa::path(delete, path = "/api/v1/collections/{key}", tag = "data model", security(("bearer" = [])), params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    collections::delete(&app, &p, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records, narrowed by contact and by a field's value, in key order.
#[utoipa::path(get, path = "/api/v1/collections/{key}/records", tag = "data model", security(("bearer" = [])), params(("key" = String, Path), RecordQuery),
    responses((status = 200, body = Vec<RecordView>)))]
pub async fn records(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecordQuery>,
) -> Result<Json<Vec<RecordView>>, ApiError> {
    Ok(Json(collections::list_records(&app, &p, &key, &q).await?))
}

/// Inserts one record (409 when its key is taken).
#[utoipa::path(post, path = "/api/v1/collections/{key}/records", tag = "data model", security(("bearer" = [])), params(("key" = String, Path)), request_body = RecordInput,
    responses((status = 201, body = RecordView), (status = 409, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn insert(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<RecordInput>,
) -> Result<(StatusCode, Json<RecordView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(collections::put_one(&app, &p, &key, &req, false).await?),
    ))
}

/// Inserts or replaces up to 10,000 records by primary key, all or nothing.
#[utoipa::path(put, path = "/api/v1/collections/{key}/records", tag = "data model", security(("bearer" = [])), params(("key" = String, Path)), request_body = BulkInput,
    responses((status = 200, body = BulkResult), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn upsert(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<BulkInput>,
) -> Result<Json<BulkResult>, ApiError> {
    Ok(Json(collections::upsert(&app, &p, &key, &req).await?))
}

#[utoipa::path(get, path = "/api/v1/collections/{key}/records/{record}", tag = "data model", security(("bearer" = [])), params(("key" = String, Path), ("record" = String, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show_record(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath((key, record)): ApiPath<(String, String)>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(
        collections::get_record(&app, &p, &key, &record).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/collections/{key}/records/{record}", tag = "data model", security(("bearer" = [])), params(("key" = String, Path), ("record" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn delete_record(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath((key, record)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    collections::delete_record(&app, &p, &key, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}
