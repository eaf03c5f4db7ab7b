//! Points of sale (web shops, box offices, resellers): each turns partner opt-ins on or off,
//! chooses double or single opt-in, names the partners shown on it and styles the widget.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{partners, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::partner::{external_id, origin, theme};
use crate::domain::validation::{required_text, Collector};
use crate::domain::ValidationError;
use crate::store::{NewPos, PosRow};

/// `POST /api/v1/points-of-sale` and `PUT /api/v1/points-of-sale/{key}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosInput {
    /// The point of sale's id in the ticket system; fixed once created.
    #[serde(default)]
    pub key: String,
    pub name: String,
    /// Offer partner opt-ins at checkout (default false).
    #[serde(default)]
    pub partner_optins: bool,
    /// A yes is confirmed by mail first (default true).
    pub double_opt_in: Option<bool>,
    /// The keys of the partners whose opt-ins are always offered here.
    #[serde(default)]
    pub partners: Vec<String>,
    /// The origin allowed to frame the widget page (`https://tickets.example.org`); absent: any.
    pub frame_origin: Option<String>,
    /// CSS variables of the widget: accent, accent-text, text, muted, background, font, radius.
    #[serde(default)]
    pub theme: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PosView {
    pub key: String,
    pub name: String,
    pub partner_optins: bool,
    pub double_opt_in: bool,
    pub partners: Vec<String>,
    pub frame_origin: Option<String>,
    pub theme: BTreeMap<String, String>,
}

pub const MAX_PARTNERS: usize = 1000;

async fn validate(app: &App, org_id: i64, req: &PosInput, key: &str) -> ServiceResult<NewPos> {
    let mut c = Collector::default();
    let key = c.take(external_id("key", key));
    let name = c.take(required_text("name", &req.name, 200));
    let frame_origin = match req.frame_origin.as_deref().map(str::trim) {
        Some(o) if !o.is_empty() => c.take(origin("frame_origin", o)),
        _ => None,
    };
    let theme = c.take(theme(&req.theme));
    if req.partners.len() > MAX_PARTNERS {
        c.push(crate::domain::FieldError::new(
            "partners",
            "too_many",
            format!("at most {MAX_PARTNERS} partners"),
        ));
    }
    let partner_ids = partners::ids_for(app, org_id, "partners", &req.partners).await;
    let partner_ids = match partner_ids {
        Ok(ids) => Some(ids),
        Err(ServiceError::Validation(v)) => {
            c.take::<()>(Err(v));
            None
        }
        Err(e) => return Err(e),
    };
    c.finish()?;
    Ok(NewPos {
        key: key.unwrap_or_default(),
        name: name.unwrap_or_default(),
        partner_optins: req.partner_optins,
        double_optin: req.double_opt_in.unwrap_or(true),
        frame_origin,
        theme: serde_json::to_string(&theme.unwrap_or_default()).unwrap_or_else(|_| "{}".into()),
        partner_ids: partner_ids.unwrap_or_default(),
    })
}

pub fn theme_of(p: &PosRow) -> BTreeMap<String, String> {
    serde_json::from_str(&p.theme).unwrap_or_default()
}

pub async fn view(app: &App, p: &PosRow) -> ServiceResult<PosView> {
    Ok(PosView {
        key: p.key.clone(),
        name: p.name.clone(),
        partner_optins: p.partner_optins,
        double_opt_in: p.double_optin,
        partners: app.store.pos_partner_keys(p.org_id, p.id).await?,
        frame_origin: p.frame_origin.clone(),
        theme: theme_of(p),
    })
}

pub async fn create(app: &App, org_id: i64, req: &PosInput) -> ServiceResult<PosView> {
    let new = validate(app, org_id, req, &req.key).await?;
    let row = app
        .store
        .save_pos(org_id, None, &new, app.now())
        .await
        .map_err(|e| {
            if e.is_conflict_on("key") {
                ServiceError::Conflict {
                    field: "key",
                    message: format!("a point of sale with key '{}' already exists", new.key),
                }
            } else {
                e.into()
            }
        })?;
    view(app, &row).await
}

pub async fn update(app: &App, org_id: i64, key: &str, req: &PosInput) -> ServiceResult<PosView> {
    let current = by_key(app, org_id, key).await?;
    if !req.key.trim().is_empty() && req.key.trim() != current.key {
        return Err(ValidationError::single(
            "key",
            "immutable",
            "a point of sale's key cannot be changed",
        )
        .into());
    }
    let new = validate(app, org_id, req, &current.key).await?;
    let row = app
        .store
        .save_pos(org_id, Some(current.id), &new, app.now())
        .await?;
    view(app, &row).await
}

pub async fn by_key(app: &App, org_id: i64, key: &str) -> ServiceResult<PosRow> {
    app.store
        .pos_by_key(org_id, key.trim())
        .await
        .or_not_found("point of sale")
}

pub async fn all(app: &App, org_id: i64) -> ServiceResult<Vec<PosView>> {
    let mut out = Vec::new();
    for p in app.store.points_of_sale(org_id).await? {
        out.push(view(app, &p).await?);
    }
    Ok(out)
}
