//! `POST /hooks/{id}`: webhook receivers. The caller sends JSON with
//! `Authorization: Bearer TOKEN` (the hook's own token or the organisation token attached to
//! it). An unknown hook and a wrong token both get 401; a payload with a bad value gets 400
//! with the JSON pointers that hold the problems, and nothing is written.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;

use super::client_ip::client_ip;
use super::error::ApiError;
use crate::app::App;
use crate::services::hooks::{self, Received};
use crate::services::ServiceError;

pub async fn receive(
    State(app): State<App>,
    Path(id): Path<String>,
    parts: Parts,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let presented = super::auth::bearer(&parts)
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or_else(ApiError::unauthorized)?;
    if id.len() > 64 {
        return Err(ApiError::unauthorized());
    }
    let ip = client_ip(&parts, &app.config.trusted_proxies());
    match hooks::receive(&app, &id, presented, ip, &body).await {
        Ok(r) => Ok(Json(r)),
        Err(e) => Err(payload_error(e)),
    }
}

/// A payload with values that cannot be used: 400 naming the pointers (the test endpoint
/// answers the same); other errors as usual.
pub fn payload_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Validation(v) => ApiError::with_errors(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "the payload has values that cannot be used; nothing was written",
            v.0,
        ),
        e => e.into(),
    }
}
