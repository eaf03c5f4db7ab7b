//! Bounce and complaint webhooks of relay providers: Postmark (HTTP basic auth), Mailgun
//! (HMAC-SHA256 signature), SendGrid (ECDSA P-256 signature) and Amazon SES (through SNS, see
//! `sns`). A call that is not signed, or signed wrongly, changes nothing. Each event names
//! the message by the VERP reference Handbill put in it (the envelope sender, or the
//! provider's metadata header when `mail_provider` is set).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::bounces::{apply, find_verp};
use super::links::signing_key;
use super::ServiceError;
use crate::app::App;
use crate::mail::reports::{status_kind, ReportKind};

/// Signed calls older than this are refused (replays).
const MAX_AGE_SECS: i64 = 15 * 60;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("this webhook is not configured")]
    NotConfigured,
    #[error("missing or wrong signature")]
    Unauthorized,
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// One event a provider reported: the VERP reference it carries, what happened, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub reference: String,
    pub kind: ReportKind,
    pub detail: String,
}

/// Applies events; returns how many named a known message.
pub async fn apply_events(
    app: &App,
    source: &str,
    events: &[ProviderEvent],
) -> Result<usize, WebhookError> {
    let key = signing_key(app).await?;
    let mut n = 0;
    for e in events {
        if let Some((org, delivery)) = find_verp(&key, &e.reference) {
            if apply(app, org, delivery, e.kind, source, &e.detail).await? {
                n += 1;
            }
        }
    }
    Ok(n)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json(body: &[u8]) -> Result<Value, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))
}

/// Postmark: `Authorization: Basic …` with the configured credentials.
pub fn postmark(
    app: &App,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<Vec<ProviderEvent>, WebhookError> {
    let (Some(user), Some(pass)) = (
        &app.config.postmark_webhook_user,
        &app.config.postmark_webhook_password,
    ) else {
        return Err(WebhookError::NotConfigured);
    };
    let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
    if !authorization.is_some_and(|a| constant_eq(a.trim().as_bytes(), expected.as_bytes())) {
        return Err(WebhookError::Unauthorized);
    }
    let v = json(body)?;
    let record = str_at(&v, &["RecordType"]);
    let kind = match (record, str_at(&v, &["Type"])) {
        ("SpamComplaint", _) => Some(ReportKind::Complaint),
        ("Bounce", "HardBounce" | "BadEmailAddress") => Some(ReportKind::Hard),
        (
            "Bounce",
            "SoftBounce" | "Transient" | "DnsError" | "Blocked" | "ContentRelated"
            | "SpamNotification",
        ) => Some(ReportKind::Soft),
        _ => None,
    };
    Ok(kind
        .map(|kind| ProviderEvent {
            reference: str_at(&v, &["Metadata", "handbill"]).to_string(),
            kind,
            detail: format!(
                "postmark {}: {}",
                str_at(&v, &["Type"]),
                str_at(&v, &["Description"])
            ),
        })
        .into_iter()
        .collect())
}

/// Mailgun: `signature.signature` = hex HMAC-SHA256(signing key, timestamp + token).
pub fn mailgun(app: &App, body: &[u8]) -> Result<Vec<ProviderEvent>, WebhookError> {
    let Some(key) = &app.config.mailgun_signing_key else {
        return Err(WebhookError::NotConfigured);
    };
    let v = json(body)?;
    let ts = str_at(&v, &["signature", "timestamp"]);
    let token = str_at(&v, &["signature", "token"]);
    let given = hex::decode(str_at(&v, &["signature", "signature"]))
        .map_err(|_| WebhookError::Unauthorized)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .map_err(|_| WebhookError::Unauthorized)?;
    mac.update(ts.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| WebhookError::Unauthorized)?;
    fresh(app, ts)?;
    let e = &v["event-data"];
    let kind = match (str_at(e, &["event"]), str_at(e, &["severity"])) {
        ("complained", _) => Some(ReportKind::Complaint),
        ("failed", "permanent") => Some(ReportKind::Hard),
        ("failed", _) => Some(ReportKind::Soft),
        _ => None,
    };
    let reference = match str_at(e, &["user-variables", "handbill"]) {
        "" => str_at(e, &["envelope", "sender"]),
        r => r,
    };
    Ok(kind
        .map(|kind| ProviderEvent {
            reference: reference.to_string(),
            kind,
            detail: format!(
                "mailgun {} {}: {}",
                str_at(e, &["event"]),
                e["delivery-status"]["code"],
                str_at(e, &["delivery-status", "message"])
            ),
        })
        .into_iter()
        .collect())
}

/// SendGrid: ECDSA P-256/SHA-256 signature (base64 DER) of timestamp + body, checked with
/// the verification key SendGrid shows (base64 DER SubjectPublicKeyInfo).
pub fn sendgrid(
    app: &App,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<Vec<ProviderEvent>, WebhookError> {
    let Some(key) = &app.config.sendgrid_public_key else {
        return Err(WebhookError::NotConfigured);
    };
    let (Some(sig), Some(ts)) = (signature, timestamp) else {
        return Err(WebhookError::Unauthorized);
    };
    let spki = STANDARD
        .decode(key.trim())
        .map_err(|_| WebhookError::NotConfigured)?;
    // An uncompressed P-256 point is the last 65 bytes of its SubjectPublicKeyInfo.
    let point = spki
        .get(spki.len().saturating_sub(65)..)
        .filter(|p| p.len() == 65 && p[0] == 4);
    let point = point.ok_or(WebhookError::NotConfigured)?;
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| WebhookError::Unauthorized)?;
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &sig)
        .map_err(|_| WebhookError::Unauthorized)?;
    fresh(app, ts)?;
    let v = json(body)?;
    let events = v
        .as_array()
        .ok_or_else(|| WebhookError::Malformed("expected a list of events".into()))?;
    Ok(events
        .iter()
        .filter_map(|e| {
            let kind = match (str_at(e, &["event"]), str_at(e, &["type"])) {
                ("spamreport", _) => ReportKind::Complaint,
                ("bounce", "blocked") => ReportKind::Soft,
                ("bounce", _) => status_kind(str_at(e, &["status"])).unwrap_or(ReportKind::Hard),
                _ => return None,
            };
            Some(ProviderEvent {
                reference: str_at(e, &["handbill"]).to_string(),
                kind,
                detail: format!(
                    "sendgrid {} {}: {}",
                    str_at(e, &["event"]),
                    str_at(e, &["status"]),
                    str_at(e, &["reason"])
                ),
            })
        })
        .collect())
}

/// Refuses a signed call whose timestamp (unix seconds) is far from now.
fn fresh(app: &App, ts: &str) -> Result<(), WebhookError> {
    let t: i64 = ts.trim().parse().map_err(|_| WebhookError::Unauthorized)?;
    if (app.now() / 1000 - t).abs() > MAX_AGE_SECS {
        return Err(WebhookError::Unauthorized);
    }
    Ok(())
}
