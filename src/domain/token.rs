//! API token secrets and scopes.

use std::fmt;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ValidationError;

/// What a token may do: `resource:verb`; `admin` grants everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    OptinRegister,
    ConsentAssert,
    ContactsRead,
    ContactsWrite,
    ListsRead,
    ListsWrite,
    MailingsRead,
    MailingsWrite,
    TxSend,
    AutomationsRead,
    AutomationsWrite,
    AutomationsTrigger,
    PartnerRead,
    PartnerWrite,
    CatalogRead,
    CatalogWrite,
    CheckoutWrite,
    ImportsWrite,
    ExportsRead,
    WebhooksReceive,
}

impl Scope {
    pub const ALL: [Scope; 21] = [
        Scope::Admin,
        Scope::OptinRegister,
        Scope::ConsentAssert,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::ListsRead,
        Scope::ListsWrite,
        Scope::MailingsRead,
        Scope::MailingsWrite,
        Scope::TxSend,
        Scope::AutomationsRead,
        Scope::AutomationsWrite,
        Scope::AutomationsTrigger,
        Scope::PartnerRead,
        Scope::PartnerWrite,
        Scope::CatalogRead,
        Scope::CatalogWrite,
        Scope::CheckoutWrite,
        Scope::ImportsWrite,
        Scope::ExportsRead,
        Scope::WebhooksReceive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::OptinRegister => "optin:register",
            Scope::ConsentAssert => "consent:assert",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::ListsRead => "lists:read",
            Scope::ListsWrite => "lists:write",
            Scope::MailingsRead => "mailings:read",
            Scope::MailingsWrite => "mailings:write",
            Scope::TxSend => "tx:send",
            Scope::AutomationsRead => "automations:read",
            Scope::AutomationsWrite => "automations:write",
            Scope::AutomationsTrigger => "automations:trigger",
            Scope::PartnerRead => "partner:read",
            Scope::PartnerWrite => "partner:write",
            Scope::CatalogRead => "catalog:read",
            Scope::CatalogWrite => "catalog:write",
            Scope::CheckoutWrite => "checkout:write",
            Scope::ImportsWrite => "imports:write",
            Scope::ExportsRead => "exports:read",
            Scope::WebhooksReceive => "webhooks:receive",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        Scope::ALL
            .into_iter()
            .find(|sc| sc.as_str() == s)
            .ok_or_else(|| {
                ValidationError::single(
                    "scope",
                    "unknown_scope",
                    format!(
                        "unknown scope '{s}'; known scopes: {}",
                        Scope::ALL.map(|s| s.as_str()).join(", ")
                    ),
                )
            })
    }

    /// Parses a list of scopes (space or comma separated items are accepted), sorted and deduplicated.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Scope>, ValidationError> {
        let mut out = Vec::new();
        for item in items {
            for part in item.as_ref().split([' ', ',']).filter(|p| !p.is_empty()) {
                out.push(Scope::parse(part)?);
            }
        }
        if out.is_empty() {
            return Err(ValidationError::single(
                "scope",
                "required",
                "at least one scope is required",
            ));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The scopes a token bound to a partner may hold (and the only ones it may hold).
    pub fn is_partner_scope(self) -> bool {
        matches!(self, Scope::PartnerRead | Scope::PartnerWrite)
    }

    /// Whether a token holding `held` may act with `self`.
    pub fn granted_by(self, held: &[Scope]) -> bool {
        held.contains(&Scope::Admin) || held.contains(&self)
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly generated token: shown to the user once, stored only as its SHA-256.
pub struct TokenSecret(String);

impl TokenSecret {
    /// 256 random bits, base64url without padding, behind a readable prefix such as `hb_api_`.
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The token prefix for a set of scopes: `hb_opt_` for pure opt-in tokens, `hb_api_` otherwise.
    pub fn prefix_for(scopes: &[Scope]) -> &'static str {
        if scopes == [Scope::OptinRegister] {
            "hb_opt_"
        } else {
            "hb_api_"
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }

    /// The part that may be shown in listings: the kind prefix and four characters.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(11).collect()
    }
}

/// SHA-256 of a presented token, hex encoded; the only form in which tokens are stored.
pub fn hash_token(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_256_bit() {
        let a = TokenSecret::generate("hb_api_");
        let b = TokenSecret::generate("hb_api_");
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("hb_api_"));
        assert_eq!(a.expose().len(), 7 + 43);
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_eq!(a.display_prefix().len(), 11);
    }

    #[test]
    fn scopes_parse_and_grant() {
        let s = Scope::parse_list(&["contacts:read,contacts:write", "contacts:read"]).unwrap();
        assert_eq!(s, vec![Scope::ContactsRead, Scope::ContactsWrite]);
        assert!(Scope::ContactsRead.granted_by(&s));
        assert!(!Scope::OptinRegister.granted_by(&s));
        assert!(Scope::OptinRegister.granted_by(&[Scope::Admin]));
        assert!(Scope::parse("contacts:delete").is_err());
        assert!(Scope::parse_list::<&str>(&[]).is_err());
        assert_eq!(TokenSecret::prefix_for(&[Scope::OptinRegister]), "hb_opt_");
        for sc in Scope::ALL {
            assert_eq!(Scope::parse(sc.as_str()).unwrap(), sc);
        }
    }
}
