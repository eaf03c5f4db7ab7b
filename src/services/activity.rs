//! The activity log as raw events (the Deployteq "activity export"): sent, failed, bounce,
//! complaint, open, click, unsubscribe and consent changes, with time, contact, mailing or
//! automation and details, read page by page with a cursor (`GET /api/v1/events`) or
//! exported incrementally (see `exports`).

use serde::Serialize;

use super::tokens::Principal;
use super::ServiceResult;
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::{Scope, ValidationError};
use crate::store::{ActivityCursor, ActivityRow};

/// The kinds of events in the log.
pub const KINDS: [&str; 8] = [
    "sent",
    "failed",
    "bounce",
    "complaint",
    "open",
    "click",
    "unsubscribe",
    "consent",
];
/// Events per page unless the caller asks for another number.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 10_000;
/// The columns of an activity export, in order.
pub const CSV_HEADER: [&str; 11] = [
    "cursor",
    "kind",
    "at",
    "contact_id",
    "external_id",
    "email",
    "mailing_id",
    "automation_id",
    "delivery_id",
    "list",
    "detail",
];

/// One event of the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Pass as `since` to read the events after this one.
    pub cursor: String,
    pub kind: String,
    pub at: String,
    pub contact_id: Option<i64>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub mailing_id: Option<i64>,
    pub automation_id: Option<i64>,
    pub delivery_id: Option<i64>,
    /// The opt-in (list key) of a consent change.
    pub list: Option<String>,
    /// Kind-specific details: `response` (sent, failed), `bounce` (hard or soft) and `reason`,
    /// `url` and `flagged` (click; flagged = a mail scanner), `action` and `source` (consent).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// The cursor to ask with next (the last event's, or the one given when there was none).
    pub next: String,
    /// Whether more events were ready at once (ask again straight away).
    pub more: bool,
}

pub fn format_cursor(c: ActivityCursor) -> String {
    format!("{}-{}", c.txid, c.id)
}

/// Reads a cursor handed out before (empty or absent: the beginning of the log).
pub fn parse_cursor(s: Option<&str>) -> Result<ActivityCursor, ValidationError> {
    let s = s.unwrap_or("").trim();
    if s.is_empty() {
        return Ok(ActivityCursor::default());
    }
    s.split_once('-')
        .and_then(|(t, i)| {
            Some(ActivityCursor {
                txid: t.parse().ok().filter(|v: &i64| *v >= 0)?,
                id: i.parse().ok().filter(|v: &i64| *v >= 0)?,
            })
        })
        .filter(|_| s.len() <= 41)
        .ok_or_else(|| {
            ValidationError::single(
                "since",
                "invalid_cursor",
                "not a cursor of this log: pass the `next` or `cursor` of an earlier answer",
            )
        })
}

/// Reads a comma-separated list of kinds (empty: all).
pub fn parse_kinds(s: Option<&str>) -> Result<Vec<&'static str>, ValidationError> {
    let mut out = Vec::new();
    for k in s
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        match KINDS.iter().find(|known| **known == k) {
            Some(known) if !out.contains(known) => out.push(*known),
            Some(_) => {}
            None => {
                return Err(ValidationError::single(
                    "kinds",
                    "unknown_kind",
                    format!("'{k}' is not one of {}", KINDS.join(", ")),
                ))
            }
        }
    }
    Ok(out)
}

pub fn view(r: ActivityRow) -> EventView {
    EventView {
        cursor: format_cursor(r.cursor),
        kind: r.kind,
        at: rfc3339(r.at),
        contact_id: r.contact_id,
        external_id: r.external_id,
        email: r.email,
        mailing_id: r.mailing_id,
        automation_id: r.automation_id,
        delivery_id: r.delivery_id,
        list: r.list,
        detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
    }
}

/// The event as a CSV record in the order of `CSV_HEADER`.
pub fn csv_record(e: &EventView) -> [String; 11] {
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    [
        e.cursor.clone(),
        e.kind.clone(),
        e.at.clone(),
        opt(e.contact_id),
        e.external_id.clone().unwrap_or_default(),
        e.email.clone().unwrap_or_default(),
        opt(e.mailing_id),
        opt(e.automation_id),
        opt(e.delivery_id),
        e.list.clone().unwrap_or_default(),
        e.detail.to_string(),
    ]
}

/// A page of the log for `GET /api/v1/events`.
pub async fn page(
    app: &App,
    p: &Principal,
    since: Option<&str>,
    limit: Option<i64>,
    kinds: Option<&str>,
) -> ServiceResult<EventPage> {
    p.require(Scope::ExportsRead)?;
    let after = parse_cursor(since)?;
    let kinds = parse_kinds(kinds)?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ValidationError::single(
            "limit",
            "out_of_range",
            format!("limit is 1 to {MAX_LIMIT}"),
        )
        .into());
    }
    let rows = app
        .store
        .activity_page(p.org_id, after, &kinds, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    let events: Vec<EventView> = rows.into_iter().take(limit as usize).map(view).collect();
    let next = events
        .last()
        .map(|e| e.cursor.clone())
        .unwrap_or_else(|| format_cursor(after));
    Ok(EventPage { events, next, more })
}
