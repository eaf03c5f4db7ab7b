//! Amazon SES notifications, delivered by SNS: the topic must be one of `ses_topic_arns`,
//! the signing certificate must come from an `sns.*.amazonaws.com` HTTPS URL (or be kept on
//! disk, `sns_certificate_files`), and the RSA signature (SignatureVersion 1: SHA-1,
//! 2: SHA-256) must match the canonical string SNS signs. Subscription confirmations are
//! confirmed by fetching their SubscribeURL.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use super::webhooks::{ProviderEvent, WebhookError};
use crate::app::App;
use crate::mail::reports::ReportKind;

/// Certificates fetched so far, by URL (public data).
static CERTS: LazyLock<Mutex<HashMap<String, Vec<u8>>>> = LazyLock::new(Mutex::default);

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The string SNS signs for a message of its type.
fn string_to_sign(v: &Value) -> Result<String, WebhookError> {
    let kind = field(v, "Type").unwrap_or("");
    let keys: &[&str] = match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => {
            return Err(WebhookError::Malformed(format!(
                "unknown SNS message type '{kind}'"
            )))
        }
    };
    let mut s = String::new();
    for k in keys {
        match field(v, k) {
            Some(val) => s.push_str(&format!("{k}\n{val}\n")),
            None if *k == "Subject" => {}
            None => return Err(WebhookError::Malformed(format!("{k} is missing"))),
        }
    }
    Ok(s)
}

/// Whether `url` is an HTTPS URL of an SNS endpoint.
fn is_sns_url(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            u.scheme() == "https"
                && host.starts_with("sns.")
                && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
        }
        Err(_) => false,
    }
}

/// One DER element at the start of `d`: (tag, contents, rest).
fn der(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = d
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, d.get(start..end)?, d.get(end..)?))
}

/// The RSA public key (PKCS#1 DER) of an X.509 certificate.
fn rsa_public_key(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    // [0] version (optional), serial, signature algorithm, issuer, validity, subject, spki
    let (tag, _, r) = der(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    for _ in 0..5 {
        rest = der(rest)?.2;
    }
    let (_, spki, _) = der(rest)?;
    let (_, _, after_alg) = der(spki)?;
    let (tag, bits, _) = der(after_alg)?;
    (tag == 0x03 && bits.first() == Some(&0)).then(|| bits[1..].to_vec())
}

async fn certificate(app: &App, url: &str) -> Result<Vec<u8>, WebhookError> {
    if !is_sns_url(url) {
        return Err(WebhookError::Unauthorized);
    }
    if let Some(c) = CERTS.lock().unwrap_or_else(|e| e.into_inner()).get(url) {
        return Ok(c.clone());
    }
    let pem = match app.config.sns_certificate_files.get(url) {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| WebhookError::Malformed(format!("cannot read {}: {e}", path.display())))?,
        None => fetch(url).await?,
    };
    let cert = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| WebhookError::Unauthorized)?
        .to_vec();
    CERTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(url.to_string(), cert.clone());
    Ok(cert)
}

async fn fetch(url: &str) -> Result<String, WebhookError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let res = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| WebhookError::Malformed(format!("cannot fetch {url}: {e}")))?;
    res.text()
        .await
        .map_err(|e| WebhookError::Malformed(format!("cannot read {url}: {e}")))
}

/// Checks an SNS message and returns the SES events in it.
pub async fn ses(app: &App, body: &[u8]) -> Result<Vec<ProviderEvent>, WebhookError> {
    if app.config.ses_topic_arns.is_empty() {
        return Err(WebhookError::NotConfigured);
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let topic = field(&v, "TopicArn").unwrap_or("");
    if !app.config.ses_topic_arns.iter().any(|t| t == topic) {
        return Err(WebhookError::Unauthorized);
    }
    let alg: &'static ring::signature::RsaParameters = match field(&v, "SignatureVersion") {
        Some("1") => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        Some("2") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err(WebhookError::Unauthorized),
    };
    let signature = STANDARD
        .decode(field(&v, "Signature").unwrap_or(""))
        .map_err(|_| WebhookError::Unauthorized)?;
    let cert = certificate(app, field(&v, "SigningCertURL").unwrap_or("")).await?;
    let key = rsa_public_key(&cert).ok_or(WebhookError::Unauthorized)?;
    ring::signature::UnparsedPublicKey::new(alg, key)
        .verify(string_to_sign(&v)?.as_bytes(), &signature)
        .map_err(|_| WebhookError::Unauthorized)?;
    match field(&v, "Type") {
        Some("SubscriptionConfirmation") => {
            let url = field(&v, "SubscribeURL").unwrap_or("");
            if !is_sns_url(url) {
                return Err(WebhookError::Malformed(
                    "SubscribeURL is not an SNS URL".into(),
                ));
            }
            fetch(url).await?;
            tracing::info!(%topic, "SNS subscription confirmed");
            Ok(Vec::new())
        }
        Some("Notification") => {
            let m: Value = serde_json::from_str(field(&v, "Message").unwrap_or(""))
                .map_err(|e| WebhookError::Malformed(format!("Message: {e}")))?;
            Ok(ses_events(&m))
        }
        _ => Ok(Vec::new()),
    }
}

/// The events of one SES notification (or event publishing record).
fn ses_events(m: &Value) -> Vec<ProviderEvent> {
    let kind = field(m, "notificationType")
        .or_else(|| field(m, "eventType"))
        .unwrap_or("");
    let reference = m["mail"]["source"].as_str().unwrap_or("").to_string();
    let (kind, detail) = match kind {
        "Bounce" => {
            let b = &m["bounce"];
            let sub = field(b, "bounceSubType").unwrap_or("");
            let k = match (field(b, "bounceType"), sub) {
                (
                    Some("Permanent"),
                    "MailboxFull" | "MessageTooLarge" | "ContentRejected" | "AttachmentRejected",
                ) => ReportKind::Soft,
                (Some("Permanent"), _) => ReportKind::Hard,
                _ => ReportKind::Soft,
            };
            let diag = b["bouncedRecipients"][0]["diagnosticCode"]
                .as_str()
                .unwrap_or("");
            (
                k,
                format!("ses {} {sub}: {diag}", field(b, "bounceType").unwrap_or("")),
            )
        }
        "Complaint" => (
            ReportKind::Complaint,
            format!(
                "ses complaint: {}",
                m["complaint"]["complaintFeedbackType"]
                    .as_str()
                    .unwrap_or("abuse")
            ),
        ),
        _ => return Vec::new(),
    };
    vec![ProviderEvent {
        reference,
        kind,
        detail,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_https_urls_are_trusted() {
        assert!(is_sns_url(
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem"
        ));
        assert!(!is_sns_url("http://sns.eu-west-1.amazonaws.com/x.pem"));
        assert!(!is_sns_url(
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem"
        ));
        assert!(!is_sns_url("https://evil.example/sns.amazonaws.com"));
    }

    #[test]
    fn the_canonical_string_follows_the_type() {
        let v = serde_json::json!({"Type": "Notification", "Message": "m", "MessageId": "1", "Timestamp": "t", "TopicArn": "a"});
        assert_eq!(
            string_to_sign(&v).unwrap(),
            "Message\nm\nMessageId\n1\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
        );
        assert!(string_to_sign(&serde_json::json!({"Type": "Other"})).is_err());
    }

    #[test]
    fn der_walker_refuses_garbage() {
        assert_eq!(rsa_public_key(b""), None);
        assert_eq!(rsa_public_key(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(rsa_public_key(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
