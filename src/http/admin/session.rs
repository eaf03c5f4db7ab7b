//! Who is signed in: the session cookie, the `Admin` extractor (signed in, or sent to the
//! sign-in page), and `Posted` (a form from a signed-in user that carries the session's CSRF
//! token and comes from our own origin).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::error::AdminError;
use super::form::Form;
use super::i18n::Ui;
use crate::app::App;
use crate::domain::Scope;
use crate::services::admin_sessions;
use crate::services::tokens::Principal;
use crate::store::SessionRow;

pub const SESSION_COOKIE: &str = "handbill_admin";
pub const LOGIN_COOKIE: &str = "handbill_login";

/// The largest form the admin UI accepts outside file uploads.
const FORM_LIMIT: usize = 1024 * 1024;

/// A signed-in user, as the database says now (role and removal take effect at once).
pub struct Admin {
    pub session: SessionRow,
    pub cookie: String,
}

impl Admin {
    pub fn org_id(&self) -> i64 {
        self.session.org_id
    }

    pub fn is_admin(&self) -> bool {
        self.session.role == "admin"
    }

    /// Only admins manage users, tokens, keys and settings.
    pub fn require_admin(&self) -> Result<(), AdminError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// The user acting through the services, with the scopes a page needs (the UI's own rules
    /// are the roles; the services check scopes).
    pub fn principal(&self, scopes: &[Scope]) -> Principal {
        Principal {
            org_id: self.org_id(),
            token_id: 0,
            user_id: Some(self.session.user_id),
            scopes: scopes.to_vec(),
            partner_id: None,
        }
    }

    /// The user acting through the services with scope admin, for the admins' pages: refused
    /// (403) for anyone else, so a page cannot hand the scope to a marketer.
    pub fn admin_principal(&self) -> Result<Principal, AdminError> {
        self.require_admin()?;
        Ok(self.principal(&[Scope::Admin]))
    }

    /// The page chrome for this user with `nav` marked as the current section.
    pub fn ui(&self, nav: &'static str) -> Ui {
        Ui::for_session(&self.session, nav)
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for the admin UI: HttpOnly, SameSite=Strict, limited to `/admin`, and
/// Secure unless the server is configured on plain http for a host other than this machine.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = secure_cookies(app);
    let v = format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn secure_cookies(app: &App) -> bool {
    let Some(url) = app
        .config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
    else {
        return true;
    };
    url.scheme() == "https" || matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Adds a `Set-Cookie` header to a response.
pub fn with_cookie(mut res: Response, cookie: HeaderValue) -> Response {
    res.headers_mut().append(SET_COOKIE, cookie);
    res
}

/// Where the sign-in page sends the user back to: a local admin path only.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/admin/",
    }
}

fn to_sign_in(uri: &Uri) -> Response {
    let next = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/admin/");
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    Redirect::to(&format!("/admin/login?{q}")).into_response()
}

impl FromRequestParts<App> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(&parts.uri));
        };
        match admin_sessions::open(app, &cookie).await {
            Ok(Some(session)) => Ok(Admin { session, cookie }),
            Ok(None) => Err(to_sign_in(&parts.uri)),
            Err(e) => Err(AdminError::from(e).into_response()),
        }
    }
}

/// A form posted by a signed-in user, checked against cross-site forgery.
pub struct Posted {
    pub admin: Admin,
    pub form: Form,
}

/// Refuses a form whose token is not `expected` or that came from another site: the check of
/// every admin form (the sign-in form's token is paired with a cookie, the others belong to
/// the session).
pub fn check_form(headers: &HeaderMap, presented: &str, expected: &str) -> Result<(), AdminError> {
    if same_origin(headers) && tokens_match(presented, expected) {
        Ok(())
    } else {
        Err(AdminError::Csrf)
    }
}

/// True when the request names no other origin than its own host (browsers send `Origin` with
/// every POST; a form posted from another site names that site).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin_host = url::Url::parse(origin).ok().map(|u| match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_string(),
    });
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

/// Compares two secrets without leaking where they differ.
fn tokens_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty()
        && Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
}

impl FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, app).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| AdminError::TooLarge.into_response())?;
        let form = Form::parse(&bytes);
        check_form(&parts.headers, form.get("csrf"), &admin.session.csrf_token)
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { admin, form })
    }
}
