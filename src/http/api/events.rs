//! `GET /api/v1/events`: the activity log as raw events, page by page with a cursor
//! (scope exports:read).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiQuery};
use crate::services::activity::{self, EventPage};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventQuery {
    /// The `next` of the previous answer (absent: from the beginning of the log).
    pub since: Option<String>,
    /// Events per page, 1 to 10,000 (default 100).
    pub limit: Option<i64>,
    /// Comma-separated kinds (sent, failed, bounce, complaint, open, click, unsubscribe, consent).
    pub kinds: Option<String>,
}

/// The events after a cursor, oldest first. Events that are still being written wait for
/// the next call: a cursor never passes an event that shows up later.
#[utoipa::path(get, path = "/api/v1/events", tag = "activity", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, body = EventPage), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(
        activity::page(&app, &p, q.since.as_deref(), q.limit, q.kinds.as_deref()).await?,
    ))
}
