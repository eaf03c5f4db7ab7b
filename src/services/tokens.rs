//! API tokens: issue (shown once), list, rotate, revoke, and authenticate a presented token.

use std::net::IpAddr;

use serde::Serialize;

use super::{orgs, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::DAY_MS;
use crate::domain::token::hash_token;
use crate::domain::validation::text;
use crate::domain::{EmailAddress, IpAllowlist, Scope, TokenSecret, ValidationError};
use crate::store::{NewToken, TokenRow};

pub const MAX_EXPIRY_DAYS: u32 = 3650;
/// `last_used_at` is written at most once per minute per token.
const TOUCH_GAP_MS: i64 = 60_000;

#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub org_slug: String,
    pub scopes: Vec<String>,
    pub allow_ip: Vec<String>,
    pub expires_days: Option<u32>,
    pub name: Option<String>,
    /// The user the token belongs to; it stops working when the user is removed.
    pub user_email: Option<String>,
    /// The partner (by key) the token acts for; it may then hold only partner scopes.
    pub partner: Option<String>,
}

/// A token as issued: the secret is shown once and never stored.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token: TokenRow,
    pub secret: String,
}

/// Who a request acts for, as established by its token.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub org_id: i64,
    pub token_id: i64,
    pub user_id: Option<i64>,
    pub scopes: Vec<Scope>,
    /// Set for a partner's token: it sees that partner's consents and nothing else.
    pub partner_id: Option<i64>,
}

impl Principal {
    /// Acting for an organisation with one scope on a path that authorised the call in its
    /// own way (a confirmation link, a MailingLijst member key), not with an API token.
    pub fn internal(org_id: i64, scope: Scope) -> Self {
        Self {
            org_id,
            token_id: 0,
            user_id: None,
            scopes: vec![scope],
            partner_id: None,
        }
    }

    /// The token the request came with (None for an internal caller), for ledger evidence.
    pub fn token(&self) -> Option<i64> {
        (self.token_id != 0).then_some(self.token_id)
    }

    pub fn require(&self, scope: Scope) -> ServiceResult<()> {
        // A partner's token holds partner scopes only; nothing else is granted to it.
        if self.partner_id.is_some() && !scope.is_partner_scope() {
            return Err(ServiceError::Forbidden(scope.as_str()));
        }
        if scope.granted_by(&self.scopes) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(scope.as_str()))
        }
    }
}

/// The state of a token at a moment, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Revoked,
    Expired,
    Idle,
    UserRemoved,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
            TokenState::Idle => "idle",
            TokenState::UserRemoved => "user_removed",
        }
    }
}

pub fn token_state(app: &App, t: &TokenRow) -> TokenState {
    let now = app.now();
    let idle_ms = i64::from(app.config.token_idle_days) * DAY_MS;
    if t.revoked_at.is_some() {
        TokenState::Revoked
    } else if t.user_removed_at.is_some() {
        TokenState::UserRemoved
    } else if t.expires_at.is_some_and(|e| e <= now) {
        TokenState::Expired
    } else if t.last_used_at.unwrap_or(t.created_at) + idle_ms <= now {
        TokenState::Idle
    } else {
        TokenState::Active
    }
}

pub async fn create_token(app: &App, req: &TokenRequest) -> ServiceResult<IssuedToken> {
    let org = orgs::org_by_slug(app, &req.org_slug).await?;
    let scopes = Scope::parse_list(&req.scopes)?;
    let allow = IpAllowlist::parse(&req.allow_ip)?;
    if let Some(d) = req.expires_days {
        if d == 0 || d > MAX_EXPIRY_DAYS {
            return Err(ValidationError::single(
                "expires",
                "out_of_range",
                format!("expiry is 1 to {MAX_EXPIRY_DAYS} days"),
            )
            .into());
        }
    }
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 100))
        .transpose()?
        .flatten();
    let user_id = match &req.user_email {
        Some(e) => {
            let email = EmailAddress::parse(e)?;
            Some(
                app.store
                    .user_by_email(org.id, email.as_str())
                    .await
                    .or_not_found("user")?
                    .id,
            )
        }
        None => None,
    };
    let partner_id = match &req.partner {
        Some(key) => {
            if let Some(s) = scopes.iter().find(|s| !s.is_partner_scope()) {
                return Err(ValidationError::single(
                    "scope",
                    "not_a_partner_scope",
                    format!(
                        "a partner's token may hold only partner:read and partner:write, not {s}"
                    ),
                )
                .into());
            }
            Some(
                app.store
                    .partner_by_key(org.id, key.trim())
                    .await
                    .or_not_found("partner")?
                    .id,
            )
        }
        None => None,
    };
    let now = app.now();
    let secret = TokenSecret::generate(TokenSecret::prefix_for(&scopes));
    let new = NewToken {
        org_id: org.id,
        token_hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        name,
        scopes: Scope::join(&scopes),
        allowed_ips: allow.to_stored(),
        user_id,
        created_at: now,
        expires_at: req.expires_days.map(|d| now + i64::from(d) * DAY_MS),
        partner_id,
    };
    let id = app.store.insert_token(&new).await?;
    Ok(IssuedToken {
        token: app.store.token_by_id(id).await?,
        secret: secret.expose().to_string(),
    })
}

pub async fn list_tokens(app: &App, org_slug: &str) -> ServiceResult<Vec<TokenRow>> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    Ok(app.store.list_tokens(org.id).await?)
}

/// Finds a token by its numeric id (as `token list` shows it) or by the full secret.
pub async fn find_token(app: &App, reference: &str) -> ServiceResult<TokenRow> {
    let reference = reference.trim();
    let found = match reference.parse::<i64>() {
        Ok(id) => app.store.token_by_id(id).await,
        Err(_) => app.store.token_by_hash(&hash_token(reference)).await,
    };
    found.or_not_found("token")
}

/// A token of organisation `org_id` by id; another organisation's token is not found.
pub async fn org_token(app: &App, org_id: i64, id: i64) -> ServiceResult<TokenRow> {
    match app.store.token_by_id(id).await {
        Ok(t) if t.org_id == org_id => Ok(t),
        Ok(_) | Err(crate::store::StoreError::NotFound) => Err(ServiceError::NotFound("token")),
        Err(e) => Err(e.into()),
    }
}

/// Issues a new token with the same scopes, allowlist, owner and lifetime, and revokes the old
/// one in the same transaction: the old secret fails from this moment on.
pub async fn rotate_token(app: &App, reference: &str) -> ServiceResult<IssuedToken> {
    let old = find_token(app, reference).await?;
    if old.revoked_at.is_some() {
        return Err(ServiceError::Conflict {
            field: "token",
            message: "the token is revoked; create a new one instead".into(),
        });
    }
    let scopes = Scope::parse_list(&[old.scopes.as_str()])?;
    let now = app.now();
    let secret = TokenSecret::generate(TokenSecret::prefix_for(&scopes));
    let new = NewToken {
        org_id: old.org_id,
        token_hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        name: old.name.clone(),
        scopes: old.scopes.clone(),
        allowed_ips: old.allowed_ips.clone(),
        user_id: old.user_id,
        created_at: now,
        expires_at: old.expires_at.map(|e| now + (e - old.created_at)),
        partner_id: old.partner_id,
    };
    let id = app
        .store
        .rotate_token(old.id, &new)
        .await
        .or_not_found("token")?;
    Ok(IssuedToken {
        token: app.store.token_by_id(id).await?,
        secret: secret.expose().to_string(),
    })
}

pub async fn revoke_token(app: &App, reference: &str) -> ServiceResult<TokenRow> {
    let t = find_token(app, reference).await?;
    app.store
        .revoke_token(t.id, app.now())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ServiceError::Conflict {
                field: "token",
                message: "the token is already revoked".into(),
            },
            e => e.into(),
        })?;
    Ok(app.store.token_by_id(t.id).await?)
}

/// Checks a presented token from `ip`. Every failure is the same `Unauthorized`, so a caller
/// cannot tell a wrong token from a revoked, expired, idle or out-of-range one.
pub async fn authenticate(app: &App, presented: &str, ip: IpAddr) -> ServiceResult<Principal> {
    if presented.is_empty() || presented.len() > 200 {
        return Err(ServiceError::Unauthorized);
    }
    let t = match app.store.token_by_hash(&hash_token(presented)).await {
        Ok(t) => t,
        Err(crate::store::StoreError::NotFound) => return Err(ServiceError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let state = token_state(app, &t);
    if state != TokenState::Active {
        tracing::debug!(token_id = t.id, state = state.as_str(), "token refused");
        return Err(ServiceError::Unauthorized);
    }
    let allow = IpAllowlist::from_stored(&t.allowed_ips).map_err(|_| ServiceError::Unauthorized)?;
    if !allow.allows(ip) {
        tracing::debug!(
            token_id = t.id,
            "token refused: address not on its allowlist"
        );
        return Err(ServiceError::Unauthorized);
    }
    let scopes = Scope::parse_list(&[t.scopes.as_str()]).map_err(|_| ServiceError::Unauthorized)?;
    let now = app.now();
    if t.last_used_at.is_none_or(|used| used < now - TOUCH_GAP_MS) {
        app.store.touch_token(t.id, now, TOUCH_GAP_MS).await?;
    }
    Ok(Principal {
        org_id: t.org_id,
        token_id: t.id,
        user_id: t.user_id,
        scopes,
        partner_id: t.partner_id,
    })
}
