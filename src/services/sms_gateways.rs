//! The organisation's HTTP SMS gateway: where SMS steps of automations send their texts. The
//! URL and the body are templates over `to` (the mobile number), `text` and `sender`; the
//! headers carry the gateway's authentication and are never shown again once saved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::outbound::{self, Answer};
use super::tokens::Principal;
use super::{OrNotFound, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation_steps::{header_name_ok, header_value_ok, url_template_problem};
use crate::domain::validation::{text, Collector};
use crate::domain::{FieldError, Scope};
use crate::mail::template::{check, render_text};
use crate::mail::SendError;
use crate::store::SmsGatewayRow;

/// `PUT /api/v1/sms-gateway`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayInput {
    /// e.g. `https://sms.example/send?to={{ to|urlencode }}&text={{ text|urlencode }}`
    pub url: String,
    /// GET, POST (default) or PUT.
    pub method: Option<String>,
    /// e.g. `{"Authorization": "Bearer …"}`; values are write-only.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A template of the request body, e.g. `{"to": {{ to|tojson }}, "text": {{ text|tojson }}}`;
    /// without one, POST and PUT send a form with `to`, `text` and `sender`.
    pub body: Option<String>,
    pub content_type: Option<String>,
    /// The sender name or number the gateway shows (`sender` in the templates).
    pub sender: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GatewayView {
    pub url: String,
    pub method: String,
    /// The names of the headers that are set (their values are not shown).
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub sender: Option<String>,
    pub updated_at: String,
}

fn view(g: &SmsGatewayRow) -> GatewayView {
    let headers: BTreeMap<String, String> = serde_json::from_str(&g.headers).unwrap_or_default();
    GatewayView {
        url: g.url.clone(),
        method: g.method.clone(),
        headers: headers.into_keys().collect(),
        body: g.body.clone(),
        content_type: g.content_type.clone(),
        sender: g.sender.clone(),
        updated_at: rfc3339(g.updated_at),
    }
}

pub async fn get(app: &App, who: &Principal) -> ServiceResult<GatewayView> {
    who.require(Scope::AutomationsRead)?;
    let g = app
        .store
        .sms_gateway(who.org_id)
        .await
        .or_not_found("sms gateway")?;
    Ok(view(&g))
}

pub async fn save(app: &App, who: &Principal, req: &GatewayInput) -> ServiceResult<GatewayView> {
    who.require(Scope::AutomationsWrite)?;
    let mut c = Collector::default();
    if let Some(e) = url_template_problem("url", &req.url, "{{ to }}, {{ text }}, {{ sender }}") {
        c.push(e);
    }
    let method = req.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT") {
        c.push(FieldError::new(
            "method",
            "invalid_method",
            "GET, POST or PUT",
        ));
    }
    if req.headers.len() > 20 {
        c.push(FieldError::new("headers", "too_many", "at most 20 headers"));
    }
    for (name, value) in &req.headers {
        if !header_name_ok(name) || !header_value_ok(value) {
            c.push(FieldError::new(
                "headers",
                "invalid_header",
                format!("'{name}': a header name and a value of at most 2000 visible characters"),
            ));
        }
    }
    if let Some(b) = &req.body {
        if method == "GET" {
            c.push(FieldError::new(
                "body",
                "conflict",
                "a body goes with POST or PUT",
            ));
        } else if b.len() > 8192 {
            c.push(FieldError::new("body", "too_long", "at most 8192 bytes"));
        } else if let Err(e) = check("text", b) {
            c.push(FieldError::new("body", "invalid_template", e.located()));
        }
    }
    let content_type = c
        .take(text(
            "content_type",
            req.content_type.as_deref().unwrap_or(""),
            100,
        ))
        .flatten();
    let sender = c
        .take(text("sender", req.sender.as_deref().unwrap_or(""), 40))
        .flatten();
    c.finish()?;
    let row = SmsGatewayRow {
        org_id: who.org_id,
        url: req.url.trim().to_string(),
        method,
        headers: serde_json::to_string(&req.headers).unwrap_or_else(|_| "{}".into()),
        body: req.body.clone(),
        content_type,
        sender,
        updated_at: app.now(),
    };
    app.store.save_sms_gateway(&row).await?;
    Ok(view(&row))
}

pub async fn delete(app: &App, who: &Principal) -> ServiceResult<()> {
    who.require(Scope::AutomationsWrite)?;
    if !app.store.delete_sms_gateway(who.org_id).await? {
        return Err(super::ServiceError::NotFound("sms gateway"));
    }
    Ok(())
}

/// The mobile number in the form gateways take: digits with an optional leading `+`
/// (spaces, dashes, dots and brackets dropped), 6 to 15 digits; None when it is not one.
pub fn mobile_number(raw: &str) -> Option<String> {
    let s: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
        .collect();
    let digits = s.strip_prefix('+').unwrap_or(&s);
    let n = digits.len();
    ((6..=15).contains(&n) && digits.chars().all(|c| c.is_ascii_digit())).then_some(s)
}

/// Sends one text through the organisation's gateway.
pub async fn send(app: &App, org_id: i64, to: &str, message: &str) -> Result<Answer, SendError> {
    let g = match app.store.sms_gateway(org_id).await {
        Ok(g) => g,
        Err(crate::store::StoreError::NotFound) => {
            return Err(SendError::Permanent(
                "the organisation has no SMS gateway".into(),
            ))
        }
        Err(e) => return Err(SendError::transient(e)),
    };
    let sender = g.sender.clone().unwrap_or_default();
    let ctx = minijinja::context! { to => to, text => message, sender => sender };
    let url = render_text(&g.url, &ctx).map_err(SendError::Permanent)?;
    let headers: BTreeMap<String, String> = serde_json::from_str(&g.headers).unwrap_or_default();
    let body = match (&g.body, g.method.as_str()) {
        (_, "GET") => None,
        (Some(b), _) => Some((
            g.content_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
            render_text(b, &ctx).map_err(SendError::Permanent)?,
        )),
        (None, _) => Some((
            "application/x-www-form-urlencoded".to_string(),
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("to", to)
                .append_pair("text", message)
                .append_pair("sender", &sender)
                .finish(),
        )),
    };
    outbound::send(
        app,
        &outbound::Request {
            method: g.method.clone(),
            url,
            headers: headers.into_iter().collect(),
            body,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers() {
        assert_eq!(
            mobile_number("+31 6 1234-5678").as_deref(),
            Some("+31612345678")
        );
        assert_eq!(mobile_number("06 12345678").as_deref(), Some("0612345678"));
        assert_eq!(mobile_number("call me"), None);
        assert_eq!(mobile_number("123"), None);
    }
}
