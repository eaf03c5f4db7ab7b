//! The native JSON API under `/api/v1`.

mod me;
mod tokens;

use axum::routing::{delete, get, post};
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::App;

#[derive(OpenApi)]
#[openapi(
    info(title = "Handbill API", description = "Consent-first audience mailing. Authenticate with `Authorization: Bearer TOKEN`; errors are RFC 9457 problem documents with a stable `code`."),
    paths(super::ops::healthz, super::ops::readyz, super::ops::metrics, me::me, tokens::create, tokens::list, tokens::rotate, tokens::revoke),
    components(schemas(super::error::Problem, me::Me, me::MeOrg, me::MeToken, tokens::CreateToken, tokens::TokenView, tokens::IssuedTokenView)),
    modifiers(&BearerAuth),
    tags((name = "operations"), (name = "tokens"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}/rotate", post(tokens::rotate))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
}
