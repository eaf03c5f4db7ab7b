//! Sources (admins only): the drop folders and SFTP servers the organisation's systems leave
//! files in, each with an optional scheduled import (file-name pattern, column mapping, when
//! it runs) and CSV triggers; a connection check, an import run now, and the files seen.

use askama::Template;
use axum::extract::{Path, Query, State};

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::schedule_form::ScheduleForm;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, path_segment, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::import::MappingInput;
use crate::domain::ValidationError;
use crate::services::sources::{
    self, CheckResult, ScheduledImport, SourceFileView, SourceInput, SourceView, TriggerPolling,
};
use crate::services::ServiceError;

/// The mapping a new scheduled import starts with: the API's shape, to adapt.
const EXAMPLE_MAPPING: &str = r#"{
  "match": "email",
  "mode": "upsert",
  "columns": {
    "E-mail": "email",
    "First name": "first_name",
    "Last name": "last_name"
  }
}"#;

/// A source's fields as the form shows them (secrets are never shown back).
struct SourceForm {
    key: String,
    kind: String,
    path: String,
    host: String,
    port: String,
    username: String,
    has_password: bool,
    has_private_key: bool,
    host_key: String,
    import_on: bool,
    pattern: String,
    mapping: String,
    sched: ScheduleForm,
    triggers_on: bool,
    poll_seconds: String,
}

impl SourceForm {
    fn of(v: Option<&SourceView>) -> Self {
        let import = v.and_then(|v| v.import.as_ref());
        SourceForm {
            key: v.map(|v| v.key.clone()).unwrap_or_default(),
            kind: v.map(|v| v.kind.clone()).unwrap_or_else(|| "folder".into()),
            path: v.map(|v| v.path.clone()).unwrap_or_default(),
            host: v.and_then(|v| v.host.clone()).unwrap_or_default(),
            port: v
                .and_then(|v| v.port)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            username: v.and_then(|v| v.username.clone()).unwrap_or_default(),
            has_password: v.is_some_and(|v| v.has_password),
            has_private_key: v.is_some_and(|v| v.has_private_key),
            host_key: v.and_then(|v| v.host_key.clone()).unwrap_or_default(),
            import_on: import.is_some(),
            pattern: import.map(|i| i.pattern.clone()).unwrap_or_default(),
            mapping: import
                .and_then(|i| serde_json::to_string_pretty(&i.mapping).ok())
                .unwrap_or_else(|| EXAMPLE_MAPPING.into()),
            sched: ScheduleForm::of("import", import.map(|i| &i.schedule)),
            triggers_on: v.is_some_and(|v| v.triggers.is_some()),
            poll_seconds: v
                .and_then(|v| v.triggers.as_ref())
                .map(|t| t.poll_seconds.to_string())
                .unwrap_or_else(|| "60".into()),
        }
    }

    fn posted(f: &Form, stored: Option<&SourceView>) -> Self {
        SourceForm {
            key: f.get("key").trim().to_string(),
            kind: f.get("kind").to_string(),
            path: f.get("path").trim().to_string(),
            host: f.get("host").trim().to_string(),
            port: f.get("port").trim().to_string(),
            username: f.get("username").trim().to_string(),
            has_password: stored.is_some_and(|v| v.has_password),
            has_private_key: stored.is_some_and(|v| v.has_private_key),
            host_key: f.get("host_key").trim().to_string(),
            import_on: f.checked("import_on"),
            pattern: f.get("pattern").trim().to_string(),
            mapping: f.get("mapping").to_string(),
            sched: ScheduleForm::posted("import", f),
            triggers_on: f.checked("triggers_on"),
            poll_seconds: f.get("poll_seconds").trim().to_string(),
        }
    }

    /// The service's input; secrets come from the form only when typed (or removal ticked).
    fn input(&self, f: &Form) -> Result<SourceInput, ServiceError> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let secret = |name: &str, remove: &str| {
            if f.checked(remove) {
                Some(String::new())
            } else {
                f.opt(name).map(String::from)
            }
        };
        let import = if self.import_on {
            let mapping: MappingInput = serde_json::from_str(&self.mapping).map_err(|e| {
                ValidationError::single(
                    "import.mapping",
                    "malformed_json",
                    format!("the mapping is not valid: {e}"),
                )
            })?;
            Some(ScheduledImport {
                pattern: self.pattern.clone(),
                mapping,
                schedule: self.sched.schedule(),
            })
        } else {
            None
        };
        Ok(SourceInput {
            kind: self.kind.clone(),
            path: opt(&self.path),
            host: opt(&self.host),
            port: opt(&self.port).map(|p| p.parse().unwrap_or(0)),
            username: opt(&self.username),
            password: secret("password", "remove_password"),
            private_key: secret("private_key", "remove_private_key"),
            host_key: opt(&self.host_key),
            import,
            triggers: self.triggers_on.then(|| TriggerPolling {
                poll_seconds: self.poll_seconds.parse().unwrap_or(0),
            }),
        })
    }
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    ui: Ui,
    errors: Vec<String>,
    sources: Vec<SourceView>,
    source: SourceForm,
    sched: ScheduleForm,
}

async fn list_page(
    app: &App,
    admin: &Admin,
    errors: Vec<String>,
    mut form: SourceForm,
    notice: Option<&str>,
) -> AdminResult {
    // The schedule fields are a shared partial that reads `sched`.
    let sched = std::mem::replace(&mut form.sched, ScheduleForm::of("import", None));
    Ok(render_status(
        form_status(&errors),
        SourcesPage {
            ui: admin.ui("imports").with_notice(notice),
            errors,
            sources: sources::list(app, &admin.admin_principal()?).await?,
            sched,
            source: form,
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
        SourceForm::of(None),
        q.notice.as_deref(),
    )
    .await
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let who = p.admin.admin_principal()?;
    let form = SourceForm::posted(&p.form, None);
    let exists = !form.key.is_empty() && sources::get(&app, &who, &form.key).await.is_ok();
    let outcome = match (exists, form.input(&p.form)) {
        (true, _) => Err(ServiceError::Conflict {
            field: "key",
            message: format!("a source with key '{}' already exists", form.key),
        }),
        (false, Ok(input)) => sources::save(&app, &who, &form.key, &input).await,
        (false, Err(e)) => Err(e),
    };
    match outcome {
        Ok((v, _)) => done(
            &format!("/admin/sources/{}", path_segment(&v.key)),
            "created",
        ),
        Err(e) => {
            let errors = field_errors(e)?;
            list_page(&app, &p.admin, errors, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    ui: Ui,
    errors: Vec<String>,
    v: SourceView,
    source: SourceForm,
    sched: ScheduleForm,
    files: Vec<SourceFileView>,
    checked: Option<Result<CheckResult, String>>,
    imported: Option<Vec<i64>>,
}

/// What a source's page shows besides the source: the outcome of what was just done.
#[derive(Default)]
struct Outcome {
    errors: Vec<String>,
    posted: Option<SourceForm>,
    checked: Option<Result<CheckResult, String>>,
    imported: Option<Vec<i64>>,
}

async fn source_page(
    app: &App,
    admin: &Admin,
    key: &str,
    o: Outcome,
    notice: Option<&str>,
) -> AdminResult {
    let Outcome {
        errors,
        posted,
        checked,
        imported,
    } = o;
    let who = admin.admin_principal()?;
    let v = sources::get(app, &who, key).await?;
    let mut source = posted.unwrap_or_else(|| SourceForm::of(Some(&v)));
    let sched = std::mem::replace(&mut source.sched, ScheduleForm::of("import", None));
    Ok(render_status(
        form_status(&errors),
        SourcePage {
            ui: admin.ui("imports").with_notice(notice),
            errors,
            files: sources::files(app, &who, key).await?,
            v,
            source,
            sched,
            checked,
            imported,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    source_page(&app, &admin, &key, Outcome::default(), q.notice.as_deref()).await
}

pub async fn update(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let who = p.admin.admin_principal()?;
    let stored = sources::get(&app, &who, &key).await?;
    let mut form = SourceForm::posted(&p.form, Some(&stored));
    form.key = stored.key.clone();
    let outcome = match form.input(&p.form) {
        Ok(input) => sources::save(&app, &who, &stored.key, &input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok((v, _)) => done(&format!("/admin/sources/{}", path_segment(&v.key)), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            let o = Outcome {
                errors,
                posted: Some(form),
                ..Outcome::default()
            };
            source_page(&app, &p.admin, &key, o, None).await
        }
    }
}

/// Logs in and lists the folder; shows what came of it.
pub async fn check(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let checked = match sources::check(&app, &p.admin.admin_principal()?, &key).await {
        Ok(c) => Ok(c),
        Err(ServiceError::Upstream { message, .. }) => Err(message),
        Err(e) => return Err(e.into()),
    };
    let o = Outcome {
        checked: Some(checked),
        ..Outcome::default()
    };
    source_page(&app, &p.admin, &key, o, None).await
}

/// Runs the scheduled import now.
pub async fn run(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let o = match sources::run_import_now(&app, &p.admin.admin_principal()?, &key).await {
        Ok(imports) => Outcome {
            imported: Some(imports.iter().map(|i| i.id).collect()),
            ..Outcome::default()
        },
        Err(ServiceError::Upstream { message, .. }) => Outcome {
            checked: Some(Err(message)),
            ..Outcome::default()
        },
        Err(e) => Outcome {
            errors: field_errors(e)?,
            ..Outcome::default()
        },
    };
    source_page(&app, &p.admin, &key, o, None).await
}

pub async fn delete(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    match sources::delete(&app, &p.admin.admin_principal()?, &key).await {
        Ok(()) => done("/admin/sources", "deleted"),
        Err(e) => {
            let o = Outcome {
                errors: field_errors(e)?,
                ..Outcome::default()
            };
            source_page(&app, &p.admin, &key, o, None).await
        }
    }
}
