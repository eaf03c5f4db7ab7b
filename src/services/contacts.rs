//! Contacts: found by their normalised address, created when new.

use rand::distr::{Alphanumeric, SampleString};

use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::domain::EmailAddress;
use crate::store::{ContactRow, StoreError};

/// Length of a contact's public id (the MailingLijst `guid` holds 20 characters).
pub const GUID_LEN: usize = 20;

pub fn new_guid() -> String {
    Alphanumeric
        .sample_string(&mut rand::rng(), GUID_LEN)
        .to_uppercase()
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
