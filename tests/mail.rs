//! Mail transport against a real SMTP server over TCP (accepting, rejecting with 4xx and 5xx,
//! requiring AUTH, and down), the Maildir outbox, and durable delivery jobs with retries.

mod support;

use handbill::domain::EmailAddress;
use handbill::mail::{compose, ListUnsubscribe, Mailbox, OutgoingMessage, SendError, Transport};
use handbill::services::mail::queue_mail;
use handbill::workers::{backoff_ms, run_until_idle};
use mail_parser::MessageParser;
use support::smtp_sink::{dead_address, test_certificate, Behaviour, SmtpSink, Tls};
use support::{Backend, TestApp};

both_backends!(
    jobs_deliver_through_the_maildir_outbox,
    transient_smtp_failures_are_retried_with_backoff,
    permanent_smtp_failures_are_not_retried,
);

fn message(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        from: Mailbox::new(
            Some("Paradiso"),
            EmailAddress::parse("news@paradiso.nl").unwrap(),
        ),
        to: Mailbox::new(Some("Fan Één"), EmailAddress::parse(to).unwrap()),
        reply_to: None,
        return_path: Some(EmailAddress::parse("bounces@paradiso.nl").unwrap()),
        subject: "Deze week in Paradiso ✨".into(),
        text: "Hallo!\n\n.Een regel die met een punt begint.\n".into(),
        html: Some("<h1>Hallo!</h1><p>Tot snel.</p>".into()),
        list_unsubscribe: Some(ListUnsubscribe {
            url: "https://mail.paradiso.nl/p/unsubscribe/tok".into(),
            mailto: None,
            one_click: true,
        }),
        headers: vec![],
    }
}

fn smtp_transport(url: &str) -> Transport {
    let config = handbill::config::Config {
        smtp_url: Some(url.into()),
        smtp_timeout_secs: 5,
        ..Default::default()
    };
    Transport::from_config(&config).unwrap()
}

#[tokio::test]
async fn smtp_delivers_a_correct_mime_message() {
    let sink = SmtpSink::start().await;
    let t = smtp_transport(&sink.url());
    let m = compose(&message("fan@example.nl"), "mail.paradiso.nl", support::T0).unwrap();
    t.send(&m).await.unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail_from, "bounces@paradiso.nl");
    assert_eq!(got[0].rcpt_to, vec!["fan@example.nl"]);
    // The bytes arrive unchanged (dot-stuffing undone); the client may add a final line break.
    assert!(got[0].data.starts_with(&m.raw) && got[0].data.len() <= m.raw.len() + 2);
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("Deze week in Paradiso ✨"));
    assert_eq!(
        parsed.to().unwrap().first().unwrap().name(),
        Some("Fan Één")
    );
    assert!(parsed
        .body_text(0)
        .unwrap()
        .contains(".Een regel die met een punt begint."));
    assert!(parsed.body_html(0).unwrap().contains("<h1>Hallo!</h1>"));
    assert_eq!(
        parsed.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
}

#[tokio::test]
async fn smtp_pool_carries_many_messages() {
    let sink = SmtpSink::start().await;
    let t = smtp_transport(&sink.url());
    let sends = (0..40).map(|i| {
        let t = t.clone();
        async move {
            let m = compose(&message(&format!("fan{i}@example.nl")), "h.test", 0).unwrap();
            t.send(&m).await
        }
    });
    for r in futures_util::future::join_all(sends).await {
        r.unwrap();
    }
    assert_eq!(sink.received().len(), 40);
}

#[tokio::test]
async fn smtp_auth_is_used_and_bad_credentials_fail_permanently() {
    let sink = SmtpSink::start_with_auth(Some(("venue@relay.test", "s3cret:pw"))).await;
    let url = format!(
        "smtp://venue%40relay.test:s3cret%3Apw@{}?tls=none",
        sink.addr
    );
    let m = compose(&message("fan@example.nl"), "h.test", 0).unwrap();
    smtp_transport(&url).send(&m).await.unwrap();
    assert_eq!(
        sink.received()[0].auth_user.as_deref(),
        Some("venue@relay.test")
    );
    let wrong = format!("smtp://venue%40relay.test:nope@{}?tls=none", sink.addr);
    assert!(matches!(
        smtp_transport(&wrong).send(&m).await,
        Err(SendError::Permanent(_))
    ));
    let none = format!("smtp://{}?tls=none", sink.addr);
    assert!(
        matches!(
            smtp_transport(&none).send(&m).await,
            Err(SendError::Permanent(_))
        ),
        "530 without AUTH"
    );
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn smtp_rejections_are_classified() {
    // With PIPELINING (MAIL, RCPT and DATA in one write) and without (one at a time); the
    // same connection carries on after each refusal.
    for pipelining in [true, false] {
        let sink = SmtpSink::start().await;
        sink.set_pipelining(pipelining);
        let t = smtp_transport(&sink.url());
        let m = compose(&message("fan@example.nl"), "h.test", 0).unwrap();
        for (b, transient) in [
            (Behaviour::RejectRcpt(450), true),
            (Behaviour::RejectRcpt(550), false),
            (Behaviour::RejectData(451), true),
            (Behaviour::RejectData(554), false),
        ] {
            sink.set_behaviour(b.clone());
            let err = t.send(&m).await.unwrap_err();
            assert_eq!(
                matches!(err, SendError::Transient(_)),
                transient,
                "{b:?}: {err}"
            );
            let code = match b {
                Behaviour::RejectRcpt(c) | Behaviour::RejectData(c) => c,
                _ => 0,
            };
            assert!(err.to_string().contains(&code.to_string()), "{err}");
        }
        sink.set_behaviour(Behaviour::Accept);
        let answer = t.send(&m).await.unwrap();
        assert!(answer.starts_with("250"), "{answer}");
        assert_eq!(
            sink.received().len(),
            1,
            "only the accepted message was received (pipelining {pipelining})"
        );
    }
}

#[tokio::test]
async fn smtp_bodies_are_dot_stuffed() {
    let sink = SmtpSink::start().await;
    let t = smtp_transport(&sink.url());
    let mut msg = message("fan@example.nl");
    msg.text = ".leading dot\n..two\nend".into();
    msg.html = None;
    let m = compose(&msg, "h.test", 0).unwrap();
    t.send(&m).await.unwrap();
    let mut expected = m.raw.clone();
    if !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    assert!(String::from_utf8_lossy(&m.raw).contains("\r\n.leading dot"));
    assert_eq!(
        sink.received()[0].data,
        expected,
        "the relay got back exactly the message, its dots unstuffed"
    );
}

#[tokio::test]
async fn smtp_server_down_is_a_transient_failure() {
    let addr = dead_address().await;
    let t = smtp_transport(&format!("smtp://{addr}?tls=none"));
    let m = compose(&message("fan@example.nl"), "h.test", 0).unwrap();
    assert!(matches!(t.send(&m).await, Err(SendError::Transient(_))));
}

#[tokio::test]
async fn starttls_is_required_by_default() {
    // The sink offers no STARTTLS: a relay URL without ?tls=none must refuse to send in clear.
    let sink = SmtpSink::start().await;
    let t = smtp_transport(&format!("smtp://{}", sink.addr));
    let m = compose(&message("fan@example.nl"), "h.test", 0).unwrap();
    assert!(t.send(&m).await.is_err());
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn starttls_and_implicit_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, pem) = test_certificate();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let m = compose(&message("fan@example.nl"), "h.test", 0).unwrap();

    // STARTTLS (the default of smtp://), with AUTH inside the encrypted session.
    let sink = SmtpSink::start_full(Some(("venue", "pw")), Tls::Starttls(acceptor.clone())).await;
    let url = format!("smtp://venue:pw@{}?ca_file={}", sink.addr, ca.display());
    smtp_transport(&url).send(&m).await.unwrap();
    assert_eq!(sink.received().len(), 1);
    assert_eq!(sink.received()[0].auth_user.as_deref(), Some("venue"));
    // The certificate is verified: without the CA the relay is not trusted and nothing is sent.
    let untrusted = format!("smtp://venue:pw@{}", sink.addr);
    assert!(smtp_transport(&untrusted).send(&m).await.is_err());
    assert_eq!(sink.received().len(), 1);

    // Implicit TLS (smtps://).
    let sink = SmtpSink::start_full(None, Tls::Wrapper(acceptor)).await;
    let url = format!("smtps://{}?ca_file={}", sink.addr, ca.display());
    smtp_transport(&url).send(&m).await.unwrap();
    assert_eq!(sink.received().len(), 1);

    // Opportunistic TLS falls back to plain text when the server offers no STARTTLS.
    let plain = SmtpSink::start().await;
    smtp_transport(&format!("smtp://{}?tls=opportunistic", plain.addr))
        .send(&m)
        .await
        .unwrap();
    assert_eq!(plain.received().len(), 1);

    // A CA file that cannot be read stops the start.
    let config = handbill::config::Config {
        smtp_url: Some(format!("smtp://{}?ca_file=/no/such/ca.pem", plain.addr)),
        ..Default::default()
    };
    let err = Transport::from_config(&config).err().unwrap();
    assert!(err.contains("cannot read ca_file"), "{err}");
}

async fn jobs_deliver_through_the_maildir_outbox(backend: Backend) {
    let Some(t) = TestApp::start(backend).await else {
        return;
    };
    let org = t.org("paradiso").await;
    let id = queue_mail(&t.app, Some(org.id), &message("fan@example.nl"))
        .await
        .unwrap();
    assert_eq!(t.app.store.job(id).await.unwrap().status, "queued");
    assert_eq!(run_until_idle(&t.app).await.unwrap(), 1);
    assert_eq!(t.app.store.job(id).await.unwrap().status, "done");
    let outbox = handbill::mail::Maildir::open(t.app.config.outbox_dir()).unwrap();
    let list = outbox.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subject, "Deze week in Paradiso ✨");
    assert_eq!(list[0].to, "fan@example.nl");
    // A message with an injected header is refused before it is queued.
    let mut bad = message("fan@example.nl");
    bad.subject = "x\r\nBcc: all@example.nl".into();
    assert!(queue_mail(&t.app, Some(org.id), &bad).await.is_err());
    assert_eq!(t.app.store.job_counts().await.unwrap().queued, 0);
}

async fn transient_smtp_failures_are_retried_with_backoff(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let Some(t) = TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await else {
        return;
    };
    sink.set_behaviour(Behaviour::RejectData(451));
    let id = queue_mail(&t.app, None, &message("fan@example.nl"))
        .await
        .unwrap();
    run_until_idle(&t.app).await.unwrap();
    let job = t.app.store.job(id).await.unwrap();
    assert_eq!(job.status, "queued");
    assert_eq!(job.attempts, 1);
    assert_eq!(job.run_at, t.app.now() + backoff_ms(1));
    assert!(job.last_error.unwrap().contains("451"));
    // Not due yet: nothing runs.
    sink.set_behaviour(Behaviour::Accept);
    assert_eq!(run_until_idle(&t.app).await.unwrap(), 0);
    t.clock.advance_ms(backoff_ms(1));
    assert_eq!(run_until_idle(&t.app).await.unwrap(), 1);
    let job = t.app.store.job(id).await.unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 2));
    assert_eq!(sink.received().len(), 1);
}

async fn permanent_smtp_failures_are_not_retried(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let Some(t) = TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await else {
        return;
    };
    sink.set_behaviour(Behaviour::RejectRcpt(550));
    let id = queue_mail(&t.app, None, &message("gone@example.nl"))
        .await
        .unwrap();
    run_until_idle(&t.app).await.unwrap();
    let job = t.app.store.job(id).await.unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("dead", 1));
    assert!(job.last_error.unwrap().contains("550"));
    // A relay that stays down exhausts the attempts and the job ends dead, not lost.
    let down = dead_address().await;
    let Some(t2) = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://{down}?tls=none"))
    })
    .await
    else {
        return;
    };
    let id = queue_mail(&t2.app, None, &message("fan@example.nl"))
        .await
        .unwrap();
    for _ in 0..handbill::services::mail::MAIL_MAX_ATTEMPTS {
        run_until_idle(&t2.app).await.unwrap();
        t2.clock.advance_ms(backoff_ms(20));
    }
    let job = t2.app.store.job(id).await.unwrap();
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("dead", handbill::services::mail::MAIL_MAX_ATTEMPTS)
    );
}
