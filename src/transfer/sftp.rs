//! Sources on SFTP servers (russh and russh-sftp: pure Rust on ring). The server's host key
//! must have the pinned fingerprint when one is set; the key seen is handed back so that the
//! first one can be pinned.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{decode_secret_key, HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession as Sftp;
use tokio::io::AsyncWriteExt;

use super::{folder, Fetched, RemoteFile, TransferResult};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and how to log in.
#[derive(Debug, Clone)]
pub struct SftpLogin {
    pub host: String,
    pub port: u16,
    /// The checked address `host` resolved to (the connection goes there).
    pub address: std::net::SocketAddr,
    pub username: String,
    pub password: Option<String>,
    pub private_key: Option<String>,
    /// `SHA256:…` the host key must have (None: any, and the one seen is reported).
    pub host_key: Option<String>,
    /// The folder on the server ('' = where the login starts).
    pub folder: String,
}

/// Whether an OpenSSH fingerprint (`SHA256:base64`, padding optional) is the one wanted.
pub fn fingerprint_matches(seen: &str, wanted: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .strip_prefix("SHA256:")
            .unwrap_or(s.trim())
            .trim_end_matches('=')
            .to_string()
    };
    norm(seen) == norm(wanted)
}

struct HostKeyCheck {
    wanted: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let seen = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let ok = self
            .wanted
            .as_deref()
            .is_none_or(|w| fingerprint_matches(&seen, w));
        *self.seen.lock().expect("host key lock") = Some(seen);
        Ok(ok)
    }
}

pub struct SftpSession {
    ssh: Handle<HostKeyCheck>,
    sftp: Sftp,
    folder: String,
    label: String,
}

impl SftpSession {
    pub async fn connect(l: &SftpLogin) -> TransferResult<(SftpSession, String)> {
        let label = format!("{}@{}:{}", l.username, l.host, l.port);
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(120)),
            keepalive_interval: Some(Duration::from_secs(20)),
            nodelay: true,
            ..Default::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let handler = HostKeyCheck {
            wanted: l.host_key.clone(),
            seen: seen.clone(),
        };
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, client::connect(config, l.address, handler))
                .await
                .map_err(|_| {
                    format!("cannot reach {}:{}: no answer within 20 s", l.host, l.port)
                })?;
        let seen_key = seen.lock().expect("host key lock").clone();
        let mut ssh = match connected {
            Ok(h) => h,
            Err(russh::Error::UnknownKey) => {
                return Err(format!(
                    "the host key of {}:{} is {}, not the pinned {}: refusing to log in",
                    l.host,
                    l.port,
                    seen_key.as_deref().unwrap_or("unknown"),
                    l.host_key.as_deref().unwrap_or("")
                ))
            }
            Err(e) => {
                return Err(format!(
                    "cannot reach {}:{}: {}",
                    l.host,
                    l.port,
                    describe(&e)
                ))
            }
        };
        let auth = match (&l.private_key, &l.password) {
            (Some(text), _) => {
                let key = decode_secret_key(text, None)
                    .map_err(|e| format!("the private key cannot be read: {e}"))?;
                let hash = if key.algorithm().is_rsa() {
                    ssh.best_supported_rsa_hash()
                        .await
                        .map_err(|e| describe(&e))?
                        .flatten()
                } else {
                    None
                };
                let ok = ssh
                    .authenticate_publickey(
                        l.username.as_str(),
                        PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                    )
                    .await
                    .map_err(|e| describe(&e))?
                    .success();
                // A key the server refuses may still be paired with a password.
                match (&l.password, ok) {
                    (Some(p), false) => ssh
                        .authenticate_password(l.username.as_str(), p.as_str())
                        .await
                        .map_err(|e| describe(&e))?
                        .success(),
                    _ => ok,
                }
            }
            (None, Some(p)) => ssh
                .authenticate_password(l.username.as_str(), p.as_str())
                .await
                .map_err(|e| describe(&e))?
                .success(),
            (None, None) => false,
        };
        if !auth {
            return Err(format!(
                "{label}: login refused (wrong user name, password or key)"
            ));
        }
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| format!("{label}: {}", describe(&e)))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| format!("{label}: {}", describe(&e)))?;
        let sftp = Sftp::new(channel.into_stream())
            .await
            .map_err(|e| format!("{label}: the server offers no SFTP: {e}"))?;
        sftp.set_timeout(60);
        let s = SftpSession {
            ssh,
            sftp,
            folder: l.folder.trim_end_matches('/').to_string(),
            label,
        };
        if !s.folder.is_empty() && !s.exists(&s.folder).await? {
            return Err(format!("{}: there is no folder '{}'", s.label, s.folder));
        }
        Ok((s, seen_key.unwrap_or_default()))
    }

    fn path(&self, rest: &str) -> String {
        if self.folder.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.folder)
        }
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> String {
        format!("{}: {what}: {e}", self.label)
    }

    async fn exists(&self, path: &str) -> TransferResult<bool> {
        self.sftp
            .try_exists(path)
            .await
            .map_err(|e| self.err(&format!("cannot look at {path}"), e))
    }

    async fn mkdir(&self, path: &str) -> TransferResult<()> {
        if !self.exists(path).await? {
            if let Err(e) = self.sftp.create_dir(path).await {
                // Another client may have made it meanwhile.
                if !self.exists(path).await? {
                    return Err(self.err(&format!("cannot create {path}"), e));
                }
            }
        }
        Ok(())
    }

    /// Renames, replacing the target (plain SFTP rename refuses an existing one).
    async fn replace(&self, from: &str, to: &str) -> TransferResult<()> {
        if self.exists(to).await? {
            self.sftp
                .remove_file(to)
                .await
                .map_err(|e| self.err(&format!("cannot replace {to}"), e))?;
        }
        self.sftp
            .rename(from, to)
            .await
            .map_err(|e| self.err(&format!("cannot move {from} to {to}"), e))
    }

    pub async fn list(&mut self) -> TransferResult<Vec<RemoteFile>> {
        let dir = if self.folder.is_empty() {
            "."
        } else {
            self.folder.as_str()
        };
        let entries = self
            .sftp
            .read_dir(dir)
            .await
            .map_err(|e| self.err(&format!("cannot list {dir}"), e))?;
        let mut out: Vec<RemoteFile> = entries
            .filter(|e| e.metadata().is_regular())
            .map(|e| RemoteFile {
                size: e.metadata().len(),
                modified: e.metadata().mtime.map(i64::from),
                name: e.file_name(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn fetch(&mut self, name: &str, to: &Path) -> TransferResult<Fetched> {
        let path = self.path(name);
        let mut file = self
            .sftp
            .open(path.as_str())
            .await
            .map_err(|e| self.err(&format!("cannot open {path}"), e))?;
        folder::copy_hashed(&mut file, to).await
    }

    pub async fn put(&mut self, from: &Path, name: &str) -> TransferResult<()> {
        let part = self.path(&format!(".{name}.part"));
        let mut src = tokio::fs::File::open(from)
            .await
            .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let mut file = self
            .sftp
            .create(part.as_str())
            .await
            .map_err(|e| self.err(&format!("cannot write {part}"), e))?;
        tokio::io::copy(&mut src, &mut file)
            .await
            .map_err(|e| self.err(&format!("cannot write {part}"), e))?;
        // shutdown waits for every write and the close; a dropped file would hide errors.
        file.shutdown()
            .await
            .map_err(|e| self.err(&format!("cannot write {part}"), e))?;
        self.replace(&part, &self.path(name)).await
    }

    pub async fn put_text(&mut self, sub: &str, name: &str, text: &str) -> TransferResult<()> {
        let dir = self.path(sub);
        self.mkdir(&dir).await?;
        let path = format!("{dir}/{name}");
        let mut file = self
            .sftp
            .create(path.as_str())
            .await
            .map_err(|e| self.err(&format!("cannot write {path}"), e))?;
        file.write_all(text.as_bytes())
            .await
            .map_err(|e| self.err(&format!("cannot write {path}"), e))?;
        file.shutdown()
            .await
            .map_err(|e| self.err(&format!("cannot write {path}"), e))
    }

    pub async fn move_into(&mut self, name: &str, sub: &str) -> TransferResult<()> {
        let dir = self.path(sub);
        self.mkdir(&dir).await?;
        self.replace(&self.path(name), &format!("{dir}/{name}"))
            .await
    }

    pub async fn close(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// An SSH error as a sentence.
fn describe(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => io.to_string(),
        russh::Error::ConnectionTimeout => "the connection timed out".into(),
        russh::Error::Disconnect => "the server closed the connection".into(),
        other => other.to_string(),
    }
}
