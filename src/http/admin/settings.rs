//! Settings (admins only): the organisation and the sender of its mails, how mail leaves this
//! server with a button that tests each relay, and the server settings a venue checks (public
//! address, DKIM, tracking), which live in the configuration file.

use askama::Template;
use axum::extract::{Query, State};

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render_status, NoticeQuery};
use crate::app::App;
use crate::services::orgs;
use crate::store::Org;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    ui: Ui,
    errors: Vec<String>,
    org: Org,
    public_url: String,
    transport: String,
    /// The DKIM record to publish: (name, TXT value).
    dkim: Option<(String, String)>,
    checks: Vec<(String, Result<(), String>)>,
}

async fn page(
    app: &App,
    admin: &Admin,
    errors: Vec<String>,
    checks: Vec<(String, Result<(), String>)>,
    notice: Option<&str>,
) -> AdminResult {
    let c = &app.config;
    Ok(render_status(
        form_status(&errors),
        SettingsPage {
            ui: admin.ui("settings").with_notice(notice),
            errors,
            org: orgs::org_by_slug(app, &admin.session.org_slug).await?,
            public_url: c.public_url(),
            transport: app.transport.describe(),
            dkim: app.transport.dkim_record(),
            checks,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    page(&app, &admin, Vec::new(), Vec::new(), q.notice.as_deref()).await
}

pub async fn save_sender(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    match orgs::set_sender(
        &app,
        &p.admin.session.org_slug,
        p.form.get("sender_email").trim(),
        p.form.opt("sender_name"),
    )
    .await
    {
        Ok(_) => done("/admin/settings", "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            page(&app, &p.admin, errors, Vec::new(), None).await
        }
    }
}

/// Whether new mailings count opens and clicks unless they say otherwise.
pub async fn save_tracking(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    orgs::set_tracking(
        &app,
        &p.admin.session.org_slug,
        p.form.checked("track_opens"),
        p.form.checked("track_clicks"),
    )
    .await?;
    done("/admin/settings", "saved")
}

/// Connects to every relay (nothing is sent) and shows the outcome.
pub async fn test_mail(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let checks = app.transport.check().await;
    page(&app, &p.admin, Vec::new(), checks, None).await
}
