//! E-mail addresses, validated and normalised once.

use std::fmt;
use std::str::FromStr;

use super::ValidationError;

/// Maximum length of an address (the MailingLijst `e` parameter allows 255; RFC 5321 paths allow 254).
pub const MAX_LEN: usize = 254;

/// A syntactically valid, normalised e-mail address (trimmed, lower case).
/// Uniqueness of contacts is decided on this form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let err = |code, msg: &str| ValidationError::single("email", code, msg);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("required", "an e-mail address is required"));
        }
        if s.len() > MAX_LEN {
            return Err(err(
                "too_long",
                "an e-mail address has at most 254 characters",
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("invalid_email", "not a valid e-mail address"));
        }
        let normalised = s.to_lowercase();
        let parsed = email_address::EmailAddress::from_str(&normalised)
            .map_err(|_| err("invalid_email", "not a valid e-mail address"))?;
        let domain = parsed.domain();
        // A deliverable address needs a dotted domain; quoted local parts and IP literals are refused
        // because relays and list tools handle them badly.
        if !domain.contains('.')
            || domain.starts_with('[')
            || domain.ends_with('.')
            || parsed.local_part().starts_with('"')
        {
            return Err(err("invalid_email", "not a valid e-mail address"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The address with most of the local part hidden, for logs.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EmailAddress {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for EmailAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let e = EmailAddress::parse("  Jan.Jansen@Example.NL ").unwrap();
        assert_eq!(e.as_str(), "jan.jansen@example.nl");
        assert_eq!(e.domain(), "example.nl");
        assert_eq!(e.masked(), "j***@example.nl");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "plainaddress",
            "a@b",
            "a@@b.nl",
            "a b@c.nl",
            "a@c.nl\r\nBcc: x@y.nl",
            "\"quoted\"@c.nl",
            "a@[127.0.0.1]",
            "a@c.nl.",
            &format!("{}@example.nl", "a".repeat(250)),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn accepts_common_forms() {
        for ok in [
            "a@b.nl",
            "first.last+tag@sub.example.co.uk",
            "x_y-z@xn--bcher-kva.example",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                let again = EmailAddress::parse(e.as_str()).unwrap();
                prop_assert_eq!(e, again);
            }
        }
    }
}
