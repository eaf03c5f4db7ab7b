//! Exports (the Deployteq "data out" row): the contacts of a segment with chosen columns, or
//! the activity log from where the last run stopped (bounce and unsubscribe exports are
//! ready-made ones), as CSV or JSON lines, to a source (folder or SFTP server) or as a
//! download, once or on a schedule. Rows are read and written page by page, so memory stays
//! flat however many contacts there are.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::activity;
use super::tokens::Principal;
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::export::{file_name_ok, parse_columns, Column, Format};
use crate::domain::schedule::{fill_date_variables, Schedule};
use crate::domain::segment::Segment;
use crate::domain::{FieldError, Scope, ValidationError};
use crate::store::{ExportContact, ExportRow, ExportRunRow, RunOutcome};

/// Contacts read per page.
const PAGE: i64 = 1_000;
/// Activity events read per page.
const ACTIVITY_PAGE: i64 = 5_000;
/// How long a node holds an export it runs before another may take it over.
const LEASE_MS: i64 = 60 * 60 * 1000;
/// A failed run is tried again this much later (or at its next time, if sooner).
const RETRY_MS: i64 = 5 * 60 * 1000;
/// Downloads are kept this long.
pub const DOWNLOAD_DAYS: i64 = 7;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportInput {
    /// `bounces` (bounce and complaint events) or `unsubscribes`: a ready-made activity export;
    /// kind, kinds and columns come from it.
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// contacts (default) or activity
    #[serde(default)]
    pub kind: Option<String>,
    /// Contacts: a segment (as mailings take it); absent: every contact.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub segment: Option<Value>,
    /// Contacts: the columns (contact fields, `attributes.NAME`, `subscription.OPTIN_KEY`, `tags`).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Activity: the kinds of events (absent: all).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Activity: `beginning` (default: the first run exports the whole log) or `now` (only
    /// events from when the export is made).
    #[serde(default)]
    pub start: Option<String>,
    /// csv (default) or jsonl
    #[serde(default)]
    pub format: Option<String>,
    /// The key of a source (folder or SFTP server) to write to; absent: a download.
    #[serde(default)]
    pub destination: Option<String>,
    /// The file name, with `{yyyy}` `{MM}` `{dd}` `{HH}` `{mm}` (UTC) filled in per run.
    #[serde(default)]
    pub file_name: Option<String>,
    /// When it runs (default: once, at once).
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportView {
    pub id: i64,
    pub name: String,
    pub kind: String,
    #[schema(value_type = Option<Object>)]
    pub segment: Option<Value>,
    pub columns: Vec<String>,
    pub kinds: Vec<String>,
    pub format: String,
    /// The source written to; null: a download.
    pub destination: Option<String>,
    pub file_name: String,
    pub schedule: Schedule,
    pub next_run_at: Option<String>,
    /// Activity: where the next run goes on from.
    pub cursor: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: i64,
    pub export_id: i64,
    /// running, done or failed
    pub status: String,
    pub rows: i64,
    pub bytes: i64,
    pub file_name: Option<String>,
    /// Where to fetch a download (for 7 days).
    pub download: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

fn preset(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    match name {
        "bounces" => Some(("Bounces", &["bounce", "complaint"])),
        "unsubscribes" => Some(("Unsubscribes", &["unsubscribe"])),
        _ => None,
    }
}

/// The checked definition of an export (without its id and times).
async fn definition(app: &App, org_id: i64, input: &ExportInput) -> ServiceResult<ExportRow> {
    let mut errors: Vec<FieldError> = Vec::new();
    let preset = match input.preset.as_deref() {
        None => None,
        Some(p) => match preset(p) {
            Some(found) => Some(found),
            None => {
                errors.push(FieldError::new(
                    "preset",
                    "unknown_preset",
                    "presets are bounces and unsubscribes",
                ));
                None
            }
        },
    };
    let kind = match (preset, input.kind.as_deref()) {
        (Some(_), None | Some("activity")) => "activity",
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "kind",
                "invalid_kind",
                "a preset is an activity export",
            ));
            "activity"
        }
        (None, None | Some("contacts")) => "contacts",
        (None, Some("activity")) => "activity",
        (None, Some(_)) => {
            errors.push(FieldError::new(
                "kind",
                "invalid_kind",
                "kind is contacts or activity",
            ));
            "contacts"
        }
    };
    let name = input
        .name
        .clone()
        .or_else(|| preset.map(|(n, _)| n.to_string()))
        .unwrap_or_default();
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "1 to 200 characters",
        ));
    }
    let mut segment = None;
    let mut columns: Vec<String> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    let mut cursor = None;
    if kind == "contacts" {
        if input.start.is_some() {
            errors.push(FieldError::new(
                "start",
                "not_allowed",
                "start is for activity exports",
            ));
        }
        if input.kinds.is_some() {
            errors.push(FieldError::new(
                "kinds",
                "not_allowed",
                "kinds are for activity exports",
            ));
        }
        match &input.segment {
            None | Some(Value::Null) => {}
            Some(v) => match Segment::parse(v) {
                Ok(_) => segment = Some(v.to_string()),
                Err(e) => errors.extend(e.0),
            },
        }
        let names = input.columns.clone().unwrap_or_default();
        match parse_columns(&names) {
            Ok(cols) => {
                for (i, c) in cols.iter().enumerate() {
                    if let Column::Subscription(key) = c {
                        if found(app.store.list_by_key(org_id, key).await)?.is_none() {
                            errors.push(FieldError::new(
                                format!("columns[{i}]"),
                                "unknown_optin",
                                format!("there is no opt-in '{key}'"),
                            ));
                        }
                    }
                }
                columns = names;
            }
            Err(e) => errors.extend(e),
        }
    } else {
        if input.segment.is_some() || input.columns.is_some() {
            errors.push(FieldError::new(
                "columns",
                "not_allowed",
                "an activity export has the columns of GET /api/v1/events; segment and columns are for contact exports",
            ));
        }
        let wanted: Vec<String> = match (&input.kinds, preset) {
            (Some(k), _) => k.clone(),
            (None, Some((_, k))) => k.iter().map(|s| s.to_string()).collect(),
            (None, None) => Vec::new(),
        };
        match activity::parse_kinds(Some(&wanted.join(","))) {
            Ok(k) => kinds = k.iter().map(|s| s.to_string()).collect(),
            Err(e) => errors.extend(e.0),
        }
        match input.start.as_deref() {
            None | Some("beginning") => {}
            Some("now") => {
                cursor = Some(activity::format_cursor(
                    app.store.activity_end(org_id).await?,
                ))
            }
            Some(_) => errors.push(FieldError::new(
                "start",
                "invalid_start",
                "beginning or now",
            )),
        }
    }
    let format = match Format::parse(input.format.as_deref().unwrap_or("csv")) {
        Some(f) => f,
        None => {
            errors.push(FieldError::new(
                "format",
                "invalid_format",
                "format is csv or jsonl",
            ));
            Format::Csv
        }
    };
    let source_id = match input.destination.as_deref() {
        None => None,
        Some(key) => match found(app.store.source_by_key(org_id, key).await)? {
            Some(s) => Some(s.id),
            None => {
                errors.push(FieldError::new(
                    "destination",
                    "unknown_source",
                    format!(
                        "there is no source '{}' (create it under /api/v1/sources)",
                        key.chars().take(64).collect::<String>()
                    ),
                ));
                None
            }
        },
    };
    let file_name = input.file_name.clone().unwrap_or_else(|| {
        let stem: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!(
            "{stem}_{{yyyy}}{{MM}}{{dd}}_{{HH}}{{mm}}.{}",
            format.as_str()
        )
    });
    if !file_name_ok(&fill_date_variables(&file_name, 0)) {
        errors.push(FieldError::new(
            "file_name",
            "invalid_file_name",
            "a file name of 1 to 200 characters, without / or \\, not starting with a dot",
        ));
    }
    let schedule = input.schedule.clone().unwrap_or_else(Schedule::once);
    if let Err(e) = schedule.validate("schedule") {
        errors.extend(e.0);
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors).into());
    }
    let now = app.now();
    Ok(ExportRow {
        org_id,
        id: 0,
        name,
        kind: kind.into(),
        segment,
        columns: json!(columns).to_string(),
        kinds: json!(kinds).to_string(),
        cursor,
        format: format.as_str().into(),
        source_id,
        file_name,
        next_run_at: schedule.next_run(now, false),
        schedule: serde_json::to_string(&schedule)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        created_at: now,
        updated_at: now,
    })
}

async fn view(app: &App, e: &ExportRow) -> ServiceResult<ExportView> {
    let destination = match e.source_id {
        Some(id) => found(app.store.source(e.org_id, id).await)?.map(|s| s.key),
        None => None,
    };
    Ok(ExportView {
        id: e.id,
        name: e.name.clone(),
        kind: e.kind.clone(),
        segment: e
            .segment
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        columns: serde_json::from_str(&e.columns).unwrap_or_default(),
        kinds: serde_json::from_str(&e.kinds).unwrap_or_default(),
        format: e.format.clone(),
        destination,
        file_name: e.file_name.clone(),
        schedule: serde_json::from_str(&e.schedule).unwrap_or_else(|_| Schedule::once()),
        next_run_at: e.next_run_at.map(rfc3339),
        cursor: e.cursor.clone(),
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
    })
}

fn run_view(r: &ExportRunRow) -> RunView {
    RunView {
        id: r.id,
        export_id: r.export_id,
        status: r.status.clone(),
        rows: r.rows,
        bytes: r.bytes,
        file_name: r.file_name.clone(),
        download: r
            .file_path
            .as_ref()
            .map(|_| format!("/api/v1/exports/runs/{}/file", r.id)),
        error: r.error.clone(),
        started_at: rfc3339(r.started_at),
        finished_at: r.finished_at.map(rfc3339),
    }
}

pub async fn create(app: &App, p: &Principal, input: &ExportInput) -> ServiceResult<ExportView> {
    p.require(Scope::Admin)?;
    let mut e = definition(app, p.org_id, input).await?;
    e.id = app.store.save_export(&e).await?;
    tracing::info!(org = p.org_id, export = e.id, kind = %e.kind, "export defined");
    view(app, &e).await
}

pub async fn update(
    app: &App,
    p: &Principal,
    id: i64,
    input: &ExportInput,
) -> ServiceResult<ExportView> {
    p.require(Scope::Admin)?;
    let old = app
        .store
        .export(p.org_id, id)
        .await
        .or_not_found("export")?;
    let mut e = definition(app, p.org_id, input).await?;
    e.id = old.id;
    e.created_at = old.created_at;
    app.store.save_export(&e).await?;
    view(app, &app.store.export(p.org_id, id).await?).await
}

pub async fn delete(app: &App, p: &Principal, id: i64) -> ServiceResult<()> {
    p.require(Scope::Admin)?;
    let files = app
        .store
        .delete_export(p.org_id, id)
        .await?
        .ok_or(ServiceError::NotFound("export"))?;
    for f in files {
        let _ = tokio::fs::remove_file(f).await;
    }
    Ok(())
}

pub async fn list(app: &App, p: &Principal) -> ServiceResult<Vec<ExportView>> {
    p.require(Scope::ExportsRead)?;
    let mut out = Vec::new();
    for e in app.store.exports(p.org_id).await? {
        out.push(view(app, &e).await?);
    }
    Ok(out)
}

pub async fn get(app: &App, p: &Principal, id: i64) -> ServiceResult<ExportView> {
    p.require(Scope::ExportsRead)?;
    view(
        app,
        &app.store
            .export(p.org_id, id)
            .await
            .or_not_found("export")?,
    )
    .await
}

pub async fn runs(app: &App, p: &Principal, id: i64) -> ServiceResult<Vec<RunView>> {
    p.require(Scope::ExportsRead)?;
    app.store
        .export(p.org_id, id)
        .await
        .or_not_found("export")?;
    Ok(app
        .store
        .export_runs(p.org_id, id, 100)
        .await?
        .iter()
        .map(run_view)
        .collect())
}

/// Runs an export now (its schedule stays as it is); the run is returned when it is done.
/// It writes to the destination and moves an activity export on: admins only.
pub async fn run_now(app: &App, p: &Principal, id: i64) -> ServiceResult<RunView> {
    p.require(Scope::Admin)?;
    app.store
        .export(p.org_id, id)
        .await
        .or_not_found("export")?;
    let now = app.now();
    let Some((e, run)) = app
        .store
        .start_export_run(Some((p.org_id, id)), now, now + LEASE_MS, |_| None)
        .await?
    else {
        return Err(ServiceError::Conflict {
            field: "id",
            message: "the export is running right now; try again when it is done".into(),
        });
    };
    execute(app, &e, &run, None).await?;
    Ok(run_view(&app.store.export_run(p.org_id, run.id).await?))
}

/// The file of a download run, with its name.
pub async fn download(app: &App, p: &Principal, run_id: i64) -> ServiceResult<(PathBuf, String)> {
    p.require(Scope::ExportsRead)?;
    let run = app
        .store
        .export_run(p.org_id, run_id)
        .await
        .or_not_found("export run")?;
    match (run.file_path, run.file_name) {
        (Some(path), Some(name)) => Ok((PathBuf::from(path), name)),
        _ => Err(ServiceError::NotFound("download")),
    }
}

/// Runs the exports whose time has come; returns how many ran.
pub async fn tick(app: &App) -> ServiceResult<usize> {
    let mut ran = 0;
    loop {
        let now = app.now();
        let next = |e: &ExportRow| {
            serde_json::from_str::<Schedule>(&e.schedule)
                .ok()
                .and_then(|s| s.next_run(now, true))
        };
        let Some((e, run)) = app
            .store
            .start_export_run(None, now, now + LEASE_MS, next)
            .await?
        else {
            break;
        };
        execute(app, &e, &run, None).await?;
        ran += 1;
    }
    Ok(ran)
}

/// Removes the files of downloads older than `DOWNLOAD_DAYS`; returns how many.
pub async fn expire_downloads(app: &App) -> ServiceResult<u64> {
    let files = app
        .store
        .expire_export_files(app.now() - DOWNLOAD_DAYS * 86_400_000)
        .await?;
    for f in &files {
        let _ = tokio::fs::remove_file(f).await;
    }
    Ok(files.len() as u64)
}

fn exports_dir(app: &App, org_id: i64) -> PathBuf {
    app.config.data_dir.join("exports").join(org_id.to_string())
}

/// Writes a run's file and hands it over; the outcome (rows, or the error) is recorded on
/// the run. Only a failure to record it is an error here.
async fn execute(
    app: &App,
    e: &ExportRow,
    run: &ExportRunRow,
    only: Option<&[i64]>,
) -> ServiceResult<RunOutcome> {
    let started = std::time::Instant::now();
    let outcome = match write_and_deliver(app, e, run, only).await {
        Ok(o) => o,
        Err(err) => RunOutcome {
            error: Some(err),
            ..RunOutcome::default()
        },
    };
    tracing::info!(
        org = e.org_id,
        export = e.id,
        run = run.id,
        rows = outcome.rows,
        error = outcome.error.as_deref().unwrap_or(""),
        ms = started.elapsed().as_millis() as u64,
        "export run"
    );
    let now = app.now();
    // A failed run of the definition is tried again soon; one for an automation's bucket is
    // retried by its job.
    let retry_at = only.is_none().then_some(now + RETRY_MS);
    app.store
        .finish_export_run(run, &outcome, retry_at, now)
        .await?;
    Ok(outcome)
}

/// Writes the export's columns for these contacts only (an automation's export step) and
/// hands the file over; the run is recorded like any other. Err: why it failed.
pub async fn run_for_contacts(
    app: &App,
    org_id: i64,
    export_id: i64,
    contacts: &[i64],
) -> Result<RunOutcome, ServiceError> {
    let export = app
        .store
        .export(org_id, export_id)
        .await
        .or_not_found("export")?;
    if export.kind != "contacts" {
        return Err(ValidationError::single(
            "export",
            "not_a_contact_export",
            format!("export {export_id} exports the activity log, not contacts"),
        )
        .into());
    }
    let now = app.now();
    let Some((e, run)) = app
        .store
        .start_export_run(Some((org_id, export_id)), now, now + LEASE_MS, |_| None)
        .await?
    else {
        return Err(ServiceError::Conflict {
            field: "export",
            message: "the export is running right now".into(),
        });
    };
    execute(app, &e, &run, Some(contacts)).await
}

async fn write_and_deliver(
    app: &App,
    e: &ExportRow,
    run: &ExportRunRow,
    only: Option<&[i64]>,
) -> Result<RunOutcome, String> {
    let dir = exports_dir(app, e.org_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|err| err.to_string())?;
    let format = Format::parse(&e.format).unwrap_or(Format::Csv);
    let local = dir.join(format!("{}.{}", run.id, format.as_str()));
    let file_name = run_file_name(&e.file_name, run, only.is_some());
    let written = match e.kind.as_str() {
        "activity" => write_activity(app, e, format, &local).await,
        _ => write_contacts_of(app, e, only, format, &local)
            .await
            .map(|rows| (rows, None)),
    };
    let (rows, cursor) = match written {
        Ok(w) => w,
        Err(err) => {
            let _ = tokio::fs::remove_file(&local).await;
            return Err(err);
        }
    };
    let bytes = tokio::fs::metadata(&local)
        .await
        .map(|m| m.len() as i64)
        .unwrap_or(0);
    let mut out = RunOutcome {
        rows,
        bytes,
        file_name: Some(file_name.clone()),
        cursor,
        ..RunOutcome::default()
    };
    match e.source_id {
        None => out.file_path = Some(local.to_string_lossy().into_owned()),
        Some(source_id) => {
            let delivered = async {
                let source = app
                    .store
                    .source(e.org_id, source_id)
                    .await
                    .map_err(|_| "the destination source is gone".to_string())?;
                let mut session = super::sources::open(app, &source).await?;
                session.put(&local, &file_name).await
            }
            .await;
            let _ = tokio::fs::remove_file(&local).await;
            delivered?;
        }
    }
    Ok(out)
}

/// One output file: CSV with a header, or one JSON object per line.
enum Sink {
    Csv(Box<csv::Writer<BufWriter<std::fs::File>>>),
    Lines(BufWriter<std::fs::File>),
}

impl Sink {
    fn create(path: &Path, format: Format, header: &[String]) -> Result<Sink, String> {
        let file = BufWriter::with_capacity(
            256 * 1024,
            std::fs::File::create(path).map_err(|e| e.to_string())?,
        );
        Ok(match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(header).map_err(|e| e.to_string())?;
                Sink::Csv(Box::new(w))
            }
            Format::JsonLines => Sink::Lines(file),
        })
    }

    fn write(&mut self, cells: &[String], object: impl FnOnce() -> Value) -> Result<(), String> {
        match self {
            Sink::Csv(w) => w.write_record(cells).map_err(|e| e.to_string()),
            Sink::Lines(w) => {
                serde_json::to_writer(&mut *w, &object()).map_err(|e| e.to_string())?;
                w.write_all(b"\n").map_err(|e| e.to_string())
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        let file = match self {
            Sink::Csv(w) => w.into_inner().map_err(|e| e.to_string())?,
            Sink::Lines(w) => w,
        };
        let file = file.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())
    }
}

/// The file name of a run: the pattern with its date variables and `{run}` (the run's id)
/// filled in. Runs for buckets, which may come several a minute, always carry the run id.
fn run_file_name(pattern: &str, run: &ExportRunRow, bucket: bool) -> String {
    let pattern = if bucket && !pattern.contains("{run}") {
        match pattern.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}_{{run}}.{ext}"),
            None => format!("{pattern}_{{run}}"),
        }
    } else {
        pattern.to_string()
    };
    fill_date_variables(&pattern, run.started_at).replace("{run}", &run.id.to_string())
}

/// Writes the contacts of an export's segment (or of `only`); returns the rows written.
async fn write_contacts_of(
    app: &App,
    e: &ExportRow,
    only: Option<&[i64]>,
    format: Format,
    path: &Path,
) -> Result<i64, String> {
    let names: Vec<String> = serde_json::from_str(&e.columns).map_err(|err| err.to_string())?;
    let columns = parse_columns(&names)
        .map_err(|_| "the export's columns are no longer valid".to_string())?;
    let segment = match &e.segment {
        Some(s) => Some(
            serde_json::from_str::<Value>(s)
                .ok()
                .and_then(|v| Segment::parse(&v).ok())
                .ok_or("the export's segment is no longer valid")?,
        ),
        None => None,
    };
    // Opt-in keys to ids, once.
    let mut lists: HashMap<String, i64> = HashMap::new();
    for c in &columns {
        if let Column::Subscription(key) = c {
            let list = app
                .store
                .list_by_key(e.org_id, key)
                .await
                .map_err(|_| format!("the opt-in '{key}' is gone"))?;
            lists.insert(key.clone(), list.id);
        }
    }
    let list_ids: Vec<i64> = lists.values().copied().collect();
    let wants_tags = columns.contains(&Column::Tags);
    let mut sink = Sink::create(path, format, &names)?;
    let (mut after, mut rows) = (0, 0);
    loop {
        let page = app
            .store
            .export_contacts_page(
                e.org_id,
                segment.as_ref(),
                only,
                after,
                PAGE,
                &list_ids,
                wants_tags,
                app.now(),
            )
            .await
            .map_err(|err| err.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.contact.id;
        for c in &page {
            let values: Vec<Value> = columns.iter().map(|col| cell(c, col, &lists)).collect();
            let cells: Vec<String> = values.iter().map(csv_text).collect();
            sink.write(&cells, || {
                Value::Object(
                    names
                        .iter()
                        .cloned()
                        .zip(values.iter().cloned())
                        .collect::<Map<_, _>>(),
                )
            })?;
        }
        rows += page.len() as i64;
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    sink.finish()?;
    Ok(rows)
}

/// Writes the activity after the export's cursor; returns the rows and the new cursor.
async fn write_activity(
    app: &App,
    e: &ExportRow,
    format: Format,
    path: &Path,
) -> Result<(i64, Option<String>), String> {
    let kinds: Vec<String> = serde_json::from_str(&e.kinds).map_err(|err| err.to_string())?;
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let mut cursor = activity::parse_cursor(e.cursor.as_deref()).map_err(|err| err.to_string())?;
    let header: Vec<String> = activity::CSV_HEADER.iter().map(|s| s.to_string()).collect();
    let mut sink = Sink::create(path, format, &header)?;
    let mut rows = 0;
    loop {
        let page = app
            .store
            .activity_page(e.org_id, cursor, &kinds, ACTIVITY_PAGE)
            .await
            .map_err(|err| err.to_string())?;
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        let n = page.len() as i64;
        for r in page {
            let v = activity::view(r);
            sink.write(&activity::csv_record(&v), || json!(v))?;
        }
        rows += n;
        if n < ACTIVITY_PAGE {
            break;
        }
    }
    sink.finish()?;
    Ok((rows, Some(activity::format_cursor(cursor))))
}

fn cell(c: &ExportContact, col: &Column, lists: &HashMap<String, i64>) -> Value {
    match col {
        Column::Field(f) => c.contact.field_value(f),
        Column::Attribute(a) => serde_json::from_str::<Value>(&c.contact.attributes)
            .ok()
            .and_then(|v| v.get(a).cloned())
            .unwrap_or(Value::Null),
        Column::Subscription(key) => lists
            .get(key)
            .and_then(|id| c.subscriptions.get(id))
            .map_or(Value::Null, |s| Value::String(s.clone())),
        Column::Tags => Value::Array(c.tags.iter().cloned().map(Value::String).collect()),
    }
}

/// A value as a CSV cell: text as it is, lists joined with `|`, nothing for null.
fn csv_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(csv_text).collect::<Vec<_>>().join("|"),
        other => other.to_string(),
    }
}
