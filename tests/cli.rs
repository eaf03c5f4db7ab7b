//! The `handbill` binary as an operator uses it: every subcommand, configuration layering and
//! its errors, and `serve` answering /healthz and stopping cleanly on SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::Backend;

both_backends!(
    operator_flow,
    mailing_commands,
    mlkey_and_sandbox_commands,
    partner_commands,
    import_commands,
    linkparam_commands
);

/// Runs the binary in `dir` with a clean HANDBILL_* environment plus `env`.
fn handbill(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handbill"));
    cmd.current_dir(dir).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("HANDBILL_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run handbill");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output, needle: &str) {
    assert!(
        !o.status.success(),
        "unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains(needle), "expected '{needle}' in: {all}");
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["org", "--help"],
        vec!["org", "create", "--help"],
        vec!["org", "list", "--help"],
        vec!["org", "set-sender", "--help"],
        vec!["token", "--help"],
        vec!["token", "create", "--help"],
        vec!["token", "list", "--help"],
        vec!["token", "rotate", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["user", "create", "--help"],
        vec!["consent", "verify", "--help"],
        vec!["outbox", "list", "--help"],
        vec!["outbox", "show", "--help"],
        vec!["mailing", "--help"],
        vec!["mailing", "list", "--help"],
        vec!["mailing", "send", "--help"],
        vec!["mailing", "schedule", "--help"],
        vec!["mailing", "stats", "--help"],
        vec!["mlkey", "create", "--help"],
        vec!["mlkey", "list", "--help"],
        vec!["mlkey", "allow-ip", "--help"],
        vec!["mlkey", "actions", "--help"],
        vec!["mlkey", "grant", "--help"],
        vec!["mlkey", "revoke", "--help"],
        vec!["sandbox", "create", "--help"],
        vec!["partner", "set", "--help"],
        vec!["partner", "list", "--help"],
        vec!["partner", "schedule-export", "--help"],
        vec!["partner", "exports", "--help"],
        vec!["partner", "unschedule", "--help"],
        vec!["pos", "set", "--help"],
        vec!["pos", "list", "--help"],
        vec!["product", "sync", "--help"],
        vec!["product", "list", "--help"],
        vec!["export", "partner-consents", "--help"],
        vec!["oauth", "create", "--help"],
        vec!["oauth", "list", "--help"],
        vec!["oauth", "revoke", "--help"],
    ] {
        let out = ok(&handbill(dir.path(), &args, &[], None));
        assert!(out.contains("Usage: handbill"), "{args:?}: {out}");
    }
    // Unknown commands and missing arguments are usage errors.
    let o = handbill(dir.path(), &["frobnicate"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    let o = handbill(dir.path(), &["token", "create", "--org", "x"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        !dir.path().join("handbill-data").exists(),
        "help and usage errors touch nothing"
    );
}

async fn operator_flow(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let db = config.database_url.clone().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let data = data.to_str().unwrap();
    // Global options may stand before or after the subcommand.
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", data]);
        handbill(d, &all, &[], None)
    };
    assert!(ok(&run(&["migrate"])).contains("up to date"));
    assert!(ok(&run(&[
        "org",
        "create",
        "paradiso",
        "--name",
        "Paradiso Amsterdam"
    ]))
    .contains("created organisation paradiso"));
    fails(
        &run(&["org", "create", "paradiso", "--name", "Again"]),
        "already exists",
    );
    fails(&run(&["org", "create", "Bad Slug", "--name", "X"]), "slug");
    fails(
        &run(&[
            "org",
            "create",
            "melkweg",
            "--name",
            "Melkweg",
            "--language",
            "xx",
        ]),
        "language",
    );
    fails(&run(&["org", "create", "melkweg", "--name", ""]), "name");
    assert!(ok(&run(&["org", "list"])).contains("Paradiso Amsterdam"));
    assert!(ok(&run(&[
        "org",
        "set-sender",
        "paradiso",
        "--email",
        "News@Paradiso.nl",
        "--name",
        "Paradiso"
    ]))
    .contains("Paradiso <news@paradiso.nl>"));
    fails(
        &run(&["org", "set-sender", "paradiso", "--email", "not-an-address"]),
        "e-mail",
    );

    let tok = ok(&run(&[
        "token",
        "create",
        "--org",
        "paradiso",
        "--scope",
        "optin:register",
        "--allow-ip",
        "127.0.0.1",
        "192.0.2.0/24",
        "--expires",
        "30",
        "--name",
        "site",
    ]));
    let tok = tok.trim();
    assert!(tok.starts_with("hb_opt_") && tok.len() == 50, "{tok}");
    fails(
        &run(&[
            "token",
            "create",
            "--org",
            "paradiso",
            "--scope",
            "contacts:delete",
        ]),
        "unknown scope",
    );
    fails(
        &run(&[
            "token",
            "create",
            "--org",
            "paradiso",
            "--scope",
            "admin",
            "--allow-ip",
            "10.0.0.0/40",
        ]),
        "not an IP address",
    );
    fails(
        &run(&[
            "token",
            "create",
            "--org",
            "paradiso",
            "--scope",
            "admin",
            "--expires",
            "0",
        ]),
        "expiry",
    );
    fails(
        &run(&["token", "create", "--org", "nowhere", "--scope", "admin"]),
        "organisation not found",
    );
    let list = ok(&run(&["token", "list", "--org", "paradiso"]));
    assert!(
        list.contains("active")
            && list.contains("127.0.0.1/32 192.0.2.0/24")
            && list.contains(&tok[..11]),
        "{list}"
    );
    assert!(!list.contains(tok), "the secret is never listed");

    let rotated = ok(&run(&["token", "rotate", tok]));
    let rotated = rotated.trim();
    assert!(rotated.starts_with("hb_opt_") && rotated != tok);
    fails(&run(&["token", "rotate", tok]), "revoked");
    assert!(ok(&run(&["token", "revoke", rotated])).contains("revoked token 2"));
    fails(&run(&["token", "revoke", "2"]), "already revoked");
    fails(
        &run(&["token", "revoke", "hb_api_unknown"]),
        "token not found",
    );
    assert_eq!(
        ok(&run(&["token", "list", "--org", "paradiso"]))
            .matches("revoked")
            .count(),
        2
    );

    let mut with_db = vec!["--database-url", db.as_str(), "--data-dir", data];
    with_db.extend_from_slice(&[
        "user",
        "create",
        "--org",
        "paradiso",
        "--email",
        "Marketing@Paradiso.nl",
        "--role",
        "marketer",
        "--password-stdin",
    ]);
    assert!(
        ok(&handbill(d, &with_db, &[], Some("a very good password\n")))
            .contains("created marketer user marketing@paradiso.nl")
    );
    fails(
        &handbill(d, &with_db, &[], Some("a very good password\n")),
        "already exists",
    );
    let mut short = with_db.clone();
    short[9] = "other@paradiso.nl";
    fails(&handbill(d, &short, &[], Some("short\n")), "password");
    let generated = ok(&run(&[
        "user",
        "create",
        "--org",
        "paradiso",
        "--email",
        "boss@paradiso.nl",
        "--role",
        "admin",
    ]));
    assert!(
        generated
            .lines()
            .any(|l| l.starts_with("password: ") && l.len() == 30),
        "{generated}"
    );
    fails(
        &run(&[
            "user",
            "create",
            "--org",
            "paradiso",
            "--email",
            "not-an-address",
            "--role",
            "admin",
        ]),
        "e-mail",
    );

    assert!(ok(&run(&["consent", "verify", "--org", "paradiso"])).contains("intact: 0 entries"));
    fails(
        &run(&["consent", "verify", "--org", "nowhere"]),
        "not found",
    );
}

#[tokio::test]
async fn consent_verify_reports_the_first_broken_entry() {
    use handbill::domain::ledger::Evidence;
    use handbill::domain::{ConsentAction, EmailAddress};
    let (config, dir) = support::test_config(Backend::Sqlite).await.unwrap();
    let db = config.database_url.clone().unwrap();
    {
        let app = handbill::App::open(config).await.unwrap();
        let org = handbill::services::orgs::create_org(&app, "venue", "Venue", None)
            .await
            .unwrap();
        let list = app
            .store
            .create_list(org.id, &support::new_list("weekly", true, &[]), 0)
            .await
            .unwrap();
        for a in ["a@example.nl", "b@example.nl", "c@example.nl"] {
            let e = EmailAddress::parse(a).unwrap();
            let (c, _) =
                handbill::services::contacts::find_or_create(&app, org.id, &e, &Default::default())
                    .await
                    .unwrap();
            handbill::services::consent::record(
                &app,
                org.id,
                c.id,
                list.id,
                ConsentAction::Assert,
                &Evidence::new("cli", "cli"),
            )
            .await
            .unwrap();
        }
        app.store.close().await;
    }
    let verify = || {
        handbill(
            dir.path(),
            &["consent", "verify", "--org", "venue", "--database-url", &db],
            &[],
            None,
        )
    };
    assert!(ok(&verify()).contains("intact: 3 entries"));
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sqlx::query("DROP TRIGGER consent_events_no_update")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE consent_events SET email = 'mallory@example.nl' WHERE seq = 2")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let o = verify();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("BROKEN at entry 2"),
        "{o:?}"
    );
}

#[test]
fn configuration_errors_are_clear_and_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("handbill.toml"),
        "listen = \"127.0.0.1:9999\"\nsmtp_urll = \"smtp://x\"\n",
    )
    .unwrap();
    fails(&handbill(d, &["org", "list"], &[], None), "smtp_urll");
    std::fs::write(d.join("handbill.toml"), "token_idle_days = 0\n").unwrap();
    fails(&handbill(d, &["org", "list"], &[], None), "token_idle_days");
    std::fs::write(d.join("handbill.toml"), "listen = \"not an address\"\n").unwrap();
    fails(&handbill(d, &["org", "list"], &[], None), "listen");
    std::fs::write(d.join("handbill.toml"), "this is not toml").unwrap();
    fails(&handbill(d, &["org", "list"], &[], None), "handbill.toml");
    std::fs::remove_file(d.join("handbill.toml")).unwrap();

    fails(
        &handbill(d, &["org", "list"], &[("HANDBILL_NO_SUCH_KEY", "1")], None),
        "no_such_key",
    );
    fails(
        &handbill(
            d,
            &["org", "list"],
            &[("HANDBILL_SMTP_URL", "http://relay")],
            None,
        ),
        "smtp_url",
    );
    fails(
        &handbill(
            d,
            &["org", "list"],
            &[("HANDBILL_TRUSTED_PROXIES", "10.0.0.0/8,nope")],
            None,
        ),
        "trusted_proxies",
    );
    fails(
        &handbill(
            d,
            &["org", "list"],
            &[("HANDBILL_PUBLIC_URL", "ftp://x")],
            None,
        ),
        "public_url",
    );
    fails(
        &handbill(d, &["org", "list", "--config", "missing.toml"], &[], None),
        "missing.toml does not exist",
    );
    fails(
        &handbill(
            d,
            &["org", "list", "--database-url", "mysql://localhost/x"],
            &[],
            None,
        ),
        "database_url",
    );
    fails(
        &handbill(
            d,
            &[
                "org",
                "list",
                "--database-url",
                "sqlite:///proc/no/such/dir/x.db",
            ],
            &[],
            None,
        ),
        "cannot open the database",
    );
    fails(
        &handbill(
            d,
            &[
                "migrate",
                "--database-url",
                "postgres://nobody:secret@127.0.0.1:1/none",
            ],
            &[],
            None,
        ),
        "cannot open the database postgres://nobody:***@127.0.0.1:1/none",
    );
    // The test harness's own variables are not configuration.
    let o = handbill(
        d,
        &["org", "list", "--data-dir", "x"],
        &[("HANDBILL_TEST_POSTGRES_URL", "postgres://x")],
        None,
    );
    ok(&o);
    // Layering: the file, then the environment, then flags.
    std::fs::write(d.join("layers.toml"), "data_dir = \"from-file\"\n").unwrap();
    ok(&handbill(
        d,
        &["org", "list", "--config", "layers.toml"],
        &[],
        None,
    ));
    assert!(d.join("from-file/handbill.db").exists());
    ok(&handbill(
        d,
        &["org", "list", "--config", "layers.toml"],
        &[("HANDBILL_DATA_DIR", "from-env")],
        None,
    ));
    assert!(d.join("from-env/handbill.db").exists());
    ok(&handbill(
        d,
        &[
            "org",
            "list",
            "--config",
            "layers.toml",
            "--data-dir",
            "from-flag",
        ],
        &[("HANDBILL_DATA_DIR", "from-env")],
        None,
    ));
    assert!(d.join("from-flag/handbill.db").exists());
}

#[test]
fn outbox_list_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(
        &handbill(d, &["outbox", "list"], &[], None),
        "there is no outbox",
    );
    let md = handbill::mail::Maildir::open(d.join("handbill-data/outbox")).unwrap();
    let raw =
        b"From: news@paradiso.nl\r\nTo: fan@example.nl\r\nSubject: Line-up bekend\r\n\r\nHallo\r\n";
    let id = md.deliver(raw).unwrap();
    let list = ok(&handbill(d, &["outbox", "list"], &[], None));
    assert!(
        list.contains(&id) && list.contains("fan@example.nl") && list.contains("Line-up bekend"),
        "{list}"
    );
    let shown = handbill(d, &["outbox", "show", &id], &[], None);
    assert_eq!(shown.stdout, raw);
    fails(
        &handbill(d, &["outbox", "show", "no-such-id"], &[], None),
        "cannot read message",
    );
    fails(
        &handbill(d, &["outbox", "show", "../../etc/passwd"], &[], None),
        "cannot read message",
    );
}

#[test]
fn serve_answers_healthz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_handbill"))
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("HANDBILL_TEST_POSTGRES_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("handbill listening on http://") {
            break rest.to_string();
        }
    };
    let body = http_get(&addr, "/healthz");
    assert!(
        body.starts_with("HTTP/1.1 200") && body.contains("\"ok\""),
        "{body}"
    );
    assert!(http_get(&addr, "/readyz").contains("\"ready\""));
    assert!(
        dir.path().join("handbill-data/handbill.db").exists(),
        "SQLite in ./handbill-data by default"
    );
    assert!(
        dir.path().join("handbill-data/outbox/new").is_dir(),
        "Maildir outbox by default"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

async fn mailing_commands(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    let org = handbill::services::orgs::create_org(&app, "paradiso", "Paradiso", None)
        .await
        .unwrap();
    app.store
        .create_list(org.id, &support::new_list("news", false, &[]), app.now())
        .await
        .unwrap();
    let input = handbill::services::mailings::MailingInput {
        name: "March".into(),
        subject: "Concerts".into(),
        from_email: Some("news@paradiso.test".into()),
        html: "<p>x</p>".into(),
        lists: vec!["news".into()],
        ..Default::default()
    };
    let m = handbill::services::mailings::create(&app, org.id, &input, "test")
        .await
        .unwrap();
    app.store.close().await;
    let db = config.database_url.clone().unwrap();
    let data = config.data_dir.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str(), "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        handbill(dir.path(), &all, &[], None)
    };
    let id = m.id.to_string();
    let list = ok(&run(&["mailing", "list", "--org", "paradiso"]));
    assert!(list.contains("draft") && list.contains("March"), "{list}");
    fails(
        &run(&["mailing", "pause", "--org", "paradiso", &id]),
        "cannot pause",
    );
    fails(
        &run(&[
            "mailing",
            "schedule",
            "--org",
            "paradiso",
            &id,
            "--at",
            "2001-01-01T00:00:00Z",
        ]),
        "future",
    );
    let at = handbill::clock::rfc3339(support::T0 * 2);
    assert!(ok(&run(&[
        "mailing", "schedule", "--org", "paradiso", &id, "--at", &at
    ]))
    .contains("scheduled"));
    assert!(ok(&run(&["mailing", "send", "--org", "paradiso", &id])).contains("is sending"));
    assert!(ok(&run(&["mailing", "pause", "--org", "paradiso", &id])).contains("is paused"));
    assert!(ok(&run(&["mailing", "resume", "--org", "paradiso", &id])).contains("is sending"));
    assert!(ok(&run(&["mailing", "cancel", "--org", "paradiso", &id])).contains("is cancelled"));
    let stats = ok(&run(&["mailing", "stats", "--org", "paradiso", &id]));
    assert!(stats.contains("\"status\": \"cancelled\""), "{stats}");
    fails(
        &run(&["mailing", "send", "--org", "paradiso", "999"]),
        "not found",
    );
    fails(&run(&["mailing", "list", "--org", "nope"]), "not found");
}

async fn mlkey_and_sandbox_commands(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    for slug in ["paradiso", "melkweg"] {
        handbill::services::orgs::create_org(&app, slug, "Venue", None)
            .await
            .unwrap();
    }
    app.store.close().await;
    let db = config.database_url.clone().unwrap();
    let data = config.data_dir.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str(), "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        handbill(dir.path(), &all, &[], None)
    };
    let key = ok(&run(&[
        "mlkey",
        "create",
        "--org",
        "paradiso",
        "--account",
        "34",
        "--allow-ip",
        "192.0.2.0/24",
        "--actions",
        "SUBSCRIBE,get",
    ]));
    let key = key.trim();
    assert!(uuid::Uuid::try_parse(key).is_ok(), "{key}");
    let list = ok(&run(&["mlkey", "list", "--org", "paradiso"]));
    assert!(
        list.contains(&key[..8]) && list.contains("34=paradiso") && list.contains("SUBSCRIBE,GET"),
        "{list}"
    );
    assert!(!list.contains(key), "the key is shown once");
    let out = ok(&run(&["mlkey", "allow-ip", "1", "2001:db8::/32"]));
    assert!(out.contains("192.0.2.0/24,2001:db8::/32"), "{out}");
    let out = ok(&run(&["mlkey", "actions", "1", "all"]));
    assert!(out.contains("BODYPOST"), "{out}");
    let out = ok(&run(&[
        "mlkey",
        "grant",
        "1",
        "--org",
        "melkweg",
        "--account",
        "77",
    ]));
    assert!(out.contains("77=melkweg"), "{out}");
    fails(
        &run(&["mlkey", "grant", "1", "--org", "melkweg", "--account", "78"]),
        "already",
    );
    fails(
        &run(&["mlkey", "allow-ip", "1", "not-an-ip"]),
        "not an IP address",
    );
    fails(&run(&["mlkey", "actions", "1", "DANCE"]), "unknown action");
    fails(&run(&["mlkey", "create", "--org", "nope"]), "not found");
    ok(&run(&["mlkey", "revoke", "1"]));
    assert!(ok(&run(&["mlkey", "list"])).contains("revoked"));
    fails(&run(&["mlkey", "revoke", "1"]), "not found");
    let o = run(&["sandbox", "create", "--account", "34"]);
    let key = ok(&o);
    assert!(uuid::Uuid::try_parse(key.trim()).is_ok());
    assert!(String::from_utf8_lossy(&o.stderr).contains("a=34"));
    assert!(ok(&run(&["mlkey", "list", "--org", "sandbox"])).contains("any address"));
}

async fn partner_commands(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    handbill::services::orgs::create_org(&app, "venue", "Venue", None)
        .await
        .unwrap();
    app.store.close().await;
    let db = config.database_url.clone().unwrap();
    let data = config.data_dir.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str(), "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        handbill(dir.path(), &all, &[], None)
    };
    let out = ok(&run(&[
        "partner",
        "set",
        "--org",
        "venue",
        "--key",
        "mojo",
        "--name",
        "Mojo Concerts",
        "--privacy-url",
        "https://mojo.example/privacy",
        "--description",
        "en=Concerts",
    ]));
    assert!(out.contains("\"kind\": \"promoter\""), "{out}");
    // set again updates by key.
    let out = ok(&run(&[
        "partner",
        "set",
        "--org",
        "venue",
        "--key",
        "mojo",
        "--kind",
        "producer",
        "--name",
        "Mojo Live",
        "--privacy-url",
        "https://mojo.example/privacy",
    ]));
    assert!(
        out.contains("Mojo Live") && out.contains("producer"),
        "{out}"
    );
    fails(
        &run(&[
            "partner",
            "set",
            "--org",
            "venue",
            "--key",
            "x",
            "--name",
            "X",
            "--privacy-url",
            "nope",
        ]),
        "privacy_url",
    );
    fails(
        &run(&[
            "partner",
            "set",
            "--org",
            "venue",
            "--key",
            "x",
            "--name",
            "X",
            "--privacy-url",
            "https://x.example",
            "--description",
            "en",
        ]),
        "LANG=TEXT",
    );
    let token = ok(&run(&[
        "token",
        "create",
        "--org",
        "venue",
        "--partner",
        "mojo",
        "--scope",
        "partner:read",
    ]));
    assert!(token.trim().starts_with("hb_api_"), "{token}");
    fails(
        &run(&[
            "token",
            "create",
            "--org",
            "venue",
            "--partner",
            "mojo",
            "--scope",
            "admin",
        ]),
        "partner:read and partner:write",
    );
    fails(
        &run(&[
            "token",
            "create",
            "--org",
            "venue",
            "--partner",
            "ghost",
            "--scope",
            "partner:read",
        ]),
        "partner not found",
    );
    let out = ok(&run(&[
        "oauth",
        "create",
        "--org",
        "venue",
        "--scope",
        "automations:trigger",
        "--name",
        "CRM",
    ]));
    assert!(
        out.contains("consumer key:    hb_oc_") && out.contains("consumer secret: "),
        "{out}"
    );
    let out = ok(&run(&["oauth", "list", "--org", "venue"]));
    assert!(
        out.contains("automations:trigger") && out.contains("active") && out.contains("CRM"),
        "{out}"
    );
    ok(&run(&["oauth", "revoke", "--org", "venue", "1"]));
    assert!(ok(&run(&["oauth", "list", "--org", "venue"])).contains("revoked"));
    fails(
        &run(&["oauth", "revoke", "--org", "venue", "1"]),
        "not found",
    );
    fails(
        &run(&["oauth", "create", "--org", "venue", "--scope", "bogus"]),
        "unknown scope",
    );
    let out = ok(&run(&["partner", "list", "--org", "venue"]));
    assert!(out.contains("mojo") && out.contains("Mojo Live"), "{out}");
    let out = ok(&run(&[
        "pos",
        "set",
        "--org",
        "venue",
        "--key",
        "webshop",
        "--name",
        "Web shop",
        "--partner-optins",
        "--partner",
        "mojo",
        "--theme",
        "accent=#c8102e",
    ]));
    assert!(
        out.contains("\"partner_optins\": true") && out.contains("#c8102e"),
        "{out}"
    );
    fails(
        &run(&[
            "pos",
            "set",
            "--org",
            "venue",
            "--key",
            "box",
            "--name",
            "Box",
            "--partner",
            "ghost",
        ]),
        "unknown partner",
    );
    let out = ok(&run(&["pos", "list", "--org", "venue"]));
    assert!(
        out.contains("webshop") && out.contains("on") && out.contains("mojo"),
        "{out}"
    );
    let file = dir.path().join("products.json");
    std::fs::write(
        &file,
        r#"{"products": [{"id": "EV1", "title": "Night", "partner": "mojo"}, {"id": "EV2", "title": "Day"}]}"#,
    )
    .unwrap();
    let out = ok(&run(&[
        "product",
        "sync",
        "--org",
        "venue",
        file.to_str().unwrap(),
    ]));
    assert!(out.contains("2 products created, 0 updated"), "{out}");
    let out = ok(&run(&[
        "product",
        "sync",
        "--org",
        "venue",
        file.to_str().unwrap(),
    ]));
    assert!(out.contains("0 products created, 2 updated"), "{out}");
    let out = ok(&run(&[
        "product",
        "list",
        "--org",
        "venue",
        "--partner",
        "mojo",
    ]));
    assert!(out.contains("EV1") && !out.contains("EV2"), "{out}");
    std::fs::write(&file, r#"{"products": [{"id": "EV3", "title": ""}]}"#).unwrap();
    fails(
        &run(&["product", "sync", "--org", "venue", file.to_str().unwrap()]),
        "products[0].title",
    );
    // A consent to export: a single opt-in point of sale and a partner list.
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    let org = app.store.org_by_slug("venue").await.unwrap();
    handbill::services::lists::create(
        &app,
        org.id,
        &handbill::services::lists::CreateList {
            key: "mojo-news".into(),
            name: [("en".to_string(), "Mojo news".to_string())].into(),
            partner: Some("mojo".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    handbill::services::points_of_sale::update(
        &app,
        org.id,
        "webshop",
        &handbill::services::points_of_sale::PosInput {
            name: "Web shop".into(),
            partner_optins: true,
            double_opt_in: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let shop = handbill::services::tokens::Principal::internal(
        org.id,
        handbill::domain::Scope::CheckoutWrite,
    );
    let req: handbill::services::checkout::AnswersRequest = serde_json::from_value(serde_json::json!({
        "point_of_sale": "webshop", "email": "fan@example.org", "product_ids": ["EV1"], "order": "A1",
        "answers": [{"optin": "mojo-news", "consent": true}]
    }))
    .unwrap();
    handbill::services::checkout::answer(&app, &shop, &req)
        .await
        .unwrap();
    app.store.close().await;
    let csv_path = dir.path().join("mojo.csv");
    let o = run(&[
        "export",
        "partner-consents",
        "--org",
        "venue",
        "--partner",
        "mojo",
        "--since",
        "2020-01-01",
        "--out",
        csv_path.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 entries written"));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("cursor,status,optin,at,email"), "{csv}");
    assert!(
        csv.contains("fan@example.org") && csv.contains(",webshop,A1,"),
        "{csv}"
    );
    let out = ok(&run(&[
        "export",
        "partner-consents",
        "--org",
        "venue",
        "--partner",
        "mojo",
        "--format",
        "json",
        "--since",
        "2999-01-01",
    ]));
    assert_eq!(out.trim(), "[]");
    fails(
        &run(&[
            "export",
            "partner-consents",
            "--org",
            "venue",
            "--partner",
            "mojo",
            "--since",
            "yesterday",
        ]),
        "--since",
    );
    let folder = dir.path().join("outgoing");
    std::fs::create_dir(&folder).unwrap();
    let out = ok(&run(&[
        "partner",
        "schedule-export",
        "--org",
        "venue",
        "--partner",
        "mojo",
        "--folder",
        folder.to_str().unwrap(),
        "--every",
        "60",
    ]));
    assert!(
        out.contains("export 1 scheduled: every 60 minutes"),
        "{out}"
    );
    let out = ok(&run(&["partner", "exports", "--org", "venue"]));
    assert!(out.contains("mojo") && out.contains("60m"), "{out}");
    ok(&run(&["partner", "unschedule", "--org", "venue", "1"]));
    fails(
        &run(&["partner", "unschedule", "--org", "venue", "1"]),
        "not found",
    );
}

async fn import_commands(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    handbill::services::orgs::create_org(&app, "venue", "Venue", None)
        .await
        .unwrap();
    app.store.close().await;
    let db = config.database_url.clone().unwrap();
    let data = config.data_dir.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str(), "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        handbill(dir.path(), &all, &[], None)
    };
    std::fs::write(
        dir.path().join("people.csv"),
        "mail;naam;stad\nann@example.org;Ann;Utrecht\nbroken;Bob;\ncas@example.org;Cas;Zwolle\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mapping.json"),
        r#"{"columns": {"mail": "email", "naam": "first_name", "stad": "city"}}"#,
    )
    .unwrap();
    let out = ok(&run(&[
        "import",
        "contacts",
        "people.csv",
        "--org",
        "venue",
        "--mapping",
        "mapping.json",
    ]));
    assert!(
        out.contains(
            "import 1: done — 3 rows: 2 inserted, 0 updated, 0 unchanged, 0 skipped, 1 refused"
        ),
        "{out}"
    );
    assert!(out.contains("line 3: mail invalid_email"), "{out}");
    let out = ok(&run(&["import", "show", "1", "--org", "venue"]));
    assert!(out.contains("2 inserted"), "{out}");
    // A finished import cannot be resumed; a mapping naming a missing column is refused.
    fails(
        &run(&["import", "resume", "1", "--org", "venue"]),
        "finished",
    );
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"columns": {"E-mail": "email"}}"#,
    )
    .unwrap();
    fails(
        &run(&[
            "import",
            "contacts",
            "people.csv",
            "--org",
            "venue",
            "--mapping",
            "bad.json",
        ]),
        "columns.E-mail: the file has no column with this name",
    );
}

async fn linkparam_commands(backend: Backend) {
    let Some((config, dir)) = support::test_config(backend).await else {
        return;
    };
    let app = handbill::app::App::open(config.clone()).await.unwrap();
    handbill::services::orgs::create_org(&app, "venue", "Venue", None)
        .await
        .unwrap();
    app.store.close().await;
    let db = config.database_url.clone().unwrap();
    let data = config.data_dir.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", db.as_str(), "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        handbill(dir.path(), &all, &[], None)
    };
    let out = ok(&run(&[
        "linkparam",
        "set",
        "--org",
        "venue",
        "--field",
        "external_id",
        "--field",
        "email",
    ]));
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = shown["key"].as_str().unwrap().to_string();
    assert_eq!(
        ok(&run(&["linkparam", "key", "--org", "venue"])).trim(),
        key
    );
    let k = handbill::domain::link_param::parse_key(&key).unwrap();
    let token = handbill::domain::link_param::seal(&k, br#"{"email":"ann@example.org"}"#);
    let out = ok(&run(&["linkparam", "decrypt", "--org", "venue", &token]));
    assert_eq!(out.trim(), r#"{"email":"ann@example.org"}"#);
    fails(
        &run(&["linkparam", "decrypt", "--org", "venue", "garbage"]),
        "not made with the organisation's key",
    );
    fails(
        &run(&["linkparam", "set", "--org", "venue", "--field", "password"]),
        "fields[0]: one of id, guid",
    );
    ok(&run(&["linkparam", "off", "--org", "venue"]));
    fails(&run(&["linkparam", "key", "--org", "venue"]), "not found");
}
