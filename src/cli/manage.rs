//! The management subcommands: migrate, org, token, user, consent, outbox.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rand::distr::{Alphanumeric, SampleString};

use super::{
    Command, ConsentCommand, OauthCommand, OrgCommand, OutboxCommand, TokenCommand, UserCommand,
};
use crate::app::{connect, App};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::mail::Maildir;
use crate::services::tokens::{self, TokenRequest};
use crate::services::users::Role;
use crate::services::{consent, oauth_consumers, orgs, users};

pub async fn run(config: Config, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(_) => unreachable!("serve is handled by cli::serve"),
        Command::Migrate => {
            let store = connect(&config).await?;
            store.migrate().await.context("migration failed")?;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox(cmd) => outbox(&config, cmd),
        Command::Org(cmd) => org(&App::open(config).await?, cmd).await,
        Command::Token(cmd) => token(&App::open(config).await?, cmd).await,
        Command::User(cmd) => user(&App::open(config).await?, cmd).await,
        Command::Consent(cmd) => consent_cmd(&App::open(config).await?, cmd).await,
        Command::Mailing(cmd) => super::mailing::run(&App::open(config).await?, cmd).await,
        Command::Mlkey(cmd) => super::mlkey::run(&App::open(config).await?, cmd).await,
        Command::Sandbox(cmd) => super::mlkey::sandbox(&App::open(config).await?, cmd).await,
        Command::Partner(cmd) => super::partners::partner(&App::open(config).await?, cmd).await,
        Command::Pos(cmd) => super::partners::pos(&App::open(config).await?, cmd).await,
        Command::Product(cmd) => super::partners::product(&App::open(config).await?, cmd).await,
        Command::Export(cmd) => super::partners::export(&App::open(config).await?, cmd).await,
        Command::Oauth(cmd) => oauth(&App::open(config).await?, cmd).await,
        Command::Import(cmd) => super::import::run(&App::open(config).await?, cmd).await,
        Command::Linkparam(cmd) => super::linkparam::run(&App::open(config).await?, cmd).await,
        Command::Source(cmd) => super::exchange::source(&App::open(config).await?, cmd).await,
    }
}

async fn oauth(app: &App, cmd: OauthCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OauthCommand::Create { org, scopes, name } => {
            let (c, secret) = oauth_consumers::create(app, &org, &scopes, name.as_deref()).await?;
            println!("consumer key:    {}", c.consumer_key);
            println!("consumer secret: {secret}");
            eprintln!("note: the secret is shown only now");
        }
        OauthCommand::List { org } => {
            println!(
                "{:<5} {:<24} {:<8} {:<21} {:<34} NAME",
                "ID", "KEY", "STATE", "CREATED", "SCOPES"
            );
            for c in oauth_consumers::list(app, &org).await? {
                println!(
                    "{:<5} {:<24} {:<8} {:<21} {:<34} {}",
                    c.id,
                    c.consumer_key,
                    if c.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    rfc3339(c.created_at),
                    c.scopes,
                    c.name.as_deref().unwrap_or("")
                );
            }
        }
        OauthCommand::Revoke { org, id } => {
            oauth_consumers::revoke(app, &org, id).await?;
            println!("consumer {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn org(app: &App, cmd: OrgCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OrgCommand::Create {
            slug,
            name,
            language,
        } => {
            let org = orgs::create_org(app, &slug, &name, Some(&language)).await?;
            println!("created organisation {} ({})", org.slug, org.name);
        }
        OrgCommand::SetSender { slug, email, name } => {
            let org = orgs::set_sender(app, &slug, &email, name.as_deref()).await?;
            println!(
                "mails of {} now come from {} <{}>",
                org.slug,
                org.sender_name.as_deref().unwrap_or(&org.name),
                org.sender_email.as_deref().unwrap_or_default()
            );
        }
        OrgCommand::List => {
            let list = app.store.list_orgs().await?;
            println!("{:<24} {:<40} {:<4} CREATED", "SLUG", "NAME", "LANG");
            for o in list {
                println!(
                    "{:<24} {:<40} {:<4} {}",
                    o.slug,
                    o.name,
                    o.default_language,
                    rfc3339(o.created_at)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(app: &App, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create {
            org,
            scopes,
            allow_ip,
            expires,
            name,
            user,
            partner,
        } => {
            let issued = tokens::create_token(
                app,
                &TokenRequest {
                    org_slug: org,
                    scopes,
                    allow_ip,
                    expires_days: expires,
                    name,
                    user_email: user,
                    partner,
                },
            )
            .await?;
            print_issued(&issued);
        }
        TokenCommand::List { org } => {
            let list = tokens::list_tokens(app, &org).await?;
            println!(
                "{:<6} {:<12} {:<12} {:<18} {:<21} {:<21} {:<21} {:<24} NAME",
                "ID", "PREFIX", "STATE", "ALLOWED", "CREATED", "LAST USED", "EXPIRES", "SCOPES"
            );
            for t in list {
                let ts = |v: Option<i64>| v.map(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<6} {:<12} {:<12} {:<18} {:<21} {:<21} {:<21} {:<24} {}",
                    t.id,
                    t.display_prefix,
                    tokens::token_state(app, &t).as_str(),
                    if t.allowed_ips.is_empty() {
                        "any"
                    } else {
                        &t.allowed_ips
                    },
                    rfc3339(t.created_at),
                    ts(t.last_used_at),
                    ts(t.expires_at),
                    t.scopes,
                    t.name.as_deref().unwrap_or("")
                );
            }
        }
        TokenCommand::Rotate { token } => {
            let issued = tokens::rotate_token(app, &token).await?;
            print_issued(&issued);
            eprintln!("the old token no longer works");
        }
        TokenCommand::Revoke { token } => {
            let t = tokens::revoke_token(app, &token).await?;
            println!("revoked token {} ({})", t.id, t.display_prefix);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_issued(issued: &tokens::IssuedToken) {
    // The secret alone on stdout, so that scripts can capture it; the rest on stderr.
    println!("{}", issued.secret);
    eprintln!(
        "token {} with scopes [{}]; store it now: it is not shown again",
        issued.token.id, issued.token.scopes
    );
}

async fn user(app: &App, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Create {
        org,
        email,
        role,
        password_stdin,
    } = cmd;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (Alphanumeric.sample_string(&mut rand::rng(), 20), true)
    };
    let u = users::create_user(app, &org, &email, Role::parse(&role)?, &password).await?;
    println!("created {} user {}", u.role, u.email);
    if generated {
        println!("password: {password}");
        let _ = std::io::stdout().flush();
    }
    Ok(ExitCode::SUCCESS)
}

async fn consent_cmd(app: &App, cmd: ConsentCommand) -> anyhow::Result<ExitCode> {
    let ConsentCommand::Verify { org } = cmd;
    let report = consent::verify(app, &org).await?;
    match report.first_broken {
        None => {
            println!("ledger of {org} is intact: {} entries", report.entries);
            Ok(ExitCode::SUCCESS)
        }
        Some((seq, reason)) => {
            println!(
                "ledger of {org} is BROKEN at entry {seq}: {reason} ({} entries before it verify)",
                report.entries
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn outbox(config: &Config, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let dir = config.outbox_dir();
    if !dir.exists() {
        bail!("there is no outbox at {}", dir.display());
    }
    let md = Maildir::open(&dir)?;
    match cmd {
        OutboxCommand::List => {
            let list = md.list()?;
            println!("{:<72} {:<21} {:<32} SUBJECT", "ID", "WRITTEN", "TO");
            for e in &list {
                println!(
                    "{:<72} {:<21} {:<32} {}",
                    e.id,
                    rfc3339(e.modified_ms),
                    e.to,
                    e.subject
                );
            }
            eprintln!("{} message(s) in {}", list.len(), dir.display());
        }
        OutboxCommand::Show { id } => {
            let raw = md
                .read(&id)
                .with_context(|| format!("cannot read message {id}"))?;
            std::io::stdout().write_all(&raw)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
