//! Encrypted link parameters (the Deployteq row): when an organisation turns it on, every click
//! redirect of its mails — mailings and automation mails — adds one query parameter to the
//! link's target holding the clicking contact's chosen fields, sealed with the organisation's
//! key, so the venue's website knows who came without a look-up. The parameter is made at the
//! moment of the click, so an erased contact's clicks carry nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tokens::Principal;
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::link_param::{self, parse_key, KEY_LEN};
use crate::domain::Scope;
use crate::store::{ContactRow, LinkParamRow};

/// `PUT /api/v1/link-parameter`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkParamInput {
    /// The query parameter's name (default `hb`).
    pub name: Option<String>,
    /// Contact fields it carries: id, guid, external_id, email, first_name, last_name, language.
    pub fields: Vec<String>,
    /// Make a new key (the old one stops opening new parameters at once).
    #[serde(default)]
    pub rotate_key: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkParamView {
    pub name: String,
    pub fields: Vec<String>,
    /// The key (64 hex digits): only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub updated_at: String,
}

fn view(l: &LinkParamRow, show_key: bool) -> LinkParamView {
    LinkParamView {
        name: l.name.clone(),
        fields: serde_json::from_str(&l.fields).unwrap_or_default(),
        key: show_key.then(|| l.key.clone()),
        updated_at: rfc3339(l.updated_at),
    }
}

pub async fn get(app: &App, who: &Principal) -> ServiceResult<LinkParamView> {
    who.require(Scope::Admin)?;
    let l = app
        .store
        .link_param(who.org_id)
        .await
        .or_not_found("link parameter")?;
    Ok(view(&l, false))
}

/// Turns the parameter on or changes it; the answer holds the key when it is new.
pub async fn save(
    app: &App,
    who: &Principal,
    req: &LinkParamInput,
) -> ServiceResult<LinkParamView> {
    who.require(Scope::Admin)?;
    let name = req.name.clone().unwrap_or_else(|| "hb".into());
    link_param::validate(&name, &req.fields)?;
    let old = found(app.store.link_param(who.org_id).await)?;
    let (key, new_key) = match old {
        Some(o) if !req.rotate_key => (o.key, false),
        _ => (hex::encode(link_param::new_key()), true),
    };
    let row = LinkParamRow {
        org_id: who.org_id,
        name,
        fields: serde_json::to_string(&req.fields)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        key,
        updated_at: app.now(),
    };
    app.store.save_link_param(&row).await?;
    tracing::info!(org = who.org_id, rotated = new_key, "link parameter saved");
    Ok(view(&row, new_key))
}

pub async fn delete(app: &App, who: &Principal) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    if !app.store.delete_link_param(who.org_id).await? {
        return Err(ServiceError::NotFound("link parameter"));
    }
    Ok(())
}

/// The JSON the parameter seals for a contact: the chosen fields, in the chosen order.
pub fn payload(contact: &ContactRow, fields: &[String]) -> String {
    let mut m = Map::new();
    for f in fields {
        let v = match f.as_str() {
            "id" => Value::from(contact.id),
            "guid" => Value::from(contact.guid.clone()),
            "external_id" => contact.external_id.clone().into(),
            "email" => Value::from(contact.email.clone()),
            "first_name" => contact.first_name.clone().into(),
            "last_name" => contact.last_name.clone().into(),
            "language" => contact.language.clone().into(),
            _ => continue,
        };
        m.insert(f.clone(), v);
    }
    Value::Object(m).to_string()
}

/// The click's target with the organisation's parameter for the contact added (as it is when
/// the parameter is off or the contact is gone).
pub async fn decorate(
    app: &App,
    org_id: i64,
    contact_id: Option<i64>,
    url: String,
) -> ServiceResult<String> {
    let Some(l) = found(app.store.link_param(org_id).await)? else {
        return Ok(url);
    };
    let Some(contact) = (match contact_id {
        Some(id) => found(app.store.contact_by_id(org_id, id).await)?,
        None => None,
    }) else {
        return Ok(url);
    };
    let Some(key) = parse_key(&l.key) else {
        return Err(ServiceError::Internal(
            "the stored link parameter key is damaged".into(),
        ));
    };
    let fields: Vec<String> = serde_json::from_str(&l.fields).unwrap_or_default();
    let token = link_param::seal(&key, payload(&contact, &fields).as_bytes());
    Ok(link_param::add_to_url(&url, &l.name, &token))
}

/// Opens a parameter with the organisation's key (`handbill linkparam decrypt`).
pub async fn decrypt(app: &App, org_id: i64, token: &str) -> ServiceResult<Option<String>> {
    let l = app
        .store
        .link_param(org_id)
        .await
        .or_not_found("link parameter")?;
    let key: [u8; KEY_LEN] = parse_key(&l.key)
        .ok_or_else(|| ServiceError::Internal("the stored link parameter key is damaged".into()))?;
    Ok(link_param::open(&key, token).map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The key, for the operator (`handbill linkparam key`).
pub async fn key(app: &App, org_id: i64) -> ServiceResult<String> {
    Ok(app
        .store
        .link_param(org_id)
        .await
        .or_not_found("link parameter")?
        .key)
}
