//! The Spotler-style integration service: `/integrationservice/automation/…` with the same
//! calls and shapes as the native automation API. Requests are signed with two-legged OAuth
//! 1.0a (HMAC-SHA1, consumer key and secret) as Spotler integrations do, or carry a Bearer
//! token, so an integration moves over by changing the host name.

use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::app::App;
use crate::domain::oauth1::base_uri;
use crate::http::api::automations as native;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::services::automations::{self, StopRequest, Stopped, TriggerRequest};
use crate::services::oauth_consumers::{self, SignedRequest};
use crate::services::tokens::Principal;

pub fn router() -> Router<App> {
    Router::new()
        .route("/integrationservice/automation/list", get(list))
        .route(
            "/integrationservice/automation/trigger/{triggerCode}",
            post(trigger),
        )
        .route(
            "/integrationservice/automation/stop/{triggerCode}",
            post(stop),
        )
        .route(
            "/integrationservice/automation/participation/{automationContactId}/stop",
            post(stop_participation),
        )
}

/// The caller of an integration-service route: OAuth 1.0a signed, or a Bearer token.
pub struct Integration(pub Principal);

impl FromRequestParts<App> for Integration {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !header
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("oauth ")
        {
            return Auth::from_request_parts(parts, app)
                .await
                .map(|Auth(p)| Integration(p));
        }
        let path = parts.uri.path();
        let mut base_uris = Vec::new();
        if let Some(host) = parts.headers.get(HOST).and_then(|h| h.to_str().ok()) {
            // Behind a TLS-terminating proxy the caller signed https.
            for scheme in ["https", "http"] {
                base_uris.push(base_uri(scheme, host, path));
            }
        }
        base_uris.extend(oauth_consumers::public_base_uri(app, path));
        let request = SignedRequest {
            authorization: header,
            method: parts.method.as_str(),
            base_uris,
            query: parts.uri.query().unwrap_or(""),
            form: None,
        };
        oauth_consumers::authenticate(app, &request)
            .await
            .map(Integration)
            .map_err(ApiError::from)
    }
}

/// The published automations with their trigger codes.
async fn list(
    State(app): State<App>,
    Integration(p): Integration,
) -> Result<Json<Value>, ApiError> {
    let all = automations::all(&app, &p).await?;
    Ok(Json(Value::Array(
        all.into_iter()
            .filter(|a| a.published_version.is_some())
            .map(|a| json!({"id": a.id, "name": a.name, "triggerCode": a.trigger_code, "version": a.published_version}))
            .collect(),
    )))
}

async fn trigger(
    State(app): State<App>,
    Integration(p): Integration,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<TriggerRequest>,
) -> Result<Json<Value>, ApiError> {
    native::trigger_as(&app, &p, &headers, &code, &req).await
}

async fn stop(
    State(app): State<App>,
    Integration(p): Integration,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<Stopped>, ApiError> {
    native::stop_as(&app, &p, &code, &req).await
}

async fn stop_participation(
    State(app): State<App>,
    Integration(p): Integration,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Stopped>, ApiError> {
    Ok(Json(automations::stop_participation(&app, &p, id).await?))
}
