//! Links in mails: confirmation links carry a random single-use token (stored hashed);
//! unsubscribe and preference links carry a signed, stateless token so that every mail can
//! have its own without a row per message.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::ServiceResult;
use crate::app::App;

/// What a signed link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Unsubscribe,
    Preferences,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::Unsubscribe => "u",
            Purpose::Preferences => "p",
        }
    }
}

/// Who a signed link is for: a contact, and for unsubscribe links optionally one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    pub org_id: i64,
    pub contact_id: i64,
    pub list_id: Option<i64>,
}

const SECRET_NAME: &str = "link_signing_key";
const MAC_LEN: usize = 16;

/// The signing key shared by all nodes (created on first use, then cached by the app).
pub async fn signing_key(app: &App) -> ServiceResult<Vec<u8>> {
    let key = app
        .secrets
        .get_or_try_init(|| async {
            let hex_key = app
                .store
                .server_secret(
                    SECRET_NAME,
                    || {
                        let mut k = [0u8; 32];
                        rand::rng().fill_bytes(&mut k);
                        hex::encode(k)
                    },
                    app.now(),
                )
                .await?;
            match hex::decode(&hex_key) {
                Ok(k) if k.len() >= 32 => Ok(k),
                // Never sign with a damaged key: links would be forgeable.
                _ => Err(crate::services::ServiceError::Internal(format!(
                    "the stored {SECRET_NAME} is damaged"
                ))),
            }
        })
        .await?;
    Ok(key.clone())
}

fn mac(key: &[u8], payload: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(payload.as_bytes());
    m.finalize().into_bytes()[..MAC_LEN].to_vec()
}

pub fn sign(key: &[u8], purpose: Purpose, c: LinkClaims) -> String {
    let payload = format!(
        "{}.{}.{}.{}",
        purpose.tag(),
        c.org_id,
        c.contact_id,
        c.list_id.unwrap_or(0)
    );
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(mac(key, &payload))
    )
}

/// Checks a signed token; None for anything forged, altered, truncated or meant for another purpose.
pub fn verify(key: &[u8], purpose: Purpose, token: &str) -> Option<LinkClaims> {
    if token.len() > 200 {
        return None;
    }
    let (p, m) = token.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    let given = URL_SAFE_NO_PAD.decode(m).ok()?;
    let mut check = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    check.update(payload.as_bytes());
    check.verify_truncated_left(&given).ok()?;
    if given.len() != MAC_LEN {
        return None;
    }
    let parts: Vec<&str> = payload.split('.').collect();
    if parts.len() != 4 || parts[0] != purpose.tag() {
        return None;
    }
    let list: i64 = parts[3].parse().ok()?;
    Some(LinkClaims {
        org_id: parts[1].parse().ok()?,
        contact_id: parts[2].parse().ok()?,
        list_id: (list != 0).then_some(list),
    })
}

pub fn confirm_url(app: &App, secret: &str) -> String {
    format!("{}/p/confirm/{secret}", app.config.public_url())
}

pub async fn unsubscribe_url(app: &App, c: LinkClaims) -> ServiceResult<String> {
    let key = signing_key(app).await?;
    Ok(format!(
        "{}/p/unsubscribe/{}",
        app.config.public_url(),
        sign(&key, Purpose::Unsubscribe, c)
    ))
}

pub async fn preferences_url(app: &App, c: LinkClaims) -> ServiceResult<String> {
    let key = signing_key(app).await?;
    let c = LinkClaims { list_id: None, ..c };
    Ok(format!(
        "{}/p/preferences/{}",
        app.config.public_url(),
        sign(&key, Purpose::Preferences, c)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_links_round_trip_and_resist_tampering() {
        let key = b"0123456789abcdef0123456789abcdef";
        let c = LinkClaims {
            org_id: 3,
            contact_id: 42,
            list_id: Some(7),
        };
        let t = sign(key, Purpose::Unsubscribe, c);
        assert_eq!(verify(key, Purpose::Unsubscribe, &t), Some(c));
        assert_eq!(
            verify(key, Purpose::Preferences, &t),
            None,
            "purpose is bound"
        );
        assert_eq!(
            verify(
                b"another key.....................",
                Purpose::Unsubscribe,
                &t
            ),
            None
        );
        let (p, m) = t.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(b"u.3.43.7");
        assert_eq!(
            verify(key, Purpose::Unsubscribe, &format!("{forged}.{m}")),
            None
        );
        assert_eq!(
            verify(key, Purpose::Unsubscribe, &format!("{p}.{}", &m[..4])),
            None
        );
        assert_eq!(verify(key, Purpose::Unsubscribe, "garbage"), None);
        let all = LinkClaims { list_id: None, ..c };
        assert_eq!(
            verify(
                key,
                Purpose::Unsubscribe,
                &sign(key, Purpose::Unsubscribe, all)
            ),
            Some(all)
        );
    }
}
