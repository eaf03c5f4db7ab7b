//! Automations (the Spotler row) through the real server and a real SMTP server: the seed's
//! three examples (subscription confirmation, abandoned cart with a product list and a cart
//! link, a review request 14 days after an order, stopped for one contact), stopping by
//! contact and by participation, re-entry rules, versions, idempotent triggers, consent of
//! marketing steps, every rejection, and a restart in the middle of a wait.

mod support;

use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::automation_env::{env, started, DAY_MS};
use support::Backend;

both_backends!(
    subscription_confirmation_after_signup,
    abandoned_cart_with_products_and_cart_link,
    review_request_after_fourteen_days_stopped_for_one,
    stop_one_participation_and_reentry_rules,
    versions_idempotency_and_consent,
    rejections,
    restart_in_the_middle_of_a_wait,
    oauth_signed_integration_calls,
);

async fn subscription_confirmation_after_signup(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (_, code) = e
        .automation(
            "Welcome",
            "single",
            json!([{"type": "email", "template": "welcome"}]),
        )
        .await;
    // The list with its trigger code, in both shapes.
    let list = e.get("/integrationservice/automation/list").await;
    assert_eq!(list[0]["triggerCode"], code.as_str());
    let list = e.get("/api/v1/automations").await;
    assert_eq!(list[0]["triggerCode"], code.as_str());
    assert_eq!(list[0]["status"], "published");
    // The shop signs the customer up and triggers the confirmation.
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    let res = e.trigger(&code, "CUST-1", json!([])).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(started(&body).len(), 1);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "ann@example.org");
    assert_eq!(mails[0].1, "Welcome Ann");
    assert!(mails[0].2.contains("Hi Ann, you are subscribed."));
    let id = started(&body)[0];
    let p = e
        .get(&format!("/api/v1/automations/participations/{id}"))
        .await;
    assert_eq!(p["status"], "done");
    assert_eq!(p["log"][0]["outcome"], "queued");
}

async fn abandoned_cart_with_products_and_cart_link(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (_, code) = e
        .automation(
            "Abandoned cart",
            "multiple",
            json!([{"type": "wait", "hours": 1}, {"type": "email", "template": "cart"}, {"type": "tag", "add": ["cart-reminded"]}]),
        )
        .await;
    e.customer("CUST-2", "bob@example.org", "Bob", true).await;
    let res = e
        .trigger(
            &code,
            "CUST-2",
            json!([
                {"name": "productlist", "type": "PRODUCTLIST", "values": ["P1", "P2", "GONE"]},
                {"name": "linktocart", "type": "URL", "values": ["https://shop.test/cart/abc?x=1&y=2"]}
            ]),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Nothing before the hour is up.
    assert!(e.mails().await.is_empty());
    e.t.clock.advance_ms(3_600_000);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let html = &mails[0].2;
    assert!(
        html.contains("Vinyl: Live at the Venue") && html.contains("Tour shirt"),
        "{html}"
    );
    assert!(
        html.contains("€ 24,50") && html.contains("https://shop.test/img/1.jpg"),
        "{html}"
    );
    // Every link is click-tracked: product pages, review links and the cart link (a URL
    // field) lead where they should through /t/u/.
    assert!(!html.contains("href=\"https://shop.test/"), "{html}");
    let targets = e.tracked_targets(html).await;
    assert!(
        targets.contains(&"https://shop.test/cart/abc?x=1&y=2".to_string()),
        "{targets:?}"
    );
    assert!(targets.contains(&"https://shop.test/p/1".to_string()));
    // A forged or altered tracking link leads nowhere.
    let forged = support::automation_env::link(html, "/t/u/").replacen("/t/u/", "/t/u/x", 1);
    let res = e.t.client.get(e.t.url(&forged)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(!html.contains("GONE"), "an unknown product is skipped");
    let org = e.t.app.store.org_by_slug("shop").await.unwrap();
    let c =
        e.t.app
            .store
            .contact_by_external_id(org.id, "CUST-2")
            .await
            .unwrap();
    let tags = e.t.app.store.contact_tags(org.id, c.id).await.unwrap();
    assert_eq!(tags, vec!["cart-reminded".to_string()]);
}

async fn review_request_after_fourteen_days_stopped_for_one(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (id, code) = e
        .automation(
            "Product review",
            "multiple",
            json!([{"type": "wait", "days": 14}, {"type": "email", "template": "review"}, {"type": "score", "change": 5}]),
        )
        .await;
    for (ext, email) in [("C-A", "a@example.org"), ("C-B", "b@example.org")] {
        e.customer(ext, email, "Buyer", true).await;
        let res = e
            .trigger(
                &code,
                ext,
                json!([{"name": "productlist", "type": "PRODUCTLIST", "values": ["P1"]}]),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    assert!(e.mails().await.is_empty());
    // Day 7: the shop cancels B's order; B's participation stops.
    e.t.clock.advance_ms(7 * DAY_MS);
    let res = e
        .post_as(
            &e.shop,
            &format!("/integrationservice/automation/stop/{code}"),
            json!({"externalContactId": "C-B"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let stopped: Value = res.json().await.unwrap();
    assert_eq!(
        stopped["stoppedAutomationContactIds"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(e.mails().await.is_empty());
    // Day 14: only A gets the review request, with the product's review link.
    e.t.clock.advance_ms(7 * DAY_MS);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "a@example.org");
    assert!(
        e.tracked_targets(&mails[0].2)
            .await
            .contains(&"https://shop.test/review/1".to_string()),
        "{}",
        mails[0].2
    );
    let parts = e
        .get(&format!("/api/v1/automations/{id}/participations"))
        .await;
    let states: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["stopped", "done"]);
    let org = e.t.app.store.org_by_slug("shop").await.unwrap();
    let a =
        e.t.app
            .store
            .contact_by_external_id(org.id, "C-A")
            .await
            .unwrap();
    let b =
        e.t.app
            .store
            .contact_by_external_id(org.id, "C-B")
            .await
            .unwrap();
    assert_eq!((a.score, b.score), (5, 0), "B's later steps never ran");
}

async fn stop_one_participation_and_reentry_rules(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("C-1", "c1@example.org", "Cee", true).await;
    let steps = json!([{"type": "wait", "days": 1}, {"type": "email", "template": "welcome"}]);
    // Single: a second trigger while one runs starts nothing.
    let (_, single) = e.automation("Single", "single", steps.clone()).await;
    let first: Value = e
        .trigger(&single, "C-1", json!([]))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = e
        .trigger(&single, "C-1", json!([]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((started(&first).len(), started(&second).len()), (1, 0));
    // Multiple: each trigger starts one; stopping one by its id leaves the other.
    let (_, multi) = e.automation("Multiple", "multiple", steps).await;
    let one = started(
        &e.trigger(&multi, "C-1", json!([]))
            .await
            .json()
            .await
            .unwrap(),
    )[0];
    let two = started(
        &e.trigger(&multi, "C-1", json!([]))
            .await
            .json()
            .await
            .unwrap(),
    )[0];
    let res = e
        .post_as(
            &e.shop,
            &format!("/integrationservice/automation/participation/{one}/stop"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = e
        .post_as(
            &e.shop,
            &format!("/api/v1/automations/participations/{one}/stop"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(res.status(), 404, "already stopped");
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "unknown_participation"
    );
    e.t.clock.advance_ms(DAY_MS);
    let mails = e.mails().await;
    // Single's one participation and Multiple's second: two mails.
    assert_eq!(mails.len(), 2, "{mails:?}");
    let p = e
        .get(&format!("/api/v1/automations/participations/{two}"))
        .await;
    assert_eq!(p["status"], "done");
    // After it finished, a single automation can be entered again.
    let again: Value = e
        .trigger(&single, "C-1", json!([]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(started(&again).len(), 1);
}

async fn versions_idempotency_and_consent(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("C-9", "nine@example.org", "Nina", true).await;
    e.customer("C-0", "zero@example.org", "Zed", false).await;
    let (id, code) = e
        .automation(
            "Versioned",
            "multiple",
            json!([{"type": "wait", "days": 2}, {"type": "email", "template": "welcome"}]),
        )
        .await;
    let v1 = started(
        &e.trigger(&code, "C-9", json!([]))
            .await
            .json()
            .await
            .unwrap(),
    )[0];
    // A new draft changes nothing until published; running participations keep version 1.
    let res =
        e.t.client
            .put(e.t.url(&format!("/api/v1/automations/{id}")))
            .bearer_auth(&e.admin)
            .json(
                &json!({"name": "Versioned", "optin": "news", "reentry": "multiple",
                      "steps": [{"type": "wait", "days": 2}, {"type": "email", "template": "v2"}]}),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let a: Value = res.json().await.unwrap();
    assert_eq!(
        (
            a["published_version"].as_i64(),
            a["unpublished_changes"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert_eq!(
        e.post(&format!("/api/v1/automations/{id}/publish"), json!({}))
            .await
            .status(),
        200
    );
    // Idempotent trigger: the retry returns the first answer and starts nothing.
    let first = e
        .post_as(
            &e.shop,
            &format!("/api/v1/automations/trigger/{code}"),
            json!({"externalContactId": "C-9"}),
            Some("order-77"),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let retry = e
        .post_as(
            &e.shop,
            &format!("/api/v1/automations/trigger/{code}"),
            json!({"externalContactId": "C-9"}),
            Some("order-77"),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(first, retry);
    assert_eq!(first["publishedAutomationResults"][0]["version"], 2);
    // The same key for another automation is another call.
    let (_, other) = e
        .automation("Other", "multiple", json!([{"type": "end"}]))
        .await;
    let elsewhere = e
        .post_as(
            &e.shop,
            &format!("/api/v1/automations/trigger/{other}"),
            json!({"externalContactId": "C-9"}),
            Some("order-77"),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(started(&elsewhere).len(), 1);
    assert_ne!(started(&elsewhere), started(&first));
    // A contact without the automation's opt-in gets no marketing mail; the log says why.
    let zero = started(
        &e.trigger(&code, "C-0", json!([]))
            .await
            .json()
            .await
            .unwrap(),
    )[0];
    e.t.clock.advance_ms(2 * DAY_MS);
    let mails = e.mails().await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.contains(&"Welcome Nina") && subjects.contains(&"Version two"),
        "{subjects:?}"
    );
    assert!(mails.iter().all(|m| m.0 == "nine@example.org"));
    let p = e
        .get(&format!("/api/v1/automations/participations/{zero}"))
        .await;
    let skipped = p["log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "email")
        .unwrap();
    assert_eq!(skipped["outcome"], "skipped");
    assert!(
        skipped["detail"]
            .as_str()
            .unwrap()
            .contains("not subscribed"),
        "{p}"
    );
    let p = e
        .get(&format!("/api/v1/automations/participations/{v1}"))
        .await;
    assert_eq!(p["version"], 1);
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("C-1", "c1@example.org", "Cee", true).await;
    let (id, code) = e
        .automation(
            "Welcome",
            "single",
            json!([{"type": "email", "template": "welcome"}]),
        )
        .await;
    let code_of = |v: &Value| v["code"].as_str().unwrap_or_default().to_string();
    // Unknown contact, unknown trigger, unpublished trigger: 404 with their own codes.
    let res = e.trigger(&code, "NOBODY", json!([])).await;
    assert_eq!(res.status(), 404);
    assert_eq!(code_of(&res.json().await.unwrap()), "unknown_contact");
    let res = e.trigger("nOtAcOdE", "C-1", json!([])).await;
    assert_eq!(res.status(), 404);
    assert_eq!(code_of(&res.json().await.unwrap()), "unknown_trigger");
    let draft: Value = e
        .post(
            "/api/v1/automations",
            json!({"name": "Draft", "optin": "news", "steps": [{"type": "end"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = e
        .trigger(draft["triggerCode"].as_str().unwrap(), "C-1", json!([]))
        .await;
    assert_eq!(res.status(), 404, "unpublished");
    // Invalid fields: 400 naming the field; nothing starts.
    for (fields, field, expect) in [
        (
            json!([{"name": "has space", "values": ["x"]}]),
            "automationFields[0].name",
            "invalid_name",
        ),
        (
            json!([{"name": "a", "values": ["x"]}, {"name": "a", "values": ["y"]}]),
            "automationFields[1].name",
            "duplicate",
        ),
        (
            json!([{"name": "u", "type": "URL", "values": ["not a url"]}]),
            "automationFields[0].values[0]",
            "invalid_url",
        ),
        (
            json!([{"name": "t", "type": "DATE", "values": []}]),
            "automationFields[0].type",
            "invalid_type",
        ),
    ] {
        let res = e.trigger(&code, "C-1", fields).await;
        assert_eq!(res.status(), 400);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["errors"][0]["field"], field, "{v}");
        assert_eq!(v["errors"][0]["code"], expect, "{v}");
    }
    let res = e
        .post_as(
            &e.shop,
            &format!("/api/v1/automations/trigger/{code}"),
            json!({"externalContactId": "C-1"}),
            Some(""),
        )
        .await;
    assert_eq!(res.status(), 400);
    // A token without the scope.
    let reader = e.t.token("shop", &["automations:read"], &[]).await;
    let res = e
        .post_as(
            &reader,
            &format!("/api/v1/automations/trigger/{code}"),
            json!({"externalContactId": "C-1"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 403);
    // Bad automations: every error names its step.
    let res = e
        .post("/api/v1/automations", json!({"name": "", "reentry": "sometimes", "optin": "ghost",
            "steps": [{"type": "wait"}, {"type": "email", "template": "nope"}, {"type": "score", "change": 0}]}))
        .await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["name", "reentry", "steps[0].days", "steps[2].change"] {
        assert!(fields.contains(&f), "{f}: {v}");
    }
    let res = e
        .post("/api/v1/automations", json!({"name": "X", "optin": "ghost", "steps": [{"type": "email", "template": "nope"}]}))
        .await;
    let v: Value = res.json().await.unwrap();
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"unknown_optin") && codes.contains(&"unknown_template"),
        "{v}"
    );
    let res = e
        .post(
            "/api/v1/automations",
            json!({"name": "X", "steps": [{"type": "email", "template": "welcome"}]}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "optin_required", "{v}");
    let res = e
        .post(
            "/api/v1/automations",
            json!({"name": "X", "steps": [{"type": "fly"}]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        e.get(&format!("/api/v1/automations/{id}/participations"))
            .await,
        json!([])
    );
    assert!(e.mails().await.is_empty());
}

async fn restart_in_the_middle_of_a_wait(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("C-R", "r@example.org", "Rae", true).await;
    let (_, code) = e
        .automation("Restart", "single", json!([{"type": "wait", "days": 3}, {"type": "email", "template": "welcome"}, {"type": "score", "change": 1}]))
        .await;
    assert_eq!(e.trigger(&code, "C-R", json!([])).await.status(), 200);
    run_until_idle(&e.t.app).await.unwrap();
    // A second node (a restarted process) on the same database picks the wait up when due.
    let node = handbill::app::App::open_with_clock((*e.t.app.config).clone(), e.t.clock.clone())
        .await
        .unwrap();
    e.t.clock.advance_ms(3 * DAY_MS);
    // A worker that leased the due participation and died before writing anything:
    let leased = node
        .store
        .claim_participations(node.now(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(
        run_until_idle(&node).await.unwrap(),
        0,
        "leased rows wait for the lease to end"
    );
    e.t.clock.advance_ms(60_001);
    run_until_idle(&node).await.unwrap();
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1, "sent once: {mails:?}");
    let org = node.store.org_by_slug("shop").await.unwrap();
    let c = node
        .store
        .contact_by_external_id(org.id, "C-R")
        .await
        .unwrap();
    assert_eq!(c.score, 1, "the score step ran once");
    // Erasing the contact stops what is left and forgets the fields.
    assert_eq!(
        e.trigger(&code, "C-R", json!([{"name": "x", "values": ["secret"]}]))
            .await
            .status(),
        200
    );
    handbill::services::contacts::erase(&node, org.id, c.id)
        .await
        .unwrap();
    e.t.clock.advance_ms(3 * DAY_MS);
    assert_eq!(e.mails().await.len(), 1);
}

/// Signs a request the way a Spotler integration does (two-legged OAuth 1.0a, HMAC-SHA1).
fn oauth_header(key: &str, secret: &str, method: &str, url: &str, nonce: &str, ts: i64) -> String {
    use handbill::domain::oauth1::{base_string, decode_pairs, encode, sign};
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), key.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), ts.to_string()),
        ("oauth_version".into(), "1.0".into()),
    ];
    let protocol = params.clone();
    params.extend(decode_pairs(query, false));
    let signature = sign(&base_string(method, base, &params), secret, "");
    let mut parts: Vec<String> = protocol
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", encode(v)))
        .collect();
    parts.push(format!("oauth_signature=\"{}\"", encode(&signature)));
    format!("OAuth {}", parts.join(", "))
}

async fn oauth_signed_integration_calls(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("C-O", "o@example.org", "Otto", true).await;
    let (_, code) = e
        .automation(
            "Signed",
            "multiple",
            json!([{"type": "email", "template": "welcome"}]),
        )
        .await;
    let (consumer, secret) = handbill::services::oauth_consumers::create(
        &e.t.app,
        "shop",
        &["automations:trigger".into(), "automations:read".into()],
        Some("CRM"),
    )
    .await
    .unwrap();
    let key = consumer.consumer_key.clone();
    let now_s = e.t.app.now() / 1000;
    let url =
        e.t.url(&format!("/integrationservice/automation/trigger/{code}"));
    let send = |auth: String| {
        e.t.client
            .post(url.clone())
            .header("authorization", auth)
            .json(&json!({"externalContactId": "C-O"}))
            .send()
    };
    let res = send(oauth_header(&key, &secret, "POST", &url, "n-1", now_s))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // The same nonce again: a replay.
    let res = send(oauth_header(&key, &secret, "POST", &url, "n-1", now_s))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A wrong secret, a stale timestamp, another URL, an unknown consumer: refused alike.
    for auth in [
        oauth_header(&key, "wrong", "POST", &url, "n-2", now_s),
        oauth_header(&key, &secret, "POST", &url, "n-3", now_s - 3600),
        oauth_header(
            &key,
            &secret,
            "POST",
            &e.t.url("/integrationservice/automation/trigger/other"),
            "n-4",
            now_s,
        ),
        oauth_header("hb_oc_nobody", &secret, "POST", &url, "n-5", now_s),
        oauth_header(&key, &secret, "GET", &url, "n-6", now_s),
    ] {
        let res = send(auth).await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "unauthorized");
    }
    // A signed GET with a query string lists the automations.
    let list_url = e.t.url("/integrationservice/automation/list?page=1");
    let res =
        e.t.client
            .get(list_url.clone())
            .header(
                "authorization",
                oauth_header(&key, &secret, "GET", &list_url, "n-7", now_s),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()[0]["triggerCode"],
        code.as_str()
    );
    // Revoked: refused; the Bearer token of the same routes still works.
    handbill::services::oauth_consumers::revoke(&e.t.app, "shop", consumer.id)
        .await
        .unwrap();
    let res = send(oauth_header(&key, &secret, "POST", &url, "n-8", now_s))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(e.trigger(&code, "C-O", json!([])).await.status(), 200);
    assert_eq!(e.mails().await.len(), 2);
}
