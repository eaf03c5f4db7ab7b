//! A real SMTP server over TCP for tests: it speaks ESMTP (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT), records what it receives, and can be told to reject with 4xx or 5xx.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
    pub auth_user: Option<String>,
}

/// How the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// Answer RCPT TO with this code (e.g. 450 or 550).
    RejectRcpt(u16),
    /// Answer RCPT TO for this one address with this code; accept the others.
    RejectRcptTo(String, u16),
    /// Answer the end of DATA with this code.
    RejectData(u16),
}

/// TLS offered by the server.
#[derive(Clone)]
pub enum Tls {
    None,
    /// Plain connection that offers STARTTLS.
    Starttls(TlsAcceptor),
    /// TLS from the first byte (smtps).
    Wrapper(TlsAcceptor),
}

#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Milliseconds the server waits before answering the end of DATA (a slow relay).
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Whether EHLO offers PIPELINING (RFC 2920); on by default.
    pipelining: Arc<std::sync::atomic::AtomicBool>,
    credentials: Option<(String, String)>,
    tls: Tls,
}

/// A self-signed certificate for 127.0.0.1 and localhost: the server's acceptor and the PEM a
/// client must trust.
pub fn test_certificate() -> (TlsAcceptor, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_der = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert_der], key)
    .unwrap();
    (TlsAcceptor::from(Arc::new(config)), ck.cert.pem())
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with_auth(None).await
    }

    /// A server that requires AUTH with these credentials before MAIL.
    pub async fn start_with_auth(credentials: Option<(&str, &str)>) -> SmtpSink {
        Self::start_full(credentials, Tls::None).await
    }

    pub async fn start_full(credentials: Option<(&str, &str)>, tls: Tls) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour::Accept)),
            delay_ms: Arc::default(),
            pipelining: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
            tls,
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = match s.tls.clone() {
                        Tls::Wrapper(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => s.session(tls, false).await,
                            Err(_) => Ok(()),
                        },
                        Tls::Starttls(_) => s.session(stream, true).await,
                        Tls::None => s.session(stream, false).await,
                    };
                });
            }
        });
        sink
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    /// Makes the server wait this long before accepting each message.
    pub fn set_delay(&self, d: std::time::Duration) {
        self.delay_ms
            .store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Offers PIPELINING in EHLO, or not.
    pub fn set_pipelining(&self, on: bool) {
        self.pipelining
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// `smtp://` URL of this server for a plain-text session (`?tls=none`).
    pub fn url(&self) -> String {
        match &self.credentials {
            Some((u, p)) => format!("smtp://{u}:{p}@{}?tls=none", self.addr),
            None => format!("smtp://{}?tls=none", self.addr),
        }
    }

    /// One SMTP session on `stream`; `offer_starttls` when the connection is still plain and
    /// the server may upgrade it.
    async fn session<S>(&self, stream: S, offer_starttls: bool) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut io = BufReader::new(Box::new(stream) as Box<dyn Io>);
        send(&mut io, b"220 sink.test ESMTP ready\r\n").await?;
        self.dialogue(io, offer_starttls).await
    }

    fn dialogue(
        &self,
        mut lines: BufReader<Box<dyn Io>>,
        offer_starttls: bool,
    ) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move {
            let mut from = String::new();
            let mut rcpts = Vec::new();
            let mut user: Option<String> = None;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let cmd = line.trim_end().to_string();
                let upper = cmd.to_ascii_uppercase();
                let reply: String = if upper.starts_with("EHLO") {
                    let starttls = if offer_starttls {
                        "250-STARTTLS\r\n"
                    } else {
                        ""
                    };
                    let pipelining = if self.pipelining.load(std::sync::atomic::Ordering::Relaxed) {
                        "250-PIPELINING\r\n"
                    } else {
                        ""
                    };
                    format!("250-sink.test\r\n250-8BITMIME\r\n{pipelining}{starttls}250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n")
                } else if upper == "STARTTLS" && offer_starttls {
                    let Tls::Starttls(acceptor) = self.tls.clone() else {
                        unreachable!()
                    };
                    send(&mut lines, b"220 2.0.0 go ahead\r\n").await?;
                    let tls = acceptor.accept(lines.into_inner()).await?;
                    // A new session on the encrypted stream, without a second greeting.
                    return self
                        .dialogue(BufReader::new(Box::new(tls) as Box<dyn Io>), false)
                        .await;
                } else if upper.starts_with("HELO") {
                    "250 sink.test\r\n".into()
                } else if upper.starts_with("AUTH PLAIN") {
                    let arg = cmd.split_whitespace().nth(2).map(str::to_string);
                    let arg = match arg {
                        Some(a) => a,
                        None => {
                            send(&mut lines, b"334 \r\n").await?;
                            let mut l = String::new();
                            lines.read_line(&mut l).await?;
                            l.trim_end().to_string()
                        }
                    };
                    let decoded = b64.decode(arg).unwrap_or_default();
                    let parts: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect();
                    self.check_auth(
                        parts.get(1).cloned().unwrap_or_default(),
                        parts.get(2).cloned().unwrap_or_default(),
                        &mut user,
                    )
                } else if upper.starts_with("AUTH LOGIN") {
                    send(&mut lines, b"334 VXNlcm5hbWU6\r\n").await?;
                    let mut u = String::new();
                    lines.read_line(&mut u).await?;
                    send(&mut lines, b"334 UGFzc3dvcmQ6\r\n").await?;
                    let mut p = String::new();
                    lines.read_line(&mut p).await?;
                    let dec = |s: &str| {
                        String::from_utf8_lossy(&b64.decode(s.trim_end()).unwrap_or_default())
                            .into_owned()
                    };
                    self.check_auth(dec(&u), dec(&p), &mut user)
                } else if upper.starts_with("MAIL FROM:") {
                    if self.credentials.is_some() && user.is_none() {
                        "530 5.7.0 Authentication required\r\n".into()
                    } else {
                        from = addr_of(&cmd[10..]);
                        rcpts.clear();
                        "250 2.1.0 OK\r\n".into()
                    }
                } else if upper.starts_with("RCPT TO:") {
                    match self.behaviour.lock().unwrap().clone() {
                        Behaviour::RejectRcpt(code) => {
                            format!("{code} {}.1.1 rejected by test\r\n", code / 100)
                        }
                        Behaviour::RejectRcptTo(who, code) if addr_of(&cmd[8..]) == who => {
                            format!("{code} {}.1.1 rejected by test\r\n", code / 100)
                        }
                        _ => {
                            rcpts.push(addr_of(&cmd[8..]));
                            "250 2.1.5 OK\r\n".into()
                        }
                    }
                } else if upper == "DATA" {
                    if rcpts.is_empty() {
                        "503 5.5.1 no recipients\r\n".into()
                    } else {
                        send(&mut lines, b"354 go ahead\r\n").await?;
                        let mut data = Vec::new();
                        loop {
                            let mut l = Vec::new();
                            if lines.read_until(b'\n', &mut l).await? == 0 {
                                return Ok(());
                            }
                            if l == b".\r\n" {
                                break;
                            }
                            let l = if l.starts_with(b"..") {
                                l[1..].to_vec()
                            } else {
                                l
                            };
                            data.extend_from_slice(&l);
                        }
                        let delay = self.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
                        if delay > 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                        }
                        match self.behaviour.lock().unwrap().clone() {
                            Behaviour::RejectData(code) => {
                                format!("{code} {}.0.0 rejected by test\r\n", code / 100)
                            }
                            _ => {
                                self.received.lock().unwrap().push(Received {
                                    mail_from: from.clone(),
                                    rcpt_to: std::mem::take(&mut rcpts),
                                    data,
                                    auth_user: user.clone(),
                                });
                                "250 2.0.0 queued\r\n".into()
                            }
                        }
                    }
                } else if upper == "RSET" {
                    rcpts.clear();
                    "250 2.0.0 OK\r\n".into()
                } else if upper == "NOOP" {
                    "250 2.0.0 OK\r\n".into()
                } else if upper == "QUIT" {
                    send(&mut lines, b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                } else {
                    "500 5.5.2 unknown command\r\n".into()
                };
                send(&mut lines, reply.as_bytes()).await?;
            }
        })
    }

    fn check_auth(&self, u: String, p: String, user: &mut Option<String>) -> String {
        match &self.credentials {
            Some((cu, cp)) if *cu == u && *cp == p => {
                *user = Some(u);
                "235 2.7.0 authenticated\r\n".into()
            }
            _ => "535 5.7.8 bad credentials\r\n".into(),
        }
    }
}

/// Any byte stream a session runs on: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn send<S: AsyncWrite + Unpin>(w: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}

/// An address where nothing listens (the port was bound once and released).
pub async fn dead_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}
