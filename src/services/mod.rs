//! Use cases. Every entry point (native API, compat APIs, CLI, admin UI, imports) calls these
//! functions, so behaviour is the same whichever way a request arrives.

pub mod activity;
pub mod admin_sessions;
pub mod automation_buckets;
pub mod automation_engine;
pub mod automation_jobs;
pub mod automation_triggers;
pub mod automations;
pub mod bounces;
pub mod checkout;
pub mod collections;
pub mod consent;
pub mod contacts;
pub mod dashboard;
pub mod delivery;
pub mod exports;
pub mod hooks;
pub mod import_records;
pub mod imports;
pub mod link_params;
pub mod links;
pub mod list_codes;
pub mod lists;
pub mod mail;
pub mod mailings;
pub mod ml_keys;
pub mod oauth_consumers;
pub mod optin_mail;
pub mod optins;
pub mod orgs;
pub mod outbound;
pub mod partner_consents;
pub mod partners;
pub mod points_of_sale;
pub mod products;
pub mod rate_limit;
pub mod segments;
pub mod sms_gateways;
pub mod sns;
pub mod sources;
pub mod template_vars;
pub mod templates;
pub mod tokens;
pub mod tracking;
pub mod users;
pub mod webhooks;

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not found, with a code of its own (`unknown_contact`, `unknown_trigger` …).
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("authentication failed")]
    Unauthorized,
    #[error("this token may not do that (needs scope {0})")]
    Forbidden(&'static str),
    #[error("storage failure: {0}")]
    Store(StoreError),
    /// A system we talk to (an SFTP server) failed or could not be reached; the message says
    /// why, for the person who set it up.
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    #[error("too many requests; retry in {0:?}")]
    RateLimited(std::time::Duration),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Maps a store "not found" to a named service error and passes every other error on.
pub(crate) trait OrNotFound<T> {
    fn or_not_found(self, what: &'static str) -> ServiceResult<T>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &'static str) -> ServiceResult<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound(what),
            other => ServiceError::Store(other),
        })
    }
}

/// A store result where "not found" is an answer, not an error; every other error stays one.
pub(crate) fn found<T>(r: Result<T, StoreError>) -> ServiceResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
