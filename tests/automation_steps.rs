//! Automations started by internal triggers (subscribed, confirmed double opt-in, tag added,
//! a date attribute's day) and the steps beyond e-mail: set a field, branch on a segment
//! condition, SMS through an HTTP gateway and HTTP requests to an outside system — through the
//! real server, a real SMTP server and a real HTTP server — plus every rejection.

mod support;

use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::automation_env::{env, link, Env, DAY_MS};
use support::http_sink::HttpSink;
use support::Backend;

both_backends!(
    subscribed_confirmed_and_tag_triggers,
    date_field_triggers_once_a_day,
    set_field_branch_sms_and_http_steps,
    trigger_step_and_gateway_rejections,
);

impl Env {
    async fn contact(&self, body: Value) -> i64 {
        let res = self.post("/api/v1/contacts", body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    async fn contact_view(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/contacts/{id}")).await
    }
}

async fn subscribed_confirmed_and_tag_triggers(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let res = e
        .post(
            "/api/v1/lists",
            json!({"key": "club", "name": {"en": "Club"}, "double_opt_in": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let welcome = e
        .publish(json!({"name": "Welcome", "optin": "news", "trigger": {"type": "subscribed", "optin": "news"},
            "steps": [{"type": "email", "template": "welcome"}]}))
        .await;
    let club = e
        .publish(
            json!({"name": "Club members", "trigger": {"type": "confirmed", "optin": "club"},
            "steps": [{"type": "tag", "add": ["club-member"]}]}),
        )
        .await;
    let vip = e
        .publish(
            json!({"name": "VIP", "trigger": {"type": "tag_added", "tag": "vip"},
            "steps": [{"type": "score", "change": 10}]}),
        )
        .await;
    // A draft listens for nothing.
    let res = e
        .post(
            "/api/v1/automations",
            json!({"name": "Draft", "trigger": {"type": "tag_added", "tag": "vip"},
            "steps": [{"type": "score", "change": 100}]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let shown = e.get(&format!("/api/v1/automations/{club}")).await;
    assert_eq!(
        shown["trigger"],
        json!({"type": "confirmed", "optin": "club"})
    );

    // An asserted subscription to news starts the welcome automation.
    let ann = e
        .contact(json!({"email": "ann@example.org", "first_name": "Ann"}))
        .await;
    let res = e
        .post(
            "/api/v1/optins/register",
            json!({"email": "ann@example.org", "optins": ["news"], "consent": "asserted"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].1, "Welcome Ann");
    assert_eq!(e.participations(welcome).await.len(), 1);

    // Signing up for the club (double opt-in) starts nothing until the confirmation.
    let res = e
        .post(
            "/api/v1/optins/register",
            json!({"email": "ann@example.org", "optins": ["club"]}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 2, "the verification mail");
    assert!(e.participations(club).await.is_empty());
    let confirm = link(&mails[1].2, "/p/confirm/");
    let res = e.t.client.post(e.t.url(&confirm)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(e.participations(club).await.len(), 1);
    let c = e.contact_view(ann).await;
    assert_eq!(c["tags"], json!(["club-member"]));

    // Adding the tag starts the VIP automation once; keeping it does not start it again.
    let res =
        e.t.client
            .patch(e.t.url(&format!("/api/v1/contacts/{ann}")))
            .bearer_auth(&e.admin)
            .json(&json!({"tags": ["club-member", "vip"]}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    run_until_idle(&e.t.app).await.unwrap();
    let res =
        e.t.client
            .patch(e.t.url(&format!("/api/v1/contacts/{ann}")))
            .bearer_auth(&e.admin)
            .json(&json!({"tags": ["vip", "club-member"], "city": "Utrecht"}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(e.participations(vip).await.len(), 1);
    assert_eq!(
        e.contact_view(ann).await["score"],
        10,
        "the draft ran nothing"
    );
    // Every event was used up.
    assert_eq!(run_until_idle(&e.t.app).await.unwrap(), 0);
}

async fn date_field_triggers_once_a_day(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    // The clock starts at 2026-01-01 00:00 UTC.
    let birthday = e
        .publish(json!({"name": "Birthday", "optin": "news",
            "trigger": {"type": "date_field", "attribute": "birthday", "yearly": true, "at": "09:00"},
            "steps": [{"type": "email", "template": "v2"}]}))
        .await;
    let day_before = e
        .publish(json!({"name": "Day before the show",
            "trigger": {"type": "date_field", "attribute": "show_date", "offset_days": -1},
            "steps": [{"type": "tag", "add": ["show-tomorrow"]}]}))
        .await;
    e.customer("B-1", "bea@example.org", "Bea", true).await;
    let bea =
        e.t.app
            .store
            .contact_by_external_id(e.t.app.store.org_by_slug("shop").await.unwrap().id, "B-1")
            .await
            .unwrap()
            .id;
    let res =
        e.t.client
            .patch(e.t.url(&format!("/api/v1/contacts/{bea}")))
            .bearer_auth(&e.admin)
            .json(&json!({"attributes": {"birthday": "1990-01-02", "show_date": "2026-01-03"}}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let other = e
        .contact(json!({"email": "carl@example.org", "attributes": {"birthday": "1985-06-30"}}))
        .await;
    // 1 January: nobody's day.
    assert!(e.mails().await.is_empty());
    assert!(e.participations(birthday).await.is_empty());
    // 2 January, midnight: Bea's birthday starts (mail at 09:00) and her show is tomorrow.
    e.t.clock.advance_ms(DAY_MS);
    assert!(e.mails().await.is_empty(), "not before 09:00");
    assert_eq!(e.participations(birthday).await.len(), 1);
    assert_eq!(e.participations(day_before).await.len(), 1);
    assert_eq!(e.contact_view(bea).await["tags"], json!(["show-tomorrow"]));
    e.t.clock.advance_ms(9 * 3_600_000);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "bea@example.org");
    // Later that day nothing starts again, and the next day neither.
    e.t.clock.advance_ms(3_600_000);
    assert_eq!(e.mails().await.len(), 1);
    e.t.clock.advance_ms(DAY_MS);
    assert_eq!(e.mails().await.len(), 1);
    assert_eq!(e.participations(birthday).await.len(), 1);
    assert!(e.contact_view(other).await["tags"]
        .as_array()
        .unwrap()
        .is_empty());
}

async fn set_field_branch_sms_and_http_steps(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let gateway = HttpSink::start().await;
    let crm = HttpSink::start().await;
    let res = e
        .put(
            "/api/v1/sms-gateway",
            json!({"url": format!("{}/send?account=venue", gateway.base),
                "headers": {"Authorization": "Bearer gw-secret"},
                "body": "{\"to\": {{ to|tojson }}, \"text\": {{ text|tojson }}, \"from\": {{ sender|tojson }}}",
                "content_type": "application/json", "sender": "Venue"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let shown = e.get("/api/v1/sms-gateway").await;
    assert_eq!(shown["headers"], json!(["Authorization"]));
    assert!(
        !shown.to_string().contains("gw-secret"),
        "header values are write-only"
    );
    let res = e
        .post("/api/v1/automations", json!({"name": "Order ready", "optin": "news", "reentry": "multiple",
            "steps": [
                {"type": "set_field", "field": "attributes.last_order", "value": "[automationfield:order]"},
                {"type": "branch", "if": {"field": "city", "op": "eq", "value": "Utrecht"}, "else": 6},
                {"type": "sms", "text": "Hi {{ contact.first_name }}, order [automationfield:order] is ready."},
                {"type": "http", "method": "POST", "url": format!("{}/hook/{{{{ contact.external_id|urlencode }}}}", crm.base),
                 "headers": {"X-Api-Key": "crm-key"},
                 "fields": {"email": "{{ contact.email }}", "order": "[automationfield:order]"}},
                {"type": "set_field", "field": "phone", "value": null},
                {"type": "set_field", "field": "attributes.notified", "value": true},
                {"type": "end"}
            ]}))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let a: Value = res.json().await.unwrap();
    let id = a["id"].as_i64().unwrap();
    let code = a["triggerCode"].as_str().unwrap().to_string();
    let res = e
        .post(&format!("/api/v1/automations/{id}/publish"), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    for (ext, email, city, mobile) in [
        ("U-1", "ann@example.org", "Utrecht", Some("+31 6 1234 5678")),
        ("A-1", "bob@example.org", "Amsterdam", Some("0612345678")),
        ("U-2", "cas@example.org", "Utrecht", None),
    ] {
        e.contact(json!({"email": email, "external_id": ext, "first_name": "Ann", "city": city, "mobile": mobile, "phone": "030-1234567"}))
            .await;
        let res = e
            .post(
                "/api/v1/optins/register",
                json!({"email": email, "optins": ["news"], "consent": "asserted"}),
            )
            .await;
        assert_eq!(res.status(), 202);
        let res = e
            .trigger(
                &code,
                ext,
                json!([{"name": "order", "values": [format!("{ext}-77")]}]),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    run_until_idle(&e.t.app).await.unwrap();

    // The SMS went to the one Utrecht contact with a mobile number, through the gateway.
    let sms = gateway.requests();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].method, "POST");
    assert_eq!(sms[0].uri, "/send?account=venue");
    assert_eq!(sms[0].headers["authorization"], "Bearer gw-secret");
    assert_eq!(sms[0].headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&sms[0].body).unwrap();
    assert_eq!(
        body,
        json!({"to": "+31612345678", "text": "Hi Ann, order U-1-77 is ready.", "from": "Venue"})
    );
    // Both Utrecht contacts reached the CRM; Amsterdam took the else branch.
    let mut hooks = crm.requests();
    hooks.sort_by(|a, b| a.uri.cmp(&b.uri));
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert_eq!(hooks[0].uri, "/hook/U-1");
    assert_eq!(hooks[0].headers["x-api-key"], "crm-key");
    assert_eq!(
        hooks[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(hooks[0].body, "email=ann%40example.org&order=U-1-77");
    assert_eq!(hooks[1].uri, "/hook/U-2");

    let org = e.t.app.store.org_by_slug("shop").await.unwrap().id;
    // Utrecht contacts had their phone number cleared and an attribute set; Amsterdam not.
    for (ext, notified) in [("U-1", true), ("A-1", false), ("U-2", true)] {
        let c =
            e.t.app
                .store
                .contact_by_external_id(org, ext)
                .await
                .unwrap();
        let v = e.contact_view(c.id).await;
        assert_eq!(v["attributes"]["last_order"], format!("{ext}-77"));
        assert_eq!(v["phone"].is_null(), notified, "{ext}");
        assert_eq!(
            v["attributes"]["notified"] == json!(true),
            notified,
            "{ext}"
        );
    }
    let logs = e.participations(id).await;
    let outcome = |p: &Value, kind: &str| -> (String, String) {
        let l = p["log"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {p}"));
        (
            l["outcome"].as_str().unwrap().to_string(),
            l["detail"].as_str().unwrap_or("").to_string(),
        )
    };
    // Newest first: U-2, A-1, U-1.
    assert_eq!(
        outcome(&logs[2], "sms"),
        ("sent".into(), "HTTP 200 ok".into())
    );
    assert_eq!(outcome(&logs[2], "http").0, "sent");
    assert_eq!(outcome(&logs[2], "branch").0, "then");
    assert_eq!(outcome(&logs[1], "branch").0, "else");
    assert_eq!(
        outcome(&logs[0], "sms"),
        (
            "skipped".into(),
            "the contact has no valid mobile number".into()
        )
    );
    assert!(logs.iter().all(|p| p["status"] == "done"));

    // A gateway that refuses the message: the step fails for good and says why.
    gateway.answer(400);
    let res = e
        .trigger(
            &code,
            "U-1",
            json!([{"name": "order", "values": ["U-1-78"]}]),
        )
        .await;
    assert_eq!(res.status(), 200);
    run_until_idle(&e.t.app).await.unwrap();
    let logs = e.participations(id).await;
    assert_eq!(
        outcome(&logs[0], "sms"),
        ("failed".into(), "HTTP 400 ok".into())
    );
    // Unsubscribed: the marketing SMS is skipped, the request to the CRM still goes out.
    gateway.answer(200);
    let before = gateway.requests().len();
    let ann =
        e.t.app
            .store
            .contact_by_external_id(org, "U-1")
            .await
            .unwrap();
    let evidence = handbill::domain::ledger::Evidence {
        source: "public_page".into(),
        actor: "contact".into(),
        token_id: None,
        ip: None,
        user_agent: None,
        text_shown: None,
        context: None,
    };
    handbill::services::consent::unsubscribe_contact(&e.t.app, &ann, None, &evidence)
        .await
        .unwrap();
    let res = e
        .trigger(
            &code,
            "U-1",
            json!([{"name": "order", "values": ["U-1-79"]}]),
        )
        .await;
    assert_eq!(res.status(), 200);
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(gateway.requests().len(), before);
    let logs = e.participations(id).await;
    assert_eq!(outcome(&logs[0], "sms").0, "skipped");
    assert_eq!(outcome(&logs[0], "http").0, "sent");

    // A node dies while its request to the CRM is out: after the restart the request is not
    // repeated (it may have arrived), and the log says so.
    let hooks = crm.requests().len();
    let res = e
        .trigger(
            &code,
            "U-2",
            json!([{"name": "order", "values": ["U-2-80"]}]),
        )
        .await;
    let pid = support::automation_env::started(&res.json().await.unwrap())[0];
    let mut engine = handbill::services::automation_engine::Engine::default();
    while engine.tick(&e.t.app).await.unwrap() > 0 {}
    assert!(e.t.app.store.begin_step_request(org, pid, 3).await.unwrap());
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(crm.requests().len(), hooks);
    let logs = e.participations(id).await;
    assert_eq!(outcome(&logs[0], "http").0, "uncertain");
}

async fn trigger_step_and_gateway_rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let cases = [
        (
            json!({"type": "sometimes"}),
            "trigger.type",
            "invalid_trigger",
        ),
        (
            json!({"type": "subscribed", "optin": "nope"}),
            "trigger.optin",
            "unknown_optin",
        ),
        (json!({"type": "tag_added"}), "trigger.tag", "required"),
        (
            json!({"type": "external", "tag": "x"}),
            "trigger.tag",
            "unexpected",
        ),
        (
            json!({"type": "date_field", "attribute": "a b"}),
            "trigger.attribute",
            "invalid_attribute_name",
        ),
        (
            json!({"type": "date_field", "attribute": "d", "offset_days": 999}),
            "trigger.offset_days",
            "out_of_range",
        ),
        (
            json!({"type": "date_field", "attribute": "d", "at": "9am"}),
            "trigger.at",
            "invalid_time",
        ),
    ];
    for (trigger, field, code) in cases {
        let res = e
            .post(
                "/api/v1/automations",
                json!({"name": "x", "trigger": trigger, "steps": [{"type": "end"}]}),
            )
            .await;
        assert_eq!(res.status(), 422, "{trigger}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    let steps = [
        (
            json!({"type": "tag", "add": ["vip"]}),
            "steps[0].add",
            "trigger_loop",
        ),
        (
            json!({"type": "sms", "text": "Hi"}),
            "steps[0].marketing",
            "optin_required",
        ),
        (
            json!({"type": "sms", "text": "{{ x"}),
            "steps[0].text",
            "invalid_template",
        ),
        (
            json!({"type": "http", "method": "PATCH", "url": "https://x.test/"}),
            "steps[0].method",
            "invalid_method",
        ),
        (
            json!({"type": "http", "method": "GET", "url": "file:///etc/passwd"}),
            "steps[0].url",
            "invalid_url",
        ),
        (
            json!({"type": "http", "method": "GET", "url": "https://x.test/", "body": "b"}),
            "steps[0].body",
            "conflict",
        ),
        (
            json!({"type": "http", "method": "GET", "url": "https://x.test/", "headers": {"Host": "evil"}}),
            "steps[0].headers",
            "invalid_header",
        ),
        (
            json!({"type": "set_field", "field": "email", "value": "x@y.z"}),
            "steps[0].field",
            "unknown_field",
        ),
        (
            json!({"type": "set_field", "field": "city", "value": {"a": 1}}),
            "steps[0].value",
            "invalid_value",
        ),
        (
            json!({"type": "branch", "if": {"field": "city", "op": "eq", "value": "x"}, "then": 0}),
            "steps[0].then",
            "invalid_jump",
        ),
        (
            json!({"type": "branch", "if": {"field": "nope", "op": "eq", "value": "x"}}),
            "steps[0].if.field",
            "unknown_field",
        ),
    ];
    for (step, field, code) in steps {
        let res = e
            .post(
                "/api/v1/automations",
                json!({"name": "x", "trigger": {"type": "tag_added", "tag": "vip"}, "steps": [step]}),
            )
            .await;
        assert_eq!(res.status(), 422, "{step}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    // Nothing was written by any of them.
    assert!(e
        .get("/api/v1/automations")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    let res = e.get_as(&e.admin, "/api/v1/sms-gateway").await;
    assert_eq!(res.status(), 404);
    let gateways = [
        (json!({"url": "ftp://x"}), "url", "invalid_url"),
        (
            json!({"url": "https://x.test/{{ to"}),
            "url",
            "invalid_template",
        ),
        (
            json!({"url": "https://x.test/", "method": "DELETE"}),
            "method",
            "invalid_method",
        ),
        (
            json!({"url": "https://x.test/", "method": "GET", "body": "b"}),
            "body",
            "conflict",
        ),
        (
            json!({"url": "https://x.test/", "headers": {"Bad Name": "x"}}),
            "headers",
            "invalid_header",
        ),
        (
            json!({"url": "https://x.test/", "sender": "x".repeat(41)}),
            "sender",
            "too_long",
        ),
    ];
    for (g, field, code) in gateways {
        let res = e.put("/api/v1/sms-gateway", g.clone()).await;
        assert_eq!(res.status(), 422, "{g}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    let res =
        e.t.client
            .delete(e.t.url("/api/v1/sms-gateway"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 404, "nothing was saved");
    // A token without automations:write may not set the gateway.
    let res =
        e.t.client
            .put(e.t.url("/api/v1/sms-gateway"))
            .bearer_auth(&e.shop)
            .json(&json!({"url": "https://x.test/"}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 403);
}
