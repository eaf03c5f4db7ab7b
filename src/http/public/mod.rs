//! Public pages (no login): confirm a subscription, unsubscribe (also RFC 8058 one-click),
//! manage preferences. Plain, accessible HTML in the contact's language; no JavaScript.
//! Mail scanners that fetch links change nothing: only a POST from the page acts.

mod i18n;
mod tracking;
pub mod widget;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};

use i18n::{t, Key};

use super::caller::Caller;
use crate::app::App;
use crate::domain::Language;
use crate::services::optins::{self, ConfirmState};
use crate::services::ServiceError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/p/confirm/{token}", get(confirm_page).post(confirm))
        .route("/p/confirm/{token}/resend", post(resend))
        .route(
            "/p/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route(
            "/p/preferences/{token}",
            get(preferences_page).post(save_preferences),
        )
        .route("/p/widget/{token}", get(widget::show).post(widget::submit))
        .route("/t/o/{token}", get(tracking::open))
        .route("/t/c/{token}/{idx}", get(tracking::click))
        .route("/t/u/{token}", get(tracking::signed_click))
        .route("/t/v/{token}", get(tracking::view))
}

pub(super) fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("templates/base.html")),
            ("message.html", include_str!("templates/message.html")),
            ("confirm.html", include_str!("templates/confirm.html")),
            (
                "preferences.html",
                include_str!("templates/preferences.html"),
            ),
            ("widget.html", include_str!("templates/widget.html")),
            (
                "widget_form.html",
                include_str!("templates/widget_form.html"),
            ),
        ] {
            env.add_template(name, src)
                .expect("page templates are valid");
        }
        env
    })
}

pub(super) fn page(status: StatusCode, template: &str, ctx: Value) -> Response {
    let body = templates()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "page rendering failed");
            "Internal error".into()
        });
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The URL holds a token: never leak it to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    res
}

fn message(
    status: StatusCode,
    lang: Language,
    org: Option<&str>,
    title: Key,
    body: Key,
    form: Option<(String, Key)>,
    link: Option<(String, Key)>,
) -> Response {
    let ctx = context! {
        lang => lang.code(),
        org => org,
        title => t(lang, title),
        body => t(lang, body),
        form_action => form.as_ref().map(|f| f.0.clone()),
        button => form.map(|f| t(lang, f.1)),
        link => link.as_ref().map(|l| l.0.clone()),
        link_text => link.map(|l| t(lang, l.1)),
    };
    page(status, "message.html", ctx)
}

/// The visitor's language for pages that know no contact: the first supported entry of
/// Accept-Language, else English.
fn browser_language(headers: &HeaderMap) -> Language {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|part| Language::parse(part.split(';').next().unwrap_or("")).ok())
        })
        .unwrap_or(Language::En)
}

pub(super) fn invalid(headers: &HeaderMap) -> Response {
    message(
        StatusCode::NOT_FOUND,
        browser_language(headers),
        None,
        Key::InvalidTitle,
        Key::InvalidBody,
        None,
        None,
    )
}

pub(super) fn failed(e: ServiceError) -> Response {
    tracing::error!(error = %e, "public page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. Please try again later.",
    )
        .into_response()
}

fn confirm_response(state: ConfirmState, token: &str, headers: &HeaderMap) -> Response {
    match state {
        ConfirmState::Open { org, lang, lists } => {
            let lists: Vec<Value> = lists
                .into_iter()
                .map(|(name, text)| context! { name => name, text => text })
                .collect();
            let ctx = context! {
                lang => lang.code(),
                org => org,
                title => t(lang, Key::ConfirmTitle),
                intro => t(lang, Key::ConfirmIntro),
                lists => lists,
                form_action => format!("/p/confirm/{token}"),
                button => t(lang, Key::ConfirmButton),
                note => t(lang, Key::ConfirmNote),
            };
            page(StatusCode::OK, "confirm.html", ctx)
        }
        ConfirmState::Used { org, lang } => message(
            StatusCode::OK,
            lang,
            Some(&org),
            Key::ConfirmedTitle,
            Key::ConfirmedBody,
            None,
            None,
        ),
        ConfirmState::Expired { org, lang } => message(
            StatusCode::GONE,
            lang,
            Some(&org),
            Key::ExpiredTitle,
            Key::ExpiredBody,
            Some((format!("/p/confirm/{token}/resend"), Key::ResendButton)),
            None,
        ),
        ConfirmState::Unknown => invalid(headers),
    }
}

async fn confirm_page(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match optins::confirm_state(&app, &token).await {
        Ok(state) => confirm_response(state, &token, &headers),
        Err(e) => failed(e),
    }
}

async fn confirm(
    State(app): State<App>,
    Path(token): Path<String>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    match optins::confirm(&app, &token, Some(caller.ip.to_string()), caller.user_agent).await {
        Ok(state) => confirm_response(state, &token, &headers),
        Err(e) => failed(e),
    }
}

async fn resend(
    State(app): State<App>,
    Path(token): Path<String>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    match optins::resend(&app, &token, Some(caller.ip.to_string()), caller.user_agent).await {
        Ok(Some((org, lang))) => message(
            StatusCode::OK,
            lang,
            Some(&org),
            Key::ResentTitle,
            Key::ResentBody,
            None,
            None,
        ),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

async fn unsubscribe_page(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Only checks the link; unsubscribing takes the POST.
    match optins::unsubscribe_target(&app, &token).await {
        Ok(Some((org, lang))) => message(
            StatusCode::OK,
            lang,
            Some(&org),
            Key::UnsubscribeTitle,
            Key::UnsubscribeBody,
            Some((format!("/p/unsubscribe/{token}"), Key::UnsubscribeButton)),
            None,
        ),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

/// The page's form, and RFC 8058 one-click (`List-Unsubscribe=One-Click` posted by mail clients).
async fn unsubscribe(
    State(app): State<App>,
    Path(token): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let one_click = url::form_urlencoded::parse(&body)
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    let source = if one_click {
        "one_click"
    } else {
        "public_page"
    };
    match optins::unsubscribe(
        &app,
        &token,
        Some(caller.ip.to_string()),
        caller.user_agent,
        source,
    )
    .await
    {
        Ok(Some(_)) if one_click => (StatusCode::OK, "unsubscribed").into_response(),
        Ok(Some((org, lang, prefs))) => message(
            StatusCode::OK,
            lang,
            Some(&org),
            Key::UnsubscribedTitle,
            Key::UnsubscribedBody,
            None,
            Some((prefs, Key::ManagePreferences)),
        ),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

fn preferences_response(p: optins::Preferences, token: &str, saved: bool) -> Response {
    let lang = p.lang;
    let lists: Vec<Value> = p
        .lists
        .into_iter()
        .map(|(id, name, description, subscribed)| context! { id => id, name => name, description => description, subscribed => subscribed })
        .collect();
    let ctx = context! {
        lang => lang.code(),
        org => p.org,
        title => t(lang, Key::PreferencesTitle),
        intro => t(lang, Key::PreferencesIntro),
        lists => lists,
        form_action => format!("/p/preferences/{token}"),
        button => t(lang, Key::SaveButton),
        saved => saved.then(|| t(lang, Key::Saved)),
    };
    page(StatusCode::OK, "preferences.html", ctx)
}

async fn preferences_page(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match optins::preferences(&app, &token).await {
        Ok(Some(p)) => preferences_response(p, &token, false),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

async fn save_preferences(
    State(app): State<App>,
    Path(token): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ticked: Vec<i64> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "list")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    match optins::save_preferences(
        &app,
        &token,
        &ticked,
        Some(caller.ip.to_string()),
        caller.user_agent,
    )
    .await
    {
        Ok(Some(p)) => preferences_response(p, &token, true),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}
