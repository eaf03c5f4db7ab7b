//! Partners (with their public texts), points of sale (with their partners) and products from
//! the ticket system.

use serde::Serialize;

use super::{
    fetch_in, on_read, on_write, placeholders, safe, write_tx, Store, StoreError, StoreResult,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PartnerRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub name: String,
    pub privacy_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A partner as written: its texts are (language, public description).
#[derive(Debug, Clone)]
pub struct NewPartner {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub privacy_url: String,
    pub texts: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PosRow {
    pub org_id: i64,
    pub id: i64,
    pub key: String,
    pub name: String,
    pub partner_optins: bool,
    pub double_optin: bool,
    pub frame_origin: Option<String>,
    /// JSON object of CSS variables.
    pub theme: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewPos {
    pub key: String,
    pub name: String,
    pub partner_optins: bool,
    pub double_optin: bool,
    pub frame_origin: Option<String>,
    pub theme: String,
    pub partner_ids: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    pub org_id: i64,
    pub id: i64,
    pub external_id: String,
    pub title: String,
    pub starts_at: Option<i64>,
    pub partner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub review_url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewProduct {
    pub external_id: String,
    pub title: String,
    pub starts_at: Option<i64>,
    pub partner_id: Option<i64>,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub price: Option<String>,
    pub review_url: Option<String>,
}

const PARTNER_COLUMNS: &str = "org_id, id, key, kind, name, privacy_url, created_at, updated_at";
const POS_COLUMNS: &str = "org_id, id, key, name, partner_optins, double_optin, frame_origin, theme, created_at, updated_at";
const PRODUCT_COLUMNS: &str =
    "org_id, id, external_id, title, starts_at, partner_id, created_at, updated_at, \
     url, image_url, price, review_url";

/// Rows per multi-row INSERT of a product sync (11 parameters each; far below both backends'
/// limits).
const PRODUCT_CHUNK: usize = 500;

impl Store {
    /// Creates a partner (`id` None) or replaces one's fields and texts; its key never changes.
    pub async fn save_partner(
        &self,
        org_id: i64,
        id: Option<i64>,
        p: &NewPartner,
        now: i64,
    ) -> StoreResult<PartnerRow> {
        let row = write_tx!(self, |tx| {
            let row: PartnerRow = match id {
                None => sqlx::query_as(safe!(
                    "INSERT INTO partners (org_id, key, kind, name, privacy_url, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {PARTNER_COLUMNS}"
                ))
                .bind(org_id)
                .bind(&p.key)
                .bind(&p.kind)
                .bind(&p.name)
                .bind(&p.privacy_url)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
                Some(id) => sqlx::query_as(safe!(
                    "UPDATE partners SET kind = $3, name = $4, privacy_url = $5, updated_at = $6 \
                     WHERE org_id = $1 AND id = $2 RETURNING {PARTNER_COLUMNS}"
                ))
                .bind(org_id)
                .bind(id)
                .bind(&p.kind)
                .bind(&p.name)
                .bind(&p.privacy_url)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
            };
            sqlx::query("DELETE FROM partner_texts WHERE org_id = $1 AND partner_id = $2")
                .bind(org_id)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            for (language, description) in &p.texts {
                sqlx::query("INSERT INTO partner_texts (org_id, partner_id, language, description) VALUES ($1, $2, $3, $4)")
                    .bind(org_id)
                    .bind(row.id)
                    .bind(language)
                    .bind(description)
                    .execute(&mut *tx)
                    .await?;
            }
            row
        });
        Ok(row)
    }

    pub async fn partner_by_key(&self, org_id: i64, key: &str) -> StoreResult<PartnerRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn partner_by_id(&self, org_id: i64, id: i64) -> StoreResult<PartnerRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn partners(&self, org_id: i64) -> StoreResult<Vec<PartnerRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE org_id = $1 ORDER BY key"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// The public descriptions of a partner: (language, description).
    pub async fn partner_texts(
        &self,
        org_id: i64,
        partner_id: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT language, description FROM partner_texts WHERE org_id = $1 AND partner_id = $2 ORDER BY language"
        )
        .bind(org_id)
        .bind(partner_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// The opt-ins a partner owns: (id, key).
    pub async fn partner_lists(
        &self,
        org_id: i64,
        partner_id: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT id, key FROM lists WHERE org_id = $1 AND partner_id = $2 ORDER BY id"
        )
        .bind(org_id)
        .bind(partner_id)
        .fetch_all(p)
        .await?))
    }

    /// Creates a point of sale (`id` None) or replaces one's settings and partners.
    pub async fn save_pos(
        &self,
        org_id: i64,
        id: Option<i64>,
        pos: &NewPos,
        now: i64,
    ) -> StoreResult<PosRow> {
        let row = write_tx!(self, |tx| {
            let row: PosRow = match id {
                None => sqlx::query_as(safe!(
                    "INSERT INTO points_of_sale (org_id, key, name, partner_optins, double_optin, frame_origin, theme, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {POS_COLUMNS}"
                ))
                .bind(org_id)
                .bind(&pos.key)
                .bind(&pos.name)
                .bind(pos.partner_optins)
                .bind(pos.double_optin)
                .bind(&pos.frame_origin)
                .bind(&pos.theme)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
                Some(id) => sqlx::query_as(safe!(
                    "UPDATE points_of_sale SET name = $3, partner_optins = $4, double_optin = $5, frame_origin = $6, \
                     theme = $7, updated_at = $8 WHERE org_id = $1 AND id = $2 RETURNING {POS_COLUMNS}"
                ))
                .bind(org_id)
                .bind(id)
                .bind(&pos.name)
                .bind(pos.partner_optins)
                .bind(pos.double_optin)
                .bind(&pos.frame_origin)
                .bind(&pos.theme)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
            };
            sqlx::query("DELETE FROM pos_partners WHERE org_id = $1 AND pos_id = $2")
                .bind(org_id)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            for partner_id in &pos.partner_ids {
                sqlx::query(
                    "INSERT INTO pos_partners (org_id, pos_id, partner_id) VALUES ($1, $2, $3)",
                )
                .bind(org_id)
                .bind(row.id)
                .bind(partner_id)
                .execute(&mut *tx)
                .await?;
            }
            row
        });
        Ok(row)
    }

    pub async fn pos_by_key(&self, org_id: i64, key: &str) -> StoreResult<PosRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {POS_COLUMNS} FROM points_of_sale WHERE org_id = $1 AND key = $2"
        ))
        .bind(org_id)
        .bind(key)
        .fetch_one(p)
        .await?))
    }

    pub async fn pos_by_id(&self, org_id: i64, id: i64) -> StoreResult<PosRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {POS_COLUMNS} FROM points_of_sale WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    pub async fn points_of_sale(&self, org_id: i64) -> StoreResult<Vec<PosRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {POS_COLUMNS} FROM points_of_sale WHERE org_id = $1 ORDER BY key"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// The keys of the partners defined for a point of sale.
    pub async fn pos_partner_keys(&self, org_id: i64, pos_id: i64) -> StoreResult<Vec<String>> {
        on_read!(self, |p| {
            Ok(sqlx::query_scalar(
            "SELECT p.key FROM pos_partners pp JOIN partners p ON p.org_id = pp.org_id AND p.id = pp.partner_id \
             WHERE pp.org_id = $1 AND pp.pos_id = $2 ORDER BY p.key"
        )
        .bind(org_id)
        .bind(pos_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Inserts or updates products by their external id in one transaction; returns how many
    /// were new.
    pub async fn upsert_products(
        &self,
        org_id: i64,
        products: &[NewProduct],
        now: i64,
    ) -> StoreResult<u64> {
        let created = write_tx!(self, |tx| {
            let mut created = 0u64;
            for chunk in products.chunks(PRODUCT_CHUNK) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("({})", placeholders(i * 11 + 1, 11)))
                    .collect();
                let sql = format!(
                    "INSERT INTO products (org_id, external_id, title, starts_at, partner_id, created_at, updated_at, \
                     url, image_url, price, review_url) VALUES {} ON CONFLICT (org_id, external_id) DO UPDATE SET \
                     title = excluded.title, starts_at = excluded.starts_at, partner_id = excluded.partner_id, \
                     updated_at = excluded.updated_at, url = excluded.url, image_url = excluded.image_url, \
                     price = excluded.price, review_url = excluded.review_url RETURNING created_at",
                    rows.join(", ")
                );
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
                for p in chunk {
                    q = q
                        .bind(org_id)
                        .bind(&p.external_id)
                        .bind(&p.title)
                        .bind(p.starts_at)
                        .bind(p.partner_id)
                        .bind(now)
                        .bind(now)
                        .bind(&p.url)
                        .bind(&p.image_url)
                        .bind(&p.price)
                        .bind(&p.review_url);
                }
                let stamps = q.fetch_all(&mut *tx).await?;
                created += stamps.iter().filter(|c| **c == now).count() as u64;
            }
            created
        });
        Ok(created)
    }

    /// The products with these external ids (unknown ones are simply absent).
    pub async fn products_by_external_ids(
        &self,
        org_id: i64,
        ids: &[String],
    ) -> StoreResult<Vec<ProductRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(fetch_in!(
            self,
            query_as,
            format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE org_id = $1 AND external_id {{ids}}"
            ),
            [org_id],
            2,
            ids
        ))
    }

    /// A page of products ordered by external id, after `after`.
    pub async fn products(
        &self,
        org_id: i64,
        after: &str,
        partner_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ProductRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE org_id = $1 AND external_id > $2 \
             AND ($3 IS NULL OR partner_id = $3) ORDER BY external_id LIMIT $4"
        ))
        .bind(org_id)
        .bind(after)
        .bind(partner_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    pub async fn delete_product(&self, org_id: i64, external_id: &str) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query("DELETE FROM products WHERE org_id = $1 AND external_id = $2")
                .bind(org_id)
                .bind(external_id)
                .execute(p)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    /// Partner keys by id, for showing products and points of sale.
    pub async fn partner_keys(&self, org_id: i64) -> StoreResult<Vec<(i64, String)>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT id, key FROM partners WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }
}
