//! A real SMTP server over TCP for tests: it speaks ESMTP (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT), records what it receives, and can be told to reject with 4xx or 5xx.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
    /// Answer the end of DATA with this code.
    RejectData(u16),
}

#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    credentials: Option<(String, String)>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with_auth(None).await
    }

    /// A server that requires AUTH with these credentials before MAIL.
    pub async fn start_with_auth(credentials: Option<(&str, &str)>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour::Accept)),
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        sink
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// `smtp://` URL of this server (plain text: it offers no STARTTLS).
    pub fn url(&self) -> String {
        match &self.credentials {
            Some((u, p)) => format!("smtp://{u}:{p}@{}?tls=none", self.addr),
            None => format!("smtp://{}?tls=none", self.addr),
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r);
        w.write_all(b"220 sink.test ESMTP ready\r\n").await?;
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
                "250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n".into()
            } else if upper.starts_with("HELO") {
                "250 sink.test\r\n".into()
            } else if upper.starts_with("AUTH PLAIN") {
                let arg = cmd.split_whitespace().nth(2).map(str::to_string);
                let arg = match arg {
                    Some(a) => a,
                    None => {
                        w.write_all(b"334 \r\n").await?;
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
                w.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                let mut u = String::new();
                lines.read_line(&mut u).await?;
                w.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
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
                    _ => {
                        rcpts.push(addr_of(&cmd[8..]));
                        "250 2.1.5 OK\r\n".into()
                    }
                }
            } else if upper == "DATA" {
                if rcpts.is_empty() {
                    "503 5.5.1 no recipients\r\n".into()
                } else {
                    w.write_all(b"354 go ahead\r\n").await?;
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
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else {
                "500 5.5.2 unknown command\r\n".into()
            };
            w.write_all(reply.as_bytes()).await?;
        }
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
