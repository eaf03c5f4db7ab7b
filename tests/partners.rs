//! Partner opt-ins at checkout (the SecuTix row) end to end, through the real server and a
//! real SMTP server: partners, points of sale and products synchronised, the checkout call's
//! three rules, the widget page and its single submission, one confirmation mail per order,
//! the partner's own view of its consents with proof, opt-outs reported back, exports, and
//! every rejection.

mod support;

use handbill::services::partner_consents::{self, Format};
use handbill::workers::run_until_idle;
use mail_parser::MessageParser;
use serde_json::{json, Value};
use support::smtp_sink::SmtpSink;
use support::{Backend, TestApp};

both_backends!(
    the_whole_checkout_flow,
    bad_input_is_rejected_and_nothing_is_written,
    widget_links_expire_and_cannot_be_forged,
    single_opt_in_and_partner_opt_ins_off,
    products_sync_ten_thousand_in_one_call,
    partner_tokens_see_only_their_partner,
    exports_write_files_with_proof,
);

const PUBLIC: &str = "https://mail.venue.test";

struct Env {
    t: TestApp,
    sink: SmtpSink,
    admin: String,
    shop: String,
}

async fn env(backend: Backend) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let t = TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await?;
    t.org("venue").await;
    let admin = t.token("venue", &["admin"], &[]).await;
    let shop = t.token("venue", &["checkout:write"], &[]).await;
    let e = Env {
        t,
        sink,
        admin,
        shop,
    };
    for (key, kind, name) in [
        ("mojo", "promoter", "Mojo Concerts"),
        ("friendly", "producer", "Friendly Fire"),
        ("other", "promoter", "Other Promoter"),
        ("unrelated", "other", "Unrelated Partner"),
    ] {
        let res = e
            .send(
                "POST",
                "/api/v1/partners",
                &e.admin,
                json!({"key": key, "kind": kind, "name": name,
                       "description": {"nl": format!("{name} organiseert concerten"), "en": format!("{name} runs concerts")},
                       "privacy_url": format!("https://{key}.example/privacy")}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let res = e
            .send(
                "POST",
                "/api/v1/lists",
                &e.admin,
                json!({"key": format!("{key}-news"), "partner": key,
                       "name": {"nl": format!("Nieuws van {name}"), "en": format!("News from {name}")},
                       "description": {"en": format!("Concert news from {name}, monthly")},
                       "optin_text": {"nl": format!("Ja, {name} mag mij mailen"), "en": format!("Yes, {name} may mail me")}}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let res = e
        .send(
            "POST",
            "/api/v1/lists",
            &e.admin,
            json!({"key": "venue-news", "name": {"en": "Venue news"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = e
        .send(
            "POST",
            "/api/v1/points-of-sale",
            &e.admin,
            json!({"key": "webshop", "name": "Web shop", "partner_optins": true, "partners": ["other"],
                   "frame_origin": "https://tickets.venue.example", "theme": {"accent": "#c8102e"}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": [
                {"id": "EV1", "title": "Mojo night", "date": "2027-03-01T20:00:00+01:00", "partner": "mojo"},
                {"id": "EV2", "title": "Friendly matinee", "partner": "friendly"},
                {"id": "EV3", "title": "Unrelated show", "partner": "unrelated"},
                {"id": "EV4", "title": "House show"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"received": 4, "created": 4, "updated": 0})
    );
    Some(e)
}

impl Env {
    async fn send(&self, method: &str, path: &str, token: &str, body: Value) -> reqwest::Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.t
            .client
            .request(m, self.t.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.t
            .client
            .get(self.t.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The opt-in keys the checkout call offers.
    async fn offered(&self, email: &str, products: &[&str]) -> Vec<String> {
        let res = self
            .send(
                "POST",
                "/api/v1/checkout/optins",
                &self.shop,
                json!({"point_of_sale": "webshop", "email": email, "language": "en", "product_ids": products}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["optins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["optin"].as_str().unwrap().to_string())
            .collect()
    }

    async fn status(&self, email: &str, list: &str) -> Option<String> {
        let org = self.t.app.store.org_by_slug("venue").await.unwrap();
        let e = handbill::domain::EmailAddress::parse(email).unwrap();
        let c = self.t.app.store.contact_by_email(org.id, &e).await.ok()?;
        let l = self.t.app.store.list_by_key(org.id, list).await.unwrap();
        self.t
            .app
            .store
            .subscription(org.id, c.id, l.id)
            .await
            .ok()
            .map(|s| s.status)
    }

    async fn ledger_len(&self) -> usize {
        let org = self.t.app.store.org_by_slug("venue").await.unwrap();
        self.t
            .app
            .store
            .ledger_page(org.id, 0, 10_000)
            .await
            .unwrap()
            .len()
    }

    /// Runs the workers; the messages received so far as (recipients, text).
    async fn mails(&self) -> Vec<(Vec<String>, String)> {
        run_until_idle(&self.t.app).await.unwrap();
        self.sink
            .received()
            .iter()
            .map(|r| {
                let m = MessageParser::default().parse(&r.data).unwrap();
                (
                    r.rcpt_to.clone(),
                    m.body_text(0).unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    async fn widget(&self, email: &str, products: &[&str], order: &str) -> Value {
        let res = self
            .send(
                "POST",
                "/api/v1/checkout/widget",
                &self.shop,
                json!({"point_of_sale": "webshop", "email": email, "language": "en",
                       "product_ids": products, "order": order}),
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn partner_token(&self, partner: &str, scopes: &[&str]) -> String {
        handbill::services::tokens::create_token(
            &self.t.app,
            &handbill::services::tokens::TokenRequest {
                org_slug: "venue".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                partner: Some(partner.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .secret
    }

    async fn submit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.t
            .client
            .post(self.t.url(path))
            .header("user-agent", "Buyer/1.0")
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

fn local(url: &str) -> String {
    url.trim_start_matches(PUBLIC).to_string()
}

fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(&format!("{PUBLIC}{prefix}"))
        .expect("link in mail");
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>')
        .collect();
    local(&url)
}

async fn the_whole_checkout_flow(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    let buyer = "buyer@example.org";
    // Product rule and point-of-sale rule: Mojo manages EV1, Other is defined for the web shop.
    // Unrelated manages no product in the order; the venue's own list is never offered here.
    assert_eq!(
        e.offered(buyer, &["EV1"]).await,
        vec!["mojo-news", "other-news"]
    );
    assert_eq!(
        e.offered(buyer, &["EV1", "EV2", "EV4"]).await,
        vec!["mojo-news", "friendly-news", "other-news"]
    );
    // An earlier order: the buyer said yes to Friendly on the shop's own page (answers API).
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/answers",
            &e.shop,
            json!({"point_of_sale": "webshop", "email": buyer, "language": "en", "product_ids": ["EV2"],
                   "order": "ORD-0", "answers": [{"optin": "friendly-news", "consent": true}],
                   "ip": "198.51.100.7", "user_agent": "Shop/2"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        e.status(buyer, "friendly-news").await.as_deref(),
        Some("pending")
    );
    // Already-decided rule: pending counts as given.
    assert_eq!(
        e.offered(buyer, &["EV1", "EV2"]).await,
        vec!["mojo-news", "other-news"]
    );
    // The widget for the next order: a signed link and the same form as a fragment.
    let w = e.widget(buyer, &["EV1", "EV2"], "ORD-1").await;
    let url = w["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC}/p/widget/")), "{url}");
    assert!(
        !url.contains(&e.shop),
        "the shop's token never reaches the browser"
    );
    let fragment = w["fragment"].as_str().unwrap();
    assert!(
        fragment.contains(&format!("action=\"{}", url.replace('/', "&#x2f;")))
            || fragment.contains(url)
    );
    assert!(fragment.contains("var(--hb-accent"));
    assert_eq!(w["optins"].as_array().unwrap().len(), 2);
    // The page in a real request: one unticked box per opt-in, the texts and privacy links.
    let page = t.client.get(t.url(&local(url))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors https://tickets.venue.example"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("type=\"checkbox\"").count(), 2, "{html}");
    assert!(!html.contains("checked"), "consent is never pre-ticked");
    assert!(
        html.contains("Yes, Mojo Concerts may mail me")
            && html.contains("Yes, Other Promoter may mail me")
    );
    assert!(
        html.contains("https:&#x2f;&#x2f;mojo.example&#x2f;privacy"),
        "{html}"
    );
    assert!(html.contains("--hb-accent: #c8102e"));
    assert!(!html.contains("<script"), "works without JavaScript");
    // A GET changes nothing.
    assert_eq!(e.status(buyer, "mojo-news").await, None);
    // Submit with Mojo ticked and Other unticked.
    let before = e.ledger_len().await;
    let res = e
        .submit(&local(url), &[("optin", "mojo-news"), ("answered", "1")])
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("one mail to confirm"));
    assert_eq!(
        e.status(buyer, "mojo-news").await.as_deref(),
        Some("pending")
    );
    assert_eq!(
        e.status(buyer, "other-news").await.as_deref(),
        Some("refused")
    );
    assert_eq!(e.ledger_len().await, before + 2);
    // A second submission of the same widget: a clear answer, nothing recorded.
    let res = e
        .submit(
            &local(url),
            &[("optin", "mojo-news"), ("optin", "other-news")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("Already sent"));
    assert_eq!(e.ledger_len().await, before + 2);
    assert_eq!(
        e.status(buyer, "other-news").await.as_deref(),
        Some("refused")
    );
    // Neither is shown again: the ticked one is pending, the unticked one refused.
    assert!(e.offered(buyer, &["EV1", "EV2"]).await.is_empty());
    // One confirmation mail per order (ORD-0 and ORD-1), each naming its partners.
    let mails = e.mails().await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|(to, _)| to == &vec![buyer.to_string()]));
    let ord1 = &mails
        .iter()
        .find(|(_, text)| text.contains("Mojo"))
        .unwrap()
        .1;
    let ord0 = &mails
        .iter()
        .find(|(_, text)| !text.contains("Mojo"))
        .unwrap()
        .1;
    assert!(ord0.contains("Friendly Fire"), "{ord0}");
    assert!(
        ord1.contains("Mojo Concerts") && !ord1.contains("Other Promoter"),
        "{ord1}"
    );
    // The buyer confirms by the link in the mail.
    let confirm = link_in(ord1, "/p/confirm/");
    let res = t.client.post(t.url(&confirm)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        e.status(buyer, "mojo-news").await.as_deref(),
        Some("subscribed")
    );
    // The partner's token sees exactly its consents, with proof.
    let mojo = e
        .partner_token("mojo", &["partner:read", "partner:write"])
        .await;
    let res = e.get("/api/v1/partner/consents", &mojo).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let item = &items[0];
    assert_eq!(item["status"], "subscribed");
    assert_eq!(item["optin"], "mojo-news");
    assert_eq!(item["email"], buyer);
    assert_eq!(item["language"], "en");
    assert_eq!(item["proof"]["source"], "checkout");
    assert_eq!(item["proof"]["point_of_sale"], "webshop");
    assert_eq!(item["proof"]["order"], "ORD-1");
    assert_eq!(item["proof"]["consent_ip"], "127.0.0.1");
    assert_eq!(item["proof"]["consent_user_agent"], "Buyer/1.0");
    assert!(item["proof"]["confirmed_at"].is_string());
    let shown = item["proof"]["text_shown"].as_str().unwrap();
    assert!(
        shown.contains("Yes, Mojo Concerts may mail me")
            && shown.contains("Concert news from Mojo Concerts")
            && shown.contains("https://mojo.example/privacy"),
        "{shown}"
    );
    // Paging: nothing after the last cursor.
    let next = page["next"].as_i64().unwrap();
    let res = e
        .get(&format!("/api/v1/partner/consents?since={next}"), &mojo)
        .await;
    assert!(res.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // Other's token sees nothing: a refusal is not a consent, and Mojo's are not its own.
    let other = e.partner_token("other", &["partner:read"]).await;
    let page: Value = e
        .get("/api/v1/partner/consents", &other)
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    // Friendly's consent is still pending (never confirmed): not handed over.
    let friendly = e.partner_token("friendly", &["partner:read"]).await;
    let page: Value = e
        .get("/api/v1/partner/consents", &friendly)
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
    // Mojo reports an opt-out back: the subscription ends, the ledger has it, the feed shows it.
    let res = e
        .send(
            "POST",
            "/api/v1/partner/optouts",
            &mojo,
            json!({"optouts": [{"email": buyer}, {"email": "never-seen@example.org"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"received": 2, "unsubscribed": 1})
    );
    assert_eq!(
        e.status(buyer, "mojo-news").await.as_deref(),
        Some("unsubscribed")
    );
    let page: Value = e
        .get(&format!("/api/v1/partner/consents?since={next}"), &mojo)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["status"], "withdrawn");
    assert_eq!(page["items"][0]["proof"]["source"], "partner");
    // The ledger: refusal with point of sale, order and text; the chain verifies.
    let org = t.app.store.org_by_slug("venue").await.unwrap();
    let ledger = t.app.store.ledger_page(org.id, 0, 1000).await.unwrap();
    let refused = ledger.iter().find(|l| l.action == "refuse").unwrap();
    let ctx: Value = serde_json::from_str(refused.context.as_deref().unwrap()).unwrap();
    assert_eq!(ctx["point_of_sale"], "webshop");
    assert_eq!(ctx["order"], "ORD-1");
    assert!(refused
        .text_shown
        .as_deref()
        .unwrap()
        .contains("Other Promoter"));
    let report = handbill::services::consent::verify(&t.app, "venue")
        .await
        .unwrap();
    assert!(report.first_broken.is_none(), "{report:?}");
}

async fn bad_input_is_rejected_and_nothing_is_written(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    let code = |v: &Value, i: usize| {
        v["errors"][i]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // A second organisation with its own product.
    t.org("elsewhere").await;
    let other_admin = t.token("elsewhere", &["admin"], &[]).await;
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &other_admin,
            json!({"products": [{"id": "FOREIGN", "title": "Theirs"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let before = e.ledger_len().await;
    for (body, field, expect) in [
        (
            json!({"point_of_sale": "nope", "email": "a@example.org"}),
            "point_of_sale",
            "unknown_point_of_sale",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "a@example.org", "product_ids": ["EV1", "GHOST"]}),
            "product_ids",
            "unknown_product",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "a@example.org", "product_ids": ["FOREIGN"]}),
            "product_ids",
            "unknown_product",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "not-an-address"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "a@example.org", "language": "xx"}),
            "language",
            "",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "a@example.org", "order": "x".repeat(101)}),
            "order",
            "too_long",
        ),
        (
            json!({"point_of_sale": "webshop", "email": "a@example.org", "product_ids": vec!["EV1"; 1001]}),
            "product_ids",
            "too_many",
        ),
    ] {
        for path in ["/api/v1/checkout/optins", "/api/v1/checkout/widget"] {
            let res = e.send("POST", path, &e.shop, body.clone()).await;
            assert_eq!(res.status(), 422, "{path} {body}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["code"], "validation_failed");
            assert!(
                v["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|er| er["field"] == field && (expect.is_empty() || er["code"] == expect)),
                "{field}: {v}"
            );
        }
    }
    // Unknown JSON fields are refused.
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/optins",
            &e.shop,
            json!({"point_of_sale": "webshop", "email": "a@example.org", "pos": 1}),
        )
        .await;
    assert_eq!(res.status(), 422);
    // Answers may only concern opt-ins the order offers.
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/answers",
            &e.shop,
            json!({"point_of_sale": "webshop", "email": "a@example.org", "product_ids": ["EV1"],
                   "answers": [{"optin": "unrelated-news", "consent": true}, {"optin": "venue-news", "consent": true}]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert_eq!(code(&v, 0), "not_offered");
    assert_eq!(code(&v, 1), "not_offered");
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/answers",
            &e.shop,
            json!({"point_of_sale": "webshop", "email": "a@example.org", "answers": [], "ip": "nope"}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|er| er["code"] == "invalid_ip"),
        "{v}"
    );
    // A token without the checkout scope.
    let reader = t.token("venue", &["contacts:read"], &[]).await;
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/optins",
            &reader,
            json!({"point_of_sale": "webshop", "email": "a@example.org"}),
        )
        .await;
    assert_eq!(res.status(), 403);
    // Partners, points of sale and products validate every field.
    let res = e
        .send("POST", "/api/v1/partners", &e.admin,
            json!({"key": "", "kind": "band", "name": "", "privacy_url": "javascript:alert(1)", "description": {"xx": "?"}}))
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|er| er["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["key", "kind", "name", "privacy_url", "description.xx"],
        "{v}"
    );
    let res = e
        .send("POST", "/api/v1/partners", &e.admin,
            json!({"key": "mojo", "kind": "promoter", "name": "Again", "privacy_url": "https://x.example/p"}))
        .await;
    assert_eq!(res.status(), 409);
    let res = e
        .send("PUT", "/api/v1/partners/mojo", &e.admin,
            json!({"key": "renamed", "kind": "promoter", "name": "Mojo", "privacy_url": "https://x.example/p"}))
        .await;
    assert_eq!(res.status(), 422);
    let res = e
        .send("POST", "/api/v1/points-of-sale", &e.admin,
            json!({"key": "box", "name": "Box office", "partners": ["ghost"], "frame_origin": "https://x.example/path",
                   "theme": {"accent": "red;} body{display:none", "position": "fixed"}}))
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|er| er["code"].as_str().unwrap())
        .collect();
    for c in [
        "invalid_origin",
        "invalid_value",
        "unknown_variable",
        "unknown_partner",
    ] {
        assert!(codes.contains(&c), "{c}: {v}");
    }
    assert_eq!(
        e.get("/api/v1/points-of-sale/box", &e.admin).await.status(),
        404
    );
    let res = e
        .send(
            "POST",
            "/api/v1/lists",
            &e.admin,
            json!({"key": "x-news", "partner": "ghost", "name": {"en": "X"}}),
        )
        .await;
    assert_eq!(res.status(), 422);
    // A product sync with one bad row writes nothing.
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": [
                {"id": "NEW1", "title": "Fine"},
                {"id": "NEW1", "title": "Twice"},
                {"id": "NEW2", "title": "", "date": "tomorrow", "partner": "ghost"},
                {"id": "a/b", "title": "Slash"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|er| er["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "products[1].id",
            "products[2].title",
            "products[2].date",
            "products[2].partner",
            "products[3].id"
        ],
        "{v}"
    );
    assert_eq!(e.get("/api/v1/products/NEW1", &e.admin).await.status(), 404);
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": []}),
        )
        .await;
    assert_eq!(res.status(), 422);
    // A partner's token may hold partner scopes only.
    let res = handbill::services::tokens::create_token(
        &t.app,
        &handbill::services::tokens::TokenRequest {
            org_slug: "venue".into(),
            scopes: vec!["partner:read".into(), "contacts:read".into()],
            partner: Some("mojo".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(res.is_err());
    // Partner opt-outs: one bad item rejects the call.
    let mojo = e.partner_token("mojo", &["partner:write"]).await;
    let res = e
        .send("POST", "/api/v1/partner/optouts", &mojo,
            json!({"optouts": [{"email": "ok@example.org"}, {"email": "bad"}, {"email": "ok@example.org", "optin": "other-news"}]}))
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert_eq!(code(&v, 0), "invalid_email");
    assert_eq!(code(&v, 1), "unknown_optin");
    assert_eq!(
        e.ledger_len().await,
        before,
        "no rejection wrote to the ledger"
    );
    assert!(e.mails().await.is_empty());
}

async fn widget_links_expire_and_cannot_be_forged(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    let w = e.widget("late@example.org", &["EV1"], "ORD-9").await;
    let path = local(w["url"].as_str().unwrap());
    // Tampered: another widget id, or a changed signature.
    let token = path.trim_start_matches("/p/widget/").to_string();
    let (payload, mac) = token.split_once('.').unwrap();
    let mut flipped = mac.chars().collect::<Vec<_>>();
    flipped[0] = if flipped[0] == 'A' { 'B' } else { 'A' };
    let forged = [
        format!("/p/widget/{payload}.{}", flipped.iter().collect::<String>()),
        "/p/widget/garbage".to_string(),
        format!("/p/widget/{}.{mac}", payload.replace('w', "x")),
    ];
    for f in &forged {
        let res = t.client.get(t.url(f)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{f}");
        let res = e.submit(f, &[("optin", "mojo-news")]).await;
        assert_eq!(res.status(), 404, "{f}");
    }
    // Erasing a buyer makes the widgets of the buyer's orders forget the address.
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/answers",
            &e.shop,
            json!({"point_of_sale": "webshop", "email": "gone@example.org", "product_ids": ["EV2"],
                   "answers": [{"optin": "friendly-news", "consent": false}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let gone = e.widget("gone@example.org", &["EV1"], "ORD-10").await;
    let org = t.app.store.org_by_slug("venue").await.unwrap();
    let email = handbill::domain::EmailAddress::parse("gone@example.org").unwrap();
    let contact = t.app.store.contact_by_email(org.id, &email).await.unwrap();
    let res = e
        .send(
            "DELETE",
            &format!("/api/v1/contacts/{}", contact.id),
            &e.admin,
            json!({}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let before = e.ledger_len().await;
    let res = e
        .submit(
            &local(gone["url"].as_str().unwrap()),
            &[("optin", "mojo-news")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(e.ledger_len().await, before);
    assert!(t.app.store.contact_by_email(org.id, &email).await.is_err());
    // Expired after two hours: the page says so, a submission records nothing.
    t.clock.advance_ms((2 * 3600 + 1) * 1000);
    let res = t.client.get(t.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 410);
    let before = e.ledger_len().await;
    let res = e.submit(&path, &[("optin", "mojo-news")]).await;
    assert_eq!(res.status(), 410);
    assert_eq!(e.ledger_len().await, before);
    assert_eq!(e.status("late@example.org", "mojo-news").await, None);
    // The address of the expired widget is forgotten by the purge.
    assert_eq!(t.app.store.purge_widgets(t.app.now()).await.unwrap(), 1);
    assert!(e.mails().await.is_empty());
}

async fn single_opt_in_and_partner_opt_ins_off(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    // Single opt-in at the box office: a yes subscribes at once, no mail.
    let res = e
        .send("POST", "/api/v1/points-of-sale", &e.admin,
            json!({"key": "box", "name": "Box office", "partner_optins": true, "double_opt_in": false}))
        .await;
    assert_eq!(res.status(), 201);
    let res = e
        .send("POST", "/api/v1/checkout/widget", &e.shop,
            json!({"point_of_sale": "box", "email": "desk@example.org", "language": "nl", "product_ids": ["EV1", "EV3"]}))
        .await;
    let w: Value = res.json().await.unwrap();
    let names: Vec<&str> = w["optins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["Nieuws van Mojo Concerts", "Nieuws van Unrelated Partner"]
    );
    let path = local(w["url"].as_str().unwrap());
    let res = e
        .submit(
            &path,
            &[
                ("optin", "mojo-news"),
                ("optin", "unrelated-news"),
                ("optin", "venue-news"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Je keuze is opgeslagen."));
    assert_eq!(
        e.status("desk@example.org", "mojo-news").await.as_deref(),
        Some("subscribed")
    );
    assert_eq!(
        e.status("desk@example.org", "unrelated-news")
            .await
            .as_deref(),
        Some("subscribed")
    );
    // A box not shown is not consented to, whatever the form says.
    assert_eq!(e.status("desk@example.org", "venue-news").await, None);
    assert!(e.mails().await.is_empty());
    // Partner opt-ins off: nothing is offered, and no widget is made.
    let res = e
        .send(
            "PUT",
            "/api/v1/points-of-sale/box",
            &e.admin,
            json!({"name": "Box office", "partner_optins": false, "partners": ["other"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/widget",
            &e.shop,
            json!({"point_of_sale": "box", "email": "new@example.org", "product_ids": ["EV1"]}),
        )
        .await;
    let w: Value = res.json().await.unwrap();
    assert!(
        w["url"].is_null() && w["fragment"].is_null() && w["optins"].as_array().unwrap().is_empty(),
        "{w}"
    );
    // Management reads back what was set.
    let pos: Value = e
        .get("/api/v1/points-of-sale/box", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pos["partners"], json!(["other"]));
    assert_eq!(
        pos["double_opt_in"], true,
        "PUT replaces: the default is double opt-in"
    );
    let partner: Value = e
        .get("/api/v1/partners/mojo", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(partner["optins"], json!(["mojo-news"]));
    assert_eq!(partner["description"]["en"], "Mojo Concerts runs concerts");
    let list: Value = e
        .get("/api/v1/lists/mojo-news", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["partner"], "mojo");
    assert_eq!(list["default"], false);
}

async fn products_sync_ten_thousand_in_one_call(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let products: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": format!("P{i:05}"), "title": format!("Show {i}"), "partner": if i % 2 == 0 { "mojo" } else { "friendly" }}))
        .collect();
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": products}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"received": 10_000, "created": 10_000, "updated": 0})
    );
    e.t.clock.advance_ms(1000);
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": products}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"received": 10_000, "created": 0, "updated": 10_000})
    );
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"id": format!("Q{i}"), "title": "x"}))
        .collect();
    let res = e
        .send(
            "POST",
            "/api/v1/products",
            &e.admin,
            json!({"products": too_many}),
        )
        .await;
    assert_eq!(res.status(), 422);
    // Keyset paging by id, and per partner.
    let page: Value = e
        .get("/api/v1/products?after=P09997&limit=5", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["P09998", "P09999"]);
    let page: Value = e
        .get("/api/v1/products?partner=friendly&limit=2", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["id"], "EV2");
    assert_eq!(page[1]["id"], "P00001");
    let one: Value = e
        .get("/api/v1/products/EV1", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["date"], "2027-03-01T19:00:00Z");
    assert_eq!(
        e.send("DELETE", "/api/v1/products/EV1", &e.admin, json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(e.get("/api/v1/products/EV1", &e.admin).await.status(), 404);
    // With 10,000 products of two partners, an order of three offers those partners' opt-ins.
    assert_eq!(
        e.offered("x@example.org", &["P00001", "P00002", "P09999"])
            .await,
        vec!["mojo-news", "friendly-news", "other-news"]
    );
}

async fn partner_tokens_see_only_their_partner(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let mojo = e.partner_token("mojo", &["partner:read"]).await;
    // Nothing but its own consents.
    for path in [
        "/api/v1/contacts",
        "/api/v1/lists",
        "/api/v1/partners",
        "/api/v1/products",
    ] {
        assert_eq!(e.get(path, &mojo).await.status(), 403, "{path}");
    }
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/optins",
            &mojo,
            json!({"point_of_sale": "webshop", "email": "a@example.org"}),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        e.get("/api/v1/partner/consents?partner=other", &mojo)
            .await
            .status(),
        404
    );
    assert_eq!(
        e.get("/api/v1/partner/consents?partner=mojo", &mojo)
            .await
            .status(),
        200
    );
    // partner:read does not allow reporting opt-outs.
    let res = e
        .send(
            "POST",
            "/api/v1/partner/optouts",
            &mojo,
            json!({"optouts": [{"email": "a@example.org"}]}),
        )
        .await;
    assert_eq!(res.status(), 403);
    // An organisation token names the partner; without one the call is refused.
    let res = e.get("/api/v1/partner/consents", &e.admin).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        e.get("/api/v1/partner/consents?partner=other", &e.admin)
            .await
            .status(),
        200
    );
    assert_eq!(
        e.get("/api/v1/partner/consents?partner=ghost", &e.admin)
            .await
            .status(),
        404
    );
    // The token listing shows whose token it is.
    let tokens: Value = e
        .get("/api/v1/tokens", &e.admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(tokens
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["partner"] == "mojo"));
    // Rotation keeps the binding.
    let rotated = handbill::services::tokens::rotate_token(&e.t.app, &mojo)
        .await
        .unwrap();
    assert_eq!(rotated.token.partner_key.as_deref(), Some("mojo"));
    assert_eq!(
        e.get("/api/v1/contacts", &rotated.secret).await.status(),
        403
    );
}

async fn exports_write_files_with_proof(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    // Two buyers consent at the single opt-in box office.
    let res = e
        .send("POST", "/api/v1/points-of-sale", &e.admin,
            json!({"key": "box", "name": "Box office", "partner_optins": true, "double_opt_in": false}))
        .await;
    assert_eq!(res.status(), 201);
    for (i, buyer) in ["one@example.org", "two@example.org"].iter().enumerate() {
        let res = e
            .send("POST", "/api/v1/checkout/answers", &e.shop,
                json!({"point_of_sale": "box", "email": buyer, "product_ids": ["EV1"], "order": format!("B-{i}"),
                       "answers": [{"optin": "mojo-news", "consent": true}]}))
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let org = t.app.store.org_by_slug("venue").await.unwrap();
    let mojo = t.app.store.partner_by_key(org.id, "mojo").await.unwrap();
    let mut csv = Vec::new();
    let (n, _) = partner_consents::write_export(&t.app, &mojo, 0, None, Format::Csv, &mut csv)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut r = csv::Reader::from_reader(&csv[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(&header[..5], &["cursor", "status", "optin", "at", "email"]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][4], "one@example.org");
    assert_eq!(&rows[1][11], "box");
    assert_eq!(&rows[1][12], "B-1");
    let mut json_out = Vec::new();
    partner_consents::write_export(
        &t.app,
        &mojo,
        0,
        Some(t.app.now() + 1),
        Format::Json,
        &mut json_out,
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&json_out).unwrap(),
        json!([])
    );
    // A schedule writes the new entries to a folder, once per run, under a final name.
    let dir = tempfile::tempdir().unwrap();
    let s = partner_consents::schedule(&t.app, org.id, "mojo", dir.path(), Format::Json, 60)
        .await
        .unwrap();
    assert_eq!(partner_consents::run_due(&t.app).await.unwrap(), 1);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let written: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap().len(), 2);
    assert!(files[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("mojo-consents-"));
    // Not due yet; then due with nothing new: no file.
    assert_eq!(partner_consents::run_due(&t.app).await.unwrap(), 0);
    t.clock.advance_ms(3_601_000);
    assert_eq!(partner_consents::run_due(&t.app).await.unwrap(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A new consent goes in the next file only.
    let res = e
        .send(
            "POST",
            "/api/v1/checkout/answers",
            &e.shop,
            json!({"point_of_sale": "box", "email": "three@example.org", "product_ids": ["EV1"],
                   "answers": [{"optin": "mojo-news", "consent": true}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    t.clock.advance_ms(3_601_000);
    assert_eq!(partner_consents::run_due(&t.app).await.unwrap(), 1);
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let newest: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    assert_eq!(newest.as_array().unwrap().len(), 1);
    assert_eq!(newest[0]["email"], "three@example.org");
    // Bad schedules are refused.
    assert!(partner_consents::schedule(
        &t.app,
        org.id,
        "mojo",
        std::path::Path::new("relative"),
        Format::Csv,
        60
    )
    .await
    .is_err());
    assert!(
        partner_consents::schedule(&t.app, org.id, "mojo", dir.path(), Format::Csv, 1)
            .await
            .is_err()
    );
    partner_consents::unschedule(&t.app, org.id, s.id)
        .await
        .unwrap();
    assert!(partner_consents::unschedule(&t.app, org.id, s.id)
        .await
        .is_err());
}
