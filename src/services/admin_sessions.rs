//! Sign-in to the admin UI: password check, sessions kept in the database, their expiry,
//! sign-out and password change. The cookie carries a random session id; the database holds
//! only its SHA-256, so a copy of the database opens no session.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::users::{self, verify_password_off_thread};
use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::ValidationError;
use crate::store::{SessionRow, StoreError};

/// A session ends after this long without a request…
pub const IDLE_MS: i64 = 12 * 3600 * 1000;
/// …and at the latest this long after sign-in.
pub const ABSOLUTE_MS: i64 = 7 * 24 * 3600 * 1000;
/// The last-seen time is written at most this often (not at every request).
const TOUCH_MS: i64 = 60 * 1000;

/// Languages the admin UI speaks.
pub const LANGUAGES: [&str; 2] = ["en", "nl"];

/// A signed-in session: the cookie value (shown to the browser once) and its row.
pub struct SignedIn {
    pub cookie: String,
    pub session: SessionRow,
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// Checks an address and password. The answer for an unknown address, a removed user and a wrong
/// password is the same `Unauthorized`, and takes as long: a password hash is checked either way.
/// An address with logins in several organisations needs `org` (the organisation's slug).
pub async fn sign_in(
    app: &App,
    email: &str,
    password: &str,
    org: Option<&str>,
) -> ServiceResult<SignedIn> {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| users::hash_password("not a password of anyone").unwrap_or_default());
    if password.len() > users::MAX_PASSWORD_LEN * 4 {
        return Err(ServiceError::Unauthorized);
    }
    let email = email.trim().to_lowercase();
    let candidates = if email.len() <= 254 {
        app.store.active_users_by_email(&email).await?
    } else {
        Vec::new()
    };
    let mut matched = Vec::new();
    if candidates.is_empty() {
        let _ = verify_password_off_thread(password, &DUMMY).await;
    }
    for u in candidates {
        if verify_password_off_thread(password, &u.password_hash).await {
            matched.push(u);
        }
    }
    if let Some(slug) = org.map(str::trim).filter(|s| !s.is_empty()) {
        let org = app.store.org_by_slug(slug).await.ok();
        matched.retain(|u| org.as_ref().is_some_and(|o| o.id == u.org_id));
    }
    let user = match matched.len() {
        0 => return Err(ServiceError::Unauthorized),
        1 => matched.remove(0),
        _ => {
            return Err(ValidationError::single(
                "org",
                "organisation_needed",
                "this address signs in to several organisations: name the organisation",
            )
            .into())
        }
    };
    let cookie = random_token();
    let id = hash(&cookie);
    app.store
        .create_session(&id, user.org_id, user.id, &random_token(), app.now())
        .await?;
    let session = app.store.session(&id).await?;
    Ok(SignedIn { cookie, session })
}

/// The live session for a cookie value, or None when it is unknown, expired or its user was
/// removed. Expired sessions are deleted on sight.
pub async fn open(app: &App, cookie: &str) -> ServiceResult<Option<SessionRow>> {
    if cookie.is_empty() || cookie.len() > 100 {
        return Ok(None);
    }
    let id = hash(cookie);
    let s = match app.store.session(&id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let now = app.now();
    if now - s.last_seen_at > IDLE_MS || now - s.created_at > ABSOLUTE_MS {
        app.store.delete_session(&id).await?;
        return Ok(None);
    }
    if now - s.last_seen_at > TOUCH_MS {
        app.store.touch_session(&id, now).await?;
    }
    Ok(Some(s))
}

pub async fn sign_out(app: &App, cookie: &str) -> ServiceResult<()> {
    Ok(app.store.delete_session(&hash(cookie)).await?)
}

/// Changes the signed-in user's password after checking the current one; every other session
/// of the user ends.
pub async fn change_password(
    app: &App,
    s: &SessionRow,
    cookie: &str,
    current: &str,
    new: &str,
) -> ServiceResult<()> {
    let user = app.store.user(s.org_id, s.user_id).await?;
    if !verify_password_off_thread(current, &user.password_hash).await {
        return Err(ValidationError::single(
            "current_password",
            "wrong_password",
            "the current password is not right",
        )
        .into());
    }
    users::check_password_length(new)?;
    let hash_new = users::hash_password_off_thread(new).await?;
    app.store
        .set_user_password(s.org_id, s.user_id, &hash_new)
        .await?;
    app.store
        .delete_user_sessions(s.org_id, s.user_id, Some(&hash(cookie)))
        .await?;
    Ok(())
}

/// Sets the user's language (`en`, `nl`) and time zone (an IANA name such as
/// `Europe/Amsterdam`).
pub async fn set_preferences(
    app: &App,
    s: &SessionRow,
    language: &str,
    time_zone: &str,
) -> ServiceResult<()> {
    if !LANGUAGES.contains(&language) {
        return Err(ValidationError::single(
            "language",
            "invalid_language",
            "the language is en or nl",
        )
        .into());
    }
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ValidationError::single(
            "time_zone",
            "invalid_time_zone",
            "not a known time zone (such as Europe/Amsterdam)",
        )
        .into());
    }
    Ok(app
        .store
        .set_user_preferences(s.org_id, s.user_id, language, time_zone)
        .await?)
}

/// Deletes expired sessions (run by the housekeeping worker).
pub async fn purge(app: &App) -> ServiceResult<u64> {
    let now = app.now();
    Ok(app
        .store
        .purge_sessions(now - IDLE_MS, now - ABSOLUTE_MS)
        .await?)
}
