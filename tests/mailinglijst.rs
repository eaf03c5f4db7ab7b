//! The MailingLijst-compatible key/action XML API through the real server, with a real SMTP
//! server: every action, the parameters' limits and codes, the IP allowlist (ranges, IPv6,
//! proxy headers), rights per action, multi-account `a=`, the sandbox, and every answer
//! validated against the published XSD with xmllint.

mod support;

use std::process::Command;

use handbill::services::ml_keys;
use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::smtp_sink::SmtpSink;
use support::{Backend, TestApp};

both_backends!(
    subscribe_get_and_the_ledger,
    single_and_double_opt_in_and_welcome,
    unsubscribe_edit_and_owner_codes,
    blacklist_add_and_delete,
    list_get_and_code_groups,
    body_post_creates_and_updates_drafts,
    keys_addresses_rights_and_accounts,
    every_parameter_limit_is_a_406_and_writes_nothing,
    sandbox_mail_stays_in_the_outbox,
    keys_and_codes_through_the_json_api,
);

struct Env {
    t: TestApp,
    sink: SmtpSink,
    admin: String,
    key: String,
    key_id: i64,
    news: i64,
    confirm: i64,
}

/// An answer: the document, checked against the XSD.
struct Answer(String);

impl Answer {
    fn tag(&self, name: &str) -> String {
        let open = format!("<{name}>");
        match self.0.find(&open) {
            Some(i) => {
                let rest = &self.0[i + open.len()..];
                rest[..rest.find('<').unwrap_or(0)].to_string()
            }
            None => String::new(),
        }
    }

    fn code(&self) -> u16 {
        self.tag("responsecode").parse().unwrap()
    }

    fn description(&self) -> String {
        self.tag("description")
    }

    fn guid(&self) -> String {
        self.tag("address_guid")
    }

    fn has(&self, s: &str) -> bool {
        self.0.contains(s)
    }
}

fn validate(xml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answer.xml");
    std::fs::write(&file, xml).unwrap();
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/http/compat/mailinglijst/api.xsd"
    );
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(&file)
        .output()
        .expect("xmllint is needed (scripts/test installs libxml2-utils)");
    assert!(
        out.status.success(),
        "answer does not match api.xsd: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let org = t.org("paradiso").await;
    handbill::services::orgs::set_sender(&t.app, "paradiso", "news@paradiso.test", None)
        .await
        .unwrap();
    let admin = t.token("paradiso", &["admin"], &[]).await;
    let (key, view) = ml_keys::create(&t.app, org.id, None, &["127.0.0.1".into()], "all", false)
        .await
        .unwrap();
    let mut e = Env {
        t,
        sink,
        admin,
        key,
        key_id: view.id,
        news: 0,
        confirm: 0,
    };
    let news = e
        .json(
            "POST",
            "/api/v1/lists",
            json!({"key": "news", "name": {"nl": "Nieuwsbrief"}, "double_opt_in": false}),
        )
        .await;
    let confirm = e
        .json("POST", "/api/v1/lists", json!({"key": "confirm", "name": {"nl": "Bevestigd"}, "optin_text": {"nl": "Ja graag"}}))
        .await;
    e.news = news["number"].as_i64().unwrap();
    e.confirm = confirm["number"].as_i64().unwrap();
    for code in [
        json!({"kind": "code", "name": "Familie", "owner": "EMC"}),
        json!({"kind": "code", "name": "Jazz", "owner": "EMC"}),
        json!({"kind": "code", "name": "Pers"}),
        json!({"kind": "field", "name": "Interesse", "owner": "EMC"}),
        json!({"kind": "field", "name": "Geboren", "field_type": "date"}),
    ] {
        e.json("POST", "/api/v1/lists/news/codes", code).await;
    }
    Some(e)
}

impl Env {
    async fn json(&self, method: &str, path: &str, body: Value) -> Value {
        let res = self.req(method, path, Some(body)).await;
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
        res.json().await.unwrap_or(Value::Null)
    }

    async fn req(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self
            .t
            .client
            .request(method.parse().unwrap(), self.t.url(path))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// A call with this key.
    async fn call(&self, params: &[(&str, &str)]) -> Answer {
        let mut all = vec![("key", self.key.as_str())];
        all.extend_from_slice(params);
        self.raw(&all, &[]).await
    }

    async fn raw(&self, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let mut r = self.t.client.get(self.t.url("/api/")).query(params);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), 200, "always HTTP 200");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/xml; charset=utf-8"
        );
        let xml = res.text().await.unwrap();
        validate(&xml);
        Answer(xml)
    }

    async fn contacts(&self) -> usize {
        self.json("GET", "/api/v1/contacts", Value::Null).await["items"]
            .as_array()
            .map_or(0, |a| a.len())
    }
}

async fn subscribe_get_and_the_ledger(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let l = e.news.to_string();
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &l),
            ("e", "Anna@Example.nl"),
            ("fn", "Anna"),
            ("np", "de"),
            ("g", "mevrouw"),
            ("cnt", "belgie"),
            ("lang", "Engels"),
            ("th", "T"),
            ("so", "website"),
            ("sy", "REL-1"),
            ("lc", "Familie; Pers"),
            ("xf", "Interesse, Alles:Jazz ; Geboren,01-06-1987"),
        ])
        .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    assert_eq!(a.description(), "address subscribed");
    let guid = a.guid();
    assert_eq!(guid.len(), 20);
    assert!(a.has("<code_name>Familie</code_name>") && a.has("listcode assigned"));
    assert!(a.has("<content>1987-06-01</content>") && a.has("<content>Alles:Jazz</content>"));
    assert!(
        a.has("<url>") && a.has("key=xxx") && !a.has(&e.key),
        "the key is not echoed"
    );
    assert!(a.has("<referrer>127.0.0.1</referrer>") && a.has("<member>Test Venue</member>"));

    let g = e.call(&[("action", "GET"), ("guid", &guid)]).await;
    assert_eq!(g.code(), 200);
    for part in [
        "<email>anna@example.nl</email>",
        "<first_name>Anna</first_name>",
        "<name_prefix>de</name_prefix>",
        "<name>anna@example.nl</name>",
        "<gender>103</gender>",
        "<country>België</country>",
        "<language>Engels</language>",
        "<text_html>T</text_html>",
        "<active>1</active>",
        "<sync_id>REL-1</sync_id>",
        "<status>subscribed</status>",
        "<blacklisted>0</blacklisted>",
        "<code_name>Pers</code_name>",
    ] {
        assert!(g.has(part), "{part} in {}", g.0);
    }
    let by_email = e.call(&[("action", "GET"), ("e", "anna@example.nl")]).await;
    assert_eq!(by_email.guid(), guid);
    let again = e
        .call(&[("action", "SUBSCRIBE"), ("l", &l), ("e", "anna@example.nl")])
        .await;
    assert_eq!(again.description(), "address already subscribed");
    // The consent is proved: asserted by the member's key from the caller's address.
    let c = e
        .json("GET", "/api/v1/contacts?email=anna@example.nl", Value::Null)
        .await;
    let id = c["id"].as_i64().unwrap();
    let ledger = e
        .json("GET", &format!("/api/v1/contacts/{id}/export"), Value::Null)
        .await["consent_ledger"]
        .clone();
    let entry = &ledger.as_array().unwrap()[0];
    assert_eq!(entry["action"], "assert");
    assert_eq!(entry["source"], "mailinglijst");
    assert_eq!(entry["actor"], format!("mlkey:{}", e.key_id));
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(
        ledger.as_array().unwrap().len(),
        1,
        "the repeat changed nothing"
    );

    // A guid that is not known is not created.
    let before = e.contacts().await;
    let a = e
        .call(&[("action", "SUBSCRIBE"), ("l", &l), ("guid", "NOSUCHGUID")])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (404, "address not found")
    );
    assert_eq!(e.contacts().await, before);
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &l),
            ("guid", &guid),
            ("e", "other@example.nl"),
        ])
        .await;
    assert_eq!(a.code(), 409);
    let a = e
        .call(&[("action", "GET"), ("e", "nobody@example.nl")])
        .await;
    assert_eq!(a.code(), 404);
    let a = e
        .call(&[("action", "SUBSCRIBE"), ("l", "999"), ("e", "x@example.nl")])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (404, "list 999 not found")
    );
}

async fn single_and_double_opt_in_and_welcome(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (news, confirm) = (e.news.to_string(), e.confirm.to_string());
    // optin=1 (the default) only where the list allows single opt-in.
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &confirm),
            ("e", "bert@example.nl"),
        ])
        .await;
    assert_eq!(a.code(), 401, "{}", a.0);
    assert_eq!(e.contacts().await, 0, "nothing written");
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &confirm),
            ("e", "bert@example.nl"),
            ("optin", "0"),
        ])
        .await;
    assert_eq!(a.code(), 200);
    assert_eq!(a.description(), "address pending: opt-in mail sent");
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &news),
            ("e", "cor@example.nl"),
            ("welcome", "1"),
        ])
        .await;
    assert_eq!(a.description(), "address subscribed");
    e.call(&[
        ("action", "SUBSCRIBE"),
        ("l", &news),
        ("e", "dirk@example.nl"),
    ])
    .await;
    run_until_idle(&e.t.app).await.unwrap();
    let mails = e.sink.received();
    let to: Vec<&str> = mails.iter().map(|m| m.rcpt_to[0].as_str()).collect();
    assert!(to.contains(&"bert@example.nl"), "verification mail: {to:?}");
    assert!(to.contains(&"cor@example.nl"), "welcome mail: {to:?}");
    assert!(
        !to.contains(&"dirk@example.nl"),
        "no welcome without welcome=1"
    );
    let g = e.call(&[("action", "GET"), ("e", "bert@example.nl")]).await;
    assert!(g.has("<status>pending</status>"));
}

async fn unsubscribe_edit_and_owner_codes(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let l = e.news.to_string();
    let guid = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &l),
            ("e", "eva@example.nl"),
            ("lc", "Familie;Jazz;Pers"),
            ("xf", "Interesse,Alles"),
        ])
        .await
        .guid();
    e.call(&[
        ("action", "SUBSCRIBE"),
        ("l", &l),
        ("e", "taken@example.nl"),
    ])
    .await;
    // owner=EMC: EMC's codes and fields not given now are removed, the others stay.
    let a = e
        .call(&[
            ("action", "EDIT"),
            ("guid", &guid),
            ("owner", "EMC"),
            ("lc", "Jazz"),
            ("l", &l),
        ])
        .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    assert!(a.has(r#"<listcodes owner="EMC" deleted="1">"#), "{}", a.0);
    assert!(a.has(r#"<listfields owner="EMC" deleted="1">"#), "{}", a.0);
    let g = e.call(&[("action", "GET"), ("guid", &guid)]).await;
    assert!(g.has("<code_name>Jazz</code_name>") && g.has("<code_name>Pers</code_name>"));
    assert!(!g.has("<code_name>Familie</code_name>") && !g.has("<code_name>Interesse</code_name>"));
    // EDIT by guid changes the address, unless another contact has it.
    let a = e
        .call(&[
            ("action", "EDIT"),
            ("guid", &guid),
            ("e", "taken@example.nl"),
        ])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (409, "emailaddress already exists")
    );
    let a = e
        .call(&[
            ("action", "EDIT"),
            ("guid", &guid),
            ("e", "eva.new@example.nl"),
            ("c", "Amsterdam"),
            ("fn", ""),
        ])
        .await;
    assert_eq!(a.code(), 200);
    let g = e
        .call(&[("action", "GET"), ("e", "eva.new@example.nl")])
        .await;
    assert!(
        g.has("<city>Amsterdam</city>") && g.has("<first_name></first_name>"),
        "{}",
        g.0
    );
    let a = e
        .call(&[("action", "EDIT"), ("e", "nobody@example.nl"), ("c", "X")])
        .await;
    assert_eq!(a.code(), 404);
    // UNSUBSCRIBE by the address number.
    let id = g.tag("address_id");
    let a = e
        .call(&[("action", "UNSUBSCRIBE"), ("l", &l), ("id", &id)])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (200, "address unsubscribed")
    );
    let a = e
        .call(&[("action", "UNSUBSCRIBE"), ("l", &l), ("id", &id)])
        .await;
    assert_eq!(a.description(), "address was not subscribed");
    let g = e.call(&[("action", "GET"), ("id", &id)]).await;
    assert!(g.has("<status>unsubscribed</status>"));
    let a = e
        .call(&[("action", "UNSUBSCRIBE"), ("e", "eva.new@example.nl")])
        .await;
    assert_eq!(a.code(), 404, "l is required");
}

async fn blacklist_add_and_delete(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let l = e.news.to_string();
    e.call(&[("action", "SUBSCRIBE"), ("l", &l), ("e", "fay@example.nl")])
        .await;
    let a = e
        .call(&[("action", "BLACKLISTADD"), ("e", "fay@example.nl")])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (200, "address added to the blacklist")
    );
    let a = e
        .call(&[("action", "BLACKLISTADD"), ("e", "fay@example.nl")])
        .await;
    assert_eq!(a.description(), "address is on the blacklist already");
    let g = e.call(&[("action", "GET"), ("e", "fay@example.nl")]).await;
    assert!(g.has("<blacklisted>1</blacklisted>") && g.has("<reason>blacklist</reason>"));
    // A blacklisted address is mailed by no one: a mailing to the list skips it.
    let m = e
        .json(
            "POST",
            "/api/v1/mailings",
            json!({"name": "m", "subject": "s", "html": "<p>x</p>", "lists": ["news"]}),
        )
        .await;
    e.req("POST", &format!("/api/v1/mailings/{}/send", m["id"]), None)
        .await;
    run_until_idle(&e.t.app).await.unwrap();
    assert!(e
        .sink
        .received()
        .iter()
        .all(|r| r.rcpt_to[0] != "fay@example.nl"));
    let a = e
        .call(&[("action", "BLACKLISTDELETE"), ("e", "fay@example.nl")])
        .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (200, "address removed from the blacklist")
    );
    let a = e
        .call(&[("action", "BLACKLISTDELETE"), ("e", "fay@example.nl")])
        .await;
    assert_eq!(a.code(), 404);
    // An address nobody knows can be blacklisted too.
    let a = e
        .call(&[("action", "BLACKLISTADD"), ("e", "stranger@example.nl")])
        .await;
    assert_eq!((a.code(), a.guid().as_str()), (200, ""));
    let a = e.call(&[("action", "BLACKLISTADD")]).await;
    assert_eq!(a.code(), 404);
}

async fn list_get_and_code_groups(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let l = e.news.to_string();
    e.call(&[("action", "SUBSCRIBE"), ("l", &l), ("e", "gijs@example.nl")])
        .await;
    let a = e.call(&[("action", "LISTGET"), ("l", &l)]).await;
    assert_eq!(a.code(), 200);
    for part in [
        &format!("<list_id>{l}</list_id>"),
        "<key>news</key>",
        "<name>Nieuwsbrief</name>",
        "<double_optin>0</double_optin>",
        "<subscribers>1</subscribers>",
        "<code_name>Familie</code_name>",
        "<type>date</type>",
    ] {
        assert!(a.has(part), "{part} in {}", a.0);
    }
    assert_eq!(e.call(&[("action", "LISTGET")]).await.code(), 404);
    assert_eq!(
        e.call(&[("action", "LISTGET"), ("l", "x")]).await.code(),
        406
    );
    let a = e
        .call(&[("action", "LISTCODEGROUP"), ("group", "LANGUAGES")])
        .await;
    assert!(a.has("<code_name>Nederlands</code_name>") && a.has("<iso>fr</iso>"));
    let a = e
        .call(&[("action", "LISTCODEGROUP"), ("group", "countries")])
        .await;
    assert!(a.has("<code_name>Nederland</code_name>") && a.has("<code_id>528</code_id>"));
    let a = e
        .call(&[("action", "LISTCODEGROUP"), ("group", "GENDER")])
        .await;
    for code in ["101", "102", "103", "105"] {
        assert!(a.has(&format!("<code_id>{code}</code_id>")));
    }
    assert_eq!(
        e.call(&[("action", "LISTCODEGROUP"), ("group", "CITIES")])
            .await
            .code(),
        404
    );
    assert_eq!(e.call(&[("action", "LISTCODEGROUP")]).await.code(), 404);
}

async fn body_post_creates_and_updates_drafts(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let post = |query: Vec<(&'static str, String)>, body: Vec<u8>, ct: &'static str| {
        let key = e.key.clone();
        let client = e.t.client.clone();
        let url = e.t.url("/api/");
        async move {
            let mut q = vec![("key", key), ("action", "BODYPOST".to_string())];
            q.extend(query);
            let res = client
                .post(url)
                .query(&q)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let xml = res.text().await.unwrap();
            validate(&xml);
            Answer(xml)
        }
    };
    // The seed's client posts ISO-8859-15.
    let html = b"<html><body><p>Caf\xe9 concert</p><a href=\"https://venue.example/\">Tickets</a></body></html>".to_vec();
    let a = post(
        vec![
            ("n", "Voorjaar".into()),
            ("s", "Het voorjaar".into()),
            ("d", "Voor de pers".into()),
            ("o", "EMC".into()),
        ],
        html,
        r#"text/html;charset="iso-8859-15""#,
    )
    .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    let id = a.tag("mailing_id");
    assert!(a.has("<status>draft</status>") && a.has("<stats_links>0</stats_links>"));
    let m = e
        .json("GET", &format!("/api/v1/mailings/{id}"), Value::Null)
        .await;
    assert!(m["html"].as_str().unwrap().contains("Café concert"));
    assert_eq!(m["track_clicks"], false);
    assert_eq!(m["description"], "Voor de pers");
    assert_eq!(m["owner"], "EMC");
    assert_eq!(m["lists"], json!([]));
    // m= updates the same draft.
    let a = post(
        vec![
            ("m", id.clone()),
            ("s", "Nieuw onderwerp".into()),
            ("stats_links", "1".into()),
        ],
        b"<p>Versie 2</p>".to_vec(),
        "text/html",
    )
    .await;
    assert_eq!((a.code(), a.tag("mailing_id")), (200, id.clone()));
    let m = e
        .json("GET", &format!("/api/v1/mailings/{id}"), Value::Null)
        .await;
    assert_eq!(
        (m["subject"].as_str(), m["name"].as_str()),
        (Some("Nieuw onderwerp"), Some("Voorjaar"))
    );
    assert_eq!(m["track_clicks"], true);
    // The marketer gives it an audience and sends it.
    e.call(&[
        ("action", "SUBSCRIBE"),
        ("l", &e.news.to_string()),
        ("e", "hans@example.nl"),
    ])
    .await;
    let mut body = m.clone();
    for k in [
        "id",
        "status",
        "held",
        "scheduled_at",
        "started_at",
        "finished_at",
        "created_at",
        "counts",
    ] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["lists"] = json!(["news"]);
    assert!(e
        .req("PUT", &format!("/api/v1/mailings/{id}"), Some(body))
        .await
        .status()
        .is_success());
    e.req("POST", &format!("/api/v1/mailings/{id}/send"), None)
        .await;
    run_until_idle(&e.t.app).await.unwrap();
    assert!(e
        .sink
        .received()
        .iter()
        .any(|r| r.rcpt_to[0] == "hans@example.nl"));
    let a = post(
        vec![("m", id.clone())],
        b"<p>late</p>".to_vec(),
        "text/html",
    )
    .await;
    assert_eq!(a.code(), 409, "a sent mailing cannot change");
    // Form-encoded: the HTML in the field `body`.
    let a = post(
        vec![],
        b"n=Formulier&body=%3Cp%3EHallo%3C%2Fp%3E".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    // Rejections.
    let a = post(
        vec![("n", "x".into())],
        b"<p>{{ contact.first_name </p>".to_vec(),
        "text/html",
    )
    .await;
    assert_eq!(a.code(), 406);
    assert!(
        a.description().starts_with("html: line 1, column"),
        "{}",
        a.0
    );
    assert_eq!(
        post(vec![("n", "x".into())], vec![], "text/html")
            .await
            .code(),
        404
    );
    assert_eq!(
        post(vec![], b"<p>x</p>".to_vec(), "text/html").await.code(),
        404
    );
    assert_eq!(
        post(
            vec![("n", "x".repeat(151))],
            b"<p>x</p>".to_vec(),
            "text/html"
        )
        .await
        .code(),
        406
    );
    assert_eq!(
        post(
            vec![("n", "x".into()), ("o", "x".repeat(21))],
            b"<p>x</p>".to_vec(),
            "text/html"
        )
        .await
        .code(),
        406
    );
    assert_eq!(
        post(
            vec![("m", "99999".into())],
            b"<p>x</p>".to_vec(),
            "text/html"
        )
        .await
        .code(),
        404
    );
    assert_eq!(
        post(
            vec![("n", "x".into())],
            b"<p>\xff</p>".to_vec(),
            "text/html"
        )
        .await
        .code(),
        406
    );
    let drafts = e.json("GET", "/api/v1/mailings", Value::Null).await;
    assert_eq!(
        drafts.as_array().unwrap().len(),
        2,
        "no rejected call wrote a mailing"
    );
}

async fn keys_addresses_rights_and_accounts(backend: Backend) {
    let Some(e) = env_with(backend, |c| c.trusted_proxies = vec!["127.0.0.2".into()]).await else {
        return;
    };
    let l = e.news.to_string();
    let sub = [
        ("action", "SUBSCRIBE"),
        ("l", l.as_str()),
        ("e", "ivo@example.nl"),
    ];
    let a = e.raw(&sub, &[]).await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (401, "parameter key missing")
    );
    assert_eq!(
        a.tag("member"),
        "",
        "nothing about the member without a valid key"
    );
    let mut bad = vec![("key", "79833568-fd20-4955-b915-5d89aa73510c")];
    bad.extend_from_slice(&sub);
    assert_eq!(e.raw(&bad, &[]).await.description(), "key not valid");
    let mut bad = vec![("key", "not-a-guid")];
    bad.extend_from_slice(&sub);
    assert_eq!(e.raw(&bad, &[]).await.code(), 401);
    assert_eq!(
        e.call(&[("l", &l)]).await.description(),
        "parameter action missing"
    );
    assert_eq!(e.call(&[("action", "DANCE")]).await.code(), 404);
    assert_eq!(
        e.call(&[
            ("action", "subscribe"),
            ("l", &l),
            ("e", "lower@example.nl")
        ])
        .await
        .code(),
        200
    );

    // Allowlist: out of range, IPv6, and X-Forwarded-For only from a trusted proxy.
    let org = e.t.app.store.org_by_slug("paradiso").await.unwrap();
    let (k2, v2) = ml_keys::create(
        &e.t.app,
        org.id,
        None,
        &["10.0.0.0/8".into(), "2001:db8::/32".into()],
        "GET,SUBSCRIBE",
        false,
    )
    .await
    .unwrap();
    let call2 = |params: Vec<(&'static str, String)>, xff: Option<&'static str>| {
        let k = k2.clone();
        let e = &e;
        async move {
            let mut all = vec![("key", k)];
            all.extend(params);
            let all: Vec<(&str, &str)> = all.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let headers: Vec<(&str, &str)> = xff.iter().map(|x| ("x-forwarded-for", *x)).collect();
            e.raw(&all, &headers).await
        }
    };
    let get = || {
        vec![
            ("action", "GET".to_string()),
            ("e", "lower@example.nl".to_string()),
        ]
    };
    let a = call2(get(), None).await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (401, "ip address 127.0.0.1 is not allowed for this key")
    );
    assert_eq!(
        call2(get(), Some("10.1.2.3")).await.code(),
        401,
        "the header counts only from a trusted proxy"
    );
    ml_keys::allow_ips(&e.t.app, None, v2.id, &["127.0.0.1".into()], true)
        .await
        .unwrap();
    assert_eq!(call2(get(), Some("10.1.2.3")).await.code(), 200);
    ml_keys::allow_ips(&e.t.app, None, v2.id, &["2001:db8::/32".into()], true)
        .await
        .unwrap();
    assert_eq!(call2(get(), None).await.code(), 401);
    // Rights per action.
    ml_keys::allow_ips(&e.t.app, None, v2.id, &["127.0.0.1".into()], true)
        .await
        .unwrap();
    let a = call2(
        vec![
            ("action", "BLACKLISTADD".into()),
            ("e", "x@example.nl".into()),
        ],
        None,
    )
    .await;
    assert_eq!(
        (a.code(), a.description().as_str()),
        (401, "action BLACKLISTADD is not allowed for this key")
    );
    // Revoked: fails at once.
    ml_keys::revoke(&e.t.app, None, v2.id).await.unwrap();
    assert_eq!(call2(get(), None).await.description(), "key not valid");

    // Multi-account: a= picks the organisation; without it the key does not know which.
    let other = e.t.org("melkweg").await;
    ml_keys::grant(&e.t.app, None, e.key_id, "melkweg", 77)
        .await
        .unwrap();
    let mw =
        e.t.app
            .store
            .create_list(other.id, &support::new_list("mw", false, &[]), 0)
            .await
            .unwrap();
    let mwl = mw.number.to_string();
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &mwl),
            ("e", "jan@example.nl"),
        ])
        .await;
    assert_eq!(a.code(), 406, "{}", a.0);
    assert!(a.description().contains("parameter a"));
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("a", "77"),
            ("l", &mwl),
            ("e", "jan@example.nl"),
        ])
        .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    assert!(e
        .t
        .app
        .store
        .contact_by_email(
            other.id,
            &handbill::domain::EmailAddress::parse("jan@example.nl").unwrap()
        )
        .await
        .is_ok());
    let a = e
        .call(&[
            ("action", "GET"),
            ("a", &org.id.to_string()),
            ("e", "jan@example.nl"),
        ])
        .await;
    assert_eq!(a.code(), 404, "the accounts are apart");
    assert_eq!(
        e.call(&[("action", "GET"), ("a", "78"), ("e", "jan@example.nl")])
            .await
            .code(),
        401
    );
    assert_eq!(
        e.call(&[("action", "GET"), ("a", "x"), ("e", "jan@example.nl")])
            .await
            .code(),
        406
    );
}

async fn every_parameter_limit_is_a_406_and_writes_nothing(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let l = e.news.to_string();
    let base = [
        ("action", "SUBSCRIBE"),
        ("l", l.as_str()),
        ("e", "kim@example.nl"),
    ];
    for (name, max) in [
        ("fn", 80),
        ("np", 40),
        ("n", 80),
        ("o", 200),
        ("s", 80),
        ("num", 20),
        ("z", 20),
        ("c", 80),
        ("cnt", 255),
        ("m", 255),
        ("p", 255),
        ("lang", 255),
        ("so", 100),
        ("ic", 100),
        ("sy", 100),
    ] {
        let long = "x".repeat(max + 1);
        let mut params = base.to_vec();
        params.push((name, &long));
        let a = e.call(&params).await;
        assert_eq!(a.code(), 406, "{name}");
        assert_eq!(
            a.description(),
            format!("parameter {name} is longer than {max} characters")
        );
        let fits = "x".repeat(max);
        let mut params = vec![("action", "EDIT"), ("e", "nobody@example.nl")];
        params.push((name, &fits));
        assert_eq!(
            e.call(&params).await.code(),
            404,
            "{name} at its limit is fine"
        );
    }
    let long_e = format!("{}@example.nl", "x".repeat(250));
    for (params, code, what) in [
        (vec![("th", "X")], 406, "th"),
        (vec![("i", "2")], 406, "i"),
        (vec![("optin", "yes")], 406, "optin"),
        (vec![("welcome", "2")], 406, "welcome"),
        (vec![("owner", "not valid!")], 406, "owner"),
        (vec![("xf", "no-comma")], 406, "xf"),
        (vec![("xf", "Geboren,1987/06/01")], 406, "date field"),
        (vec![("xf", "Geboren,31-02-1987")], 406, "impossible date"),
        (vec![("lc", "Nope")], 404, "unknown listcode"),
        (vec![("xf", "Nope,1")], 404, "unknown listfield"),
        (vec![("lc", "Familie;Nope")], 404, "one bad listcode"),
    ] {
        let mut all = base.to_vec();
        all.extend(params);
        let a = e.call(&all).await;
        assert_eq!(a.code(), code, "{what}: {}", a.0);
    }
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &l),
            ("e", "kim@example.nl"),
            ("lc", "Familie;Nope"),
        ])
        .await;
    assert!(
        a.has("<description>listcode not found</description>"),
        "{}",
        a.0
    );
    assert!(a.has("not assigned: another code or field of the call was rejected"));
    for (params, code, desc) in [
        (
            vec![("action", "SUBSCRIBE"), ("e", "kim@example.nl")],
            404,
            "parameter l (list number) missing",
        ),
        (
            vec![
                ("action", "SUBSCRIBE"),
                ("l", "abc"),
                ("e", "kim@example.nl"),
            ],
            406,
            "parameter l must be a number from 0 to 2147483647",
        ),
        (
            vec![
                ("action", "SUBSCRIBE"),
                ("l", "2147483648"),
                ("e", "kim@example.nl"),
            ],
            406,
            "parameter l must be a number from 0 to 2147483647",
        ),
        (
            vec![("action", "SUBSCRIBE"), ("l", &l)],
            404,
            "parameter e, guid or id missing",
        ),
        (
            vec![("action", "SUBSCRIBE"), ("l", &l), ("e", "kim@")],
            406,
            "emailaddress not valid",
        ),
        (
            vec![("action", "SUBSCRIBE"), ("l", &l), ("e", &long_e)],
            406,
            "parameter e is longer than 255 characters",
        ),
        (
            vec![
                ("action", "SUBSCRIBE"),
                ("l", &l),
                ("guid", "G123456789012345678901"),
            ],
            406,
            "parameter guid is longer than 20 characters",
        ),
        (
            vec![("action", "GET"), ("id", "12x")],
            406,
            "parameter id must be a number from 0 to 2147483647",
        ),
    ] {
        let a = e.call(&params).await;
        assert_eq!(
            (a.code(), a.description()),
            (code, desc.to_string()),
            "{params:?}"
        );
    }
    assert_eq!(e.contacts().await, 0, "no rejected call wrote anything");
    // Unknown words are not errors: gender 105, Nederland, Nederlands.
    let a = e
        .call(&[
            ("action", "SUBSCRIBE"),
            ("l", &l),
            ("e", "kim@example.nl"),
            ("g", "alien"),
            ("cnt", "Atlantis"),
            ("lang", "Klingon"),
        ])
        .await;
    assert_eq!(a.code(), 200);
    let g = e.call(&[("action", "GET"), ("e", "kim@example.nl")]).await;
    assert!(
        g.has("<gender>105</gender>")
            && g.has("<country>Nederland</country>")
            && g.has("<language>Nederlands</language>")
    );
}

async fn sandbox_mail_stays_in_the_outbox(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let (key, view, list) = ml_keys::create_sandbox(&e.t.app, "sandbox", Some(34))
        .await
        .unwrap();
    assert!(view.any_ip && view.actions.len() == 9);
    let l = list.to_string();
    let a = e
        .raw(
            &[
                ("key", &key),
                ("a", "34"),
                ("action", "SUBSCRIBE"),
                ("l", &l),
                ("e", "tester@example.nl"),
                ("welcome", "1"),
            ],
            &[("x-forwarded-for", "198.51.100.9")],
        )
        .await;
    assert_eq!(a.code(), 200, "{}", a.0);
    run_until_idle(&e.t.app).await.unwrap();
    assert!(
        e.sink.received().is_empty(),
        "sandbox mail never reaches the relay"
    );
    let outbox = e.t.app.config.outbox_dir().join("new");
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(files.len(), 1, "the welcome mail is in the outbox");
    // Creating it again reuses the organisation and the list.
    let (_, _, again) = ml_keys::create_sandbox(&e.t.app, "sandbox", Some(34))
        .await
        .unwrap();
    assert_eq!(again, list);
}

async fn keys_and_codes_through_the_json_api(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let created = e
        .json(
            "POST",
            "/api/v1/mailinglijst/keys",
            json!({"allow_ip": ["192.0.2.0/24"], "actions": "subscribe,get", "account": 12}),
        )
        .await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(key.len(), 36);
    assert_eq!(created["actions"], json!(["SUBSCRIBE", "GET"]));
    assert_eq!(created["accounts"][0]["account"], 12);
    let id = created["id"].as_i64().unwrap();
    let listed = e
        .json("GET", "/api/v1/mailinglijst/keys", Value::Null)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(key),
        "the key is shown only once"
    );
    let v = e
        .json(
            "PATCH",
            &format!("/api/v1/mailinglijst/keys/{id}"),
            json!({"allow_ip": ["2001:db8::1"], "actions": "all"}),
        )
        .await;
    assert_eq!(v["allowed_ips"], json!(["2001:db8::1/128"]));
    assert_eq!(v["actions"].as_array().unwrap().len(), 9);
    for (method, path, body, status) in [
        (
            "POST",
            "/api/v1/mailinglijst/keys",
            json!({"actions": "DANCE"}),
            422,
        ),
        (
            "POST",
            "/api/v1/mailinglijst/keys",
            json!({"allow_ip": ["nope"]}),
            422,
        ),
        (
            "POST",
            "/api/v1/mailinglijst/keys",
            json!({"account": 0}),
            422,
        ),
        (
            "POST",
            "/api/v1/mailinglijst/keys",
            json!({"extra": 1}),
            422,
        ),
        (
            "PATCH",
            "/api/v1/mailinglijst/keys/999",
            json!({"actions": "all"}),
            404,
        ),
        (
            "PATCH",
            &format!("/api/v1/mailinglijst/keys/{id}"),
            json!({"actions": "all", "allow_ip": ["bad"]}),
            422,
        ),
        (
            "POST",
            "/api/v1/lists/news/codes",
            json!({"kind": "tag", "name": "x"}),
            422,
        ),
        (
            "POST",
            "/api/v1/lists/news/codes",
            json!({"kind": "code", "name": "a;b"}),
            422,
        ),
        (
            "POST",
            "/api/v1/lists/news/codes",
            json!({"kind": "code", "name": "x", "field_type": "date"}),
            422,
        ),
        (
            "POST",
            "/api/v1/lists/news/codes",
            json!({"kind": "field", "name": "x", "field_type": "colour"}),
            422,
        ),
        (
            "POST",
            "/api/v1/lists/news/codes",
            json!({"kind": "code", "name": "Familie"}),
            409,
        ),
        (
            "POST",
            "/api/v1/lists/nope/codes",
            json!({"kind": "code", "name": "x"}),
            404,
        ),
        ("DELETE", "/api/v1/lists/news/codes/999", Value::Null, 404),
    ] {
        let res = e.req(method, path, Some(body.clone())).await;
        assert_eq!(res.status(), status, "{method} {path} {body}");
    }
    let v = e
        .json("GET", "/api/v1/mailinglijst/keys", Value::Null)
        .await;
    assert_eq!(
        v[1]["actions"].as_array().unwrap().len(),
        9,
        "a rejected PATCH changed nothing"
    );
    let codes = e.json("GET", "/api/v1/lists/news/codes", Value::Null).await;
    assert_eq!(codes.as_array().unwrap().len(), 5);
    let first = codes[0]["id"].as_i64().unwrap();
    assert_eq!(
        e.req("DELETE", &format!("/api/v1/lists/news/codes/{first}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        e.req("DELETE", &format!("/api/v1/mailinglijst/keys/{id}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        e.req("DELETE", &format!("/api/v1/mailinglijst/keys/{id}"), None)
            .await
            .status(),
        404
    );
    let xsd =
        e.t.client
            .get(e.t.url("/api/api.xsd"))
            .send()
            .await
            .unwrap();
    assert_eq!(xsd.status(), 200);
    assert!(xsd.text().await.unwrap().contains("xs:schema"));
}
