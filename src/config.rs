//! Configuration: built-in defaults, then `handbill.toml` (or `--config FILE`), then
//! `HANDBILL_*` environment variables, then command-line flags. Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::IpAllowlist;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the Maildir outbox.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; defaults to `sqlite://DATA_DIR/handbill.db`.
    pub database_url: Option<String>,
    /// Most connections the database pool opens.
    pub database_max_connections: u32,
    /// How long SQLite waits for a lock before giving up, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// Base URL used in links in mails and pages; defaults to `http://LISTEN`.
    pub public_url: Option<String>,
    /// `smtp://user:pass@host:587` (STARTTLS), `smtps://…` (TLS); unset: Maildir outbox.
    pub smtp_url: Option<String>,
    /// Most SMTP connections kept open at once (per relay).
    pub smtp_pool_size: u32,
    /// More relays, used in turn with `smtp_url`: `[[smtp_relays]]` tables with `url`, and
    /// optionally `pool_size` and `rate_per_second`.
    pub smtp_relays: Vec<RelayConfig>,
    /// DKIM: mail from this domain (or below it) is signed with the key in `dkim_key_file`
    /// (PEM: RSA or Ed25519) under `dkim_selector`.
    pub dkim_domain: Option<String>,
    pub dkim_selector: String,
    pub dkim_key_file: Option<PathBuf>,
    /// SMTP command timeout in seconds.
    pub smtp_timeout_secs: u64,
    /// Name announced in EHLO and used in Message-IDs; defaults to the public URL's host.
    pub mail_hostname: Option<String>,
    /// API tokens unused for this many days stop working.
    pub token_idle_days: u32,
    /// Reverse proxies whose `X-Forwarded-For` header is believed (addresses or CIDR ranges).
    #[serde(deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<String>,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Jobs one node runs at the same time.
    pub worker_concurrency: usize,
    /// Days a confirmation link of the double opt-in flow stays valid.
    pub optin_link_days: u32,
    /// At most one verification mail per address in this many minutes.
    pub optin_resend_minutes: u32,
    /// Unconfirmed signups are erased this many hours after their link expired (during which
    /// the expired link still offers to send a new one).
    pub optin_purge_grace_hours: u32,
    /// Requests per second one API token may make (per node), and the burst it may use.
    pub token_rate_per_second: u32,
    pub token_rate_burst: u32,
    /// This node's name in the delivery log (claims are `NAME#batch`); nodes sharing a
    /// database need different names. Defaults to the host name.
    pub node_name: Option<String>,
    /// Messages a worker claims, renders and sends together; at most this many are in
    /// doubt (`uncertain`) when a node is killed mid-send.
    pub mail_batch_size: u32,
    /// Most messages per second and per hour this node sends (0: no limit).
    pub mail_rate_per_second: u32,
    pub mail_rate_per_hour: u32,
    /// Most messages in flight at once to one recipient domain.
    pub mail_domain_concurrency: u32,
    /// Attempts for a message the relay defers (4xx) before it counts as a bounce.
    pub mail_max_attempts: u32,
    /// First retry delay after a 4xx answer, in seconds (doubling each time).
    pub mail_retry_secs: u32,
    /// A scheduled mailing more than this many minutes late (the server was down) is not sent
    /// on start: it waits for a person to send or reschedule it.
    pub schedule_grace_minutes: u32,
    /// Domain of the VERP bounce addresses (`bounces+…@DOMAIN`); defaults to mail_hostname.
    pub bounce_domain: Option<String>,
    /// Opens and clicks this many seconds after delivery or sooner count as security scanners.
    pub scanner_window_secs: u32,
    /// Soft bounces of one contact after which its address is suppressed.
    pub soft_bounce_limit: u32,
    /// Where the bounce listener accepts returned mail (DSN) and complaints (ARF) for the VERP
    /// addresses, e.g. `0.0.0.0:25`; unset: no listener.
    pub bounce_listen: Option<SocketAddr>,
    /// The relay provider, whose webhooks report bounces: `ses`, `postmark`, `sendgrid` or
    /// `mailgun`. Outgoing mail then carries the provider's metadata header with its VERP
    /// reference.
    pub mail_provider: Option<String>,
    /// Credentials the Postmark webhook sends (HTTP basic auth).
    pub postmark_webhook_user: Option<String>,
    pub postmark_webhook_password: Option<String>,
    /// Mailgun's HTTP webhook signing key.
    pub mailgun_signing_key: Option<String>,
    /// SendGrid's event webhook verification key (base64, as SendGrid shows it).
    pub sendgrid_public_key: Option<String>,
    /// SNS topics whose SES notifications are accepted (ARNs).
    #[serde(deserialize_with = "string_or_list")]
    pub ses_topic_arns: Vec<String>,
    /// SNS signing certificates kept on disk (URL → PEM file), used instead of fetching them
    /// (for nodes without outbound HTTPS).
    pub sns_certificate_files: std::collections::BTreeMap<String, PathBuf>,
    /// Whether automation requests (SMS gateway, HTTP request steps) may go to private,
    /// loopback and link-local addresses (a CRM on the venue's own network). Off by default,
    /// so that no one who may edit automations can reach the server's own network.
    pub outbound_private_networks: bool,
    /// The folder below which folder sources (drop folders, export destinations) live;
    /// a source names a folder relative to it. Defaults to `DATA_DIR/folders`.
    pub folder_root: Option<PathBuf>,
    /// A file in a source written less than this many seconds ago is left for the next look
    /// (it may still be arriving).
    pub source_settle_secs: u64,
    /// Log filter (`info`, `handbill=debug,info`, …).
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./handbill-data"),
            database_url: None,
            database_max_connections: 16,
            sqlite_busy_timeout_ms: 5_000,
            public_url: None,
            smtp_url: None,
            smtp_pool_size: 4,
            smtp_relays: Vec::new(),
            dkim_domain: None,
            dkim_selector: "handbill".into(),
            dkim_key_file: None,
            smtp_timeout_secs: 30,
            mail_hostname: None,
            token_idle_days: 60,
            trusted_proxies: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            worker_concurrency: 4,
            optin_link_days: 7,
            optin_resend_minutes: 10,
            optin_purge_grace_hours: 24,
            token_rate_per_second: 50,
            token_rate_burst: 100,
            node_name: None,
            mail_batch_size: 500,
            mail_rate_per_second: 0,
            mail_rate_per_hour: 0,
            mail_domain_concurrency: 50,
            mail_max_attempts: 5,
            mail_retry_secs: 60,
            schedule_grace_minutes: 15,
            bounce_domain: None,
            scanner_window_secs: 10,
            outbound_private_networks: false,
            folder_root: None,
            source_settle_secs: 10,
            soft_bounce_limit: 3,
            bounce_listen: None,
            mail_provider: None,
            postmark_webhook_user: None,
            postmark_webhook_password: None,
            mailgun_signing_key: None,
            sendgrid_public_key: None,
            ses_topic_arns: Vec::new(),
            sns_certificate_files: Default::default(),
            log: "info".into(),
        }
    }
}

/// One extra SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    pub url: String,
    pub pool_size: Option<u32>,
    pub rate_per_second: Option<u32>,
}

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the layered configuration. `file` is `--config`; without it `handbill.toml` in
    /// the working directory is read when present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None if Path::new("handbill.toml").exists() => {
                fig = fig.merge(Toml::file_exact("handbill.toml"))
            }
            None => {}
        }
        let env = Env::prefixed("HANDBILL_")
            // Variables of the test harness (HANDBILL_TEST_*, HANDBILL_SKIP_BROWSER) are not
            // configuration.
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                !k.starts_with("test_") && k != "skip_browser"
            });
        let config: Config = fig
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Some(url) = &self.database_url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return bad(format!(
                    "database_url must start with sqlite: or postgres://, got '{}'",
                    redact_url(url)
                ));
            }
        }
        if let Some(u) = &self.public_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {}
                _ => return bad(format!("public_url must be an http(s) URL, got '{u}'")),
            }
        }
        for r in &self.smtp_relays {
            if let Err(e) = crate::mail::SmtpSettings::parse(&r.url) {
                return bad(format!("smtp_relays: {e}"));
            }
        }
        if self.dkim_domain.is_some() != self.dkim_key_file.is_some() {
            return bad("dkim_domain and dkim_key_file go together".into());
        }
        if let Some(u) = &self.smtp_url {
            if let Err(e) = crate::mail::SmtpSettings::parse(u) {
                return bad(format!("smtp_url: {e}"));
            }
        }
        if let Err(e) = IpAllowlist::parse(&self.trusted_proxies) {
            return bad(format!("trusted_proxies: {e}"));
        }
        if !(1..=3650).contains(&self.token_idle_days) {
            return bad("token_idle_days must be between 1 and 3650".into());
        }
        if self.body_limit_bytes < 1024 {
            return bad("body_limit_bytes must be at least 1024".into());
        }
        if self.database_max_connections == 0
            || self.smtp_pool_size == 0
            || self.worker_concurrency == 0
        {
            return bad("database_max_connections, smtp_pool_size and worker_concurrency must be at least 1".into());
        }
        if !(1..=90).contains(&self.optin_link_days) {
            return bad("optin_link_days must be between 1 and 90".into());
        }
        if self.optin_resend_minutes > 24 * 60 || self.optin_purge_grace_hours > 24 * 90 {
            return bad(
                "optin_resend_minutes is at most 1440 and optin_purge_grace_hours at most 2160"
                    .into(),
            );
        }
        if self.token_rate_per_second == 0 || self.token_rate_burst == 0 {
            return bad("token_rate_per_second and token_rate_burst must be at least 1".into());
        }
        if self.smtp_timeout_secs == 0 {
            return bad("smtp_timeout_secs must be at least 1".into());
        }
        if self.mail_batch_size == 0
            || self.mail_batch_size > 10_000
            || self.mail_domain_concurrency == 0
            || self.mail_max_attempts == 0
            || self.mail_retry_secs == 0
        {
            return bad("mail_batch_size (1 to 10000), mail_domain_concurrency, mail_max_attempts and mail_retry_secs must be at least 1".into());
        }
        if let Some(p) = &self.mail_provider {
            if !matches!(p.as_str(), "ses" | "postmark" | "sendgrid" | "mailgun") {
                return bad(format!(
                    "mail_provider '{p}' is not ses, postmark, sendgrid or mailgun"
                ));
            }
        }
        if self.soft_bounce_limit == 0 {
            return bad("soft_bounce_limit must be at least 1".into());
        }
        if let Some(n) = &self.node_name {
            if n.is_empty() || n.len() > 64 || n.contains(['#', '%', '_']) {
                return bad(format!(
                    "node_name '{n}' must have 1 to 64 characters without #, % or _"
                ));
            }
        }
        for h in [&self.mail_hostname, &self.bounce_domain]
            .into_iter()
            .flatten()
        {
            if h.is_empty()
                || !h
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return bad(format!(
                    "mail_hostname or bounce_domain '{h}' is not a host name"
                ));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return bad(format!("log filter '{}' is not valid", self.log));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("handbill.db").display()))
    }

    /// Where folder sources live (see `folder_root`).
    pub fn folder_root(&self) -> PathBuf {
        self.folder_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("folders"))
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn mail_hostname(&self) -> String {
        self.mail_hostname.clone().unwrap_or_else(|| {
            url::Url::parse(&self.public_url())
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
                .unwrap_or_else(|| "handbill.localhost".into())
        })
    }

    pub fn bounce_domain(&self) -> String {
        self.bounce_domain
            .clone()
            .unwrap_or_else(|| self.mail_hostname())
    }

    /// This node's name in the delivery log.
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().replace(['#', '%', '_'], "-"))
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into())
        })
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn trusted_proxies(&self) -> IpAllowlist {
        IpAllowlist::parse(&self.trusted_proxies).unwrap_or_default()
    }
}

/// Hides the password of a URL for messages and logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        Either::Many(v) => v,
    })
}
