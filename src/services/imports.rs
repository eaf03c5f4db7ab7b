//! Contact imports (the Deployteq row): a CSV file with a column mapping becomes contacts,
//! attributes, tags and — on the consent basis the import gives — subscriptions. The file is
//! kept as a copy and read as a stream in chunks; each chunk is written in one transaction
//! with the import's resume point, so an import that was stopped goes on where it was and
//! counts no row twice. Bad rows are reported with their line and reason; the rest goes in
//! (or nothing, when the import says all-or-nothing).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::import_records::{self, Collections};
use super::optins::{ConsentMode, RegisterRequest};
use super::tokens::Principal;
use super::{OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation::AutomationField;
use crate::domain::import::{
    detect_delimiter, locate_columns, read_row, Column, ConsentBasis, Encoding, Mapping,
    MappingInput, MatchOn, Row, RowError, Target,
};
use crate::domain::ledger::Evidence;
use crate::domain::{FieldError, Scope, ValidationError};
use crate::store::{
    Chunk, ChunkCounts, ChunkRecord, ChunkStart, ImportRow, NewImport, IMPORT_LEASE_MS,
};

/// Rows per transaction.
const CHUNK_ROWS: usize = 10_000;
/// Refused rows stored per import (all are counted).
const MAX_STORED_ERRORS: i64 = 1_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportView {
    pub id: i64,
    /// queued, running, done or failed
    pub status: String,
    pub file_name: String,
    pub file_size: i64,
    /// Data rows handled so far (the header not counted).
    pub rows_read: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    /// Rows the mode left out (insert: existing contacts; update: new ones).
    pub skipped: i64,
    pub failed: i64,
    /// Rows whose contact got a new subscription (asserted) or a confirmation mail (confirm).
    pub subscribed: i64,
    /// Participations started in the mapping's automation (a CSV trigger).
    pub started: i64,
    /// Data-model records inserted or changed (`records.COLLECTION.FIELD` columns).
    pub records: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The first refused rows, by line.
    pub errors: Vec<RowErrorView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowErrorView {
    pub line: i64,
    pub column: String,
    pub code: String,
    pub message: String,
}

pub async fn view(app: &App, i: &ImportRow) -> ServiceResult<ImportView> {
    let errors = app
        .store
        .import_errors(i.org_id, i.id, 100)
        .await?
        .into_iter()
        .map(|e| RowErrorView {
            line: e.line,
            column: e.column_name,
            code: e.code,
            message: e.message,
        })
        .collect();
    Ok(ImportView {
        id: i.id,
        status: i.status.clone(),
        file_name: i.file_name.clone(),
        file_size: i.file_size,
        rows_read: i.rows_read,
        inserted: i.inserted,
        updated: i.updated,
        unchanged: i.unchanged,
        skipped: i.skipped,
        failed: i.failed,
        subscribed: i.subscribed,
        started: i.started,
        records: i.records,
        error: i.error.clone(),
        created_at: rfc3339(i.created_at),
        started_at: i.started_at.map(rfc3339),
        finished_at: i.finished_at.map(rfc3339),
        errors,
    })
}

pub async fn get(app: &App, who: &Principal, id: i64) -> ServiceResult<ImportView> {
    who.require(Scope::ImportsWrite)?;
    let i = app
        .store
        .import(who.org_id, id)
        .await
        .or_not_found("import")?;
    view(app, &i).await
}

pub async fn list(app: &App, who: &Principal) -> ServiceResult<Vec<ImportView>> {
    who.require(Scope::ImportsWrite)?;
    let mut out = Vec::new();
    for i in app.store.imports(who.org_id, 100).await? {
        out.push(view(app, &i).await?);
    }
    Ok(out)
}

/// Where the copies of imported files live.
pub fn files_dir(app: &App, org_id: i64) -> PathBuf {
    app.config.data_dir.join("imports").join(org_id.to_string())
}

/// Size and SHA-256 (hex) of a file, read as a stream.
pub fn fingerprint(path: &Path) -> std::io::Result<(i64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0i64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as i64;
        h.update(&buf[..n]);
    }
    Ok((size, hex::encode(h.finalize())))
}

/// The opt-ins the mapping subscribes to, by key: (list id, double opt-in).
async fn optin_lists(
    app: &App,
    org_id: i64,
    mapping: &Mapping,
) -> ServiceResult<HashMap<String, i64>> {
    let mut out = HashMap::new();
    let mut errors = Vec::new();
    for c in &mapping.columns {
        let Target::Optin(key) = &c.target else {
            continue;
        };
        match super::found(app.store.list_by_key(org_id, key).await)? {
            Some(l) => {
                if l.double_optin && matches!(mapping.consent, Some(ConsentBasis::Asserted { .. }))
                {
                    errors.push(FieldError::new(
                        format!("columns.{}", c.header),
                        "confirmation_required",
                        format!("opt-in '{key}' needs each person's own confirmation: use the consent basis confirm"),
                    ));
                }
                out.insert(key.clone(), l.id);
            }
            None => errors.push(FieldError::new(
                format!("columns.{}", c.header),
                "unknown_optin",
                format!("there is no opt-in '{key}'"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors).into())
    }
}

/// A CSV reader over the file with the mapping's (or the detected) delimiter, and its header
/// cells.
fn open_csv(
    path: &Path,
    mapping: &Mapping,
) -> Result<(csv::Reader<BufReader<File>>, Vec<String>), String> {
    open_csv_as(path, mapping.delimiter, mapping.encoding)
}

fn open_csv_as(
    path: &Path,
    delimiter: Option<u8>,
    encoding: Encoding,
) -> Result<(csv::Reader<BufReader<File>>, Vec<String>), String> {
    let file = File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut reader = BufReader::new(file);
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            let mut first = Vec::new();
            reader
                .read_until(b'\n', &mut first)
                .map_err(|e| format!("cannot read the file: {e}"))?;
            reader
                .seek(SeekFrom::Start(0))
                .map_err(|e| format!("cannot read the file: {e}"))?;
            detect_delimiter(&first)
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers = csv
        .byte_headers()
        .map_err(|e| format!("the header line cannot be read: {e}"))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
            } else {
                h
            };
            decode(h, encoding).unwrap_or_default().trim().to_string()
        })
        .collect();
    Ok((csv, headers))
}

/// The header and first rows of a file to import, for a person choosing the mapping.
pub struct FilePreview {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads the header line and up to `rows` data rows (delimiter detected; cells that are not
/// valid in `encoding` show empty).
pub fn preview(path: &Path, windows_1252: bool, rows: usize) -> ServiceResult<FilePreview> {
    let encoding = if windows_1252 {
        Encoding::Windows1252
    } else {
        Encoding::Utf8
    };
    let (mut csv, headers) = open_csv_as(path, None, encoding)
        .map_err(|e| ValidationError::single("file", "unreadable", e))?;
    let mut out = Vec::new();
    for record in csv.byte_records().take(rows) {
        let record = record.map_err(|e| {
            ValidationError::single("file", "unreadable", format!("the file is not CSV: {e}"))
        })?;
        out.push(
            record
                .iter()
                .map(|c| decode(c, encoding).unwrap_or_default().into_owned())
                .collect(),
        );
    }
    Ok(FilePreview { headers, rows: out })
}

/// A cell as text (borrowed when it is UTF-8 already); None when it is not valid UTF-8.
fn decode(bytes: &[u8], encoding: Encoding) -> Option<Cow<'_, str>> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Encoding::Windows1252 => Some(
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0,
        ),
    }
}

/// Checks a mapping against the organisation's opt-ins and the file's header line.
pub async fn check(
    app: &App,
    org_id: i64,
    input: &MappingInput,
    path: &Path,
) -> ServiceResult<Mapping> {
    let mapping = input.check()?;
    optin_lists(app, org_id, &mapping).await?;
    import_records::collections(app, org_id, &mapping).await?;
    if let Some(code) = &mapping.automation {
        if let Err(ServiceError::Missing { message, .. }) =
            super::automations::published(app, org_id, code).await
        {
            return Err(ValidationError::single("automation", "unknown_trigger", message).into());
        }
    }
    let (_, headers) =
        open_csv(path, &mapping).map_err(|e| ValidationError::single("file", "unreadable", e))?;
    locate_columns(&mapping, &headers)?;
    Ok(mapping)
}

/// Registers an import of a file that is already in its place under [`files_dir`]; the
/// workers (or the caller, with [`run`]) do the rest.
pub async fn create(
    app: &App,
    who: &Principal,
    origin: &str,
    file_name: &str,
    path: &Path,
    input: &MappingInput,
) -> ServiceResult<ImportRow> {
    who.require(Scope::ImportsWrite)?;
    // An import that starts an automation (which may send mail) triggers it.
    if input.automation.is_some() {
        if let Err(e) = who.require(Scope::AutomationsTrigger) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    if let Err(e) = check(app, who.org_id, input, path).await {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let (file_size, file_sha256) =
        fingerprint(path).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let row = app
        .store
        .create_import(
            &NewImport {
                org_id: who.org_id,
                origin: origin.into(),
                file_name: file_name.chars().take(255).collect(),
                file_path: path.display().to_string(),
                file_size,
                file_sha256,
                mapping: serde_json::to_string(input)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
                created_by: match (who.token(), who.user_id) {
                    (Some(t), _) => format!("token:{t}"),
                    (None, Some(u)) => format!("user:{u}"),
                    (None, None) => "cli".into(),
                },
            },
            app.now(),
        )
        .await?;
    tracing::info!(org = who.org_id, import = row.id, file = %row.file_name, "import queued");
    Ok(row)
}

/// Takes the next import that is due (queued, or left running by a node that stopped) and
/// runs it; returns whether there was one.
pub async fn run_next(app: &App) -> ServiceResult<bool> {
    let Some(i) = app
        .store
        .claim_import(None, app.now(), IMPORT_LEASE_MS)
        .await?
    else {
        return Ok(false);
    };
    run(app, i, &mut |_| true).await?;
    Ok(true)
}

/// How a run ended.
enum Ended {
    Done,
    /// The import as a whole cannot go on (an unreadable file), with the reason.
    Failed(String),
    /// The caller stopped it; it resumes from its last chunk.
    Paused,
}

/// Runs a claimed import to its end; `progress` hears the import after each chunk and may
/// stop it there (false), to be resumed later. A failure of the import itself (an unreadable
/// file) ends it as failed; a storage failure leaves it to be resumed.
pub async fn run(
    app: &App,
    i: ImportRow,
    progress: &mut (dyn FnMut(&ImportRow) -> bool + Send),
) -> ServiceResult<ImportRow> {
    let (org_id, id) = (i.org_id, i.id);
    app.store.importing(true).await;
    let ran = run_chunks(app, &i, progress).await;
    app.store.importing(false).await;
    match ran {
        Ok(Ended::Paused) => return Ok(app.store.import(org_id, id).await?),
        Ok(Ended::Done) => app.store.finish_import(org_id, id, None, app.now()).await?,
        Ok(Ended::Failed(reason)) => {
            tracing::warn!(org = org_id, import = id, %reason, "import failed");
            app.store
                .finish_import(org_id, id, Some(&reason), app.now())
                .await?
        }
        Err(e) => return Err(e),
    }
    let done = app.store.import(org_id, id).await?;
    tracing::info!(
        org = org_id,
        import = id,
        rows = done.rows_read,
        inserted = done.inserted,
        updated = done.updated,
        failed = done.failed,
        "import finished"
    );
    Ok(done)
}

/// A chunk ready to be written: checked rows (one per contact), their records, and the
/// refused rows.
struct ReadChunk {
    rows: Vec<Row>,
    records: Vec<ChunkRecord>,
    refused: Vec<RowError>,
}

/// Why reading stopped.
enum Stop {
    /// The file cannot be read on (the import fails with this reason).
    File(String),
    Service(ServiceError),
}

impl From<ServiceError> for Stop {
    fn from(e: ServiceError) -> Self {
        Stop::Service(e)
    }
}

/// The file being read, and the located columns (owned: the reading runs on a blocking
/// thread, beside the database's write of the chunk before).
type Csv = csv::Reader<BufReader<File>>;
type Columns = Arc<Vec<(usize, Column)>>;
/// Rows read and checked cell by cell, and the refused ones.
type ReadRows = (Vec<Row>, Vec<RowError>);

/// The next rows of the file, read and checked cell by cell; None at the end of the file.
fn read_rows(
    csv: &mut Csv,
    encoding: Encoding,
    columns: &[(usize, Column)],
) -> Result<Option<ReadRows>, String> {
    let columns: Vec<(usize, &Column)> = columns.iter().map(|(i, c)| (*i, c)).collect();
    let mut rows: Vec<Row> = Vec::new();
    let mut refused = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while n < CHUNK_ROWS {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("the file cannot be read as CSV: {e}")),
        }
        n += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cells: Option<Vec<Cow<str>>> = record.iter().map(|c| decode(c, encoding)).collect();
        let Some(cells) = cells else {
            refused.push(RowError {
                line,
                column: "row".into(),
                code: "invalid_encoding",
                message: "the row is not UTF-8 (set the import's encoding to windows-1252)".into(),
            });
            continue;
        };
        let cells: Vec<&str> = cells.iter().map(|c| c.as_ref()).collect();
        match read_row(line, &cells, &columns) {
            Ok(r) => rows.push(r),
            Err(e) => refused.push(e),
        }
    }
    Ok((n > 0).then_some((rows, refused)))
}

/// Reads and checks the next chunk (the file on a blocking thread); None at the end of the
/// file.
async fn next_chunk(
    app: &App,
    org_id: i64,
    csv: &mut Option<Csv>,
    mapping: &Mapping,
    columns: &Columns,
    collections: &Collections,
) -> Result<Option<ReadChunk>, Stop> {
    let Some(mut reader) = csv.take() else {
        return Err(Stop::File("the file reader was lost".into()));
    };
    let (encoding, cols) = (mapping.encoding, columns.clone());
    let (reader, read) = tokio::task::spawn_blocking(move || {
        let read = read_rows(&mut reader, encoding, &cols);
        (reader, read)
    })
    .await
    .map_err(|e| Stop::File(format!("reading the file failed: {e}")))?;
    *csv = Some(reader);
    let Some((rows, mut refused)) = read.map_err(Stop::File)? else {
        return Ok(None);
    };
    let (rows, records) =
        import_records::check(app, org_id, mapping, collections, rows, &mut refused).await?;
    let (rows, records) = one_per_contact(mapping, rows, records, &mut refused);
    Ok(Some(ReadChunk {
        rows,
        records,
        refused,
    }))
}

/// One row per contact. Without records a contact twice is a mistake: the later line wins
/// and the earlier is reported. With records (one line per order) the lines of a contact
/// are merged, each keeping its record.
fn one_per_contact(
    mapping: &Mapping,
    rows: Vec<Row>,
    records: Vec<ChunkRecord>,
    refused: &mut Vec<RowError>,
) -> (Vec<Row>, Vec<ChunkRecord>) {
    let key = |r: &Row| r.key(mapping.match_on).map(String::from);
    let merge = mapping
        .columns
        .iter()
        .any(|c| matches!(c.target, Target::Record(..)));
    // Without merging: the last line of each contact.
    let mut last: HashMap<String, usize> = HashMap::new();
    if !merge {
        for (i, r) in rows.iter().enumerate() {
            if let Some(k) = key(r) {
                last.insert(k, i);
            }
        }
    }
    // Where each read row went among the kept ones.
    let mut index: Vec<Option<usize>> = Vec::with_capacity(rows.len());
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<Row> = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        match key(&r) {
            None => {
                index.push(None);
                refused.push(RowError {
                    line: r.line,
                    column: "row".into(),
                    code: "key_required",
                    message: match mapping.match_on {
                        MatchOn::Email => "the row has no e-mail address".into(),
                        MatchOn::ExternalId => "the row has no external id".into(),
                    },
                })
            }
            Some(k) if merge => match first.get(&k) {
                Some(&at) => {
                    kept[at].merge(r);
                    index.push(Some(at));
                }
                None => {
                    first.insert(k, kept.len());
                    index.push(Some(kept.len()));
                    kept.push(r);
                }
            },
            Some(k) if last.get(&k) != Some(&i) => {
                index.push(None);
                refused.push(RowError {
                    line: r.line,
                    column: "row".into(),
                    code: "duplicate_row",
                    message: "a later line has the same contact; that line is imported".into(),
                })
            }
            Some(_) => {
                index.push(Some(kept.len()));
                kept.push(r);
            }
        }
    }
    (kept, import_records::renumber(records, &index))
}

/// Runs the chunks.
async fn run_chunks(
    app: &App,
    i: &ImportRow,
    progress: &mut (dyn FnMut(&ImportRow) -> bool + Send),
) -> ServiceResult<Ended> {
    let input: MappingInput = match serde_json::from_str(&i.mapping) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "the stored mapping cannot be read: {e}"
            )))
        }
    };
    let mapping = match input.check() {
        Ok(m) => m,
        Err(e) => return Ok(Ended::Failed(e.to_string())),
    };
    let lists = match optin_lists(app, i.org_id, &mapping).await {
        Ok(l) => l,
        Err(ServiceError::Validation(e)) => return Ok(Ended::Failed(e.to_string())),
        Err(e) => return Err(e),
    };
    let collections = match import_records::collections(app, i.org_id, &mapping).await {
        Ok(c) => c,
        Err(ServiceError::Validation(e)) => return Ok(Ended::Failed(e.to_string())),
        Err(e) => return Err(e),
    };
    let automation = match &mapping.automation {
        None => None,
        Some(code) => match super::automations::published(app, i.org_id, code).await {
            Ok((a, version)) => Some((a.id, version, a.reentry == "single")),
            Err(ServiceError::Missing { message, .. }) => {
                return Ok(Ended::Failed(format!("automation '{code}': {message}")))
            }
            Err(e) => return Err(e),
        },
    };
    let path = PathBuf::from(&i.file_path);
    let (csv, headers) = match open_csv(&path, &mapping) {
        Ok(x) => x,
        Err(e) => return Ok(Ended::Failed(e)),
    };
    let columns: Columns = match locate_columns(&mapping, &headers) {
        Ok(c) => Arc::new(c.into_iter().map(|(i, c)| (i, c.clone())).collect()),
        Err(e) => return Ok(Ended::Failed(e.to_string())),
    };
    let text_columns: Vec<(&'static str, bool)> = mapping
        .columns
        .iter()
        .filter_map(|c| match c.target {
            Target::Field(f) => Some((f, c.clear)),
            Target::Language => Some(("language", c.clear)),
            _ => None,
        })
        .collect();
    let mut csv = Some(csv);
    if mapping.all_or_nothing && i.rows_read == 0 {
        let mut bad = Vec::new();
        let mut failed = 0i64;
        loop {
            match next_chunk(app, i.org_id, &mut csv, &mapping, &columns, &collections).await {
                Ok(Some(chunk)) => {
                    failed += chunk.refused.len() as i64;
                    let room = (MAX_STORED_ERRORS as usize).saturating_sub(bad.len());
                    bad.extend(chunk.refused.into_iter().take(room));
                }
                Ok(None) => break,
                Err(Stop::File(e)) => return Ok(Ended::Failed(e)),
                Err(Stop::Service(e)) => return Err(e),
            }
        }
        if failed > 0 {
            app.store.record_import_errors(i.org_id, i.id, &bad).await?;
            return Ok(Ended::Failed(format!(
                "{failed} rows are bad; nothing was imported (all_or_nothing)"
            )));
        }
        let (c, _) = match open_csv(&path, &mapping) {
            Ok(x) => x,
            Err(e) => return Ok(Ended::Failed(e)),
        };
        csv = Some(c);
    }
    // Resume after the rows a previous run committed.
    let mut skip = i.rows_read;
    let mut record = csv::ByteRecord::new();
    while let (true, Some(reader)) = (skip > 0, csv.as_mut()) {
        match reader.read_byte_record(&mut record) {
            Ok(true) => skip -= 1,
            Ok(false) => break,
            Err(e) => {
                return Ok(Ended::Failed(format!(
                    "the file cannot be read as CSV: {e}"
                )))
            }
        }
    }
    let consent_mode = match &mapping.consent {
        Some(ConsentBasis::Asserted { .. }) => ConsentMode::Asserted,
        _ => ConsentMode::Confirm,
    };
    let note = match &mapping.consent {
        Some(ConsentBasis::Asserted { note }) => Some(note.clone()),
        _ => None,
    };
    let mut stored_errors = i.failed;
    let mut chunks = 0u64;
    let mut next = next_chunk(app, i.org_id, &mut csv, &mapping, &columns, &collections).await;
    loop {
        // Statistics that fit the growing table (PostgreSQL), now and then.
        if chunks.is_multiple_of(5) {
            app.store.analyze_contacts().await?;
        }
        chunks += 1;
        let ReadChunk {
            rows,
            records,
            refused,
        } = match next {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(Stop::File(e)) => return Ok(Ended::Failed(e)),
            Err(Stop::Service(e)) => return Err(e),
        };
        let guids: Vec<String> = rows.iter().map(|_| super::contacts::new_guid()).collect();
        let subscribes = rows.iter().any(|r| !r.optins.is_empty());
        let fields: Vec<String> = match automation {
            Some(_) => rows.iter().map(automation_fields).collect(),
            None => Vec::new(),
        };
        let now = app.now();
        let chunk = Chunk {
            org_id: i.org_id,
            import_id: i.id,
            match_on: mapping.match_on,
            mode: mapping.mode,
            columns: &text_columns,
            rows: &rows,
            refused: &refused,
            guids: &guids,
            keep_errors: stored_errors < MAX_STORED_ERRORS,
            commit_progress: !subscribes,
            start: automation.map(|(automation_id, version, single)| ChunkStart {
                automation_id,
                version,
                single,
                fields: &fields,
            }),
            records: &records,
            now,
        };
        // The next chunk is read and checked while the database writes this one (on its
        // own thread for SQLite, on the server for PostgreSQL): the write is polled first, so
        // its statements are on their way before the reading starts. Nothing of it counts until
        // its own write: a pause or a crash here reads it again.
        let (outcome, ahead) = tokio::join!(
            biased;
            app.store.write_import_chunk(&chunk),
            next_chunk(app, i.org_id, &mut csv, &mapping, &columns, &collections)
        );
        let outcome = outcome?;
        next = ahead;
        stored_errors += outcome.counts.failed;
        if subscribes {
            let mut counts: ChunkCounts = outcome.counts.clone();
            counts.subscribed = subscribe(
                app,
                i,
                &rows,
                &outcome.contacts,
                consent_mode,
                note.as_deref(),
                &lists,
            )
            .await?;
            app.store
                .import_progress(i.org_id, i.id, &counts, app.now() + IMPORT_LEASE_MS)
                .await?;
        }
        let now_row = app.store.import(i.org_id, i.id).await?;
        if !progress(&now_row) {
            return Ok(Ended::Paused);
        }
    }
    Ok(Ended::Done)
}

/// A row's automation fields as a participation stores them (text fields).
fn automation_fields(r: &Row) -> String {
    let fields: Vec<AutomationField> = r
        .automation_fields
        .iter()
        .map(|(name, value)| AutomationField {
            name: name.clone(),
            kind: "STRING".into(),
            values: if value.is_empty() {
                Vec::new()
            } else {
                vec![value.clone()]
            },
        })
        .collect();
    serde_json::to_string(&fields).unwrap_or_else(|_| "[]".into())
}

/// Subscribes the chunk's contacts to the opt-ins their rows name, through the opt-in
/// service (the ledger, double opt-in mails and the rule that a subscriber never falls back
/// to pending all apply); returns how many contacts it changed.
async fn subscribe(
    app: &App,
    i: &ImportRow,
    rows: &[Row],
    contacts: &[(usize, i64)],
    mode: ConsentMode,
    note: Option<&str>,
    lists: &HashMap<String, i64>,
) -> ServiceResult<i64> {
    let ids: Vec<i64> = contacts
        .iter()
        .filter(|(r, _)| !rows[*r].optins.is_empty())
        .map(|(_, id)| *id)
        .collect();
    let emails: HashMap<i64, String> = app
        .store
        .contacts_by_ids(i.org_id, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.email))
        .collect();
    let scope = match mode {
        ConsentMode::Asserted => Scope::ConsentAssert,
        ConsentMode::Confirm => Scope::OptinRegister,
    };
    let who = Principal::internal(i.org_id, scope);
    let mut changed = 0;
    for (r, id) in contacts {
        let row = &rows[*r];
        if row.optins.is_empty() {
            continue;
        }
        let Some(email) = emails.get(id) else {
            continue;
        };
        debug_assert!(row.optins.iter().all(|k| lists.contains_key(k)));
        let evidence = Evidence {
            source: "import".into(),
            actor: i.created_by.clone(),
            token_id: None,
            ip: None,
            user_agent: None,
            text_shown: None,
            context: Some(
                json!({"import": i.id, "file": i.file_name, "line": row.line, "note": note})
                    .to_string(),
            ),
        };
        let outcome = super::optins::register(
            app,
            &who,
            &RegisterRequest {
                email: email.clone(),
                optins: row.optins.clone(),
                consent: mode,
                ..RegisterRequest::default()
            },
            evidence,
        )
        .await?;
        if !outcome.changed.is_empty() {
            changed += 1;
        }
    }
    Ok(changed)
}
