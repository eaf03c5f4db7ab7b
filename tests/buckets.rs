//! Buckets of automation steps through the real server, a real HTTP server and a folder
//! source: a batched HTTP step of 2,500 contacts arrives as three calls (two full batches at
//! once, the rest when the bucket's time is up), a failing call is retried; an export step's
//! bucket flushes by count and by time; and the rejections of both steps.

mod support;

use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::automation_env::env;
use support::http_sink::HttpSink;
use support::Backend;

both_backends!(batched_http_step, export_step_bucket, rejections);

const MINUTE: i64 = 60_000;

async fn batched_http_step(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let sink = HttpSink::start().await;
    let (automation, code) = e
        .automation(
            "To the CRM",
            "multiple",
            json!([{"type": "http", "method": "POST", "url": format!("{}/crm/batch", sink.base),
                    "headers": {"X-Api-Key": "secret"}, "batch": {"size": 1000, "minutes": 10}}]),
        )
        .await;
    // 2,500 contacts start the automation through an import.
    let mut csv = String::from("email,order\n");
    for i in 0..2500 {
        csv.push_str(&format!("fan{i}@example.org,T-{i}\n"));
    }
    let res = e
        .upload(csv.as_bytes(), json!({"automation": code, "columns": {"email": "email", "order": "automationfield:order"}}))
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    run_until_idle(&e.t.app).await.unwrap();
    let calls = sink.requests();
    assert_eq!(calls.len(), 2, "two full batches go at once");
    for c in &calls {
        assert_eq!(c.method, "POST");
        assert_eq!(c.headers["x-api-key"], "secret");
        assert_eq!(c.headers["content-type"], "application/json");
        let batch: Vec<Value> = serde_json::from_str(&c.body).unwrap();
        assert_eq!(batch.len(), 1000);
        assert!(batch[0]["email"]
            .as_str()
            .unwrap()
            .ends_with("@example.org"));
        assert!(batch[0]["fields"]["order"]
            .as_str()
            .unwrap()
            .starts_with("T-"));
    }
    // The rest goes when the oldest has waited ten minutes; a 503 is retried.
    sink.answer(503);
    e.t.clock.advance_ms(10 * MINUTE);
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(sink.requests().len(), 3);
    sink.answer(200);
    e.t.clock.advance_ms(MINUTE);
    run_until_idle(&e.t.app).await.unwrap();
    let calls = sink.requests();
    assert_eq!(calls.len(), 4);
    let last: Vec<Value> = serde_json::from_str(&calls[3].body).unwrap();
    assert_eq!(last.len(), 500);
    let mut emails: Vec<String> = calls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .flat_map(|(_, c)| serde_json::from_str::<Vec<Value>>(&c.body).unwrap())
        .map(|v| v["email"].as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 2500, "every contact once");
    // Each participation's log says how its batch went.
    let parts = e
        .get(&format!("/api/v1/automations/{automation}/participations"))
        .await;
    let one = parts.as_array().unwrap()[0]["automationContactId"]
        .as_i64()
        .unwrap();
    let p = e
        .get(&format!("/api/v1/automations/participations/{one}"))
        .await;
    assert_eq!(p["log"][0]["outcome"], "sent", "{p}");
    assert!(
        p["log"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 200"),
        "{p}"
    );
}

async fn export_step_bucket(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    assert_eq!(
        e.put(
            "/api/v1/sources/crm",
            json!({"kind": "folder", "path": "crm"})
        )
        .await
        .status(),
        201
    );
    let res = e
        .post(
            "/api/v1/exports",
            json!({"name": "Cart leavers", "columns": ["email", "first_name"], "destination": "crm",
                   "file_name": "leavers_{yyyy}{MM}{dd}_{run}.csv", "schedule": {"every": "never"}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let export: Value = res.json().await.unwrap();
    assert_eq!(export["next_run_at"], Value::Null, "never runs by itself");
    let (_, code) = e
        .automation(
            "Leavers",
            "multiple",
            json!([{"type": "export", "export": export["id"], "bucket": {"size": 3, "minutes": 60}}]),
        )
        .await;
    for (i, name) in ["Ann", "Bob", "Cid", "Dan"].iter().enumerate() {
        e.customer(
            &format!("C{i}"),
            &format!("{}@example.org", name.to_lowercase()),
            name,
            true,
        )
        .await;
        assert_eq!(
            e.trigger(&code, &format!("C{i}"), json!([])).await.status(),
            200
        );
    }
    run_until_idle(&e.t.app).await.unwrap();
    let org = handbill::services::orgs::org_by_slug(&e.t.app, "shop")
        .await
        .unwrap();
    let dir = handbill::services::sources::folder_of(&e.t.app, org.id, "crm");
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|f| std::fs::read_to_string(f.path()).unwrap())
            .collect();
        v.sort();
        v
    };
    let rows = |f: &str| f.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    let first = files();
    assert_eq!(first.len(), 1);
    assert_eq!(rows(&first[0]).len(), 3, "full at three");
    e.t.clock.advance_ms(59 * MINUTE);
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(files().len(), 1);
    e.t.clock.advance_ms(MINUTE);
    run_until_idle(&e.t.app).await.unwrap();
    let all = files();
    assert_eq!(all.len(), 2, "the rest after an hour");
    let mut everyone: Vec<String> = all.iter().flat_map(|f| rows(f)).collect();
    everyone.sort();
    assert_eq!(
        everyone,
        [
            "ann@example.org,Ann",
            "bob@example.org,Bob",
            "cid@example.org,Cid",
            "dan@example.org,Dan"
        ]
    );
    let runs = e
        .get(&format!("/api/v1/exports/{}/runs", export["id"]))
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    for (steps, field, code) in [
        (
            json!([{"type": "export", "export": 0}]),
            "steps[0].export",
            "required",
        ),
        (
            json!([{"type": "export", "export": 1, "bucket": {"size": 0}}]),
            "steps[0].bucket",
            "out_of_range",
        ),
        (
            json!([{"type": "export", "export": 1, "bucket": {"size": 10, "minutes": 20000}}]),
            "steps[0].bucket",
            "out_of_range",
        ),
        (
            json!([{"type": "http", "method": "POST", "url": "https://crm.test/x", "batch": {"size": 1001}}]),
            "steps[0].batch",
            "out_of_range",
        ),
        (
            json!([{"type": "http", "method": "GET", "url": "https://crm.test/x", "batch": {"size": 10}}]),
            "steps[0].batch",
            "conflict",
        ),
        (
            json!([{"type": "http", "method": "POST", "url": "https://crm.test/x", "fields": {"a": "b"}, "batch": {"size": 10}}]),
            "steps[0].batch",
            "conflict",
        ),
    ] {
        let res = e
            .post(
                "/api/v1/automations",
                json!({"name": "x", "optin": "news", "steps": steps}),
            )
            .await;
        support::assert_field_error(res, field, code, &steps.to_string()).await;
    }
    let res = e
        .post("/api/v1/exports", json!({"name": "x", "columns": ["email"], "schedule": {"every": "never", "weekday": 1}}))
        .await;
    assert_eq!(res.status(), 422);
}
