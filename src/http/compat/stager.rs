//! Stager: `POST /api/ticketshop/optin/register?token=TOKEN&email=EMAIL` (URL-encoded query,
//! empty body). Optional: `optin=KEY` (repeatable), `lang`, `first_name`, `name_prefix`,
//! `last_name`. Only tokens with the scope `optin:register` are accepted.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::domain::Scope;
use crate::http::auth::authenticate;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::services::optins::{self, RegisterRequest};
use crate::services::ServiceError;

pub async fn register(
    State(app): State<App>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut token = None;
    let mut req = RegisterRequest::default();
    let mut fields = ContactInput::default();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "token" => token = Some(v.into_owned()),
            "email" => req.email = v.into_owned(),
            "optin" => req.optins.push(v.into_owned()),
            "lang" => req.language = Some(v.into_owned()),
            "first_name" => fields.first_name = Some(v.into_owned()),
            "name_prefix" => fields.name_prefix = Some(v.into_owned()),
            "last_name" => fields.last_name = Some(v.into_owned()),
            _ => {}
        }
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let who = authenticate(&app, &token, caller.ip).await?;
    if !who.scopes.contains(&Scope::OptinRegister) {
        return Err(ServiceError::Forbidden(Scope::OptinRegister.as_str()).into());
    }
    req.fields = fields;
    let evidence = caller.evidence(
        "stager",
        format!("token:{}", who.token_id),
        Some(who.token_id),
    );
    optins::register(&app, &who, &req, evidence).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))))
}
