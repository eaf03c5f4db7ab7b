//! The `handbill` command line. `--data-dir`, `--database-url` and `--config` are global and
//! may stand before or after a subcommand's own arguments.

mod exchange;
mod import;
mod linkparam;
mod mailing;
mod manage;
mod mlkey;
mod partners;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "handbill",
    version,
    about = "Consent-first audience mailing for venues and ticket sellers"
)]
pub struct Cli {
    /// Directory for the SQLite database and the mail outbox [default: ./handbill-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER:PASS@HOST/DB [default: sqlite in the data directory]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Configuration file [default: ./handbill.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and the background workers
    Serve(ServeArgs),
    /// Apply database migrations and exit
    Migrate,
    /// Manage organisations (tenants)
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage admin UI users
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the consent ledger
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Read the local mail outbox (used when no SMTP relay is configured)
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// List, send, schedule, pause, resume or cancel mailings
    #[command(subcommand)]
    Mailing(MailingCommand),
    /// Manage the member keys of the MailingLijst-compatible API
    #[command(subcommand)]
    Mlkey(MlkeyCommand),
    /// A MailingLijst sandbox: open to every address, its mail never leaves the machine
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Partners (promoters, producers) whose opt-ins are offered at checkout, and their exports
    #[command(subcommand)]
    Partner(partners::PartnerCommand),
    /// Points of sale: partner opt-ins and double opt-in per ticket shop or box office
    #[command(subcommand)]
    Pos(partners::PosCommand),
    /// Products (events, performances) from the ticket system
    #[command(subcommand)]
    Product(partners::ProductCommand),
    /// Exports: run an export definition, or a partner's consents to a file
    #[command(subcommand)]
    Export(partners::ExportCommand),
    /// OAuth 1.0a consumers of the Spotler-style /integrationservice routes
    #[command(subcommand)]
    Oauth(OauthCommand),
    /// Import contacts from CSV files
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// The encrypted link parameter click redirects add for the venue's website
    #[command(subcommand)]
    Linkparam(linkparam::LinkparamCommand),
    /// Sources: drop folders and SFTP servers
    #[command(subcommand)]
    Source(exchange::SourceCommand),
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// Issue a consumer key and secret (the secret is printed once)
    Create {
        #[arg(long)]
        org: String,
        /// Scopes, e.g. automations:trigger automations:read
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List the consumers of an organisation
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a consumer by id
    Revoke {
        #[arg(long)]
        org: String,
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum MlkeyCommand {
    /// Create a key; it is printed once and cannot be shown again
    Create {
        /// The member organisation (also the key's first account)
        #[arg(long)]
        org: String,
        /// The account number callers pass as a= [default: the organisation's id]
        #[arg(long)]
        account: Option<i64>,
        /// Caller addresses or CIDR ranges, IPv4 or IPv6 (repeatable); without any, no
        /// address may use the key until one is allowed
        #[arg(long = "allow-ip", num_args = 1..)]
        allow_ip: Vec<String>,
        /// The actions it may perform: SUBSCRIBE,GET,… or all
        #[arg(long, default_value = "all")]
        actions: String,
    },
    /// List the keys (of one member organisation)
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Allow more caller addresses or ranges for a key
    AllowIp {
        /// The key's id (see list)
        id: i64,
        #[arg(required = true, num_args = 1..)]
        ips: Vec<String>,
        /// Replace the allowlist instead of adding to it
        #[arg(long)]
        replace: bool,
    },
    /// Set the actions a key may perform: SUBSCRIBE,GET,… or all
    Actions { id: i64, actions: String },
    /// Let a key act on another organisation, as account number ACCOUNT
    Grant {
        id: i64,
        #[arg(long)]
        org: String,
        #[arg(long)]
        account: i64,
    },
    /// Revoke a key: it fails at once
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create (or reuse) the sandbox organisation with a test list, and print a new key for it
    Create {
        /// The sandbox organisation's slug
        #[arg(long, default_value = "sandbox")]
        org: String,
        /// The account number callers pass as a= [default: the organisation's id]
        #[arg(long)]
        account: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Run only the background workers, no HTTP server
    #[arg(long, conflicts_with = "no_workers")]
    pub workers_only: bool,
    /// Run only the HTTP server, no background workers
    #[arg(long)]
    pub no_workers: bool,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation
    Create {
        /// 2-63 characters a-z, 0-9 and '-'
        slug: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Default language of contacts and pages (nl, en, de, fr)
        #[arg(long, default_value = "nl")]
        language: String,
    },
    /// List organisations
    List,
    /// Set the sender (From address and name) of the organisation's mails
    SetSender {
        slug: String,
        #[arg(long)]
        email: String,
        /// Display name [default: the organisation's name]
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and cannot be shown again
    Create {
        #[arg(long)]
        org: String,
        /// Scopes such as optin:register, contacts:read, admin (repeat or comma-separate)
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
        /// Allowed caller addresses or CIDR ranges (repeatable); default: any
        #[arg(long = "allow-ip", num_args = 1..)]
        allow_ip: Vec<String>,
        /// Days until the token expires
        #[arg(long, value_name = "DAYS")]
        expires: Option<u32>,
        /// A label to recognise the token by
        #[arg(long)]
        name: Option<String>,
        /// The user the token belongs to (it stops working when the user is removed)
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// The partner (key) the token acts for: it sees only that partner's consents
        /// (scopes partner:read and partner:write only)
        #[arg(long, value_name = "KEY")]
        partner: Option<String>,
    },
    /// List the tokens of an organisation
    List {
        #[arg(long)]
        org: String,
    },
    /// Replace a token (by id or secret) with a new one; the old one fails at once
    Rotate { token: String },
    /// Revoke a token (by id or secret)
    Revoke { token: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an admin UI login (password hashed with argon2id)
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// admin or marketer
        #[arg(long, value_parser = ["admin", "marketer"])]
        role: String,
        /// Read the password from standard input instead of generating one
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Recompute the ledger's hash chain and report the first broken entry
    Verify {
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailingCommand {
    /// List the organisation's mailings, newest first
    List {
        #[arg(long)]
        org: String,
        /// Only mailings in this state (draft, scheduled, sending, paused, sent, cancelled)
        #[arg(long)]
        status: Option<String>,
    },
    /// Start sending a draft, scheduled or held mailing now
    Send {
        #[arg(long)]
        org: String,
        id: i64,
    },
    /// Send a mailing at a time (RFC 3339, e.g. 2026-12-01T19:00:00+01:00)
    Schedule {
        #[arg(long)]
        org: String,
        id: i64,
        #[arg(long)]
        at: String,
    },
    /// Pause a sending mailing
    Pause {
        #[arg(long)]
        org: String,
        id: i64,
    },
    /// Resume a paused mailing
    Resume {
        #[arg(long)]
        org: String,
        id: i64,
    },
    /// Cancel a mailing: what was not sent yet is not sent
    Cancel {
        #[arg(long)]
        org: String,
        id: i64,
    },
    /// Print a mailing's statistics as JSON
    Stats {
        #[arg(long)]
        org: String,
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the messages in the outbox
    List,
    /// Print one message as it was written
    Show { id: String },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listen = match &cli.command {
        Command::Serve(a) => a.listen,
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        listen,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    init_tracing(&config, matches!(cli.command, Command::Serve(_)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::serve(config, args).await,
            command => manage::run(config, command).await,
        }
    })
}

fn init_tracing(config: &Config, serving: bool) {
    // One-shot commands stay quiet unless something goes wrong.
    let filter = if serving { config.log.as_str() } else { "warn" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
