//! `GET /api/v1/me`: what the presented token is and may do.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::app::App;
use crate::clock::rfc3339;
use crate::http::auth::Auth;
use crate::http::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeOrg {
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeToken {
    pub id: i64,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub organization: MeOrg,
    pub token: MeToken,
}

/// Describes the organisation and token of this request.
#[utoipa::path(get, path = "/api/v1/me", tag = "tokens", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = crate::http::error::Problem, content_type = "application/problem+json")
))]
pub async fn me(State(app): State<App>, Auth(p): Auth) -> Result<Json<Me>, ApiError> {
    let org = app
        .store
        .org_by_id(p.org_id)
        .await
        .map_err(crate::services::ServiceError::from)?;
    let token = app
        .store
        .token_by_id(p.token_id)
        .await
        .map_err(crate::services::ServiceError::from)?;
    Ok(Json(Me {
        organization: MeOrg {
            slug: org.slug,
            name: org.name,
        },
        token: MeToken {
            id: token.id,
            prefix: token.display_prefix,
            scopes: p.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            expires_at: token.expires_at.map(rfc3339),
        },
    }))
}
