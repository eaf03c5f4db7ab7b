//! Sources that are folders on this machine.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Fetched, RemoteFile, TransferResult};

pub async fn list(dir: &Path) -> TransferResult<Vec<RemoteFile>> {
    let mut out = Vec::new();
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    while let Some(e) = entries
        .next_entry()
        .await
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
    {
        let meta = match e.metadata().await {
            Ok(m) => m,
            Err(_) => continue,
        };
        if meta.is_file() {
            if let Some(name) = e.file_name().to_str() {
                out.push(RemoteFile {
                    name: name.to_string(),
                    size: meta.len(),
                    modified: meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() as i64),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Copies `from` to `to`, hashing the bytes on the way.
pub async fn fetch(from: &Path, to: &Path) -> TransferResult<Fetched> {
    let mut src = tokio::fs::File::open(from)
        .await
        .map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    copy_hashed(&mut src, to).await
}

/// Copies a reader into a new file at `to`, hashing the bytes on the way.
pub(super) async fn copy_hashed(
    src: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &Path,
) -> TransferResult<Fetched> {
    let mut out = tokio::fs::File::create(to)
        .await
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the file failed: {e}"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])
            .await
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
        size += n as u64;
    }
    out.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(Fetched {
        size,
        sha256: hex::encode(hash.finalize()),
    })
}

pub async fn put(from: &Path, dir: &Path, name: &str) -> TransferResult<()> {
    let part = dir.join(format!(".{name}.part"));
    tokio::fs::copy(from, &part)
        .await
        .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    tokio::fs::rename(&part, dir.join(name))
        .await
        .map_err(|e| format!("cannot write {name}: {e}"))
}

pub async fn move_into(dir: &Path, name: &str, sub: &str) -> TransferResult<()> {
    let target = dir.join(sub);
    tokio::fs::create_dir_all(&target)
        .await
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    tokio::fs::rename(dir.join(name), target.join(name))
        .await
        .map_err(|e| format!("cannot move {name} to {sub}/: {e}"))
}
