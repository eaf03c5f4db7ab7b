//! Sources (the Deployteq drop folders and SFTP servers): a folder under the folder root or
//! a folder on an SFTP server. A source may import a file matching its pattern on a schedule
//! (then move it to `archive/`, or to `failed/` with an error report next to it), pick up CSV
//! triggers (`trigger_{code}_*.csv`) every few seconds, and take exports. A file is never
//! imported twice: its name, size and hash are remembered. A source that cannot be reached
//! keeps its files where they are and says why in `last_error`.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::imports;
use super::tokens::Principal;
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::import::{automation_field_name_ok, MappingInput};
use crate::domain::schedule::{fill_date_variables, Schedule};
use crate::domain::{FieldError, Scope, ValidationError};
use crate::store::{ImportRow, SourceFileRow, SourceRow, SourceWork};
use crate::transfer::{Fetched, RemoteFile, Session, SftpLogin};

/// How long a node holds a source while it works on it.
const LEASE_MS: i64 = 30 * 60 * 1000;
/// After a failed look (the server was down), the next try comes this much later at most.
const RETRY_MS: i64 = 5 * 60 * 1000;
const MIN_POLL_SECS: i64 = 5;
const MAX_POLL_SECS: i64 = 86_400;

#[cfg(test)]
mod tests {
    #[test]
    fn trigger_file_names() {
        assert_eq!(
            super::trigger_codes("trigger_AB_c-d_batch_1.csv"),
            ["AB", "AB_c-d", "AB_c-d_batch"]
        );
        assert!(super::trigger_codes("trigger_AB.csv").is_empty());
        assert!(super::trigger_codes("contacts.csv").is_empty());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// folder (below the server's folder root) or sftp
    pub kind: String,
    /// folder: the folder below the folder root; sftp: the folder on the server (absent:
    /// where the login starts).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    /// Default 22.
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub username: Option<String>,
    /// Write-only; absent keeps the stored one, "" removes it.
    #[serde(default)]
    pub password: Option<String>,
    /// An OpenSSH, PKCS#8 or PEM private key (unencrypted). Write-only; absent keeps the
    /// stored one, "" removes it.
    #[serde(default)]
    pub private_key: Option<String>,
    /// `SHA256:…` (as `ssh-keygen -l` prints it) the server's host key must have; absent: the
    /// first key seen is pinned.
    #[serde(default)]
    pub host_key: Option<String>,
    /// A scheduled import of this source.
    #[serde(default)]
    pub import: Option<ScheduledImport>,
    /// CSV triggers: look for `trigger_{code}_*.csv` files every `poll_seconds`.
    #[serde(default)]
    pub triggers: Option<TriggerPolling>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledImport {
    /// A file name with `*` and `?`, and `{yyyy}` `{MM}` `{dd}` `{HH}` `{mm}` (UTC, the time
    /// of the run): `contacts_{yyyy}{MM}{dd}.csv`.
    pub pattern: String,
    pub mapping: MappingInput,
    pub schedule: Schedule,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerPolling {
    /// 5 to 86,400.
    pub poll_seconds: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub key: String,
    pub kind: String,
    pub path: String,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub username: Option<String>,
    pub has_password: bool,
    pub has_private_key: bool,
    pub host_key: Option<String>,
    pub import: Option<ScheduledImport>,
    pub import_next_at: Option<String>,
    pub triggers: Option<TriggerPolling>,
    pub triggers_next_at: Option<String>,
    /// Why the last look at the source failed (null: it worked).
    pub last_error: Option<String>,
    pub last_run_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceFileView {
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub import_id: Option<i64>,
    /// archive or failed (null while the import runs)
    pub moved_to: Option<String>,
    pub detail: Option<String>,
    pub seen_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// The files in the source's folder.
    pub files: Vec<String>,
    /// The SFTP server's host key (pinned now if none was).
    pub host_key: Option<String>,
}

fn view(s: &SourceRow) -> SourceView {
    let import = match (&s.import_pattern, &s.import_mapping, &s.import_schedule) {
        (Some(pattern), Some(mapping), Some(schedule)) => Some(ScheduledImport {
            pattern: pattern.clone(),
            mapping: serde_json::from_str(mapping).unwrap_or_else(|_| empty_mapping()),
            schedule: serde_json::from_str(schedule).unwrap_or_else(|_| Schedule::once()),
        }),
        _ => None,
    };
    SourceView {
        key: s.key.clone(),
        kind: s.kind.clone(),
        path: s.path.clone(),
        host: s.host.clone(),
        port: s.port,
        username: s.username.clone(),
        has_password: s.password.is_some(),
        has_private_key: s.private_key.is_some(),
        host_key: s.host_key.clone(),
        import,
        import_next_at: s.import_next_at.map(rfc3339),
        triggers: s
            .trigger_poll_secs
            .map(|poll_seconds| TriggerPolling { poll_seconds }),
        triggers_next_at: s.trigger_next_at.map(rfc3339),
        last_error: s.last_error.clone(),
        last_run_at: s.last_run_at.map(rfc3339),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

fn empty_mapping() -> MappingInput {
    serde_json::from_value(serde_json::json!({"columns": {}})).expect("an empty mapping")
}

/// Whether a source key is one: 1 to 64 of `a-z 0-9 - _`.
fn key_ok(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A folder below the root: relative, without `..`.
fn relative_folder(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    (path.len() <= 500
        && !path.contains('\0')
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)))
    .then(|| p.to_path_buf())
}

fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    v: &Option<String>,
    max: usize,
) -> Option<String> {
    let v = v.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    if v.chars().count() > max || v.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "invalid_value",
            format!("at most {max} characters, no control characters"),
        ));
        return None;
    }
    Some(v.to_string())
}

/// Checks an input against what is stored (secrets left out are kept) into a row.
async fn checked(
    app: &App,
    org_id: i64,
    key: &str,
    input: &SourceInput,
    old: Option<&SourceRow>,
) -> ServiceResult<SourceRow> {
    let mut errors = Vec::new();
    if !key_ok(key) {
        errors.push(FieldError::new(
            "key",
            "invalid_key",
            "1 to 64 characters a-z, 0-9, - and _",
        ));
    }
    let now = app.now();
    let mut row = SourceRow {
        org_id,
        id: old.map_or(0, |o| o.id),
        key: key.to_string(),
        kind: input.kind.clone(),
        path: String::new(),
        host: None,
        port: None,
        username: None,
        password: None,
        private_key: None,
        host_key: None,
        import_pattern: None,
        import_mapping: None,
        import_schedule: None,
        import_next_at: None,
        trigger_poll_secs: None,
        trigger_next_at: None,
        last_error: None,
        last_run_at: None,
        created_at: old.map_or(now, |o| o.created_at),
        updated_at: now,
    };
    let secret = |given: &Option<String>, stored: Option<&String>| match given.as_deref() {
        None => stored.cloned(),
        Some("") => None,
        Some(v) => Some(v.to_string()),
    };
    match input.kind.as_str() {
        "folder" => {
            let path = input.path.clone().unwrap_or_default();
            match relative_folder(&path).filter(|_| !path.trim().is_empty()) {
                Some(_) => row.path = path.trim_matches('/').to_string(),
                None => errors.push(FieldError::new(
                    "path",
                    "invalid_path",
                    "a folder below the server's folder root: relative, without ..",
                )),
            }
            for (f, v) in [
                ("host", input.host.is_some()),
                ("username", input.username.is_some()),
                ("password", input.password.is_some()),
                ("private_key", input.private_key.is_some()),
                ("host_key", input.host_key.is_some()),
            ] {
                if v {
                    errors.push(FieldError::new(
                        f,
                        "not_allowed",
                        "only SFTP sources have it",
                    ));
                }
            }
        }
        "sftp" => {
            row.path = text(&mut errors, "path", &input.path, 500).unwrap_or_default();
            row.host = text(&mut errors, "host", &input.host, 253);
            match &row.host {
                Some(h) if h.contains([' ', '/', '@']) => errors.push(FieldError::new(
                    "host",
                    "invalid_host",
                    "a host name or IP address",
                )),
                Some(_) => {}
                None => errors.push(FieldError::new("host", "required", "the SFTP server")),
            }
            let port = input.port.unwrap_or(22);
            if !(1..=65535).contains(&port) {
                errors.push(FieldError::new("port", "invalid_port", "1 to 65535"));
            }
            row.port = Some(port);
            row.username = text(&mut errors, "username", &input.username, 100);
            if row.username.is_none() && !errors.iter().any(|e| e.field == "username") {
                errors.push(FieldError::new(
                    "username",
                    "required",
                    "the user to log in as",
                ));
            }
            row.password = secret(&input.password, old.and_then(|o| o.password.as_ref()));
            row.private_key = secret(&input.private_key, old.and_then(|o| o.private_key.as_ref()));
            if let Some(k) = &row.private_key {
                if k.len() > 16_384 || russh::keys::decode_secret_key(k, None).is_err() {
                    errors.push(FieldError::new(
                        "private_key",
                        "invalid_private_key",
                        "an unencrypted OpenSSH, PKCS#8 or PEM private key",
                    ));
                }
            }
            if row.password.is_none() && row.private_key.is_none() {
                errors.push(FieldError::new(
                    "password",
                    "credentials_required",
                    "a password or a private key",
                ));
            }
            row.host_key = match input.host_key.as_deref().map(str::trim) {
                None => old
                    .filter(|o| o.host == row.host && o.port == row.port)
                    .and_then(|o| o.host_key.clone()),
                Some(k) if k.starts_with("SHA256:") && (47..=51).contains(&k.len()) => {
                    Some(k.to_string())
                }
                Some(_) => {
                    errors.push(FieldError::new(
                        "host_key",
                        "invalid_host_key",
                        "SHA256:… as ssh-keygen -l prints it",
                    ));
                    None
                }
            };
        }
        _ => errors.push(FieldError::new("kind", "invalid_kind", "folder or sftp")),
    }
    if let Some(imp) = &input.import {
        let filled = fill_date_variables(&imp.pattern, now);
        if imp.pattern.trim().is_empty()
            || imp.pattern.chars().count() > 200
            || filled.contains(['/', '\\'])
            || filled.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "import.pattern",
                "invalid_pattern",
                "a file name of at most 200 characters with * ? and date variables, no folders",
            ));
        }
        match imp.mapping.check() {
            Ok(m) => {
                if let Some(code) = &m.automation {
                    if super::automations::published(app, org_id, code)
                        .await
                        .is_err()
                    {
                        errors.push(FieldError::new(
                            "import.mapping.automation",
                            "unknown_trigger",
                            "no published automation has this trigger code",
                        ));
                    }
                }
            }
            Err(e) => errors.extend(e.0.into_iter().map(|mut f| {
                f.field = format!("import.mapping.{}", f.field);
                f
            })),
        }
        if let Err(e) = imp.schedule.validate("import.schedule") {
            errors.extend(e.0);
        }
        row.import_pattern = Some(imp.pattern.clone());
        row.import_mapping = Some(serde_json::to_string(&imp.mapping).map_err(internal)?);
        row.import_schedule = Some(serde_json::to_string(&imp.schedule).map_err(internal)?);
        row.import_next_at = imp.schedule.next_run(now, false);
    }
    if let Some(t) = &input.triggers {
        if !(MIN_POLL_SECS..=MAX_POLL_SECS).contains(&t.poll_seconds) {
            errors.push(FieldError::new(
                "triggers.poll_seconds",
                "out_of_range",
                format!("{MIN_POLL_SECS} to {MAX_POLL_SECS} seconds"),
            ));
        }
        row.trigger_poll_secs = Some(t.poll_seconds);
        row.trigger_next_at = Some(now);
    }
    if errors.is_empty() {
        Ok(row)
    } else {
        Err(ValidationError(errors).into())
    }
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// Creates or replaces the source `key`.
pub async fn save(
    app: &App,
    p: &Principal,
    key: &str,
    input: &SourceInput,
) -> ServiceResult<(SourceView, bool)> {
    p.require(Scope::Admin)?;
    let old = found(app.store.source_by_key(p.org_id, key).await)?;
    let row = checked(app, p.org_id, key, input, old.as_ref()).await?;
    if row.kind == "folder" {
        let dir = folder_of(app, p.org_id, &row.path);
        tokio::fs::create_dir_all(&dir).await.map_err(|e| {
            ValidationError::single(
                "path",
                "invalid_path",
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    }
    app.store.save_source(&row).await?;
    tracing::info!(org = p.org_id, source = key, kind = %row.kind, "source saved");
    Ok((
        view(&app.store.source_by_key(p.org_id, key).await?),
        old.is_none(),
    ))
}

pub async fn list(app: &App, p: &Principal) -> ServiceResult<Vec<SourceView>> {
    p.require(Scope::Admin)?;
    Ok(app
        .store
        .sources(p.org_id)
        .await?
        .iter()
        .map(view)
        .collect())
}

/// A source of the caller's organisation, for an admin.
async fn admin_source(app: &App, p: &Principal, key: &str) -> ServiceResult<SourceRow> {
    p.require(Scope::Admin)?;
    app.store
        .source_by_key(p.org_id, key)
        .await
        .or_not_found("source")
}

pub async fn get(app: &App, p: &Principal, key: &str) -> ServiceResult<SourceView> {
    Ok(view(&admin_source(app, p, key).await?))
}

pub async fn delete(app: &App, p: &Principal, key: &str) -> ServiceResult<()> {
    let s = admin_source(app, p, key).await?;
    if let Some(e) = app
        .store
        .exports(p.org_id)
        .await?
        .into_iter()
        .find(|e| e.source_id == Some(s.id))
    {
        return Err(ServiceError::Conflict {
            field: "key",
            message: format!("export {} ('{}') writes to this source", e.id, e.name),
        });
    }
    app.store.delete_source(p.org_id, key).await?;
    Ok(())
}

/// The files a source handed over, newest first.
pub async fn files(app: &App, p: &Principal, key: &str) -> ServiceResult<Vec<SourceFileView>> {
    let s = admin_source(app, p, key).await?;
    Ok(app
        .store
        .source_files(p.org_id, s.id, 500)
        .await?
        .into_iter()
        .map(|f| SourceFileView {
            name: f.name,
            size: f.size,
            sha256: f.sha256,
            import_id: f.import_id,
            moved_to: f.moved_to,
            detail: f.detail,
            seen_at: rfc3339(f.seen_at),
        })
        .collect())
}

/// Logs in and lists the folder; the outcome is kept on the source (`last_error`). A failure
/// is a `source_unreachable` problem with the reason.
pub async fn check(app: &App, p: &Principal, key: &str) -> ServiceResult<CheckResult> {
    let s = admin_source(app, p, key).await?;
    let outcome = async {
        let mut session = open(app, &s).await?;
        let files = session.list().await;
        session.close().await;
        files
    }
    .await;
    note_outcome(app, &s, &outcome).await?;
    match outcome {
        Ok(files) => Ok(CheckResult {
            files: files.into_iter().map(|f| f.name).collect(),
            host_key: app.store.source(s.org_id, s.id).await?.host_key,
        }),
        Err(e) => Err(unreachable(e)),
    }
}

/// Keeps what a look at the source came to (`last_error`, `last_run_at`).
async fn note_outcome<T>(
    app: &App,
    s: &SourceRow,
    outcome: &Result<T, String>,
) -> ServiceResult<()> {
    app.store
        .source_outcome(
            s.org_id,
            s.id,
            outcome.as_ref().err().map(String::as_str),
            app.now(),
        )
        .await?;
    Ok(())
}

fn unreachable(message: String) -> ServiceError {
    ServiceError::Upstream {
        code: "source_unreachable",
        message,
    }
}

/// A folder source's folder: below the organisation's own folder under the folder root
/// (`FOLDER_ROOT/ORG_ID/PATH`), so no organisation reaches another's files.
pub fn folder_of(app: &App, org_id: i64, path: &str) -> PathBuf {
    app.config.folder_root().join(org_id.to_string()).join(path)
}

/// Opens a session on a source; an SFTP server's first host key is pinned.
pub async fn open(app: &App, s: &SourceRow) -> Result<Session, String> {
    match s.kind.as_str() {
        "folder" => Session::folder(folder_of(app, s.org_id, &s.path)).await,
        _ => {
            let host = s.host.clone().unwrap_or_default();
            let port = s.port.unwrap_or(22).clamp(1, 65535) as u16;
            let address = super::outbound::allowed_address(app, &host, port)
                .await
                .map_err(|r| format!("cannot reach {host}:{port}: {}", r.message()))?;
            let login = SftpLogin {
                host,
                port,
                address,
                username: s.username.clone().unwrap_or_default(),
                password: s.password.clone(),
                private_key: s.private_key.clone(),
                host_key: s.host_key.clone(),
                folder: s.path.clone(),
            };
            let (session, seen) = Session::sftp(&login).await?;
            if s.host_key.is_none() && !seen.is_empty() {
                app.store
                    .pin_host_key(s.org_id, s.id, &seen)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(session)
        }
    }
}

/// Runs a source's scheduled import now (the CLI's `handbill source run`); returns the
/// imports it ran.
pub async fn run_import_now(app: &App, p: &Principal, key: &str) -> ServiceResult<Vec<ImportRow>> {
    let s = admin_source(app, p, key).await?;
    if s.import_pattern.is_none() {
        return Err(ValidationError::single(
            "import",
            "no_scheduled_import",
            "the source has no scheduled import",
        )
        .into());
    }
    let outcome = import_files(app, &s).await.map(|(done, _)| done);
    note_outcome(app, &s, &outcome).await?;
    outcome.map_err(unreachable)
}

/// Does the source work that is due (scheduled imports, CSV triggers); returns how many
/// sources it looked at.
pub async fn tick(app: &App) -> ServiceResult<usize> {
    let mut n = 0;
    loop {
        let now = app.now();
        let Some((s, work)) = app.store.claim_source(now, now + LEASE_MS).await? else {
            return Ok(n);
        };
        n += 1;
        // Whether a wanted file was still arriving: then the source looks again soon.
        let outcome = match work {
            SourceWork::Import => import_files(app, &s).await.map(|(_, settling)| settling),
            SourceWork::Triggers => trigger_files(app, &s).await.map(|_| false),
        };
        let after = app.now();
        let next = match work {
            SourceWork::Import => s
                .import_schedule
                .as_deref()
                .and_then(|j| serde_json::from_str::<Schedule>(j).ok())
                .and_then(|sch| sch.next_run(after, true)),
            SourceWork::Triggers => s.trigger_poll_secs.map(|secs| after + secs * 1000),
        };
        // A source that could not be reached is tried again soon, whatever its schedule.
        let soon = after + (app.config.source_settle_secs as i64 + 1) * 1000;
        let next = match (&outcome, next) {
            (Err(_), Some(t)) => Some(t.min(after + RETRY_MS)),
            (Err(_), None) => Some(after + RETRY_MS),
            (Ok(true), t) => Some(t.map_or(soon, |t| t.min(soon))),
            (Ok(false), t) => t,
        };
        if let Err(e) = &outcome {
            tracing::warn!(org = s.org_id, source = %s.key, error = %e, "source failed");
        }
        app.store
            .release_source(s.org_id, s.id, work, next, outcome.err().as_deref(), after)
            .await?;
    }
}

/// Whether a file is complete enough to take: not hidden (a `.NAME.part` being written)
/// and not written in the last `source_settle_secs`.
fn settled(app: &App, f: &RemoteFile) -> bool {
    !f.name.starts_with('.') && !f.is_fresh(app.config.source_settle_secs)
}

/// The file names a scheduled import takes at `at`.
fn wanted(app: &App, pattern: &str, at: i64, f: &RemoteFile) -> bool {
    settled(app, f) && crate::transfer::matches_pattern(&fill_date_variables(pattern, at), &f.name)
}

/// Imports the files that match the source's pattern; returns the imports run and whether
/// a matching file was still arriving (left for a look a moment later).
async fn import_files(app: &App, s: &SourceRow) -> Result<(Vec<ImportRow>, bool), String> {
    let (Some(pattern), Some(mapping)) = (&s.import_pattern, &s.import_mapping) else {
        return Ok((Vec::new(), false));
    };
    let mapping: MappingInput = serde_json::from_str(mapping).map_err(|e| e.to_string())?;
    let mut session = open(app, s).await?;
    let result = async {
        let all = session.list().await?;
        let settling = all.iter().any(|f| {
            !f.name.starts_with('.')
                && f.is_fresh(app.config.source_settle_secs)
                && crate::transfer::matches_pattern(
                    &fill_date_variables(pattern, app.now()),
                    &f.name,
                )
        });
        let files: Vec<RemoteFile> = all
            .into_iter()
            .filter(|f| wanted(app, pattern, app.now(), f))
            .collect();
        let mut done = Vec::new();
        for f in files {
            if let Some(i) = take_file(app, s, &mut session, &f, &mapping).await? {
                done.push(i);
            }
        }
        Ok((done, settling))
    }
    .await;
    session.close().await;
    result
}

/// Runs the CSV triggers in the source's folder: `trigger_{code}_*.csv`, each row's contact
/// upserted and started in the automation with the other columns as its fields.
async fn trigger_files(app: &App, s: &SourceRow) -> Result<(), String> {
    let mut session = open(app, s).await?;
    let result = async {
        let files = session.list().await?;
        for f in files.iter().filter(|f| {
            settled(app, f) && crate::transfer::matches_pattern("trigger_*_*.csv", &f.name)
        }) {
            let mapping = trigger_mapping(app, s, &mut session, f).await?;
            if let Some(mapping) = mapping {
                take_file(app, s, &mut session, f, &mapping).await?;
            }
        }
        Ok(())
    }
    .await;
    session.close().await;
    result
}

/// The trigger codes a file name `trigger_{code}_{anything}.csv` may name: codes hold `_`
/// themselves, so every split is a candidate, shortest first.
fn trigger_codes(name: &str) -> Vec<&str> {
    let Some(rest) = name
        .strip_prefix("trigger_")
        .and_then(|r| r.strip_suffix(".csv"))
    else {
        return Vec::new();
    };
    rest.match_indices('_')
        .map(|(i, _)| &rest[..i])
        .filter(|c| !c.is_empty())
        .collect()
}

/// The published automation a trigger file names, by its code.
async fn trigger_code<'n>(
    app: &App,
    org_id: i64,
    name: &'n str,
) -> Result<Option<&'n str>, String> {
    for code in trigger_codes(name) {
        match super::automations::published(app, org_id, code).await {
            Ok(_) => return Ok(Some(code)),
            Err(ServiceError::Missing { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(None)
}

/// The mapping of a trigger file from its header line: `email` and `external_id` find (or
/// make) the contact, columns named like contact fields update it, every other column is an
/// automation field. None when the file went to `failed/` (no such automation, no header).
async fn trigger_mapping(
    app: &App,
    s: &SourceRow,
    session: &mut Session,
    f: &RemoteFile,
) -> Result<Option<MappingInput>, String> {
    let code = trigger_code(app, s.org_id, &f.name).await?;
    let reason = match code {
        None => Some(
            "the file name names no published automation's trigger code (trigger_CODE_….csv)"
                .to_string(),
        ),
        Some(_) => None,
    };
    let code = code.unwrap_or_default();
    // The header line, from a copy (the import takes its own copy of the same file).
    let header = match reason {
        Some(_) => None,
        None => {
            let tmp = scratch(app, s.org_id).await?;
            session.fetch(&f.name, &tmp).await?;
            let line = first_line(&tmp);
            let _ = tokio::fs::remove_file(&tmp).await;
            Some(line?)
        }
    };
    let reason = match (reason, &header) {
        (Some(r), _) => Some(r),
        (None, Some(h)) if !h.iter().any(|c| c == "email" || c == "external_id") => {
            Some("the header line has neither an email nor an external_id column".to_string())
        }
        _ => None,
    };
    if let Some(reason) = reason {
        move_failed(app, s, session, f, None, &reason).await?;
        return Ok(None);
    }
    let header = header.unwrap_or_default();
    let mut columns = serde_json::Map::new();
    let has_email = header.iter().any(|c| c == "email");
    for c in &header {
        let target = match c.as_str() {
            "email" | "external_id" | "language" => c.clone(),
            other
                if crate::domain::contact::TEXT_LIMITS
                    .iter()
                    .any(|(n, _)| *n == other) =>
            {
                other.to_string()
            }
            other if other.starts_with("records.") => other.to_string(),
            other if automation_field_name_ok(other) => format!("automationfield:{other}"),
            _ => continue,
        };
        columns.insert(c.clone(), Value::String(target));
    }
    let mapping = serde_json::json!({
        "match": if has_email { "email" } else { "external_id" },
        "mode": if has_email { "upsert" } else { "update" },
        "automation": code,
        "columns": columns,
    });
    serde_json::from_value(mapping)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The cells of a CSV file's first line (delimiter detected, BOM skipped).
fn first_line(path: &Path) -> Result<Vec<String>, String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    std::io::BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|e| e.to_string())?;
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line).to_vec();
    let delimiter = crate::domain::import::detect_delimiter(&line);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(line.as_slice());
    Ok(reader
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|c| c.trim().to_string()).collect())
        .unwrap_or_default())
}

async fn scratch(app: &App, org_id: i64) -> Result<PathBuf, String> {
    let dir = imports::files_dir(app, org_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir.join(format!("{}.csv", uuid::Uuid::new_v4())))
}

/// Fetches one file, imports it unless it was imported before, and moves it to `archive/`
/// (or `failed/` with a report). Returns the import run, if one ran.
async fn take_file(
    app: &App,
    s: &SourceRow,
    session: &mut Session,
    f: &RemoteFile,
    mapping: &MappingInput,
) -> Result<Option<ImportRow>, String> {
    let local = scratch(app, s.org_id).await?;
    let Fetched { size, sha256 } = session.fetch(&f.name, &local).await?;
    let known = app
        .store
        .source_file(s.org_id, s.id, &f.name, size as i64, &sha256)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(k) = known {
        let _ = tokio::fs::remove_file(&local).await;
        // Imported before: out of the way it goes, unless its import still runs (a node
        // stopped in the middle; the import resumes on its own, the file moves after).
        let import = match k.import_id {
            Some(id) => app.store.import(s.org_id, id).await.ok(),
            None => None,
        };
        match import {
            Some(i) if i.status == "queued" || i.status == "running" => {}
            Some(i) => finish_file(app, s, session, k, &i).await?,
            // Being taken by another run right now…
            None if k.moved_to.is_none() && app.now() - k.seen_at < LEASE_MS => {}
            // …or by one that stopped before its import was made: the next look takes it.
            None if k.moved_to.is_none() => {
                app.store
                    .forget_source_file(s.org_id, s.id, &k)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // Refused before it could be imported: it goes where it went the first time.
            None => {
                let to = k.moved_to.as_deref().unwrap_or("failed");
                session.move_into(&f.name, to).await?;
            }
        }
        return Ok(None);
    }
    let record = SourceFileRow {
        name: f.name.clone(),
        size: size as i64,
        sha256,
        import_id: None,
        moved_to: None,
        detail: None,
        seen_at: app.now(),
    };
    // The file is claimed first: another node (or `handbill source run`) that takes the
    // same file at the same moment finds it recorded and leaves it.
    let first = app
        .store
        .record_source_file(s.org_id, s.id, &record)
        .await
        .map_err(|e| e.to_string())?;
    if !first {
        let _ = tokio::fs::remove_file(&local).await;
        return Ok(None);
    }
    // The source's admin set up the import (and the automation a trigger file starts).
    let who = Principal::internal(s.org_id, Scope::Admin);
    let origin = format!("source:{}", s.key);
    let created = imports::create(app, &who, &origin, &f.name, &local, mapping).await;
    let import = match created {
        Ok(i) => i,
        Err(ServiceError::Validation(v)) => {
            move_failed(app, s, session, f, Some(record), &v.to_string()).await?;
            return Ok(None);
        }
        Err(e) => {
            // Not this file's fault: the next look takes it again.
            let _ = app.store.forget_source_file(s.org_id, s.id, &record).await;
            return Err(e.to_string());
        }
    };
    let record = SourceFileRow {
        import_id: Some(import.id),
        ..record
    };
    app.store
        .file_moved(s.org_id, s.id, &record)
        .await
        .map_err(|e| e.to_string())?;
    let claimed = app
        .store
        .claim_import(
            Some((s.org_id, import.id)),
            app.now(),
            crate::store::IMPORT_LEASE_MS,
        )
        .await
        .map_err(|e| e.to_string())?;
    let Some(claimed) = claimed else {
        return Ok(None);
    };
    let done = imports::run(app, claimed, &mut |_| true)
        .await
        .map_err(|e| e.to_string())?;
    finish_file(app, s, session, record, &done).await?;
    Ok(Some(done))
}

/// Moves an imported file: to `archive/` when every row went in, else to `failed/` with a
/// report of the refused rows next to it.
async fn finish_file(
    app: &App,
    s: &SourceRow,
    session: &mut Session,
    record: SourceFileRow,
    i: &ImportRow,
) -> Result<(), String> {
    let f = RemoteFile {
        name: record.name.clone(),
        size: record.size as u64,
        modified: None,
    };
    if i.status == "done" && i.failed == 0 {
        session.move_into(&f.name, "archive").await?;
        let record = SourceFileRow {
            moved_to: Some("archive".into()),
            detail: Some(format!(
                "{} rows: {} new, {} updated, {} unchanged, {} skipped",
                i.rows_read, i.inserted, i.updated, i.unchanged, i.skipped
            )),
            ..record
        };
        return app
            .store
            .file_moved(s.org_id, s.id, &record)
            .await
            .map_err(|e| e.to_string());
    }
    let mut report = match &i.error {
        Some(e) => format!("Import {} of {} failed: {e}\n", i.id, f.name),
        None => format!(
            "Import {} of {}: {} rows, {} refused; the other rows were imported.\n",
            i.id, f.name, i.rows_read, i.failed
        ),
    };
    for e in app
        .store
        .import_errors(s.org_id, i.id, 1_000)
        .await
        .map_err(|e| e.to_string())?
    {
        report.push_str(&format!(
            "line {}: {} ({}): {}\n",
            e.line, e.column_name, e.code, e.message
        ));
    }
    move_failed(app, s, session, &f, Some(record), &report).await
}

/// Moves a file to `failed/` with `NAME.errors.txt` next to it.
async fn move_failed(
    app: &App,
    s: &SourceRow,
    session: &mut Session,
    f: &RemoteFile,
    record: Option<SourceFileRow>,
    report: &str,
) -> Result<(), String> {
    session
        .put_text("failed", &format!("{}.errors.txt", f.name), report)
        .await?;
    session.move_into(&f.name, "failed").await?;
    tracing::warn!(org = s.org_id, source = %s.key, file = %f.name, "file moved to failed/");
    if let Some(r) = record {
        let r = SourceFileRow {
            moved_to: Some("failed".into()),
            detail: Some(report.lines().next().unwrap_or_default().to_string()),
            ..r
        };
        app.store
            .file_moved(s.org_id, s.id, &r)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
