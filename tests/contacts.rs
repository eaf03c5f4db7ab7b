//! The contacts API on both backends: create, look up, search with paging, update, export
//! (GDPR access) and erase (GDPR erasure, ledger kept without personal data).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Backend, TestApp};

both_backends!(contacts_api);

async fn contacts_api(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    t.org("melkweg").await;
    let w = t
        .token(
            "paradiso",
            &[
                "contacts:read",
                "contacts:write",
                "consent:assert",
                "lists:write",
            ],
            &[],
        )
        .await;
    let r = t.token("paradiso", &["contacts:read"], &[]).await;
    let other = t.token("melkweg", &["admin"], &[]).await;
    let post = |tok: &str, body: Value| {
        t.client
            .post(t.url("/api/v1/contacts"))
            .bearer_auth(tok)
            .json(&body)
            .send()
    };
    let get = |tok: &str, path: String| t.client.get(t.url(&path)).bearer_auth(tok).send();

    let res = post(&w, json!({"email": "Zoe@Example.NL", "first_name": "Zoë", "city": "Amsterdam", "external_id": "CRM-1", "tags": ["vip"], "attributes": {"genre": "jazz"}})).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let zoe: Value = res.json().await.unwrap();
    assert_eq!(zoe["email"], "zoe@example.nl");
    assert_eq!(zoe["first_name"], "Zoë");
    assert_eq!(zoe["tags"], json!(["vip"]));
    assert_eq!(
        zoe["subscriptions"],
        json!([]),
        "creating a contact subscribes it to nothing"
    );
    let id = zoe["id"].as_i64().unwrap();

    for (body, status, field) in [
        (json!({"email": "zoe@example.nl"}), 409, "email"),
        (
            json!({"email": "x@example.nl", "external_id": "CRM-1"}),
            409,
            "external_id",
        ),
        (json!({"email": "nope"}), 422, "email"),
        (
            json!({"email": "x@example.nl", "first_name": "x".repeat(81)}),
            422,
            "first_name",
        ),
        (
            json!({"email": "x@example.nl", "favourite": "x"}),
            422,
            "body",
        ),
    ] {
        let res = post(&w, body.clone()).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{body}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["errors"][0]["field"],
            field,
            "{body}"
        );
    }
    assert_eq!(
        post(&r, json!({"email": "x@example.nl"}))
            .await
            .unwrap()
            .status(),
        403
    );

    // Look-ups, and nothing across organisations.
    let by_email: Value = get(&r, "/api/v1/contacts?email=ZOE%40example.nl".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_email["id"], id);
    let by_ext: Value = get(&r, "/api/v1/contacts?external_id=CRM-1".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_ext["id"], id);
    assert_eq!(
        get(&r, "/api/v1/contacts?email=unknown%40example.nl".into())
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get(&other, format!("/api/v1/contacts/{id}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get(&other, "/api/v1/contacts?email=zoe%40example.nl".into())
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get(&r, "/api/v1/contacts?limit=0".into())
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        get(&r, "/api/v1/contacts?bogus=1".into())
            .await
            .unwrap()
            .status(),
        400
    );

    // A subscription shows with its status.
    t.client
        .post(t.url("/api/v1/lists"))
        .bearer_auth(&w)
        .json(&json!({"key": "box-office", "name": {"en": "Box office"}, "double_opt_in": false}))
        .send()
        .await
        .unwrap();
    let res = t
        .client
        .post(t.url("/api/v1/optins/register"))
        .bearer_auth(&w)
        .json(&json!({"email": "zoe@example.nl", "optins": ["box-office"], "consent": "asserted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let shown: Value = get(&r, format!("/api/v1/contacts/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["subscriptions"][0]["list"], "box-office");
    assert_eq!(shown["subscriptions"][0]["status"], "subscribed");

    // Search with paging.
    for n in 0..4 {
        post(
            &w,
            json!({"email": format!("fan{n}@example.nl"), "last_name": "Fan"}),
        )
        .await
        .unwrap();
    }
    let page1: Value = get(&r, "/api/v1/contacts?q=fan&limit=3".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page1["items"].as_array().unwrap().len(), 3);
    let after = page1["next_after"].as_i64().unwrap();
    let page2: Value = get(&r, format!("/api/v1/contacts?q=fan&limit=3&after={after}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2["next_after"].is_null());
    let none: Value = get(&r, "/api/v1/contacts?q=100%25".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]), "LIKE wildcards in q are literal");

    // Updates: only the named fields change; a bad one changes nothing.
    let patch = |body: Value| {
        t.client
            .patch(t.url(&format!("/api/v1/contacts/{id}")))
            .bearer_auth(&w)
            .json(&body)
            .send()
    };
    let res = patch(
        json!({"first_name": "Zoe", "city": null, "score": 5, "email": "zoe.new@example.nl"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(
        (
            updated["first_name"].as_str(),
            updated["city"].as_str(),
            updated["score"].as_i64()
        ),
        (Some("Zoe"), None, Some(5))
    );
    assert_eq!(updated["email"], "zoe.new@example.nl");
    assert_eq!(updated["external_id"], "CRM-1", "untouched fields stay");
    let res = patch(json!({"first_name": "Z", "language": "klingon"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = patch(json!({"email": "fan1@example.nl"})).await.unwrap();
    assert_eq!(res.status(), 409);
    let same: Value = get(&r, format!("/api/v1/contacts/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (same["first_name"].as_str(), same["email"].as_str()),
        (Some("Zoe"), Some("zoe.new@example.nl"))
    );

    // Export (GDPR access) holds the consent proof; erase removes the person, keeps the proof.
    let export: Value = get(&r, format!("/api/v1/contacts/{id}/export"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(export["contact"]["id"], id);
    assert_eq!(export["consent_ledger"][0]["action"], "assert");
    assert_eq!(
        t.client
            .delete(t.url(&format!("/api/v1/contacts/{id}")))
            .bearer_auth(&r)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.client
            .delete(t.url(&format!("/api/v1/contacts/{id}")))
            .bearer_auth(&w)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        get(&r, format!("/api/v1/contacts/{id}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        t.client
            .delete(t.url(&format!("/api/v1/contacts/{id}")))
            .bearer_auth(&w)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    let trail = t.app.store.ledger_for_contact(org.id, id).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        (trail[0].action.as_str(), trail[0].email.as_deref()),
        ("assert", None)
    );
    assert_eq!(
        handbill::services::consent::verify(&t.app, "paradiso")
            .await
            .unwrap()
            .first_broken,
        None
    );
}
