//! A small receive-only SMTP server for returned mail: it accepts messages for the addresses
//! `accept` allows (the VERP bounce addresses) and hands each message to `deliver`. It relays
//! nothing, offers no AUTH, bounds line length, message size, recipients, connections and
//! idle time, and only ends DATA on `<CRLF>.<CRLF>` (no SMTP smuggling).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
const MAX_LINE: usize = 1000;
const MAX_RECIPIENTS: usize = 50;
const MAX_CONNECTIONS: usize = 100;
const IDLE: Duration = Duration::from_secs(300);

/// Runs the server on `listener` until `shutdown` completes.
pub async fn serve<A, D, F>(
    listener: TcpListener,
    hostname: String,
    accept: A,
    deliver: D,
    shutdown: impl Future<Output = ()>,
) where
    A: Fn(&str) -> bool + Send + Sync + 'static,
    D: Fn(Vec<String>, Vec<u8>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), String>> + Send,
{
    let handler = Arc::new((hostname, accept, deliver));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "bounce listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let mut s = stream;
            let _ = s
                .write_all(b"421 4.3.2 too many connections, try later\r\n")
                .await;
            continue;
        };
        let h = handler.clone();
        tokio::spawn(async move {
            let (host, accept, deliver) = &*h;
            if let Err(e) = session(stream, host, accept, deliver).await {
                tracing::debug!(%peer, error = %e, "bounce listener session ended");
            }
            drop(permit);
        });
    }
}

async fn reply(w: &mut (impl AsyncWriteExt + Unpin), s: &str) -> std::io::Result<()> {
    w.write_all(s.as_bytes()).await?;
    w.flush().await
}

/// Reads one line (with its line end) of at most `max` bytes; None at end of stream.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = tokio::time::timeout(IDLE, (&mut *r).take(max as u64 + 2).read_until(b'\n', buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(buf.ends_with(b"\n")))
}

fn address(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].trim().to_string())
}

async fn session<A, D, F>(
    stream: TcpStream,
    host: &str,
    accept: &A,
    deliver: &D,
) -> std::io::Result<()>
where
    A: Fn(&str) -> bool,
    D: Fn(Vec<String>, Vec<u8>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut w, &format!("220 {host} ESMTP bounce receiver\r\n")).await?;
    let mut line = Vec::new();
    let mut mail_from = false;
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        match read_line(&mut r, &mut line, MAX_LINE).await? {
            None => return Ok(()),
            Some(false) => {
                reply(&mut w, "500 5.5.2 line too long\r\n").await?;
                return Ok(());
            }
            Some(true) => {}
        }
        let cmd = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" => {
                reply(
                    &mut w,
                    &format!("250-{host}\r\n250-SIZE {MAX_MESSAGE_BYTES}\r\n250-8BITMIME\r\n250 PIPELINING\r\n"),
                )
                .await?
            }
            "HELO" => reply(&mut w, &format!("250 {host}\r\n")).await?,
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                mail_from = true;
                rcpts.clear();
                reply(&mut w, "250 2.1.0 OK\r\n").await?
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if !mail_from {
                    reply(&mut w, "503 5.5.1 MAIL first\r\n").await?;
                } else if rcpts.len() >= MAX_RECIPIENTS {
                    reply(&mut w, "452 4.5.3 too many recipients\r\n").await?;
                } else {
                    match address(&cmd[8..]).filter(|a| accept(a)) {
                        Some(a) => {
                            rcpts.push(a);
                            reply(&mut w, "250 2.1.5 OK\r\n").await?
                        }
                        None => reply(&mut w, "550 5.1.1 no such mailbox here\r\n").await?,
                    }
                }
            }
            "DATA" => {
                if rcpts.is_empty() {
                    reply(&mut w, "503 5.5.1 RCPT first\r\n").await?;
                    continue;
                }
                reply(&mut w, "354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                let mut too_big = false;
                loop {
                    // Long body lines are allowed here; they are bounded by the size limit.
                    if read_line(&mut r, &mut line, MAX_MESSAGE_BYTES).await?.is_none() {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    let l = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
                    if data.len() + l.len() > MAX_MESSAGE_BYTES {
                        too_big = true;
                    } else {
                        data.extend_from_slice(l);
                    }
                }
                let to = std::mem::take(&mut rcpts);
                mail_from = false;
                if too_big {
                    reply(&mut w, "552 5.3.4 message too big\r\n").await?;
                } else {
                    match deliver(to, data).await {
                        Ok(()) => reply(&mut w, "250 2.0.0 OK\r\n").await?,
                        Err(e) => {
                            tracing::error!(error = %e, "could not process returned mail");
                            reply(&mut w, "451 4.3.0 try again later\r\n").await?
                        }
                    }
                }
            }
            "RSET" => {
                mail_from = false;
                rcpts.clear();
                reply(&mut w, "250 2.0.0 OK\r\n").await?
            }
            "NOOP" => reply(&mut w, "250 2.0.0 OK\r\n").await?,
            "VRFY" => reply(&mut w, "252 2.5.0 cannot verify\r\n").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => reply(&mut w, "502 5.5.1 command not implemented\r\n").await?,
        }
    }
}
