//! The admin UI as a browser sees it, without a browser: cookies kept, the CSRF token read
//! off each page, forms posted; and the users the admin tests sign in as.

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};

use super::TestApp;
use handbill::services::users::{self, Role};

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser stand-in: keeps the admin cookies and reads the CSRF token off each page.
pub struct Browser<'a> {
    pub t: &'a TestApp,
    pub client: Client,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

pub fn attr_value(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

impl<'a> Browser<'a> {
    pub fn new(t: &'a TestApp) -> Self {
        Browser {
            t,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep_cookies(&mut self, res: &Response) {
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap();
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !val.is_empty() {
                self.cookies.push((k.into(), val.into()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let res = self
            .client
            .get(self.t.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        let status = res.status();
        let body = res.text().await.unwrap();
        if let Some(c) = attr_value(&body, "name=\"csrf\" value=\"") {
            self.csrf = c;
        }
        (status, body)
    }

    /// Posts a form with the page's CSRF token; returns the status, the redirect target and the body.
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.post_raw(path, body, None).await
    }

    pub async fn post_raw(
        &mut self,
        path: &str,
        body: String,
        origin: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut req = self
            .client
            .post(self.t.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await.unwrap();
        self.keep_cookies(&res);
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = res.text().await.unwrap();
        if let Some(c) = attr_value(&body, "name=\"csrf\" value=\"") {
            self.csrf = c;
        }
        (status, location, body)
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> (StatusCode, String, String) {
        self.get("/admin/login").await;
        self.post("/admin/login", &[("email", email), ("password", password)])
            .await
    }
}

/// The id in a redirect such as `/admin/imports/7?notice=imported`.
pub fn id_in(location: &str, prefix: &str) -> i64 {
    location
        .trim_start_matches(prefix)
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn user(t: &TestApp, org: &str, email: &str, role: Role) {
    users::create_user(&t.app, org, email, role, PASSWORD)
        .await
        .unwrap();
}

/// A browser signed in as a new user of `org` with `role`.
pub async fn signed_in<'a>(t: &'a TestApp, org: &str, email: &str, role: Role) -> Browser<'a> {
    user(t, org, email, role).await;
    let mut b = Browser::new(t);
    b.sign_in(email, PASSWORD).await;
    b.get("/admin/").await;
    b
}
