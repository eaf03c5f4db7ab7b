//! Sign-in, sign-out and the user's own account (language, time zone, password).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::{AdminError, AdminResult};
use super::form::Form;
use super::i18n::Ui;
use super::session::{
    check_form, cookie, safe_next, set_cookie, with_cookie, Admin, Posted, LOGIN_COOKIE,
    SESSION_COOKIE,
};
use super::{field_errors, render, render_status, NoticeQuery};
use crate::app::App;
use crate::http::caller::Caller;
use crate::services::admin_sessions::{self, ABSOLUTE_MS};
use crate::services::ServiceError;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ui: Ui,
    errors: Vec<String>,
    next: String,
    email: String,
    org: String,
    ask_org: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The language of the sign-in page, from the browser's preference.
fn browser_language(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim_start().to_ascii_lowercase().starts_with("nl") {
        "nl"
    } else {
        "en"
    }
}

/// The sign-in form; it sets a fresh cookie whose value the form must carry back (the form
/// cannot be posted from another site).
fn login_form(app: &App, headers: &HeaderMap, mut page: LoginPage, status: StatusCode) -> Response {
    let token = cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 43)
        .unwrap_or_else(crate::services::admin_sessions::random_token);
    page.ui.csrf = token.clone();
    let res = render_status(status, page);
    with_cookie(res, set_cookie(app, LOGIN_COOKIE, &token, 3600))
}

pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = admin_sessions::open(&app, &c).await {
            return Redirect::to(safe_next(q.next.as_deref())).into_response();
        }
    }
    let page = LoginPage {
        ui: Ui::anonymous(browser_language(&headers)),
        errors: Vec::new(),
        next: safe_next(q.next.as_deref()).to_string(),
        email: String::new(),
        org: String::new(),
        ask_org: false,
    };
    login_form(&app, &headers, page, StatusCode::OK)
}

pub async fn sign_in(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if let Err(e) = check_form(&headers, form.get("csrf"), &expected) {
        return e.into_response();
    }
    let mut page = LoginPage {
        errors: Vec::new(),
        next: safe_next(form.opt("next")).to_string(),
        email: form.get("email").chars().take(254).collect(),
        org: form.get("org").chars().take(64).collect(),
        ask_org: form.opt("org").is_some(),
        ui: Ui::anonymous(browser_language(&headers)),
    };
    if let Err(wait) = app.limits.check_sign_in(caller.ip, form.get("email")) {
        page.errors.push(format!(
            "{} ({} s)",
            page.ui
                .tr("Too many attempts. Wait a moment and try again."),
            wait.as_secs().max(1)
        ));
        return login_form(&app, &headers, page, StatusCode::TOO_MANY_REQUESTS);
    }
    match admin_sessions::sign_in(
        &app,
        form.get("email"),
        form.get("password"),
        form.opt("org"),
    )
    .await
    {
        Ok(signed) => {
            let res = Redirect::to(&page.next).into_response();
            let res = with_cookie(res, set_cookie(&app, LOGIN_COOKIE, "", 0));
            with_cookie(
                res,
                set_cookie(&app, SESSION_COOKIE, &signed.cookie, ABSOLUTE_MS / 1000),
            )
        }
        Err(ServiceError::Unauthorized) => {
            let text = page.ui.tr("The e-mail address or password is not right.");
            page.errors.push(text.into());
            login_form(&app, &headers, page, StatusCode::UNAUTHORIZED)
        }
        Err(ServiceError::Validation(_)) => {
            page.ask_org = true;
            let text = page
                .ui
                .tr("This address has a login in several organisations: name the organisation.");
            page.errors.push(text.into());
            login_form(&app, &headers, page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => AdminError::from(e).into_response(),
    }
}

pub async fn sign_out(State(app): State<App>, p: Posted) -> AdminResult {
    admin_sessions::sign_out(&app, &p.admin.cookie).await?;
    Ok(with_cookie(
        Redirect::to("/admin/login").into_response(),
        set_cookie(&app, SESSION_COOKIE, "", 0),
    ))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    ui: Ui,
    errors: Vec<String>,
    time_zone: String,
}

pub async fn account(admin: Admin, Query(q): Query<NoticeQuery>) -> Response {
    render(AccountPage {
        ui: admin.ui("account").with_notice(q.notice.as_deref()),
        errors: Vec::new(),
        time_zone: admin.session.time_zone.clone(),
    })
}

fn account_error(admin: &Admin, e: ServiceError, time_zone: &str) -> AdminResult {
    let errors = field_errors(e)?;
    Ok(render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        AccountPage {
            ui: admin.ui("account"),
            errors,
            time_zone: time_zone.to_string(),
        },
    ))
}

pub async fn save_preferences(State(app): State<App>, p: Posted) -> AdminResult {
    let tz = p.form.get("time_zone").trim();
    match admin_sessions::set_preferences(&app, &p.admin.session, p.form.get("language"), tz).await
    {
        Ok(()) => Ok(Redirect::to("/admin/account?notice=saved").into_response()),
        Err(e) => account_error(&p.admin, e, tz),
    }
}

pub async fn change_password(State(app): State<App>, p: Posted) -> AdminResult {
    let Posted { admin, form } = p;
    match admin_sessions::change_password(
        &app,
        &admin.session,
        &admin.cookie,
        form.get("current_password"),
        form.get("new_password"),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/admin/account?notice=password").into_response()),
        Err(e) => account_error(&admin, e, &admin.session.time_zone.clone()),
    }
}
