//! The data model (the Deployteq "data model API"): typed collections per organisation
//! (orders, bookings, tickets, …) whose records belong to a contact, addressed by its id,
//! e-mail address or external id directly. Records are usable in segments
//! (`records.orders.event_date` `in_next_days` 7), and so in mailings, exports and
//! automation branches. Bulk upserts take 10,000 records per call, all or nothing.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tokens::Principal;
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::collection::{check_fields, check_record, CheckedRecord, FieldDef};
use crate::domain::segment::data_name_ok;
use crate::domain::{EmailAddress, FieldError, Scope, ValidationError};
use crate::store::{CollectionRow, ContactKey, RecordFilter, RecordRow, RecordWrite};

/// Records per bulk call.
pub const MAX_BULK: usize = 10_000;
const MAX_PAGE: i64 = 1_000;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionInput {
    pub name: String,
    /// The field whose value identifies a record (a string or number field).
    pub primary_key: String,
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionView {
    pub key: String,
    pub name: String,
    pub primary_key: String,
    pub fields: Vec<FieldDef>,
    pub records: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// The contact a record belongs to: exactly one of id, email, external_id.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    pub contact: ContactRef,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    pub records: Vec<RecordInput>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub inserted: i64,
    pub updated: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub key: String,
    pub contact_id: i64,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: String,
    pub updated_at: String,
}

fn record_view(r: RecordRow) -> RecordView {
    RecordView {
        key: r.key,
        contact_id: r.contact_id,
        data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// A contact's records for templates: collection key → its records' data, in key order.
pub async fn records_of(
    app: &App,
    org_id: i64,
    contact_id: i64,
) -> ServiceResult<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for (key, data) in app.store.contact_records(org_id, contact_id).await? {
        let list = out.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(serde_json::from_str(&data).unwrap_or(Value::Null));
        }
    }
    Ok(out)
}

/// The checked fields of a stored collection.
pub fn fields_of(c: &CollectionRow) -> Vec<FieldDef> {
    serde_json::from_str(&c.fields).unwrap_or_default()
}

async fn view(app: &App, c: &CollectionRow) -> ServiceResult<CollectionView> {
    Ok(CollectionView {
        key: c.key.clone(),
        name: c.name.clone(),
        primary_key: c.primary_key.clone(),
        fields: fields_of(c),
        records: app.store.count_records(c.org_id, c.id).await?,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    })
}

pub async fn collection(app: &App, org_id: i64, key: &str) -> ServiceResult<CollectionRow> {
    app.store
        .collection_by_key(org_id, key)
        .await
        .or_not_found("collection")
}

/// Creates or replaces a collection. Once it has records, fields may be added (and made
/// optional) but not removed or changed in type, and the primary key stays.
pub async fn save(
    app: &App,
    p: &Principal,
    key: &str,
    input: &CollectionInput,
) -> ServiceResult<(CollectionView, bool)> {
    p.require(Scope::Admin)?;
    let mut errors = Vec::new();
    if !data_name_ok(key) {
        errors.push(FieldError::new(
            "key",
            "invalid_key",
            "1 to 64 of a-z, 0-9 and _, starting with a letter",
        ));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "1 to 200 characters",
        ));
    }
    let fields = match check_fields(&input.fields, &input.primary_key) {
        Ok(f) => f,
        Err(e) => {
            errors.extend(e.0);
            Vec::new()
        }
    };
    let old = if errors.is_empty() {
        found(app.store.collection_by_key(p.org_id, key).await)?
    } else {
        None
    };
    if let Some(old) = &old {
        if app.store.count_records(p.org_id, old.id).await? > 0 {
            if old.primary_key != input.primary_key {
                errors.push(FieldError::new(
                    "primary_key",
                    "immutable",
                    "the collection has records: its primary key stays",
                ));
            }
            for f in fields_of(old) {
                match fields.iter().find(|n| n.name == f.name) {
                    Some(n) if n.kind == f.kind => {}
                    _ => errors.push(FieldError::new(
                        "fields",
                        "immutable",
                        format!(
                            "the collection has records: field '{}' stays, with its type",
                            f.name
                        ),
                    )),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors).into());
    }
    let now = app.now();
    let row = CollectionRow {
        org_id: p.org_id,
        id: 0,
        key: key.to_string(),
        name: name.to_string(),
        fields: serde_json::to_string(&fields)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        primary_key: input.primary_key.clone(),
        created_at: now,
        updated_at: now,
    };
    app.store.save_collection(&row).await?;
    Ok((
        view(app, &collection(app, p.org_id, key).await?).await?,
        old.is_none(),
    ))
}

pub async fn list(app: &App, p: &Principal) -> ServiceResult<Vec<CollectionView>> {
    p.require(Scope::ContactsRead)?;
    let mut out = Vec::new();
    for c in app.store.collections(p.org_id).await? {
        out.push(view(app, &c).await?);
    }
    Ok(out)
}

pub async fn get(app: &App, p: &Principal, key: &str) -> ServiceResult<CollectionView> {
    p.require(Scope::ContactsRead)?;
    view(app, &collection(app, p.org_id, key).await?).await
}

pub async fn delete(app: &App, p: &Principal, key: &str) -> ServiceResult<()> {
    p.require(Scope::Admin)?;
    let c = collection(app, p.org_id, key).await?;
    app.store.delete_collection(p.org_id, c.id).await?;
    Ok(())
}

/// Checks records against a collection and finds their contacts; errors name
/// `records[i].…` (or `…` alone for one record, `prefix` "").
async fn checked(
    app: &App,
    c: &CollectionRow,
    inputs: &[RecordInput],
    prefix: impl Fn(usize) -> String,
) -> ServiceResult<Vec<RecordWrite>> {
    let fields = fields_of(c);
    let mut errors = Vec::new();
    let mut good: Vec<(usize, CheckedRecord)> = Vec::new();
    let mut by: HashMap<ContactKey, Vec<String>> = HashMap::new();
    let mut refs: Vec<Option<(ContactKey, String)>> = Vec::new();
    for (i, r) in inputs.iter().enumerate() {
        let at = prefix(i);
        let contact = match (&r.contact.id, &r.contact.email, &r.contact.external_id) {
            (Some(id), None, None) => Some((ContactKey::Id, id.to_string())),
            (None, Some(e), None) => match EmailAddress::parse(e) {
                Ok(e) => Some((ContactKey::Email, e.as_str().to_string())),
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("{at}contact.email"),
                        "invalid_email",
                        "not an e-mail address",
                    ));
                    None
                }
            },
            (None, None, Some(x)) if !x.trim().is_empty() && x.chars().count() <= 100 => {
                Some((ContactKey::ExternalId, x.trim().to_string()))
            }
            _ => {
                errors.push(FieldError::new(
                    format!("{at}contact"),
                    "invalid_contact",
                    "exactly one of id, email or external_id (at most 100 characters)",
                ));
                None
            }
        };
        if let Some((k, v)) = &contact {
            by.entry(*k).or_default().push(v.clone());
        }
        refs.push(contact);
        match check_record(&fields, &c.primary_key, &r.data, &format!("{at}data")) {
            Ok(rec) => good.push((i, rec)),
            Err(e) => errors.extend(e),
        }
    }
    // A key twice in one call: the caller means one of them; say which.
    let mut seen = HashSet::new();
    for (i, rec) in &good {
        if !seen.insert(rec.key.clone()) {
            errors.push(FieldError::new(
                format!("{}data.{}", prefix(*i), c.primary_key),
                "duplicate",
                "another record of this call has the same key",
            ));
        }
    }
    let products: Vec<String> = good.iter().flat_map(|(_, r)| r.products.clone()).collect();
    if !products.is_empty() {
        let known: HashSet<String> = app
            .store
            .products_by_external_ids(c.org_id, &products)
            .await?
            .into_iter()
            .map(|p| p.external_id)
            .collect();
        for (i, rec) in &good {
            for pr in rec.products.iter().filter(|pr| !known.contains(*pr)) {
                errors.push(FieldError::new(
                    format!("{}data", prefix(*i)),
                    "unknown_product",
                    format!("there is no product '{pr}' (see /api/v1/products)"),
                ));
            }
        }
    }
    let mut ids: HashMap<(ContactKey, String), i64> = HashMap::new();
    for (k, values) in by {
        for (v, id) in app.store.contact_ids_by(c.org_id, k, &values).await? {
            ids.insert((k, v), id);
        }
    }
    let mut out = Vec::with_capacity(good.len());
    for (i, rec) in good {
        let Some(r) = &refs[i] else { continue };
        match ids.get(r) {
            Some(id) => out.push(RecordWrite {
                key: rec.key,
                contact_id: *id,
                data: Value::Object(rec.data).to_string(),
            }),
            None => errors.push(FieldError::new(
                format!("{}contact", prefix(i)),
                "unknown_contact",
                "no contact has this id, e-mail address or external id",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors).into())
    }
}

/// Inserts or replaces up to 10,000 records (by primary key); nothing is written when any
/// is refused.
pub async fn upsert(
    app: &App,
    p: &Principal,
    key: &str,
    input: &BulkInput,
) -> ServiceResult<BulkResult> {
    p.require(Scope::ContactsWrite)?;
    let c = collection(app, p.org_id, key).await?;
    if input.records.is_empty() || input.records.len() > MAX_BULK {
        return Err(ValidationError::single(
            "records",
            "out_of_range",
            format!("1 to {MAX_BULK} records"),
        )
        .into());
    }
    let rows = checked(app, &c, &input.records, |i| format!("records[{i}].")).await?;
    let (inserted, updated) = app
        .store
        .upsert_records(p.org_id, c.id, &rows, app.now())
        .await?;
    Ok(BulkResult { inserted, updated })
}

/// Inserts one record (409 when its key is taken) or, with `replace`, inserts or replaces it.
pub async fn put_one(
    app: &App,
    p: &Principal,
    key: &str,
    input: &RecordInput,
    replace: bool,
) -> ServiceResult<RecordView> {
    p.require(Scope::ContactsWrite)?;
    let c = collection(app, p.org_id, key).await?;
    let rows = checked(app, &c, std::slice::from_ref(input), |_| String::new()).await?;
    let row = &rows[0];
    if replace {
        app.store
            .upsert_records(p.org_id, c.id, &rows, app.now())
            .await?;
    } else {
        match app
            .store
            .insert_record(p.org_id, c.id, row, app.now())
            .await
        {
            Err(crate::store::StoreError::Conflict(_)) => {
                return Err(ServiceError::Conflict {
                    field: "data",
                    message: format!("a record with {} '{}' exists", c.primary_key, row.key),
                })
            }
            other => other?,
        }
    }
    Ok(record_view(
        app.store.record(p.org_id, c.id, &row.key).await?,
    ))
}

pub async fn get_record(
    app: &App,
    p: &Principal,
    key: &str,
    record: &str,
) -> ServiceResult<RecordView> {
    p.require(Scope::ContactsRead)?;
    let c = collection(app, p.org_id, key).await?;
    Ok(record_view(
        app.store
            .record(p.org_id, c.id, record)
            .await
            .or_not_found("record")?,
    ))
}

pub async fn delete_record(app: &App, p: &Principal, key: &str, record: &str) -> ServiceResult<()> {
    p.require(Scope::ContactsWrite)?;
    let c = collection(app, p.org_id, key).await?;
    if !app.store.delete_record(p.org_id, c.id, record).await? {
        return Err(ServiceError::NotFound("record"));
    }
    Ok(())
}

/// How `GET …/records` narrows the list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct RecordQuery {
    /// The contact's id.
    pub contact_id: Option<i64>,
    /// The contact's e-mail address.
    pub email: Option<String>,
    /// The contact's external id.
    pub external_id: Option<String>,
    /// `FIELD:VALUE`: records whose field has this value.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// The last key of the previous page.
    pub after: Option<String>,
    /// 1 to 1,000 (default 100).
    pub limit: Option<i64>,
}

pub async fn list_records(
    app: &App,
    p: &Principal,
    key: &str,
    q: &RecordQuery,
) -> ServiceResult<Vec<RecordView>> {
    p.require(Scope::ContactsRead)?;
    let c = collection(app, p.org_id, key).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(
            ValidationError::single("limit", "out_of_range", format!("1 to {MAX_PAGE}")).into(),
        );
    }
    let equals = match q.filter.as_deref() {
        None => None,
        Some(w) => match w.split_once(':') {
            Some((f, v)) if fields_of(&c).iter().any(|d| d.name == f) => {
                Some((f.to_string(), v.to_string()))
            }
            _ => {
                return Err(ValidationError::single(
                    "where",
                    "invalid_filter",
                    "FIELD:VALUE with a field of the collection",
                )
                .into())
            }
        },
    };
    let contact = match (q.contact_id, &q.email, &q.external_id) {
        (None, None, None) => None,
        (Some(id), None, None) => Some((ContactKey::Id, id.to_string())),
        (None, Some(e), None) => Some((ContactKey::Email, e.trim().to_lowercase())),
        (None, None, Some(x)) => Some((ContactKey::ExternalId, x.clone())),
        _ => {
            return Err(ValidationError::single(
                "contact",
                "invalid_contact",
                "at most one of contact_id, email and external_id",
            )
            .into())
        }
    };
    let contact_id = match contact {
        None => None,
        Some((k, v)) => match app
            .store
            .contact_ids_by(p.org_id, k, std::slice::from_ref(&v))
            .await?
            .get(&v)
        {
            Some(id) => Some(*id),
            // An unknown contact has no records (and nothing says whether it exists).
            None => return Ok(Vec::new()),
        },
    };
    let rows = app
        .store
        .records(
            p.org_id,
            c.id,
            &RecordFilter {
                contact_id,
                equals,
                after: q.after.clone(),
                limit,
            },
        )
        .await?;
    Ok(rows.into_iter().map(record_view).collect())
}
