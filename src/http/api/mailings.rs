//! `/api/v1/mailings` (scopes mailings:read / mailings:write).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::domain::Scope;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::mail::template::Rendered;
use crate::services::mailings::{
    self, Action, DeliveryView, MailingInput, MailingStats, MailingView,
};

type Problem = crate::http::error::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only mailings in this state.
    pub status: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/mailings", tag = "mailings", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<MailingView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<MailingView>>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(
        mailings::list(
            &app,
            p.org_id,
            q.status.as_deref(),
            q.limit.unwrap_or(50),
            q.offset.unwrap_or(0),
        )
        .await?,
    ))
}

/// Creates a draft. Template syntax errors are reported with part, line and column.
#[utoipa::path(post, path = "/api/v1/mailings", tag = "mailings", security(("bearer" = [])), request_body = MailingInput,
    responses((status = 201, body = MailingView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(input): ApiJson<MailingInput>,
) -> Result<(StatusCode, Json<MailingView>), ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(mailings::create(&app, p.org_id, &input, "api").await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/mailings/{id}", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingView>, ApiError> {
    p.require(Scope::MailingsRead)?;
    let m = mailings::get(&app, p.org_id, id).await?;
    Ok(Json(mailings::view(&app, &m).await?))
}

/// Replaces the content and audience of a draft or scheduled mailing.
#[utoipa::path(put, path = "/api/v1/mailings/{id}", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = MailingInput, responses((status = 200, body = MailingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<MailingInput>,
) -> Result<Json<MailingView>, ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok(Json(mailings::update(&app, p.org_id, id, &input).await?))
}

async fn act(
    app: App,
    p: crate::services::tokens::Principal,
    id: i64,
    action: Action,
) -> Result<Json<MailingView>, ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok(Json(mailings::act(&app, p.org_id, id, action).await?))
}

/// Starts sending now (a draft, a scheduled or a held mailing).
#[utoipa::path(post, path = "/api/v1/mailings/{id}/send", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn send(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingView>, ApiError> {
    act(app, p, id, Action::Send).await
}

#[utoipa::path(post, path = "/api/v1/mailings/{id}/pause", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn pause(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingView>, ApiError> {
    act(app, p, id, Action::Pause).await
}

#[utoipa::path(post, path = "/api/v1/mailings/{id}/resume", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn resume(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingView>, ApiError> {
    act(app, p, id, Action::Resume).await
}

/// Cancels the mailing; messages not sent yet are not sent.
#[utoipa::path(post, path = "/api/v1/mailings/{id}/cancel", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingView>, ApiError> {
    act(app, p, id, Action::Cancel).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// RFC 3339 time in the future.
    pub at: String,
}

#[utoipa::path(post, path = "/api/v1/mailings/{id}/schedule", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = Schedule, responses((status = 200, body = MailingView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn schedule(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(s): ApiJson<Schedule>,
) -> Result<Json<MailingView>, ApiError> {
    p.require(Scope::MailingsWrite)?;
    Ok(Json(mailings::schedule(&app, p.org_id, id, &s.at).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    /// One to ten addresses.
    pub to: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestQueued {
    pub queued: usize,
}

/// Sends the mailing to named addresses now, marked `[TEST]`; counted nowhere.
#[utoipa::path(post, path = "/api/v1/mailings/{id}/test", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = TestSend, responses((status = 202, body = TestQueued), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn test(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(t): ApiJson<TestSend>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    p.require(Scope::MailingsWrite)?;
    let queued = mailings::test_send(&app, p.org_id, id, &t.to).await?;
    Ok((StatusCode::ACCEPTED, Json(TestQueued { queued })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewFor {
    /// Render for this contact …
    pub contact_id: Option<i64>,
    /// … or for the contact with this address; neither: a stand-in contact.
    pub email: Option<String>,
}

/// The mail as one contact would get it (without tracking).
#[utoipa::path(post, path = "/api/v1/mailings/{id}/preview", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = PreviewFor, responses((status = 200, body = Object)))]
pub async fn preview(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(f): ApiJson<PreviewFor>,
) -> Result<Json<Rendered>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(
        mailings::preview(&app, p.org_id, id, f.contact_id, f.email.as_deref()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/mailings/{id}/stats", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MailingStats)))]
pub async fn stats(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailingStats>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(mailings::stats(&app, p.org_id, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPage {
    /// Rows after this delivery id (the last id of the previous page).
    pub after: Option<i64>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
}

/// Who received the mailing: one row per recipient with its state, Message-ID and SMTP answer.
#[utoipa::path(get, path = "/api/v1/mailings/{id}/deliveries", tag = "mailings", security(("bearer" = [])), params(("id" = i64, Path), DeliveryPage),
    responses((status = 200, body = Vec<DeliveryView>)))]
pub async fn deliveries(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeliveryPage>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    p.require(Scope::MailingsRead)?;
    Ok(Json(
        mailings::deliveries(
            &app,
            p.org_id,
            Some(id),
            None,
            q.after.unwrap_or(0),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// Every message sent to one contact (mailings and transactional mail).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/deliveries", tag = "contacts", security(("bearer" = [])), params(("id" = i64, Path), DeliveryPage),
    responses((status = 200, body = Vec<DeliveryView>)))]
pub async fn contact_deliveries(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeliveryPage>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    p.require(Scope::ContactsRead)?;
    crate::services::contacts::get(&app, p.org_id, id).await?;
    Ok(Json(
        mailings::deliveries(
            &app,
            p.org_id,
            None,
            Some(id),
            q.after.unwrap_or(0),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}
