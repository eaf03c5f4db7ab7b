//! Crash safety of the delivery engine: the real binary is killed with SIGKILL in the middle
//! of a mailing and started again. Every recipient gets the mailing exactly once, except at
//! most one batch of messages that were in flight at the kill: those are recorded as
//! `uncertain`, and even they never arrive twice.

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use handbill::app::App;
use handbill::config::Config;
use handbill::domain::contact::ContactInput;
use handbill::domain::ledger::Evidence;
use handbill::domain::{ConsentAction, EmailAddress};
use handbill::services::mailings::{self, Action, MailingInput};
use support::smtp_sink::SmtpSink;
use support::{test_config, Backend};

both_backends!(kill_9_mid_mailing_sends_everyone_at_most_once);

const RECIPIENTS: usize = 200;
const BATCH: usize = 10;

/// Creates the organisation, its subscribers and a mailing that is sending; returns its id.
async fn prepare(config: &Config) -> (i64, i64) {
    let app = App::open(config.clone()).await.unwrap();
    let org = handbill::services::orgs::create_org(&app, "crash", "Crash Venue", None)
        .await
        .unwrap();
    let list = app
        .store
        .create_list(org.id, &support::new_list("news", false, &[]), app.now())
        .await
        .unwrap();
    for i in 0..RECIPIENTS {
        let email = EmailAddress::parse(&format!("fan{i}@example.nl")).unwrap();
        let (c, _) = handbill::services::contacts::find_or_create(
            &app,
            org.id,
            &email,
            &ContactInput::default(),
        )
        .await
        .unwrap();
        app.store
            .change_subscription(
                org.id,
                c.id,
                list.id,
                email.as_str(),
                ConsentAction::Assert,
                &Evidence::default(),
                app.now(),
            )
            .await
            .unwrap();
    }
    let input = MailingInput {
        name: "Crash".into(),
        subject: "Hello {{ contact.email }}".into(),
        from_email: Some("news@crash.test".into()),
        html: "<p>Hello</p>".into(),
        lists: vec!["news".into()],
        ..Default::default()
    };
    let m = mailings::create(&app, org.id, &input, "test")
        .await
        .unwrap();
    mailings::act(&app, org.id, m.id, Action::Send)
        .await
        .unwrap();
    app.store.close().await;
    (org.id, m.id)
}

fn start(config: &Config, smtp: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handbill"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HANDBILL_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["serve", "--workers-only"])
        .env(
            "HANDBILL_DATABASE_URL",
            config.database_url.as_deref().unwrap(),
        )
        .env("HANDBILL_DATA_DIR", &config.data_dir)
        .env("HANDBILL_SMTP_URL", smtp)
        .env("HANDBILL_PUBLIC_URL", "https://mail.crash.test")
        .env("HANDBILL_MAIL_BATCH_SIZE", BATCH.to_string())
        .env("HANDBILL_NODE_NAME", "crash-node")
        .env("HANDBILL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start handbill")
}

async fn kill_9_mid_mailing_sends_everyone_at_most_once(backend: Backend) {
    let Some((config, _dir)) = test_config(backend).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    sink.set_delay(Duration::from_millis(15));
    let (org_id, mailing_id) = prepare(&config).await;

    let mut node = start(&config, &sink.url());
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.received().len() < RECIPIENTS / 4 {
        assert!(Instant::now() < deadline, "the first node sent too little");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill().unwrap(); // SIGKILL: no chance to finish anything
    node.wait().unwrap();
    let at_kill = sink.received().len();
    assert!(at_kill < RECIPIENTS, "the kill came mid-mailing");

    let mut node = start(&config, &sink.url());
    let app = App::open(config.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = app.store.mailing(org_id, mailing_id).await.unwrap();
        if m.status == "sent" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mailing did not finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.kill().unwrap();
    node.wait().unwrap();

    let mut received: HashMap<String, usize> = HashMap::new();
    for r in sink.received() {
        for to in r.rcpt_to {
            *received.entry(to).or_default() += 1;
        }
    }
    assert!(
        received.values().all(|n| *n == 1),
        "nobody got the mailing twice"
    );
    let rows = app
        .store
        .deliveries(org_id, Some(mailing_id), None, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(rows.len(), RECIPIENTS);
    let mut uncertain = 0;
    for d in &rows {
        let c = app
            .store
            .contact_by_id(org_id, d.contact_id.unwrap())
            .await
            .unwrap();
        match d.status.as_str() {
            "sent" => assert_eq!(
                received.get(&c.email),
                Some(&1),
                "{} was recorded sent",
                c.email
            ),
            "uncertain" => uncertain += 1,
            other => panic!("delivery {} is {other}", d.id),
        }
    }
    assert!(
        uncertain <= BATCH,
        "at most one batch is in doubt, got {uncertain}"
    );
    let sent = rows.len() - uncertain;
    assert!(
        received.len() >= sent && received.len() <= RECIPIENTS,
        "every recipient recorded as sent got it; in-doubt ones got it at most once"
    );
    eprintln!(
        "kill at {at_kill} received; {uncertain} uncertain; {} received in all",
        received.len()
    );
}
