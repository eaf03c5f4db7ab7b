//! Templates: layouts (the frame a mailing's content goes into, at `{{ content }}`) and
//! transactional templates (order confirmations sent through the API one at a time); create
//! and edit them with a live preview. The key is fixed once created.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, render_status, NoticeQuery};
use crate::app::App;
use crate::services::templates::{self, TemplateInput, TemplateView};

/// A new layout starts as a working frame with the slot in it.
const STARTER_LAYOUT: &str = "<div style=\"max-width:600px;margin:0 auto;font-family:Arial,sans-serif\">\n  <p><img src=\"https://example.org/logo.png\" alt=\"Our venue\" width=\"160\"></p>\n  {{ content }}\n  <p style=\"font-size:12px;color:#666\"><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a> · <a href=\"{{ links.preferences }}\">Preferences</a></p>\n</div>\n";

/// A template's fields as the form shows them.
struct TemplateForm {
    key: String,
    kind: String,
    name: String,
    subject: String,
    html: String,
    text: String,
}

impl TemplateForm {
    fn of(t: Option<&TemplateView>) -> Self {
        TemplateForm {
            key: t.map(|t| t.key.clone()).unwrap_or_default(),
            kind: t.map(|t| t.kind.clone()).unwrap_or_else(|| "layout".into()),
            name: t.map(|t| t.name.clone()).unwrap_or_default(),
            subject: t.and_then(|t| t.subject.clone()).unwrap_or_default(),
            html: t
                .map(|t| t.html.clone())
                .unwrap_or_else(|| STARTER_LAYOUT.into()),
            text: t.and_then(|t| t.text.clone()).unwrap_or_default(),
        }
    }

    fn posted(f: &Form) -> Self {
        TemplateForm {
            key: f.get("key").trim().to_string(),
            kind: f.get("kind").to_string(),
            name: f.get("name").to_string(),
            subject: f.get("subject").to_string(),
            html: f.get("html").to_string(),
            text: f.get("text").to_string(),
        }
    }

    fn input(&self) -> TemplateInput {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        TemplateInput {
            key: Some(self.key.clone()),
            kind: Some(self.kind.clone()),
            name: self.name.clone(),
            subject: opt(&self.subject),
            html: self.html.clone(),
            text: opt(&self.text),
        }
    }
}

#[derive(Template)]
#[template(path = "mail_templates.html")]
struct TemplatesPage {
    ui: Ui,
    templates: Vec<TemplateView>,
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    Ok(render_status(
        StatusCode::OK,
        TemplatesPage {
            ui: admin.ui("mailings").with_notice(q.notice.as_deref()),
            templates: templates::all(&app, admin.org_id()).await?,
        },
    ))
}

#[derive(Template)]
#[template(path = "mail_template.html")]
struct TemplatePage {
    ui: Ui,
    errors: Vec<String>,
    /// Editing a saved template (its key is fixed).
    saved: bool,
    t: TemplateForm,
}

fn template_page(
    admin: &Admin,
    status: StatusCode,
    errors: Vec<String>,
    saved: bool,
    t: TemplateForm,
    notice: Option<&str>,
) -> AdminResult {
    Ok(render_status(
        status,
        TemplatePage {
            ui: admin.ui("mailings").with_notice(notice),
            errors,
            saved,
            t,
        },
    ))
}

pub async fn new(admin: Admin) -> AdminResult {
    template_page(
        &admin,
        StatusCode::OK,
        Vec::new(),
        false,
        TemplateForm::of(None),
        None,
    )
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    let form = TemplateForm::posted(&p.form);
    match templates::create(&app, p.admin.org_id(), &form.input()).await {
        Ok(t) => done(&format!("/admin/templates/{}", t.key), "created"),
        Err(e) => template_page(
            &p.admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            field_errors(e)?,
            false,
            form,
            None,
        ),
    }
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    let t = templates::get(&app, admin.org_id(), &key).await?;
    template_page(
        &admin,
        StatusCode::OK,
        Vec::new(),
        true,
        TemplateForm::of(Some(&t)),
        q.notice.as_deref(),
    )
}

pub async fn update(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    let saved = templates::get(&app, p.admin.org_id(), &key).await?;
    let mut form = TemplateForm::posted(&p.form);
    form.key = saved.key.clone();
    form.kind = saved.kind.clone();
    match templates::update(&app, p.admin.org_id(), &saved.key, &form.input()).await {
        Ok(t) => done(&format!("/admin/templates/{}", t.key), "saved"),
        Err(e) => template_page(
            &p.admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            field_errors(e)?,
            true,
            form,
            None,
        ),
    }
}
