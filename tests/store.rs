//! Store behaviour on both backends: the data model, uniqueness on normalised addresses, the
//! append-only consent ledger and its verification, suppressions, and the job queue.

mod support;

use handbill::domain::contact::ContactInput;
use handbill::domain::ledger::Evidence;
use handbill::domain::{ConsentAction, EmailAddress, SuppressionReason};
use handbill::services::{consent, contacts};
use handbill::store::{ListText, StoreError};
use support::{Backend, TestApp};

both_backends!(
    contacts_are_unique_on_the_normalised_address,
    contact_fields_and_tags_round_trip,
    lists_get_numbers_and_a_default,
    consent_changes_are_ledgered_and_verify,
    ledger_rows_cannot_be_updated_or_deleted,
    tampering_is_detected_at_the_first_broken_entry,
    blacklist_changes_are_ledgered,
    jobs_are_leased_retried_and_recovered,
    organisations_are_isolated,
);

fn ev() -> Evidence {
    Evidence {
        source: "api".into(),
        actor: "token:1".into(),
        token_id: Some(1),
        ip: Some("192.0.2.10".into()),
        user_agent: Some("test-agent/1.0".into()),
        text_shown: Some("Ja, stuur mij de nieuwsbrief".into()),
        context: None,
    }
}

async fn setup(backend: Backend) -> Option<(TestApp, i64)> {
    let t = TestApp::start(backend).await?;
    let org = t.org("venue").await;
    Some((t, org.id))
}

async fn list(t: &TestApp, org: i64, key: &str) -> i64 {
    let texts = [ListText {
        language: "nl".into(),
        name: format!("Nieuwsbrief {key}"),
        description: "Elke week".into(),
        optin_text: "Ja, stuur mij de nieuwsbrief".into(),
    }];
    t.app
        .store
        .create_list(org, &support::new_list(key, true, &texts), t.app.now())
        .await
        .unwrap()
        .id
}

async fn contacts_are_unique_on_the_normalised_address(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    let a = EmailAddress::parse("Fan@Example.NL").unwrap();
    let (c1, created) = contacts::find_or_create(&t.app, org, &a, &ContactInput::default())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(c1.email, "fan@example.nl");
    assert_eq!(c1.guid.len(), 20);
    let b = EmailAddress::parse(" fan@example.nl ").unwrap();
    let (c2, created) = contacts::find_or_create(&t.app, org, &b, &ContactInput::default())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(c1.id, c2.id);
    // The store itself refuses a second row with the same normalised address.
    let err = t
        .app
        .store
        .insert_contact(
            org,
            "OTHERGUID00000000000",
            &b,
            &Default::default(),
            t.app.now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.is_conflict_on("email"), "{err:?}");
}

async fn contact_fields_and_tags_round_trip(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    let input: ContactInput = serde_json::from_value(serde_json::json!({
        "external_id": "CRM-1", "first_name": "Zoë", "name_prefix": "van der", "last_name": "Berg",
        "organisation": "Berg BV", "gender": "vrouw", "street": "Weteringschans", "house_number": "6-8",
        "zipcode": "1017 SG", "city": "Amsterdam", "country": "Nederland", "mobile": "+31612345678",
        "phone": "020-6264521", "mail_format": "T", "active": false, "language": "en", "source": "website",
        "import_code": "IMP1", "sync_id": "SY1", "attributes": {"favourite_genre": "jazz", "visits": 3},
        "tags": ["vip", "jazz"], "score": 12
    }))
    .unwrap();
    let email = EmailAddress::parse("zoe@example.nl").unwrap();
    let (c, _) = contacts::find_or_create(&t.app, org, &email, &input)
        .await
        .unwrap();
    let tags = t.app.store.contact_tags(org, c.id).await.unwrap();
    assert_eq!(tags, vec!["jazz", "vip"]);
    let f = c.fields(tags);
    assert_eq!(f, input.validate().unwrap().tap_tags());
    assert_eq!(
        t.app
            .store
            .contact_by_external_id(org, "CRM-1")
            .await
            .unwrap()
            .id,
        c.id
    );
    assert_eq!(
        t.app.store.contact_by_guid(org, &c.guid).await.unwrap().id,
        c.id
    );
    // Updating replaces fields and tags.
    let mut f2 = f.clone();
    f2.tags = vec!["rock".into()];
    f2.score = -3;
    t.app
        .store
        .update_contact(org, c.id, &f2, t.app.now())
        .await
        .unwrap();
    let again = t.app.store.contact_by_id(org, c.id).await.unwrap();
    assert_eq!(again.score, -3);
    assert_eq!(
        t.app.store.contact_tags(org, c.id).await.unwrap(),
        vec!["rock"]
    );
    // A second contact may not take the same external id.
    let other = EmailAddress::parse("other@example.nl").unwrap();
    let dup: ContactInput =
        serde_json::from_value(serde_json::json!({"external_id": "CRM-1"})).unwrap();
    let err = contacts::find_or_create(&t.app, org, &other, &dup)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            handbill::services::ServiceError::Conflict {
                field: "external_id",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        t.app.store.contact_by_email(org, &other).await.is_err(),
        "nothing half-written"
    );
}

trait TapTags {
    fn tap_tags(self) -> Self;
}
impl TapTags for handbill::domain::ContactFields {
    /// Tags come back sorted from the store.
    fn tap_tags(mut self) -> Self {
        self.tags.sort();
        self
    }
}

async fn lists_get_numbers_and_a_default(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    let a = t
        .app
        .store
        .create_list(org, &support::new_list("weekly", true, &[]), 0)
        .await
        .unwrap();
    let b = t
        .app
        .store
        .create_list(org, &support::new_list("jazz", false, &[]), 0)
        .await
        .unwrap();
    assert_eq!((a.number, a.is_default), (100_000, true));
    assert_eq!(
        (b.number, b.is_default, b.double_optin),
        (100_001, false, false)
    );
    let err = t
        .app
        .store
        .create_list(org, &support::new_list("weekly", true, &[]), 0)
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("key"), "{err:?}");
    let texts = [ListText {
        language: "en".into(),
        name: "Weekly".into(),
        description: "".into(),
        optin_text: "Yes".into(),
    }];
    let c = t
        .app
        .store
        .create_list(org, &support::new_list("with-texts", true, &texts), 0)
        .await
        .unwrap();
    assert_eq!(t.app.store.list_texts(org, c.id).await.unwrap(), texts);
    assert_eq!(t.app.store.lists(org).await.unwrap().len(), 3);
}

async fn consent_changes_are_ledgered_and_verify(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    let l = list(&t, org, "weekly").await;
    let email = EmailAddress::parse("fan@example.nl").unwrap();
    let (c, _) = contacts::find_or_create(&t.app, org, &email, &ContactInput::default())
        .await
        .unwrap();
    let s = consent::record(&t.app, org, c.id, l, ConsentAction::Subscribe, &ev())
        .await
        .unwrap();
    assert_eq!(s.status, "pending");
    t.clock.advance_ms(60_000);
    let s = consent::record(&t.app, org, c.id, l, ConsentAction::Confirm, &ev())
        .await
        .unwrap();
    assert_eq!(s.status, "subscribed");
    assert_eq!(s.confirmed_at, Some(support::T0 + 60_000));
    let s = consent::record(&t.app, org, c.id, l, ConsentAction::Unsubscribe, &ev())
        .await
        .unwrap();
    assert_eq!(s.status, "unsubscribed");
    assert_eq!(
        s.confirmed_at,
        Some(support::T0 + 60_000),
        "the confirmation stays on record"
    );
    assert!(s.unsubscribed_at.is_some());
    let entries = t.app.store.ledger_for_contact(org, c.id).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["subscribe", "confirm", "unsubscribe"]);
    let e = &entries[1];
    assert_eq!(
        (e.seq, e.source.as_str(), e.actor.as_str()),
        (2, "api", "token:1")
    );
    assert_eq!(e.ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(e.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(
        e.text_shown.as_deref(),
        Some("Ja, stuur mij de nieuwsbrief")
    );
    assert_eq!(e.prev_hash, entries[0].hash);
    assert_eq!(entries[0].prev_hash, handbill::domain::ledger::GENESIS_HASH);
    let report = consent::verify(&t.app, "venue").await.unwrap();
    assert_eq!(report.entries, 3);
    assert_eq!(report.first_broken, None);
    // Blacklist actions are no subscription actions.
    assert!(
        consent::record(&t.app, org, c.id, l, ConsentAction::BlacklistAdd, &ev())
            .await
            .is_err()
    );
    assert_eq!(
        consent::verify(&t.app, "venue").await.unwrap().entries,
        3,
        "a refused action writes nothing"
    );
}

async fn raw_exec(t: &TestApp, sql: &str) -> Result<u64, sqlx::Error> {
    let url = t.app.config.database_url();
    match t.backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .map(|r| r.rows_affected())
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .map(|r| r.rows_affected())
        }
    }
}

async fn three_entries(t: &TestApp, org: i64) {
    let l = list(t, org, "weekly").await;
    for addr in ["a@example.nl", "b@example.nl", "c@example.nl"] {
        let email = EmailAddress::parse(addr).unwrap();
        let (c, _) = contacts::find_or_create(&t.app, org, &email, &ContactInput::default())
            .await
            .unwrap();
        consent::record(&t.app, org, c.id, l, ConsentAction::Assert, &ev())
            .await
            .unwrap();
    }
}

async fn ledger_rows_cannot_be_updated_or_deleted(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    three_entries(&t, org).await;
    let err = raw_exec(
        &t,
        "UPDATE consent_events SET email = 'x@y.nl' WHERE seq = 2",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw_exec(&t, "DELETE FROM consent_events WHERE seq = 3")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(
        consent::verify(&t.app, "venue").await.unwrap().first_broken,
        None
    );
}

async fn tampering_is_detected_at_the_first_broken_entry(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    three_entries(&t, org).await;
    // Someone with database access drops the guard and rewrites history.
    let drop_guard = match backend {
        Backend::Sqlite => "DROP TRIGGER consent_events_no_update",
        Backend::Postgres => "DROP TRIGGER consent_events_no_update ON consent_events",
    };
    raw_exec(&t, drop_guard).await.unwrap();
    if backend == Backend::Sqlite {
        raw_exec(&t, "DROP TRIGGER consent_events_no_delete")
            .await
            .unwrap();
    }
    raw_exec(
        &t,
        "UPDATE consent_events SET ip = '203.0.113.66' WHERE seq = 2",
    )
    .await
    .unwrap();
    let r = consent::verify(&t.app, "venue").await.unwrap();
    assert_eq!(r.first_broken.as_ref().map(|b| b.0), Some(2), "{r:?}");
    assert_eq!(r.entries, 1);
    // Removing the last entry is caught by the head.
    raw_exec(
        &t,
        "UPDATE consent_events SET ip = '192.0.2.10' WHERE seq = 2",
    )
    .await
    .unwrap();
    assert_eq!(
        consent::verify(&t.app, "venue").await.unwrap().first_broken,
        None
    );
    raw_exec(&t, "DELETE FROM consent_events WHERE seq = 3")
        .await
        .unwrap();
    let r = consent::verify(&t.app, "venue").await.unwrap();
    assert_eq!(r.first_broken.as_ref().map(|b| b.0), Some(3), "{r:?}");
    // Removing one in the middle is a gap.
    raw_exec(&t, "DELETE FROM consent_events WHERE seq = 1")
        .await
        .unwrap();
    let r = consent::verify(&t.app, "venue").await.unwrap();
    assert_eq!(r.first_broken.as_ref().map(|b| b.0), Some(1), "{r:?}");
}

async fn blacklist_changes_are_ledgered(backend: Backend) {
    let Some((t, org)) = setup(backend).await else {
        return;
    };
    let email = EmailAddress::parse("nomore@example.nl").unwrap();
    assert!(consent::blacklist_add(&t.app, org, &email, &ev())
        .await
        .unwrap());
    assert!(
        !consent::blacklist_add(&t.app, org, &email, &ev())
            .await
            .unwrap(),
        "already there: no second entry"
    );
    assert_eq!(
        t.app.store.suppressions(org, email.as_str()).await.unwrap(),
        vec![SuppressionReason::Blacklist]
    );
    assert!(consent::blacklist_remove(&t.app, org, &email, &ev())
        .await
        .unwrap());
    assert!(!consent::blacklist_remove(&t.app, org, &email, &ev())
        .await
        .unwrap());
    assert!(t
        .app
        .store
        .suppressions(org, email.as_str())
        .await
        .unwrap()
        .is_empty());
    // A hard bounce is a suppression, not a consent change.
    t.app
        .store
        .add_suppression(
            org,
            email.as_str(),
            SuppressionReason::HardBounce,
            Some("550 user unknown"),
            None,
            &ev(),
            0,
        )
        .await
        .unwrap();
    let page = t.app.store.ledger_page(org, 0, 100).await.unwrap();
    let actions: Vec<&str> = page.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["blacklist_add", "blacklist_remove"]);
    assert!(page
        .iter()
        .all(|e| e.list_id.is_none() && e.email.as_deref() == Some("nomore@example.nl")));
    assert_eq!(consent::verify(&t.app, "venue").await.unwrap().entries, 2);
}

async fn jobs_are_leased_retried_and_recovered(backend: Backend) {
    let Some((t, _org)) = setup(backend).await else {
        return;
    };
    let s = &t.app.store;
    let now = support::T0;
    let a = s
        .enqueue_job(None, "test.kind", "{\"n\":1}", now, 3, now)
        .await
        .unwrap();
    let b = s
        .enqueue_job(None, "test.kind", "{\"n\":2}", now + 60_000, 3, now)
        .await
        .unwrap();
    let claimed = s.claim_jobs("w1", 10, 1_000, now).await.unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![a],
        "only due jobs"
    );
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        s.claim_jobs("w2", 10, 1_000, now).await.unwrap().is_empty(),
        "a leased job is not claimed twice"
    );
    // The worker died: after the lease another worker gets it.
    let again = s.claim_jobs("w2", 10, 1_000, now + 2_000).await.unwrap();
    assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(again[0].attempts, 2);
    s.fail_job(a, "boom", Some(now + 10_000), now + 2_000)
        .await
        .unwrap();
    let j = s.job(a).await.unwrap();
    assert_eq!(
        (j.status.as_str(), j.last_error.as_deref()),
        ("queued", Some("boom"))
    );
    s.fail_job(a, "fatal", None, now + 3_000).await.unwrap();
    assert_eq!(s.job(a).await.unwrap().status, "dead");
    let later = s.claim_jobs("w1", 10, 1_000, now + 60_000).await.unwrap();
    assert_eq!(later.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b]);
    s.complete_job(b, now + 61_000).await.unwrap();
    let counts = s.job_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.running, counts.done, counts.dead),
        (0, 0, 1, 1)
    );
}

async fn organisations_are_isolated(backend: Backend) {
    let Some((t, org_a)) = setup(backend).await else {
        return;
    };
    let org_b = t.org("other-venue").await.id;
    let email = EmailAddress::parse("fan@example.nl").unwrap();
    let (ca, _) = contacts::find_or_create(&t.app, org_a, &email, &ContactInput::default())
        .await
        .unwrap();
    let (cb, created) = contacts::find_or_create(&t.app, org_b, &email, &ContactInput::default())
        .await
        .unwrap();
    assert!(
        created,
        "the same address is a different contact in another organisation"
    );
    assert_ne!(ca.id, cb.id);
    assert!(t.app.store.contact_by_id(org_b, ca.id).await.is_err());
    let la = list(&t, org_a, "weekly").await;
    // A subscription cannot join a contact of one organisation to a list of another.
    assert!(t
        .app
        .store
        .change_subscription(
            org_b,
            cb.id,
            la,
            email.as_str(),
            ConsentAction::Assert,
            &ev(),
            0
        )
        .await
        .is_err());
    assert_eq!(
        consent::verify(&t.app, "other-venue")
            .await
            .unwrap()
            .entries,
        0
    );
    // Ledgers are chained per organisation.
    let lb = list(&t, org_b, "weekly").await;
    consent::record(&t.app, org_a, ca.id, la, ConsentAction::Assert, &ev())
        .await
        .unwrap();
    consent::record(&t.app, org_b, cb.id, lb, ConsentAction::Assert, &ev())
        .await
        .unwrap();
    assert_eq!(
        t.app.store.ledger_page(org_b, 0, 10).await.unwrap()[0].seq,
        1
    );
}
