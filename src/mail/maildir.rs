//! The local outbox: a Maildir. Each message is written to `tmp/`, flushed to disk and then
//! renamed into `new/`, so a reader never sees half a message.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mail_parser::MessageParser;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// A message in the outbox, as `handbill outbox list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: String,
    pub size: u64,
    pub modified_ms: i64,
    pub from: String,
    pub to: String,
    pub subject: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Maildir {
    /// Opens the Maildir at `root`, creating `tmp`, `new` and `cur` when missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Delivers one message; returns its id (the file name).
    pub fn deliver(&self, raw: &[u8]) -> io::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let id = format!(
            "{}.M{}P{}Q{}R{}.handbill",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple()
        );
        let tmp = self.root.join("tmp").join(&id);
        let mut f = File::create_new(&tmp)?;
        let written = f.write_all(raw).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, self.root.join("new").join(&id))?;
        File::open(self.root.join("new"))?.sync_all()?;
        Ok(id)
    }

    /// Messages in `new/` and `cur/`, oldest first.
    pub fn list(&self) -> io::Result<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let meta = entry.metadata()?;
                if !meta.is_file() {
                    continue;
                }
                let raw = fs::read(entry.path())?;
                let parsed = MessageParser::default().parse_headers(&raw);
                let addr = |a: Option<&mail_parser::Address>| {
                    a.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_string()
                };
                out.push(OutboxEntry {
                    id: entry.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                    modified_ms: meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or_default(),
                    from: addr(parsed.as_ref().and_then(|p| p.from())),
                    to: addr(parsed.as_ref().and_then(|p| p.to())),
                    subject: parsed
                        .as_ref()
                        .and_then(|p| p.subject())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
        out.sort_by(|a, b| (a.modified_ms, &a.id).cmp(&(b.modified_ms, &b.id)));
        Ok(out)
    }

    /// The raw bytes of one message. Ids are file names; anything that could leave the
    /// Maildir is refused.
    pub fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a message id",
            ));
        }
        for sub in ["new", "cur"] {
            match fs::read(self.root.join(sub).join(id)) {
                Ok(raw) => return Ok(raw),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no message {id} in the outbox"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_lists_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path().join("outbox")).unwrap();
        let raw = b"From: a@b.nl\r\nTo: c@d.nl\r\nSubject: Hoi\r\n\r\nbody\r\n";
        let id = md.deliver(raw).unwrap();
        let id2 = md.deliver(raw).unwrap();
        assert_ne!(id, id2);
        assert!(fs::read_dir(dir.path().join("outbox/tmp"))
            .unwrap()
            .next()
            .is_none());
        let list = md.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].subject, "Hoi");
        assert_eq!(list[0].to, "c@d.nl");
        assert_eq!(md.read(&id).unwrap(), raw);
        assert!(md.read("../../etc/passwd").is_err());
        assert_eq!(md.read("nope").unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
