//! The opt-in flow of the Stager row end to end, through the real server and a real SMTP
//! server: register, verification mail, scanner-safe confirmation page, welcome mail,
//! one-click unsubscribe, preferences, rate limits, rejections, expiry and purge.

mod support;

use handbill::services::tokens;
use handbill::workers::run_until_idle;
use mail_parser::MessageParser;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::smtp_sink::SmtpSink;
use support::{Backend, TestApp};

both_backends!(
    the_whole_flow,
    answers_reveal_nothing_and_subscribed_stays_subscribed,
    bad_input_is_rejected_and_nothing_is_written,
    single_opt_in_needs_the_assert_scope_and_a_single_opt_in_list,
    one_mail_per_address_per_interval_and_token_rate_limit,
    rotation_makes_the_old_token_fail_on_the_stager_path,
    expired_links_offer_a_new_mail_and_are_purged,
    preferences_page_ticks_and_unticks,
    lists_api_and_template_overrides,
    blacklisted_addresses_get_no_mail,
    concurrent_registrations_are_each_applied_once,
);

struct Env {
    t: TestApp,
    sink: SmtpSink,
    admin: String,
    optin: String,
}

async fn env(backend: Backend) -> Option<Env> {
    env_with(backend, |_| {}).await
}

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
    let optin = t.token("paradiso", &["optin:register"], &[]).await;
    let e = Env {
        t,
        sink,
        admin,
        optin,
    };
    let res = e
        .post_json(
            "/api/v1/lists",
            json!({"key": "news", "name": {"nl": "Nieuwsbrief", "en": "Newsletter"},
                   "optin_text": {"nl": "Ja, stuur mij de nieuwsbrief", "en": "Yes, send me the newsletter"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    Some(e)
}

impl Env {
    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.t
            .client
            .post(self.t.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn stager(&self, query: &str) -> reqwest::Response {
        self.t
            .client
            .post(
                self.t
                    .url(&format!("/api/ticketshop/optin/register?{query}")),
            )
            .send()
            .await
            .unwrap()
    }

    async fn register(&self, email: &str) -> reqwest::Response {
        self.stager(&format!(
            "token={}&email={}",
            self.optin,
            email.replace('@', "%40")
        ))
        .await
    }

    async fn status(&self, email: &str, list: &str) -> Option<String> {
        let org = self.t.app.store.org_by_slug("paradiso").await.unwrap();
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

    /// Runs the workers and returns the messages the SMTP server received so far, parsed.
    async fn mails(&self) -> Vec<(Vec<String>, String, String, Option<String>)> {
        run_until_idle(&self.t.app).await.unwrap();
        self.sink
            .received()
            .iter()
            .map(|r| {
                let m = MessageParser::default().parse(&r.data).unwrap();
                (
                    r.rcpt_to.clone(),
                    m.subject().unwrap_or_default().to_string(),
                    m.body_text(0).unwrap_or_default().to_string(),
                    m.header_raw("List-Unsubscribe")
                        .map(|s| s.trim().to_string()),
                )
            })
            .collect()
    }

    /// The local path of the first link starting with `prefix` in a text.
    fn link(&self, text: &str, prefix: &str) -> String {
        let start = text
            .find(&format!("https://mail.venue.test{prefix}"))
            .expect("link in mail");
        let url: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>')
            .collect();
        url.trim_start_matches("https://mail.venue.test")
            .to_string()
    }
}

async fn the_whole_flow(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    // 1. The website backend registers an address exactly as the Stager seed shows.
    let res = e.register("dansfreak@subcultuur.nl").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(
        e.status("dansfreak@subcultuur.nl", "news").await.as_deref(),
        Some("pending")
    );
    // 2. The verification mail arrives over SMTP.
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    let (to, subject, text, unsub) = &mails[0];
    assert_eq!(to, &vec!["dansfreak@subcultuur.nl".to_string()]);
    assert!(subject.contains("Test Venue"), "{subject}");
    assert!(
        unsub.is_none(),
        "the verification mail carries no unsubscribe link"
    );
    assert!(!text.contains("/p/unsubscribe/") && !text.contains("/p/preferences/"));
    let confirm = e.link(text, "/p/confirm/");
    // 3. A GET (a mail scanner, or the person) shows the page and confirms nothing.
    for _ in 0..2 {
        let page = t.client.get(t.url(&confirm)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Bevestig je aanmelding")
                && html.contains("Ja, stuur mij de nieuwsbrief"),
            "{html}"
        );
        assert!(html.contains("<form method=\"post\""));
    }
    assert_eq!(
        e.status("dansfreak@subcultuur.nl", "news").await.as_deref(),
        Some("pending")
    );
    // 4. Only the POST from the page confirms.
    let res = t
        .client
        .post(t.url(&confirm))
        .header("user-agent", "Firefox/Test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Aanmelding bevestigd"));
    assert_eq!(
        e.status("dansfreak@subcultuur.nl", "news").await.as_deref(),
        Some("subscribed")
    );
    // A second POST changes nothing.
    assert_eq!(
        t.client
            .post(t.url(&confirm))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // 5. The welcome mail, with one-click unsubscribe.
    let mails = e.mails().await;
    assert_eq!(mails.len(), 2);
    let (_, subject, text, unsub) = &mails[1];
    assert!(subject.contains("Nieuwsbrief"), "{subject}");
    let header = unsub.as_ref().expect("List-Unsubscribe header");
    let unsubscribe = header
        .trim_start_matches("<https://mail.venue.test")
        .trim_end_matches('>')
        .to_string();
    assert!(text.contains("/p/preferences/"));
    let raw = String::from_utf8(e.sink.received()[1].data.clone()).unwrap();
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    // 6. A GET of the unsubscribe link changes nothing; the one-click POST unsubscribes.
    assert_eq!(
        t.client
            .get(t.url(&unsubscribe))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        e.status("dansfreak@subcultuur.nl", "news").await.as_deref(),
        Some("subscribed")
    );
    let res = t
        .client
        .post(t.url(&unsubscribe))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        e.status("dansfreak@subcultuur.nl", "news").await.as_deref(),
        Some("unsubscribed")
    );
    // 7. The ledger shows every step, with evidence, and the chain verifies.
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    let email = handbill::domain::EmailAddress::parse("dansfreak@subcultuur.nl").unwrap();
    let c = t.app.store.contact_by_email(org.id, &email).await.unwrap();
    let ledger = t.app.store.ledger_for_contact(org.id, c.id).await.unwrap();
    let steps: Vec<(&str, &str)> = ledger
        .iter()
        .map(|l| (l.action.as_str(), l.source.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("subscribe", "stager"),
            ("confirm", "public_page"),
            ("unsubscribe", "one_click")
        ]
    );
    assert_eq!(ledger[1].user_agent.as_deref(), Some("Firefox/Test"));
    assert_eq!(ledger[1].ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        ledger[1].text_shown.as_deref(),
        Some("Ja, stuur mij de nieuwsbrief")
    );
    assert_eq!(
        ledger[0].actor,
        format!(
            "token:{}",
            tokens::find_token(&t.app, &e.optin).await.unwrap().id
        )
    );
    let report = handbill::services::consent::verify(&t.app, "paradiso")
        .await
        .unwrap();
    assert_eq!((report.entries, report.first_broken), (3, None));
}

async fn answers_reveal_nothing_and_subscribed_stays_subscribed(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let new = e.register("a@example.nl").await;
    let (s1, b1) = (new.status(), new.text().await.unwrap());
    let pending = e.register("a@example.nl").await;
    let (s2, b2) = (pending.status(), pending.text().await.unwrap());
    let confirm = e.link(&e.mails().await[0].2, "/p/confirm/");
    e.t.client.post(e.t.url(&confirm)).send().await.unwrap();
    let subscribed = e.register("a@example.nl").await;
    let (s3, b3) = (subscribed.status(), subscribed.text().await.unwrap());
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!((s1, &b1), (s3, &b3));
    assert_eq!(
        e.status("a@example.nl", "news").await.as_deref(),
        Some("subscribed"),
        "never back to pending"
    );
    // The native API answers the same way.
    let native = |email: &str| json!({"email": email});
    let tok = &e.optin;
    let r1 =
        e.t.client
            .post(e.t.url("/api/v1/optins/register"))
            .bearer_auth(tok)
            .json(&native("b@example.nl"))
            .send()
            .await
            .unwrap();
    let r2 =
        e.t.client
            .post(e.t.url("/api/v1/optins/register"))
            .bearer_auth(tok)
            .json(&native("a@example.nl"))
            .send()
            .await
            .unwrap();
    assert_eq!(r1.status(), 202);
    assert_eq!(r1.text().await.unwrap(), r2.text().await.unwrap());
    let mails = e.mails().await;
    assert_eq!(
        mails.len(),
        3,
        "verification a, welcome a, verification b; nothing for a subscribed address"
    );
}

async fn bad_input_is_rejected_and_nothing_is_written(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let reader = e.t.token("paradiso", &["contacts:read"], &[]).await;
    let long = format!("{}@example.nl", "a".repeat(250));
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("email=x%40example.nl".into(), 401, "unauthorized", ""),
        (
            "token=hb_opt_wrong&email=x%40example.nl".into(),
            401,
            "unauthorized",
            "",
        ),
        (
            format!("token={reader}&email=x%40example.nl"),
            403,
            "forbidden",
            "",
        ),
        (
            format!("token={}", e.optin),
            422,
            "validation_failed",
            "email",
        ),
        (
            format!("token={}&email=not-an-address", e.optin),
            422,
            "validation_failed",
            "email",
        ),
        (
            format!("token={}&email={long}", e.optin),
            422,
            "validation_failed",
            "email",
        ),
        (
            format!("token={}&email=x%40example.nl&optin=nope", e.optin),
            422,
            "validation_failed",
            "optins",
        ),
        (
            format!("token={}&email=x%40example.nl&lang=xx", e.optin),
            422,
            "validation_failed",
            "language",
        ),
        (
            format!(
                "token={}&email=x%40example.nl&first_name={}",
                e.optin,
                "z".repeat(81)
            ),
            422,
            "validation_failed",
            "first_name",
        ),
    ];
    for (query, status, code, field) in cases {
        let res = e.stager(&query).await;
        assert_eq!(res.status().as_u16(), status, "{query}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], code, "{query}");
        if !field.is_empty() {
            assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        }
    }
    // The native endpoint rejects the same way, plus unknown fields.
    let post = |body: Value| {
        e.t.client
            .post(e.t.url("/api/v1/optins/register"))
            .bearer_auth(&e.optin)
            .json(&body)
            .send()
    };
    for (body, code) in [
        (json!({"email": "bad"}), "validation_failed"),
        (
            json!({"email": "x@example.nl", "optins": ["nope"]}),
            "validation_failed",
        ),
        (
            json!({"email": "x@example.nl", "surprise": 1}),
            "invalid_body",
        ),
        (
            json!({"email": "x@example.nl", "consent": "maybe"}),
            "invalid_body",
        ),
    ] {
        let res = post(body.clone()).await.unwrap();
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
    // Nothing was written: no contact, no job, no ledger entry.
    assert_eq!(e.status("x@example.nl", "news").await, None);
    assert_eq!(e.t.app.store.job_counts().await.unwrap().queued, 0);
    assert_eq!(
        handbill::services::consent::verify(&e.t.app, "paradiso")
            .await
            .unwrap()
            .entries,
        0
    );
}

async fn single_opt_in_needs_the_assert_scope_and_a_single_opt_in_list(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let res = e
        .post_json(
            "/api/v1/lists",
            json!({"key": "box-office", "name": {"en": "Box office news"}, "double_opt_in": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let asserter = e.t.token("paradiso", &["consent:assert"], &[]).await;
    let post = |tok: &str, body: Value| {
        e.t.client
            .post(e.t.url("/api/v1/optins/register"))
            .bearer_auth(tok)
            .json(&body)
            .send()
    };
    let single =
        json!({"email": "fan@example.nl", "optins": ["box-office"], "consent": "asserted"});
    let res = post(&e.optin, single.clone()).await.unwrap();
    assert_eq!(
        res.status(),
        403,
        "optin:register alone cannot assert consent"
    );
    let res = post(
        &asserter,
        json!({"email": "fan@example.nl", "optins": ["news"], "consent": "asserted"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errors"][0]["code"],
        "confirmation_required"
    );
    assert_eq!(e.status("fan@example.nl", "news").await, None);
    let res = post(&asserter, single).await.unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        e.status("fan@example.nl", "box-office").await.as_deref(),
        Some("subscribed")
    );
    assert!(
        e.mails().await.is_empty(),
        "no verification mail for an asserted consent"
    );
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let entry = &e.t.app.store.ledger_page(org.id, 0, 10).await.unwrap()[0];
    assert_eq!(
        (entry.action.as_str(), entry.source.as_str()),
        ("assert", "api")
    );
    assert_eq!(
        entry.token_id,
        Some(tokens::find_token(&e.t.app, &asserter).await.unwrap().id)
    );
    assert_eq!(entry.ip.as_deref(), Some("127.0.0.1"));
}

async fn one_mail_per_address_per_interval_and_token_rate_limit(backend: Backend) {
    let Some(e) = env_with(backend, |c| {
        c.token_rate_per_second = 1;
        c.token_rate_burst = 5;
    })
    .await
    else {
        return;
    };
    // Subscription bombing: many requests for one address send one mail.
    for _ in 0..3 {
        assert_eq!(e.register("target@example.nl").await.status(), 202);
    }
    assert_eq!(e.mails().await.len(), 1);
    // The token's burst is spent now: the next requests are refused with Retry-After.
    let mut limited = None;
    for _ in 0..5 {
        let res = e.register("other@example.nl").await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the token was rate limited");
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");
    // After the interval, the address may get a new mail (the clock moves, not the test).
    e.t.clock.advance_ms(10 * 60 * 1000 + 1);
    handbill::services::optins::register(
        &e.t.app,
        &handbill::services::tokens::authenticate(&e.t.app, &e.optin, "127.0.0.1".parse().unwrap())
            .await
            .unwrap(),
        &handbill::services::optins::RegisterRequest {
            email: "target@example.nl".into(),
            ..Default::default()
        },
        handbill::domain::ledger::Evidence::new("test", "test"),
    )
    .await
    .unwrap();
    let mails = e.mails().await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.0[0] == "target@example.nl")
            .count(),
        2
    );
    // Each mail has its own link; the caller's name fields never reach the mail.
    let res = e
        .stager(&format!(
            "token={}&email=spam%40example.nl&first_name=BUY%20CHEAP%20PILLS",
            e.optin
        ))
        .await;
    if res.status() == 202 {
        let mails = e.mails().await;
        let last = mails.last().unwrap();
        assert!(!last.2.contains("PILLS") && !last.1.contains("PILLS"));
    }
}

async fn rotation_makes_the_old_token_fail_on_the_stager_path(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    assert_eq!(e.register("a@example.nl").await.status(), 202);
    let new = tokens::rotate_token(&e.t.app, &e.optin).await.unwrap();
    assert_eq!(e.register("b@example.nl").await.status(), 401);
    let res = e
        .stager(&format!("token={}&email=b%40example.nl", new.secret))
        .await;
    assert_eq!(res.status(), 202);
    // An admin token is no opt-in token.
    let res = e
        .stager(&format!("token={}&email=c%40example.nl", e.admin))
        .await;
    assert_eq!(res.status(), 403);
}

async fn expired_links_offer_a_new_mail_and_are_purged(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    e.register("late@example.nl").await;
    let confirm = e.link(&e.mails().await[0].2, "/p/confirm/");
    t.clock.advance_days(8);
    let res = t.client.get(t.url(&confirm)).send().await.unwrap();
    assert_eq!(res.status(), 410);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("verlopen") && html.contains("resend\""),
        "{html}"
    );
    assert_eq!(
        t.client
            .post(t.url(&confirm))
            .send()
            .await
            .unwrap()
            .status(),
        410,
        "an expired link confirms nothing"
    );
    let res = t
        .client
        .post(t.url(&format!("{confirm}/resend")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 2);
    let fresh = e.link(&mails[1].2, "/p/confirm/");
    assert_ne!(fresh, confirm);
    // Nobody confirms: after expiry plus the grace period the signup is erased.
    t.clock.advance_days(9);
    assert_eq!(
        handbill::services::optins::purge_expired(&t.app)
            .await
            .unwrap(),
        1
    );
    assert_eq!(e.status("late@example.nl", "news").await, None);
    let res = t
        .client
        .get(t.url(&fresh))
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Dieser Link funktioniert nicht"));
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    let ledger = t.app.store.ledger_page(org.id, 0, 10).await.unwrap();
    assert!(
        !ledger.is_empty() && ledger.iter().all(|l| l.email.is_none() && l.ip.is_none()),
        "ledger kept, personal data gone"
    );
    assert_eq!(
        handbill::services::consent::verify(&t.app, "paradiso")
            .await
            .unwrap()
            .first_broken,
        None
    );
}

async fn preferences_page_ticks_and_unticks(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    e.post_json("/api/v1/lists", json!({"key": "jazz", "name": {"nl": "Jazz"}, "description": {"nl": "Jazz in de kleine zaal"}})).await;
    e.stager(&format!(
        "token={}&email=fan%40example.nl&optin=news&lang=en",
        e.optin
    ))
    .await;
    let confirm = e.link(&e.mails().await[0].2, "/p/confirm/");
    let html = t
        .client
        .get(t.url(&confirm))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Confirm your subscription") && html.contains("lang=\"en\""),
        "pages follow the contact's language"
    );
    t.client.post(t.url(&confirm)).send().await.unwrap();
    let welcome = &e.mails().await[1];
    let prefs = e.link(&welcome.2, "/p/preferences/");
    let html = t
        .client
        .get(t.url(&prefs))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Your preferences") && html.contains("Jazz") && html.contains(" checked"),
        "{html}"
    );
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    let jazz = t.app.store.list_by_key(org.id, "jazz").await.unwrap();
    let form = |body: String| {
        t.client
            .post(t.url(&prefs))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let res = form(format!("list={}", jazz.id)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Your preferences are saved"));
    assert_eq!(
        e.status("fan@example.nl", "jazz").await.as_deref(),
        Some("subscribed")
    );
    assert_eq!(
        e.status("fan@example.nl", "news").await.as_deref(),
        Some("unsubscribed")
    );
    // A forged or damaged link shows the invalid page and changes nothing.
    let forged = format!("{}x", prefs);
    assert_eq!(form(String::new()).await.unwrap().status(), 200);
    assert_eq!(
        t.client
            .post(t.url(&forged))
            .body("")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        t.client
            .get(t.url("/p/unsubscribe/AAAA.BBBB"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn lists_api_and_template_overrides(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let t = &e.t;
    let res = t
        .client
        .get(t.url("/api/v1/lists/news"))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap();
    let news: Value = res.json().await.unwrap();
    assert_eq!(news["number"], 100000);
    assert_eq!(news["default"], true);
    assert_eq!(news["double_opt_in"], true);
    assert_eq!(news["name"]["en"], "Newsletter");
    for (body, status, field) in [
        (json!({"key": "news", "name": {"en": "Again"}}), 409, "key"),
        (json!({"key": "Bad Key", "name": {"en": "X"}}), 422, "key"),
        (json!({"key": "x", "name": {"xx": "X"}}), 422, "name.xx"),
        (json!({"key": "x", "name": {}}), 422, "name"),
        (
            json!({"key": "x", "name": {"en": "y".repeat(201)}}),
            422,
            "name.en",
        ),
    ] {
        let res = e.post_json("/api/v1/lists", body.clone()).await;
        assert_eq!(res.status().as_u16(), status, "{body}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["errors"][0]["field"],
            field,
            "{body}"
        );
    }
    let reader = t.token("paradiso", &["lists:read"], &[]).await;
    let res = t
        .client
        .post(t.url("/api/v1/lists"))
        .bearer_auth(&reader)
        .json(&json!({"key": "y", "name": {"en": "Y"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let list: Value = t
        .client
        .get(t.url("/api/v1/lists"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Template overrides: syntax errors name the line; a good one is used for the next mail.
    let put = |body: Value| {
        t.client
            .put(t.url("/api/v1/lists/news/templates/verification/nl"))
            .bearer_auth(&e.admin)
            .json(&body)
            .send()
    };
    let res = put(json!({"subject": "Bevestig", "html": "<p>ok</p>\n<p>{{ confirm_url </p>"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "template_syntax");
    assert!(
        err["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2"),
        "{err}"
    );
    let res = put(json!({"subject": "Eén klik van {{ organisation }}", "html": "<p>Klik: <a href=\"{{ confirm_url }}\">{{ confirm_url }}</a></p>"})).await.unwrap();
    assert_eq!(res.status(), 204);
    e.register("fan@example.nl").await;
    let mails = e.mails().await;
    assert_eq!(mails[0].1, "Eén klik van Test Venue");
    assert!(
        mails[0]
            .2
            .contains("Klik: https://mail.venue.test/p/confirm/"),
        "text part derived from the HTML: {}",
        mails[0].2
    );
    // Archiving: the list takes no new registrations.
    let res = t
        .client
        .post(t.url("/api/v1/lists/news/archive"))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["archived"], true);
    let res = e
        .stager(&format!(
            "token={}&email=late%40example.nl&optin=news",
            e.optin
        ))
        .await;
    assert_eq!(res.status(), 422);
}

async fn blacklisted_addresses_get_no_mail(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let email = handbill::domain::EmailAddress::parse("never@example.nl").unwrap();
    handbill::services::consent::blacklist_add(
        &e.t.app,
        org.id,
        &email,
        &handbill::domain::ledger::Evidence::new("test", "test"),
    )
    .await
    .unwrap();
    assert_eq!(
        e.register("never@example.nl").await.status(),
        202,
        "the answer reveals nothing"
    );
    assert!(
        e.mails().await.is_empty(),
        "a blacklisted address is not mailed, not even to verify"
    );
}

async fn concurrent_registrations_are_each_applied_once(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let app = &e.t.app;
    let who = tokens::authenticate(app, &e.optin, "127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    // The same CRM id on two addresses: one of them must fail, alone.
    let crm = |email: &str| handbill::services::optins::RegisterRequest {
        email: email.into(),
        fields: serde_json::from_value(json!({"external_id": "CRM-7"})).unwrap(),
        ..Default::default()
    };
    let mut requests: Vec<handbill::services::optins::RegisterRequest> = (0..60)
        .map(|i| handbill::services::optins::RegisterRequest {
            email: format!("fan{}@example.nl", i % 40),
            ..Default::default()
        })
        .collect();
    requests.push(crm("crm-a@example.nl"));
    requests.push(crm("crm-b@example.nl"));
    let results = futures_util::future::join_all(requests.iter().map(|r| {
        handbill::services::optins::register(
            app,
            &who,
            r,
            handbill::domain::ledger::Evidence::new("api", "test"),
        )
    }))
    .await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert_eq!(failed.len(), 1, "only the second CRM-7 fails: {failed:?}");
    assert!(matches!(
        failed[0],
        Err(handbill::services::ServiceError::Conflict {
            field: "external_id",
            ..
        })
    ));
    for i in 0..40 {
        assert_eq!(
            e.status(&format!("fan{i}@example.nl"), "news")
                .await
                .as_deref(),
            Some("pending")
        );
    }
    // One ledger entry and one verification mail per address, and the chain is whole.
    let report = handbill::services::consent::verify(app, "paradiso")
        .await
        .unwrap();
    assert_eq!((report.entries, report.first_broken), (41, None));
    assert_eq!(e.mails().await.len(), 41);
}
