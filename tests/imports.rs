//! Contact imports through the real server: upload and poll, delimiters, BOM, quoting and
//! Windows-1252, matching on e-mail or external id, the three modes, empty cells that keep or
//! clear, attributes, tags, bad rows with their line, a repeated run that changes nothing,
//! all-or-nothing, a resumed import that counts no row twice, and the consent basis of the
//! subscriptions an import sets (asserted with a note in the ledger; confirm with the double
//! opt-in mail over real SMTP).

mod support;

use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::automation_env::{env, Env};
use support::Backend;

both_backends!(
    upload_poll_modes_and_bad_rows,
    consent_basis_of_subscriptions,
    all_or_nothing_and_resume,
    mapping_rejections,
    many_tags_start_their_automation,
);

impl Env {
    async fn contact_by_email(&self, email: &str) -> Value {
        self.get(&format!("/api/v1/contacts?email={email}")).await
    }
}

fn counts(i: &Value) -> [i64; 6] {
    [
        "inserted",
        "updated",
        "unchanged",
        "skipped",
        "failed",
        "subscribed",
    ]
    .map(|k| i[k].as_i64().unwrap())
}

async fn upload_poll_modes_and_bad_rows(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let mapping = json!({"columns": {
        "E-mail": "email", "Voornaam": "first_name", "Stad": {"to": "city", "empty": "clear"},
        "Geboren": {"to": "attributes.birthday", "type": "date"}, "Labels": "tags", "Klant": "external_id"}});
    // A BOM, semicolons, quoted fields with the delimiter, quotes and a line break (in a
    // column the mapping leaves out), and bad rows.
    let csv = "\u{feff}E-mail;Voornaam;Stad;Geboren;Labels;Klant;Notitie\n\
        ann@example.org;Ann;Utrecht;02-01-1990;vip,club;K1;\n\
        bob@example.org;\"Bob; \"\"the builder\"\"\";Den Bosch;1985-06-30;;K2;\"two\nlines\"\n\
        not-an-address;Carl;;;;K3;\n\
        dan@example.org;Dan;;31-02-1990;;K4;\n\
        eve@example.org;Eve;;;;K5;\n\
        eve@example.org;Eva;Zwolle;;;K5;\n";
    let i = e.import(csv.as_bytes(), mapping.clone()).await;
    assert_eq!(i["status"], "done", "{i}");
    assert_eq!(i["rows_read"], 6);
    assert_eq!(counts(&i), [3, 0, 0, 0, 3, 0], "{i}");
    let errors: Vec<(i64, String, String)> = i["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (5, "E-mail".into(), "invalid_email".into()),
            (6, "Geboren".into(), "invalid_date".into()),
            (7, "row".into(), "duplicate_row".into()),
        ]
    );
    let ann = e.contact_by_email("ann@example.org").await;
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["attributes"]["birthday"], "1990-01-02");
    assert_eq!(ann["tags"], json!(["club", "vip"]));
    let bob = e.contact_by_email("bob@example.org").await;
    assert_eq!(bob["first_name"], "Bob; \"the builder\"");
    assert_eq!(bob["city"], "Den Bosch");
    assert_eq!(
        e.contact_by_email("eve@example.org").await["first_name"],
        "Eva"
    );

    // The same file again changes nothing.
    let again = e.import(csv.as_bytes(), mapping.clone()).await;
    assert_eq!(counts(&again), [0, 0, 3, 0, 3, 0], "{again}");
    assert_eq!(
        e.contact_by_email("ann@example.org").await["updated_at"],
        ann["updated_at"]
    );

    // Update-only by external id: an empty cell keeps the first name and clears the city.
    let update = json!({"match": "external_id", "mode": "update", "delimiter": ",",
        "columns": {"id": "external_id", "name": "first_name", "city": {"to": "city", "empty": "clear"}, "spent": {"to": "attributes.spent", "type": "number"}}});
    let i = e
        .import(
            b"id,name,city,spent\nK1,,,12.5\nK2,Robert,Tilburg,3\nK9,Nobody,,1\n",
            update,
        )
        .await;
    assert_eq!(counts(&i), [0, 2, 0, 1, 0, 0], "{i}");
    let ann = e.contact_by_email("ann@example.org").await;
    assert_eq!(ann["first_name"], "Ann");
    assert!(ann["city"].is_null());
    assert_eq!(ann["attributes"]["spent"], 12.5);
    assert_eq!(
        ann["attributes"]["birthday"], "1990-01-02",
        "attributes merge"
    );
    assert_eq!(
        e.contact_by_email("bob@example.org").await["first_name"],
        "Robert"
    );
    // Insert-only leaves existing contacts alone; Windows-1252 is read as asked.
    let insert = json!({"mode": "insert", "encoding": "windows-1252", "columns": {"mail": "email", "name": "first_name"}});
    let i = e
        .import(
            b"mail,name\nann@example.org,Anna\nzoe@example.org,Zo\xeb\n",
            insert,
        )
        .await;
    assert_eq!(counts(&i), [1, 0, 0, 1, 0, 0], "{i}");
    assert_eq!(
        e.contact_by_email("zoe@example.org").await["first_name"],
        "Zoë"
    );
    assert_eq!(
        e.contact_by_email("ann@example.org").await["first_name"],
        "Ann"
    );
    // The same bytes read as UTF-8: the row is refused, not mangled.
    let i = e
        .import(
            b"mail,name\nzoe@example.org,Zo\xeb\n",
            json!({"columns": {"mail": "email", "name": "first_name"}}),
        )
        .await;
    assert_eq!(i["errors"][0]["code"], "invalid_encoding");
    // An e-mail address another contact has: that row is refused, the others go in.
    let i = e
        .import(
            b"id,mail\nK1,bob@example.org\nK10,new@example.org\n",
            json!({"match": "external_id", "columns": {"id": "external_id", "mail": "email"}}),
        )
        .await;
    assert_eq!(counts(&i), [1, 0, 0, 0, 1, 0], "{i}");
    assert_eq!(i["errors"][0]["code"], "email_taken");
    assert_eq!(i["errors"][0]["line"], 2);
    // A new contact with another contact's external id, and two new ones sharing one: the
    // clashing rows are refused with their line; the first of the pair goes in.
    let i = e
        .import(
            b"mail,id\nnew2@example.org,K2\nnew3@example.org,K20\nnew4@example.org,K20\n",
            json!({"columns": {"mail": "email", "id": "external_id"}}),
        )
        .await;
    assert_eq!(counts(&i), [1, 0, 0, 0, 2, 0], "{i}");
    let refused: Vec<(i64, &str)> = i["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        refused,
        [(2, "external_id_taken"), (4, "external_id_taken")]
    );
    assert_eq!(
        e.contact_by_email("new3@example.org").await["external_id"],
        "K20"
    );
    let list = e.get("/api/v1/imports").await;
    assert_eq!(list.as_array().unwrap().len(), 7);
}

async fn consent_basis_of_subscriptions(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let res = e
        .post(
            "/api/v1/lists",
            json!({"key": "club", "name": {"en": "Club"}, "double_opt_in": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    // Asserted, with a note: subscribed at once, the note in the ledger.
    let i = e
        .import(
            b"email,news\nann@example.org,ja\nbob@example.org,nee\n",
            json!({"consent": {"basis": "asserted", "note": "ticket buyers who ticked the newsletter box in 2026"},
                "columns": {"email": "email", "news": "optin:news"}}),
        )
        .await;
    assert_eq!(counts(&i), [2, 0, 0, 0, 0, 1], "{i}");
    let ann = e.contact_by_email("ann@example.org").await;
    let subs = ann["subscriptions"].as_array().unwrap();
    assert_eq!(subs[0]["status"], "subscribed");
    let export = e
        .get(&format!("/api/v1/contacts/{}/export", ann["id"]))
        .await;
    let entry = &export["consent_ledger"][0];
    assert_eq!(entry["source"], "import", "{export}");
    assert!(entry["context"]
        .to_string()
        .contains("ticket buyers who ticked"));
    assert!(e.contact_by_email("bob@example.org").await["subscriptions"]
        .as_array()
        .unwrap()
        .is_empty());
    // Confirm: each new subscriber gets the double opt-in mail and stays pending.
    let i = e
        .import(
            b"email,club\ncas@example.org,1\nann@example.org,1\n",
            json!({"consent": {"basis": "confirm"}, "columns": {"email": "email", "club": "optin:club"}}),
        )
        .await;
    assert_eq!(counts(&i), [1, 0, 1, 0, 0, 2], "{i}");
    let mails = e.mails().await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|m| m.2.contains("/p/confirm/")));
    let cas = e.contact_by_email("cas@example.org").await;
    assert_eq!(cas["subscriptions"][0]["status"], "pending");
    // Importing again sends nothing more and changes no subscription.
    let i = e
        .import(
            b"email,club\ncas@example.org,1\n",
            json!({"consent": {"basis": "confirm"}, "columns": {"email": "email", "club": "optin:club"}}),
        )
        .await;
    assert_eq!(i["status"], "done");
    assert_eq!(e.mails().await.len(), 2);
}

async fn all_or_nothing_and_resume(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let i = e
        .import(
            b"email,name\nok@example.org,Ok\nbroken,Bad\n",
            json!({"all_or_nothing": true, "columns": {"email": "email", "name": "first_name"}}),
        )
        .await;
    assert_eq!(i["status"], "failed");
    assert_eq!(i["errors"][0]["line"], 3);
    assert!(i["error"]
        .as_str()
        .unwrap()
        .contains("nothing was imported"));
    let res = e
        .get_as(&e.admin, "/api/v1/contacts?email=ok@example.org")
        .await;
    assert_eq!(res.status(), 404, "nothing was written");

    // 25,000 rows: the import stops after its first chunk (its node died), and resumes.
    let mut csv = String::from("email,n\n");
    for n in 0..25_000 {
        csv.push_str(&format!("c{n}@example.org,{n}\n"));
    }
    let res = e
        .upload(
            csv.as_bytes(),
            json!({"columns": {"email": "email", "n": "attributes.n"}}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let org = e.t.app.store.org_by_slug("shop").await.unwrap().id;
    let claimed =
        e.t.app
            .store
            .claim_import(Some((org, id)), e.t.app.now(), 60_000)
            .await
            .unwrap()
            .unwrap();
    let paused = handbill::services::imports::run(&e.t.app, claimed, &mut |_| false)
        .await
        .unwrap();
    assert_eq!(paused.status, "running");
    assert_eq!(paused.rows_read, 10_000);
    // Its lease still holds: nobody else takes it.
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(
        e.get(&format!("/api/v1/imports/{id}")).await["rows_read"],
        10_000
    );
    e.t.clock.advance_ms(6 * 60_000);
    run_until_idle(&e.t.app).await.unwrap();
    let i = e.get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(i["status"], "done");
    assert_eq!(i["rows_read"], 25_000);
    assert_eq!(counts(&i), [25_000, 0, 0, 0, 0, 0], "{i}");
    assert_eq!(
        e.contact_by_email("c24999@example.org").await["attributes"]["n"],
        "24999"
    );
}

async fn mapping_rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let res = e
        .post(
            "/api/v1/lists",
            json!({"key": "club", "name": {"en": "Club"}, "double_opt_in": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let csv = b"email,name,news\na@example.org,A,1\n";
    let cases = [
        (
            json!({"columns": {"email": "email", "Naam": "first_name"}}),
            "columns.Naam",
            "unknown_column",
        ),
        (
            json!({"columns": {"email": "email", "name": "nickname"}}),
            "columns.name",
            "unknown_target",
        ),
        (
            json!({"columns": {"email": "email", "news": "optin:news"}}),
            "columns.news",
            "consent_required",
        ),
        (
            json!({"consent": {"basis": "asserted", "note": "n"}, "columns": {"email": "email", "news": "optin:nope"}}),
            "columns.news",
            "unknown_optin",
        ),
        (
            json!({"consent": {"basis": "asserted", "note": "n"}, "columns": {"email": "email", "news": "optin:club"}}),
            "columns.news",
            "confirmation_required",
        ),
        (
            json!({"consent": {"basis": "asserted"}, "columns": {"email": "email"}}),
            "consent.note",
            "required",
        ),
        (
            json!({"columns": {"name": "first_name"}}),
            "columns",
            "email_required",
        ),
        (
            json!({"mode": "merge", "columns": {"email": "email"}}),
            "mode",
            "invalid_mode",
        ),
        (
            json!({"encoding": "latin9", "columns": {"email": "email"}}),
            "encoding",
            "invalid_encoding",
        ),
    ];
    for (mapping, field, code) in cases {
        let res = e.upload(csv, mapping.clone()).await;
        assert_eq!(res.status(), 422, "{mapping}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    // A form without the file, or with a mapping that is not JSON.
    let form = reqwest::multipart::Form::new().text(
        "mapping",
        json!({"columns": {"email": "email"}}).to_string(),
    );
    let res =
        e.t.client
            .post(e.t.url("/api/v1/imports"))
            .bearer_auth(&e.admin)
            .multipart(form)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "file");
    let res = e.upload(csv, json!("nope")).await;
    assert_eq!(res.status(), 422);
    // Nothing was queued by any of them, and no copy of a refused file is kept.
    assert!(e
        .get("/api/v1/imports")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    let org = e.t.app.store.org_by_slug("shop").await.unwrap().id;
    let dir = handbill::services::imports::files_dir(&e.t.app, org);
    assert_eq!(std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0), 0);
    // Without imports:write.
    let form = reqwest::multipart::Form::new();
    let res =
        e.t.client
            .post(e.t.url("/api/v1/imports"))
            .bearer_auth(&e.shop)
            .multipart(form)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 403);
}

/// Tags go in by statements of many rows on SQLite: every row's tag is added and starts the
/// automation listening for it, once; tags a contact has already are left alone.
async fn many_tags_start_their_automation(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let vip = e
        .publish(
            json!({"name": "VIP", "trigger": {"type": "tag_added", "tag": "vip"},
            "steps": [{"type": "score", "change": 10}]}),
        )
        .await;
    let mapping = json!({"delimiter": ",", "columns": {"email": "email", "tags": "tags"}});
    // 161 rows, 322 tags: three full statements and a short one.
    let csv: String = std::iter::once("email,tags\n".to_string())
        .chain((0..161).map(|i| format!("fan{i}@example.org,\"vip,row{}\"\n", i % 3)))
        .collect();
    let i = e.import(csv.as_bytes(), mapping.clone()).await;
    assert_eq!(counts(&i), [161, 0, 0, 0, 0, 0], "{i}");
    run_until_idle(&e.t.app).await.unwrap();
    for n in [0, 99, 160] {
        let c = e.contact_by_email(&format!("fan{n}@example.org")).await;
        let row = format!("row{}", n % 3);
        assert_eq!(c["tags"], json!([row, "vip"]), "{c}");
        assert_eq!(c["score"], 10, "{c}");
    }
    let org = e.t.app.store.org_by_slug("shop").await.unwrap();
    let started = || e.t.app.store.participations(org.id, vip, 1000);
    assert_eq!(started().await.unwrap().len(), 161);
    // Again, with one new tag: the tags they have stay, the automation does not start again.
    let csv = csv.replace(
        "fan5@example.org,\"vip,row2\"",
        "fan5@example.org,\"vip,new\"",
    );
    e.import(csv.as_bytes(), mapping).await;
    run_until_idle(&e.t.app).await.unwrap();
    assert_eq!(started().await.unwrap().len(), 161);
    let c = e.contact_by_email("fan5@example.org").await;
    assert_eq!(c["tags"], json!(["new", "row2", "vip"]), "{c}");
}
