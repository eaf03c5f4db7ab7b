//! The HTTP SMS gateway an organisation's automations send text messages through.

use serde::Serialize;

use super::{on_read, on_write, Store, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SmsGatewayRow {
    pub org_id: i64,
    pub url: String,
    pub method: String,
    /// JSON object of header name → value (the gateway's authentication).
    pub headers: String,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub sender: Option<String>,
    pub updated_at: i64,
}

impl Store {
    pub async fn sms_gateway(&self, org_id: i64) -> StoreResult<SmsGatewayRow> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT org_id, url, method, headers, body, content_type, sender, updated_at FROM sms_gateways WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_one(p)
        .await?)
        })
    }

    /// Creates or replaces the organisation's gateway.
    pub async fn save_sms_gateway(&self, g: &SmsGatewayRow) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO sms_gateways (org_id, url, method, headers, body, content_type, sender, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, \
                 method = excluded.method, headers = excluded.headers, body = excluded.body, \
                 content_type = excluded.content_type, sender = excluded.sender, updated_at = excluded.updated_at",
            )
            .bind(g.org_id)
            .bind(&g.url)
            .bind(&g.method)
            .bind(&g.headers)
            .bind(&g.body)
            .bind(&g.content_type)
            .bind(&g.sender)
            .bind(g.updated_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Removes the gateway; false when there was none.
    pub async fn delete_sms_gateway(&self, org_id: i64) -> StoreResult<bool> {
        on_write!(self, |p| Ok(sqlx::query(
            "DELETE FROM sms_gateways WHERE org_id = $1"
        )
        .bind(org_id)
        .execute(p)
        .await?
        .rows_affected()
            > 0))
    }
}
