//! The admin pages of the integrations on both backends: partners, points of sale and products
//! with the checkout widget of an example order; sources, exports and webhook receivers (with
//! a test payload that writes nothing); tracking, DKIM, the link parameter and MailingLijst
//! keys in the settings; templates and the editor's live preview.

mod support;

use std::collections::BTreeMap;

use reqwest::StatusCode;
use support::admin_browser::{signed_in, Browser};
use support::{Backend, TestApp};

use handbill::services::lists::{self, CreateList};
use handbill::services::users::Role;

both_backends!(
    partners_and_the_checkout_example,
    sources_exports_and_webhooks,
    settings_keys_and_tracking,
    templates_and_live_preview,
);

/// GET of a page that answers with a frame of its own (no CSRF token to keep).
async fn frame(b: &Browser<'_>, path: &str) -> (StatusCode, String, String) {
    let res = b
        .client
        .get(b.t.url(path))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    let csp = res
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status(), csp, res.text().await.unwrap())
}

/// The secret a page shows once (`id="secret"`).
fn secret_in(page: &str) -> String {
    let after = page
        .split("id=\"secret\">")
        .nth(1)
        .expect("a secret on the page");
    after.split('<').next().unwrap().to_string()
}

async fn partners_and_the_checkout_example(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    // Marketers manage partners and products: nothing here is a setting.
    let mut b = signed_in(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    let (status, page) = b.get("/admin/partners").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No partners yet."), "{page}");

    // A partner with a privacy link that is no link is refused; the form keeps what was typed.
    let partner = [
        ("key", "mojo"),
        ("kind", "promoter"),
        ("name", "Mojo Concerts"),
        ("privacy_url", "mojo.nl/privacy"),
        ("description_nl", "Concertpromotor"),
    ];
    let (status, _, page) = b.post("/admin/partners", &partner).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("privacy_url") && page.contains("Mojo Concerts"),
        "{page}"
    );
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    assert!(t.app.store.partners(org.id).await.unwrap().is_empty());
    let mut partner = partner.to_vec();
    partner[3].1 = "https://mojo.nl/privacy";
    let (status, location, _) = b.post("/admin/partners", &partner).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/partners?notice=created")
    );
    // The key is fixed: the edit form cannot change it.
    let (status, _, _) = b
        .post(
            "/admin/partners/mojo",
            &[
                ("key", "other"),
                ("kind", "producer"),
                ("name", "Mojo"),
                ("privacy_url", "https://mojo.nl/privacy"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = b.get("/admin/partners/mojo").await;
    assert!(
        page.contains("<code>mojo</code>") && page.contains("value=\"Mojo\""),
        "{page}"
    );

    // The partner's opt-in, a point of sale that offers partner opt-ins, and a product.
    lists::create(
        &t.app,
        org.id,
        &CreateList {
            key: "mojo-news".into(),
            name: BTreeMap::from([("en".into(), "Mojo news".into())]),
            optin_text: BTreeMap::from([("en".into(), "Yes, mail me Mojo's concerts".into())]),
            partner: Some("mojo".into()),
            ..CreateList::default()
        },
    )
    .await
    .unwrap();
    let (status, _, page) = b
        .post(
            "/admin/points-of-sale",
            &[("key", "web"), ("name", ""), ("partner_optins", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, location, _) = b
        .post(
            "/admin/points-of-sale",
            &[
                ("key", "web"),
                ("name", "Web shop"),
                ("partner_optins", "on"),
                ("double_opt_in", "on"),
                ("theme_accent", "#1a4d8f"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/admin/points-of-sale/web?notice=created"
        )
    );
    // A key with a space (the ticket system's own ids) is a path segment of its own.
    let (status, location, _) = b
        .post(
            "/admin/points-of-sale",
            &[("key", "box office"), ("name", "Box office")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/admin/points-of-sale/box%20office?notice=created"
        )
    );
    let (status, page) = b.get("/admin/points-of-sale/box%20office").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Box office"), "{page}");
    let (status, _, page) = b
        .post(
            "/admin/products",
            &[
                ("id", "EV-1"),
                ("title", "Mojo night"),
                ("partner", "nobody"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("partner: no partner has this key"), "{page}");
    let (status, _, _) = b
        .post(
            "/admin/products",
            &[
                ("id", "EV-1"),
                ("title", "Mojo night"),
                ("partner", "mojo"),
                ("date", "2027-03-01T20:00"),
                ("price", "€ 24,50"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = b.get("/admin/partners").await;
    assert!(
        page.contains("Mojo night") && page.contains("2027-03-01 20:00"),
        "{page}"
    );

    // An order of that product: the widget offers the partner's opt-in, as a buyer sees it.
    let (status, page) = b
        .get("/admin/points-of-sale/web?products=EV-1&lang=en")
        .await;
    assert_eq!(status, StatusCode::OK);
    let offers = page.split("id=\"offers\"").nth(1).expect("offers table");
    assert!(
        offers.contains("mojo-news") && offers.contains("Yes, mail me Mojo"),
        "{offers}"
    );
    let (status, csp, widget) = frame(
        &b,
        "/admin/points-of-sale/web/widget?email=&products=EV-1&lang=en",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csp.contains("sandbox") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    assert!(
        widget.contains("Yes, mail me Mojo") && widget.contains("#1a4d8f"),
        "{widget}"
    );
    // Nothing was recorded: no widget, no consent.
    let (_, page) = b.get("/admin/points-of-sale/web?products=NOPE").await;
    assert!(page.contains("unknown product: NOPE"), "{page}");
    let (_, page) = b.get("/admin/points-of-sale/web").await;
    assert!(
        page.contains("The widget shows nothing for this order"),
        "{page}"
    );

    let (status, _, _) = b.post("/admin/products/EV-1/delete", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = b.get("/admin/partners").await;
    assert!(page.contains("No products yet."), "{page}");

    // Another organisation's point of sale is not found.
    t.org("melkweg").await;
    let mut other = signed_in(&t, "melkweg", "eva@melkweg.test", Role::Admin).await;
    assert_eq!(
        other.get("/admin/points-of-sale/web").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.get("/admin/partners/mojo").await.0,
        StatusCode::NOT_FOUND
    );
}

async fn sources_exports_and_webhooks(backend: Backend) {
    // Files in a drop folder are picked up at once (no wait for them to settle).
    let Some(t) = TestApp::start_with(backend, |c| c.source_settle_secs = 0).await else {
        return;
    };
    let org = t.org("paradiso").await;
    let mut m = signed_in(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    for page in ["/admin/sources", "/admin/exports", "/admin/hooks"] {
        assert_eq!(m.get(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    let mut b = signed_in(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;

    // A folder source with a scheduled import: a mapping that is no JSON is refused.
    b.get("/admin/sources").await;
    let source = [
        ("key", "crm"),
        ("kind", "folder"),
        ("path", "crm"),
        ("import_on", "on"),
        ("pattern", "contacts_{yyyy}{MM}{dd}.csv"),
        ("mapping", "{\"columns\": "),
        ("import_every", "daily"),
        ("import_at", "06:00"),
    ];
    let (status, _, page) = b.post("/admin/sources", &source).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("import.mapping: the mapping is not valid"),
        "{page}"
    );
    let mut source = source.to_vec();
    source[5].1 = r#"{"columns": {"E-mail": "email", "First name": "first_name"}}"#;
    source[7].1 = "25:00";
    let (status, _, page) = b.post("/admin/sources", &source).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("HH:MM"), "{page}");
    source[7].1 = "06:00";
    let (status, location, _) = b.post("/admin/sources", &source).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/sources/crm?notice=created")
    );
    let (status, _, _) = b.post("/admin/sources", &source).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the key is taken");
    // A file in the folder: the check lists it, Import now imports it and archives it.
    let folder = t
        .app
        .config
        .folder_root()
        .join(org.id.to_string())
        .join("crm");
    std::fs::write(
        folder.join("contacts_20260101.csv"),
        "E-mail,First name\nann@example.org,Ann\n",
    )
    .unwrap();
    let (status, _, page) = b.post("/admin/sources/crm/check", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Connected.") && page.contains("contacts_20260101.csv"),
        "{page}"
    );
    let (status, _, page) = b.post("/admin/sources/crm/run", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Imports started:"), "{page}");
    let (_, page) = b.get("/admin/sources/crm").await;
    assert!(page.contains("contacts_20260101.csv"), "{page}");

    // An export of every contact as a download, run now; its file comes back as CSV.
    b.get("/admin/exports").await;
    let (status, _, page) = b
        .post(
            "/admin/exports",
            &[
                ("name", "All"),
                ("kind", "contacts"),
                ("columns", "email\nfirst_name"),
                ("segment", "{nope"),
                ("export_every", "never"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("segment: the segment is not valid JSON"),
        "{page}"
    );
    let (status, location, _) = b
        .post(
            "/admin/exports",
            &[
                ("name", "All"),
                ("kind", "contacts"),
                ("columns", "email\nfirst_name"),
                ("format", "csv"),
                ("export_every", "never"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let id = support::admin_browser::id_in(&location, "/admin/exports/");
    let (status, location, _) = b.post(&format!("/admin/exports/{id}/run"), &[]).await;
    assert_eq!(
        (status, location),
        (
            StatusCode::SEE_OTHER,
            format!("/admin/exports/{id}?notice=ran")
        )
    );
    let (_, page) = b.get(&format!("/admin/exports/{id}")).await;
    let runs = page.split("id=\"runs\"").nth(1).unwrap();
    let link = runs
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let (status, _, file) = frame(&b, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        file.starts_with("email,first_name") && file.contains("ann@example.org,Ann"),
        "{file}"
    );

    // A webhook receiver: its token is shown once; a test payload shows what a call would
    // write and writes nothing; a bad one names the pointer.
    b.get("/admin/hooks").await;
    let (status, _, page) = b
        .post(
            "/admin/hooks",
            &[
                ("name", "Shop"),
                ("mapping", "{\"contact\": {\"email\": \"customer\"}}"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a pointer starts with /: {page}"
    );
    let mapping = r#"{"contact": {"email": "/customer/email", "first_name": "/customer/name"}}"#;
    let (status, _, page) = b
        .post("/admin/hooks", &[("name", "Shop"), ("mapping", mapping)])
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(page.contains("hb_hook_"), "{page}");
    let hook_id = page
        .split("/hooks/")
        .nth(1)
        .unwrap()
        .split(['"', '<', '/'])
        .next()
        .unwrap()
        .to_string();
    let (_, page) = b.get(&format!("/admin/hooks/{hook_id}")).await;
    assert!(!page.contains("hb_hook_"), "the token is shown once");
    let contacts_before = t.app.store.count_contacts(org.id).await.unwrap();
    let (status, _, page) = b
        .post(
            &format!("/admin/hooks/{hook_id}/test"),
            &[(
                "payload",
                r#"{"customer": {"email": "bob@example.org", "name": "Bob"}}"#,
            )],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let result = page.split("id=\"test-result\"").nth(1).unwrap();
    assert!(
        result.contains("bob@example.org") && result.contains("Bob"),
        "{result}"
    );
    let (_, _, page) = b
        .post(
            &format!("/admin/hooks/{hook_id}/test"),
            &[("payload", r#"{"customer": {"email": "not an address"}}"#)],
        )
        .await;
    let result = page.split("id=\"test-result\"").nth(1).unwrap();
    assert!(
        result.contains("would be refused") && result.contains("/customer/email"),
        "{result}"
    );
    assert_eq!(
        t.app.store.count_contacts(org.id).await.unwrap(),
        contacts_before,
        "a test writes nothing"
    );
    let (status, _, page) = b.post(&format!("/admin/hooks/{hook_id}/rotate"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("hb_hook_"), "{page}");
    let (status, _, _) = b.post(&format!("/admin/hooks/{hook_id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        b.get(&format!("/admin/hooks/{hook_id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn settings_keys_and_tracking(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pkcs8.as_ref())
    );
    let key_file = dir.path().join("dkim.pem");
    std::fs::write(&key_file, pem).unwrap();
    let Some(t) = TestApp::start_with(backend, |c| {
        c.dkim_domain = Some("paradiso.test".into());
        c.dkim_selector = "hb1".into();
        c.dkim_key_file = Some(key_file);
    })
    .await
    else {
        return;
    };
    t.org("paradiso").await;
    let mut m = signed_in(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    for page in [
        "/admin/settings/link-parameter",
        "/admin/settings/mailinglijst",
    ] {
        assert_eq!(m.get(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    let mut b = signed_in(&t, "paradiso", "anna@paradiso.test", Role::Admin).await;

    // DKIM: the record to publish.
    let (_, page) = b.get("/admin/settings").await;
    assert!(
        page.contains("hb1._domainkey.paradiso.test") && page.contains("v=DKIM1; k=ed25519; p="),
        "{page}"
    );

    // Tracking: new mailings count nothing unless they say so.
    let (status, _, _) = b
        .post("/admin/settings/tracking", &[("track_clicks", "on")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let org = t.app.store.org_by_slug("paradiso").await.unwrap();
    assert!(!org.track_opens && org.track_clicks);
    let (_, page) = b.get("/admin/mailings/new").await;
    assert!(
        !page.contains("name=\"track_opens\" checked")
            && page.contains("name=\"track_clicks\" checked"),
        "{page}"
    );

    // The link parameter: a bad field is refused; turned on, the key is shown once.
    b.get("/admin/settings/link-parameter").await;
    let (status, _, page) = b
        .post(
            "/admin/settings/link-parameter",
            &[("name", "hb"), ("fields", "password")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, _, page) = b
        .post(
            "/admin/settings/link-parameter",
            &[
                ("name", "hb"),
                ("fields", "email"),
                ("fields", "external_id"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = secret_in(&page);
    assert_eq!(key.len(), 64, "{page}");
    let (status, _, _) = b
        .post(
            "/admin/settings/link-parameter",
            &[("name", "hb"), ("fields", "email")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "saved without a new key");
    let (_, _, page) = b
        .post(
            "/admin/settings/link-parameter",
            &[("name", "hb"), ("fields", "email"), ("rotate_key", "on")],
        )
        .await;
    let rotated = secret_in(&page);
    assert_ne!(rotated, key);
    let (status, _, _) = b.post("/admin/settings/link-parameter/delete", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = b.get("/admin/settings/link-parameter").await;
    assert!(page.contains("Off: links carry nothing"), "{page}");

    // MailingLijst keys: create (shown once), rotate (the old one fails at once), revoke.
    b.get("/admin/settings/mailinglijst").await;
    let (status, _, _) = b
        .post(
            "/admin/settings/mailinglijst",
            &[("actions", "GET"), ("allow_ip", "not-an-address")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, page) = b
        .post(
            "/admin/settings/mailinglijst",
            &[
                ("actions", "GET"),
                ("actions", "SUBSCRIBE"),
                ("allow_ip", "203.0.113.0/24"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let first = secret_in(&page);
    assert!(handbill::services::ml_keys::authenticate(&t.app, &first)
        .await
        .unwrap()
        .is_some());
    let id = handbill::services::ml_keys::list(&t.app, Some(org.id))
        .await
        .unwrap()[0]
        .id;
    let (status, _, page) = b
        .post(&format!("/admin/settings/mailinglijst/{id}/rotate"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = secret_in(&page);
    assert!(handbill::services::ml_keys::authenticate(&t.app, &first)
        .await
        .unwrap()
        .is_none());
    let member = handbill::services::ml_keys::authenticate(&t.app, &second)
        .await
        .unwrap()
        .unwrap();
    assert!(member.may("GET") && member.may("SUBSCRIBE") && !member.may("EDIT"));
    let new_id = member.key.id;
    let (status, location, _) = b
        .post(
            &format!("/admin/settings/mailinglijst/{new_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/admin/settings/mailinglijst?notice=revoked_key"
        )
    );
    assert!(handbill::services::ml_keys::authenticate(&t.app, &second)
        .await
        .unwrap()
        .is_none());
    // The revoked key cannot be rotated back to life.
    let (status, _, _) = b
        .post(
            &format!("/admin/settings/mailinglijst/{new_id}/rotate"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn templates_and_live_preview(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    t.org("paradiso").await;
    let mut b = signed_in(&t, "paradiso", "mark@paradiso.test", Role::Marketer).await;
    b.get("/admin/templates/new").await;
    let (status, _, page) = b
        .post(
            "/admin/templates",
            &[
                ("key", "frame"),
                ("kind", "layout"),
                ("name", "Frame"),
                ("html", "<div>no slot</div>"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("exactly once"), "{page}");
    let layout = "<div class=\"frame-marker\">{{ content }}</div>";
    let (status, location, _) = b
        .post(
            "/admin/templates",
            &[
                ("key", "frame"),
                ("kind", "layout"),
                ("name", "Frame"),
                ("html", layout),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/admin/templates/frame?notice=created"
        )
    );
    let (_, page) = b.get("/admin/mailings/new").await;
    assert!(
        page.contains("<option value=\"frame\">Frame</option>"),
        "{page}"
    );

    // The live preview renders what is typed, for the example contact, inside the layout.
    let (status, _, body) = b
        .post(
            "/admin/preview",
            &[
                ("subject", "Hi"),
                ("html", "<p>Hello {{ contact.first_name }}</p>"),
                ("layout", "frame"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("frame-marker") && body.contains("Hello Alex"),
        "{body}"
    );
    // A template error is shown with its place; nothing is saved anywhere.
    let (_, _, body) = b
        .post(
            "/admin/preview",
            &[("subject", "Hi"), ("html", "<p>{{ contact.first_name </p>")],
        )
        .await;
    assert!(body.contains("html:") && body.contains("line 1"), "{body}");
    let (_, _, body) = b
        .post(
            "/admin/preview",
            &[
                ("subject", "Hi"),
                ("html", "<p>x</p>"),
                ("preview_contact", "nobody@example.org"),
            ],
        )
        .await;
    assert!(body.contains("No contact with this address."), "{body}");
    // A layout being edited shows an example in its slot.
    let (_, _, body) = b
        .post("/admin/preview", &[("kind", "layout"), ("html", layout)])
        .await;
    assert!(
        body.contains("The mailing&#39;s content goes here.")
            || body.contains("The mailing's content goes here."),
        "{body}"
    );
}
