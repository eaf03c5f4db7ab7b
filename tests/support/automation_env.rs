//! What the automation tests share: an organisation with a sender, an admin and a shop
//! token, the `news` opt-in, templates and products, and a real SMTP server.

use handbill::workers::run_until_idle;
use mail_parser::MessageParser;
use serde_json::{json, Value};

use super::smtp_sink::SmtpSink;
use super::{Backend, TestApp};

pub const DAY_MS: i64 = 86_400_000;

pub struct Env {
    pub t: TestApp,
    pub sink: SmtpSink,
    pub admin: String,
    pub shop: String,
}

pub async fn env(backend: Backend) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let t = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(url);
        // The SMS gateway and the systems HTTP steps call listen on 127.0.0.1 in tests.
        c.outbound_private_networks = true;
        // Source files written by the tests are complete at once.
        c.source_settle_secs = 0;
    })
    .await?;
    t.org("shop").await;
    handbill::services::orgs::set_sender(&t.app, "shop", "news@shop.test", Some("The Shop"))
        .await
        .unwrap();
    let admin = t.token("shop", &["admin"], &[]).await;
    let shop = t.token("shop", &["automations:trigger"], &[]).await;
    let e = Env {
        t,
        sink,
        admin,
        shop,
    };
    let res = e
        .post(
            "/api/v1/lists",
            json!({"key": "news", "name": {"en": "News"}, "double_opt_in": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    for (key, subject, html) in [
        ("welcome", "Welcome {{ contact.first_name }}", "<p>Hi {{ contact.first_name }}, you are subscribed.</p>"),
        ("cart", "You left something behind", "<h1>Your cart</h1>[automationfield:productlist]<p><a href=\"[automationfield:linktocart]\">Back to your cart</a></p>"),
        ("review", "How was it?", "<p>Please review:</p>[automationfield:productlist]"),
        ("v2", "Version two", "<p>Second version for {{ contact.first_name }}</p>"),
    ] {
        let res = e
            .post(
                "/api/v1/templates",
                json!({"key": key, "kind": "transactional", "name": key, "subject": subject, "html": html}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let res = e
        .post(
            "/api/v1/products",
            json!({"products": [
                {"id": "P1", "title": "Vinyl: Live at the Venue", "url": "https://shop.test/p/1", "image_url": "https://shop.test/img/1.jpg",
                 "price": "€ 24,50", "review_url": "https://shop.test/review/1"},
                {"id": "P2", "title": "Tour shirt", "url": "https://shop.test/p/2", "price": "€ 30,00", "review_url": "https://shop.test/review/2"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    Some(e)
}

impl Env {
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.post_as(&self.admin, path, body, None).await
    }

    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: Value,
        idempotency: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .t
            .client
            .post(self.t.url(path))
            .bearer_auth(token)
            .json(&body);
        if let Some(k) = idempotency {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = self.get_as(&self.admin, path).await;
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    /// `GET path` with `token`, whatever it answers.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.t
            .client
            .get(self.t.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A contact with an external id, subscribed to `news` (single opt-in, asserted).
    pub async fn customer(
        &self,
        external_id: &str,
        email: &str,
        first_name: &str,
        subscribe: bool,
    ) {
        let res = self
            .post(
                "/api/v1/contacts",
                json!({"email": email, "external_id": external_id, "first_name": first_name}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        if subscribe {
            let res = self
                .post(
                    "/api/v1/optins/register",
                    json!({"email": email, "optins": ["news"], "consent": "asserted"}),
                )
                .await;
            assert_eq!(res.status(), 202);
        }
    }

    /// Creates and publishes an automation; returns (id, trigger code).
    pub async fn automation(&self, name: &str, reentry: &str, steps: Value) -> (i64, String) {
        let res = self
            .post(
                "/api/v1/automations",
                json!({"name": name, "optin": "news", "reentry": reentry, "steps": steps}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let a: Value = res.json().await.unwrap();
        assert_eq!(a["status"], "draft");
        let id = a["id"].as_i64().unwrap();
        let res = self
            .post(&format!("/api/v1/automations/{id}/publish"), json!({}))
            .await;
        assert_eq!(res.status(), 200);
        (id, a["triggerCode"].as_str().unwrap().to_string())
    }

    pub async fn trigger(&self, code: &str, contact: &str, fields: Value) -> reqwest::Response {
        self.post_as(
            &self.shop,
            &format!("/integrationservice/automation/trigger/{code}"),
            json!({"externalContactId": contact, "automationFields": fields}),
            None,
        )
        .await
    }

    /// Runs the workers; the mails received so far as (recipient, subject, html).
    pub async fn mails(&self) -> Vec<(String, String, String)> {
        run_until_idle(&self.t.app).await.unwrap();
        self.sink
            .received()
            .iter()
            .map(|r| {
                let m = MessageParser::default().parse(&r.data).unwrap();
                (
                    r.rcpt_to[0].clone(),
                    m.subject().unwrap_or_default().to_string(),
                    // Attribute values are entity-escaped ('/' too); every mail client decodes them.
                    m.body_html(0).unwrap_or_default().replace("&#x2f;", "/"),
                )
            })
            .collect()
    }
}

pub fn started(v: &Value) -> Vec<i64> {
    v["publishedAutomationResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["automationContactId"].as_i64().unwrap())
        .collect()
}

/// The path of our first link in a mail that starts with `prefix` (`/p/confirm/`, `/t/u/`).
pub fn link(text: &str, prefix: &str) -> String {
    let text = text.replace("&#x2f;", "/").replace("&amp;", "&");
    let start = text
        .find(&format!("https://mail.venue.test{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '"' | '\''))
        .collect();
    url.trim_start_matches("https://mail.venue.test")
        .to_string()
}

impl Env {
    pub async fn put(&self, path: &str, body: Value) -> reqwest::Response {
        self.t
            .client
            .put(self.t.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates and publishes an automation from a full definition; returns its id.
    pub async fn publish(&self, definition: Value) -> i64 {
        let res = self.post("/api/v1/automations", definition).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let res = self
            .post(&format!("/api/v1/automations/{id}/publish"), json!({}))
            .await;
        assert_eq!(res.status(), 200);
        id
    }

    /// The participations of an automation, newest first, each with its step log.
    pub async fn participations(&self, automation: i64) -> Vec<Value> {
        let list = self
            .get(&format!("/api/v1/automations/{automation}/participations"))
            .await;
        let mut out = Vec::new();
        for p in list.as_array().unwrap() {
            let id = p["automationContactId"].as_i64().unwrap();
            out.push(
                self.get(&format!("/api/v1/automations/participations/{id}"))
                    .await,
            );
        }
        out
    }
}

impl Env {
    /// Where the click-tracked links (`/t/u/…`) of a mail lead, in order; each is followed
    /// once, as a person's click.
    pub async fn tracked_targets(&self, html: &str) -> Vec<String> {
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut out = Vec::new();
        let mut rest = html.replace("&#x2f;", "/").replace("&amp;", "&");
        while rest.contains("https://mail.venue.test/t/u/") {
            let path = link(&rest, "/t/u/");
            let res = plain
                .get(self.t.url(&path))
                .header("user-agent", "Mozilla/5.0 (Macintosh) Firefox/130.0")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 303, "{path}");
            out.push(res.headers()["location"].to_str().unwrap().to_string());
            let at = rest.find(&path).unwrap() + path.len();
            rest = rest[at..].to_string();
        }
        out
    }
}

impl Env {
    /// Waits until the activity log shows at least `n` events. On PostgreSQL the log holds
    /// back events while any older transaction in the cluster still runs (another test's).
    pub async fn settled_events(&self, n: usize) {
        for _ in 0..600 {
            let page = self.get("/api/v1/events?limit=10000").await;
            if page["events"].as_array().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the activity log never showed {n} events");
    }
}

impl Env {
    /// Uploads a CSV file with its mapping to `POST /api/v1/imports`.
    pub async fn upload(&self, csv: &[u8], mapping: Value) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.to_vec()).file_name("contacts.csv"),
            )
            .text("mapping", mapping.to_string());
        self.t
            .client
            .post(self.t.url("/api/v1/imports"))
            .bearer_auth(&self.admin)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Uploads, lets the workers run the import, and returns it.
    pub async fn import(&self, csv: &[u8], mapping: Value) -> Value {
        let res = self.upload(csv, mapping).await;
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        run_until_idle(&self.t.app).await.unwrap();
        self.get(&format!("/api/v1/imports/{id}")).await
    }
}
