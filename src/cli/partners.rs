//! `handbill partner …`, `handbill pos …`, `handbill product …` and `handbill export
//! partner-consents`: partner opt-ins at checkout for the operator. The same services as the API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::app::App;
use crate::clock::rfc3339;
use crate::services::partner_consents::{self, Format};
use crate::services::partners::{self, PartnerInput};
use crate::services::points_of_sale::{self, PosInput};
use crate::services::products::{self, ProductInput, ProductSync};
use crate::services::{orgs, ServiceError};

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Create a partner, or update the one with this key
    Set {
        #[arg(long)]
        org: String,
        /// The partner's id in the ticket system
        #[arg(long)]
        key: String,
        /// promoter, producer or other
        #[arg(long, default_value = "promoter")]
        kind: String,
        #[arg(long)]
        name: String,
        /// The partner's privacy policy (http or https)
        #[arg(long)]
        privacy_url: String,
        /// The public description in a language, as LANG=TEXT (repeatable)
        #[arg(long = "description", value_name = "LANG=TEXT")]
        descriptions: Vec<String>,
    },
    /// List the partners with their opt-ins
    List {
        #[arg(long)]
        org: String,
    },
    /// Write a partner's new consents to a folder periodically (for an SFTP server to pick up)
    ScheduleExport {
        #[arg(long)]
        org: String,
        #[arg(long)]
        partner: String,
        /// An existing folder (absolute path)
        #[arg(long)]
        folder: PathBuf,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
        /// Minutes between runs (5 to 10080)
        #[arg(long, default_value_t = 1440)]
        every: i64,
    },
    /// List the scheduled partner exports
    Exports {
        #[arg(long)]
        org: String,
    },
    /// Stop a scheduled partner export
    Unschedule {
        #[arg(long)]
        org: String,
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PosCommand {
    /// Create a point of sale, or update the one with this key
    Set {
        #[arg(long)]
        org: String,
        /// The point of sale's id in the ticket system
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        /// Offer partner opt-ins at checkout
        #[arg(long)]
        partner_optins: bool,
        /// Subscribe at once instead of confirming by mail first
        #[arg(long)]
        single_opt_in: bool,
        /// A partner whose opt-ins are always offered here (repeatable)
        #[arg(long = "partner", value_name = "KEY")]
        partners: Vec<String>,
        /// The origin allowed to frame the widget page, e.g. https://tickets.example.org
        #[arg(long)]
        frame_origin: Option<String>,
        /// A CSS variable of the widget, as NAME=VALUE (accent, accent-text, text, muted,
        /// background, font, radius; repeatable)
        #[arg(long = "theme", value_name = "NAME=VALUE")]
        theme: Vec<String>,
    },
    /// List the points of sale
    List {
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Insert or update products from a JSON file: {"products": [{"id", "title", "date"?,
    /// "partner"?}, …]} (10,000 per call; larger files go in several calls)
    Sync {
        #[arg(long)]
        org: String,
        file: PathBuf,
    },
    /// List products by id
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Run an export definition now and print where its file went
    Run {
        id: i64,
        #[arg(long)]
        org: String,
    },
    /// A partner's consents and withdrawals with their proof, as CSV or JSON
    PartnerConsents {
        #[arg(long)]
        org: String,
        #[arg(long)]
        partner: String,
        /// Only entries from this moment on (RFC 3339 or YYYY-MM-DD, UTC)
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
        /// The file to write (default: standard output)
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `NAME=VALUE` options (`what` is the option and its form, e.g. `--theme NAME=VALUE`).
fn pairs(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.to_string())),
            None => bail!("give {what}, got '{i}'"),
        })
        .collect()
}

fn since_ms(s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("--since must be RFC 3339 or YYYY-MM-DD, got '{s}'"))?;
    Ok(d.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_millis())
}

pub async fn partner(app: &App, cmd: PartnerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PartnerCommand::Set {
            org,
            key,
            kind,
            name,
            privacy_url,
            descriptions,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let input = PartnerInput {
                key: key.clone(),
                kind,
                name,
                description: pairs(&descriptions, "--description LANG=TEXT")?,
                privacy_url,
            };
            let view = match partners::by_key(app, org.id, &key).await {
                Ok(_) => partners::update(app, org.id, &key, &input).await?,
                Err(ServiceError::NotFound(_)) => partners::create(app, org.id, &input).await?,
                Err(e) => return Err(e.into()),
            };
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        PartnerCommand::List { org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            println!("{:<24} {:<10} {:<32} OPT-INS", "KEY", "KIND", "NAME");
            for p in partners::all(app, org.id).await? {
                println!(
                    "{:<24} {:<10} {:<32} {}",
                    p.key,
                    p.kind,
                    p.name,
                    p.optins.join(",")
                );
            }
        }
        PartnerCommand::ScheduleExport {
            org,
            partner,
            folder,
            format,
            every,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let e = partner_consents::schedule(
                app,
                org.id,
                &partner,
                &folder,
                Format::parse(&format)?,
                every,
            )
            .await?;
            println!(
                "export {} scheduled: every {} minutes to {}",
                e.id, e.every_minutes, e.folder
            );
        }
        PartnerCommand::Exports { org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            println!(
                "{:<5} {:<24} {:<6} {:<8} {:<21} {:<10} FOLDER",
                "ID", "PARTNER", "FORMAT", "EVERY", "NEXT RUN", "LAST ERROR"
            );
            for e in app.store.partner_exports(org.id).await? {
                let partner = app.store.partner_by_id(org.id, e.partner_id).await?;
                println!(
                    "{:<5} {:<24} {:<6} {:<8} {:<21} {:<10} {}",
                    e.id,
                    partner.key,
                    e.format,
                    format!("{}m", e.every_minutes),
                    rfc3339(e.next_run_at),
                    e.last_error.as_deref().unwrap_or("-"),
                    e.folder
                );
            }
        }
        PartnerCommand::Unschedule { org, id } => {
            let org = orgs::org_by_slug(app, &org).await?;
            partner_consents::unschedule(app, org.id, id).await?;
            println!("export {id} stopped");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn pos(app: &App, cmd: PosCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PosCommand::Set {
            org,
            key,
            name,
            partner_optins,
            single_opt_in,
            partners,
            frame_origin,
            theme,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let input = PosInput {
                key: key.clone(),
                name,
                partner_optins,
                double_opt_in: Some(!single_opt_in),
                partners,
                frame_origin,
                theme: pairs(&theme, "--theme NAME=VALUE")?,
            };
            let view = match points_of_sale::by_key(app, org.id, &key).await {
                Ok(_) => points_of_sale::update(app, org.id, &key, &input).await?,
                Err(ServiceError::NotFound(_)) => {
                    points_of_sale::create(app, org.id, &input).await?
                }
                Err(e) => return Err(e.into()),
            };
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        PosCommand::List { org } => {
            let org = orgs::org_by_slug(app, &org).await?;
            println!(
                "{:<24} {:<28} {:<15} {:<13} PARTNERS",
                "KEY", "NAME", "PARTNER OPT-INS", "DOUBLE OPT-IN"
            );
            for p in points_of_sale::all(app, org.id).await? {
                let yn = |b: bool| if b { "on" } else { "off" };
                println!(
                    "{:<24} {:<28} {:<15} {:<13} {}",
                    p.key,
                    p.name,
                    yn(p.partner_optins),
                    yn(p.double_opt_in),
                    p.partners.join(",")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn product(app: &App, cmd: ProductCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProductCommand::Sync { org, file } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let all: ProductSync = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a product file", file.display()))?;
            let (mut created, mut updated) = (0, 0);
            let chunks: Vec<Vec<ProductInput>> = all
                .products
                .chunks(products::MAX_SYNC)
                .map(<[ProductInput]>::to_vec)
                .collect();
            for chunk in chunks {
                let r = products::sync(app, org.id, &ProductSync { products: chunk }).await?;
                created += r.created;
                updated += r.updated;
            }
            println!("{created} products created, {updated} updated");
        }
        ProductCommand::List {
            org,
            partner,
            limit,
        } => {
            let org = orgs::org_by_slug(app, &org).await?;
            let rows = products::page(app, org.id, "", partner.as_deref(), limit).await?;
            println!("{:<24} {:<26} {:<24} TITLE", "ID", "DATE", "PARTNER");
            for p in rows {
                println!(
                    "{:<24} {:<26} {:<24} {}",
                    p.id,
                    p.date.as_deref().unwrap_or("-"),
                    p.partner.as_deref().unwrap_or("-"),
                    p.title
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn export(app: &App, cmd: ExportCommand) -> anyhow::Result<ExitCode> {
    let (org, partner, since, format, out) = match cmd {
        ExportCommand::Run { id, org } => return super::exchange::run_export(app, id, &org).await,
        ExportCommand::PartnerConsents {
            org,
            partner,
            since,
            format,
            out,
        } => (org, partner, since, format, out),
    };
    let org = orgs::org_by_slug(app, &org).await?;
    let partner = partners::by_key(app, org.id, &partner).await?;
    let from = since.as_deref().map(since_ms).transpose()?;
    let format = Format::parse(&format)?;
    let (n, _) = match &out {
        Some(path) => {
            let tmp = path.with_extension("partial");
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?,
            );
            let r = partner_consents::write_export(app, &partner, 0, from, format, &mut f).await?;
            std::io::Write::flush(&mut f)?;
            drop(f);
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            r
        }
        None => {
            let mut stdout = std::io::stdout();
            partner_consents::write_export(app, &partner, 0, from, format, &mut stdout).await?
        }
    };
    if out.is_some() {
        eprintln!("{n} entries written");
    }
    Ok(ExitCode::SUCCESS)
}
