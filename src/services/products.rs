//! Products (events, performances, passes) synchronised from the ticket system: bulk upsert by
//! the ticket system's id, each naming the partner that manages it.

use std::collections::{HashMap, HashSet};

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::{OrNotFound, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::partner::{external_id, public_url};
use crate::domain::validation::{required_text, text, Collector};
use crate::domain::{FieldError, ValidationError};
use crate::store::{NewProduct, ProductRow};

/// Most products per synchronisation call.
pub const MAX_SYNC: usize = 10_000;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// The product's id in the ticket system (unique in the organisation).
    pub id: String,
    pub title: String,
    /// When it takes place (RFC 3339), if it has a date.
    pub date: Option<String>,
    /// The key of the partner that manages it.
    pub partner: Option<String>,
    /// The product's page (http or https), for product blocks in e-mails.
    pub url: Option<String>,
    pub image_url: Option<String>,
    /// The price as shown, e.g. "€ 24,50" (at most 40 characters).
    pub price: Option<String>,
    /// Where a buyer reviews it.
    pub review_url: Option<String>,
}

/// `POST /api/v1/products` (bulk upsert).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSync {
    pub products: Vec<ProductInput>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncResult {
    pub received: usize,
    pub created: u64,
    pub updated: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: String,
    pub title: String,
    pub date: Option<String>,
    pub partner: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub review_url: Option<String>,
}

/// Inserts or updates up to 10,000 products in one transaction. Every row is checked first;
/// any error rejects the whole call (errors are named `products[i].field`) and writes nothing.
pub async fn sync(app: &App, org_id: i64, req: &ProductSync) -> ServiceResult<SyncResult> {
    if req.products.is_empty() || req.products.len() > MAX_SYNC {
        return Err(ValidationError::single(
            "products",
            "out_of_range",
            format!("send 1 to {MAX_SYNC} products per call"),
        )
        .into());
    }
    let partners: HashMap<String, i64> = app
        .store
        .partner_keys(org_id)
        .await?
        .into_iter()
        .map(|(id, key)| (key, id))
        .collect();
    let mut c = Collector::default();
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(req.products.len());
    for (i, p) in req.products.iter().enumerate() {
        let field = |f: &str| format!("products[{i}].{f}");
        let id = c.take(external_id(&field("id"), &p.id).map_err(|e| e.for_field(&field("id"))));
        if let Some(id) = &id {
            if !seen.insert(id.clone()) {
                c.push(FieldError::new(
                    field("id"),
                    "duplicate",
                    "the same id appears twice in this call",
                ));
            }
        }
        let title = c.take(required_text(&field("title"), &p.title, 300));
        let starts_at = match p.date.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => match DateTime::parse_from_rfc3339(d) {
                Ok(t) => Some(t.timestamp_millis()),
                Err(_) => {
                    c.push(FieldError::new(
                        field("date"),
                        "invalid_date",
                        "a date-time in RFC 3339 (2027-03-01T20:00:00+01:00)",
                    ));
                    None
                }
            },
            _ => None,
        };
        let partner_id = match p.partner.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => match partners.get(k) {
                Some(id) => Some(*id),
                None => {
                    c.push(FieldError::new(
                        field("partner"),
                        "unknown_partner",
                        "no partner has this key",
                    ));
                    None
                }
            },
            _ => None,
        };
        let mut link = |name: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => c.take(public_url(&field(name), u)),
            _ => None,
        };
        let url = link("url", &p.url);
        let image_url = link("image_url", &p.image_url);
        let review_url = link("review_url", &p.review_url);
        let price = c
            .take(text(&field("price"), p.price.as_deref().unwrap_or(""), 40))
            .flatten();
        if let (Some(id), Some(title)) = (id, title) {
            rows.push(NewProduct {
                external_id: id,
                title,
                starts_at,
                partner_id,
                url,
                image_url,
                price,
                review_url,
            });
        }
    }
    c.finish()?;
    let created = app.store.upsert_products(org_id, &rows, app.now()).await?;
    tracing::info!(
        org = org_id,
        products = rows.len(),
        created,
        "products synchronised"
    );
    Ok(SyncResult {
        received: rows.len(),
        created,
        updated: rows.len() as u64 - created,
    })
}

fn view(p: &ProductRow, partners: &HashMap<i64, String>) -> ProductView {
    ProductView {
        id: p.external_id.clone(),
        title: p.title.clone(),
        date: p.starts_at.map(rfc3339),
        partner: p.partner_id.and_then(|id| partners.get(&id).cloned()),
        url: p.url.clone(),
        image_url: p.image_url.clone(),
        price: p.price.clone(),
        review_url: p.review_url.clone(),
    }
}

/// A page of products by id, optionally of one partner.
pub async fn page(
    app: &App,
    org_id: i64,
    after: &str,
    partner: Option<&str>,
    limit: i64,
) -> ServiceResult<Vec<ProductView>> {
    let partner_id = match partner {
        Some(k) => Some(super::partners::by_key(app, org_id, k).await?.id),
        None => None,
    };
    let keys: HashMap<i64, String> = app.store.partner_keys(org_id).await?.into_iter().collect();
    let rows = app
        .store
        .products(org_id, after, partner_id, limit.clamp(1, 1000))
        .await?;
    Ok(rows.iter().map(|p| view(p, &keys)).collect())
}

pub async fn get(app: &App, org_id: i64, id: &str) -> ServiceResult<ProductView> {
    let rows = app
        .store
        .products_by_external_ids(org_id, &[id.to_string()])
        .await?;
    let p = rows
        .first()
        .ok_or(super::ServiceError::NotFound("product"))?;
    let keys: HashMap<i64, String> = app.store.partner_keys(org_id).await?.into_iter().collect();
    Ok(view(p, &keys))
}

pub async fn delete(app: &App, org_id: i64, id: &str) -> ServiceResult<()> {
    app.store
        .delete_product(org_id, id)
        .await
        .or_not_found("product")
}
