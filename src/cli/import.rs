//! `handbill import contacts FILE --org SLUG --mapping FILE`: a contact import from the
//! command line, with a progress bar and a summary. The same service as the API; the file is
//! copied next to the API's uploads first, so an interrupted import can be resumed with
//! `handbill import resume ID --org SLUG`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::App;
use crate::domain::import::MappingInput;
use crate::domain::Scope;
use crate::services::imports;
use crate::services::orgs;
use crate::services::tokens::Principal;
use crate::store::{ImportRow, IMPORT_LEASE_MS};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import contacts from a CSV file
    Contacts {
        /// The CSV file
        file: PathBuf,
        #[arg(long)]
        org: String,
        /// The column mapping (JSON; see docs/imports.md)
        #[arg(long)]
        mapping: PathBuf,
    },
    /// Go on with an import that was interrupted
    Resume {
        id: i64,
        #[arg(long)]
        org: String,
    },
    /// Show an import with its refused rows
    Show {
        id: i64,
        #[arg(long)]
        org: String,
    },
}

pub async fn run(app: &App, cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCommand::Contacts { file, org, mapping } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let text = std::fs::read_to_string(&mapping)
                .with_context(|| format!("cannot read {}", mapping.display()))?;
            let input: MappingInput = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a mapping", mapping.display()))?;
            let dir = imports::files_dir(app, org.id);
            std::fs::create_dir_all(&dir)?;
            let copy = dir.join(format!("{}.csv", uuid::Uuid::new_v4()));
            std::fs::copy(&file, &copy)
                .with_context(|| format!("cannot read {}", file.display()))?;
            // The operator at the console is the server's admin (a mapping may start an
            // automation, which needs more than imports:write).
            let who = Principal::internal(org.id, Scope::Admin);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let row = imports::create(app, &who, "cli", &name, &copy, &input).await?;
            eprintln!("import {} of {name}", row.id);
            run_one(app, org.id, row.id).await
        }
        ImportCommand::Resume { id, org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            run_one(app, org.id, id).await
        }
        ImportCommand::Show { id, org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let row = app.store.import(org.id, id).await?;
            summary(app, &row).await
        }
    }
}

async fn run_one(app: &App, org_id: i64, id: i64) -> anyhow::Result<ExitCode> {
    let Some(row) = app
        .store
        .claim_import(Some((org_id, id)), app.now(), IMPORT_LEASE_MS)
        .await?
    else {
        bail!("import {id} is finished, or another node is running it");
    };
    // Lines in the file, for the bar (the header is not a row).
    let lines = count_lines(&row.file_path).saturating_sub(1);
    let bar = ProgressBar::new(lines);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(row.rows_read as u64);
    let done = imports::run(app, row, &mut |i: &ImportRow| {
        bar.set_position(i.rows_read as u64);
        bar.set_message(format!("{} bad", i.failed));
        true
    })
    .await?;
    bar.finish_and_clear();
    summary(app, &done).await
}

async fn summary(app: &App, i: &ImportRow) -> anyhow::Result<ExitCode> {
    let v = imports::view(app, i).await?;
    println!(
        "import {}: {} — {} rows: {} inserted, {} updated, {} unchanged, {} skipped, {} refused, {} subscribed",
        v.id, v.status, v.rows_read, v.inserted, v.updated, v.unchanged, v.skipped, v.failed, v.subscribed
    );
    if v.records > 0 {
        println!("{} data-model records inserted or changed", v.records);
    }
    if v.started > 0 {
        println!("{} started in the automation", v.started);
    }
    if let Some(e) = &v.error {
        println!("error: {e}");
    }
    for e in &v.errors {
        println!("line {}: {} {} — {}", e.line, e.column, e.code, e.message);
    }
    if (v.failed as usize) > v.errors.len() {
        println!("(the first {} refused rows are shown)", v.errors.len());
    }
    Ok(if v.status == "done" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Lines in a file, read as a stream.
fn count_lines(path: &str) -> u64 {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    while let Ok(read) = f.read(&mut buf) {
        if read == 0 {
            break;
        }
        n += memchr::memchr_iter(b'\n', &buf[..read]).count() as u64;
    }
    n
}
