//! The consent ledger's entries and their hash chain (GDPR art. 7 proof).

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ConsentAction;

/// The `prev_hash` of an organisation's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who or what caused a consent change, and how: stored with every ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The way in: `api`, `stager`, `mailinglijst`, `public_page`, `import`, `cli`, `admin` …
    pub source: String,
    /// `token:ID`, `user:ID`, `contact`, `system` or `cli`.
    pub actor: String,
    pub token_id: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The opt-in text the person saw, when there was one.
    pub text_shown: Option<String>,
    /// Where the consent was given, as a JSON object (`{"point_of_sale": …, "order": …}`).
    pub context: Option<String>,
}

impl Evidence {
    pub fn new(source: &str, actor: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            actor: actor.into(),
            ..Self::default()
        }
    }
}

/// One ledger entry as it is hashed; field order here is the canonical order. The personal
/// data of an entry (address, IP address, user agent) enters the hash through `pii_digest`
/// only, so that it can be erased (GDPR art. 17) while the chain stays verifiable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    pub org_id: i64,
    pub seq: i64,
    pub contact_id: Option<i64>,
    pub list_id: Option<i64>,
    pub action: String,
    pub source: String,
    pub actor: String,
    pub token_id: Option<i64>,
    pub text_shown: Option<String>,
    pub occurred_at: i64,
    pub pii_digest: String,
    pub prev_hash: String,
    /// Left out of the canonical JSON when absent, so entries written before it existed keep
    /// their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// SHA-256 over the canonical JSON array `[email, ip, user_agent]`.
pub fn pii_digest(email: &str, ip: Option<&str>, user_agent: Option<&str>) -> String {
    let canonical = serde_json::to_vec(&(email, ip, user_agent)).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

impl LedgerEntry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        org_id: i64,
        seq: i64,
        prev_hash: String,
        contact_id: Option<i64>,
        list_id: Option<i64>,
        email: &str,
        action: ConsentAction,
        evidence: &Evidence,
        occurred_at: i64,
    ) -> Self {
        Self {
            org_id,
            seq,
            contact_id,
            list_id,
            action: action.as_str().to_string(),
            source: evidence.source.clone(),
            actor: evidence.actor.clone(),
            token_id: evidence.token_id,
            text_shown: evidence.text_shown.clone(),
            occurred_at,
            pii_digest: pii_digest(
                email,
                evidence.ip.as_deref(),
                evidence.user_agent.as_deref(),
            ),
            prev_hash,
            context: evidence.context.clone(),
        }
    }

    /// SHA-256 over the canonical JSON of the entry (which includes the previous hash).
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_field_and_the_chain() {
        let ev = Evidence::new("api", "token:1");
        let a = LedgerEntry::new(
            1,
            1,
            GENESIS_HASH.into(),
            Some(5),
            Some(2),
            "a@b.nl",
            ConsentAction::Subscribe,
            &ev,
            1000,
        );
        let h = a.hash();
        assert_eq!(h.len(), 64);
        assert_eq!(h, a.clone().hash());
        let mut b = a.clone();
        b.pii_digest = pii_digest("x@b.nl", None, None);
        assert_ne!(b.hash(), h);
        let mut c = a.clone();
        c.prev_hash = "1".repeat(64);
        assert_ne!(c.hash(), h);
        let mut d = a.clone();
        d.text_shown = Some("Ja".into());
        assert_ne!(d.hash(), h);
        let mut e = a;
        e.context = Some(r#"{"point_of_sale":"web"}"#.into());
        assert_ne!(e.hash(), h);
        assert_ne!(
            pii_digest("a@b.nl", Some("192.0.2.1"), None),
            pii_digest("a@b.nl", None, Some("192.0.2.1"))
        );
    }
}
