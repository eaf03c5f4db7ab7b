//! Two-legged OAuth 1.0a for the Spotler-style integration service: consumers (key and
//! secret, with scopes) and the check of a signed request — signature, a timestamp within
//! five minutes, and a nonce never seen before.

use base64::Engine;
use rand::RngCore;

use super::tokens::Principal;
use super::{orgs, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::oauth1::{self, base_string, decode_pairs, parse_header, signature_matches};
use crate::domain::Scope;
use crate::store::{OAuthConsumerRow, StoreError};

/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Issues a consumer key and secret (the secret is shown once).
pub async fn create(
    app: &App,
    org_slug: &str,
    scopes: &[String],
    name: Option<&str>,
) -> ServiceResult<(OAuthConsumerRow, String)> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    let scopes = Scope::parse_list(scopes)?;
    let name = name
        .map(|n| crate::domain::validation::text("name", n, 100))
        .transpose()?
        .flatten();
    let secret = random(32);
    let row = app
        .store
        .insert_oauth_consumer(
            org.id,
            &format!("hb_oc_{}", random(12)),
            &secret,
            &Scope::join(&scopes),
            name.as_deref(),
            app.now(),
        )
        .await?;
    Ok((row, secret))
}

pub async fn list(app: &App, org_slug: &str) -> ServiceResult<Vec<OAuthConsumerRow>> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    Ok(app.store.oauth_consumers(org.id).await?)
}

pub async fn revoke(app: &App, org_slug: &str, id: i64) -> ServiceResult<()> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    app.store
        .revoke_oauth_consumer(org.id, id, app.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("active consumer"),
            e => e.into(),
        })
}

/// A request as the signature sees it.
pub struct SignedRequest<'a> {
    pub authorization: &'a str,
    pub method: &'a str,
    /// The base URIs the caller may have signed (as the server was reached, and as the public
    /// URL names it).
    pub base_uris: Vec<String>,
    pub query: &'a str,
    /// The body, when it is a form (`application/x-www-form-urlencoded`).
    pub form: Option<&'a str>,
}

/// Checks a signed request. Every failure is the same `Unauthorized`.
pub async fn authenticate(app: &App, r: &SignedRequest<'_>) -> ServiceResult<Principal> {
    let deny = |why: &str| {
        tracing::debug!(reason = why, "OAuth request refused");
        ServiceError::Unauthorized
    };
    let h = parse_header(r.authorization).map_err(|e| deny(&e.to_string()))?;
    if h.token.is_some() {
        return Err(deny("three-legged requests are not supported"));
    }
    let consumer = match app.store.oauth_consumer_by_key(&h.consumer_key).await {
        Ok(c) if c.revoked_at.is_none() => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(deny("unknown or revoked consumer")),
        Err(e) => return Err(e.into()),
    };
    let now = app.now();
    if (h.timestamp.saturating_mul(1000) - now).abs() > WINDOW_MS {
        return Err(deny("timestamp outside the window"));
    }
    let mut params = h.params.clone();
    params.extend(decode_pairs(r.query, false));
    if let Some(form) = r.form {
        params.extend(decode_pairs(form, true));
    }
    let signed = r.base_uris.iter().any(|uri| {
        let base = base_string(r.method, uri, &params);
        signature_matches(&h.signature, &base, &consumer.secret, "")
    });
    if !signed {
        return Err(deny("bad signature"));
    }
    if !app.store.remember_nonce(consumer.id, &h.nonce, now).await? {
        return Err(deny("nonce replayed"));
    }
    let scopes =
        Scope::parse_list(&[consumer.scopes.as_str()]).map_err(|_| ServiceError::Unauthorized)?;
    Ok(Principal {
        org_id: consumer.org_id,
        token_id: 0,
        user_id: None,
        scopes,
        partner_id: None,
    })
}

/// The base URI for `path` under the server's public URL.
pub fn public_base_uri(app: &App, path: &str) -> Option<String> {
    let u = url::Url::parse(&app.config.public_url()).ok()?;
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str()?),
        None => u.host_str()?.to_string(),
    };
    let prefix = u.path().trim_end_matches('/');
    Some(oauth1::base_uri(
        u.scheme(),
        &host,
        &format!("{prefix}{path}"),
    ))
}
