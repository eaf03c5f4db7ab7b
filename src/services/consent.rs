//! Consent changes and the ledger that proves them.

use super::{found, orgs, OrNotFound, ServiceResult};
use crate::app::App;
use crate::domain::ledger::Evidence;
use crate::domain::{ConsentAction, EmailAddress, SuppressionReason, ValidationError};
use crate::store::{ContactRow, SubscriptionRow, VerifyReport};

/// Records a consent action of one contact on one list, with its evidence, atomically.
pub async fn record(
    app: &App,
    org_id: i64,
    contact_id: i64,
    list_id: i64,
    action: ConsentAction,
    evidence: &Evidence,
) -> ServiceResult<SubscriptionRow> {
    if action.resulting_status().is_none() {
        return Err(ValidationError::single(
            "action",
            "invalid_action",
            "not a subscription action",
        )
        .into());
    }
    let contact = app
        .store
        .contact_by_id(org_id, contact_id)
        .await
        .or_not_found("contact")?;
    Ok(app
        .store
        .change_subscription(
            org_id,
            contact.id,
            list_id,
            &contact.email,
            action,
            evidence,
            app.now(),
        )
        .await?)
}

/// Unsubscribes a contact from every list it is subscribed to or pending on (only from
/// `only` when given), each change in the ledger. Returns how many subscriptions ended.
pub async fn unsubscribe_contact(
    app: &App,
    contact: &ContactRow,
    only: Option<&[i64]>,
    evidence: &Evidence,
) -> ServiceResult<usize> {
    let mut changed = 0;
    for s in app
        .store
        .contact_subscriptions(contact.org_id, contact.id)
        .await?
    {
        let on_list = only.is_none_or(|l| l.contains(&s.list_id));
        if on_list && (s.status == "subscribed" || s.status == "pending") {
            app.store
                .change_subscription(
                    contact.org_id,
                    contact.id,
                    s.list_id,
                    &contact.email,
                    ConsentAction::Unsubscribe,
                    evidence,
                    app.now(),
                )
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Puts an address on the organisation's blacklist (a consent change, recorded in the ledger).
/// Returns false when it was already there.
pub async fn blacklist_add(
    app: &App,
    org_id: i64,
    email: &EmailAddress,
    evidence: &Evidence,
) -> ServiceResult<bool> {
    let contact_id = found(app.store.contact_by_email(org_id, email).await)?.map(|c| c.id);
    Ok(app
        .store
        .add_suppression(
            org_id,
            email.as_str(),
            SuppressionReason::Blacklist,
            None,
            contact_id,
            evidence,
            app.now(),
        )
        .await?)
}

/// Takes an address off the blacklist. Returns false when it was not on it.
pub async fn blacklist_remove(
    app: &App,
    org_id: i64,
    email: &EmailAddress,
    evidence: &Evidence,
) -> ServiceResult<bool> {
    let contact_id = found(app.store.contact_by_email(org_id, email).await)?.map(|c| c.id);
    Ok(app
        .store
        .remove_suppression(
            org_id,
            email.as_str(),
            SuppressionReason::Blacklist,
            contact_id,
            evidence,
            app.now(),
        )
        .await?)
}

/// Recomputes the organisation's ledger chain.
pub async fn verify(app: &App, org_slug: &str) -> ServiceResult<VerifyReport> {
    let org = orgs::org_by_slug(app, org_slug).await?;
    Ok(app.store.verify_ledger(org.id).await?)
}
