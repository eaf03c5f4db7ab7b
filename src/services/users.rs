use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::{orgs, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::EmailAddress;
use crate::store::UserRow;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Marketer,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, crate::domain::ValidationError> {
        match s {
            "admin" => Ok(Role::Admin),
            "marketer" => Ok(Role::Marketer),
            _ => Err(crate::domain::ValidationError::single(
                "role",
                "invalid_role",
                "role must be admin or marketer",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
        }
    }
}

/// Creates a login for the admin UI; the password is stored as an argon2id hash.
pub async fn create_user(
    app: &App,
    org_slug: &str,
    email: &str,
    role: Role,
    password: &str,
) -> ServiceResult<UserRow> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    let email = EmailAddress::parse(email)?;
    check_password_length(password)?;
    let hash = hash_password_off_thread(password).await?;
    app.store
        .create_user(org.id, email.as_str(), &hash, role.as_str(), app.now())
        .await
        .map_err(|e| {
            if e.is_conflict_on("email") {
                ServiceError::Conflict {
                    field: "email",
                    message: "a user with this e-mail address already exists in the organisation"
                        .into(),
                }
            } else {
                e.into()
            }
        })
}

/// The users of an organisation (removed ones included), by address.
pub async fn all(app: &App, org_id: i64) -> ServiceResult<Vec<UserRow>> {
    Ok(app.store.users(org_id).await?)
}

/// Changes a user's role; it takes effect at the user's next request. An organisation keeps
/// at least one admin.
pub async fn set_role(app: &App, org_id: i64, user_id: i64, role: Role) -> ServiceResult<()> {
    if role != Role::Admin {
        keep_an_admin(app, org_id, user_id).await?;
    }
    app.store
        .set_user_role(org_id, user_id, role.as_str())
        .await
        .or_not_found("user")
}

/// Removes a user: the user's sessions end and the user's API tokens stop working at once.
/// An organisation keeps at least one admin.
pub async fn remove(app: &App, org_id: i64, user_id: i64) -> ServiceResult<()> {
    keep_an_admin(app, org_id, user_id).await?;
    app.store
        .remove_user(org_id, user_id, app.now())
        .await
        .or_not_found("user")?;
    Ok(app
        .store
        .delete_user_sessions(org_id, user_id, None)
        .await?)
}

async fn keep_an_admin(app: &App, org_id: i64, user_id: i64) -> ServiceResult<()> {
    let users = app.store.users(org_id).await?;
    let other_admins = users
        .iter()
        .filter(|u| u.removed_at.is_none() && u.role == "admin" && u.id != user_id)
        .count();
    if other_admins == 0 {
        return Err(ServiceError::Conflict {
            field: "role",
            message: "the organisation needs at least one other admin first".into(),
        });
    }
    Ok(())
}

pub fn check_password_length(password: &str) -> Result<(), crate::domain::ValidationError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(crate::domain::ValidationError::single(
            "password",
            "invalid_length",
            format!("a password has {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> ServiceResult<String> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

/// [`hash_password`] on a blocking thread: argon2 takes tens of milliseconds, too long for the
/// async threads that serve requests.
pub async fn hash_password_off_thread(password: &str) -> ServiceResult<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
}

/// [`verify_password`] on a blocking thread (see [`hash_password_off_thread`]).
pub async fn verify_password_off_thread(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
