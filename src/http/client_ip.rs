//! The caller's address: the socket peer, or — only when the peer is a trusted proxy — the
//! nearest untrusted address in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::domain::ip::canonical;
use crate::domain::IpAllowlist;

pub fn client_ip(parts: &Parts, trusted: &IpAllowlist) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| canonical(c.0.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if trusted.is_empty() || !trusted.allows(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    // Walk from the nearest hop outwards; the first address that is not a trusted proxy is the client.
    forwarded
        .iter()
        .rev()
        .copied()
        .find(|ip| !trusted.allows(*ip))
        .or_else(|| forwarded.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = IpAllowlist::parse(&["10.0.0.0/8"]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(&parts("203.0.113.9:1", Some("1.2.3.4")), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&parts("10.0.0.2:1", Some("1.2.3.4")), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(
                &parts("10.0.0.2:1", Some("6.6.6.6, 1.2.3.4, 10.0.0.3")),
                &trusted
            ),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(&parts("10.0.0.2:1", None), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(
                &parts("10.0.0.2:1", Some("1.2.3.4")),
                &IpAllowlist::default()
            ),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(&parts("[::ffff:10.0.0.2]:1", Some("1.2.3.4")), &trusted),
            ip("1.2.3.4")
        );
    }
}
