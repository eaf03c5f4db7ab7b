//! Export definitions (admins only): a segment's contacts with chosen columns, or the activity
//! log, as CSV or JSON lines, to a source or as a download, once or on a schedule; the runs
//! with their files, a run now, delete.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::schedule_form::ScheduleForm;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::ValidationError;
use crate::services::exports::{self, ExportInput, ExportView, RunView};
use crate::services::sources::{self, SourceView};
use crate::services::ServiceError;

/// A list typed one per line or separated by commas.
fn items(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// An export's fields as the form shows them.
struct ExportForm {
    preset: String,
    name: String,
    kind: String,
    segment: String,
    columns: String,
    kinds: String,
    start: String,
    format: String,
    destination: String,
    file_name: String,
    sched: ScheduleForm,
}

impl ExportForm {
    fn of(v: Option<&ExportView>) -> Self {
        ExportForm {
            preset: String::new(),
            name: v.map(|v| v.name.clone()).unwrap_or_default(),
            kind: v
                .map(|v| v.kind.clone())
                .unwrap_or_else(|| "contacts".into()),
            segment: v
                .and_then(|v| v.segment.as_ref())
                .and_then(|s| serde_json::to_string_pretty(s).ok())
                .unwrap_or_default(),
            columns: v
                .map(|v| v.columns.join("\n"))
                .unwrap_or_else(|| "email\nfirst_name\nlast_name".into()),
            kinds: v.map(|v| v.kinds.join(", ")).unwrap_or_default(),
            start: "beginning".into(),
            format: v.map(|v| v.format.clone()).unwrap_or_else(|| "csv".into()),
            destination: v.and_then(|v| v.destination.clone()).unwrap_or_default(),
            file_name: v.map(|v| v.file_name.clone()).unwrap_or_default(),
            sched: ScheduleForm::of("export", v.map(|v| &v.schedule)),
        }
    }

    fn posted(f: &Form) -> Self {
        ExportForm {
            preset: f.get("preset").to_string(),
            name: f.get("name").to_string(),
            kind: f.get("kind").to_string(),
            segment: f.get("segment").to_string(),
            columns: f.get("columns").to_string(),
            kinds: f.get("kinds").to_string(),
            start: f.get("start").to_string(),
            format: f.get("format").to_string(),
            destination: f.get("destination").to_string(),
            file_name: f.get("file_name").trim().to_string(),
            sched: ScheduleForm::posted("export", f),
        }
    }

    fn input(&self) -> Result<ExportInput, ServiceError> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let segment = match opt(&self.segment) {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                ValidationError::single(
                    "segment",
                    "malformed_json",
                    format!("the segment is not valid JSON: {e}"),
                )
            })?),
            None => None,
        };
        let preset = opt(&self.preset);
        let activity = preset.is_none() && self.kind == "activity";
        Ok(ExportInput {
            kind: preset.is_none().then(|| self.kind.clone()),
            segment: segment.filter(|_| preset.is_none() && !activity),
            columns: (preset.is_none() && !activity).then(|| items(&self.columns)),
            kinds: Some(items(&self.kinds)).filter(|k| activity && !k.is_empty()),
            start: opt(&self.start).filter(|_| preset.is_some() || activity),
            preset,
            name: opt(&self.name),
            format: opt(&self.format),
            destination: opt(&self.destination),
            file_name: opt(&self.file_name),
            schedule: Some(self.sched.schedule()),
        })
    }
}

#[derive(Template)]
#[template(path = "exports.html")]
struct ExportsPage {
    ui: Ui,
    errors: Vec<String>,
    exports: Vec<ExportView>,
    destinations: Vec<SourceView>,
    export: ExportForm,
    sched: ScheduleForm,
}

async fn list_page(
    app: &App,
    admin: &Admin,
    errors: Vec<String>,
    mut form: ExportForm,
    notice: Option<&str>,
) -> AdminResult {
    let who = admin.admin_principal()?;
    let sched = std::mem::replace(&mut form.sched, ScheduleForm::of("export", None));
    Ok(render_status(
        form_status(&errors),
        ExportsPage {
            ui: admin.ui("imports").with_notice(notice),
            errors,
            exports: exports::list(app, &who).await?,
            destinations: sources::list(app, &who).await?,
            export: form,
            sched,
        },
    ))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    list_page(
        &app,
        &admin,
        Vec::new(),
        ExportForm::of(None),
        q.notice.as_deref(),
    )
    .await
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let form = ExportForm::posted(&p.form);
    let outcome = match form.input() {
        Ok(input) => exports::create(&app, &p.admin.admin_principal()?, &input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(v) => done(&format!("/admin/exports/{}", v.id), "created"),
        Err(e) => {
            let errors = field_errors(e)?;
            list_page(&app, &p.admin, errors, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "export.html")]
struct ExportPage {
    ui: Ui,
    errors: Vec<String>,
    v: ExportView,
    runs: Vec<RunView>,
    destinations: Vec<SourceView>,
    export: ExportForm,
    sched: ScheduleForm,
}

async fn export_page(
    app: &App,
    admin: &Admin,
    id: i64,
    errors: Vec<String>,
    posted: Option<ExportForm>,
    notice: Option<&str>,
) -> AdminResult {
    let who = admin.admin_principal()?;
    let v = exports::get(app, &who, id).await?;
    let mut export = posted.unwrap_or_else(|| ExportForm::of(Some(&v)));
    let sched = std::mem::replace(&mut export.sched, ScheduleForm::of("export", None));
    Ok(render_status(
        form_status(&errors),
        ExportPage {
            ui: admin.ui("imports").with_notice(notice),
            errors,
            runs: exports::runs(app, &who, id).await?,
            destinations: sources::list(app, &who).await?,
            v,
            export,
            sched,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    export_page(&app, &admin, id, Vec::new(), None, q.notice.as_deref()).await
}

pub async fn update(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let form = ExportForm::posted(&p.form);
    let outcome = match form.input() {
        Ok(input) => exports::update(&app, &p.admin.admin_principal()?, id, &input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(v) => done(&format!("/admin/exports/{}", v.id), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            export_page(&app, &p.admin, id, errors, Some(form), None).await
        }
    }
}

/// Runs the export now and shows the page with the new run.
pub async fn run(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    match exports::run_now(&app, &p.admin.admin_principal()?, id).await {
        Ok(_) => done(&format!("/admin/exports/{id}"), "ran"),
        Err(e) => {
            let errors = field_errors(e)?;
            export_page(&app, &p.admin, id, errors, None, None).await
        }
    }
}

pub async fn delete(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    exports::delete(&app, &p.admin.admin_principal()?, id).await?;
    done("/admin/exports", "deleted")
}

/// The file of a download run.
pub async fn download(
    State(app): State<App>,
    admin: Admin,
    Path(run): Path<i64>,
) -> AdminResult<Response> {
    admin.require_admin()?;
    let (path, name) = exports::download(&app, &admin.admin_principal()?, run).await?;
    Ok(crate::http::download::file(&path, &name).await?)
}
