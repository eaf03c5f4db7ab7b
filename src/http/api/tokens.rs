//! `/api/v1/tokens`: the organisation's API tokens (scope `admin`). The same service as
//! `handbill token …`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::tokens::{self, IssuedToken, TokenRequest};
use crate::services::ServiceError;
use crate::store::TokenRow;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Scopes such as `optin:register`, `contacts:read`, `admin`.
    pub scopes: Vec<String>,
    /// Allowed caller addresses or CIDR ranges; empty: any.
    #[serde(default)]
    pub allow_ip: Vec<String>,
    /// Days until the token expires (1–3650).
    pub expires_days: Option<u32>,
    /// A label (at most 100 characters).
    pub name: Option<String>,
    /// The user the token belongs to.
    pub user_email: Option<String>,
    /// The partner (key) the token acts for; it may then hold only `partner:read` and
    /// `partner:write`.
    pub partner: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub prefix: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub allow_ip: Vec<String>,
    /// active, revoked, expired, idle or user_removed
    pub state: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    /// The partner the token acts for.
    pub partner: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedTokenView {
    /// The secret: shown only in this answer.
    pub secret: String,
    pub token: TokenView,
}

fn view(app: &App, t: &TokenRow) -> TokenView {
    TokenView {
        id: t.id,
        prefix: t.display_prefix.clone(),
        name: t.name.clone(),
        scopes: t.scopes.split_whitespace().map(str::to_string).collect(),
        allow_ip: t
            .allowed_ips
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        state: tokens::token_state(app, t).as_str().to_string(),
        created_at: rfc3339(t.created_at),
        last_used_at: t.last_used_at.map(rfc3339),
        expires_at: t.expires_at.map(rfc3339),
        partner: t.partner_key.clone(),
    }
}

fn issued(app: &App, i: IssuedToken) -> IssuedTokenView {
    IssuedTokenView {
        token: view(app, &i.token),
        secret: i.secret,
    }
}

async fn org_slug(app: &App, org_id: i64) -> Result<String, ApiError> {
    Ok(app
        .store
        .org_by_id(org_id)
        .await
        .map_err(ServiceError::from)?
        .slug)
}

/// Finds a token of the caller's organisation; another organisation's token does not exist here.
async fn own_token(app: &App, org_id: i64, id: i64) -> Result<TokenRow, ApiError> {
    match tokens::find_token(app, &id.to_string()).await {
        Ok(t) if t.org_id == org_id => Ok(t),
        Ok(_) => Err(ServiceError::NotFound("token").into()),
        Err(e) => Err(e.into()),
    }
}

/// Creates a token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateToken,
    responses((status = 201, body = IssuedTokenView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<IssuedTokenView>), ApiError> {
    p.require(Scope::Admin)?;
    let out = tokens::create_token(
        &app,
        &TokenRequest {
            org_slug: org_slug(&app, p.org_id).await?,
            scopes: req.scopes,
            allow_ip: req.allow_ip,
            expires_days: req.expires_days,
            name: req.name,
            user_email: req.user_email,
            partner: req.partner,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued(&app, out))))
}

/// Lists the organisation's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), responses((status = 200, body = Vec<TokenView>)))]
pub async fn list(State(app): State<App>, Auth(p): Auth) -> Result<Json<Vec<TokenView>>, ApiError> {
    p.require(Scope::Admin)?;
    let rows = tokens::list_tokens(&app, &org_slug(&app, p.org_id).await?).await?;
    Ok(Json(rows.iter().map(|t| view(&app, t)).collect()))
}

/// Replaces a token with a new secret; the old one fails at once.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/rotate", tag = "tokens", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 201, body = IssuedTokenView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn rotate(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<IssuedTokenView>), ApiError> {
    p.require(Scope::Admin)?;
    let t = own_token(&app, p.org_id, id).await?;
    let out = tokens::rotate_token(&app, &t.id.to_string()).await?;
    Ok((StatusCode::CREATED, Json(issued(&app, out))))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::Admin)?;
    let t = own_token(&app, p.org_id, id).await?;
    tokens::revoke_token(&app, &t.id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}
