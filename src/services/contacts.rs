//! Contacts: found by their normalised address, created when new.

use rand::Rng;

use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::domain::EmailAddress;
use crate::store::{ContactRow, StoreError};

/// Length of a contact's public id (the MailingLijst `guid` holds 20 characters).
pub const GUID_LEN: usize = 20;

/// A new public id of 20 base-36 digits: the time in milliseconds (9 digits) and 11 random
/// ones (56 bits). Ids made later sort later, so a bulk import adds them at the end of the
/// guid index instead of all over it (which cost SQLite two thirds of an import's time).
pub fn new_guid() -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut out = [b'0'; GUID_LEN];
    for d in out[..9].iter_mut().rev() {
        *d = DIGITS[(ms % 36) as usize];
        ms /= 36;
    }
    let mut rng = rand::rng();
    for d in out[9..].iter_mut() {
        *d = DIGITS[rng.random_range(0..36)];
    }
    out.iter().map(|&b| b as char).collect()
}

/// Returns the contact with this address, creating it from `input` when there is none.
/// The boolean says whether it was created.
pub async fn find_or_create(
    app: &App,
    org_id: i64,
    email: &EmailAddress,
    input: &ContactInput,
) -> ServiceResult<(ContactRow, bool)> {
    let fields = input.validate()?;
    if let Ok(c) = app.store.contact_by_email(org_id, email).await {
        return Ok((c, false));
    }
    match app
        .store
        .insert_contact(org_id, &new_guid(), email, &fields, app.now())
        .await
    {
        Ok(id) => Ok((app.store.contact_by_id(org_id, id).await?, true)),
        // Created concurrently by another request: use that one.
        Err(e) if e.is_conflict_on("email") => {
            Ok((app.store.contact_by_email(org_id, email).await?, false))
        }
        Err(e) if e.is_conflict_on("external_id") => Err(ServiceError::Conflict {
            field: "external_id",
            message: "another contact already has this external id".into(),
        }),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound("contact")),
        Err(e) => Err(e.into()),
    }
}

/// A contact as the API shows it, with each subscription.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub guid: String,
    pub email: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: crate::domain::ContactFields,
    pub gender_code: i64,
    pub created_at: String,
    pub updated_at: String,
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub list: String,
    pub status: String,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub unsubscribed_at: Option<String>,
}

pub async fn view(app: &App, c: &ContactRow) -> ServiceResult<ContactView> {
    use crate::clock::rfc3339;
    let tags = app.store.contact_tags(c.org_id, c.id).await?;
    let lists = app.store.lists(c.org_id).await?;
    let subscriptions = app
        .store
        .contact_subscriptions(c.org_id, c.id)
        .await?
        .into_iter()
        .map(|s| SubscriptionView {
            list: lists
                .iter()
                .find(|l| l.id == s.list_id)
                .map(|l| l.key.clone())
                .unwrap_or_default(),
            status: s.status,
            created_at: rfc3339(s.created_at),
            confirmed_at: s.confirmed_at.map(rfc3339),
            unsubscribed_at: s.unsubscribed_at.map(rfc3339),
        })
        .collect();
    Ok(ContactView {
        id: c.id,
        guid: c.guid.clone(),
        email: c.email.clone(),
        fields: c.fields(tags),
        gender_code: c.gender,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
        subscriptions,
    })
}

fn conflict(e: StoreError) -> ServiceError {
    if e.is_conflict_on("email") {
        ServiceError::Conflict {
            field: "email",
            message: "another contact already has this address".into(),
        }
    } else if e.is_conflict_on("external_id") {
        ServiceError::Conflict {
            field: "external_id",
            message: "another contact already has this external id".into(),
        }
    } else {
        e.into()
    }
}

/// Creates a contact; an existing address is a conflict (the caller holds contacts:write).
pub async fn create(
    app: &App,
    org_id: i64,
    email: &str,
    input: &ContactInput,
) -> ServiceResult<ContactView> {
    let email = EmailAddress::parse(email);
    let fields = input.validate();
    let (email, fields) = match (email, fields) {
        (Ok(e), Ok(f)) => (e, f),
        (Err(a), Err(b)) => return Err(crate::domain::ValidationError([a.0, b.0].concat()).into()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let id = app
        .store
        .insert_contact(org_id, &new_guid(), &email, &fields, app.now())
        .await
        .map_err(conflict)?;
    view(app, &app.store.contact_by_id(org_id, id).await?).await
}

pub async fn get(app: &App, org_id: i64, id: i64) -> ServiceResult<ContactRow> {
    use super::OrNotFound;
    app.store
        .contact_by_id(org_id, id)
        .await
        .or_not_found("contact")
}

/// Changes the fields named in `patch` (a JSON object; `null` clears a field) and, with
/// `email`, the address. Everything is validated before anything is written.
pub async fn update(
    app: &App,
    org_id: i64,
    id: i64,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> ServiceResult<ContactView> {
    let current = get(app, org_id, id).await?;
    let tags = app.store.contact_tags(org_id, id).await?;
    let f = current.fields(tags);
    let mut merged = serde_json::json!({
        "external_id": f.external_id, "first_name": f.first_name, "name_prefix": f.name_prefix,
        "last_name": f.last_name, "organisation": f.organisation, "gender": f.gender.code().to_string(),
        "street": f.street, "house_number": f.house_number, "zipcode": f.zipcode, "city": f.city,
        "country": f.country, "mobile": f.mobile, "phone": f.phone, "mail_format": f.mail_format.as_str(),
        "active": f.active, "language": f.language.map(|l| l.code()), "source": f.source,
        "import_code": f.import_code, "sync_id": f.sync_id, "attributes": f.attributes, "tags": f.tags, "score": f.score,
    });
    let mut new_email = None;
    for (k, v) in patch {
        if k == "email" {
            let e = v.as_str().ok_or_else(|| {
                crate::domain::ValidationError::single("email", "invalid_email", "must be a string")
            })?;
            new_email = Some(EmailAddress::parse(e)?);
        } else {
            merged[k] = v.clone();
        }
    }
    let input: ContactInput = serde_json::from_value(merged).map_err(|e| {
        crate::domain::ValidationError::single("body", "invalid_field", e.to_string())
    })?;
    let fields = input.validate()?;
    if let Some(e) = &new_email {
        if e.as_str() != current.email {
            app.store
                .update_contact_email(org_id, id, e, app.now())
                .await
                .map_err(conflict)?;
        }
    }
    app.store
        .update_contact(org_id, id, &fields, app.now())
        .await
        .map_err(conflict)?;
    view(app, &get(app, org_id, id).await?).await
}

/// GDPR erasure: removes the contact's personal data; the ledger keeps an anonymised trail.
pub async fn erase(app: &App, org_id: i64, id: i64) -> ServiceResult<()> {
    use super::OrNotFound;
    app.store
        .erase_contact(org_id, id)
        .await
        .or_not_found("contact")
}

/// Contacts whose address or name contains `q`, in id order after `after` (keyset paging: the
/// next page starts after the last id of this one). `limit` is 1 to 500.
pub async fn search(
    app: &App,
    org_id: i64,
    q: Option<&str>,
    after: i64,
    limit: i64,
) -> ServiceResult<Vec<ContactRow>> {
    if !(1..=500).contains(&limit) {
        return Err(crate::domain::ValidationError::single(
            "limit",
            "out_of_range",
            "limit is 1 to 500",
        )
        .into());
    }
    let q = q.map(str::trim).filter(|s| !s.is_empty());
    if q.is_some_and(|q| q.chars().count() > 254) {
        return Err(crate::domain::ValidationError::single(
            "q",
            "invalid_length",
            "a search has at most 254 characters",
        )
        .into());
    }
    Ok(app.store.search_contacts(org_id, q, after, limit).await?)
}

/// What happened to one contact: the consent ledger entries about it (oldest first), its last
/// deliveries and its last mail events (newest first).
pub struct History {
    pub ledger: Vec<crate::store::LedgerRow>,
    pub deliveries: Vec<crate::store::DeliveryRow>,
    pub events: Vec<crate::store::EventRow>,
}

/// How many deliveries and events a contact's history shows.
const HISTORY_LIMIT: i64 = 50;

pub async fn history(app: &App, org_id: i64, id: i64) -> ServiceResult<History> {
    Ok(History {
        ledger: app.store.ledger_for_contact(org_id, id).await?,
        deliveries: app
            .store
            .contact_deliveries(org_id, id, HISTORY_LIMIT)
            .await?,
        events: app.store.contact_events(org_id, id, HISTORY_LIMIT).await?,
    })
}

/// GDPR access: everything stored about one contact.
pub async fn export(app: &App, org_id: i64, id: i64) -> ServiceResult<serde_json::Value> {
    let c = get(app, org_id, id).await?;
    let contact = view(app, &c).await?;
    let ledger = app.store.ledger_for_contact(org_id, id).await?;
    let suppressions = app.store.suppressions(org_id, &c.email).await?;
    Ok(serde_json::json!({
        "contact": contact,
        "suppressions": suppressions,
        "consent_ledger": ledger,
        "exported_at": crate::clock::rfc3339(app.now()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_base36_and_sort_by_time() {
        let a = new_guid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_guid();
        assert_eq!(a.len(), GUID_LEN);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert!(a < b, "{a} {b}");
        assert_ne!(new_guid(), new_guid());
    }
}
