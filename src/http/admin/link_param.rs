//! The encrypted link parameter (admins only): which contact fields links to the venue's site
//! carry, sealed with the organisation's key (shown once, when made or rotated); turn it off.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::link_param::FIELDS;
use crate::services::link_params::{self, LinkParamInput, LinkParamView};
use crate::services::ServiceError;

#[derive(Template)]
#[template(path = "link_param.html")]
struct LinkParamPage {
    ui: Ui,
    errors: Vec<String>,
    current: Option<LinkParamView>,
    name: String,
    /// (field, chosen)
    fields: Vec<(&'static str, bool)>,
    key: Option<String>,
}

async fn page(
    app: &App,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<String>,
    shown: Option<LinkParamView>,
    notice: Option<&str>,
) -> AdminResult {
    let current = match link_params::get(app, &admin.admin_principal()?).await {
        Ok(v) => Some(v),
        Err(ServiceError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let key = shown.as_ref().and_then(|v| v.key.clone());
    let form = shown.as_ref().or(current.as_ref());
    let chosen = form.map(|v| v.fields.clone()).unwrap_or_default();
    Ok(render_status(
        status,
        LinkParamPage {
            ui: admin.ui("settings").with_notice(notice),
            errors,
            name: form.map(|v| v.name.clone()).unwrap_or_else(|| "hb".into()),
            fields: FIELDS
                .iter()
                .map(|f| (*f, chosen.iter().any(|c| c == f)))
                .collect(),
            current,
            key,
        },
    ))
}

pub async fn show(
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

pub async fn save(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let req = LinkParamInput {
        name: Some(p.form.get("name").trim().to_string()),
        fields: p.form.all("fields"),
        rotate_key: p.form.checked("rotate_key"),
    };
    match link_params::save(&app, &p.admin.admin_principal()?, &req).await {
        Ok(v) if v.key.is_some() => {
            page(&app, &p.admin, StatusCode::OK, Vec::new(), Some(v), None).await
        }
        Ok(_) => done("/admin/settings/link-parameter", "saved"),
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

pub async fn delete(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    link_params::delete(&app, &p.admin.admin_principal()?).await?;
    done("/admin/settings/link-parameter", "deleted")
}
