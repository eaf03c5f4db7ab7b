//! Data in and out through the real server, a real SMTP server and a real OpenSSH server:
//! scheduled imports from a drop folder and from SFTP (archive/, failed/ with a report, never
//! twice), CSV triggers starting an automation that sends mail, contact and activity exports
//! (download, folder, SFTP; incremental bounce exports), and every rejection.

mod support;

use std::path::PathBuf;

use handbill::workers::run_until_idle;
use serde_json::{json, Value};
use support::automation_env::{env, Env};
use support::smtp_sink::Behaviour;
use support::Backend;

both_backends!(
    scheduled_import_from_a_folder,
    csv_trigger_starts_an_automation,
    contact_and_activity_exports,
    sftp_sources_and_destinations,
    rejections
);

const HOUR: i64 = 3_600_000;

impl Env {
    /// A folder source's folder on disk (below the organisation's folder).
    async fn folder(&self, path: &str) -> PathBuf {
        let org = handbill::services::orgs::org_by_slug(&self.t.app, "shop")
            .await
            .unwrap();
        handbill::services::sources::folder_of(&self.t.app, org.id, path)
    }

    async fn put_source(&self, key: &str, body: Value) -> reqwest::Response {
        self.put(&format!("/api/v1/sources/{key}"), body).await
    }

    async fn run(&self) {
        run_until_idle(&self.t.app).await.unwrap();
    }

    async fn download(&self, run: &Value) -> String {
        let path = run["download"].as_str().expect("a download");
        let res = self
            .t
            .client
            .get(self.t.url(path))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    async fn runs(&self, export: i64) -> Vec<Value> {
        self.get(&format!("/api/v1/exports/{export}/runs"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn scheduled_import_from_a_folder(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    let res = e
        .put_source(
            "crm-drop",
            json!({"kind": "folder", "path": "crm/drop", "import": {
                "pattern": "contacts_{yyyy}{MM}{dd}.csv",
                "mapping": {"columns": {"E-mail": "email", "Voornaam": "first_name", "Klantnummer": "external_id"}},
                "schedule": {"every": "hourly", "at": "00:30"}}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let source: Value = res.json().await.unwrap();
    assert_eq!(source["import_next_at"], "2026-01-01T00:30:00Z");
    let drop = e.folder("crm/drop").await;
    let file = "E-mail;Voornaam;Klantnummer\nann@example.org;Ann;C1\nbob@example.org;Bob;C2\n";
    std::fs::write(drop.join("contacts_20260101.csv"), file).unwrap();
    std::fs::write(drop.join("other.csv"), "E-mail\nx@example.org\n").unwrap();
    e.run().await;
    assert!(drop.join("contacts_20260101.csv").exists(), "not due yet");
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    assert_eq!(names(&drop), ["other.csv"]);
    assert_eq!(names(&drop.join("archive")), ["contacts_20260101.csv"]);
    let ann = e.get("/api/v1/contacts?email=ann@example.org").await;
    assert_eq!(ann["first_name"], "Ann");
    let files = e.get("/api/v1/sources/crm-drop/files").await;
    assert_eq!(files.as_array().unwrap().len(), 1);
    assert_eq!(files[0]["moved_to"], "archive");
    let import = e
        .get(&format!("/api/v1/imports/{}", files[0]["import_id"]))
        .await;
    assert_eq!(import["inserted"], 2);

    // The same file again is not imported again; it goes to the archive.
    std::fs::write(drop.join("contacts_20260101.csv"), file).unwrap();
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    assert_eq!(names(&drop), ["other.csv"]);
    assert_eq!(e.get("/api/v1/imports").await.as_array().unwrap().len(), 1);

    // A broken row: the rest goes in, the file goes to failed/ with a report next to it.
    let bad = "E-mail;Voornaam;Klantnummer\ncid@example.org;Cid;C3\nnot-an-address;Dan;C4\n";
    std::fs::write(drop.join("contacts_20260101.csv"), bad).unwrap();
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    let failed = drop.join("failed");
    assert_eq!(
        names(&failed),
        ["contacts_20260101.csv", "contacts_20260101.csv.errors.txt"]
    );
    let report = std::fs::read_to_string(failed.join("contacts_20260101.csv.errors.txt")).unwrap();
    assert!(
        report.contains("line 3: E-mail (invalid_email)"),
        "{report}"
    );
    assert_eq!(
        e.get("/api/v1/contacts?email=cid@example.org").await["first_name"],
        "Cid"
    );
    let source = e.get("/api/v1/sources/crm-drop").await;
    assert_eq!(source["last_error"], Value::Null);
}

async fn csv_trigger_starts_an_automation(backend: Backend) {
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
    let res = e
        .put(
            "/api/v1/collections/orders",
            json!({"name": "Orders", "primary_key": "order_id", "fields": [{"name": "order_id", "type": "string"}]}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = e
        .put_source(
            "ticketing",
            json!({"kind": "folder", "path": "ticketing", "triggers": {"poll_seconds": 10}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let dir = e.folder("ticketing").await;
    std::fs::write(
        dir.join(format!("trigger_{code}_batch1.csv")),
        "email,first_name,linktocart,records.orders.order_id\nann@example.org,Annie,https://shop.test/cart/1,A1\nbob@example.org,,https://shop.test/cart/2,B1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("trigger_NOSUCHCODE_1.csv"),
        "email\nx@example.org\n",
    )
    .unwrap();
    let mails = e.mails().await;
    assert_eq!(
        mails.len(),
        2,
        "{mails:?} {} {} {:?}",
        e.get("/api/v1/sources/ticketing").await,
        e.get("/api/v1/imports").await,
        names(&dir)
    );
    let mut targets = Vec::new();
    for m in &mails {
        targets.extend(e.tracked_targets(&m.2).await);
    }
    targets.sort();
    assert_eq!(
        targets,
        ["https://shop.test/cart/1", "https://shop.test/cart/2"]
    );
    assert_eq!(
        names(&dir.join("archive")),
        [format!("trigger_{code}_batch1.csv")]
    );
    let failed = names(&dir.join("failed"));
    assert_eq!(
        failed,
        [
            "trigger_NOSUCHCODE_1.csv",
            "trigger_NOSUCHCODE_1.csv.errors.txt"
        ]
    );
    // The contact fields of the row were updated; the automation fields went to the participation.
    assert_eq!(
        e.get("/api/v1/contacts?email=ann@example.org").await["first_name"],
        "Annie"
    );
    assert_eq!(e.participations(automation).await.len(), 2);
    let files = e.get("/api/v1/sources/ticketing/files").await;
    let import = e
        .get(&format!(
            "/api/v1/imports/{}",
            files
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["moved_to"] == "archive")
                .unwrap()["import_id"]
        ))
        .await;
    assert_eq!(import["started"], 2);
    // A records.COLLECTION.FIELD column gave each contact its order in the same transaction.
    assert_eq!(import["records"], 2);
    assert_eq!(
        e.get("/api/v1/collections/orders/records/A1").await["contact_id"],
        e.get("/api/v1/contacts?email=ann@example.org").await["id"]
    );
    // Polled again ten seconds later: nothing new.
    e.t.clock.advance_ms(10_000);
    assert_eq!(e.mails().await.len(), 2);
}

async fn contact_and_activity_exports(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    e.customer("CUST-1", "ann@example.org", "Ann", true).await;
    e.customer("CUST-2", "bob@example.org", "Bob", false).await;
    let ann = e.get("/api/v1/contacts?email=ann@example.org").await;
    let res =
        e.t.client
            .patch(e.t.url(&format!("/api/v1/contacts/{}", ann["id"])))
            .bearer_auth(&e.admin)
            .json(&json!({"attributes": {"genre": "jazz"}, "tags": ["vip", "donor"]}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // A download, once, at once.
    let res = e
        .post(
            "/api/v1/exports",
            json!({"name": "All", "columns": ["email", "external_id", "first_name", "attributes.genre", "subscription.news", "tags"]}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let all: Value = res.json().await.unwrap();
    e.run().await;
    let runs = e.runs(all["id"].as_i64().unwrap()).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "done");
    assert_eq!(runs[0]["rows"], 2);
    assert_eq!(runs[0]["file_name"], "all_20260101_0000.csv");
    assert_eq!(
        e.download(&runs[0]).await,
        "email,external_id,first_name,attributes.genre,subscription.news,tags\n\
         ann@example.org,CUST-1,Ann,jazz,subscribed,donor|vip\n\
         bob@example.org,CUST-2,Bob,,,\n"
    );
    assert_eq!(
        e.get(&format!("/api/v1/exports/{}", all["id"])).await["next_run_at"],
        Value::Null
    );
    // JSON lines of a segment, into a folder source.
    assert_eq!(
        e.put_source("out", json!({"kind": "folder", "path": "exports"}))
            .await
            .status(),
        201
    );
    let res = e
        .post(
            "/api/v1/exports",
            json!({"name": "Jazz", "format": "jsonl", "segment": {"field": "attributes.genre", "op": "eq", "value": "jazz"},
                   "columns": ["email", "tags"], "destination": "out", "file_name": "jazz_{yyyy}-{MM}-{dd}.jsonl"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    e.run().await;
    let written =
        std::fs::read_to_string(e.folder("exports").await.join("jazz_2026-01-01.jsonl")).unwrap();
    assert_eq!(
        written,
        "{\"email\":\"ann@example.org\",\"tags\":[\"donor\",\"vip\"]}\n"
    );

    // Bounces, hourly and incremental.
    let res = e
        .post(
            "/api/v1/exports",
            json!({"preset": "bounces", "schedule": {"every": "hourly"}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let bounces: Value = res.json().await.unwrap();
    assert_eq!(bounces["kinds"], json!(["bounce", "complaint"]));
    let id = bounces["id"].as_i64().unwrap();
    let (_, code) = e
        .automation(
            "Hi",
            "multiple",
            json!([{"type": "email", "template": "v2"}]),
        )
        .await;
    e.sink
        .set_behaviour(Behaviour::RejectRcptTo("ann@example.org".into(), 550));
    assert_eq!(e.trigger(&code, "CUST-1", json!([])).await.status(), 200);
    e.run().await;
    e.settled_events(2).await;
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    let runs = e.runs(id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["rows"], 1);
    let csv = e.download(&runs[0]).await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "cursor,kind,at,contact_id,external_id,email,mailing_id,automation_id,delivery_id,list,detail"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(",bounce,2026-01-01T00:00:00Z,"),
        "{csv}"
    );
    // Run by hand: nothing new since.
    let res = e
        .post(&format!("/api/v1/exports/{id}/run"), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let run: Value = res.json().await.unwrap();
    assert_eq!(run["rows"], 0);
    // An export that starts now leaves the bounce before it out.
    let res = e
        .post(
            "/api/v1/exports",
            json!({"preset": "bounces", "start": "now", "schedule": {"every": "never"}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let later = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let run: Value = e
        .post(&format!("/api/v1/exports/{later}/run"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["rows"], 0);
    // The schedule stayed as it was.
    assert_eq!(
        e.get(&format!("/api/v1/exports/{id}")).await["next_run_at"],
        "2026-01-01T02:00:00Z"
    );
}

struct SftpServer {
    host: String,
    port: i64,
    user: String,
    password: String,
    key: String,
    root: PathBuf,
}

fn sftp_server() -> Option<SftpServer> {
    let addr = std::env::var("HANDBILL_TEST_SFTP").ok()?;
    let (host, port) = addr.rsplit_once(':')?;
    Some(SftpServer {
        host: host.into(),
        port: port.parse().ok()?,
        user: std::env::var("HANDBILL_TEST_SFTP_USER").ok()?,
        password: std::env::var("HANDBILL_TEST_SFTP_PASSWORD").unwrap_or_default(),
        key: std::fs::read_to_string(std::env::var("HANDBILL_TEST_SFTP_KEY").ok()?).ok()?,
        root: PathBuf::from(std::env::var("HANDBILL_TEST_SFTP_ROOT").ok()?),
    })
}

/// A fresh folder on the SFTP server the login user may write to; its name on the server.
fn sftp_folder(s: &SftpServer) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let dir = s.root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    (name, dir)
}

async fn sftp_sources_and_destinations(backend: Backend) {
    let Some(server) = sftp_server() else {
        eprintln!("no SFTP server (scripts/test starts one): skipped");
        return;
    };
    let Some(e) = env(backend).await else { return };
    let (folder, dir) = sftp_folder(&server);
    std::fs::write(
        dir.join("contacts.csv"),
        "email,first_name\nann@example.org,Ann\n",
    )
    .unwrap();
    let login = |auth: Value| {
        let mut v = json!({"kind": "sftp", "host": server.host, "port": server.port, "username": server.user, "path": folder});
        v.as_object_mut()
            .unwrap()
            .extend(auth.as_object().unwrap().clone());
        v
    };
    // A wrong password: a clear error on the source; the file stays where it was.
    let mut bad = login(
        json!({"password": "wrong-password", "import": {"pattern": "contacts.csv",
        "mapping": {"columns": {"email": "email", "first_name": "first_name"}}, "schedule": {"every": "hourly"}}}),
    );
    let res = e.put_source("crm", bad.clone()).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = e.post("/api/v1/sources/crm/check", json!({})).await;
    assert_eq!(res.status(), 502);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "source_unreachable");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("login refused"),
        "{problem}"
    );
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    assert!(e.get("/api/v1/sources/crm").await["last_error"]
        .as_str()
        .unwrap()
        .contains("login refused"));
    assert!(dir.join("contacts.csv").exists());
    // The right password (when the server has one) or the key: imported and archived.
    let auth = if server.password.is_empty() {
        json!({"password": "", "private_key": server.key})
    } else {
        json!({"password": server.password})
    };
    bad.as_object_mut()
        .unwrap()
        .extend(auth.as_object().unwrap().clone());
    assert_eq!(e.put_source("crm", bad).await.status(), 200);
    let res = e.post("/api/v1/sources/crm/check", json!({})).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let checked: Value = res.json().await.unwrap();
    assert_eq!(checked["files"], json!(["contacts.csv"]));
    let pinned = checked["host_key"].as_str().unwrap().to_string();
    assert!(pinned.starts_with("SHA256:"));
    e.t.clock.advance_ms(HOUR);
    e.run().await;
    assert!(!dir.join("contacts.csv").exists());
    assert!(dir.join("archive/contacts.csv").exists());
    assert_eq!(
        e.get("/api/v1/contacts?email=ann@example.org").await["first_name"],
        "Ann"
    );
    // Key login, and an export written to the server.
    let res = e
        .put_source("crm-key", login(json!({"private_key": server.key})))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = e
        .post("/api/v1/exports", json!({"name": "Back", "columns": ["email", "first_name"], "destination": "crm-key", "file_name": "back.csv"}))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    e.run().await;
    assert_eq!(
        std::fs::read_to_string(dir.join("back.csv")).unwrap(),
        "email,first_name\nann@example.org,Ann\n"
    );
    // A pinned key that is not the server's: refused before logging in.
    let res = e
        .put_source("crm-pinned", login(json!({"private_key": server.key, "host_key": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = e.post("/api/v1/sources/crm-pinned/check", json!({})).await;
    assert_eq!(res.status(), 502);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains(&pinned),
        "{problem}"
    );
    // A host nobody listens on.
    let dead = support::smtp_sink::dead_address().await;
    let res = e
        .put_source("gone", json!({"kind": "sftp", "host": "127.0.0.1", "port": dead.port(), "username": "x", "password": "y"}))
        .await;
    assert_eq!(res.status(), 201);
    let res = e.post("/api/v1/sources/gone/check", json!({})).await;
    assert_eq!(res.status(), 502);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("cannot reach 127.0.0.1"),
        "{problem}"
    );
}

async fn rejections(backend: Backend) {
    let Some(e) = env(backend).await else { return };
    for (body, field, code) in [
        (json!({"kind": "ftp"}), "kind", "invalid_kind"),
        (
            json!({"kind": "folder", "path": "../etc"}),
            "path",
            "invalid_path",
        ),
        (
            json!({"kind": "folder", "path": "/etc"}),
            "path",
            "invalid_path",
        ),
        (
            json!({"kind": "folder", "path": "x", "password": "p"}),
            "password",
            "not_allowed",
        ),
        (
            json!({"kind": "sftp", "username": "u", "password": "p"}),
            "host",
            "required",
        ),
        (
            json!({"kind": "sftp", "host": "h", "port": 70000, "username": "u", "password": "p"}),
            "port",
            "invalid_port",
        ),
        (
            json!({"kind": "sftp", "host": "h", "username": "u"}),
            "password",
            "credentials_required",
        ),
        (
            json!({"kind": "sftp", "host": "h", "username": "u", "private_key": "not a key"}),
            "private_key",
            "invalid_private_key",
        ),
        (
            json!({"kind": "sftp", "host": "h", "username": "u", "password": "p", "host_key": "MD5:aa"}),
            "host_key",
            "invalid_host_key",
        ),
        (
            json!({"kind": "folder", "path": "x", "triggers": {"poll_seconds": 1}}),
            "triggers.poll_seconds",
            "out_of_range",
        ),
        (
            json!({"kind": "folder", "path": "x", "import": {"pattern": "a/b.csv", "mapping": {"columns": {"e": "email"}}, "schedule": {"every": "daily"}}}),
            "import.pattern",
            "invalid_pattern",
        ),
        (
            json!({"kind": "folder", "path": "x", "import": {"pattern": "a.csv", "mapping": {"columns": {"e": "nope"}}, "schedule": {"every": "daily"}}}),
            "import.mapping.columns.e",
            "unknown_target",
        ),
        (
            json!({"kind": "folder", "path": "x", "import": {"pattern": "a.csv", "mapping": {"columns": {"e": "email"}}, "schedule": {"every": "yearly"}}}),
            "import.schedule",
            "invalid_schedule",
        ),
    ] {
        let res = e.put_source("src", body.clone()).await;
        support::assert_field_error(res, field, code, &body.to_string()).await;
    }
    let res = e
        .put_source("Bad Key", json!({"kind": "folder", "path": "x"}))
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        e.get("/api/v1/sources")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing written"
    );

    for (body, field, code) in [
        (
            json!({"name": "x", "columns": ["email", "password"]}),
            "columns[1]",
            "unknown_column",
        ),
        (
            json!({"name": "x", "columns": ["email", "email"]}),
            "columns[1]",
            "duplicate_column",
        ),
        (
            json!({"name": "x", "columns": []}),
            "columns",
            "invalid_columns",
        ),
        (
            json!({"name": "x", "columns": ["subscription.nope"]}),
            "columns[0]",
            "unknown_optin",
        ),
        (
            json!({"name": "", "columns": ["email"]}),
            "name",
            "invalid_name",
        ),
        (
            json!({"name": "x", "columns": ["email"], "format": "xml"}),
            "format",
            "invalid_format",
        ),
        (
            json!({"name": "x", "columns": ["email"], "destination": "nope"}),
            "destination",
            "unknown_source",
        ),
        (
            json!({"name": "x", "columns": ["email"], "file_name": "../x.csv"}),
            "file_name",
            "invalid_file_name",
        ),
        (
            json!({"name": "x", "columns": ["email"], "schedule": {"every": "weekly"}}),
            "schedule",
            "invalid_schedule",
        ),
        (
            json!({"name": "x", "columns": ["email"], "segment": {"field": "nope", "op": "eq", "value": 1}}),
            "segment.field",
            "unknown_field",
        ),
        (
            json!({"name": "x", "kind": "activity", "kinds": ["sent", "read"]}),
            "kinds",
            "unknown_kind",
        ),
        (
            json!({"name": "x", "kind": "activity", "columns": ["email"]}),
            "columns",
            "not_allowed",
        ),
        (json!({"preset": "opens"}), "preset", "unknown_preset"),
        (
            json!({"preset": "bounces", "start": "later"}),
            "start",
            "invalid_start",
        ),
        (
            json!({"name": "x", "columns": ["email"], "start": "now"}),
            "start",
            "not_allowed",
        ),
        (
            json!({"name": "x", "kind": "people", "columns": ["email"]}),
            "kind",
            "invalid_kind",
        ),
    ] {
        let res = e.post("/api/v1/exports", body.clone()).await;
        support::assert_field_error(res, field, code, &body.to_string()).await;
    }
    let res = e
        .post(
            "/api/v1/exports",
            json!({"name": "x", "columns": ["email"], "bogus": 1}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        e.get("/api/v1/exports")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing written"
    );
    // Defining exports is for admins; reading them needs exports:read.
    let reader = e.t.token("shop", &["exports:read"], &[]).await;
    let res = e
        .post_as(
            &reader,
            "/api/v1/exports",
            json!({"name": "x", "columns": ["email"]}),
            None,
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = e.get_as(&reader, "/api/v1/sources").await;
    assert_eq!(res.status(), 403);
    let res = e.get_as(&reader, "/api/v1/exports/runs/999/file").await;
    assert_eq!(res.status(), 404);
    // Running an export writes to its destination: admins only.
    let res = e
        .post(
            "/api/v1/exports",
            json!({"name": "x", "columns": ["email"], "schedule": {"every": "never"}}),
        )
        .await;
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = e
        .post_as(
            &reader,
            &format!("/api/v1/exports/{id}/run"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(res.status(), 403);
    // An import that starts an automation needs automations:trigger besides imports:write.
    let (_, code) = e
        .automation("A", "multiple", json!([{"type": "tag", "add": ["x"]}]))
        .await;
    let importer = e.t.token("shop", &["imports:write"], &[]).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"email\nann@example.org\n".to_vec())
                .file_name("a.csv"),
        )
        .text(
            "mapping",
            json!({"automation": code, "columns": {"email": "email"}}).to_string(),
        );
    let res =
        e.t.client
            .post(e.t.url("/api/v1/imports"))
            .bearer_auth(&importer)
            .multipart(form)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 403);
}
