//! The SMTP relay transport: pooled connections, STARTTLS / implicit TLS / plain, AUTH.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::smtp_client::{tls_connector, ConnectParams, Security, SmtpConn};
use super::{ComposedMessage, SendError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Implicit TLS from the first byte (`smtps://`, port 465).
    Wrapper,
    /// STARTTLS, and refuse to send without it (`smtp://`, the default).
    Required,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic,
    /// No TLS (`?tls=none`): only for a relay on the same host or network.
    None,
}

/// Parsed `smtp_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file with the certificate(s) of a private CA to trust besides the public roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none][&ca_file=PATH]` or
    /// `smtps://…[?ca_file=PATH]`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::Required,
            "smtps" => SmtpTls::Wrapper,
            other => return Err(format!("scheme must be smtp or smtps, not '{other}'")),
        };
        let mut ca_file = None;
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref(), tls) {
                ("ca_file", "", _) => return Err("ca_file needs a path".into()),
                ("ca_file", path, _) => ca_file = Some(std::path::PathBuf::from(path)),
                ("tls", "required", SmtpTls::Required) => {}
                ("tls", "opportunistic", SmtpTls::Required) => tls = SmtpTls::Opportunistic,
                ("tls", "none", SmtpTls::Required) => tls = SmtpTls::None,
                ("tls", _, _) => {
                    return Err(
                        "tls must be required, opportunistic or none (and only with smtp://)"
                            .into(),
                    )
                }
                (other, _, _) => return Err(format!("unknown parameter '{other}'")),
            }
        }
        let port = url
            .port()
            .unwrap_or(if tls == SmtpTls::Wrapper { 465 } else { 587 });
        let decode = |s: &str| {
            percent_decode(s).map_err(|_| {
                "user name and password must be valid percent-encoded UTF-8".to_string()
            })
        };
        let username = (!url.username().is_empty())
            .then(|| decode(url.username()))
            .transpose()?;
        let password = url.password().map(decode).transpose()?;
        if password.is_some() && username.is_none() {
            return Err("a password needs a user name".into());
        }
        if ca_file.is_some() && tls == SmtpTls::None {
            return Err("ca_file makes no sense with tls=none".into());
        }
        Ok(Self {
            host,
            port,
            tls,
            username,
            password,
            ca_file,
        })
    }
}

fn percent_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
}

/// A pool of SMTP connections to one relay. Connections are opened with TCP_NODELAY, and
/// messages go out pipelined when the relay offers it (see `smtp_client`).
#[derive(Clone)]
pub struct SmtpRelay {
    inner: Arc<Inner>,
}

struct Inner {
    params: ConnectParams,
    slots: Semaphore,
    idle: Mutex<Vec<(SmtpConn, Instant)>>,
    describe: String,
    /// Set while the relay refuses connections (greeting, TLS, login): why, and since when.
    refusing: Mutex<Option<(String, std::time::SystemTime)>>,
}

/// Idle connections older than this are closed rather than reused.
const IDLE_REUSE: Duration = Duration::from_secs(50);

/// An envelope address fit for MAIL FROM / RCPT TO.
fn envelope_address(a: &str) -> Result<&str, SendError> {
    let ok = a.contains('@')
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>');
    if ok {
        Ok(a)
    } else {
        Err(SendError::Permanent(format!(
            "address {a} rejected: not a mailbox"
        )))
    }
}

impl SmtpRelay {
    pub fn new(
        s: &SmtpSettings,
        hello_name: &str,
        pool_size: u32,
        timeout: Duration,
    ) -> Result<Self, String> {
        let connector = || {
            let pem = match &s.ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?,
                ),
                None => None,
            };
            tls_connector(pem.as_deref()).map_err(|e| match &s.ca_file {
                Some(path) => format!("ca_file {} {e}", path.display()),
                None => e,
            })
        };
        let security = match s.tls {
            SmtpTls::None => Security::Plain,
            SmtpTls::Wrapper => Security::Wrapper(connector()?),
            SmtpTls::Required | SmtpTls::Opportunistic => Security::StartTls {
                connector: connector()?,
                required: s.tls == SmtpTls::Required,
            },
        };
        let credentials = match (&s.username, &s.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                params: ConnectParams {
                    host: s.host.clone(),
                    port: s.port,
                    hello: hello_name.to_string(),
                    security,
                    credentials,
                    timeout,
                },
                slots: Semaphore::new(pool_size.max(1) as usize),
                idle: Mutex::new(Vec::new()),
                describe: format!("smtp relay {}:{} ({:?})", s.host, s.port, s.tls),
                refusing: Mutex::new(None),
            }),
        })
    }

    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// Connects as a delivery would (greeting, EHLO, TLS, AUTH) and closes again: the check
    /// behind the admin UI's test button. Nothing is sent.
    pub async fn check(&self) -> Result<(), SendError> {
        self.connect().await.map(drop)
    }

    /// A new connection; its outcome tells whether the relay is refusing.
    async fn connect(&self) -> Result<SmtpConn, SendError> {
        let outcome = SmtpConn::connect(&self.inner.params).await;
        let mut refusing = self
            .inner
            .refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &outcome {
            Ok(_) => *refusing = None,
            Err(e) => {
                let since = refusing
                    .as_ref()
                    .map_or_else(std::time::SystemTime::now, |(_, t)| *t);
                *refusing = Some((e.to_string(), since));
            }
        }
        outcome
    }

    /// Why the relay refused the last connection and since when it refuses, while it does.
    pub fn refusing(&self) -> Option<(String, std::time::SystemTime)> {
        self.inner
            .refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends `m`; on success, the relay's answer (e.g. `250 2.0.0 queued as 4F2A`).
    pub async fn send(&self, m: &ComposedMessage) -> Result<String, SendError> {
        let from = envelope_address(&m.envelope_from)?;
        for r in &m.recipients {
            envelope_address(r)?;
        }
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let reused = {
            let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            while let Some((c, at)) = idle.pop() {
                if at.elapsed() < IDLE_REUSE && c.is_usable() {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let mut conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        let sent = tokio::time::timeout(
            self.inner.params.timeout * 4,
            conn.send(from, &m.recipients, &m.raw),
        )
        .await;
        // A timed-out connection is in an unknown state: it is not put back.
        let timed_out = sent.is_err();
        let sent = sent.unwrap_or_else(|_| {
            Err(SendError::Transient(
                "the relay did not answer in time".into(),
            ))
        });
        if conn.is_usable() && !timed_out {
            self.inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((conn, Instant::now()));
        }
        sent.map(|r| r.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relay_urls() {
        let s = SmtpSettings::parse("smtp://user%40venue.nl:p%3Ass@relay.example.com").unwrap();
        assert_eq!(s.host, "relay.example.com");
        assert_eq!(s.port, 587);
        assert_eq!(s.tls, SmtpTls::Required);
        assert_eq!(s.username.as_deref(), Some("user@venue.nl"));
        assert_eq!(s.password.as_deref(), Some("p:ss"));
        assert!(
            !format!("{s:?}").contains("p:ss"),
            "Debug hides the password"
        );
        let s = SmtpSettings::parse("smtps://relay.example.com").unwrap();
        assert_eq!((s.port, s.tls), (465, SmtpTls::Wrapper));
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((s.port, s.tls), (2525, SmtpTls::None));
        let s = SmtpSettings::parse("smtp://[::1]:25?tls=opportunistic").unwrap();
        assert_eq!((s.host.as_str(), s.tls), ("::1", SmtpTls::Opportunistic));
        let s = SmtpSettings::parse("smtps://relay.internal?ca_file=/etc/handbill/ca.pem").unwrap();
        assert_eq!(
            s.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/handbill/ca.pem"))
        );
    }

    #[test]
    fn rejects_bad_relay_urls() {
        for bad in [
            "relay.example.com",
            "http://relay.example.com",
            "smtp://",
            "smtps://relay?tls=none",
            "smtp://relay?tls=maybe",
            "smtp://relay?pool=3",
            "smtp://:secret@relay",
            "smtp://relay?ca_file=",
            "smtp://relay?tls=none&ca_file=/etc/ca.pem",
        ] {
            assert!(SmtpSettings::parse(bad).is_err(), "{bad}");
        }
    }
}
