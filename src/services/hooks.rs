//! Webhook receivers (the Deployteq webhook route): an admin defines `POST /hooks/{id}` with
//! its own token (or attaches an organisation token with scope webhooks:receive, which keeps
//! working when rotated) and a mapping from the JSON payload to a contact, data-model records
//! and an automation to start. One call can upsert the contact, add its order and start the
//! order-confirmation automation; a payload with a bad value is refused with the pointer that
//! holds it, and nothing is written (it all happens in one transaction).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tokens::Principal;
use super::{found, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation::AutomationField;
use crate::domain::collection::check_record;
use crate::domain::hook::{record_data, scalar, HookMapping};
use crate::domain::import::{read_row, MatchOn, Mode};
use crate::domain::token::{hash_token, TokenSecret};
use crate::domain::{FieldError, Scope, ValidationError};
use crate::store::{Chunk, ChunkRecord, ChunkStart, HookRow};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookInput {
    pub name: String,
    pub mapping: HookMapping,
    /// An organisation token (its id) with scope webhooks:receive that may call the hook
    /// besides the hook's own token.
    #[serde(default)]
    pub token_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HookView {
    pub id: String,
    pub name: String,
    /// Where the system sends its JSON: `POST` with `Authorization: Bearer TOKEN`.
    pub url: String,
    pub mapping: HookMapping,
    pub token_id: Option<i64>,
    /// The hook's own token: shown once, when made or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Received {
    pub contact_id: i64,
    /// Whether the call made the contact.
    pub created: bool,
    pub records: i64,
    /// Participations started (0 when the automation's re-entry rule kept the contact out).
    pub started: i64,
}

fn view(app: &App, h: &HookRow, token: Option<String>) -> HookView {
    HookView {
        id: h.public_id.clone(),
        name: h.name.clone(),
        url: format!("{}/hooks/{}", app.config.public_url(), h.public_id),
        mapping: serde_json::from_str(&h.mapping).unwrap_or_default(),
        token_id: h.token_id,
        token,
        created_at: rfc3339(h.created_at),
        updated_at: rfc3339(h.updated_at),
    }
}

/// Whether an organisation token may be attached to a receiver: its scopes grant
/// webhooks:receive.
pub fn may_call_hooks(t: &crate::store::TokenRow) -> bool {
    Scope::parse_list(&[t.scopes.as_str()]).is_ok_and(|s| Scope::WebhooksReceive.granted_by(&s))
}

/// Checks a definition against the organisation (collections, automation, token).
async fn check(app: &App, org_id: i64, input: &HookInput) -> ServiceResult<()> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "1 to 200 characters",
        ));
    }
    if let Err(e) = input.mapping.check() {
        errors.extend(e.0);
    }
    for (i, r) in input.mapping.records.iter().enumerate() {
        match found(app.store.collection_by_key(org_id, &r.collection).await)? {
            None => errors.push(FieldError::new(
                format!("mapping.records[{i}].collection"),
                "unknown_collection",
                format!("there is no collection '{}'", r.collection),
            )),
            Some(c) => {
                let fields = super::collections::fields_of(&c);
                for f in r
                    .fields
                    .keys()
                    .filter(|f| !fields.iter().any(|d| &d.name == *f))
                {
                    errors.push(FieldError::new(
                        format!("mapping.records[{i}].fields.{f}"),
                        "unknown_field",
                        "the collection has no such field",
                    ));
                }
                if !r.fields.contains_key(&c.primary_key) {
                    errors.push(FieldError::new(
                        format!("mapping.records[{i}].fields"),
                        "key_required",
                        format!("map the primary key {}", c.primary_key),
                    ));
                }
            }
        }
    }
    if let Some(a) = &input.mapping.automation {
        if super::automations::published(app, org_id, &a.code)
            .await
            .is_err()
        {
            errors.push(FieldError::new(
                "mapping.automation.code",
                "unknown_trigger",
                "no published automation has this trigger code",
            ));
        }
    }
    if let Some(id) = input.token_id {
        let ok = found(app.store.token_by_id(id).await)?
            .is_some_and(|t| t.org_id == org_id && may_call_hooks(&t));
        if !ok {
            errors.push(FieldError::new(
                "token_id",
                "unknown_token",
                "an organisation token with scope webhooks:receive",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(errors).into())
    }
}

fn new_secret() -> TokenSecret {
    TokenSecret::generate("hb_hook_")
}

pub async fn create(app: &App, p: &Principal, input: &HookInput) -> ServiceResult<HookView> {
    p.require(Scope::Admin)?;
    check(app, p.org_id, input).await?;
    let secret = new_secret();
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
    let now = app.now();
    let row = HookRow {
        org_id: p.org_id,
        id: 0,
        public_id: base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id),
        name: input.name.trim().to_string(),
        token_hash: Some(secret.hash()),
        token_id: input.token_id,
        mapping: serde_json::to_string(&input.mapping)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        created_at: now,
        updated_at: now,
    };
    app.store.create_hook(&row).await?;
    tracing::info!(org = p.org_id, hook = %row.public_id, "webhook receiver created");
    Ok(view(app, &row, Some(secret.expose().to_string())))
}

async fn own(app: &App, p: &Principal, id: &str) -> ServiceResult<HookRow> {
    match found(app.store.hook_by_public_id(id).await)? {
        Some(h) if h.org_id == p.org_id => Ok(h),
        _ => Err(ServiceError::NotFound("webhook")),
    }
}

pub async fn update(
    app: &App,
    p: &Principal,
    id: &str,
    input: &HookInput,
) -> ServiceResult<HookView> {
    p.require(Scope::Admin)?;
    let old = own(app, p, id).await?;
    check(app, p.org_id, input).await?;
    let row = HookRow {
        name: input.name.trim().to_string(),
        token_id: input.token_id,
        mapping: serde_json::to_string(&input.mapping)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        updated_at: app.now(),
        ..old
    };
    app.store.update_hook(&row).await?;
    Ok(view(app, &row, None))
}

/// A new own token for the hook; the old one stops working at once.
pub async fn rotate(app: &App, p: &Principal, id: &str) -> ServiceResult<HookView> {
    p.require(Scope::Admin)?;
    let old = own(app, p, id).await?;
    let secret = new_secret();
    let row = HookRow {
        token_hash: Some(secret.hash()),
        updated_at: app.now(),
        ..old
    };
    app.store.update_hook(&row).await?;
    Ok(view(app, &row, Some(secret.expose().to_string())))
}

pub async fn list(app: &App, p: &Principal) -> ServiceResult<Vec<HookView>> {
    p.require(Scope::Admin)?;
    Ok(app
        .store
        .hooks(p.org_id)
        .await?
        .iter()
        .map(|h| view(app, h, None))
        .collect())
}

pub async fn get(app: &App, p: &Principal, id: &str) -> ServiceResult<HookView> {
    p.require(Scope::Admin)?;
    Ok(view(app, &own(app, p, id).await?, None))
}

pub async fn delete(app: &App, p: &Principal, id: &str) -> ServiceResult<()> {
    p.require(Scope::Admin)?;
    own(app, p, id).await?;
    app.store.delete_hook(p.org_id, id).await?;
    Ok(())
}

/// Whether `presented` may call the hook: its own token, or the attached organisation token
/// or its replacement after a rotation (active, scope webhooks:receive, from an allowed
/// address).
async fn authorised(app: &App, h: &HookRow, presented: &str, ip: IpAddr) -> ServiceResult<bool> {
    if h.token_hash.as_deref() == Some(hash_token(presented).as_str()) {
        return Ok(true);
    }
    let Some(token_id) = h.token_id else {
        return Ok(false);
    };
    let p = match super::tokens::authenticate(app, presented, ip).await {
        Ok(p) => p,
        Err(ServiceError::Unauthorized) => return Ok(false),
        Err(e) => return Err(e),
    };
    if p.org_id != h.org_id || p.require(Scope::WebhooksReceive).is_err() {
        return Ok(false);
    }
    // The attached token, or the one that replaced it (rotation makes a successor).
    let mut id = Some(token_id);
    for _ in 0..100 {
        match id {
            Some(i) if i == p.token_id => return Ok(true),
            Some(i) => id = found(app.store.token_by_id(i).await)?.and_then(|t| t.replaced_by),
            None => break,
        }
    }
    Ok(false)
}

/// What one payload of a hook writes, read and checked; nothing is written yet.
struct Read {
    row: crate::domain::import::Row,
    match_on: MatchOn,
    columns: Vec<crate::domain::import::Column>,
    records: Vec<ChunkRecord>,
    /// The collection key of each record.
    collections: Vec<String>,
    start: Option<(i64, i64, bool)>,
    fields_json: Vec<String>,
    automation: Option<String>,
}

/// Reads a payload through the hook's mapping; every bad value is an error naming its pointer.
async fn read(app: &App, h: &HookRow, body: &[u8]) -> ServiceResult<Read> {
    let payload: &Value = &serde_json::from_slice(body).map_err(|e| {
        ValidationError::single("", "malformed_json", format!("the body is not JSON: {e}"))
    })?;
    let mapping: HookMapping =
        serde_json::from_str(&h.mapping).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut errors: Vec<FieldError> = Vec::new();
    // The contact, read like an import row whose cells are the values at the pointers.
    let columns = mapping.contact_columns();
    let mut cells = Vec::with_capacity(columns.len());
    for c in &columns {
        match scalar(payload, &c.header) {
            Ok(v) => cells.push(v.unwrap_or_default()),
            Err(e) => {
                errors.push(e);
                cells.push(String::new());
            }
        }
    }
    let located: Vec<(usize, &crate::domain::import::Column)> =
        columns.iter().enumerate().collect();
    let cell_refs: Vec<&str> = cells.iter().map(String::as_str).collect();
    let row = match read_row(0, &cell_refs, &located) {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(FieldError::new(e.column, e.code, e.message));
            None
        }
    };
    // The address finds the contact when the payload has one (a subscriber known by address
    // whose first order brings a customer id); else the external id.
    let match_on = match &row {
        Some(r) if r.email.is_some() => MatchOn::Email,
        Some(r) if r.external_id.is_some() => MatchOn::ExternalId,
        Some(_) => {
            let pointers: Vec<&str> = columns
                .iter()
                .filter(|c| {
                    matches!(
                        c.target,
                        crate::domain::import::Target::Email
                            | crate::domain::import::Target::ExternalId
                    )
                })
                .map(|c| c.header.as_str())
                .collect();
            errors.push(FieldError::new(
                pointers.join(", "),
                "required",
                "the payload has neither the e-mail address nor the external id here",
            ));
            MatchOn::Email
        }
        None => MatchOn::Email,
    };
    // Records.
    let mut records = Vec::new();
    let mut collections = Vec::new();
    for m in &mapping.records {
        let c = super::collections::collection(app, h.org_id, &m.collection).await?;
        let data = match record_data(payload, &m.fields) {
            Ok(d) => d,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        match check_record(
            &super::collections::fields_of(&c),
            &c.primary_key,
            &data,
            "",
        ) {
            Ok(rec) => {
                let known = app
                    .store
                    .products_by_external_ids(h.org_id, &rec.products)
                    .await?;
                for p in rec
                    .products
                    .iter()
                    .filter(|p| !known.iter().any(|k| &k.external_id == *p))
                {
                    let pointer = m
                        .fields
                        .iter()
                        .find(|(f, _)| rec.data.get(*f).and_then(Value::as_str) == Some(p.as_str()))
                        .map(|(_, ptr)| ptr.clone())
                        .unwrap_or_default();
                    errors.push(FieldError::new(
                        pointer,
                        "unknown_product",
                        format!("there is no product '{p}'"),
                    ));
                }
                collections.push(c.key.clone());
                records.push(ChunkRecord {
                    row: 0,
                    collection_id: c.id,
                    key: rec.key,
                    data: Value::Object(rec.data).to_string(),
                });
            }
            // Errors name `.field`: the payload's pointer for it is what the caller knows.
            Err(e) => errors.extend(e.into_iter().map(|mut f| {
                let field = f.field.trim_start_matches('.').to_string();
                f.field = m.fields.get(&field).cloned().unwrap_or(field);
                f
            })),
        }
    }
    // The automation and its fields.
    let mut start = None;
    let mut fields_json = Vec::new();
    if let Some(a) = &mapping.automation {
        let (automation, version) = super::automations::published(app, h.org_id, &a.code).await?;
        let mut fields = Vec::new();
        for (name, pointer) in &a.fields {
            match scalar(payload, pointer) {
                Ok(v) => fields.push(AutomationField {
                    name: name.clone(),
                    kind: "STRING".into(),
                    values: v.into_iter().collect(),
                }),
                Err(e) => errors.push(e),
            }
        }
        fields_json.push(
            serde_json::to_string(&fields).map_err(|e| ServiceError::Internal(e.to_string()))?,
        );
        start = Some((automation.id, version, automation.reentry == "single"));
    }
    let (Some(row), true) = (row, errors.is_empty()) else {
        return Err(ValidationError(errors).into());
    };
    Ok(Read {
        row,
        match_on,
        columns,
        records,
        collections,
        start,
        fields_json,
        automation: mapping.automation.map(|a| a.code),
    })
}

/// What a test payload would write through a hook (`POST /api/v1/hooks/{id}/test`, and the
/// admin page's *Test payload*); nothing is written.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HookTest {
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Contact fields it would set ("" clears the field).
    pub fields: std::collections::BTreeMap<String, String>,
    /// Attributes it would merge.
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub tags: Vec<String>,
    pub records: Vec<TestRecord>,
    /// The trigger code of the automation it would start.
    pub automation: Option<String>,
    /// The automation fields it would start it with.
    #[schema(value_type = Object)]
    pub automation_fields: Value,
}

impl HookTest {
    /// Whether it would merge any attribute.
    pub fn has_attributes(&self) -> bool {
        self.attributes.as_object().is_some_and(|o| !o.is_empty())
    }
}

/// A data-model record a test payload would insert or replace.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestRecord {
    pub collection: String,
    /// Its primary key.
    pub key: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Reads `body` through the hook's mapping as a call would, and writes nothing. A payload the
/// call would refuse is the same validation error (400 naming the pointer). Conflicts found
/// only when writing (an address that belongs to another contact) are not seen here.
pub async fn test(app: &App, p: &Principal, id: &str, body: &[u8]) -> ServiceResult<HookTest> {
    p.require(Scope::Admin)?;
    let h = own(app, p, id).await?;
    let r = read(app, &h, body).await?;
    let json = |s: &str| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.into()));
    Ok(HookTest {
        email: r.row.email,
        external_id: r.row.external_id,
        fields: r
            .row
            .fields
            .into_iter()
            .map(|(f, v)| (f.to_string(), v.unwrap_or_default()))
            .collect(),
        attributes: Value::Object(r.row.attributes),
        tags: r.row.tags,
        records: r
            .collections
            .into_iter()
            .zip(r.records)
            .map(|(collection, rec)| TestRecord {
                collection,
                data: json(&rec.data),
                key: rec.key,
            })
            .collect(),
        automation: r.automation,
        automation_fields: r.fields_json.first().map_or(Value::Null, |f| json(f)),
    })
}

/// Handles one call of `POST /hooks/{id}`. An unknown hook and a wrong token look the same.
pub async fn receive(
    app: &App,
    id: &str,
    presented: &str,
    ip: IpAddr,
    body: &[u8],
) -> ServiceResult<Received> {
    let Some(h) = found(app.store.hook_by_public_id(id).await)? else {
        return Err(ServiceError::Unauthorized);
    };
    if !authorised(app, &h, presented, ip).await? {
        return Err(ServiceError::Unauthorized);
    }
    let Read {
        row,
        match_on,
        columns,
        records,
        start,
        fields_json,
        ..
    } = read(app, &h, body).await?;
    let text_columns: Vec<(&'static str, bool)> =
        row.fields.iter().map(|(c, _)| (*c, false)).collect();
    let rows = [row];
    let out = app
        .store
        .write_import_chunk(&Chunk {
            org_id: h.org_id,
            import_id: 0,
            match_on,
            mode: Mode::Upsert,
            columns: &text_columns,
            rows: &rows,
            refused: &[],
            guids: &[super::contacts::new_guid()],
            keep_errors: false,
            commit_progress: false,
            start: start.map(|(automation_id, version, single)| ChunkStart {
                automation_id,
                version,
                single,
                fields: &fields_json,
            }),
            records: &records,
            now: app.now(),
        })
        .await?;
    if let Some(e) = out.errors.first() {
        // A conflict (the address or external id belongs to another contact, or a new
        // contact without an address): nothing was written. Name the pointer.
        let target = if e.column == "external_id" {
            crate::domain::import::Target::ExternalId
        } else {
            crate::domain::import::Target::Email
        };
        let pointer = columns
            .iter()
            .find(|c| c.target == target)
            .map(|c| c.header.clone())
            .unwrap_or_else(|| e.column.clone());
        return Err(
            ValidationError(vec![FieldError::new(pointer, e.code, e.message.clone())]).into(),
        );
    }
    let Some((_, contact_id)) = out.contacts.first() else {
        return Err(ServiceError::Internal("the contact was not written".into()));
    };
    tracing::info!(org = h.org_id, hook = %h.public_id, contact = contact_id, records = out.counts.records, started = out.counts.started, "webhook received");
    Ok(Received {
        contact_id: *contact_id,
        created: out.counts.inserted > 0,
        records: out.counts.records,
        started: out.counts.started,
    })
}
