//! The HTTP skeleton through the real server: health, readiness, metrics, OpenAPI, request ids,
//! problem+json errors, body limits, and token authentication with every way it can fail.

mod support;

use handbill::clock::DAY_MS;
use handbill::services::tokens::{self, TokenRequest};
use handbill::services::users::{self, Role};
use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, TestApp};

both_backends!(
    health_ready_metrics_and_openapi,
    errors_are_problem_documents,
    a_valid_token_authenticates,
    every_bad_token_gets_the_same_401,
    rotation_makes_the_old_token_fail_at_once,
    ip_allowlists_and_trusted_proxies,
    tokens_idle_for_too_long_stop_working,
    request_bodies_are_limited,
    tokens_api_manages_tokens,
);

async fn get(t: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = t.client.get(t.url(path));
    if let Some(tok) = token {
        r = r.bearer_auth(tok);
    }
    r.send().await.unwrap()
}

async fn problem(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    (status, res.json().await.unwrap())
}

async fn health_ready_metrics_and_openapi(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    let res = get(&t, "/healthz", None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("x-request-id").is_some(),
        "every answer carries a request id"
    );
    // A request id given by the caller is kept.
    let res = t
        .client
        .get(t.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = get(&t, "/readyz", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
    let metrics = get(&t, "/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\""),
        "{metrics}"
    );
    let doc: Value = get(&t, "/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/me"] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Not ready when the database is gone.
    t.app.store.close().await;
    let (status, body) = problem(get(&t, "/readyz", None).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "database_unavailable");
}

async fn errors_are_problem_documents(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    let (status, body) = problem(get(&t, "/no/such/route", None).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Not Found");
    let (status, body) = problem(get(&t, "/api/v1/me", None).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
}

async fn a_valid_token_authenticates(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    let tok = t
        .token("paradiso", &["contacts:read", "optin:register"], &[])
        .await;
    assert!(tok.starts_with("hb_api_"));
    let res = get(&t, "/api/v1/me", Some(&tok)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["organization"]["slug"], "paradiso");
    assert_eq!(
        body["token"]["scopes"],
        serde_json::json!(["optin:register", "contacts:read"])
    );
    assert_eq!(body["token"]["prefix"], tok[..11]);
    let row = tokens::find_token(&t.app, &tok).await.unwrap();
    assert_eq!(row.last_used_at, Some(support::T0), "use is recorded");
    let opt = t.token("paradiso", &["optin:register"], &[]).await;
    assert!(
        opt.starts_with("hb_opt_"),
        "opt-in tokens have their own prefix"
    );
    // The scheme is case-insensitive.
    let res = t
        .client
        .get(t.url("/api/v1/me"))
        .header("authorization", format!("bearer {tok}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn every_bad_token_gets_the_same_401(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    let app = &t.app;
    let revoked = t.token("paradiso", &["admin"], &[]).await;
    tokens::revoke_token(app, &revoked).await.unwrap();
    let expiring = tokens::create_token(
        app,
        &TokenRequest {
            org_slug: "paradiso".into(),
            scopes: vec!["admin".into()],
            expires_days: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .secret;
    let elsewhere = t
        .token("paradiso", &["admin"], &["203.0.113.0/24", "2001:db8::/32"])
        .await;
    users::create_user(
        app,
        "paradiso",
        "leaver@paradiso.nl",
        Role::Marketer,
        "a long enough password",
    )
    .await
    .unwrap();
    let leaver = tokens::create_token(
        app,
        &TokenRequest {
            org_slug: "paradiso".into(),
            scopes: vec!["admin".into()],
            user_email: Some("leaver@paradiso.nl".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .secret;
    assert_eq!(get(&t, "/api/v1/me", Some(&leaver)).await.status(), 200);
    assert_eq!(get(&t, "/api/v1/me", Some(&expiring)).await.status(), 200);
    let user = app
        .store
        .user_by_email(1, "leaver@paradiso.nl")
        .await
        .unwrap();
    app.store
        .remove_user(user.org_id, user.id, app.now())
        .await
        .unwrap();
    t.clock.advance_ms(DAY_MS + 1);

    let mut bodies = Vec::new();
    for (what, tok) in [
        (
            "wrong",
            "hb_api_thisisnotavalidtokenatallthisisnotavalidtoken",
        ),
        ("empty", ""),
        ("revoked", revoked.as_str()),
        ("expired", expiring.as_str()),
        ("out of range", elsewhere.as_str()),
        ("user removed", leaver.as_str()),
    ] {
        let res = t
            .client
            .get(t.url("/api/v1/me"))
            .header("authorization", format!("Bearer {tok}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let (_, body) = problem(res).await;
        bodies.push((what, body));
    }
    let basic = t
        .client
        .get(t.url("/api/v1/me"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    bodies.push(("basic", problem(basic).await.1));
    for (what, body) in &bodies {
        assert_eq!(
            body, &bodies[0].1,
            "the answer for a {what} token says nothing more"
        );
    }
}

async fn rotation_makes_the_old_token_fail_at_once(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    let old = tokens::create_token(
        &t.app,
        &TokenRequest {
            org_slug: "paradiso".into(),
            scopes: vec!["optin:register".into()],
            allow_ip: vec!["127.0.0.1".into()],
            expires_days: Some(30),
            name: Some("website".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(get(&t, "/api/v1/me", Some(&old.secret)).await.status(), 200);
    t.clock.advance_days(10);
    let new = tokens::rotate_token(&t.app, &old.token.id.to_string())
        .await
        .unwrap();
    assert_eq!(get(&t, "/api/v1/me", Some(&old.secret)).await.status(), 401);
    assert_eq!(get(&t, "/api/v1/me", Some(&new.secret)).await.status(), 200);
    assert_eq!(new.token.scopes, "optin:register");
    assert_eq!(new.token.allowed_ips, "127.0.0.1/32");
    assert_eq!(new.token.name.as_deref(), Some("website"));
    assert_eq!(
        new.token.expires_at,
        Some(t.app.now() + 30 * DAY_MS),
        "the new token gets the same lifetime"
    );
    let old_row = tokens::find_token(&t.app, &old.secret).await.unwrap();
    assert_eq!(old_row.replaced_by, Some(new.token.id));
    // A revoked token cannot be rotated back to life.
    assert!(tokens::rotate_token(&t.app, &old.secret).await.is_err());
    assert!(tokens::rotate_token(&t.app, "999999").await.is_err());
}

async fn ip_allowlists_and_trusted_proxies(backend: Backend) {
    let Some(t) =
        TestApp::start_with(backend, |c| c.trusted_proxies = vec!["127.0.0.1".into()]).await
    else {
        return;
    };
    t.org("paradiso").await;
    let tok = t.token("paradiso", &["admin"], &["198.51.100.7"]).await;
    // Direct from 127.0.0.1: not on the list.
    assert_eq!(get(&t, "/api/v1/me", Some(&tok)).await.status(), 401);
    // Through the trusted proxy on 127.0.0.1, on behalf of an allowed client.
    let via = |xff: &'static str| {
        t.client
            .get(t.url("/api/v1/me"))
            .bearer_auth(&tok)
            .header("x-forwarded-for", xff)
            .send()
    };
    assert_eq!(via("198.51.100.7").await.unwrap().status(), 200);
    assert_eq!(via("198.51.100.8").await.unwrap().status(), 401);
    // A client cannot smuggle an allowed address in front of its own.
    assert_eq!(
        via("198.51.100.7, 203.0.113.5").await.unwrap().status(),
        401
    );
    // Without a trusted proxy the header is ignored.
    let Some(t2) = TestApp::start(backend).await else {
        return;
    };
    t2.org("paradiso").await;
    let tok2 = t2.token("paradiso", &["admin"], &["198.51.100.7"]).await;
    let res = t2
        .client
        .get(t2.url("/api/v1/me"))
        .bearer_auth(&tok2)
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let local = t2
        .token("paradiso", &["admin"], &["127.0.0.0/8", "::1"])
        .await;
    assert_eq!(get(&t2, "/api/v1/me", Some(&local)).await.status(), 200);
}

async fn tokens_idle_for_too_long_stop_working(backend: Backend) {
    let Some(t) = TestApp::start_with(backend, |c| c.token_idle_days = 30).await else {
        return;
    };
    t.org("paradiso").await;
    let used = t.token("paradiso", &["admin"], &[]).await;
    let unused = t.token("paradiso", &["admin"], &[]).await;
    t.clock.advance_days(20);
    assert_eq!(get(&t, "/api/v1/me", Some(&used)).await.status(), 200);
    t.clock.advance_days(20);
    // 40 days after creation: the token used on day 20 still works, the unused one not.
    assert_eq!(get(&t, "/api/v1/me", Some(&used)).await.status(), 200);
    assert_eq!(get(&t, "/api/v1/me", Some(&unused)).await.status(), 401);
    let row = tokens::find_token(&t.app, &unused).await.unwrap();
    assert_eq!(tokens::token_state(&t.app, &row), tokens::TokenState::Idle);
}

async fn request_bodies_are_limited(backend: Backend) {
    let Some(t) = TestApp::start_with(backend, |c| c.body_limit_bytes = 2048).await else {
        return;
    };
    t.org("paradiso").await;
    let tok = t.token("paradiso", &["admin"], &[]).await;
    let big = serde_json::json!({"scopes": ["admin"], "name": "x".repeat(10_000)});
    let res = t
        .client
        .post(t.url("/api/v1/tokens"))
        .bearer_auth(&tok)
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, body) = problem(res).await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], "body_too_large");
    assert_eq!(
        tokens::list_tokens(&t.app, "paradiso").await.unwrap().len(),
        1,
        "nothing was created"
    );
}

async fn tokens_api_manages_tokens(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    t.org("melkweg").await;
    let admin = t.token("paradiso", &["admin"], &[]).await;
    let reader = t.token("paradiso", &["contacts:read"], &[]).await;
    let other_org = t.token("melkweg", &["admin"], &[]).await;
    let post = |tok: &str, body: Value| {
        t.client
            .post(t.url("/api/v1/tokens"))
            .bearer_auth(tok)
            .json(&body)
            .send()
    };

    let res = post(&admin, serde_json::json!({"scopes": ["optin:register"], "allow_ip": ["192.0.2.0/24"], "expires_days": 90, "name": "website"})).await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("hb_opt_"));
    assert_eq!(
        created["token"]["scopes"],
        serde_json::json!(["optin:register"])
    );
    assert_eq!(
        created["token"]["allow_ip"],
        serde_json::json!(["192.0.2.0/24"])
    );
    assert_eq!(created["token"]["state"], "active");
    let id = created["token"]["id"].as_i64().unwrap();

    let list: Value = t
        .client
        .get(t.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert!(
        !list.to_string().contains(&secret),
        "listings never show secrets"
    );

    // Rejections, each with its code, and nothing written.
    for (body, status, code, field) in [
        (
            serde_json::json!({"scopes": ["contacts:delete"]}),
            422,
            "validation_failed",
            "scope",
        ),
        (
            serde_json::json!({"scopes": []}),
            422,
            "validation_failed",
            "scope",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "allow_ip": ["10.0.0.300"]}),
            422,
            "validation_failed",
            "allow_ip",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "expires_days": 0}),
            422,
            "validation_failed",
            "expires",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "expires_days": 5000}),
            422,
            "validation_failed",
            "expires",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "name": "x".repeat(101)}),
            422,
            "validation_failed",
            "name",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "user_email": "nobody@paradiso.nl"}),
            404,
            "not_found",
            "",
        ),
        (
            serde_json::json!({"scopes": ["admin"], "surprise": true}),
            422,
            "invalid_body",
            "",
        ),
    ] {
        let (s, b) = problem(post(&admin, body.clone()).await.unwrap()).await;
        assert_eq!(
            (s.as_u16(), b["code"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
        if !field.is_empty() {
            assert_eq!(b["errors"][0]["field"], field, "{body}");
        }
    }
    let res = t
        .client
        .post(t.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1["code"], "malformed_json");
    let res = t
        .client
        .post(t.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .body("scopes=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1["code"], "unsupported_media_type");
    let (s, b) = problem(
        post(&reader, serde_json::json!({"scopes": ["admin"]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    assert_eq!(
        tokens::list_tokens(&t.app, "paradiso").await.unwrap().len(),
        3,
        "no rejected request wrote a token"
    );

    // Rotate and revoke, only within the own organisation.
    let (s, _) = problem(
        t.client
            .post(t.url(&format!("/api/v1/tokens/{id}/rotate")))
            .bearer_auth(&other_org)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        s, 404,
        "another organisation's token does not exist for this caller"
    );
    let (s, b) = problem(
        t.client
            .post(t.url("/api/v1/tokens/abc/rotate"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["code"].as_str().unwrap()),
        (404, "not_found")
    );
    let res = t
        .client
        .post(t.url(&format!("/api/v1/tokens/{id}/rotate")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    let new_id = rotated["token"]["id"].as_i64().unwrap();
    let res = t
        .client
        .delete(t.url(&format!("/api/v1/tokens/{new_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (s, b) = problem(
        t.client
            .delete(t.url(&format!("/api/v1/tokens/{new_id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s.as_u16(), b["code"].as_str().unwrap()), (409, "conflict"));
    let states: Vec<String> = tokens::list_tokens(&t.app, "paradiso")
        .await
        .unwrap()
        .iter()
        .map(|r| tokens::token_state(&t.app, r).as_str().to_string())
        .collect();
    assert_eq!(states, ["active", "active", "revoked", "revoked"]);
}
