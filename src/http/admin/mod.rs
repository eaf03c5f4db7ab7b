//! The admin web UI under `/admin/`: server-rendered pages (askama) for marketers and admins.
//! Handlers translate forms into service calls and service answers into pages; no business
//! rule lives here. Every page carries a strict Content-Security-Policy, may not be framed,
//! and works without JavaScript.

mod assets;
mod automations;
mod charts;
mod contacts;
mod dashboard;
mod error;
mod exports;
mod form;
mod hooks;
mod i18n;
mod i18n_nl;
mod imports;
mod link_param;
mod login;
mod mail_templates;
mod mailings;
mod ml_keys;
mod optins;
mod partners;
mod schedule_form;
mod segment_form;
mod segments;
mod session;
mod settings;
mod sources;
mod tokens;
mod users;

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::app::App;
use crate::services::ServiceError;
use error::{AdminError, AdminResult};

pub fn router() -> Router<App> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(dashboard::show))
        .route("/admin/login", get(login::show).post(login::sign_in))
        .route("/admin/logout", post(login::sign_out))
        .route("/admin/account", get(login::account))
        .route("/admin/account/preferences", post(login::save_preferences))
        .route("/admin/account/password", post(login::change_password))
        .route("/admin/contacts", get(contacts::index))
        .route(
            "/admin/contacts/{id}",
            get(contacts::show).post(contacts::update),
        )
        .route("/admin/contacts/{id}/export", get(contacts::export))
        .route(
            "/admin/contacts/{id}/erase",
            get(contacts::confirm_erase).post(contacts::erase),
        )
        .route("/admin/optins", get(optins::index).post(optins::create))
        .route("/admin/optins/new", get(optins::new))
        .route("/admin/optins/{key}", get(optins::show))
        .route("/admin/optins/{key}/archive", post(optins::archive))
        .route(
            "/admin/optins/{key}/mails/{kind}/{lang}",
            get(optins::mail).post(optins::save_mail),
        )
        .route(
            "/admin/optins/{key}/mails/{kind}/{lang}/preview",
            get(optins::mail_preview),
        )
        .route(
            "/admin/segments",
            get(segments::show).post(segments::preview),
        )
        .route("/admin/segments/count", post(segments::live_count))
        .route(
            "/admin/mailings",
            get(mailings::index).post(mailings::create),
        )
        .route("/admin/preview", post(mailings::live_preview))
        .route(
            "/admin/templates",
            get(mail_templates::index).post(mail_templates::create),
        )
        .route("/admin/templates/new", get(mail_templates::new))
        .route(
            "/admin/templates/{key}",
            get(mail_templates::show).post(mail_templates::update),
        )
        .route("/admin/mailings/new", get(mailings::new))
        .route("/admin/mailings/{id}", get(mailings::show))
        .route("/admin/mailings/{id}/preview", get(mailings::preview))
        .route(
            "/admin/mailings/{id}/edit",
            get(mailings::edit).post(mailings::update),
        )
        .route("/admin/mailings/{id}/test", post(mailings::test_send))
        .route("/admin/mailings/{id}/schedule", post(mailings::schedule))
        .route("/admin/mailings/{id}/stats", get(mailings::stats))
        .route(
            "/admin/mailings/{id}/send",
            get(mailings::confirm_send).post(mailings::send),
        )
        .route("/admin/mailings/{id}/{action}", post(mailings::act))
        .route(
            "/admin/automations",
            get(automations::index).post(automations::create),
        )
        .route("/admin/automations/{id}", get(automations::show))
        .route(
            "/admin/automations/{id}/steps",
            post(automations::edit_steps),
        )
        .route("/admin/automations/{id}/json", post(automations::edit_json))
        .route(
            "/admin/automations/{id}/publish",
            post(automations::publish),
        )
        .route(
            "/admin/automations/{id}/participations/{participation}/stop",
            post(automations::stop),
        )
        .route("/admin/imports", get(imports::index))
        .route("/admin/imports/upload", post(imports::upload))
        .route(
            "/admin/imports/new/{file}",
            get(imports::map).post(imports::start),
        )
        .route("/admin/imports/{id}", get(imports::show))
        .route("/admin/imports/{id}/errors.csv", get(imports::error_report))
        .route(
            "/admin/partners",
            get(partners::index).post(partners::create_partner),
        )
        .route(
            "/admin/partners/{key}",
            get(partners::show_partner).post(partners::update_partner),
        )
        .route("/admin/points-of-sale", post(partners::create_pos))
        .route(
            "/admin/points-of-sale/{key}",
            get(partners::show_pos).post(partners::update_pos),
        )
        .route(
            "/admin/points-of-sale/{key}/widget",
            get(partners::widget_example),
        )
        .route("/admin/products", post(partners::save_product))
        .route(
            "/admin/products/{id}/delete",
            post(partners::delete_product),
        )
        .route("/admin/sources", get(sources::index).post(sources::create))
        .route(
            "/admin/sources/{key}",
            get(sources::show).post(sources::update),
        )
        .route("/admin/sources/{key}/check", post(sources::check))
        .route("/admin/sources/{key}/run", post(sources::run))
        .route("/admin/sources/{key}/delete", post(sources::delete))
        .route("/admin/exports", get(exports::index).post(exports::create))
        .route(
            "/admin/exports/{id}",
            get(exports::show).post(exports::update),
        )
        .route("/admin/exports/{id}/run", post(exports::run))
        .route("/admin/exports/{id}/delete", post(exports::delete))
        .route("/admin/exports/runs/{run}/file", get(exports::download))
        .route("/admin/hooks", get(hooks::index).post(hooks::create))
        .route("/admin/hooks/{id}", get(hooks::show).post(hooks::update))
        .route("/admin/hooks/{id}/rotate", post(hooks::rotate))
        .route("/admin/hooks/{id}/test", post(hooks::test))
        .route("/admin/hooks/{id}/delete", post(hooks::delete))
        .route("/admin/tokens", get(tokens::index).post(tokens::create))
        .route("/admin/tokens/{id}/rotate", post(tokens::rotate))
        .route("/admin/tokens/{id}/revoke", post(tokens::revoke))
        .route("/admin/settings", get(settings::show))
        .route("/admin/settings/sender", post(settings::save_sender))
        .route("/admin/settings/mail-test", post(settings::test_mail))
        .route("/admin/settings/tracking", post(settings::save_tracking))
        .route(
            "/admin/settings/link-parameter",
            get(link_param::show).post(link_param::save),
        )
        .route(
            "/admin/settings/link-parameter/delete",
            post(link_param::delete),
        )
        .route(
            "/admin/settings/mailinglijst",
            get(ml_keys::index).post(ml_keys::create),
        )
        .route(
            "/admin/settings/mailinglijst/{id}/rotate",
            post(ml_keys::rotate),
        )
        .route(
            "/admin/settings/mailinglijst/{id}/revoke",
            post(ml_keys::revoke),
        )
        .route("/admin/users", get(users::index).post(users::create))
        .route("/admin/users/{id}/role", post(users::set_role))
        .route("/admin/users/{id}/remove", post(users::remove))
        .route("/admin/assets/{name}", get(assets::serve))
        .route("/admin/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(security_headers))
}

async fn not_found() -> AdminError {
    AdminError::NotFound
}

/// The Content-Security-Policy of every admin page: our own script and stylesheet only, no
/// inline code, no framing, forms post only to us.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A page may set its own (the sandboxed mail preview); every other gets ours.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A mail's HTML for a preview frame: sandboxed, no scripts, the mail's own inline styles
/// allowed, framed by the admin pages only.
fn sandboxed(html: String) -> Response {
    let mut res = Html(html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}

/// Text for HTML built outside a template (the preview frames' notes).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A key as one segment of a URL path (percent-encoded, as the templates' `urlencode` does).
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A page as a 200 response.
fn render(page: impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

fn render_status(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin page rendering failed");
            AdminError::Service(ServiceError::Internal(e.to_string())).into_response()
        }
    }
}

/// A page with a form: 200, or 422 when it shows the form again with errors.
fn form_status(errors: &[String]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// The messages of a validation error or conflict, to show above a form again; any other
/// error becomes an error page.
fn field_errors(e: ServiceError) -> Result<Vec<String>, AdminError> {
    match e {
        ServiceError::Validation(v) => Ok(v
            .0
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()),
        ServiceError::Conflict { field, message } => Ok(vec![format!("{field}: {message}")]),
        e => Err(e.into()),
    }
}

/// `?notice=KEY` after a redirect.
#[derive(Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// A redirect to `path` that shows notice `key` there.
fn done(path: &str, key: &str) -> AdminResult {
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{path}{sep}notice={key}")).into_response())
}
