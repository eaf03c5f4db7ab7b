//! `/api/v1/partner/…`: what a partner's token sees (its own consents, with proof) and the
//! opt-outs it reports back (scopes partner:read / partner:write).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiQuery};
use crate::services::partner_consents::{self, ConsentPage, OptoutRequest, OptoutResult};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsentQuery {
    /// The cursor of the last item received (`next` of the previous page); 0 or absent: from the start.
    #[serde(default)]
    pub since: i64,
    /// 1–1000 (default 100).
    pub limit: Option<i64>,
    /// The partner's key; only for organisation tokens (a partner's token implies it).
    pub partner: Option<String>,
}

/// The consents and withdrawals on the partner's opt-ins, oldest first, with their proof.
#[utoipa::path(get, path = "/api/v1/partner/consents", tag = "checkout", security(("bearer" = [])), params(ConsentQuery),
    responses((status = 200, body = ConsentPage), (status = 403, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn consents(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ConsentQuery>,
) -> Result<Json<ConsentPage>, ApiError> {
    let partner =
        partner_consents::partner_for(&app, &p, Scope::PartnerRead, q.partner.as_deref()).await?;
    Ok(Json(
        partner_consents::page(&app, &partner, q.since, q.limit.unwrap_or(100)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PartnerQuery {
    /// The partner's key; only for organisation tokens.
    pub partner: Option<String>,
}

/// Unsubscribes addresses from the partner's opt-ins (all, or the one named per item).
#[utoipa::path(post, path = "/api/v1/partner/optouts", tag = "checkout", security(("bearer" = [])), params(PartnerQuery), request_body = OptoutRequest,
    responses((status = 200, body = OptoutResult), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn optouts(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PartnerQuery>,
    ApiJson(req): ApiJson<OptoutRequest>,
) -> Result<Json<OptoutResult>, ApiError> {
    let partner =
        partner_consents::partner_for(&app, &p, Scope::PartnerWrite, q.partner.as_deref()).await?;
    Ok(Json(
        partner_consents::optouts(&app, &p, &partner, &req).await?,
    ))
}
