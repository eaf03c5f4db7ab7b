//! Partners (promoters, producers …) that own opt-ins: created and updated by key, with a
//! public description per language and the link to their privacy policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::partner::{external_id, public_url};
use crate::domain::validation::{required_text, text, Collector};
use crate::domain::{FieldError, Language, PartnerKind};
use crate::store::{NewPartner, PartnerRow, StoreError};

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 2000;

/// `POST /api/v1/partners` and `PUT /api/v1/partners/{key}` (where `key` may be left out).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerInput {
    /// The partner's id in the ticket system (1–100 characters); fixed once created.
    #[serde(default)]
    pub key: String,
    /// promoter, producer or other.
    pub kind: String,
    pub name: String,
    /// The public description per language (`nl`, `en`, `de`, `fr`).
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    /// The partner's privacy policy (http or https); every opt-in of the partner links to it.
    pub privacy_url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerView {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub description: BTreeMap<String, String>,
    pub privacy_url: String,
    /// The keys of the opt-ins the partner owns.
    pub optins: Vec<String>,
}

fn validate(req: &PartnerInput, key: &str) -> Result<NewPartner, crate::domain::ValidationError> {
    let mut c = Collector::default();
    let key = c.take(external_id("key", key));
    let kind = PartnerKind::parse(req.kind.trim());
    if kind.is_none() {
        c.push(FieldError::new(
            "kind",
            "invalid_kind",
            "kind is promoter, producer or other",
        ));
    }
    let name = c.take(required_text("name", &req.name, MAX_NAME));
    let privacy_url = c.take(public_url("privacy_url", &req.privacy_url));
    let mut texts = Vec::new();
    for (lang, d) in &req.description {
        let field = format!("description.{lang}");
        match Language::parse(lang) {
            Ok(l) if l.code() == lang => {
                if let Some(Some(d)) = c.take(text(&field, d, MAX_DESCRIPTION)) {
                    texts.push((lang.clone(), d));
                }
            }
            _ => c.push(FieldError::new(
                field,
                "unsupported_language",
                "languages are nl, en, de and fr",
            )),
        }
    }
    c.finish()?;
    Ok(NewPartner {
        key: key.unwrap_or_default(),
        kind: kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        name: name.unwrap_or_default(),
        privacy_url: privacy_url.unwrap_or_default(),
        texts,
    })
}

pub async fn view(app: &App, p: &PartnerRow) -> ServiceResult<PartnerView> {
    let texts = app.store.partner_texts(p.org_id, p.id).await?;
    let optins = app
        .store
        .partner_lists(p.org_id, p.id)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    Ok(PartnerView {
        key: p.key.clone(),
        kind: p.kind.clone(),
        name: p.name.clone(),
        description: texts.into_iter().collect(),
        privacy_url: p.privacy_url.clone(),
        optins,
    })
}

pub async fn create(app: &App, org_id: i64, req: &PartnerInput) -> ServiceResult<PartnerView> {
    let new = validate(req, &req.key)?;
    let row = app
        .store
        .save_partner(org_id, None, &new, app.now())
        .await
        .map_err(|e| {
            if e.is_conflict_on("key") {
                ServiceError::Conflict {
                    field: "key",
                    message: format!("a partner with key '{}' already exists", new.key),
                }
            } else {
                e.into()
            }
        })?;
    view(app, &row).await
}

/// Replaces a partner's kind, name, texts and privacy link. A `key` in the body must be the
/// partner's own.
pub async fn update(
    app: &App,
    org_id: i64,
    key: &str,
    req: &PartnerInput,
) -> ServiceResult<PartnerView> {
    let current = by_key(app, org_id, key).await?;
    if !req.key.trim().is_empty() && req.key.trim() != current.key {
        return Err(crate::domain::ValidationError::single(
            "key",
            "immutable",
            "a partner's key cannot be changed",
        )
        .into());
    }
    let new = validate(req, &current.key)?;
    let row = app
        .store
        .save_partner(org_id, Some(current.id), &new, app.now())
        .await?;
    view(app, &row).await
}

pub async fn by_key(app: &App, org_id: i64, key: &str) -> ServiceResult<PartnerRow> {
    app.store
        .partner_by_key(org_id, key.trim())
        .await
        .or_not_found("partner")
}

/// Looks partners up by key for a field of a request: unknown keys are one validation error
/// naming them all.
pub async fn ids_for(
    app: &App,
    org_id: i64,
    field: &str,
    keys: &[String],
) -> ServiceResult<Vec<i64>> {
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for k in keys {
        match app.store.partner_by_key(org_id, k.trim()).await {
            Ok(p) => {
                if !ids.contains(&p.id) {
                    ids.push(p.id);
                }
            }
            Err(StoreError::NotFound) => unknown.push(k.chars().take(100).collect::<String>()),
            Err(e) => return Err(e.into()),
        }
    }
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(crate::domain::ValidationError::single(
            field,
            "unknown_partner",
            format!("unknown partner: {}", unknown.join(", ")),
        )
        .into())
    }
}

pub async fn all(app: &App, org_id: i64) -> ServiceResult<Vec<PartnerView>> {
    let mut out = Vec::new();
    for p in app.store.partners(org_id).await? {
        out.push(view(app, &p).await?);
    }
    Ok(out)
}
