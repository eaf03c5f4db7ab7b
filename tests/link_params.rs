//! Encrypted link parameters through the real server: turning the parameter on, the key shown
//! once, click redirects of automation mails carrying the sealed contact fields, opened by the
//! Python snippet of the docs (run here with PyNaCl) as by our own code, the published test
//! vector, rotation, turning it off, and every rejection.

mod support;

use std::process::Command;

use handbill::domain::link_param;
use serde_json::{json, Value};
use support::automation_env::{env, Env};
use support::Backend;

both_backends!(parameter_on_clicks_and_snippet, rejections);

const SNIPPET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/snippets/linkparam_decrypt.py"
);

/// Opens a parameter with the Python snippet of the docs.
fn python_open(key: &str, token: &str) -> Option<Value> {
    let out = Command::new("python3")
        .args([SNIPPET, key, token])
        .output()
        .expect("python3 runs (scripts/test installs PyNaCl)");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("ModuleNotFoundError"),
        "PyNaCl is missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

impl Env {
    /// A mail with one link, clicked; the redirect's target.
    async fn click_target(&self, code: &str, contact: &str) -> String {
        let before = self.sink.received().len();
        let res = self.trigger(code, contact, json!([{"name": "linktocart", "type": "URL", "values": ["https://shop.test/cart/9?x=1#top"]}, {"name": "productlist", "type": "PRODUCTLIST", "values": []}])).await;
        assert_eq!(res.status(), 200);
        self.t.clock.advance_ms(3_600_000);
        let mails = self.mails().await;
        assert_eq!(mails.len(), before + 1);
        self.tracked_targets(&mails[before].2)
            .await
            .into_iter()
            .find(|t| t.starts_with("https://shop.test/cart/9"))
            .unwrap()
    }

    async fn put_param(&self, token: &str, body: Value) -> reqwest::Response {
        self.t
            .client
            .put(self.t.url("/api/v1/link-parameter"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn param_of(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn parameter_on_clicks_and_snippet(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    // The vector the docs publish opens with the Python snippet.
    assert_eq!(
        python_open(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXrxtgHbGJFTS11ubQwdwA6vPX3ah2dzzoDRPRZ2x8V_Vkl2MCCvvgMsWQtxlZjvfAq1tMyhL94CukVok7_LaQ8B5uklmH"
        ),
        Some(json!({"email": "ann@example.org", "external_id": "CUST-1001"}))
    );
    let (_, code) = e
        .automation(
            "Cart",
            "multiple",
            json!([{"type": "wait", "hours": 1}, {"type": "email", "template": "cart"}]),
        )
        .await;
    e.customer("CUST-7", "kim@example.org", "Kim", true).await;
    // Off: the target is as the mail had it.
    assert_eq!(
        e.click_target(&code, "CUST-7").await,
        "https://shop.test/cart/9?x=1#top"
    );
    let res = e
        .put_param(&e.admin, json!({"fields": ["external_id", "email"]}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let on: Value = res.json().await.unwrap();
    let key = on["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 64);
    assert_eq!(on["name"], "hb");
    let shown = e.get("/api/v1/link-parameter").await;
    assert!(shown.get("key").is_none(), "the key is shown once");
    // On: the redirect adds hb= before the fragment, sealed for the contact who clicked.
    let target = e.click_target(&code, "CUST-7").await;
    assert!(
        target.starts_with("https://shop.test/cart/9?x=1&hb="),
        "{target}"
    );
    assert!(target.ends_with("#top"), "{target}");
    let token = param_of(&target, "hb").unwrap();
    let expected = json!({"external_id": "CUST-7", "email": "kim@example.org"});
    assert_eq!(python_open(&key, &token), Some(expected.clone()));
    let ours = link_param::open(&link_param::parse_key(&key).unwrap(), &token).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), expected);
    // Changing the fields keeps the key; rotating makes a new one the old cannot open.
    let res = e
        .put_param(&e.admin, json!({"name": "visitor", "fields": ["guid"]}))
        .await;
    let changed: Value = res.json().await.unwrap();
    assert!(changed.get("key").is_none());
    let target = e.click_target(&code, "CUST-7").await;
    let token = param_of(&target, "visitor").unwrap();
    let fields = python_open(&key, &token).unwrap();
    assert_eq!(fields["guid"].as_str().unwrap().len(), 20);
    let res = e
        .put_param(
            &e.admin,
            json!({"name": "visitor", "fields": ["guid"], "rotate_key": true}),
        )
        .await;
    let rotated: Value = res.json().await.unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    let target = e.click_target(&code, "CUST-7").await;
    let token = param_of(&target, "visitor").unwrap();
    assert_eq!(python_open(&key, &token), None);
    assert!(python_open(&new_key, &token).is_some());
    // Off again.
    let res =
        e.t.client
            .delete(e.t.url("/api/v1/link-parameter"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        e.click_target(&code, "CUST-7").await,
        "https://shop.test/cart/9?x=1#top"
    );
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    for (body, field, code) in [
        (
            json!({"name": "h b", "fields": ["email"]}),
            "name",
            "invalid_name",
        ),
        (json!({"fields": []}), "fields", "required"),
        (
            json!({"fields": ["password"]}),
            "fields[0]",
            "unknown_field",
        ),
        (
            json!({"fields": ["email", "email"]}),
            "fields[1]",
            "duplicate",
        ),
    ] {
        let res = e.put_param(&e.admin, body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["errors"][0]["field"], field, "{b}");
        assert_eq!(b["errors"][0]["code"], code, "{b}");
    }
    let res = e.put_param(&e.shop, json!({"fields": ["email"]})).await;
    assert_eq!(res.status(), 403, "only an admin token");
    let res = e.get_as(&e.admin, "/api/v1/link-parameter").await;
    assert_eq!(res.status(), 404, "nothing was saved");
}
