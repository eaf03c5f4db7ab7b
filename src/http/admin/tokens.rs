//! API tokens (admins only): the list with each token's state, create (the secret is shown
//! once), rotate (the old secret fails at once), revoke.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::Scope;
use crate::services::tokens::{self, IssuedToken, TokenRequest};
use crate::store::TokenRow;

struct TokenLine {
    t: TokenRow,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    ui: Ui,
    errors: Vec<String>,
    tokens: Vec<TokenLine>,
    scopes: Vec<&'static str>,
    issued: Option<IssuedToken>,
}

async fn tokens_page(
    app: &App,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<String>,
    issued: Option<IssuedToken>,
    notice: Option<&str>,
) -> AdminResult {
    let tokens = tokens::list_tokens(app, &admin.session.org_slug)
        .await?
        .into_iter()
        .map(|t| TokenLine {
            state: tokens::token_state(app, &t).as_str(),
            t,
        })
        .collect();
    Ok(render_status(
        status,
        TokensPage {
            ui: admin.ui("tokens").with_notice(notice),
            errors,
            tokens,
            scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
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
    tokens_page(
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
    let expires_days = match f.opt("expires_days").map(str::parse::<u32>) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => Some(0),
    };
    let req = TokenRequest {
        org_slug: p.admin.session.org_slug.clone(),
        scopes: f.all("scopes"),
        allow_ip: f.list("allow_ip"),
        expires_days,
        name: f.opt("name").map(String::from),
        user_email: None,
        partner: None,
    };
    match tokens::create_token(&app, &req).await {
        Ok(issued) => {
            tokens_page(
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
            tokens_page(
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
    let t = tokens::org_token(&app, p.admin.org_id(), id).await?;
    match tokens::rotate_token(&app, &t.id.to_string()).await {
        Ok(issued) => {
            tokens_page(
                &app,
                &p.admin,
                StatusCode::OK,
                Vec::new(),
                Some(issued),
                None,
            )
            .await
        }
        Err(e) => {
            let errors = field_errors(e)?;
            tokens_page(&app, &p.admin, StatusCode::CONFLICT, errors, None, None).await
        }
    }
}

pub async fn revoke(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let t = tokens::org_token(&app, p.admin.org_id(), id).await?;
    match tokens::revoke_token(&app, &t.id.to_string()).await {
        Ok(_) => done("/admin/tokens", "revoked"),
        Err(e) => {
            let errors = field_errors(e)?;
            tokens_page(&app, &p.admin, StatusCode::CONFLICT, errors, None, None).await
        }
    }
}
