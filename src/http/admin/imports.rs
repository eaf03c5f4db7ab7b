//! Contact imports: upload a CSV, map its columns with a preview of the first rows, choose the
//! consent basis, then watch the import run and download its error report.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::error::{AdminError, AdminResult};
use super::form::Form;
use super::i18n::Ui;
use super::session::{check_form, Admin, Posted};
use super::{field_errors, form_status, render, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::import::{ConsentInput, MappingInput};
use crate::domain::Scope;
use crate::services::imports::{self, FilePreview, ImportView};
use crate::services::tokens::Principal;
use crate::services::{lists, ServiceError};

/// Data rows shown under the column choices.
const PREVIEW_ROWS: usize = 5;

/// The contact fields a column can fill: (target, label).
pub(super) const FIELDS: &[(&str, &str)] = &[
    ("email", "E-mail address"),
    ("external_id", "External id"),
    ("first_name", "First name"),
    ("name_prefix", "Name prefix"),
    ("last_name", "Last name"),
    ("organisation", "Organisation"),
    ("street", "Street"),
    ("house_number", "House number"),
    ("zipcode", "Postcode"),
    ("city", "City"),
    ("country", "Country (ISO code)"),
    ("mobile", "Mobile"),
    ("phone", "Phone"),
    ("language", "Language (nl, en, de, fr)"),
    ("tags", "Tags"),
];

/// The import acts for the signed-in user, with the scope an import needs.
fn principal(admin: &Admin) -> Principal {
    admin.principal(&[Scope::ImportsWrite])
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ImportsPage {
    ui: Ui,
    errors: Vec<String>,
    imports: Vec<ImportView>,
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    Ok(render(ImportsPage {
        errors: Vec::new(),
        imports: imports::list(&app, &principal(&admin)).await?,
        ui: admin.ui("imports").with_notice(q.notice.as_deref()),
    }))
}

#[derive(Deserialize)]
pub struct CsrfQuery {
    csrf: Option<String>,
}

/// Takes the uploaded file (multipart, the CSRF token in the query) and goes on to the mapping.
pub async fn upload(
    State(app): State<App>,
    admin: Admin,
    headers: HeaderMap,
    Query(q): Query<CsrfQuery>,
    mut form: Multipart,
) -> AdminResult {
    check_form(
        &headers,
        q.csrf.as_deref().unwrap_or(""),
        &admin.session.csrf_token,
    )?;
    let dir = imports::files_dir(&app, admin.org_id());
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.join(format!("{id}.csv"));
    let mut name = None;
    while let Ok(Some(mut field)) = form.next_field().await {
        if field.name() != Some("file") {
            continue;
        }
        name = Some(field.file_name().unwrap_or("upload.csv").to_string());
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        loop {
            match field.chunk().await {
                Ok(Some(bytes)) => out
                    .write_all(&bytes)
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
                Ok(None) => break,
                Err(_) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(AdminError::TooLarge);
                }
            }
        }
        out.flush()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        let _ = tokio::fs::remove_file(&path).await;
        return Ok(Redirect::to("/admin/imports").into_response());
    };
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("name", &name.chars().take(255).collect::<String>())
        .finish();
    Ok(Redirect::to(&format!("/admin/imports/new/{id}?{q}")).into_response())
}

struct ColumnChoice {
    index: usize,
    header: String,
    chosen: String,
}

#[derive(Template)]
#[template(path = "import_map.html")]
struct MapPage {
    ui: Ui,
    errors: Vec<String>,
    file: String,
    name: String,
    preview: FilePreview,
    columns: Vec<ColumnChoice>,
    fields: &'static [(&'static str, &'static str)],
    optins: Vec<String>,
    f: Form,
}

#[derive(Deserialize)]
pub struct NameQuery {
    name: Option<String>,
}

/// The uploaded file `file` of this organisation (a name we made: 32 hex digits).
fn uploaded(app: &App, admin: &Admin, file: &str) -> AdminResult<std::path::PathBuf> {
    if file.len() != 32 || !file.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::NotFound);
    }
    let path = imports::files_dir(app, admin.org_id()).join(format!("{file}.csv"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(AdminError::NotFound)
    }
}

/// The target a header most likely means (`E-mail`, `Voornaam`, `city` …), or "" (skip).
fn guess(header: &str) -> String {
    let h: String = header
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let t = match h.as_str() {
        "email" | "emailaddress" | "emailadres" | "mail" => "email",
        "externalid" | "id" | "customerid" | "klantnummer" => "external_id",
        "firstname" | "voornaam" => "first_name",
        "lastname" | "achternaam" | "surname" => "last_name",
        "nameprefix" | "tussenvoegsel" => "name_prefix",
        "city" | "plaats" | "woonplaats" | "stad" => "city",
        "zipcode" | "postcode" | "postalcode" => "zipcode",
        "street" | "straat" => "street",
        "country" | "land" => "country",
        "phone" | "telefoon" => "phone",
        "mobile" | "mobiel" => "mobile",
        "language" | "taal" => "language",
        "tags" => "tags",
        _ => "",
    };
    t.to_string()
}

async fn map_page(
    app: &App,
    admin: &Admin,
    file: &str,
    name: &str,
    f: Form,
    errors: Vec<String>,
) -> AdminResult {
    let path = uploaded(app, admin, file)?;
    let preview = match imports::preview(&path, f.checked("windows_1252"), PREVIEW_ROWS) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let errors = field_errors(e)?;
            return Ok(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                ImportsPage {
                    ui: admin.ui("imports"),
                    errors,
                    imports: imports::list(app, &principal(admin)).await?,
                },
            ));
        }
    };
    let columns = preview
        .headers
        .iter()
        .enumerate()
        .map(|(index, header)| ColumnChoice {
            index,
            header: header.clone(),
            chosen: if f.get("submitted").is_empty() {
                guess(header)
            } else {
                f.get(&format!("col_{index}")).to_string()
            },
        })
        .collect();
    let optins = lists::all(app, admin.org_id())
        .await?
        .into_iter()
        .filter(|l| !l.archived)
        .map(|l| l.key)
        .collect();
    Ok(render_status(
        form_status(&errors),
        MapPage {
            ui: admin.ui("imports"),
            errors,
            file: file.to_string(),
            name: name.to_string(),
            preview,
            columns,
            fields: FIELDS,
            optins,
            f,
        },
    ))
}

pub async fn map(
    State(app): State<App>,
    admin: Admin,
    Path(file): Path<String>,
    Query(q): Query<NameQuery>,
) -> AdminResult {
    let name = q.name.unwrap_or_else(|| "upload.csv".into());
    map_page(&app, &admin, &file, &name, Form::parse(b""), Vec::new()).await
}

/// The mapping as the import API takes it, from the form.
fn mapping_from(f: &Form, headers: &[String]) -> MappingInput {
    let clear = f.get("empty") == "clear";
    let mut columns = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        let target = f.get(&format!("col_{i}"));
        if target.is_empty() {
            continue;
        }
        let to = if target == "attribute" {
            format!("attributes.{}", attribute_name(h))
        } else {
            target.to_string()
        };
        columns.insert(
            h.clone(),
            if clear {
                json!({"to": to, "empty": "clear"})
            } else {
                Value::String(to)
            },
        );
    }
    let consent = match f.get("consent") {
        "asserted" => Some(ConsentInput {
            basis: "asserted".into(),
            note: f.opt("note").map(String::from),
        }),
        "confirm" => Some(ConsentInput {
            basis: "confirm".into(),
            note: None,
        }),
        _ => None,
    };
    MappingInput {
        match_on: f.opt("match").map(String::from),
        mode: f.opt("mode").map(String::from),
        encoding: f.checked("windows_1252").then(|| "windows-1252".into()),
        delimiter: None,
        all_or_nothing: f.checked("all_or_nothing"),
        consent,
        automation: None,
        columns,
    }
}

/// A custom attribute's name from a column header: letters, digits and `_`.
fn attribute_name(header: &str) -> String {
    let name: String = header
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() {
        "column".into()
    } else {
        name
    }
}

pub async fn start(State(app): State<App>, Path(file): Path<String>, p: Posted) -> AdminResult {
    let path = uploaded(&app, &p.admin, &file)?;
    let name = p.form.opt("name").unwrap_or("upload.csv").to_string();
    let preview = imports::preview(&path, p.form.checked("windows_1252"), 0)?;
    let mapping = mapping_from(&p.form, &preview.headers);
    // A failed check removes the file; keep a copy so the person can correct the mapping.
    let keep = path.with_extension("keep");
    let _ = std::fs::copy(&path, &keep);
    match imports::create(&app, &principal(&p.admin), "admin", &name, &path, &mapping).await {
        Ok(row) => {
            let _ = std::fs::remove_file(&keep);
            Ok(Redirect::to(&format!("/admin/imports/{}?notice=imported", row.id)).into_response())
        }
        Err(e) => {
            let _ = std::fs::rename(&keep, &path);
            let errors = field_errors(e)?;
            let Posted { admin, form } = p;
            map_page(&app, &admin, &file, &name, form, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    ui: Ui,
    i: ImportView,
    running: bool,
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    let i = imports::get(&app, &principal(&admin), id).await?;
    Ok(render(ImportPage {
        running: matches!(i.status.as_str(), "queued" | "running"),
        ui: admin.ui("imports").with_notice(q.notice.as_deref()),
        i,
    }))
}

/// The refused rows of an import as CSV: line, column, code, message.
pub async fn error_report(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> AdminResult {
    let i = imports::get(&app, &principal(&admin), id).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["line", "column", "code", "message"]);
    for e in &i.errors {
        let _ = w.write_record([
            e.line.to_string(),
            e.column.clone(),
            e.code.clone(),
            e.message.clone(),
        ]);
    }
    let body = w.into_inner().unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{id}-errors.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}
