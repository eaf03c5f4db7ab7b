//! What comes back after sending: bounces and complaints, from returned mail (DSN/ARF to the
//! VERP address) or from a relay's webhook. A hard bounce or a complaint suppresses the
//! address at once (a complaint also unsubscribes it from everything, in the consent ledger);
//! soft bounces suppress it after `soft_bounce_limit` of them.

use super::consent::unsubscribe_contact;
use super::links::{parse_address, AddressUse};
use super::{found, ServiceResult};
use crate::app::App;
use crate::domain::ledger::Evidence;
use crate::domain::{EventKind, SuppressionReason};
use crate::mail::reports::{classify, ReportKind};
use crate::store::NewEvent;

/// Applies one bounce or complaint about delivery `delivery_id`; false when there is no such
/// delivery (a forged or very old reference).
pub async fn apply(
    app: &App,
    org_id: i64,
    delivery_id: i64,
    kind: ReportKind,
    source: &str,
    detail: &str,
) -> ServiceResult<bool> {
    let Some(d) = found(app.store.delivery(org_id, delivery_id).await)? else {
        return Ok(false);
    };
    let now = app.now();
    let detail: String = detail.chars().take(1000).collect();
    let event = match kind {
        ReportKind::Hard => EventKind::BounceHard,
        ReportKind::Soft => EventKind::BounceSoft,
        ReportKind::Complaint => EventKind::Complaint,
    };
    let ev = NewEvent {
        detail: Some(detail.clone()),
        ..NewEvent::for_delivery(&d, event, source)
    };
    app.store.insert_event(org_id, &ev, now).await?;
    if kind != ReportKind::Complaint {
        app.store.mark_bounced(org_id, d.id, &detail, now).await?;
    }
    let Some(contact_id) = d.contact_id else {
        return Ok(true);
    };
    let Some(contact) = found(app.store.contact_by_id(org_id, contact_id).await)? else {
        return Ok(true);
    };
    let suppress = match kind {
        ReportKind::Hard => Some((SuppressionReason::HardBounce, detail.clone())),
        ReportKind::Complaint => Some((SuppressionReason::Complaint, detail.clone())),
        ReportKind::Soft => {
            let n = app.store.soft_bounces(org_id, contact_id).await?;
            (n >= i64::from(app.config.soft_bounce_limit)).then(|| {
                (
                    SuppressionReason::HardBounce,
                    format!("{n} soft bounces; last: {detail}"),
                )
            })
        }
    };
    let evidence = Evidence {
        source: source.into(),
        ..Evidence::default()
    };
    if let Some((reason, note)) = suppress {
        app.store
            .add_suppression(
                org_id,
                &contact.email,
                reason,
                Some(&note),
                Some(contact_id),
                &evidence,
                now,
            )
            .await?;
    }
    if kind == ReportKind::Complaint {
        // Marking mail as spam withdraws consent: every subscription ends, in the ledger.
        unsubscribe_contact(app, &contact, None, &evidence).await?;
    }
    tracing::info!(delivery = d.id, kind = ?kind, "bounce or complaint recorded");
    Ok(true)
}

/// The (organisation, delivery) of the first valid VERP address in `text`.
pub fn find_verp(key: &[u8], text: &str) -> Option<(i64, i64)> {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("bounces+").find_map(|(i, _)| {
        let local: String = lower[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '-')
            .collect();
        super::links::parse_verp(key, &local)
    })
}

/// Unsubscribes the recipient of a message whose List-Unsubscribe mailto address got mail
/// (from the mailing's lists; from everything for a transactional message).
async fn unsubscribe_by_mail(app: &App, org_id: i64, delivery_id: i64) -> ServiceResult<bool> {
    let Some(d) = found(app.store.delivery(org_id, delivery_id).await)? else {
        return Ok(false);
    };
    let contact = match d.contact_id {
        Some(c) => found(app.store.contact_by_id(org_id, c).await)?,
        None => None,
    };
    let Some(contact) = contact else {
        return Ok(false);
    };
    let lists = match d.mailing_id {
        Some(m) => app.store.mailing_list_ids(org_id, m).await?,
        None => Vec::new(),
    };
    let evidence = Evidence {
        source: "mailto".into(),
        ..Evidence::default()
    };
    let only = (!lists.is_empty()).then_some(&lists[..]);
    if unsubscribe_contact(app, &contact, only, &evidence).await? > 0 {
        let ev = NewEvent::for_delivery(&d, EventKind::Unsubscribe, "mailto");
        app.store.insert_event(org_id, &ev, app.now()).await?;
    }
    Ok(true)
}

/// Handles a message received by the bounce listener for `recipients` (already checked to be
/// VERP, unsubscribe or feedback addresses). Returns how many were applied.
pub async fn receive(app: &App, recipients: &[String], raw: &[u8]) -> ServiceResult<usize> {
    let key = super::links::signing_key(app).await?;
    let mut applied = 0;
    for r in recipients {
        let local = r.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
        if let Some((org, delivery)) = parse_address(&key, AddressUse::Unsubscribe, local) {
            if unsubscribe_by_mail(app, org, delivery).await? {
                applied += 1;
            }
        }
    }
    let Some(report) = classify(raw) else {
        tracing::debug!("mail to the bounce address that is no report: ignored");
        return Ok(applied);
    };
    let mut targets: Vec<(i64, i64)> = recipients
        .iter()
        .filter_map(|r| find_verp(&key, r))
        .collect();
    // A feedback loop names the message only inside the returned original.
    if targets.is_empty()
        && recipients
            .iter()
            .any(|r| r.to_ascii_lowercase().starts_with("fbl@"))
    {
        targets.extend(find_verp(&key, &report.original));
    }
    for (org, delivery) in targets {
        if apply(app, org, delivery, report.kind, "dsn", &report.detail).await? {
            applied += 1;
        }
    }
    Ok(applied)
}

/// Runs the bounce listener on `listener` until `shutdown`: it accepts mail for the valid VERP
/// and unsubscribe addresses and `fbl@` (feedback loops) of the bounce domain.
pub async fn listen(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> ServiceResult<()> {
    let key = super::links::signing_key(&app).await?;
    let domain = app.config.bounce_domain().to_ascii_lowercase();
    let accept = move |addr: &str| {
        let lower = addr.to_ascii_lowercase();
        match lower.rsplit_once('@') {
            Some((local, d)) if d == domain => {
                local == "fbl"
                    || parse_address(&key, AddressUse::Bounces, local).is_some()
                    || parse_address(&key, AddressUse::Unsubscribe, local).is_some()
            }
            _ => false,
        }
    };
    let host = app.config.mail_hostname();
    let deliver = move |rcpts: Vec<String>, raw: Vec<u8>| {
        let app = app.clone();
        async move {
            receive(&app, &rcpts, &raw)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    };
    crate::mail::inbound::serve(listener, host, accept, deliver, shutdown).await;
    Ok(())
}
