//! One interface over the two ways a message leaves: an SMTP relay or the Maildir outbox.

use std::time::Duration;

use super::smtp::SmtpRelay;
use super::{ComposedMessage, Maildir, SmtpSettings};
use crate::config::Config;

/// Why a message was not accepted: a transient failure is retried later, a permanent one not.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(SmtpRelay),
    Maildir(Maildir),
}

impl Transport {
    /// The SMTP relay of `smtp_url`, or the Maildir outbox in the data directory.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        match &config.smtp_url {
            Some(url) => {
                let settings = SmtpSettings::parse(url)?;
                Ok(Transport::Smtp(SmtpRelay::new(
                    &settings,
                    &config.mail_hostname(),
                    config.smtp_pool_size,
                    Duration::from_secs(config.smtp_timeout_secs),
                )?))
            }
            None => Maildir::open(config.outbox_dir())
                .map(Transport::Maildir)
                .map_err(|e| {
                    format!(
                        "cannot open the outbox {}: {e}",
                        config.outbox_dir().display()
                    )
                }),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(s) => s.describe().to_string(),
            Transport::Maildir(m) => format!("maildir outbox {}", m.root().display()),
        }
    }

    /// Hands `m` over; returns the relay's answer or the outbox file name.
    pub async fn send(&self, m: &ComposedMessage) -> Result<String, SendError> {
        match self {
            Transport::Smtp(s) => s.send(m).await,
            Transport::Maildir(d) => {
                let d = d.clone();
                let raw = m.raw.clone();
                tokio::task::spawn_blocking(move || d.deliver(&raw))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map(|entry| format!("250 written to the outbox as {entry}"))
                    .map_err(|e| SendError::Transient(format!("outbox write failed: {e}")))
            }
        }
    }
}
