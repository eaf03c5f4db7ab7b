//! MailingLijst: `GET|POST /api/?key=GUID&action=ACTION&…`, answered with the seed's XML
//! document and HTTP 200 whatever the result code (the seed's own client code throws on any
//! other status before it reads the body). The key must be in force, the caller's address on
//! the key's allowlist, the action among the key's rights, and `a=` one of its accounts.
//! POST may send the parameters form-encoded; BODYPOST sends the HTML as the request body
//! (its charset taken from the Content-Type) or as the form field `body`.

mod actions;
mod params;
mod reply;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use self::actions::Ctx;
use self::params::Params;
use self::reply::{Fail, Head, MlResult, Reply, NOT_FOUND, UNACCEPTABLE, VALIDATION};
use crate::app::App;
use crate::http::caller::Caller;
use crate::services::ml_keys::{self, Member, ACTIONS};
use crate::store::Org;

/// The schema of every answer, served at `/api/api.xsd`.
pub const XSD: &str = include_str!("api.xsd");

pub async fn xsd() -> Response {
    ([(CONTENT_TYPE, "application/xml; charset=utf-8")], XSD).into_response()
}

/// The parameters (query, then form fields) and the posted HTML of a call.
fn read_request(
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Params, MlResult<Option<String>>) {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let html = if content_type.starts_with("application/x-www-form-urlencoded") {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let html = form
            .iter()
            .find(|(k, _)| k == "body")
            .map(|(_, v)| v.clone());
        pairs.extend(form.into_iter().filter(|(k, _)| k != "body"));
        Ok(html)
    } else if body.is_empty() {
        Ok(None)
    } else {
        decode(body, &content_type).map(Some)
    };
    (Params::new(pairs), html)
}

/// The body in the charset its Content-Type names (UTF-8 when it names none).
fn decode(body: &[u8], content_type: &str) -> MlResult<String> {
    let label = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .next()
        .map(|c| c.trim_matches(|c| c == '"' || c == '\'' || c == ' '))
        .unwrap_or("utf-8");
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
        .ok_or_else(|| Fail::new(UNACCEPTABLE, format!("charset {label} is not known")))?;
    let (text, _, bad) = encoding.decode(body);
    if bad {
        return Err(Fail::new(
            UNACCEPTABLE,
            format!("the body is not valid {}", encoding.name()),
        ));
    }
    Ok(text.into_owned())
}

/// The request URL for the answer, with the key hidden.
fn shown_url(app: &App, uri: &axum::http::Uri) -> String {
    let query = uri
        .query()
        .unwrap_or("")
        .split('&')
        .map(|part| {
            if part.starts_with("key=") {
                "key=xxx"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{}?{query}", app.config.public_url(), uri.path())
}

/// Checks the key, the caller's address, the action and the account.
async fn authorize(
    app: &App,
    caller: &Caller,
    p: &Params,
) -> Result<(Member, String, Org), (Option<Member>, Fail)> {
    let key = p
        .get("key")
        .ok_or((None, Fail::new(VALIDATION, "parameter key missing")))?;
    let member = match ml_keys::authenticate(app, key).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err((None, Fail::new(VALIDATION, "key not valid"))),
        Err(e) => return Err((None, e.into())),
    };
    if !member.allows_ip(caller.ip) {
        let f = Fail::new(
            VALIDATION,
            format!("ip address {} is not allowed for this key", caller.ip),
        );
        return Err((Some(member), f));
    }
    let Some(action) = p.get("action").map(str::to_ascii_uppercase) else {
        return Err((
            Some(member),
            Fail::new(NOT_FOUND, "parameter action missing"),
        ));
    };
    if !ACTIONS.contains(&action.as_str()) {
        return Err((
            Some(member),
            Fail::new(NOT_FOUND, format!("action {action} unknown")),
        ));
    }
    if !member.may(&action) {
        let f = Fail::new(
            VALIDATION,
            format!("action {action} is not allowed for this key"),
        );
        return Err((Some(member), f));
    }
    let account = match p.number("a") {
        Err(f) => return Err((Some(member), f)),
        Ok(Some(a)) => member
            .accounts
            .iter()
            .find(|x| x.account == a)
            .cloned()
            .ok_or_else(|| {
                Fail::new(
                    VALIDATION,
                    format!("account {a} is not allowed for this key"),
                )
            }),
        Ok(None) => match member.accounts.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Fail::new(VALIDATION, "this key has no account")),
            _ => Err(Fail::new(
                UNACCEPTABLE,
                "parameter a (account) missing: this key acts on several accounts",
            )),
        },
    };
    let account = match account {
        Ok(a) => a,
        Err(f) => return Err((Some(member), f)),
    };
    if account.org_id == member.org.id {
        let org = member.org.clone();
        return Ok((member, action, org));
    }
    match app.store.org_by_id(account.org_id).await {
        Ok(org) => Ok((member, action, org)),
        Err(e) => Err((Some(member), e.into())),
    }
}

pub async fn handle(
    State(app): State<App>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (p, html) = read_request(uri.query().unwrap_or(""), &headers, &body);
    let (member, reply) = match authorize(&app, &caller, &p).await {
        Err((member, fail)) => (member, Reply::from(fail)),
        Ok((member, action, org)) => {
            let reply = match html {
                Err(f) => f.into(),
                Ok(body) => {
                    let ctx = Ctx {
                        app: &app,
                        org,
                        evidence: caller.evidence(
                            "mailinglijst",
                            format!("mlkey:{}", member.key.id),
                            None,
                        ),
                        p: &p,
                        body,
                    };
                    actions::run(&action, &ctx)
                        .await
                        .unwrap_or_else(Reply::from)
                }
            };
            metrics::counter!("handbill_mailinglijst_calls_total", "action" => action, "code" => reply.code.to_string())
                .increment(1);
            (Some(member), reply)
        }
    };
    let url = shown_url(&app, &uri);
    let referrer = caller.ip.to_string();
    let head = Head {
        url: &url,
        referrer: &referrer,
        member: member.as_ref().map(|m| m.org.name.as_str()).unwrap_or(""),
        member_id: member.as_ref().map(|m| m.org.id),
        now: app.now(),
    };
    (
        [(CONTENT_TYPE, "text/xml; charset=utf-8")],
        reply::render(&head, &reply),
    )
        .into_response()
}
