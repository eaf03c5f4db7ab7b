//! One interface over the ways a message leaves: one or more SMTP relays (each with its own
//! connection pool and optional rate), or the Maildir outbox. Messages are DKIM-signed here,
//! at the moment they leave, when a key is configured.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::smtp::SmtpRelay;
use super::{ComposedMessage, Dkim, Maildir, SmtpSettings};
use crate::config::{Config, RelayConfig};

/// Why a message was not accepted: a transient failure is retried later, a permanent one not.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// A temporary failure from any error (a database read while preparing a mail, say).
    pub fn transient(e: impl std::fmt::Display) -> Self {
        SendError::Transient(e.to_string())
    }
}

struct Relay {
    smtp: SmtpRelay,
    rate: Option<DefaultDirectRateLimiter>,
}

enum Way {
    Relays(Vec<Relay>),
    Maildir(Maildir),
}

#[derive(Clone)]
pub struct Transport {
    way: Arc<Way>,
    /// Where the mail of sandbox organisations goes, whatever else is configured.
    outbox: Maildir,
    next: Arc<AtomicUsize>,
    dkim: Option<Arc<Dkim>>,
}

fn relay(r: &RelayConfig, config: &Config) -> Result<Relay, String> {
    let settings = SmtpSettings::parse(&r.url)?;
    Ok(Relay {
        smtp: SmtpRelay::new(
            &settings,
            &config.mail_hostname(),
            r.pool_size.unwrap_or(config.smtp_pool_size),
            Duration::from_secs(config.smtp_timeout_secs),
        )?,
        rate: r
            .rate_per_second
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n))),
    })
}

impl Transport {
    /// The SMTP relays of `smtp_url` and `smtp_relays`, or the Maildir outbox in the data
    /// directory; with the DKIM key of `dkim_key_file`.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let mut relays = Vec::new();
        if let Some(url) = &config.smtp_url {
            relays.push(relay(
                &RelayConfig {
                    url: url.clone(),
                    pool_size: None,
                    rate_per_second: None,
                },
                config,
            )?);
        }
        for r in &config.smtp_relays {
            relays.push(relay(r, config)?);
        }
        let outbox = Maildir::open(config.outbox_dir()).map_err(|e| {
            format!(
                "cannot open the outbox {}: {e}",
                config.outbox_dir().display()
            )
        })?;
        let way = if relays.is_empty() {
            Way::Maildir(outbox.clone())
        } else {
            Way::Relays(relays)
        };
        let dkim = match (&config.dkim_domain, &config.dkim_key_file) {
            (Some(domain), Some(path)) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read dkim_key_file {}: {e}", path.display()))?;
                Some(Arc::new(Dkim::new(domain, &config.dkim_selector, &pem)?))
            }
            _ => None,
        };
        Ok(Self {
            way: Arc::new(way),
            outbox,
            next: Arc::default(),
            dkim,
        })
    }

    pub fn describe(&self) -> String {
        let way = match &*self.way {
            Way::Relays(r) => r
                .iter()
                .map(|r| r.smtp.describe().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Way::Maildir(m) => format!("maildir outbox {}", m.root().display()),
        };
        match &self.dkim {
            Some(d) => format!("{way}; signed with {d:?}"),
            None => way,
        }
    }

    /// The relays that refuse connections as this node last saw them: (relay, why, since when
    /// in unix milliseconds).
    pub fn refusing(&self) -> Vec<(String, String, i64)> {
        match &*self.way {
            Way::Relays(relays) => relays
                .iter()
                .filter_map(|r| {
                    let (why, since) = r.smtp.refusing()?;
                    let ms = since
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    Some((r.smtp.describe().to_string(), why, ms))
                })
                .collect(),
            Way::Maildir(_) => Vec::new(),
        }
    }

    /// The DNS record that publishes the DKIM public key (name, TXT value), when mail is signed.
    pub fn dkim_record(&self) -> Option<(String, String)> {
        self.dkim.as_ref().map(|d| d.dns_record())
    }

    /// Each way out with the outcome of a connection to it: relays are connected to (nothing
    /// is sent), the Maildir outbox is made if missing and checked for being writable.
    pub async fn check(&self) -> Vec<(String, Result<(), String>)> {
        match &*self.way {
            Way::Relays(relays) => {
                let mut out = Vec::new();
                for r in relays {
                    out.push((
                        r.smtp.describe().to_string(),
                        r.smtp.check().await.map_err(|e| e.to_string()),
                    ));
                }
                out
            }
            Way::Maildir(m) => {
                let root = m.root();
                let writable = std::fs::create_dir_all(root)
                    .and_then(|_| std::fs::metadata(root))
                    .map_err(|e| e.to_string())
                    .and_then(|md| {
                        if md.permissions().readonly() {
                            Err("the folder is read-only".to_string())
                        } else {
                            Ok(())
                        }
                    });
                vec![(format!("maildir outbox {}", root.display()), writable)]
            }
        }
    }

    /// Hands `m` over (to the relays in turn, each at its own pace); returns the relay's
    /// answer or the outbox file name.
    pub async fn send(&self, m: &ComposedMessage) -> Result<String, SendError> {
        self.send_for(false, m).await
    }

    /// Like [`Transport::send`]; the mail of a sandbox organisation never leaves the machine:
    /// it goes to the outbox.
    pub async fn send_for(&self, sandbox: bool, m: &ComposedMessage) -> Result<String, SendError> {
        let signed;
        let m = match &self.dkim {
            Some(d) if d.covers(&from_address(&m.raw)) => {
                signed = ComposedMessage {
                    raw: d
                        .sign(&m.raw)
                        .map_err(|e| SendError::Permanent(format!("DKIM signing failed: {e}")))?,
                    ..m.clone()
                };
                &signed
            }
            _ => m,
        };
        match &*self.way {
            Way::Relays(_) if sandbox => to_outbox(&self.outbox, m).await,
            Way::Relays(relays) => {
                let r = &relays[self.next.fetch_add(1, Ordering::Relaxed) % relays.len()];
                if let Some(rate) = &r.rate {
                    rate.until_ready().await;
                }
                r.smtp.send(m).await
            }
            Way::Maildir(d) => to_outbox(d, m).await,
        }
    }
}

async fn to_outbox(d: &Maildir, m: &ComposedMessage) -> Result<String, SendError> {
    let d = d.clone();
    let raw = m.raw.clone();
    tokio::task::spawn_blocking(move || d.deliver(&raw))
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?
        .map(|entry| format!("250 written to the outbox as {entry}"))
        .map_err(|e| SendError::Transient(format!("outbox write failed: {e}")))
}

/// The address in the From header of a raw message.
fn from_address(raw: &[u8]) -> String {
    let head = &raw[..raw.len().min(8192)];
    let text = String::from_utf8_lossy(head);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("from:"))
        .map(|l| {
            let v = &l[5..];
            match (v.rfind('<'), v.rfind('>')) {
                (Some(a), Some(b)) if a < b => v[a + 1..b].trim().to_string(),
                _ => v.trim().to_string(),
            }
        })
        .unwrap_or_default()
}
