//! `POST /api/v1/optins/register`: the native form of the opt-in registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::http::auth::Auth;
use crate::http::caller::Caller;
use crate::http::error::{ApiError, ApiJson};
use crate::services::optins::{self, ConsentMode, RegisterRequest};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: String,
    /// Opt-in keys; empty or absent: the organisation's default opt-in.
    #[serde(default)]
    pub optins: Vec<String>,
    /// nl, en, de or fr: the language of the mail and pages.
    pub language: Option<String>,
    /// Contact fields (first_name, last_name, …) for a new contact.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: ContactInput,
    /// `confirm` (double opt-in, default) or `asserted` (single opt-in; scope consent:assert).
    #[serde(default)]
    pub consent: ConsentMode,
}

/// Registers an address. The answer is the same for a new, a pending and a subscribed address.
#[utoipa::path(post, path = "/api/v1/optins/register", tag = "opt-ins", security(("bearer" = [])), request_body = Register,
    responses((status = 202, description = "accepted"), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 429, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn register(
    State(app): State<App>,
    Auth(who): Auth,
    caller: Caller,
    ApiJson(r): ApiJson<Register>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = RegisterRequest {
        email: r.email,
        optins: r.optins,
        language: r.language,
        fields: r.fields,
        consent: r.consent,
        guid: None,
    };
    let evidence = caller.evidence("api", format!("token:{}", who.token_id), Some(who.token_id));
    optins::register(&app, &who, &req, evidence).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))))
}
