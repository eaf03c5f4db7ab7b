//! `handbill source …` and `handbill export run`: look at a source (log in and list it), run
//! its scheduled import now, and run an export now. Errors (a wrong SFTP password, a host
//! that cannot be reached) are printed as they are kept on the source.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::domain::Scope;
use crate::services::tokens::Principal;
use crate::services::{exports, orgs, sources, ServiceError};

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Log in to a source and list its folder
    Check {
        key: String,
        #[arg(long)]
        org: String,
    },
    /// Run a source's scheduled import now
    Run {
        key: String,
        #[arg(long)]
        org: String,
    },
}

async fn admin(app: &App, slug: &str) -> anyhow::Result<Principal> {
    let org = orgs::org_by_slug(app, slug).await?;
    Ok(Principal::internal(org.id, Scope::Admin))
}

/// A failure as one line on stderr and exit code 1; other errors go up.
fn failed(e: ServiceError) -> anyhow::Result<ExitCode> {
    match e {
        ServiceError::Upstream { message, .. } => {
            eprintln!("error: {message}");
            Ok(ExitCode::FAILURE)
        }
        e => Err(e.into()),
    }
}

pub async fn source(app: &App, cmd: SourceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SourceCommand::Check { key, org } => {
            let who = admin(app, &org).await?;
            match sources::check(app, &who, &key).await {
                Ok(r) => {
                    if let Some(k) = &r.host_key {
                        println!("host key {k}");
                    }
                    println!("{} files", r.files.len());
                    for f in r.files {
                        println!("  {f}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => failed(e),
            }
        }
        SourceCommand::Run { key, org } => {
            let who = admin(app, &org).await?;
            match sources::run_import_now(app, &who, &key).await {
                Ok(done) => {
                    if done.is_empty() {
                        println!("no new file matches the pattern");
                    }
                    for i in done {
                        println!(
                            "{}: import {} {}: {} rows, {} new, {} updated, {} unchanged, {} skipped, {} refused",
                            i.file_name, i.id, i.status, i.rows_read, i.inserted, i.updated, i.unchanged, i.skipped, i.failed
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => failed(e),
            }
        }
    }
}

/// `handbill export run ID --org SLUG`.
pub async fn run_export(app: &App, id: i64, org: &str) -> anyhow::Result<ExitCode> {
    let who = admin(app, org).await?;
    let run = exports::run_now(app, &who, id).await?;
    match &run.error {
        Some(e) => {
            eprintln!("error: export {id} failed: {e}");
            Ok(ExitCode::FAILURE)
        }
        None => {
            println!(
                "export {id}: {} rows, {} bytes, {}",
                run.rows,
                run.bytes,
                run.file_name.as_deref().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
