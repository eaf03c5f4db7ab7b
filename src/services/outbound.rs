//! Requests to outside systems (the SMS gateway, HTTP request steps): a timeout, no
//! redirects, and — unless `outbound_private_networks` allows it — no private, loopback or
//! link-local address. The check is made on the resolved address, and the connection is
//! pinned to that address, so a name that resolves differently a moment later gets nowhere.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::app::App;
use crate::mail::SendError;

const TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an answer is kept for the step log.
const EXCERPT: usize = 200;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// (content type, body)
    pub body: Option<(String, String)>,
}

/// What the other side answered: its status and the start of its body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub excerpt: String,
}

impl Answer {
    pub fn summary(&self) -> String {
        format!("HTTP {} {}", self.status, self.excerpt)
            .trim()
            .to_string()
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// Why a host may not be called.
pub enum Refused {
    Unresolved(String),
    Private(String),
}

impl Refused {
    pub fn message(self) -> String {
        match self {
            Refused::Unresolved(m) | Refused::Private(m) => m,
        }
    }
}

/// The address to connect to for `host:port`: the first the name resolves to that may be
/// called (a public one, unless `outbound_private_networks`). Connecting to this address,
/// not the name again, keeps a second lookup from leading elsewhere.
pub async fn allowed_address(app: &App, host: &str, port: u16) -> Result<SocketAddr, Refused> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Refused::Unresolved(format!("{host} does not resolve: {e}")))?
        .collect();
    addrs
        .into_iter()
        .find(|a| app.config.outbound_private_networks || is_public(a.ip()))
        .ok_or_else(|| {
            Refused::Private(format!(
                "{host} is on a private network (see outbound_private_networks)"
            ))
        })
}

/// Sends a request. A 2xx answer is Ok; a network failure, a timeout, 429 or 5xx is a
/// transient error (the job is retried); any other answer, a bad URL or an address that is
/// not allowed is permanent.
pub async fn send(app: &App, req: &Request) -> Result<Answer, SendError> {
    let url = url::Url::parse(&req.url)
        .map_err(|e| SendError::Permanent(format!("the URL is not valid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SendError::Permanent("only http(s) URLs are called".into()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| SendError::Permanent("the URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addr = match allowed_address(app, &host, port).await {
        Ok(a) => a,
        Err(Refused::Unresolved(e)) => return Err(SendError::Transient(e)),
        Err(Refused::Private(e)) => return Err(SendError::Permanent(e)),
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Handbill/", env!("CARGO_PKG_VERSION")))
        .resolve(&host, addr)
        .build()
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    let mut r = client.request(method, url);
    for (name, value) in &req.headers {
        r = r.header(name, value);
    }
    if let Some((content_type, body)) = &req.body {
        r = r
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.clone());
    }
    let resp = r
        .send()
        .await
        .map_err(|e| SendError::Transient(format!("request failed: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let answer = Answer {
        status,
        excerpt: text
            .chars()
            .take(EXCERPT)
            .collect::<String>()
            .trim()
            .to_string(),
    };
    match status {
        200..=299 => Ok(answer),
        429 | 500..=599 => Err(SendError::Transient(answer.summary())),
        _ => Err(SendError::Permanent(answer.summary())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2a00:1450:4001::1", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
