//! Bounces and complaints end to end: returned mail (DSN, ARF) spoken over SMTP to the bounce
//! listener, and the signed webhooks of Postmark, Mailgun and SendGrid. Forged references and
//! bad signatures change nothing.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use handbill::workers::run_until_idle;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::smtp_sink::SmtpSink;
use support::{Backend, TestApp, T0};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

both_backends!(
    returned_mail_bounces_and_complaints,
    provider_webhooks_are_verified_and_applied,
    unconfigured_webhooks_are_not_there,
);

struct Env {
    t: TestApp,
    sink: SmtpSink,
    admin: String,
    org_id: i64,
}

async fn env(backend: Backend, tweak: impl FnOnce(&mut handbill::config::Config)) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let t = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(url);
        c.soft_bounce_limit = 2;
        tweak(c);
    })
    .await?;
    let org = t.org("paradiso").await;
    let admin = t.token("paradiso", &["admin"], &[]).await;
    let e = Env {
        t,
        sink,
        admin,
        org_id: org.id,
    };
    e.post("/api/v1/lists", json!({"key": "news", "name": {"en": "News"}, "double_opt_in": false, "send_welcome": false}))
        .await;
    Some(e)
}

impl Env {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.t
            .client
            .post(self.t.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Sends a mailing to `who` and returns the VERP envelope sender of each message.
    async fn send_to(&self, who: &[&str]) -> (i64, Vec<(String, String)>) {
        for w in who {
            let r = self
                .post(
                    "/api/v1/optins/register",
                    json!({"email": w, "optins": ["news"], "consent": "asserted"}),
                )
                .await;
            assert_eq!(r.status(), 202);
        }
        let r = self
            .post(
                "/api/v1/mailings",
                json!({"name": "m", "subject": "s", "from_email": "news@paradiso.test", "html": "<p>x</p>", "lists": ["news"]}),
            )
            .await;
        let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        self.post(&format!("/api/v1/mailings/{id}/send"), json!({}))
            .await;
        let before = self.sink.received().len();
        run_until_idle(&self.t.app).await.unwrap();
        let sent = self.sink.received()[before..]
            .iter()
            .map(|r| (r.rcpt_to[0].clone(), r.mail_from.clone()))
            .collect();
        (id, sent)
    }

    async fn stats(&self, id: i64) -> Value {
        let r = self
            .t
            .client
            .get(self.t.url(&format!("/api/v1/mailings/{id}/stats")))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn suppressed(&self, email: &str) -> Vec<handbill::domain::SuppressionReason> {
        self.t
            .app
            .store
            .suppressions(self.org_id, email)
            .await
            .unwrap()
    }
}

/// Speaks SMTP to `addr`: returns the server's answers to RCPT TO and to the end of DATA.
async fn smtp(addr: std::net::SocketAddr, rcpt: &str, data: &str) -> (String, Option<String>) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    async fn read(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }
    read(&mut r).await;
    for cmd in [
        "EHLO mx.example.nl\r\n".to_string(),
        "MAIL FROM:<>\r\n".to_string(),
    ] {
        w.write_all(cmd.as_bytes()).await.unwrap();
        read(&mut r).await;
    }
    w.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
        .await
        .unwrap();
    let rcpt_answer = read(&mut r).await;
    if !rcpt_answer.starts_with("250") {
        return (rcpt_answer, None);
    }
    w.write_all(b"DATA\r\n").await.unwrap();
    read(&mut r).await;
    w.write_all(format!("{data}\r\n.\r\n").as_bytes())
        .await
        .unwrap();
    let end = read(&mut r).await;
    w.write_all(b"QUIT\r\n").await.unwrap();
    (rcpt_answer, Some(end))
}

fn dsn(to: &str, recipient: &str, status: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.nl\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.nl\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; 550 {status} no\r\n\r\n--B--"
    )
}

async fn returned_mail_bounces_and_complaints(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = listener.local_addr().unwrap();
    let Some(e) = env(backend, |c| c.bounce_listen = Some(listen)).await else {
        return;
    };
    let addr = listener.local_addr().unwrap();
    let app = e.t.app.clone();
    tokio::spawn(handbill::services::bounces::listen(
        app,
        listener,
        std::future::pending(),
    ));

    let (id, sent) = e
        .send_to(&[
            "gone@example.nl",
            "full@example.nl",
            "angry@example.nl",
            "ok@example.nl",
        ])
        .await;
    let verp = |who: &str| sent.iter().find(|(to, _)| to == who).unwrap().1.clone();
    assert!(verp("gone@example.nl").starts_with("bounces+"));

    // Unknown and forged addresses are refused at RCPT.
    let (rcpt, _) = smtp(addr, "postmaster@mail.venue.test", "x").await;
    assert!(rcpt.starts_with("550"), "{rcpt}");
    let forged = verp("gone@example.nl").replacen("-", "-9", 1);
    let (rcpt, _) = smtp(addr, &forged, "x").await;
    assert!(rcpt.starts_with("550"), "{rcpt}");
    // A mail that is no report is taken and ignored.
    let (_, end) = smtp(
        addr,
        &verp("ok@example.nl"),
        "Subject: Out of office\r\n\r\nAway.",
    )
    .await;
    assert!(end.unwrap().starts_with("250"));
    assert!(e.suppressed("ok@example.nl").await.is_empty());

    // The mailto of List-Unsubscribe: a mail to it unsubscribes.
    let ok_mail = e
        .sink
        .received()
        .into_iter()
        .find(|r| r.rcpt_to[0] == "ok@example.nl")
        .unwrap();
    let raw = String::from_utf8_lossy(&ok_mail.data).to_string();
    let lu = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap()
        .header_raw("List-Unsubscribe")
        .unwrap()
        .replace(['\r', '\n'], "");
    let mailto = lu
        .split("<mailto:")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert!(
        mailto.starts_with("unsubscribe+") && mailto.ends_with("@mail.venue.test"),
        "{lu}"
    );
    let forged = mailto.replacen('-', "-9", 1);
    let (rcpt, _) = smtp(addr, &forged, "x").await;
    assert!(rcpt.starts_with("550"), "{rcpt}");
    let (_, end) = smtp(addr, mailto, "Subject: unsubscribe\r\n\r\nplease").await;
    assert!(end.unwrap().starts_with("250"));
    let c =
        e.t.client
            .get(e.t.url("/api/v1/contacts?email=ok@example.nl"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    let c: Value = c.json().await.unwrap();
    assert_eq!(c["subscriptions"][0]["status"], "unsubscribed", "{c}");

    // A hard bounce suppresses at once; soft bounces after the limit (2 here).
    let (_, end) = smtp(
        addr,
        &verp("gone@example.nl"),
        &dsn(&verp("gone@example.nl"), "gone@example.nl", "5.1.1"),
    )
    .await;
    assert!(end.unwrap().starts_with("250"));
    assert_eq!(
        e.suppressed("gone@example.nl").await,
        vec![handbill::domain::SuppressionReason::HardBounce]
    );
    smtp(
        addr,
        &verp("full@example.nl"),
        &dsn(&verp("full@example.nl"), "full@example.nl", "5.2.2"),
    )
    .await;
    assert!(
        e.suppressed("full@example.nl").await.is_empty(),
        "one soft bounce is not enough"
    );
    smtp(
        addr,
        &verp("full@example.nl"),
        &dsn(&verp("full@example.nl"), "full@example.nl", "4.2.2"),
    )
    .await;
    assert_eq!(
        e.suppressed("full@example.nl").await,
        vec![handbill::domain::SuppressionReason::HardBounce]
    );

    // A complaint through a feedback loop to fbl@, naming the message by its Return-Path.
    let arf = format!(
        "From: fbl@isp.example\r\nTo: fbl@mail.venue.test\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nAbuse report\r\n\
         --B\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n\
         --B\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <{}>\r\nSubject: s\r\n\r\nx\r\n--B--",
        verp("angry@example.nl")
    );
    let (_, end) = smtp(addr, "fbl@mail.venue.test", &arf).await;
    assert!(end.unwrap().starts_with("250"));
    assert_eq!(
        e.suppressed("angry@example.nl").await,
        vec![handbill::domain::SuppressionReason::Complaint]
    );
    let c =
        e.t.client
            .get(e.t.url("/api/v1/contacts?email=angry@example.nl"))
            .bearer_auth(&e.admin)
            .send()
            .await
            .unwrap();
    let c: Value = c.json().await.unwrap();
    assert_eq!(
        c["subscriptions"][0]["status"], "unsubscribed",
        "a complaint withdraws consent"
    );

    let s = e.stats(id).await;
    assert_eq!(
        (
            s["hard_bounces"].as_i64(),
            s["soft_bounces"].as_i64(),
            s["complaints"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(s["bounced"], 2, "{s}");
    assert_eq!(
        s["unsubscribes"], 1,
        "the mailto unsubscribe counts for the mailing"
    );
    let v = handbill::services::consent::verify(&e.t.app, "paradiso")
        .await
        .unwrap();
    assert_eq!(v.first_broken, None, "the ledger stays valid");
}

/// A P-256 key pair: the PKCS#8 document for signing and the base64 SPKI SendGrid shows.
fn sendgrid_key() -> (ring::signature::EcdsaKeyPair, String) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(pair.public_key().as_ref());
    (pair, STANDARD.encode(spki))
}

async fn provider_webhooks_are_verified_and_applied(backend: Backend) {
    let (pair, public) = sendgrid_key();
    let Some(e) = env(backend, |c| {
        c.postmark_webhook_user = Some("pm".into());
        c.postmark_webhook_password = Some("secret".into());
        c.mailgun_signing_key = Some("mg-key".into());
        c.sendgrid_public_key = Some(public);
        c.mail_provider = Some("postmark".into());
        c.ses_topic_arns = vec![SES_TOPIC.into()];
        c.sns_certificate_files
            .insert(SNS_CERT_URL.into(), fixture("sns-test-cert.pem"));
    })
    .await
    else {
        return;
    };
    let (id, sent) = e
        .send_to(&[
            "pm@example.nl",
            "mg@example.nl",
            "sg@example.nl",
            "sg2@example.nl",
            "ses@example.nl",
        ])
        .await;
    let local = |who: &str| {
        sent.iter()
            .find(|(to, _)| to == who)
            .unwrap()
            .1
            .split('@')
            .next()
            .unwrap()
            .to_string()
    };
    let raw = String::from_utf8_lossy(&e.sink.received()[0].data).to_string();
    assert!(
        raw.contains("X-PM-Metadata-handbill: bounces+"),
        "the provider's metadata header is set"
    );
    let client = &e.t.client;

    // Postmark: basic auth.
    let body = json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "pm@example.nl", "Description": "gone",
                      "Metadata": {"handbill": local("pm@example.nl")}});
    let r = client
        .post(e.t.url("/webhooks/postmark"))
        .basic_auth("pm", Some("wrong"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(e.suppressed("pm@example.nl").await.is_empty());
    let r = client
        .post(e.t.url("/webhooks/postmark"))
        .basic_auth("pm", Some("secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["applied"], 1);
    assert_eq!(e.suppressed("pm@example.nl").await.len(), 1);

    // Mailgun: HMAC of timestamp and token.
    let ts = (T0 / 1000).to_string();
    let sign = |key: &str| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
        m.update(format!("{ts}tok").as_bytes());
        hex::encode(m.finalize().into_bytes())
    };
    let mg = |sig: String| {
        json!({"signature": {"timestamp": ts, "token": "tok", "signature": sig},
               "event-data": {"event": "failed", "severity": "permanent", "recipient": "mg@example.nl",
                              "envelope": {"sender": sent.iter().find(|(to, _)| to == "mg@example.nl").unwrap().1},
                              "delivery-status": {"code": 550, "message": "no such user"}}})
    };
    let r = client
        .post(e.t.url("/webhooks/mailgun"))
        .json(&mg(sign("other")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(e.t.url("/webhooks/mailgun"))
        .json(&mg(sign("mg-key")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(e.suppressed("mg@example.nl").await.len(), 1);

    // SendGrid: ECDSA over timestamp + body; a complaint and a hard bounce in one call.
    let body = json!([
        {"email": "sg@example.nl", "event": "spamreport", "handbill": local("sg@example.nl")},
        {"email": "sg2@example.nl", "event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "unknown", "handbill": local("sg2@example.nl")},
        {"email": "x@example.nl", "event": "delivered", "handbill": "bounces+1-1-0000000000"}
    ])
    .to_string();
    let rng = ring::rand::SystemRandom::new();
    let sig = STANDARD.encode(
        pair.sign(&rng, format!("{ts}{body}").as_bytes())
            .unwrap()
            .as_ref(),
    );
    let r = client
        .post(e.t.url("/webhooks/sendgrid"))
        .header("X-Twilio-Email-Event-Webhook-Signature", &sig)
        .header("X-Twilio-Email-Event-Webhook-Timestamp", "1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the timestamp is signed too");
    let r = client
        .post(e.t.url("/webhooks/sendgrid"))
        .header("X-Twilio-Email-Event-Webhook-Signature", &sig)
        .header("X-Twilio-Email-Event-Webhook-Timestamp", &ts)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["applied"], 2);
    assert_eq!(
        e.suppressed("sg@example.nl").await,
        vec![handbill::domain::SuppressionReason::Complaint]
    );
    assert_eq!(
        e.suppressed("sg2@example.nl").await,
        vec![handbill::domain::SuppressionReason::HardBounce]
    );

    // Amazon SES through SNS: RSA signature by a certificate from an SNS URL.
    let source = sent
        .iter()
        .find(|(to, _)| to == "ses@example.nl")
        .unwrap()
        .1
        .clone();
    let message = json!({"notificationType": "Bounce", "mail": {"source": source},
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": "ses@example.nl", "diagnosticCode": "smtp; 550 5.1.1 unknown"}]}})
    .to_string();
    let mut note = json!({"Type": "Notification", "MessageId": "m-1", "TopicArn": SES_TOPIC, "Message": message,
        "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "2", "SigningCertURL": SNS_CERT_URL});
    let signed = format!(
        "Message\n{message}\nMessageId\nm-1\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\n{SES_TOPIC}\nType\nNotification\n"
    );
    let key = std::fs::read_to_string(fixture("sns-test-key.pem")).unwrap();
    let pair = {
        use rustls_pki_types::pem::PemObject;
        ring::signature::RsaKeyPair::from_pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.as_bytes())
                .unwrap()
                .secret_pkcs8_der(),
        )
    }
    .unwrap();
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &rng,
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    note["Signature"] = json!(STANDARD.encode(&sig));
    let mut forged = note.clone();
    forged["Message"] = json!(message.replace("Permanent", "Transient"));
    let r = client
        .post(e.t.url("/webhooks/ses"))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an altered message fails the signature");
    let mut other_topic = note.clone();
    other_topic["TopicArn"] = json!("arn:aws:sns:eu-west-1:999:other");
    let r = client
        .post(e.t.url("/webhooks/ses"))
        .json(&other_topic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "only the configured topics");
    assert!(e.suppressed("ses@example.nl").await.is_empty());
    let r = client
        .post(e.t.url("/webhooks/ses"))
        .json(&note)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        e.suppressed("ses@example.nl").await,
        vec![handbill::domain::SuppressionReason::HardBounce]
    );

    let s = e.stats(id).await;
    assert_eq!(
        (s["hard_bounces"].as_i64(), s["complaints"].as_i64()),
        (Some(4), Some(1)),
        "{s}"
    );
}

async fn unconfigured_webhooks_are_not_there(backend: Backend) {
    let Some(e) = env(backend, |_| {}).await else {
        return;
    };
    for p in ["postmark", "mailgun", "sendgrid", "ses"] {
        let r =
            e.t.client
                .post(e.t.url(&format!("/webhooks/{p}")))
                .body("{}")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
}

const SES_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-bounces";
const SNS_CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
