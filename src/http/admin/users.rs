//! Users of the organisation (admins only): create a login, change a role, remove a user. A
//! change takes effect at the user's next request.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, render_status, NoticeQuery};
use crate::app::App;
use crate::services::users::{self, Role};
use crate::services::ServiceError;
use crate::store::UserRow;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    ui: Ui,
    errors: Vec<String>,
    users: Vec<UserRow>,
    me: i64,
}

async fn users_page(
    app: &App,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AdminResult {
    Ok(render_status(
        status,
        UsersPage {
            ui: admin.ui("users").with_notice(notice),
            errors,
            users: users::all(app, admin.org_id()).await?,
            me: admin.session.user_id,
        },
    ))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    users_page(
        &app,
        &admin,
        StatusCode::OK,
        Vec::new(),
        q.notice.as_deref(),
    )
    .await
}

async fn outcome(
    app: &App,
    admin: &Admin,
    r: Result<(), ServiceError>,
    notice: &str,
) -> AdminResult {
    match r {
        Ok(()) => done("/admin/users", notice),
        Err(e) => {
            let errors = field_errors(e)?;
            users_page(app, admin, StatusCode::UNPROCESSABLE_ENTITY, errors, None).await
        }
    }
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let r = match Role::parse(p.form.get("role")) {
        Ok(role) => users::create_user(
            &app,
            &p.admin.session.org_slug,
            p.form.get("email"),
            role,
            p.form.get("password"),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    outcome(&app, &p.admin, r, "created").await
}

pub async fn set_role(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let r = match Role::parse(p.form.get("role")) {
        Ok(role) => users::set_role(&app, p.admin.org_id(), id, role).await,
        Err(e) => Err(e.into()),
    };
    outcome(&app, &p.admin, r, "saved").await
}

pub async fn remove(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let r = users::remove(&app, p.admin.org_id(), id).await;
    outcome(&app, &p.admin, r, "removed").await
}
