//! The admin UI over HTTP on both backends: sign-in with its CSRF cookie and rate limit,
//! sessions (expiry, sign-out, password change, removed users, lowered roles), the security
//! headers, CSRF refusals, roles, and two organisations that never see each other's data.
//! (The same pages in a real browser: tests/browser/.)

mod support;

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use support::admin_browser::{attr_value, id_in, user, Browser, PASSWORD};
use support::{Backend, TestApp};

use handbill::services::users::Role;

both_backends!(
    sign_in_and_sessions,
    csrf_and_headers,
    roles_take_effect_at_once,
    organisations_are_apart,
    forms_reject_bad_input,
    sign_in_is_rate_limited,
);

async fn sign_in_and_sessions(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    let mut b = Browser::new(&t);

    let (status, body) = b.get("/admin/contacts?q=x").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let res = b.client.get(t.url("/admin/contacts")).send().await.unwrap();
    assert_eq!(
        res.headers()[LOCATION],
        "/admin/login?next=%2Fadmin%2Fcontacts"
    );

    // Wrong password and unknown address: the same answer.
    let (status, _, wrong) = b.sign_in("anna@paradiso.test", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, unknown) = b.sign_in("nobody@paradiso.test", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(wrong.contains("The e-mail address or password is not right."));
    assert_eq!(
        wrong.replace("not the password", ""),
        unknown
            .replace("nobody@paradiso.test", "anna@paradiso.test")
            .replace("not the password", ""),
        "a wrong password and an unknown address look the same"
    );

    // Sign in: a Secure, HttpOnly, SameSite=Strict session cookie and back to `next`.
    b.get("/admin/login?next=/admin/contacts").await;
    let res = b
        .client
        .post(t.url("/admin/login"))
        .header("cookie", b.cookie_header())
        .form(&[
            ("csrf", b.csrf.as_str()),
            ("next", "/admin/contacts"),
            ("email", "Anna@Paradiso.test"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/admin/contacts");
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("handbill_admin="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    b.keep_cookies(&res);
    let (status, body) = b.get("/admin/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Dashboard") && body.contains("anna@paradiso.test"));

    // `next` never leads off the site.
    let mut elsewhere = Browser::new(&t);
    elsewhere.get("/admin/login").await;
    let (_, location, _) = elsewhere
        .post(
            "/admin/login",
            &[
                ("email", "anna@paradiso.test"),
                ("password", PASSWORD),
                ("next", "//evil.test/x"),
            ],
        )
        .await;
    assert_eq!(location, "/admin/");

    // Dutch for a Dutch user, with dates in the chosen time zone.
    let (status, _, _) = b
        .post(
            "/admin/account/preferences",
            &[("language", "nl"), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location, _) = b
        .post(
            "/admin/account/preferences",
            &[("language", "nl"), ("time_zone", "America/New_York")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/account?notice=saved")
    );
    let (_, body) = b.get("/admin/users").await;
    assert!(body.contains("Gebruikers"), "{body}");
    assert!(
        body.contains("2025-12-31 19:00"),
        "created at T0 in New York time: {body}"
    );

    // A second session; a password change ends it but keeps this one.
    let mut other = Browser::new(&t);
    assert_eq!(
        other.sign_in("anna@paradiso.test", PASSWORD).await.0,
        StatusCode::SEE_OTHER
    );
    let (status, _, _) = b
        .post(
            "/admin/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "another long password"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = b
        .post(
            "/admin/account/password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = b
        .post(
            "/admin/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "another long password"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/admin/").await.0, StatusCode::OK);
    assert_eq!(other.get("/admin/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&t)
            .sign_in("anna@paradiso.test", PASSWORD)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Idle sessions end after 12 hours.
    t.clock.advance_ms(11 * 3600 * 1000);
    assert_eq!(b.get("/admin/").await.0, StatusCode::OK);
    t.clock.advance_ms(13 * 3600 * 1000);
    assert_eq!(b.get("/admin/").await.0, StatusCode::SEE_OTHER);

    // Sign-out ends the session.
    let mut c = Browser::new(&t);
    c.sign_in("anna@paradiso.test", "another long password")
        .await;
    c.get("/admin/").await;
    let saved = c.cookies.clone();
    let (status, location, _) = c.post("/admin/logout", &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    c.cookies = saved;
    assert_eq!(c.get("/admin/").await.0, StatusCode::SEE_OTHER);
}

async fn csrf_and_headers(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    let mut b = Browser::new(&t);

    // The sign-in form needs its cookie's token.
    b.get("/admin/login").await;
    let (status, _, _) = b
        .post_raw(
            "/admin/login",
            format!(
                "email=anna%40paradiso.test&password={}",
                PASSWORD.replace(' ', "+")
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    let (_, page) = b.get("/admin/optins/new").await;
    assert!(page.contains("name=\"csrf\""));

    // Without the token, with a wrong one, or from another site: refused, nothing written.
    for (body, origin) in [
        ("key=news&name_en=News".to_string(), None),
        ("csrf=forged&key=news&name_en=News".to_string(), None),
        (
            format!("csrf={}&key=news&name_en=News", b.csrf),
            Some("https://evil.test"),
        ),
    ] {
        let (status, _, page) = b.post_raw("/admin/optins", body, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("Form expired"));
    }
    assert!(handbill::services::lists::all(&t.app, 1)
        .await
        .unwrap()
        .is_empty());
    let (status, location, _) = b
        .post(
            "/admin/optins",
            &[
                ("key", "news"),
                ("name_en", "News"),
                ("double_opt_in", "on"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/optins/news?notice=created")
    );

    // Security headers on every admin page.
    let res = t.client.get(t.url("/admin/login")).send().await.unwrap();
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    // Assets: hashed names, cached for a year; unknown names are 404.
    let body = res.text().await.unwrap();
    let css = attr_value(&body, "rel=\"stylesheet\" href=\"").unwrap();
    assert!(css.starts_with("/admin/assets/admin-") && css.ends_with(".css"));
    let res = t.client.get(t.url(&css)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let res = t
        .client
        .get(t.url("/admin/assets/admin-000.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.get("/admin/no-such-page").await.0, StatusCode::NOT_FOUND);
}

async fn roles_take_effect_at_once(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    user(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    let mut admin = Browser::new(&t);
    admin.sign_in("anna@paradiso.test", PASSWORD).await;
    let mut m = Browser::new(&t);
    m.sign_in("mark@paradiso.test", PASSWORD).await;

    // A marketer may not see or use the tokens and users pages.
    let (status, body) = m.get("/admin/tokens").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("API tokens</h1>"));
    m.get("/admin/").await;
    let (status, _, _) = m.post("/admin/tokens", &[("scopes", "admin")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(m.get("/admin/users").await.0, StatusCode::FORBIDDEN);
    assert!(
        !m.get("/admin/").await.1.contains("/admin/tokens"),
        "no link either"
    );
    assert!(handbill::services::tokens::list_tokens(&t.app, "paradiso")
        .await
        .unwrap()
        .is_empty());

    // The admin creates a token (secret shown once) and rotates it: the old secret fails at once.
    admin.get("/admin/tokens").await;
    let (status, _, page) = admin
        .post(
            "/admin/tokens",
            &[
                ("name", "website"),
                ("scopes", "contacts:read"),
                ("scopes", "lists:read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let secret = attr_value(&page, "<p class=\"secret\" id=\"secret\">").unwrap_or_default();
    let secret = page
        .split("id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or(&secret)
        .to_string();
    let me = |s: String| {
        let url = t.url("/api/v1/lists");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(s)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(secret.clone()).await, StatusCode::OK);
    let id = handbill::services::tokens::list_tokens(&t.app, "paradiso")
        .await
        .unwrap()[0]
        .id;
    let (status, _, page) = admin.post(&format!("/admin/tokens/{id}/rotate"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let rotated = page
        .split("id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    assert_eq!(me(secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(rotated).await, StatusCode::OK);
    let (status, _, page) = admin.post("/admin/tokens", &[("scopes", "no:such")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");

    // Raising and lowering a role, and removing a user, show at the next request.
    let mark = handbill::store::Store::users(&t.app.store, 1)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "mark@paradiso.test")
        .unwrap()
        .id;
    admin.get("/admin/users").await;
    admin
        .post(&format!("/admin/users/{mark}/role"), &[("role", "admin")])
        .await;
    assert_eq!(m.get("/admin/tokens").await.0, StatusCode::OK);
    admin
        .post(
            &format!("/admin/users/{mark}/role"),
            &[("role", "marketer")],
        )
        .await;
    assert_eq!(m.get("/admin/tokens").await.0, StatusCode::FORBIDDEN);
    // The last admin cannot lower or remove itself.
    let anna = admin
        .t
        .app
        .store
        .users(1)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "anna@paradiso.test")
        .unwrap()
        .id;
    let (status, _, _) = admin
        .post(
            &format!("/admin/users/{anna}/role"),
            &[("role", "marketer")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location, _) = admin
        .post(&format!("/admin/users/{mark}/remove"), &[])
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/users?notice=removed")
    );
    assert_eq!(m.get("/admin/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&t)
            .sign_in("mark@paradiso.test", PASSWORD)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn organisations_are_apart(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    t.org("melkweg").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    user(&t, "melkweg", "mo@melkweg.test", Role::Admin).await;
    let write = t.token("paradiso", &["contacts:write"], &[]).await;
    let res = t
        .client
        .post(t.url("/api/v1/contacts"))
        .bearer_auth(&write)
        .json(&serde_json::json!({"email": "fan@example.nl", "first_name": "Fan"}))
        .send()
        .await
        .unwrap();
    let contact: serde_json::Value = res.json().await.unwrap();
    let cid = contact["id"].as_i64().unwrap();
    let token_id = handbill::services::tokens::list_tokens(&t.app, "paradiso")
        .await
        .unwrap()[0]
        .id;

    let mut a = Browser::new(&t);
    a.sign_in("anna@paradiso.test", PASSWORD).await;
    let (status, body) = a.get("/admin/contacts?q=fan").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("fan@example.nl"));
    let (status, body) = a.get(&format!("/admin/contacts/{cid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Fan"));
    for q in ["FAN@EXAMPLE", "fan@example.nl", "an@"] {
        let (_, body) = a.get(&format!("/admin/contacts?q={q}")).await;
        assert_eq!(
            body.contains("fan@example.nl"),
            q != "an@",
            "an address search matches from the start: {q}"
        );
    }

    let mut m = Browser::new(&t);
    m.sign_in("mo@melkweg.test", PASSWORD).await;
    let (_, body) = m.get("/admin/contacts?q=fan").await;
    assert!(!body.contains("fan@example.nl"));
    assert_eq!(
        m.get(&format!("/admin/contacts/{cid}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        m.get(&format!("/admin/contacts/{cid}/export")).await.0,
        StatusCode::NOT_FOUND
    );
    m.get("/admin/tokens").await;
    for path in [
        format!("/admin/tokens/{token_id}/rotate"),
        format!("/admin/tokens/{token_id}/revoke"),
        format!("/admin/contacts/{cid}/erase"),
    ] {
        assert_eq!(m.post(&path, &[]).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = (a.get(&format!("/admin/contacts/{cid}")).await.0, ());
    assert_eq!(status, StatusCode::OK, "still there");

    // The owner exports and erases it (with a confirmation step).
    let (status, body) = a.get(&format!("/admin/contacts/{cid}/export")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"consent_ledger\""));
    let (status, body) = a.get(&format!("/admin/contacts/{cid}/erase")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Erase for good"));
    let (status, location, _) = a.post(&format!("/admin/contacts/{cid}/erase"), &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/contacts?notice=erased")
    );
}

async fn forms_reject_bad_input(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    b.get("/admin/").await;

    // Opt-ins: a bad key, no name, a name too long: the form again with the reason; nothing saved.
    let long = "x".repeat(201);
    for (fields, what) in [
        (vec![("key", "Not A Key"), ("name_en", "News")], "key"),
        (vec![("key", "news")], "name"),
        (vec![("key", "news"), ("name_en", long.as_str())], "name"),
    ] {
        let (status, _, page) = b.post("/admin/optins", &fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {page}");
        assert!(page.contains("class=\"errors\""), "{page}");
    }
    assert!(handbill::services::lists::all(&t.app, 1)
        .await
        .unwrap()
        .is_empty());
    b.post("/admin/optins", &[("key", "news"), ("name_en", "News")])
        .await;
    let (status, _, _) = b
        .post("/admin/optins", &[("key", "news"), ("name_en", "News")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the key exists");

    // Contacts: a bad address or language is refused and changes nothing.
    let write = t.token("paradiso", &["contacts:write"], &[]).await;
    let c: serde_json::Value = t
        .client
        .post(t.url("/api/v1/contacts"))
        .bearer_auth(&write)
        .json(&serde_json::json!({"email": "fan@example.nl", "city": "Utrecht"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    for fields in [
        vec![("email", "not an address"), ("city", "Delft")],
        vec![
            ("email", "fan@example.nl"),
            ("city", "Delft"),
            ("language", "xx"),
        ],
    ] {
        let (status, _, page) = b.post(&format!("/admin/contacts/{id}"), &fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    }
    let (_, page) = b.get(&format!("/admin/contacts/{id}")).await;
    assert!(page.contains("value=\"Utrecht\""));
    let (status, _, _) = b
        .post(
            &format!("/admin/contacts/{id}"),
            &[("email", "fan@example.nl"), ("city", "Delft")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(b
        .get(&format!("/admin/contacts/{id}"))
        .await
        .1
        .contains("value=\"Delft\""));
    assert_eq!(
        b.get("/admin/contacts?after=x").await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = b
        .get(&format!("/admin/contacts?q={}", "a".repeat(300)))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an over-long search shows an error, not a crash"
    );

    // Users: a short password or a bad role.
    for fields in [
        vec![
            ("email", "x@paradiso.test"),
            ("role", "marketer"),
            ("password", "short"),
        ],
        vec![
            ("email", "x@paradiso.test"),
            ("role", "owner"),
            ("password", PASSWORD),
        ],
        vec![
            ("email", "nope"),
            ("role", "marketer"),
            ("password", PASSWORD),
        ],
    ] {
        let (status, _, page) = b.post("/admin/users", &fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    }
    assert_eq!(t.app.store.users(1).await.unwrap().len(), 1);
}

async fn sign_in_is_rate_limited(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    let mut b = Browser::new(&t);
    for _ in 0..10 {
        assert_eq!(
            b.sign_in("anna@paradiso.test", "guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _, page) = b.sign_in("anna@paradiso.test", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(page.contains("Too many attempts"));
    // Another address from the same client is not held up by it.
    user(&t, "paradiso", "bo@paradiso.test", Role::Marketer).await;
    assert_eq!(
        b.sign_in("bo@paradiso.test", PASSWORD).await.0,
        StatusCode::SEE_OTHER
    );
}

both_backends!(import_with_column_mapping);

async fn import_with_column_mapping(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    t.org("melkweg").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Marketer).await;
    user(&t, "melkweg", "mo@melkweg.test", Role::Admin).await;
    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    b.get("/admin/optins/new").await;
    // A single opt-in: an asserted consent may subscribe to it.
    b.post("/admin/optins", &[("key", "news"), ("name_en", "News")])
        .await;
    b.get("/admin/imports").await;

    let csv = "E-mail;Voornaam;Stad;Nieuwsbrief;Genre\nzoe@example.nl;Zoë;Utrecht;ja;jazz\nbad-address;Bram;Delft;ja;rock\n";
    let upload = |csrf: String| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("fans.csv"),
        );
        b.client
            .post(t.url(&format!("/admin/imports/upload?csrf={csrf}")))
            .header("cookie", b.cookie_header())
            .multipart(form)
            .send()
    };
    let res = upload("forged".into()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = upload(b.csrf.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let map_url = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(map_url.starts_with("/admin/imports/new/") && map_url.ends_with("?name=fans.csv"));
    let (status, page) = b.get(&map_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<td>Zoë</td>"), "the first rows are shown");
    assert!(
        page.contains("<option value=\"email\" selected>"),
        "E-mail guessed"
    );
    assert!(
        page.contains("<option value=\"first_name\" selected>"),
        "Voornaam guessed"
    );
    let action = map_url.split('?').next().unwrap().to_string();

    // The other organisation cannot see or use the file.
    let mut m = Browser::new(&t);
    m.sign_in("mo@melkweg.test", PASSWORD).await;
    assert_eq!(m.get(&map_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        m.get("/admin/imports/new/zz").await.0,
        StatusCode::NOT_FOUND
    );

    // A subscription column without a consent basis: refused, the file stays for a second try.
    let columns = [
        ("col_0", "email"),
        ("col_1", "first_name"),
        ("col_2", "city"),
        ("col_3", "optin:news"),
        ("col_4", "attribute"),
        ("name", "fans.csv"),
        ("submitted", "1"),
    ];
    let (status, _, page) = b.post(&action, &columns).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("consent"), "{page}");
    assert!(
        page.contains("<option value=\"optin:news\" selected>"),
        "choices kept"
    );
    let mut with_consent = columns.to_vec();
    with_consent.extend([
        ("consent", "asserted"),
        ("note", "ticket shop checkbox, 2025"),
    ]);
    let (status, location, page) = b.post(&action, &with_consent).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let id: i64 = id_in(&location, "/admin/imports/");
    let (_, page) = b.get(&location).await;
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "a queued import refreshes itself"
    );
    while handbill::services::imports::run_next(&t.app).await.unwrap() {}
    let (_, page) = b.get(&format!("/admin/imports/{id}")).await;
    assert!(!page.contains("http-equiv=\"refresh\""));
    assert!(page.contains("badge done"), "{page}");
    assert!(
        page.contains("bad-address") || page.contains("Line"),
        "{page}"
    );
    let (status, report) = b.get(&format!("/admin/imports/{id}/errors.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report.starts_with("line,column,code,message\n3,"),
        "{report}"
    );
    assert_eq!(
        m.get(&format!("/admin/imports/{id}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The dashboard's growth chart and its numbers show the new subscriber.
    let (_, page) = b.get("/admin/").await;
    assert!(
        page.contains("<svg role=\"img\" aria-label=\"Subscriptions per day\""),
        "{page}"
    );
    assert!(
        page.contains(
            "<tr><td>2026-01-01</td><td class=\"num\">1</td><td class=\"num\">0</td></tr>"
        ),
        "{page}"
    );

    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    let zoe = t
        .app
        .store
        .contact_by_email(
            org.id,
            &handbill::domain::EmailAddress::parse("zoe@example.nl").unwrap(),
        )
        .await
        .unwrap();
    let view = handbill::services::contacts::view(&t.app, &zoe)
        .await
        .unwrap();
    assert_eq!(view.fields.city.as_deref(), Some("Utrecht"));
    assert_eq!(view.fields.attributes["genre"], "jazz");
    assert_eq!(view.subscriptions[0].status, "subscribed");
    let ledger = t
        .app
        .store
        .ledger_for_contact(org.id, zoe.id)
        .await
        .unwrap();
    assert!(
        ledger.iter().any(
            |e| e.context.as_deref().unwrap_or("").contains("ticket shop")
                || e.text_shown
                    .as_deref()
                    .unwrap_or("")
                    .contains("ticket shop")
        ),
        "{ledger:?}"
    );
}

both_backends!(mailing_pages);

async fn mailing_pages(backend: Backend) {
    let sink = support::smtp_sink::SmtpSink::start().await;
    let url = sink.url();
    let Some(t) = TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await else {
        return;
    };
    t.org("paradiso").await;
    handbill::services::orgs::set_sender(&t.app, "paradiso", "news@paradiso.test", None)
        .await
        .unwrap();
    user(&t, "paradiso", "anna@paradiso.test", Role::Marketer).await;
    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    b.get("/admin/optins/new").await;
    b.post("/admin/optins", &[("key", "news"), ("name_en", "News")])
        .await;

    // The live count asks for an opt-in before it counts.
    b.get("/admin/mailings/new").await;
    let (_, _, count) = b.post("/admin/segments/count", &[]).await;
    assert_eq!(count, "choose at least one opt-in");
    let (_, _, count) = b.post("/admin/segments/count", &[("lists", "news")]).await;
    assert_eq!(count, "0 contacts");

    // Bad input: the form again with the reasons and what was typed; nothing saved.
    b.get("/admin/mailings/new").await;
    let (status, _, page) = b
        .post(
            "/admin/mailings",
            &[
                ("name", "Dec"),
                ("subject", "Hi"),
                ("html", "<p>{{ oops </p>"),
                ("lists", "news"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("line 1"),
        "a template error names its place: {page}"
    );
    assert!(page.contains("value=\"Dec\""));
    let (status, _, page) = b
        .post(
            "/admin/mailings",
            &[
                ("name", "Dec"),
                ("subject", "Hi"),
                ("html", "<p>x</p>"),
                ("lists", "nope"),
                ("field_0", "bogus"),
                ("op_0", "eq"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("lists") && page.contains("segment"), "{page}");
    assert!(handbill::services::mailings::list(&t.app, 1, None, 10, 0)
        .await
        .unwrap()
        .is_empty());

    let (status, location, page) = b
        .post(
            "/admin/mailings",
            &[
                ("name", "December"),
                ("subject", "Hello {{ contact.first_name }}"),
                ("html", "<p>Hello {{ contact.first_name }}</p><p><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></p>"),
                ("lists", "news"),
                ("track_opens", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let id: i64 = id_in(&location, "/admin/mailings/");
    let (status, page) = b.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("badge draft"));

    // Editing the draft: the form comes back filled in; a bad change is refused and kept.
    let (status, page) = b.get(&format!("/admin/mailings/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("value=\"December\"") && page.contains("value=\"news\" checked"),
        "{page}"
    );
    let edit = format!("/admin/mailings/{id}/edit");
    let (status, _, page) = b
        .post(
            &edit,
            &[
                ("name", "December"),
                ("subject", ""),
                ("html", "<p>x</p>"),
                ("lists", "news"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, location, _) = b
        .post(
            &edit,
            &[
                ("name", "December"),
                ("subject", "Hello again {{ contact.first_name }}"),
                ("html", "<p>Hello {{ contact.first_name }}</p><p><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></p>"),
                ("lists", "news"),
                ("field_0", "city"),
                ("op_0", "eq"),
                ("value_0", "Utrecht"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("/admin/mailings/{id}?notice=saved").as_str()
        )
    );
    let (_, page) = b.get(&edit).await;
    assert!(
        page.contains("Hello again") && page.contains("value=\"Utrecht\""),
        "{page}"
    );

    // The preview: the mail's own HTML in a sandbox that may be framed by our pages only.
    let res = b
        .client
        .get(t.url(&format!("/admin/mailings/{id}/preview")))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("sandbox") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-frame-options"], "SAMEORIGIN");
    assert!(res.text().await.unwrap().contains("Hello Alex"));

    // Test send: bad addresses refused; good ones reach the SMTP server.
    let (status, _, _) = b
        .post(
            &format!("/admin/mailings/{id}/test"),
            &[("to", "not-an-address")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location, _) = b
        .post(
            &format!("/admin/mailings/{id}/test"),
            &[("to", "qa@paradiso.test")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("/admin/mailings/{id}?notice=test_sent").as_str()
        )
    );
    handbill::workers::run_until_idle(&t.app).await.unwrap();
    assert_eq!(sink.received().len(), 1, "the test mail arrived");

    // Scheduling in the past is refused; the confirmation states the audience; unknown actions 404.
    let (status, _, _) = b
        .post(
            &format!("/admin/mailings/{id}/schedule"),
            &[("at", "2020-01-01T10:00")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = b.post(&format!("/admin/mailings/{id}/explode"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page) = b.get(&format!("/admin/mailings/{id}/send")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<strong>0</strong>"),
        "nobody subscribed yet: {page}"
    );
    let (status, _, _) = b.post(&format!("/admin/mailings/{id}/pause"), &[]).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a draft cannot pause"
    );
    let (status, location, _) = b.post(&format!("/admin/mailings/{id}/send"), &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("/admin/mailings/{id}?notice=sent").as_str()
        )
    );
    let (status, _, _) = b
        .post(
            &format!("/admin/mailings/{id}/edit"),
            &[
                ("name", "Late"),
                ("subject", "x"),
                ("html", "<p>x</p>"),
                ("lists", "news"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a sent mailing cannot change"
    );
    let (status, page) = b.get(&format!("/admin/mailings/{id}/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<svg role=\"img\""), "the chart: {page}");
    let (_, page) = b.get("/admin/mailings?status=bogus").await;
    assert!(page.contains("class=\"errors\""));
}

both_backends!(automation_pages);

async fn automation_pages(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    t.org("melkweg").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Marketer).await;
    user(&t, "melkweg", "mo@melkweg.test", Role::Admin).await;
    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    b.get("/admin/automations").await;

    let (status, _, page) = b
        .post(
            "/admin/automations",
            &[("name", ""), ("trigger", "external")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, _, page) = b
        .post(
            "/admin/automations",
            &[
                ("name", "Welcome"),
                ("trigger", "tag_added"),
                ("trigger_tag", ""),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a tag trigger needs its tag: {page}"
    );
    let (status, location, page) = b
        .post(
            "/admin/automations",
            &[
                ("name", "Welcome"),
                ("trigger", "external"),
                ("reentry", "single"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let path = location.split('?').next().unwrap().to_string();
    let id: i64 = path
        .trim_start_matches("/admin/automations/")
        .parse()
        .unwrap();
    let (_, page) = b.get("/admin/automations").await;
    let code = page
        .split("<code id=\"code-")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 24, "{code}");

    // The step editor: add, move, remove; a bad step or bad JSON is refused with the reason.
    let steps = format!("{path}/steps");
    b.post(&steps, &[("op", "add"), ("type", "wait"), ("days", "2")])
        .await;
    b.post(
        &steps,
        &[("op", "add"), ("type", "tag"), ("add", "welcomed")],
    )
    .await;
    b.post(&steps, &[("op", "add"), ("type", "score"), ("change", "5")])
        .await;
    let (status, _, _) = b.post(&steps, &[("op", "up"), ("index", "2")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    b.post(&steps, &[("op", "remove"), ("index", "0")]).await;
    let a = handbill::services::automations::get(
        &t.app,
        &handbill::services::tokens::Principal::internal(
            1,
            handbill::domain::Scope::AutomationsRead,
        ),
        id,
    )
    .await
    .unwrap();
    assert_eq!(
        a.steps,
        serde_json::json!([{"type": "score", "change": 5}, {"type": "tag", "add": ["welcomed"], "remove": []}, {"type": "end"}]),
        "added steps go before the end"
    );
    let (status, _, page) = b
        .post(&steps, &[("op", "add"), ("type", "wait"), ("at", "25:99")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, _, page) = b
        .post(&format!("{path}/json"), &[("steps", "[{\"type\": ")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("not JSON") && page.contains("[{&#34;type&#34;: "),
        "the text is kept: {page}"
    );
    let (status, _, _) = b
        .post(
            &format!("{path}/json"),
            &[("steps", "[{\"type\": \"teleport\"}]")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Publish; a participation shows up and can be stopped.
    let (status, location, _) = b.post(&format!("{path}/publish"), &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("{path}?notice=published").as_str()
        )
    );
    let write = t
        .token("paradiso", &["contacts:write", "automations:trigger"], &[])
        .await;
    t.client
        .post(t.url("/api/v1/contacts"))
        .bearer_auth(&write)
        .json(&serde_json::json!({"email": "fan@example.nl", "external_id": "F1"}))
        .send()
        .await
        .unwrap();
    let started: serde_json::Value = handbill::services::automations::trigger(
        &t.app,
        &handbill::services::tokens::Principal::internal(
            1,
            handbill::domain::Scope::AutomationsTrigger,
        ),
        &code,
        &serde_json::from_value(serde_json::json!({"externalContactId": "F1"})).unwrap(),
        None,
    )
    .await
    .unwrap();
    let pid = started["publishedAutomationResults"][0]["automationContactId"]
        .as_i64()
        .unwrap();
    let (_, page) = b.get(&path).await;
    assert!(
        page.contains(&format!("/participations/{pid}/stop")),
        "{page}"
    );

    // The other organisation sees none of it.
    let mut m = Browser::new(&t);
    m.sign_in("mo@melkweg.test", PASSWORD).await;
    assert_eq!(m.get(&path).await.0, StatusCode::NOT_FOUND);
    m.get("/admin/").await;
    assert_eq!(
        m.post(&format!("{path}/publish"), &[]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        m.post(&format!("{path}/participations/{pid}/stop"), &[])
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, location, _) = b
        .post(&format!("{path}/participations/{pid}/stop"), &[])
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("{path}?notice=stopped").as_str()
        )
    );
    let (status, _, _) = b
        .post(&format!("{path}/participations/{pid}/stop"), &[])
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no running participation any more"
    );
}

both_backends!(optin_mails);

async fn optin_mails(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Marketer).await;
    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    b.get("/admin/optins/new").await;
    b.post(
        "/admin/optins",
        &[
            ("key", "news"),
            ("name_nl", "Nieuws"),
            ("double_opt_in", "on"),
        ],
    )
    .await;

    let (status, page) = b.get("/admin/optins/news/mails/verification/nl").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Bevestig je aanmelding"),
        "the built-in text: {page}"
    );
    let res = b
        .client
        .get(t.url("/admin/optins/news/mails/verification/nl/preview"))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    let preview = res.text().await.unwrap();
    assert!(
        preview.contains("Nieuws") && preview.contains("confirm&#x2f;PREVIEW"),
        "{preview}"
    );
    for path in [
        "/admin/optins/news/mails/goodbye/nl",
        "/admin/optins/news/mails/welcome/xx",
        "/admin/optins/nope/mails/welcome/nl",
    ] {
        assert_eq!(b.get(path).await.0, StatusCode::NOT_FOUND, "{path}");
    }

    let welcome = "/admin/optins/news/mails/welcome/nl";
    let (status, _, page) = b
        .post(welcome, &[("subject", "Welkom"), ("html", "<p>Hallo</p>")])
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a welcome mail needs its unsubscribe link"
    );
    assert!(
        page.contains("unsubscribe_url") && page.contains("&#60;p&#62;Hallo&#60;/p&#62;"),
        "{page}"
    );
    let (status, _, page) = b
        .post(
            welcome,
            &[("subject", "Welkom"), ("html", "<p>{{ oops </p>")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("line 1"), "{page}");
    let (status, location, _) = b
        .post(
            welcome,
            &[("subject", "Welkom bij {{ list }}"), ("html", "<p>Hoi {{ contact.first_name }}</p><a href=\"{{ unsubscribe_url }}\">Afmelden</a>")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/admin/optins/news/mails/welcome/nl?notice=saved"
        )
    );
    let res = b
        .client
        .get(t.url("/admin/optins/news/mails/welcome/nl/preview"))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    let preview = res.text().await.unwrap();
    assert!(
        preview.contains("Welkom bij Nieuws") && preview.contains("Hoi Alex"),
        "{preview}"
    );
}

both_backends!(settings_page);

async fn settings_page(backend: Backend) {
    let sink = support::smtp_sink::SmtpSink::start().await;
    let dead = support::smtp_sink::dead_address().await;
    let (good, bad) = (sink.url(), format!("smtp://{dead}?tls=none"));
    let Some(t) = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(good);
        c.smtp_relays = vec![handbill::config::RelayConfig {
            url: bad,
            pool_size: None,
            rate_per_second: None,
        }];
        c.smtp_timeout_secs = 2;
    })
    .await
    else {
        return;
    };
    t.org("paradiso").await;
    user(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;
    user(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    let mut m = Browser::new(&t);
    m.sign_in("mark@paradiso.test", PASSWORD).await;
    assert_eq!(m.get("/admin/settings").await.0, StatusCode::FORBIDDEN);
    m.get("/admin/").await;
    let (status, _, _) = m
        .post(
            "/admin/settings/sender",
            &[("sender_email", "x@paradiso.test")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut b = Browser::new(&t);
    b.sign_in("anna@paradiso.test", PASSWORD).await;
    let (status, page) = b.get("/admin/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("https://mail.venue.test"), "{page}");
    let (status, _, _) = b
        .post(
            "/admin/settings/sender",
            &[("sender_email", "not an address")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location, _) = b
        .post(
            "/admin/settings/sender",
            &[
                ("sender_email", "news@paradiso.test"),
                ("sender_name", "Paradiso"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/settings?notice=saved")
    );
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    assert_eq!(org.sender_email.as_deref(), Some("news@paradiso.test"));

    // The test button connects to each relay: one answers, one does not; nothing is sent.
    let (status, _, page) = b.post("/admin/settings/mail-test", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let checks = page.split("id=\"mail-checks\"").nth(1).unwrap_or_default();
    assert_eq!(checks.matches("badge active").count(), 1, "{checks}");
    assert_eq!(checks.matches("badge revoked").count(), 1, "{checks}");
    assert!(sink.received().is_empty());
    // The relay that refused is on the dashboard until it answers again.
    let (_, page) = b.get("/admin/").await;
    assert!(
        page.contains("An SMTP relay refuses connections") && page.contains(&dead.to_string()),
        "{page}"
    );
}
