//! The checkout widget: `GET /p/widget/{token}` shows the partner opt-ins of one order (every box
//! unticked), `POST` records the answers once. The same form is handed to the ticket shop as an
//! HTML fragment. No JavaScript; styled with `--hb-…` CSS variables.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::i18n::{t, Key};
use super::{failed, invalid, page, templates};
use crate::app::App;
use crate::domain::Language;
use crate::http::caller::Caller;
use crate::services::checkout::{self, IssuedWidget, Offer, WidgetPlace, WidgetState};

fn form(lang: Language, action: &str, optins: &[Offer]) -> String {
    let ctx = context! {
        lang => lang.code(),
        action => action,
        intro => t(lang, Key::WidgetIntro),
        optins => optins,
        privacy => t(lang, Key::PrivacyPolicy),
        button => t(lang, Key::WidgetButton),
        note => t(lang, Key::WidgetNote),
    };
    templates()
        .get_template("widget_form.html")
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "widget rendering failed");
            String::new()
        })
}

/// The form as an HTML fragment for the ticket shop's own page; it posts to `url`.
pub fn fragment(url: &str, w: &IssuedWidget) -> String {
    let lang = Language::parse(&w.language).unwrap_or(Language::En);
    form(lang, url, &w.optins)
}

/// A widget page; it may be framed by the point of sale's origin (any origin when none is set).
fn widget_page(
    status: StatusCode,
    place: &WidgetPlace,
    theme: &std::collections::BTreeMap<String, String>,
    form: Option<String>,
    title: Key,
    body: Key,
) -> Response {
    let lang = place.lang;
    let ctx = context! {
        lang => lang.code(),
        org => place.org,
        title => t(lang, title),
        body => t(lang, body),
        theme => theme,
        form => form,
    };
    let mut res = page(status, "widget.html", ctx);
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors {}",
        place.frame_origin.as_deref().unwrap_or("*")
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

fn state_response(state: WidgetState, token: &str, headers: &HeaderMap) -> Response {
    let none = Default::default();
    match state {
        WidgetState::Open(w) => {
            let html = form(w.place.lang, &format!("/p/widget/{token}"), &w.optins);
            widget_page(
                StatusCode::OK,
                &w.place,
                &w.theme,
                Some(html),
                Key::WidgetTitle,
                Key::WidgetIntro,
            )
        }
        WidgetState::Used(place) => widget_page(
            StatusCode::CONFLICT,
            &place,
            &none,
            None,
            Key::WidgetUsedTitle,
            Key::WidgetUsedBody,
        ),
        WidgetState::Expired(place) => widget_page(
            StatusCode::GONE,
            &place,
            &none,
            None,
            Key::WidgetExpiredTitle,
            Key::WidgetExpiredBody,
        ),
        WidgetState::Invalid => invalid(headers),
    }
}

pub async fn show(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match checkout::widget_state(&app, &token).await {
        Ok(state) => state_response(state, &token, &headers),
        Err(e) => failed(e),
    }
}

pub async fn submit(
    State(app): State<App>,
    Path(token): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ticked: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "optin")
        .map(|(_, v)| v.into_owned())
        .take(100)
        .collect();
    match checkout::submit_widget(
        &app,
        &token,
        &ticked,
        Some(caller.ip.to_string()),
        caller.user_agent,
    )
    .await
    {
        Ok((WidgetState::Used(place), Some(outcome))) => widget_page(
            StatusCode::OK,
            &place,
            &Default::default(),
            None,
            Key::WidgetDoneTitle,
            if outcome.verification_queued {
                Key::WidgetConfirmBody
            } else {
                Key::WidgetDoneBody
            },
        ),
        Ok((state, _)) => state_response(state, &token, &headers),
        Err(e) => failed(e),
    }
}

/// The widget as a buyer would see it for `offers`, for the admin's example order: sandboxed
/// (nothing can be submitted) and framed by the admin pages only.
pub fn example(
    place: &WidgetPlace,
    theme: &std::collections::BTreeMap<String, String>,
    optins: &[Offer],
) -> Response {
    let html = form(place.lang, "#", optins);
    let mut res = widget_page(
        StatusCode::OK,
        place,
        theme,
        Some(html),
        Key::WidgetTitle,
        Key::WidgetIntro,
    );
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}
