//! Bearer-token authentication for the native API.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::client_ip::client_ip;
use super::error::ApiError;
use crate::app::App;
use crate::services::tokens::{self, Principal};
use crate::services::ServiceError;

/// The authenticated caller: the organisation and scopes of a valid token. A wrong, revoked,
/// expired, idle or out-of-range token is a 401 that does not say which.
pub struct Auth(pub Principal);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let presented = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let ip = client_ip(parts, &app.config.trusted_proxies());
        authenticate(app, presented, ip).await.map(Auth)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
}

/// Authenticates a presented token (header or, for compat APIs, query) for a caller at `ip`
/// and takes one request from the token's rate allowance.
pub async fn authenticate(
    app: &App,
    presented: &str,
    ip: std::net::IpAddr,
) -> Result<Principal, ApiError> {
    let p = tokens::authenticate(app, presented, ip).await?;
    app.limits
        .check_token(p.token_id)
        .map_err(|wait| ApiError::from(ServiceError::RateLimited(wait)))?;
    Ok(p)
}
