//! MailingLijst API keys (admins only): the keys the old MailingLijst clients use, with their
//! rights and allowed addresses; create (the key is shown once), rotate (a new key with the
//! same rights, the old one fails at once), revoke.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, render_status, NoticeQuery};
use crate::app::App;
use crate::services::ml_keys::{self, KeyView, ACTIONS};

#[derive(Template)]
#[template(path = "ml_keys.html")]
struct KeysPage {
    ui: Ui,
    errors: Vec<String>,
    keys: Vec<KeyView>,
    actions: [&'static str; 9],
    issued: Option<(String, KeyView)>,
}

async fn page(
    app: &App,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<String>,
    issued: Option<(String, KeyView)>,
    notice: Option<&str>,
) -> AdminResult {
    Ok(render_status(
        status,
        KeysPage {
            ui: admin.ui("settings").with_notice(notice),
            errors,
            keys: ml_keys::list(app, Some(admin.org_id())).await?,
            actions: ACTIONS,
            issued,
        },
    ))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    page(
        &app,
        &admin,
        StatusCode::OK,
        Vec::new(),
        None,
        q.notice.as_deref(),
    )
    .await
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let f = &p.form;
    let ips = f.list("allow_ip");
    // An unreadable number becomes -1, which the service refuses with its own message.
    let account = f.opt("account").map(|n| n.parse::<i64>().unwrap_or(-1));
    let actions = f.all("actions").join(",");
    match ml_keys::create(&app, p.admin.org_id(), account, &ips, &actions, false).await {
        Ok(issued) => {
            page(
                &app,
                &p.admin,
                StatusCode::CREATED,
                Vec::new(),
                Some(issued),
                None,
            )
            .await
        }
        Err(e) => {
            let errors = field_errors(e)?;
            page(
                &app,
                &p.admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
                None,
            )
            .await
        }
    }
}

pub async fn rotate(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let issued = ml_keys::rotate(&app, Some(p.admin.org_id()), id).await?;
    page(
        &app,
        &p.admin,
        StatusCode::OK,
        Vec::new(),
        Some(issued),
        None,
    )
    .await
}

pub async fn revoke(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    ml_keys::revoke(&app, Some(p.admin.org_id()), id).await?;
    done("/admin/settings/mailinglijst", "revoked_key")
}
