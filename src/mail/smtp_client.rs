//! One SMTP client connection (RFC 5321): greeting, EHLO, STARTTLS or implicit TLS, AUTH
//! PLAIN/LOGIN, and the mail transaction. When the relay offers PIPELINING (RFC 2920),
//! MAIL, RCPT and DATA go out in one write and the body with its closing dot in a second, so
//! a message costs two round trips instead of four. Bodies are dot-stuffed here.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

use super::SendError;

/// The longest reply line and whole reply accepted from a relay.
const MAX_LINE: usize = 4096;
const MAX_REPLY: usize = 64 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A relay's reply: its code and text lines joined by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// `550 5.1.1 no such user`.
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text.replace('\n', " "))
    }

    fn error(&self, what: &str) -> SendError {
        let m = format!("{what}: {}", self.line());
        if self.code >= 500 {
            SendError::Permanent(m)
        } else {
            SendError::Transient(m)
        }
    }
}

/// How the connection is secured.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// TLS from the first byte.
    Wrapper(TlsConnector),
    /// STARTTLS, required or only when offered.
    StartTls {
        connector: TlsConnector,
        required: bool,
    },
}

/// What a new connection needs.
#[derive(Clone)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    pub hello: String,
    pub security: Security,
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

/// A TLS client configuration trusting the public roots and, optionally, a private CA.
pub fn tls_connector(ca_pem: Option<&[u8]>) -> Result<TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("holds no usable certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("holds no usable certificate: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err("holds no usable certificate".into());
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// An open, greeted (and authenticated) connection.
pub struct SmtpConn {
    io: BufStream<Box<dyn Io>>,
    pipelining: bool,
    eight_bit: bool,
    smtp_utf8: bool,
    broken: bool,
}

fn transient(what: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Transient(format!("{what}: {e}"))
}

/// The extension lines of an EHLO reply.
struct Ehlo {
    lines: Vec<String>,
}

impl Ehlo {
    fn has(&self, ext: &str) -> bool {
        self.lines.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(ext))
        })
    }

    fn auth(&self, mechanism: &str) -> bool {
        self.lines.iter().any(|l| {
            let mut w = l.split_whitespace();
            w.next().is_some_and(|a| a.eq_ignore_ascii_case("AUTH"))
                && w.any(|m| m.eq_ignore_ascii_case(mechanism))
        })
    }
}

async fn tls(
    connector: &TlsConnector,
    host: &str,
    stream: Box<dyn Io>,
) -> Result<Box<dyn Io>, SendError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| SendError::Permanent(format!("'{host}' is not a TLS server name: {e}")))?;
    let s = connector
        .connect(name, stream)
        .await
        .map_err(|e| transient("TLS handshake failed", e))?;
    Ok(Box::new(s))
}

impl SmtpConn {
    /// Connects, reads the greeting, says EHLO, secures and authenticates the connection.
    pub async fn connect(p: &ConnectParams) -> Result<Self, SendError> {
        tokio::time::timeout(p.timeout, Self::open(p))
            .await
            .map_err(|_| SendError::Transient("cannot connect to the relay: timed out".into()))?
    }

    async fn open(p: &ConnectParams) -> Result<Self, SendError> {
        let tcp = TcpStream::connect((p.host.as_str(), p.port))
            .await
            .map_err(|e| transient("cannot connect to the relay", e))?;
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Io> = Box::new(tcp);
        if let Security::Wrapper(c) = &p.security {
            stream = tls(c, &p.host, stream).await?;
        }
        let mut conn = SmtpConn {
            io: BufStream::new(stream),
            pipelining: false,
            eight_bit: false,
            smtp_utf8: false,
            broken: false,
        };
        let greeting = conn.read_reply().await?;
        if greeting.code != 220 {
            return Err(greeting.error("the relay refused the connection"));
        }
        let mut ehlo = conn.ehlo(&p.hello).await?;
        if let Security::StartTls {
            connector,
            required,
        } = &p.security
        {
            if ehlo.has("STARTTLS") {
                let r = conn.command("STARTTLS").await?;
                if r.code != 220 {
                    return Err(r.error("STARTTLS failed"));
                }
                let placeholder: Box<dyn Io> =
                    Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
                let inner = std::mem::replace(&mut conn.io, BufStream::new(placeholder));
                conn.io = BufStream::new(tls(connector, &p.host, inner.into_inner()).await?);
                ehlo = conn.ehlo(&p.hello).await?;
            } else if *required {
                return Err(SendError::Transient(
                    "STARTTLS failed: the relay does not offer it (use ?tls=opportunistic or ?tls=none for a local relay)".into(),
                ));
            }
        }
        conn.pipelining = ehlo.has("PIPELINING");
        conn.eight_bit = ehlo.has("8BITMIME");
        conn.smtp_utf8 = ehlo.has("SMTPUTF8");
        if let Some((user, pass)) = &p.credentials {
            conn.authenticate(&ehlo, user, pass).await?;
        }
        Ok(conn)
    }

    async fn ehlo(&mut self, hello: &str) -> Result<Ehlo, SendError> {
        let reply = self.command(&format!("EHLO {hello}")).await?;
        if reply.code != 250 {
            return Err(reply.error("EHLO refused"));
        }
        Ok(Ehlo {
            lines: reply.text.split('\n').skip(1).map(str::to_string).collect(),
        })
    }

    async fn authenticate(&mut self, ehlo: &Ehlo, user: &str, pass: &str) -> Result<(), SendError> {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let fail = |r: &Reply| r.error("authentication failed");
        let r = if ehlo.auth("PLAIN") || !ehlo.auth("LOGIN") {
            let token = b64(format!("\0{user}\0{pass}").as_bytes());
            self.command(&format!("AUTH PLAIN {token}")).await?
        } else {
            let r = self.command("AUTH LOGIN").await?;
            if r.code != 334 {
                return Err(fail(&r));
            }
            let r = self.command(&b64(user.as_bytes())).await?;
            if r.code != 334 {
                return Err(fail(&r));
            }
            self.command(&b64(pass.as_bytes())).await?
        };
        if r.code != 235 {
            return Err(fail(&r));
        }
        Ok(())
    }

    /// Whether the connection may be used again.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        let r = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        }
        .await;
        r.map_err(|e| {
            self.broken = true;
            transient("the connection to the relay failed", e)
        })
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SendError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// One reply, over as many lines as it takes (`250-…` continues, `250 …` ends). The
    /// lines of a multi-line reply are joined with `\n`.
    async fn read_reply(&mut self) -> Result<Reply, SendError> {
        let mut text = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = (&mut self.io)
                .take(MAX_LINE as u64)
                .read_line(&mut line)
                .await
                .map_err(|e| {
                    self.broken = true;
                    transient("the connection to the relay failed", e)
                })?;
            let bad = |m: &str| SendError::Transient(format!("the relay answered badly: {m}"));
            if n == 0 {
                self.broken = true;
                return Err(bad("the connection closed"));
            }
            let l = line.trim_end_matches(['\r', '\n']);
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c));
            let (Some(code), sep) = (code, l.as_bytes().get(3).copied()) else {
                self.broken = true;
                return Err(bad(&l.chars().take(80).collect::<String>()));
            };
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(l.get(4..).unwrap_or(""));
            if text.len() > MAX_REPLY {
                self.broken = true;
                return Err(bad("reply too large"));
            }
            if sep != Some(b'-') {
                return Ok(Reply { code, text });
            }
        }
    }

    /// Sends one message; on success, the relay's answer to the end of the data.
    pub async fn send(
        &mut self,
        from: &str,
        to: &[String],
        raw: &[u8],
    ) -> Result<Reply, SendError> {
        let mut params = String::new();
        if !raw.is_ascii() && self.eight_bit {
            params.push_str(" BODY=8BITMIME");
        }
        if (!from.is_ascii() || to.iter().any(|t| !t.is_ascii())) && self.smtp_utf8 {
            params.push_str(" SMTPUTF8");
        }
        let mut commands = vec![format!("MAIL FROM:<{from}>{params}")];
        commands.extend(to.iter().map(|t| format!("RCPT TO:<{t}>")));
        commands.push("DATA".into());
        let mut replies = Vec::with_capacity(commands.len());
        if self.pipelining {
            let mut batch = commands.join("\r\n");
            batch.push_str("\r\n");
            self.write(batch.as_bytes()).await?;
            for _ in &commands {
                replies.push(self.read_reply().await?);
            }
        } else {
            for c in &commands {
                let r = self.command(c).await?;
                let ok = r.is_positive();
                replies.push(r);
                if !ok {
                    break;
                }
            }
        }
        let data = replies.last().filter(|_| replies.len() == commands.len());
        let refused = replies[..replies.len().saturating_sub(1)]
            .iter()
            .zip(
                ["MAIL FROM"]
                    .into_iter()
                    .chain(std::iter::repeat("RCPT TO")),
            )
            .find(|(r, _)| !r.is_positive())
            .map(|(r, what)| r.error(&format!("{what} refused")));
        match (refused, data) {
            (None, Some(d)) if d.code == 354 => {}
            (refused, data) => {
                if data.is_some_and(|d| d.code == 354) {
                    // DATA was accepted after a refused recipient: do not send a partial
                    // message; dropping the connection aborts the transaction.
                    self.broken = true;
                } else if !self.broken {
                    let _ = self.command("RSET").await;
                }
                return Err(refused.unwrap_or_else(|| match data {
                    Some(d) => d.error("DATA refused"),
                    None => replies
                        .last()
                        .map(|r| r.error("refused"))
                        .unwrap_or_else(|| SendError::Transient("no answer".into())),
                }));
            }
        }
        self.write(&dot_stuff(raw)).await?;
        let r = self.read_reply().await?;
        if r.code == 250 {
            Ok(r)
        } else {
            Err(r.error("message refused"))
        }
    }
}

/// The body as it goes on the wire: every line starting with `.` gets a second one, and the
/// end-of-data line follows (after a CRLF when the body does not end with one).
pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut start = 0;
    if raw.first() == Some(&b'.') {
        out.push(b'.');
    }
    // Copy line by line; only a line that starts with a dot gets one more.
    for nl in memchr::memchr_iter(b'\n', raw) {
        if raw.get(nl + 1) == Some(&b'.') {
            out.extend_from_slice(&raw[start..=nl]);
            out.push(b'.');
            start = nl + 1;
        }
    }
    out.extend_from_slice(&raw[start..]);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_are_stuffed_and_the_end_is_marked() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
        assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b"\r\n.\r\n");
    }
}
