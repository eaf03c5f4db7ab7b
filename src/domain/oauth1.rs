//! Two-legged OAuth 1.0a (RFC 5849) with HMAC-SHA1, as Spotler integrations sign their
//! requests: parsing the `Authorization: OAuth …` header, the signature base string and the
//! signature. No I/O: the service checks the consumer, the timestamp window and the nonce.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// RFC 5849 §3.6: everything but `A-Z a-z 0-9 - . _ ~` is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The protocol parameters of an `Authorization: OAuth …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthHeader {
    pub consumer_key: String,
    pub signature: String,
    pub signature_method: String,
    pub timestamp: i64,
    pub nonce: String,
    pub version: Option<String>,
    pub token: Option<String>,
    /// Every `oauth_*` parameter but the signature, decoded, for the base string.
    pub params: Vec<(String, String)>,
}

/// Why a header is not an acceptable OAuth 1.0a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("not an OAuth header")]
    NotOAuth,
    #[error("malformed OAuth header: {0}")]
    Malformed(&'static str),
    #[error("unsupported signature method (HMAC-SHA1 only)")]
    Method,
}

/// Parses `OAuth k="v", k="v", …` (values percent-encoded, as RFC 5849 §3.5.1 says).
pub fn parse_header(value: &str) -> Result<OAuthHeader, OAuthError> {
    let v = value.trim();
    let rest = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("oauth") => rest,
        _ => return Err(OAuthError::NotOAuth),
    };
    let mut params = Vec::new();
    let mut signature = None;
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = part
            .split_once('=')
            .ok_or(OAuthError::Malformed("a parameter without '='"))?;
        let val = val
            .trim()
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .ok_or(OAuthError::Malformed("values must be quoted"))?;
        let k = k.trim();
        let decoded = percent_decode_str(val)
            .decode_utf8()
            .map_err(|_| OAuthError::Malformed("a value is not UTF-8"))?
            .into_owned();
        if k == "realm" {
            continue;
        }
        if !k.starts_with("oauth_") {
            return Err(OAuthError::Malformed("unknown parameter"));
        }
        if params.iter().any(|(p, _): &(String, String)| p == k)
            || (k == "oauth_signature" && signature.is_some())
        {
            return Err(OAuthError::Malformed("a parameter appears twice"));
        }
        if k == "oauth_signature" {
            signature = Some(decoded);
        } else {
            params.push((k.to_string(), decoded));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let method = get("oauth_signature_method")
        .ok_or(OAuthError::Malformed("oauth_signature_method is missing"))?;
    if method != "HMAC-SHA1" {
        return Err(OAuthError::Method);
    }
    let version = get("oauth_version");
    if version.as_deref().is_some_and(|v| v != "1.0") {
        return Err(OAuthError::Malformed("oauth_version must be 1.0"));
    }
    let nonce = get("oauth_nonce").ok_or(OAuthError::Malformed("oauth_nonce is missing"))?;
    if nonce.is_empty() || nonce.len() > 128 {
        return Err(OAuthError::Malformed(
            "oauth_nonce must have 1 to 128 characters",
        ));
    }
    Ok(OAuthHeader {
        consumer_key: get("oauth_consumer_key")
            .ok_or(OAuthError::Malformed("oauth_consumer_key is missing"))?,
        signature: signature.ok_or(OAuthError::Malformed("oauth_signature is missing"))?,
        signature_method: method,
        timestamp: get("oauth_timestamp").and_then(|t| t.parse().ok()).ok_or(
            OAuthError::Malformed("oauth_timestamp must be a number of seconds"),
        )?,
        nonce,
        version,
        token: get("oauth_token"),
        params,
    })
}

/// The signature base string (RFC 5849 §3.4.1): the method, the base URI (scheme and host in
/// lower case, default port left out, no query) and the normalised parameters — the query's,
/// a form body's and the protocol parameters but the signature.
pub fn base_string(method: &str, base_uri: &str, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    let normalised = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_uri),
        encode(&normalised)
    )
}

/// HMAC-SHA1 of the base string with `consumer_secret&token_secret`, base64.
pub fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Compares a presented signature with the expected one in constant time.
pub fn signature_matches(
    presented: &str,
    base: &str,
    consumer_secret: &str,
    token_secret: &str,
) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(presented.trim()) else {
        return false;
    };
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(base.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The base URI of a request as RFC 5849 §3.4.1.2 normalises it.
pub fn base_uri(scheme: &str, host: &str, path: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
        _ => host,
    };
    format!("{scheme}://{host}{path}")
}

/// Decoded `k=v` pairs of a query string or form body (`+` is a space in forms only).
pub fn decode_pairs(s: &str, form: bool) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |x: &str| {
                let x = if form {
                    x.replace('+', " ")
                } else {
                    x.to_string()
                };
                percent_decode_str(&x).decode_utf8_lossy().into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Twitter's "Creating a signature" guide (a request with a token).
    #[test]
    fn known_vector_with_a_token() {
        let params: Vec<(String, String)> = [
            (
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            ),
            ("include_entities", "true"),
            ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
            ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1318622958"),
            (
                "oauth_token",
                "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            ),
            ("oauth_version", "1.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let base = base_string(
            "post",
            "https://api.twitter.com/1/statuses/update.json",
            &params,
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fapi.twitter.com%2F1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
        let secret = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw";
        let token_secret = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE";
        assert_eq!(
            sign(&base, secret, token_secret),
            "tnnArxj06cWHq44gCs1OSKk/jLY="
        );
        assert!(signature_matches(
            "tnnArxj06cWHq44gCs1OSKk/jLY=",
            &base,
            secret,
            token_secret
        ));
        assert!(!signature_matches(
            "tnnArxj06cWHq44gCs1OSKk/jLZ=",
            &base,
            secret,
            token_secret
        ));
    }

    /// Two-legged, as a Spotler integration signs a trigger call (signature computed with
    /// Python's hmac/hashlib from the same base string).
    #[test]
    fn two_legged_vector_and_header() {
        let header = r#"OAuth realm="", oauth_consumer_key="venue-crm", oauth_nonce="n0nce%2B1", oauth_signature="SIG", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1700000000", oauth_version="1.0""#;
        let h = parse_header(header).unwrap();
        assert_eq!(h.consumer_key, "venue-crm");
        assert_eq!(h.nonce, "n0nce+1");
        assert_eq!(h.timestamp, 1_700_000_000);
        let mut params = h.params.clone();
        params.extend(decode_pairs("lang=nl&x=a%20b", false));
        let base = base_string(
            "POST",
            &base_uri(
                "HTTPS",
                "Mail.Venue.Example:443",
                "/integrationservice/automation/trigger/AbC",
            ),
            &params,
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fmail.venue.example%2Fintegrationservice%2Fautomation%2Ftrigger%2FAbC&lang%3Dnl%26oauth_consumer_key%3Dvenue-crm%26oauth_nonce%3Dn0nce%252B1%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26oauth_version%3D1.0%26x%3Da%2520b"
        );
        assert_eq!(sign(&base, "s3cr3t", ""), "0XpkVBzo1HxeWwikSBD+6NclllQ=");
        for bad in [
            "Bearer abc",
            r#"OAuth oauth_consumer_key="k""#,
            r#"OAuth oauth_consumer_key="k", oauth_signature="s", oauth_signature_method="PLAINTEXT", oauth_timestamp="1", oauth_nonce="n""#,
            r#"OAuth oauth_consumer_key=k, oauth_signature="s""#,
            r#"OAuth oauth_consumer_key="k", oauth_consumer_key="j", oauth_signature="s", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1", oauth_nonce="n""#,
        ] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }
}
