//! The data model and webhook receivers through the real server and a real SMTP server:
//! collections with typed fields, records addressed by contact id, e-mail or external id
//! (bulk upserts all or nothing), records in segments, erasure; a webhook that upserts the
//! contact, adds the order and starts the confirmation automation in one call, a bad payload
//! refused with its pointer and nothing written, the hook's tokens; and every rejection.

mod support;

use serde_json::{json, Value};
use support::automation_env::{env, Env};
use support::Backend;

both_backends!(
    collections_and_records,
    record_imports,
    webhook_receivers,
    rejections
);

impl Env {
    async fn orders(&self) {
        let res = self
            .put(
                "/api/v1/collections/orders",
                json!({"name": "Orders", "primary_key": "order_id", "fields": [
                    {"name": "order_id", "type": "string"},
                    {"name": "event_date", "type": "date", "required": true},
                    {"name": "total", "type": "decimal"},
                    {"name": "show", "type": "product"},
                    {"name": "status", "type": "string"}
                ]}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    async fn put_records(&self, records: Value) -> reqwest::Response {
        self.put(
            "/api/v1/collections/orders/records",
            json!({ "records": records }),
        )
        .await
    }

    async fn hook_call(&self, id: &str, token: &str, payload: Value) -> reqwest::Response {
        self.t
            .client
            .post(self.t.url(&format!("/hooks/{id}")))
            .bearer_auth(token)
            .json(&payload)
            .send()
            .await
            .unwrap()
    }
}

async fn collections_and_records(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.orders().await;
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    e.customer("CUST-2", "bob@example.org", "Bob", true).await;
    let bob = e.get("/api/v1/contacts?email=bob@example.org").await["id"]
        .as_i64()
        .unwrap();
    // 2026-01-01 is "today": Ann's show is in 5 days, Bob's in 30.
    let res = e
        .put_records(json!([
            {"contact": {"email": "Ann@Example.org"}, "data": {"order_id": "A1", "event_date": "2026-01-06", "total": "24,50", "show": "P1"}},
            {"contact": {"external_id": "CUST-1"}, "data": {"order_id": "A2", "event_date": "2025-12-01", "status": "paid"}},
            {"contact": {"id": bob}, "data": {"order_id": 7, "event_date": "2026-01-31"}}
        ]))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"inserted": 3, "updated": 0})
    );
    let res = e
        .put_records(json!([{"contact": {"id": bob}, "data": {"order_id": "7", "event_date": "2026-01-02", "status": "paid"}}]))
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"inserted": 0, "updated": 1})
    );
    let anns = e
        .get("/api/v1/collections/orders/records?email=ann@example.org")
        .await;
    let keys: Vec<&str> = anns
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["A1", "A2"]);
    assert_eq!(anns[0]["data"]["total"], "24.50");
    let paid = e
        .get("/api/v1/collections/orders/records?where=status:paid")
        .await;
    assert_eq!(paid.as_array().unwrap().len(), 2);
    assert_eq!(
        e.get("/api/v1/collections/orders/records/7").await["contact_id"],
        bob
    );
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 3);
    let res = e
        .post(
            "/api/v1/collections/orders/records",
            json!({"contact": {"email": "bob@example.org"}, "data": {"order_id": "7", "event_date": "2026-02-01"}}),
        )
        .await;
    assert_eq!(res.status(), 409);

    // Segments: an order with its show in the next 7 days; a paid order; no order at all.
    for (segment, expected) in [
        (
            json!({"field": "records.orders.event_date", "op": "in_next_days", "value": 7}),
            vec!["ann@example.org", "bob@example.org"],
        ),
        (
            json!({"field": "records.orders.event_date", "op": "gte", "value": "2026-01-03"}),
            vec!["ann@example.org"],
        ),
        (
            json!({"field": "records.orders.total", "op": "gt", "value": 20}),
            vec!["ann@example.org"],
        ),
        (
            json!({"and": [{"field": "records.orders.status", "op": "eq", "value": "paid"}, {"field": "first_name", "op": "eq", "value": "Bob"}]}),
            vec!["bob@example.org"],
        ),
        (
            json!({"field": "records.orders", "op": "not_exists"}),
            vec![],
        ),
    ] {
        let res = e
            .post(
                "/api/v1/exports",
                json!({"name": "seg", "segment": segment, "columns": ["email"]}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let run: Value = e
            .post(&format!("/api/v1/exports/{id}/run"), json!({}))
            .await
            .json()
            .await
            .unwrap();
        let file = e
            .get_as(&e.admin, run["download"].as_str().unwrap())
            .await
            .text()
            .await
            .unwrap();
        let got: Vec<&str> = file.lines().skip(1).collect();
        assert_eq!(got, expected, "{segment}");
    }

    // A mailing shows each recipient's own orders.
    let res = e
        .post(
            "/api/v1/mailings",
            json!({"name": "Shows", "subject": "Your shows", "from_email": "news@shop.test", "lists": ["news"],
                   "segment": {"field": "records.orders", "op": "exists"},
                   "html": "<p>{% for o in records.orders %}[{{ o.order_id }} on {{ o.event_date }}]{% endfor %}</p>"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = e
        .post(&format!("/api/v1/mailings/{id}/send"), json!({}))
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let mut got: Vec<(String, bool)> = e
        .mails()
        .await
        .into_iter()
        .map(|(to, _, html)| {
            let expected = if to == "ann@example.org" {
                "[A1 on 2026-01-06][A2 on 2025-12-01]"
            } else {
                "[7 on 2026-01-02]"
            };
            (to, html.contains(expected))
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("ann@example.org".to_string(), true),
            ("bob@example.org".to_string(), true)
        ]
    );

    // A field may be added; none may be removed or change type while there are records.
    let res = e
        .put(
            "/api/v1/collections/orders",
            json!({"name": "Orders", "primary_key": "order_id", "fields": [
                {"name": "order_id", "type": "string"}, {"name": "event_date", "type": "datetime"},
                {"name": "total", "type": "decimal"}, {"name": "show", "type": "product"}, {"name": "status", "type": "string"}]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("immutable"));
    // Erasure takes the person's records with it.
    let res =
        e.t.client
            .delete(e.t.url(&format!("/api/v1/contacts/{bob}")))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 2);
    let res =
        e.t.client
            .delete(e.t.url("/api/v1/collections/orders/records/A2"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 1);
}

/// An orders file: one line per order, the contact's fields beside it.
async fn record_imports(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.orders().await;
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    let mapping = json!({"columns": {"email": "email", "name": "first_name",
        "order": "records.orders.order_id", "date": "records.orders.event_date",
        "total": "records.orders.total", "show": "records.orders.show"}});
    let csv = "email,name,order,date,total,show\n\
        ann@example.org,Ann,A1,2026-01-06,\"24,50\",P1\n\
        ann@example.org,Annie,A2,2026-02-01,,\n\
        cee@example.org,Cee,C1,2026-03-01,10,\n\
        dan@example.org,Dan,D1,01-01-2026,,\n\
        eve@example.org,Eve,E1,2026-01-01,,NOPE\n\
        fay@example.org,Fay,,2026-01-01,,\n";
    let i = e.import(csv.as_bytes(), mapping.clone()).await;
    assert_eq!(i["status"], "done", "{i}");
    let counts = |i: &Value| {
        [
            "inserted",
            "updated",
            "unchanged",
            "skipped",
            "failed",
            "records",
        ]
        .map(|k| i[k].as_i64().unwrap())
    };
    // Ann's two lines are one contact (the later name) with two orders.
    assert_eq!(counts(&i), [1, 1, 0, 0, 3, 3], "{i}");
    let errors: Vec<(i64, &str, &str)> = i["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["column"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (5, "date", "invalid_value"),
            (6, "show", "unknown_product"),
            (7, "order", "required")
        ]
    );
    let ann = e.get("/api/v1/contacts?email=ann@example.org").await;
    assert_eq!(ann["first_name"], "Annie");
    let orders = e
        .get("/api/v1/collections/orders/records?email=ann@example.org")
        .await;
    let data: Vec<&Value> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["data"])
        .collect();
    assert_eq!(
        data,
        [
            &json!({"order_id": "A1", "event_date": "2026-01-06", "total": "24.50", "show": "P1"}),
            &json!({"order_id": "A2", "event_date": "2026-02-01"})
        ]
    );
    assert_eq!(
        e.get("/api/v1/collections/orders/records/C1").await["data"]["total"],
        "10"
    );
    let res = e
        .get_as(&e.admin, "/api/v1/contacts?email=dan@example.org")
        .await;
    assert_eq!(res.status(), 404, "a refused line writes nothing");
    // The same file again changes nothing.
    let again = e.import(csv.as_bytes(), mapping).await;
    assert_eq!(counts(&again), [0, 0, 2, 0, 3, 0], "{again}");
    // Orders of known contacts only (mode update): an unknown contact's line is skipped.
    let i = e
        .import(
            b"email,order,date\nann@example.org,A3,2026-04-01\nzed@example.org,Z1,2026-04-01\n",
            json!({"mode": "update", "columns": {"email": "email", "order": "records.orders.order_id",
                "date": "records.orders.event_date"}}),
        )
        .await;
    assert_eq!(counts(&i), [0, 0, 1, 1, 0, 1], "{i}");
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 4);
    // The mapping is checked against the collections.
    for (columns, field, code) in [
        (
            json!({"email": "email", "x": "records.tickets.id"}),
            "columns.x",
            "unknown_collection",
        ),
        (
            json!({"email": "email", "order": "records.orders.order_id", "date": "records.orders.event_date", "x": "records.orders.colour"}),
            "columns.x",
            "unknown_field",
        ),
        (
            json!({"email": "email", "order": "records.orders.order_id"}),
            "columns",
            "required_field",
        ),
        (
            json!({"email": "email", "x": "records.orders"}),
            "columns.x",
            "unknown_target",
        ),
    ] {
        let res = e
            .upload(b"email,order,date,x\n", json!({ "columns": columns }))
            .await;
        support::assert_field_error(res, field, code, &columns.to_string()).await;
    }
}

async fn webhook_receivers(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.orders().await;
    let res = e
        .post(
            "/api/v1/templates",
            json!({"key": "order", "kind": "transactional", "name": "Order", "subject": "Welcome {{ contact.first_name }}",
                   "html": "<p>{% for o in records.orders %}Order {{ o.order_id }} for {{ o.event_date }}, total {{ o.total }}.{% endfor %}</p>"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let automation = e
        .publish(json!({"name": "Order confirmation", "steps": [{"type": "email", "template": "order", "marketing": false}]}))
        .await;
    let code = e.get(&format!("/api/v1/automations/{automation}")).await["triggerCode"]
        .as_str()
        .unwrap()
        .to_string();
    let res = e
        .post(
            "/api/v1/hooks",
            json!({"name": "Ticket shop orders", "mapping": {
                "contact": {"email": "/customer/email", "external_id": "/customer/id", "first_name": "/customer/first_name"},
                "records": [{"collection": "orders", "fields": {"order_id": "/id", "event_date": "/event/date", "total": "/total"}}],
                "automation": {"code": code, "fields": {"order_id": "/id"}}
            }}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let hook: Value = res.json().await.unwrap();
    let id = hook["id"].as_str().unwrap().to_string();
    let token = hook["token"].as_str().unwrap().to_string();
    assert!(hook["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/hooks/{id}")));
    assert!(
        e.get(&format!("/api/v1/hooks/{id}"))
            .await
            .get("token")
            .is_none(),
        "the token is shown once"
    );
    let order = json!({"id": "T-1001", "total": 49.5, "event": {"date": "2026-02-14", "name": "Jazz night"},
        "customer": {"id": "CUST-9", "email": "kim@example.org", "first_name": "Kim"}});

    // A bad value: 400 naming the pointer; nothing written.
    let mut bad = order.clone();
    bad["event"]["date"] = json!("14 February");
    let res = e.hook_call(&id, &token, bad).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_payload");
    assert_eq!(problem["errors"][0]["field"], "/event/date", "{problem}");
    let mut bad = order.clone();
    bad["customer"]["email"] = json!({"work": "kim@example.org"});
    let problem: Value = e.hook_call(&id, &token, bad).await.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"], "/customer/email",
        "{problem}"
    );
    let res = e
        .get_as(&e.admin, "/api/v1/contacts?email=kim@example.org")
        .await;
    assert_eq!(res.status(), 404, "nothing was written");
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 0);

    // The test endpoint reads a payload as a call would and writes nothing.
    let res = e
        .post(&format!("/api/v1/hooks/{id}/test"), order.clone())
        .await;
    assert_eq!(res.status(), 200);
    let would: Value = res.json().await.unwrap();
    assert_eq!(would["email"], "kim@example.org");
    assert_eq!(would["fields"]["first_name"], "Kim", "{would}");
    assert_eq!(would["records"][0]["collection"], "orders");
    assert_eq!(would["records"][0]["key"], "T-1001");
    assert_eq!(would["automation"], code.as_str());
    let mut bad = order.clone();
    bad["event"]["date"] = json!("14 February");
    let res = e.post(&format!("/api/v1/hooks/{id}/test"), bad).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "/event/date", "{problem}");
    assert_eq!(
        e.get_as(&e.admin, "/api/v1/contacts?email=kim@example.org")
            .await
            .status(),
        404,
        "a test writes nothing"
    );

    // One call: the contact, the order and the confirmation mail.
    let res = e.hook_call(&id, &token, order.clone()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["created"], true);
    assert_eq!(got["records"], 1);
    assert_eq!(got["started"], 1);
    let kim = e.get("/api/v1/contacts?email=kim@example.org").await;
    assert_eq!(kim["first_name"], "Kim");
    assert_eq!(kim["external_id"], "CUST-9");
    let rec = e.get("/api/v1/collections/orders/records/T-1001").await;
    assert_eq!(
        rec["data"],
        json!({"order_id": "T-1001", "event_date": "2026-02-14", "total": "49.5"})
    );
    assert_eq!(rec["contact_id"], kim["id"]);
    let mails = e.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "kim@example.org");
    assert_eq!(mails[0].1, "Welcome Kim");
    assert!(
        mails[0]
            .2
            .contains("Order T-1001 for 2026-02-14, total 49.5."),
        "{}",
        mails[0].2
    );
    // The same order again: the contact and record are found, not doubled.
    let got: Value = e
        .hook_call(&id, &token, order.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["created"], false);
    assert_eq!(e.get("/api/v1/collections/orders").await["records"], 1);

    // Tokens: a wrong one and an unknown hook look the same; rotation; an attached org token.
    assert_eq!(
        e.hook_call(&id, "hb_hook_wrong", order.clone())
            .await
            .status(),
        401
    );
    assert_eq!(
        e.hook_call("nope", &token, order.clone()).await.status(),
        401
    );
    assert_eq!(
        e.hook_call(&id, &e.admin, order.clone()).await.status(),
        401,
        "org tokens only when attached"
    );
    let rotated: Value = e
        .post(&format!("/api/v1/hooks/{id}/rotate"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new_token = rotated["token"].as_str().unwrap().to_string();
    assert_eq!(e.hook_call(&id, &token, order.clone()).await.status(), 401);
    assert_eq!(
        e.hook_call(&id, &new_token, order.clone()).await.status(),
        200
    );
    let res = e
        .post(
            "/api/v1/tokens",
            json!({"scopes": ["webhooks:receive"], "name": "shop"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let issued: Value = res.json().await.unwrap();
    let org_token_id = issued["token"]["id"].as_i64().unwrap();
    let mut def = json!({"name": "Ticket shop orders", "mapping": e.get(&format!("/api/v1/hooks/{id}")).await["mapping"], "token_id": org_token_id});
    assert_eq!(
        e.put(&format!("/api/v1/hooks/{id}"), def.clone())
            .await
            .status(),
        200
    );
    let res = e
        .hook_call(&id, issued["secret"].as_str().unwrap(), order.clone())
        .await;
    assert_eq!(res.status(), 200);
    // The org token is replaced: the hook keeps working with the new secret.
    let res = e
        .post(&format!("/api/v1/tokens/{org_token_id}/rotate"), json!({}))
        .await;
    assert_eq!(res.status(), 201);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(
        e.hook_call(&id, issued["secret"].as_str().unwrap(), order.clone())
            .await
            .status(),
        401
    );
    assert_eq!(
        e.hook_call(&id, replaced["secret"].as_str().unwrap(), order.clone())
            .await
            .status(),
        200
    );
    // A token without webhooks:receive cannot be attached.
    def["token_id"] = json!(999_999);
    assert_eq!(
        e.put(&format!("/api/v1/hooks/{id}"), def).await.status(),
        422
    );
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    for (key, body, field, code) in [
        (
            "Orders",
            json!({"name": "x", "primary_key": "a", "fields": [{"name": "a", "type": "string"}]}),
            "key",
            "invalid_key",
        ),
        (
            "orders",
            json!({"name": "", "primary_key": "a", "fields": [{"name": "a", "type": "string"}]}),
            "name",
            "invalid_name",
        ),
        (
            "orders",
            json!({"name": "x", "primary_key": "b", "fields": [{"name": "a", "type": "string"}]}),
            "primary_key",
            "unknown_field",
        ),
        (
            "orders",
            json!({"name": "x", "primary_key": "a", "fields": [{"name": "a", "type": "boolean"}]}),
            "primary_key",
            "invalid_primary_key",
        ),
        (
            "orders",
            json!({"name": "x", "primary_key": "a", "fields": []}),
            "fields",
            "out_of_range",
        ),
        (
            "orders",
            json!({"name": "x", "primary_key": "a", "fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "date"}]}),
            "fields[1].name",
            "duplicate",
        ),
        (
            "orders",
            json!({"name": "x", "primary_key": "a", "fields": [{"name": "Bad Name", "type": "string"}, {"name": "a", "type": "string"}]}),
            "fields[0].name",
            "invalid_name",
        ),
    ] {
        let res = e
            .put(&format!("/api/v1/collections/{key}"), body.clone())
            .await;
        support::assert_field_error(res, field, code, &body.to_string()).await;
    }
    let res = e
        .put(
            "/api/v1/collections/orders",
            json!({"name": "x", "primary_key": "a", "fields": [{"name": "a", "type": "uuid"}]}),
        )
        .await;
    assert_eq!(res.status(), 422, "an unknown type");
    e.orders().await;
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    for (records, field, code) in [
        (
            json!([{"contact": {"email": "nobody@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01"}}]),
            "records[0].contact",
            "unknown_contact",
        ),
        (
            json!([{"contact": {"email": "ann@example.org", "id": 1}, "data": {"order_id": "1", "event_date": "2026-01-01"}}]),
            "records[0].contact",
            "invalid_contact",
        ),
        (
            json!([{"contact": {"email": "not-an-address"}, "data": {"order_id": "1", "event_date": "2026-01-01"}}]),
            "records[0].contact.email",
            "invalid_email",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "01-01-2026"}}]),
            "records[0].data.event_date",
            "invalid_value",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1"}}]),
            "records[0].data.event_date",
            "required",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01", "colour": "red"}}]),
            "records[0].data.colour",
            "unknown_field",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01", "total": "abc"}}]),
            "records[0].data.total",
            "invalid_value",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01", "show": "NOPE"}}]),
            "records[0].data",
            "unknown_product",
        ),
        (
            json!([{"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01"}},
                {"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-02"}}]),
            "records[1].data.order_id",
            "duplicate",
        ),
        (json!([]), "records", "out_of_range"),
    ] {
        // A good record first: nothing of the call may be written.
        let mut all = vec![
            json!({"contact": {"email": "ann@example.org"}, "data": {"order_id": "GOOD", "event_date": "2026-01-01"}}),
        ];
        all.extend(records.as_array().unwrap().iter().cloned());
        let body = if records.as_array().unwrap().is_empty() {
            json!([])
        } else {
            Value::Array(all)
        };
        let res = e.put_records(body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        let p: Value = res.json().await.unwrap();
        let shifted = field
            .replace("records[0]", "records[1]")
            .replace("records[1].data.order_id", "records[2].data.order_id");
        assert!(
            p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| (x["field"] == field || x["field"] == shifted.as_str())
                    && x["code"] == code),
            "{body}: {p}"
        );
    }
    assert_eq!(
        e.get("/api/v1/collections/orders").await["records"],
        0,
        "nothing written"
    );
    for (query, code) in [
        ("where=nope:1", "invalid_filter"),
        ("limit=0", "out_of_range"),
        ("email=a@b.c&contact_id=1", "invalid_contact"),
    ] {
        let res = e
            .get_as(
                &e.admin,
                &format!("/api/v1/collections/orders/records?{query}"),
            )
            .await;
        assert_eq!(res.status(), 422, "{query}");
        assert!(res.text().await.unwrap().contains(code), "{query}");
    }
    // Segments name record fields properly.
    let res = e
        .post(
            "/api/v1/segments/preview",
            json!({"lists": ["news"], "segment": {"field": "records.Orders", "op": "exists"}}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = e.post("/api/v1/segments/preview", json!({"lists": ["news"], "segment": {"field": "records.orders.event_date", "op": "in_next_days", "value": -1}})).await;
    assert_eq!(res.status(), 422);

    // Hooks.
    for (mapping, field, code) in [
        (
            json!({"contact": {"first_name": "/n"}}),
            "mapping.contact",
            "key_required",
        ),
        (
            json!({"contact": {"email": "e"}}),
            "mapping.contact.email",
            "invalid_pointer",
        ),
        (
            json!({"contact": {"email": "/e", "password": "/p"}}),
            "mapping.contact.password",
            "unknown_target",
        ),
        (
            json!({"contact": {"email": "/e"}, "records": [{"collection": "tickets", "fields": {"id": "/id"}}]}),
            "mapping.records[0].collection",
            "unknown_collection",
        ),
        (
            json!({"contact": {"email": "/e"}, "records": [{"collection": "orders", "fields": {"colour": "/c", "order_id": "/id"}}]}),
            "mapping.records[0].fields.colour",
            "unknown_field",
        ),
        (
            json!({"contact": {"email": "/e"}, "records": [{"collection": "orders", "fields": {"total": "/t"}}]}),
            "mapping.records[0].fields",
            "key_required",
        ),
        (
            json!({"contact": {"email": "/e"}, "automation": {"code": "nope"}}),
            "mapping.automation.code",
            "unknown_trigger",
        ),
    ] {
        let res = e
            .post("/api/v1/hooks", json!({"name": "x", "mapping": mapping}))
            .await;
        support::assert_field_error(res, field, code, &mapping.to_string()).await;
    }
    assert!(e.get("/api/v1/hooks").await.as_array().unwrap().is_empty());
    let reader = e.t.token("shop", &["contacts:read"], &[]).await;
    let res = e
        .post_as(
            &reader,
            "/api/v1/hooks",
            json!({"name": "x", "mapping": {"contact": {"email": "/e"}}}),
            None,
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = e.post_as(&reader, "/api/v1/collections/orders/records", json!({"contact": {"email": "ann@example.org"}, "data": {"order_id": "1", "event_date": "2026-01-01"}}), None).await;
    assert_eq!(res.status(), 403);
}
