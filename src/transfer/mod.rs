//! Moving files to and from sources: a folder on this machine or a folder on an SFTP server.
//! A session lists the files of its folder, fetches one (hashing it on the way), puts one
//! (under a temporary name first, so a reader never sees half a file), and moves one into a
//! subfolder (`archive/`, `failed/`). Errors are sentences for the source's status and the CLI.

mod folder;
mod sftp;

use std::path::{Path, PathBuf};

pub use sftp::{fingerprint_matches, SftpLogin};

/// A regular file in a source's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub size: u64,
    /// When it was last written (unix seconds), when the server says.
    pub modified: Option<i64>,
}

impl RemoteFile {
    /// Whether it was written within the last `secs` seconds (it may still be arriving).
    pub fn is_fresh(&self, secs: u64) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.modified.is_some_and(|m| now - m < secs as i64)
    }
}

/// What a fetch found: the size and SHA-256 (hex) of the bytes written to the local copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub size: u64,
    pub sha256: String,
}

pub type TransferResult<T> = Result<T, String>;

pub enum Session {
    Folder(PathBuf),
    Sftp(Box<sftp::SftpSession>),
}

impl Session {
    /// A folder on this machine (created when missing).
    pub async fn folder(path: PathBuf) -> TransferResult<Session> {
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| format!("cannot use the folder {}: {e}", path.display()))?;
        Ok(Session::Folder(path))
    }

    /// Logs in to an SFTP server; the host key seen is returned for pinning.
    pub async fn sftp(login: &SftpLogin) -> TransferResult<(Session, String)> {
        let (s, key) = sftp::SftpSession::connect(login).await?;
        Ok((Session::Sftp(Box::new(s)), key))
    }

    /// The regular files of the folder, by name.
    pub async fn list(&mut self) -> TransferResult<Vec<RemoteFile>> {
        match self {
            Session::Folder(dir) => folder::list(dir).await,
            Session::Sftp(s) => s.list().await,
        }
    }

    /// Copies a file of the folder to `to`, as a stream.
    pub async fn fetch(&mut self, name: &str, to: &Path) -> TransferResult<Fetched> {
        check_name(name)?;
        match self {
            Session::Folder(dir) => folder::fetch(&dir.join(name), to).await,
            Session::Sftp(s) => s.fetch(name, to).await,
        }
    }

    /// Puts a local file into the folder as `name` (replacing a file of that name).
    pub async fn put(&mut self, from: &Path, name: &str) -> TransferResult<()> {
        check_name(name)?;
        match self {
            Session::Folder(dir) => folder::put(from, dir, name).await,
            Session::Sftp(s) => s.put(from, name).await,
        }
    }

    /// Writes a small text file into a subfolder (an error report next to a failed file).
    pub async fn put_text(&mut self, sub: &str, name: &str, text: &str) -> TransferResult<()> {
        check_name(name)?;
        match self {
            Session::Folder(dir) => {
                let sub = dir.join(sub);
                tokio::fs::create_dir_all(&sub)
                    .await
                    .map_err(|e| format!("cannot create {}: {e}", sub.display()))?;
                tokio::fs::write(sub.join(name), text)
                    .await
                    .map_err(|e| format!("cannot write {name}: {e}"))
            }
            Session::Sftp(s) => s.put_text(sub, name, text).await,
        }
    }

    /// Moves a file of the folder into a subfolder (made when missing); a file of the same
    /// name there is replaced.
    pub async fn move_into(&mut self, name: &str, sub: &str) -> TransferResult<()> {
        check_name(name)?;
        match self {
            Session::Folder(dir) => folder::move_into(dir, name, sub).await,
            Session::Sftp(s) => s.move_into(name, sub).await,
        }
    }

    pub async fn close(self) {
        if let Session::Sftp(s) = self {
            s.close().await;
        }
    }
}

/// Names come from remote listings and patterns: never a path.
fn check_name(name: &str) -> TransferResult<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        Err(format!("'{name}' is not a file name"))
    } else {
        Ok(())
    }
}

/// Whether a file name matches a pattern with `*` (any characters) and `?` (one).
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches_pattern(
            "contacts_20261128.csv",
            "contacts_20261128.csv"
        ));
        assert!(matches_pattern(
            "trigger_*_*.csv",
            "trigger_AB12_batch1.csv"
        ));
        assert!(matches_pattern("*.csv", "x.csv"));
        assert!(matches_pattern("day?.csv", "day1.csv"));
        assert!(!matches_pattern("*.csv", "x.csv.part"));
        assert!(!matches_pattern("trigger_*_*.csv", "trigger_AB12.csv"));
    }

    #[test]
    fn fresh_files() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let f = |modified| RemoteFile {
            name: "a.csv".into(),
            size: 1,
            modified,
        };
        assert!(f(Some(now - 2)).is_fresh(10));
        assert!(!f(Some(now - 20)).is_fresh(10));
        assert!(!f(Some(now)).is_fresh(0));
        assert!(!f(None).is_fresh(10), "no time known: taken");
    }

    #[test]
    fn names() {
        assert!(check_name("a.csv").is_ok());
        for bad in ["", "..", "a/b", "..\\x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
