//! Mailings end to end through the real server and a real SMTP server: personalisation,
//! audiences across lists, segments, consent re-checked at send time, the lifecycle
//! (pause, resume, cancel, schedule, held when overdue), retries and bounces, headers,
//! one-click unsubscribe, tracking, statistics, templates, test sends and transactional mail.

mod support;

use handbill::workers::run_until_idle;
use mail_parser::MessageParser;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::smtp_sink::{Behaviour, SmtpSink};
use support::{Backend, TestApp};

both_backends!(
    personalised_mailing_with_headers_tracking_unsubscribe_and_stats,
    segments_narrow_the_audience_and_consent_is_rechecked_at_send_time,
    pause_resume_cancel_schedule_and_overdue_hold,
    temporary_failures_are_retried_and_permanent_ones_bounce,
    templates_layouts_previews_test_sends_and_transactional_mail,
    bad_mailing_input_is_rejected_and_nothing_is_written,
    two_nodes_share_one_mailing_without_sending_twice,
    relays_take_turns_and_mail_is_dkim_signed,
);

struct Env {
    t: TestApp,
    sink: SmtpSink,
    admin: String,
}

/// A server with two single opt-in lists (`news`, `jazz`) and no welcome mails.
async fn env_with(
    backend: Backend,
    tweak: impl FnOnce(&mut handbill::config::Config),
) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let t = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(url);
        tweak(c);
    })
    .await?;
    t.org("paradiso").await;
    let admin = t.token("paradiso", &["admin"], &[]).await;
    let e = Env { t, sink, admin };
    for key in ["news", "jazz"] {
        let res = e
            .post(
                "/api/v1/lists",
                json!({"key": key, "name": {"en": key}, "double_opt_in": false, "send_welcome": false}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    Some(e)
}

async fn env(backend: Backend) -> Option<Env> {
    env_with(backend, |_| {}).await
}

struct Mail {
    from: String,
    to: String,
    subject: String,
    text: String,
    html: String,
    raw: String,
}

impl Env {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.t
            .client
            .post(self.t.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let res = self
            .t
            .client
            .get(self.t.url(path))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// Subscribes an address (asserted consent on single opt-in lists).
    async fn subscribe(&self, email: &str, lists: &[&str], fields: Value) {
        let res = self
            .post(
                "/api/v1/optins/register",
                json!({"email": email, "optins": lists, "consent": "asserted", "fields": fields}),
            )
            .await;
        assert_eq!(res.status(), 202, "subscribe {email}");
    }

    async fn mailing(&self, body: Value) -> i64 {
        let res = self.post("/api/v1/mailings", body).await;
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["status"], "draft");
        v["id"].as_i64().unwrap()
    }

    async fn act(&self, id: i64, action: &str) -> reqwest::Response {
        self.post(&format!("/api/v1/mailings/{id}/{action}"), json!({}))
            .await
    }

    /// Runs the workers, then returns every message received so far, parsed.
    async fn mails(&self) -> Vec<Mail> {
        run_until_idle(&self.t.app).await.unwrap();
        self.sink
            .received()
            .iter()
            .map(|r| {
                let m = MessageParser::default().parse(&r.data).unwrap();
                Mail {
                    from: r.mail_from.clone(),
                    to: r.rcpt_to.join(","),
                    subject: m.subject().unwrap_or_default().to_string(),
                    text: m.body_text(0).unwrap_or_default().to_string(),
                    html: m.body_html(0).unwrap_or_default().to_string(),
                    raw: String::from_utf8_lossy(&r.data).to_string(),
                }
            })
            .collect()
    }

    async fn status(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/mailings/{id}")).await
    }
}

fn recipients(mails: &[Mail]) -> Vec<String> {
    let mut v: Vec<String> = mails.iter().map(|m| m.to.clone()).collect();
    v.sort();
    v
}

/// The local path of the first URL starting with `prefix` in `text` (entities decoded).
fn link(text: &str, prefix: &str) -> String {
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

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

async fn blacklist(e: &Env, org_id: i64, email: &str) {
    let email = handbill::domain::EmailAddress::parse(email).unwrap();
    handbill::services::consent::blacklist_add(&e.t.app, org_id, &email, &Default::default())
        .await
        .unwrap();
}

/// The smallest valid mailing to the `news` list.
fn plain_mailing() -> Value {
    json!({"name": "m", "subject": "s", "from_email": "news@paradiso.test", "html": "<p>x</p>", "lists": ["news"]})
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36";

async fn personalised_mailing_with_headers_tracking_unsubscribe_and_stats(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.subscribe(
        "ann@example.nl",
        &["news"],
        json!({"first_name": "Ann", "attributes": {"seat": "A1"}}),
    )
    .await;
    e.subscribe(
        "bob@example.nl",
        &["news", "jazz"],
        json!({"first_name": "Bob"}),
    )
    .await;
    e.subscribe("cat@example.nl", &["jazz"], json!({"first_name": "<Cat>"}))
        .await;
    e.subscribe("eve@example.nl", &["news"], json!({})).await;
    let res = e
        .post(
            "/api/v1/optins/register",
            json!({"email": "dan@example.nl", "optins": ["news"]}),
        )
        .await;
    assert_eq!(
        res.status(),
        202,
        "dan stays pending: consent asked, not given"
    );
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    blacklist(&e, org.id, "eve@example.nl").await;
    let before = e.mails().await.len();

    let id = e
        .mailing(json!({
            "name": "March concerts", "subject": "Hi {{ contact.first_name }}, new concerts",
            "from_name": "Paradiso", "from_email": "news@paradiso.test",
            "html": "<html><body><p>Hallo {{ contact.first_name }} ({{ contact.attributes.seat | default('-') }})</p>\
                     <p><a href=\"https://venue.test/tickets?x=1&amp;y=2\">Tickets</a></p></body></html>",
            "lists": ["news", "jazz"]
        }))
        .await;
    let res = e.act(id, "send").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "sending");

    let mails: Vec<Mail> = e.mails().await.into_iter().skip(before).collect();
    assert_eq!(
        recipients(&mails),
        vec!["ann@example.nl", "bob@example.nl", "cat@example.nl"],
        "each subscriber once (bob is on both lists); pending and blacklisted get nothing"
    );
    let ann = mails.iter().find(|m| m.to == "ann@example.nl").unwrap();
    let bob = mails.iter().find(|m| m.to == "bob@example.nl").unwrap();
    let cat = mails.iter().find(|m| m.to == "cat@example.nl").unwrap();
    assert_eq!(ann.subject, "Hi Ann, new concerts");
    assert!(ann.html.contains("Hallo Ann (A1)"), "{}", ann.html);
    assert!(
        cat.html.contains("Hallo &lt;Cat&gt;"),
        "HTML is escaped: {}",
        cat.html
    );
    assert!(
        ann.text.contains("Hallo Ann (A1)"),
        "text part derived from the HTML"
    );
    assert!(
        ann.html.replace("&#x2f;", "/").contains("/p/unsubscribe/"),
        "the default footer is added"
    );
    assert!(
        ann.from.starts_with("bounces+") && ann.from.ends_with("@mail.venue.test"),
        "VERP: {}",
        ann.from
    );
    let lu = header(&ann.raw, "List-Unsubscribe").unwrap();
    assert!(
        lu.starts_with("<https://mail.venue.test/p/unsubscribe/"),
        "{lu}"
    );
    assert_eq!(
        header(&ann.raw, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        header(&ann.raw, "List-Id"),
        Some("<news.paradiso.mail.venue.test>")
    );
    assert!(header(&ann.raw, "Feedback-ID")
        .unwrap()
        .starts_with(&format!("m{id}:paradiso")));
    assert!(header(&ann.raw, "Message-ID").is_some());
    assert!(ann.raw.lines().all(|l| l.len() <= 998));
    assert!(
        !ann.html.contains("https://venue.test/tickets"),
        "links go through the click redirect"
    );

    let m = e.status(id).await;
    assert_eq!(m["status"], "sent");
    assert_eq!(m["counts"]["sent"], 3);
    let log = e.get(&format!("/api/v1/mailings/{id}/deliveries")).await;
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert!(log[0]["smtp_response"].as_str().unwrap().starts_with("250"));
    assert!(log[0]["message_id"].as_str().unwrap().contains('@'));

    // Tracking: a person opens and clicks a minute later; a scanner clicks too.
    e.t.clock.advance_ms(60_000);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let click = link(&bob.html, "/t/c/");
    let res = plain
        .get(e.t.url(&click))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "https://venue.test/tickets?x=1&y=2"
    );
    plain
        .get(e.t.url(&click))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    plain
        .get(e.t.url(&click))
        .header("user-agent", "python-requests/2.31")
        .send()
        .await
        .unwrap();
    let open = link(&bob.html, "/t/o/");
    let res = plain
        .get(e.t.url(&open))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/gif");
    let (base, _) = click.rsplit_once('/').unwrap();
    let res = plain
        .get(e.t.url(&format!("{base}/99")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "only the mailing's own links");
    let forged = click.replacen("/t/c/", "/t/c/x", 1);
    let res = plain.get(e.t.url(&forged)).send().await.unwrap();
    assert_eq!(res.status(), 404, "no open redirect for a forged link");
    let res = plain.get(e.t.url("/t/o/garbage")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the pixel reveals nothing");
    let view = link(&bob.html, "/t/v/");
    let html = plain
        .get(e.t.url(&view))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Hallo Bob"));

    // One-click unsubscribe from the header URL (RFC 8058).
    let lu = header(&ann.raw, "List-Unsubscribe").unwrap();
    let url = lu.trim_start_matches('<').split('>').next().unwrap();
    let res = plain
        .post(url.replace("https://mail.venue.test", &e.t.url("")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let c = e.get("/api/v1/contacts?email=ann@example.nl").await;
    assert_eq!(c["subscriptions"][0]["status"], "unsubscribed", "{c}");

    let s = e.get(&format!("/api/v1/mailings/{id}/stats")).await;
    assert_eq!(s["recipients"], 3);
    assert_eq!(s["sent"], 3);
    assert_eq!(s["unique_opens"], 1);
    assert_eq!(s["clicks"], 2);
    assert_eq!(s["unique_clicks"], 1);
    assert_eq!(s["scanner_clicks"], 1, "{s}");
    assert_eq!(s["unsubscribes"], 1);
    assert_eq!(s["links"][0]["url"], "https://venue.test/tickets?x=1&y=2");
    assert_eq!(s["links"][0]["unique_clicks"], 1);
    assert!(
        s["hourly"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["sent"] == 3),
        "{s}"
    );

    let ann_id = c["id"].as_i64().unwrap();
    let d = e
        .get(&format!("/api/v1/contacts/{ann_id}/deliveries"))
        .await;
    assert_eq!(d[0]["mailing_id"], id);
    assert_eq!(d[0]["status"], "sent");
}

async fn segments_narrow_the_audience_and_consent_is_rechecked_at_send_time(backend: Backend) {
    let Some(e) = env_with(backend, |c| c.mail_batch_size = 1).await else {
        return;
    };
    for (who, lang, score, tags) in [
        ("a", "en", 5, vec!["vip"]),
        ("b", "en", 20, vec![]),
        ("c", "nl", 30, vec!["vip"]),
        ("d", "en", 40, vec!["vip"]),
        ("e", "en", 50, vec!["vip"]),
    ] {
        e.subscribe(
            &format!("{who}@example.nl"),
            &["news"],
            json!({"language": lang, "score": score, "tags": tags}),
        )
        .await;
    }
    let segment = json!({"and": [
        {"field": "language", "op": "eq", "value": "EN"},
        {"or": [{"field": "tag", "op": "has", "value": "vip"}, {"field": "score", "op": "gte", "value": 20}]},
        {"not": {"field": "email", "op": "starts_with", "value": "a@"}}
    ]});
    let res = e
        .post(
            "/api/v1/segments/preview",
            json!({"lists": ["news"], "segment": segment, "sample": 2}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["count"], 3, "{p}");
    assert_eq!(p["sample"].as_array().unwrap().len(), 2);
    assert_eq!(p["sample"][0]["email"], "b@example.nl");
    let res = e
        .post(
            "/api/v1/segments/preview",
            json!({"lists": ["news"], "segment": {"field": "shoe_size", "op": "eq", "value": 1}}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["errors"][0]["code"], "unknown_field");

    let id = e
        .mailing(
            json!({"name": "EN", "subject": "Hello", "from_email": "news@paradiso.test",
                        "html": "<p>Hi</p>", "lists": ["news"], "segment": segment}),
        )
        .await;
    assert_eq!(e.act(id, "send").await.status(), 200);
    let before = e.sink.received().len();
    // One batch of one message goes out; then d unsubscribes and e is blacklisted mid-mailing.
    let node = e.t.app.config.node_name();
    handbill::services::delivery::Sender::new(&node)
        .with_round_limit(1)
        .tick(&e.t.app)
        .await
        .unwrap();
    assert_eq!(e.sink.received().len(), before + 1);
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let d = e.get("/api/v1/contacts?email=d@example.nl").await;
    let d_id = d["id"].as_i64().unwrap();
    let news = e.t.app.store.list_by_key(org.id, "news").await.unwrap();
    e.t.app
        .store
        .change_subscription(
            org.id,
            d_id,
            news.id,
            "d@example.nl",
            handbill::domain::ConsentAction::Unsubscribe,
            &handbill::domain::ledger::Evidence::default(),
            e.t.app.now(),
        )
        .await
        .unwrap();
    blacklist(&e, org.id, "e@example.nl").await;
    let mails: Vec<Mail> = e.mails().await.into_iter().skip(before).collect();
    assert_eq!(
        recipients(&mails),
        vec!["b@example.nl"],
        "d and e were no longer allowed at their turn"
    );
    let m = e.status(id).await;
    assert_eq!(m["status"], "sent");
    assert_eq!(m["counts"]["sent"], 1);
    assert_eq!(m["counts"]["skipped"], 2, "{m}");
}

async fn pause_resume_cancel_schedule_and_overdue_hold(backend: Backend) {
    let Some(e) = env_with(backend, |c| c.mail_batch_size = 1).await else {
        return;
    };
    for who in ["a", "b", "c"] {
        e.subscribe(&format!("{who}@example.nl"), &["news"], json!({}))
            .await;
    }
    let body = |name: &str| json!({"name": name, "subject": name, "from_email": "news@paradiso.test", "html": "<p>x</p>", "lists": ["news"]});
    // Pause before the workers run: nothing leaves until resumed.
    let id = e.mailing(body("paused")).await;
    assert_eq!(
        e.act(id, "pause").await.status(),
        409,
        "a draft cannot be paused"
    );
    e.act(id, "send").await;
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let now = e.t.app.now();
    let store = &e.t.app.store;
    store
        .plan_deliveries(org.id, id, None, 100, now)
        .await
        .unwrap();
    assert_eq!(
        e.act(id, "pause").await.json::<Value>().await.unwrap()["status"],
        "paused"
    );
    assert_eq!(e.status(id).await["counts"]["queued"], 3);
    assert_eq!(e.mails().await.len(), 0);
    // A node in the middle of a round claims nothing more of it either.
    let claimed = store
        .claim_deliveries(org.id, id, "node#round", 10, now + 60_000, now)
        .await
        .unwrap();
    assert!(
        claimed.is_empty(),
        "a paused mailing's messages were claimed"
    );
    assert_eq!(
        e.act(id, "resume").await.json::<Value>().await.unwrap()["status"],
        "sending"
    );
    assert_eq!(e.mails().await.len(), 3);
    assert_eq!(e.status(id).await["status"], "sent");
    assert_eq!(
        e.act(id, "cancel").await.status(),
        409,
        "a sent mailing cannot be cancelled"
    );

    // Cancel mid-way: what was not sent is not sent.
    let id = e.mailing(body("cancelled")).await;
    e.act(id, "send").await;
    let node = e.t.app.config.node_name();
    handbill::services::delivery::Sender::new(&node)
        .with_round_limit(1)
        .tick(&e.t.app)
        .await
        .unwrap();
    assert_eq!(
        e.act(id, "cancel").await.json::<Value>().await.unwrap()["status"],
        "cancelled"
    );
    assert_eq!(e.mails().await.len(), 4);
    let m = e.status(id).await;
    assert_eq!(
        (
            m["counts"]["sent"].as_i64(),
            m["counts"]["cancelled"].as_i64()
        ),
        (Some(1), Some(2))
    );

    // Scheduled: nothing before its time, everything after.
    let id = e.mailing(body("scheduled")).await;
    let at = handbill::clock::rfc3339(e.t.app.now() + 3_600_000);
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/schedule"),
            json!({"at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/schedule"),
            json!({"at": at}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "scheduled");
    assert_eq!(e.mails().await.len(), 4);
    e.t.clock.advance_ms(3_600_000 + 1_000);
    assert_eq!(e.mails().await.len(), 7);
    assert_eq!(e.status(id).await["status"], "sent");

    // Overdue by more than the grace period (the server was down): held for a person.
    let id = e.mailing(body("overdue")).await;
    let at = handbill::clock::rfc3339(e.t.app.now() + 60_000);
    e.post(
        &format!("/api/v1/mailings/{id}/schedule"),
        json!({"at": at}),
    )
    .await;
    e.t.clock.advance_ms(60_000 + 16 * 60_000);
    assert_eq!(e.mails().await.len(), 7);
    let m = e.status(id).await;
    assert_eq!(
        (m["status"].as_str(), m["held"].as_bool()),
        (Some("scheduled"), Some(true))
    );
    assert_eq!(e.act(id, "send").await.status(), 200);
    assert_eq!(e.mails().await.len(), 10);
}

async fn temporary_failures_are_retried_and_permanent_ones_bounce(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.subscribe("ok@example.nl", &["news"], json!({})).await;
    e.subscribe("gone@example.nl", &["news"], json!({})).await;
    let body = plain_mailing();
    e.sink.set_behaviour(Behaviour::RejectRcpt(450));
    let id = e.mailing(body.clone()).await;
    e.act(id, "send").await;
    assert_eq!(e.mails().await.len(), 0);
    let m = e.status(id).await;
    assert_eq!(
        (m["status"].as_str(), m["counts"]["queued"].as_i64()),
        (Some("sending"), Some(2)),
        "{m}"
    );
    e.sink.set_behaviour(Behaviour::Accept);
    e.t.clock.advance_ms(61_000);
    assert_eq!(e.mails().await.len(), 2, "retried after the backoff");
    let log = e.get(&format!("/api/v1/mailings/{id}/deliveries")).await;
    assert_eq!(log[0]["attempts"], 2);

    e.sink
        .set_behaviour(Behaviour::RejectRcptTo("gone@example.nl".into(), 550));
    let id = e.mailing(body).await;
    e.act(id, "send").await;
    assert_eq!(e.mails().await.len(), 3);
    let m = e.status(id).await;
    assert_eq!(
        (
            m["counts"]["sent"].as_i64(),
            m["counts"]["bounced"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let s = e.get(&format!("/api/v1/mailings/{id}/stats")).await;
    assert_eq!(s["hard_bounces"], 1);
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let sup =
        e.t.app
            .store
            .suppressions(org.id, "gone@example.nl")
            .await
            .unwrap();
    assert_eq!(
        sup,
        vec![handbill::domain::SuppressionReason::HardBounce],
        "a hard bounce suppresses the address"
    );
}

async fn templates_layouts_previews_test_sends_and_transactional_mail(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.subscribe("fan@example.nl", &["news"], json!({"first_name": "Fan"}))
        .await;
    let res = e
        .post("/api/v1/templates", json!({"key": "brand", "kind": "layout", "name": "Brand", "html": "<div class=\"brand\">no slot</div>"}))
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errors"][0]["code"],
        "layout_slot_missing"
    );
    let res = e
        .post("/api/v1/templates", json!({"key": "brand", "kind": "layout", "name": "Brand", "html": "<div class=\"brand\">{{ content }}</div>"}))
        .await;
    assert_eq!(res.status(), 201);
    let res = e
        .post(
            "/api/v1/templates",
            json!({"key": "brand", "kind": "layout", "name": "Again", "html": "{{ content }}"}),
        )
        .await;
    assert_eq!(res.status(), 409);
    let id = e
        .mailing(json!({"name": "m", "subject": "Hi {{ contact.first_name }}", "from_email": "news@paradiso.test",
                        "html": "<p>Dear {{ contact.first_name }}</p>", "lists": ["news"], "layout": "brand"}))
        .await;
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/preview"),
            json!({"email": "fan@example.nl"}),
        )
        .await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["subject"], "Hi Fan");
    assert!(
        p["html"]
            .as_str()
            .unwrap()
            .contains("<div class=\"brand\"><p>Dear Fan</p>"),
        "{p}"
    );
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/test"),
            json!({"to": ["editor@paradiso.test"]}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "[TEST] Hi Alex");
    assert_eq!(header(&mails[0].raw, "X-Handbill-Test"), Some("yes"));
    assert_eq!(
        e.status(id).await["counts"]["sent"],
        0,
        "test sends are not counted"
    );
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/test"),
            json!({"to": ["not an address"]}),
        )
        .await;
    assert_eq!(res.status(), 422);

    // Transactional mail: outside the consent rules, recorded in the delivery log.
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    handbill::services::orgs::set_sender(
        &e.t.app,
        "paradiso",
        "tickets@paradiso.test",
        Some("Paradiso"),
    )
    .await
    .unwrap();
    let res = e
        .post("/api/v1/templates", json!({"key": "order", "kind": "transactional", "name": "Order",
               "subject": "Order {{ data.number }}", "html": "<p>Thanks {{ data.name }}, order {{ data.number }}</p>"}))
        .await;
    assert_eq!(res.status(), 201);
    let res = e
        .post("/api/v1/tx", json!({"template": "order", "to": "buyer@example.nl", "data": {"number": "A-17", "name": "<Bo>"}}))
        .await;
    assert_eq!(res.status(), 202);
    let delivery = res.json::<Value>().await.unwrap()["delivery_id"]
        .as_i64()
        .unwrap();
    let mails = e.mails().await;
    let tx = mails
        .iter()
        .find(|m| m.to == "buyer@example.nl")
        .expect("tx mail");
    assert_eq!(tx.subject, "Order A-17");
    assert!(tx.html.contains("Thanks &lt;Bo&gt;"));
    assert!(header(&tx.raw, "List-Unsubscribe").is_none());
    let d = e.t.app.store.delivery(org.id, delivery).await.unwrap();
    assert_eq!(d.status, "sent");
    for (body, code) in [
        (
            json!({"template": "nope", "to": "buyer@example.nl"}),
            "unknown_template",
        ),
        (
            json!({"template": "brand", "to": "buyer@example.nl"}),
            "unknown_template",
        ),
        (json!({"template": "order", "to": "nope"}), "invalid_email"),
    ] {
        let res = e.post("/api/v1/tx", body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        let v: Value = res.json().await.unwrap();
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["code"] == code),
            "{v}"
        );
    }
    let writer = e.t.token("paradiso", &["mailings:write"], &[]).await;
    let res =
        e.t.client
            .post(e.t.url("/api/v1/tx"))
            .bearer_auth(writer)
            .json(&json!({"template": "order", "to": "buyer@example.nl"}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 403, "transactional mail needs tx:send");
}

async fn bad_mailing_input_is_rejected_and_nothing_is_written(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let good = plain_mailing();
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field, code) in [
        (
            with("html", json!("<p>{{ contact.first_name </p>")),
            "html",
            "template_syntax",
        ),
        (
            with("subject", json!("{% if x %}")),
            "subject",
            "template_syntax",
        ),
        (with("lists", json!(["nope"])), "lists[0]", "unknown_list"),
        (
            with(
                "lists",
                json!((0..51).map(|i| format!("l{i}")).collect::<Vec<_>>()),
            ),
            "lists",
            "invalid_lists",
        ),
        (
            with("description", json!("x".repeat(501))),
            "description",
            "too_long",
        ),
        (
            with("from_email", json!("not-an-address")),
            "from_email",
            "invalid_email",
        ),
        (with("name", json!("x".repeat(201))), "name", "too_long"),
        (with("html", json!("")), "html", "required"),
        (
            with("segment", json!({"field": "city", "op": "gt", "value": 1})),
            "segment.op",
            "invalid_op",
        ),
        (with("layout", json!("nope")), "layout", "unknown_layout"),
    ] {
        let res = e.post("/api/v1/mailings", body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        let v: Value = res.json().await.unwrap();
        let err = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["field"] == field)
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(err["code"], code, "{v}");
        if code == "template_syntax" {
            assert!(
                err["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("line 1, column "),
                "{v}"
            );
        }
    }
    assert_eq!(
        e.get("/api/v1/mailings").await.as_array().unwrap().len(),
        0,
        "nothing was written"
    );
    // A draft without an audience is kept, but neither sent nor scheduled.
    let id = e.mailing(with("lists", json!([]))).await;
    let res = e.act(id, "send").await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "no_lists", "{v}");
    let res = e
        .post(
            &format!("/api/v1/mailings/{id}/schedule"),
            json!({"at": "2099-01-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(e.status(id).await["status"], "draft");
    e.act(id, "cancel").await;
    let mut no_from = good.clone();
    no_from.as_object_mut().unwrap().remove("from_email");
    let res = e.post("/api/v1/mailings", no_from).await;
    assert_eq!(res.status(), 422, "no sender address anywhere");
    let res = e
        .post("/api/v1/mailings", json!({"name": "m", "oops": 1}))
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        e.get("/api/v1/mailings").await.as_array().unwrap().len(),
        1,
        "nothing was written but the list-less draft"
    );
    let res =
        e.t.client
            .get(e.t.url("/api/v1/mailings/999"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 404);
    let reader = e.t.token("paradiso", &["mailings:read"], &[]).await;
    let res =
        e.t.client
            .post(e.t.url("/api/v1/mailings"))
            .bearer_auth(reader)
            .json(&good)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 403);
    // A sent mailing cannot be edited.
    let id = e.mailing(good.clone()).await;
    e.act(id, "send").await;
    let res =
        e.t.client
            .put(e.t.url(&format!("/api/v1/mailings/{id}")))
            .bearer_auth(&e.admin)
            .json(&good)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 409);
}

async fn two_nodes_share_one_mailing_without_sending_twice(backend: Backend) {
    let Some(e) = env_with(backend, |c| c.mail_batch_size = 7).await else {
        return;
    };
    for i in 0..60 {
        e.subscribe(&format!("fan{i}@example.nl"), &["news"], json!({}))
            .await;
    }
    let id = e.mailing(plain_mailing()).await;
    e.act(id, "send").await;
    let mut other = (*e.t.app.config).clone();
    other.node_name = Some("second-node".into());
    let second = handbill::app::App::open_with_clock(other, e.t.clock.clone())
        .await
        .unwrap();
    let (a, b) = tokio::join!(run_until_idle(&e.t.app), run_until_idle(&second));
    a.unwrap();
    b.unwrap();
    let mails = e.mails().await;
    let mut to = recipients(&mails);
    to.dedup();
    assert_eq!(to.len(), 60);
    assert_eq!(mails.len(), 60, "nobody got the mailing twice");
    assert_eq!(e.status(id).await["status"], "sent");
}

async fn relays_take_turns_and_mail_is_dkim_signed(backend: Backend) {
    use base64::Engine;
    let second = SmtpSink::start().await;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("dkim.pem");
    std::fs::write(
        &key,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        ),
    )
    .unwrap();
    let url = second.url();
    let Some(e) = env_with(backend, |c| {
        c.smtp_relays = vec![handbill::config::RelayConfig {
            url,
            pool_size: Some(2),
            rate_per_second: Some(1000),
        }];
        c.dkim_domain = Some("paradiso.test".into());
        c.dkim_key_file = Some(key);
    })
    .await
    else {
        return;
    };
    for i in 0..10 {
        e.subscribe(&format!("fan{i}@example.nl"), &["news"], json!({}))
            .await;
    }
    let id = e.mailing(plain_mailing()).await;
    e.act(id, "send").await;
    let first = e.mails().await;
    let other = second.received();
    assert_eq!(first.len() + other.len(), 10);
    assert!(
        !first.is_empty() && !other.is_empty(),
        "both relays carried mail"
    );
    let dkim = header(&first[0].raw, "DKIM-Signature").expect("signed");
    assert!(
        dkim.contains("d=paradiso.test") && dkim.contains("a=ed25519-sha256"),
        "{dkim}"
    );
}
