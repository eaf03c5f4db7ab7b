//! Who is on the other end of a request: address (trusted proxies honoured) and user agent,
//! for the evidence in the consent ledger.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;

use super::client_ip::client_ip;
use crate::app::App;
use crate::domain::ledger::Evidence;

pub struct Caller {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Caller {
    /// Evidence of an act by this caller.
    pub fn evidence(
        &self,
        source: &str,
        actor: impl Into<String>,
        token_id: Option<i64>,
    ) -> Evidence {
        Evidence {
            source: source.into(),
            actor: actor.into(),
            token_id,
            ip: Some(self.ip.to_string()),
            user_agent: self.user_agent.clone(),
            text_shown: None,
            context: None,
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            ip: client_ip(parts, &app.config.trusted_proxies()),
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(500).collect()),
        })
    }
}
