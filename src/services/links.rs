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
    /// The message the link came in (mailings), so the unsubscribe counts for that mailing.
    pub delivery_id: Option<i64>,
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

/// Signs `payload` (dot-separated, ASCII): `base64url(payload).base64url(mac)`.
fn sign_payload(key: &[u8], payload: &str) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(mac(key, payload))
    )
}

/// The payload of a signed token; None for anything forged, altered or truncated.
fn open_payload(key: &[u8], token: &str) -> Option<String> {
    if token.len() > 200 {
        return None;
    }
    open_long_payload(key, token)
}

/// Signs a click-tracked link of a message that is not a mailing (an automation e-mail): the
/// target goes into the token, so only URLs we signed are ever redirected to.
pub fn sign_url(key: &[u8], org_id: i64, delivery_id: i64, url: &str) -> String {
    sign_payload(key, &format!("u.{org_id}.{delivery_id}.{url}"))
}

/// (organisation, delivery, target) of a token made by [`sign_url`].
pub fn verify_url(key: &[u8], token: &str) -> Option<(i64, i64, String)> {
    if token.len() > 4096 {
        return None;
    }
    let payload = open_long_payload(key, token)?;
    let mut parts = payload.splitn(4, '.');
    if parts.next()? != "u" {
        return None;
    }
    let org = parts.next()?.parse().ok()?;
    let delivery = parts.next()?.parse().ok()?;
    Some((org, delivery, parts.next()?.to_string()))
}

fn open_long_payload(key: &[u8], token: &str) -> Option<String> {
    let (p, m) = token.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    let given = URL_SAFE_NO_PAD.decode(m).ok()?;
    if given.len() != MAC_LEN {
        return None;
    }
    let mut check = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    check.update(payload.as_bytes());
    check.verify_truncated_left(&given).ok()?;
    Some(payload)
}

pub fn sign(key: &[u8], purpose: Purpose, c: LinkClaims) -> String {
    let mut payload = format!(
        "{}.{}.{}.{}",
        purpose.tag(),
        c.org_id,
        c.contact_id,
        c.list_id.unwrap_or(0)
    );
    if let Some(d) = c.delivery_id {
        payload.push_str(&format!(".{d}"));
    }
    sign_payload(key, &payload)
}

/// Checks a signed token; None for anything forged, altered, truncated or meant for another purpose.
pub fn verify(key: &[u8], purpose: Purpose, token: &str) -> Option<LinkClaims> {
    let payload = open_payload(key, token)?;
    let parts: Vec<&str> = payload.split('.').collect();
    if !(parts.len() == 4 || parts.len() == 5) || parts[0] != purpose.tag() {
        return None;
    }
    let list: i64 = parts[3].parse().ok()?;
    let delivery_id = match parts.get(4) {
        Some(d) => Some(d.parse().ok()?),
        None => None,
    };
    Some(LinkClaims {
        org_id: parts[1].parse().ok()?,
        contact_id: parts[2].parse().ok()?,
        list_id: (list != 0).then_some(list),
        delivery_id,
    })
}

/// Signs a tuple of ids for a tracking link (`tag` names its use: "o" open, "c" click, "v" view).
pub fn sign_ids(key: &[u8], tag: &str, ids: &[i64]) -> String {
    let mut payload = tag.to_string();
    for id in ids {
        payload.push_str(&format!(".{id}"));
    }
    sign_payload(key, &payload)
}

/// The ids of a tracking token signed with `tag`; exactly `n` of them or None.
pub fn verify_ids(key: &[u8], tag: &str, token: &str, n: usize) -> Option<Vec<i64>> {
    let payload = open_payload(key, token)?;
    let mut parts = payload.split('.');
    if parts.next()? != tag {
        return None;
    }
    let ids: Vec<i64> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    (ids.len() == n).then_some(ids)
}

/// What a signed address local part is for: `bounces+…` (the envelope sender) or
/// `unsubscribe+…` (the mailto of List-Unsubscribe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressUse {
    Bounces,
    Unsubscribe,
}

impl AddressUse {
    fn prefix(self) -> &'static str {
        match self {
            AddressUse::Bounces => "bounces",
            AddressUse::Unsubscribe => "unsubscribe",
        }
    }
}

/// The local part of a signed per-message address: `PREFIX+ORG-DELIVERY-MAC`.
pub fn address_local(key: &[u8], used: AddressUse, org_id: i64, delivery_id: i64) -> String {
    let p = used.prefix();
    let m = hex::encode(&mac(key, &format!("{p}.{org_id}.{delivery_id}"))[..5]);
    format!("{p}+{org_id}-{delivery_id}-{m}")
}

/// The local part of the VERP bounce address of a message.
pub fn verp_local(key: &[u8], org_id: i64, delivery_id: i64) -> String {
    address_local(key, AddressUse::Bounces, org_id, delivery_id)
}

/// (organisation, delivery) of a local part made by [`address_local`]; None when forged.
pub fn parse_address(key: &[u8], used: AddressUse, local: &str) -> Option<(i64, i64)> {
    let local = local.to_ascii_lowercase();
    let rest = local.strip_prefix(used.prefix())?.strip_prefix('+')?;
    let mut it = rest.splitn(3, '-');
    let org: i64 = it.next()?.parse().ok()?;
    let delivery: i64 = it.next()?.parse().ok()?;
    (address_local(key, used, org, delivery) == local).then_some((org, delivery))
}

/// (organisation, delivery) of a VERP bounce local part; None when forged.
pub fn parse_verp(key: &[u8], local: &str) -> Option<(i64, i64)> {
    parse_address(key, AddressUse::Bounces, local)
}

pub fn confirm_url(app: &App, secret: &str) -> String {
    format!("{}/p/confirm/{secret}", app.config.public_url())
}

/// The unsubscribe page of `c` under `base` (the public URL).
pub fn unsubscribe_link(base: &str, key: &[u8], c: LinkClaims) -> String {
    format!(
        "{base}/p/unsubscribe/{}",
        sign(key, Purpose::Unsubscribe, c)
    )
}

/// The preferences page of `c`'s contact (all lists) under `base`.
pub fn preferences_link(base: &str, key: &[u8], c: LinkClaims) -> String {
    let c = LinkClaims { list_id: None, ..c };
    format!(
        "{base}/p/preferences/{}",
        sign(key, Purpose::Preferences, c)
    )
}

pub async fn unsubscribe_url(app: &App, c: LinkClaims) -> ServiceResult<String> {
    let key = signing_key(app).await?;
    Ok(unsubscribe_link(&app.config.public_url(), &key, c))
}

pub async fn preferences_url(app: &App, c: LinkClaims) -> ServiceResult<String> {
    let key = signing_key(app).await?;
    Ok(preferences_link(&app.config.public_url(), &key, c))
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
            delivery_id: None,
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
        let from_mail = LinkClaims {
            delivery_id: Some(99),
            ..c
        };
        assert_eq!(
            verify(
                key,
                Purpose::Unsubscribe,
                &sign(key, Purpose::Unsubscribe, from_mail)
            ),
            Some(from_mail)
        );
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

    #[test]
    fn tracking_ids_and_verp_addresses_are_bound_to_their_use() {
        let key = b"0123456789abcdef0123456789abcdef";
        let t = sign_ids(key, "c", &[1, 2, 3]);
        assert_eq!(verify_ids(key, "c", &t, 3), Some(vec![1, 2, 3]));
        assert_eq!(verify_ids(key, "o", &t, 3), None);
        assert_eq!(verify_ids(key, "c", &t, 2), None);
        let v = verp_local(key, 4, 1234);
        assert!(v.starts_with("bounces+4-1234-"));
        assert_eq!(parse_verp(key, &v), Some((4, 1234)));
        assert_eq!(parse_verp(key, &v.replace("1234", "1235")), None);
        assert_eq!(parse_verp(key, "bounces+4-1234-0000000000"), None);
        let u = address_local(key, AddressUse::Unsubscribe, 4, 1234);
        assert_eq!(
            parse_address(key, AddressUse::Unsubscribe, &u),
            Some((4, 1234))
        );
        assert_eq!(
            parse_verp(key, &u),
            None,
            "an unsubscribe address is no bounce address"
        );
        assert_eq!(
            parse_address(
                key,
                AddressUse::Unsubscribe,
                &v.replacen("bounces", "unsubscribe", 1)
            ),
            None
        );
    }
}
