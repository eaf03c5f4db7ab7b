//! The activity log through the real server and a real SMTP server: consent changes, sent
//! and failed mail, clicks with their URL and erasure show up as raw events; the cursor pages
//! through them without missing or repeating one while registrations keep arriving from
//! several tasks at once; and every rejection of `GET /api/v1/events`.

mod support;

use std::collections::HashSet;

use serde_json::{json, Value};
use support::automation_env::{env, Env};
use support::smtp_sink::Behaviour;
use support::Backend;

both_backends!(
    events_of_mail_and_consent,
    cursor_under_concurrent_events,
    rejections
);

impl Env {
    /// Every event after `since`, following `next` in pages of `limit`.
    async fn events_after(&self, since: &str, limit: usize, kinds: &str) -> (Vec<Value>, String) {
        let mut out = Vec::new();
        let mut cursor = since.to_string();
        loop {
            let page = self
                .get(&format!(
                    "/api/v1/events?since={cursor}&limit={limit}&kinds={kinds}"
                ))
                .await;
            let events = page["events"].as_array().unwrap().clone();
            assert!(events.len() <= limit);
            cursor = page["next"].as_str().unwrap().to_string();
            out.extend(events);
            if !page["more"].as_bool().unwrap() {
                return (out, cursor);
            }
        }
    }
}

async fn events_of_mail_and_consent(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (automation, code) = e
        .automation(
            "Cart",
            "multiple",
            json!([{"type": "email", "template": "cart"}]),
        )
        .await;
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    e.customer("CUST-2", "bob@example.org", "Bob", true).await;
    let fields = json!([{"name": "linktocart", "type": "URL", "values": ["https://shop.test/cart/1"]}, {"name": "productlist", "type": "PRODUCTLIST", "values": []}]);
    assert_eq!(
        e.trigger(&code, "CUST-1", fields.clone()).await.status(),
        200
    );
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    e.t.clock.advance_ms(3_600_000);
    let targets = e.tracked_targets(&mails[0].2).await;
    assert_eq!(targets, ["https://shop.test/cart/1"]);
    // Bob's address is refused for good by the receiving server.
    e.sink
        .set_behaviour(Behaviour::RejectRcptTo("bob@example.org".into(), 550));
    assert_eq!(e.trigger(&code, "CUST-2", fields).await.status(), 200);
    e.mails().await;

    e.settled_events(5).await;
    let (all, end) = e.events_after("", 2, "").await;
    let kinds: Vec<&str> = all.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    // A refused recipient is a bounce (a message that gives up after retries is "failed").
    assert_eq!(
        kinds,
        ["consent", "consent", "sent", "click", "bounce"],
        "{kinds:?}"
    );
    let consent = &all[0];
    assert_eq!(consent["email"], "ann@example.org");
    assert_eq!(consent["external_id"], "CUST-1");
    assert_eq!(consent["list"], "news");
    assert_eq!(consent["detail"]["action"], "assert");
    let sent = &all[2];
    assert_eq!(sent["automation_id"], automation);
    assert!(sent["detail"]["response"]
        .as_str()
        .unwrap()
        .starts_with("250"));
    let click = &all[3];
    assert_eq!(click["detail"]["url"], "https://shop.test/cart/1");
    assert_eq!(click["detail"]["flagged"], false);
    assert_eq!(click["delivery_id"], sent["delivery_id"]);
    let bounce = &all[4];
    assert_eq!(bounce["email"], "bob@example.org");
    assert_eq!(bounce["detail"]["bounce"], "hard");
    assert!(bounce["detail"]["reason"].as_str().unwrap().contains("550"));
    // Cursors strictly grow; the end cursor gives nothing new; kinds narrow the log.
    let cursors: HashSet<&str> = all.iter().map(|v| v["cursor"].as_str().unwrap()).collect();
    assert_eq!(cursors.len(), all.len());
    assert_eq!(end, all.last().unwrap()["cursor"]);
    let (none, same) = e.events_after(&end, 10, "").await;
    assert!(none.is_empty());
    assert_eq!(same, end);
    let (bounces, _) = e.events_after("", 100, "bounce,failed").await;
    assert_eq!(bounces.len(), 1);

    // Erasure: the events stay (statistics), without the person.
    let ann = e.get("/api/v1/contacts?email=ann@example.org").await;
    let res =
        e.t.client
            .delete(e.t.url(&format!("/api/v1/contacts/{}", ann["id"])))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 204);
    let (after, _) = e.events_after("", 100, "").await;
    assert!(after
        .iter()
        .all(|v| v["email"] != "ann@example.org" && v["external_id"] != "CUST-1"));
    assert_eq!(after.len(), all.len());
    assert_eq!(after[0]["contact_id"], Value::Null);
}

async fn cursor_under_concurrent_events(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    const WRITERS: usize = 4;
    const EACH: usize = 40;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        // A token per writer: each stays within the per-token rate limit.
        let token = e.t.token("shop", &["admin"], &[]).await;
        let (client, url) = (e.t.client.clone(), e.t.url("/api/v1/optins/register"));
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"email": format!("w{w}-{i}@example.org"), "optins": ["news"], "consent": "asserted"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202);
            }
        }));
    }
    // Read while they write, in small pages.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    while !writers.iter().all(|w| w.is_finished()) {
        let (page, next) = e.events_after(&cursor, 7, "").await;
        seen.extend(page);
        cursor = next;
        // Within the reader's rate limit too.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // On PostgreSQL a transaction still running anywhere in the cluster (another test's)
    // holds the newest events back for a moment: read until all have come.
    let mut all = Vec::new();
    for _ in 0..200 {
        let (rest, next) = e.events_after(&cursor, 7, "").await;
        seen.extend(rest);
        cursor = next;
        all = e.events_after("", 10_000, "").await.0;
        if all.len() == WRITERS * EACH && seen.len() == all.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(all.len(), WRITERS * EACH);
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["cursor"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&seen),
        ids(&all),
        "read while writing = read afterwards"
    );
    let emails: HashSet<&str> = seen.iter().map(|v| v["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), WRITERS * EACH);
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let get = |token: String, query: &'static str| {
        let req =
            e.t.client
                .get(e.t.url(&format!("/api/v1/events{query}")))
                .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    for (query, status, code) in [
        ("?since=abc", 422, "invalid_cursor"),
        ("?since=1-", 422, "invalid_cursor"),
        ("?since=-1-5", 422, "invalid_cursor"),
        ("?limit=0", 422, "out_of_range"),
        ("?limit=10001", 422, "out_of_range"),
        ("?limit=ten", 400, "invalid_query"),
        ("?kinds=sent,opened", 422, "unknown_kind"),
    ] {
        let res = get(e.admin.clone(), query).await;
        assert_eq!(res.status(), status, "{query}");
        let body: Value = res.json().await.unwrap();
        let text = body.to_string();
        assert!(text.contains(code), "{query}: {text}");
    }
    let reader = e.t.token("shop", &["contacts:read"], &[]).await;
    assert_eq!(get(reader, "").await.status(), 403);
    let exporter = e.t.token("shop", &["exports:read"], &[]).await;
    assert_eq!(get(exporter, "?kinds=open").await.status(), 200);
}
