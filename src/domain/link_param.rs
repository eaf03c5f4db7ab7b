//! Encrypted link parameters: chosen contact fields as JSON, sealed with XChaCha20-Poly1305
//! under a key of the organisation, as `base64url(nonce ‖ ciphertext ‖ tag)` without padding.
//! The venue's website opens it with the same key (libsodium's
//! `crypto_aead_xchacha20poly1305_ietf_decrypt`, no additional data).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::validation::{FieldError, ValidationError};

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Contact fields a link parameter may carry.
pub const FIELDS: &[&str] = &[
    "id",
    "guid",
    "external_id",
    "email",
    "first_name",
    "last_name",
    "language",
];

/// A new random key.
pub fn new_key() -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut k);
    k
}

/// Seals `plaintext` with a given nonce (tests and published vectors use a fixed one).
pub fn seal_with_nonce(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> String {
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(XNonce::from_slice(nonce), plaintext)
        .expect("XChaCha20-Poly1305 seals any length a link carries");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    URL_SAFE_NO_PAD.encode(out)
}

/// Seals `plaintext` with a random nonce.
pub fn seal(key: &[u8; KEY_LEN], plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    seal_with_nonce(key, &nonce, plaintext)
}

/// Opens a parameter; None when it was not sealed with this key or was altered.
pub fn open(key: &[u8; KEY_LEN], token: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim().trim_end_matches('='))
        .ok()?;
    if raw.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), sealed)
        .ok()
}

/// A key from its hex form.
pub fn parse_key(hex_key: &str) -> Option<[u8; KEY_LEN]> {
    hex::decode(hex_key.trim()).ok()?.try_into().ok()
}

/// Checks the parameter's name (what the website reads) and fields.
pub fn validate(name: &str, fields: &[String]) -> Result<(), ValidationError> {
    let mut errors = Vec::new();
    if !(1..=32).contains(&name.len())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "1 to 32 characters a-z, A-Z, 0-9, _ and -",
        ));
    }
    if fields.is_empty() {
        errors.push(FieldError::new(
            "fields",
            "required",
            format!("one or more of {}", FIELDS.join(", ")),
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        if !FIELDS.contains(&f.as_str()) {
            errors.push(FieldError::new(
                format!("fields[{i}]"),
                "unknown_field",
                format!("one of {}", FIELDS.join(", ")),
            ));
        } else if fields[..i].contains(f) {
            errors.push(FieldError::new(
                format!("fields[{i}]"),
                "duplicate",
                "named twice",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(errors))
    }
}

/// Adds `name=value` to a URL's query, before any fragment.
pub fn add_to_url(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    format!("{base}{sep}{name}={value}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector docs/integrations/deployteq.md publishes and the snippets are tested with.
    pub const VECTOR_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    pub const VECTOR_NONCE: [u8; 24] = [
        0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e,
        0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
    ];
    pub const VECTOR_PLAIN: &str = r#"{"email":"ann@example.org","external_id":"CUST-1001"}"#;
    pub const VECTOR_TOKEN: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXrxtgHbGJFTS11ubQwdwA6vPX3ah2dzzoDRPRZ2x8V_Vkl2MCCvvgMsWQtxlZjvfAq1tMyhL94CukVok7_LaQ8B5uklmH";

    #[test]
    fn seals_opens_and_refuses_tampering() {
        let key = parse_key(VECTOR_KEY).unwrap();
        let token = seal_with_nonce(&key, &VECTOR_NONCE, VECTOR_PLAIN.as_bytes());
        // Computed with libsodium (PyNaCl), an implementation of its own.
        assert_eq!(token, VECTOR_TOKEN);
        assert_eq!(open(&key, &token).unwrap(), VECTOR_PLAIN.as_bytes());
        let random = seal(&key, b"x");
        assert_ne!(random, seal(&key, b"x"), "a fresh nonce each time");
        let mut bad = token.clone().into_bytes();
        let last = bad.len() - 5;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&key, std::str::from_utf8(&bad).unwrap()), None);
        assert_eq!(open(&new_key(), &token), None);
        assert_eq!(open(&key, "short"), None);
        assert_eq!(
            add_to_url("https://v.example/t?x=1#seats", "hb", "T"),
            "https://v.example/t?x=1&hb=T#seats"
        );
        assert_eq!(
            add_to_url("https://v.example/", "hb", "T"),
            "https://v.example/?hb=T"
        );
        assert!(validate("hb", &["email".into()]).is_ok());
        let bad =
            validate("h b", &["email".into(), "password".into(), "email".into()]).unwrap_err();
        let codes: Vec<&str> = bad.0.iter().map(|e| e.code).collect();
        assert_eq!(codes, vec!["invalid_name", "unknown_field", "duplicate"]);
    }
}
