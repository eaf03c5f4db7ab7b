//! IP allowlists of addresses and CIDR ranges, IPv4 and IPv6.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::ValidationError;

/// An allowlist; empty means "any address".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses entries such as `192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ValidationError> {
        let mut nets = Vec::with_capacity(entries.len());
        for raw in entries {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let net = if raw.contains('/') {
                raw.parse::<IpNet>().map(|n| n.trunc()).ok()
            } else {
                raw.parse::<IpAddr>().map(IpNet::from).ok()
            }
            .ok_or_else(|| {
                ValidationError::single(
                    "allow_ip",
                    "invalid_ip",
                    format!("'{raw}' is not an IP address or CIDR range"),
                )
            })?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Parses the stored form (space separated).
    pub fn from_stored(s: &str) -> Result<Self, ValidationError> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        Self::parse(&parts)
    }

    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Maps IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) to IPv4, as dual-stack sockets report them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl fmt::Display for IpAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("any")
        } else {
            f.write_str(&self.to_stored())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_and_single_addresses() {
        let l = IpAllowlist::parse(&["192.0.2.7", "198.51.100.0/24", "2001:db8::/32"]).unwrap();
        assert!(l.allows(ip("192.0.2.7")));
        assert!(!l.allows(ip("192.0.2.8")));
        assert!(l.allows(ip("198.51.100.200")));
        assert!(l.allows(ip("2001:db8:1::5")));
        assert!(!l.allows(ip("2001:db9::1")));
        assert!(l.allows(ip("::ffff:192.0.2.7")));
        assert_eq!(IpAllowlist::from_stored(&l.to_stored()).unwrap(), l);
    }

    #[test]
    fn empty_allows_all_and_bad_entries_fail() {
        assert!(IpAllowlist::default().allows(ip("203.0.113.1")));
        assert!(IpAllowlist::parse(&["300.1.1.1"]).is_err());
        assert!(IpAllowlist::parse(&["10.0.0.0/33"]).is_err());
        assert!(IpAllowlist::parse(&["example.com"]).is_err());
    }

    #[test]
    fn host_bits_are_truncated() {
        let l = IpAllowlist::parse(&["10.1.2.3/8"]).unwrap();
        assert_eq!(l.to_stored(), "10.0.0.0/8");
    }
}
