//! `/api/v1/checkout/…`: the ticket shop's backend asks which partner opt-ins to show for an
//! order, gets a widget link for the order confirmation page, or records answers given on its
//! own page (scope checkout:write).

use axum::extract::State;
use axum::Json;

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson};
use crate::services::checkout::{self, AnswersRequest, CheckoutRequest, IssuedWidget, Offers};
use crate::store::CheckoutOutcome;

/// The opt-ins to show for an order: of partners managing a product in it or defined for the
/// point of sale, minus those this address decided on already.
#[utoipa::path(post, path = "/api/v1/checkout/optins", tag = "checkout", security(("bearer" = [])), request_body = CheckoutRequest,
    responses((status = 200, body = Offers), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn optins(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CheckoutRequest>,
) -> Result<Json<Offers>, ApiError> {
    Ok(Json(checkout::offers(&app, &p, &req).await?))
}

/// A signed, single-use widget link (valid two hours) to embed on the order confirmation page.
#[utoipa::path(post, path = "/api/v1/checkout/widget", tag = "checkout", security(("bearer" = [])), request_body = CheckoutRequest,
    responses((status = 200, body = crate::http::api::checkout::WidgetAnswer), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn widget(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CheckoutRequest>,
) -> Result<Json<WidgetAnswer>, ApiError> {
    let issued = checkout::issue_widget(&app, &p, &req).await?;
    let fragment = issued
        .url
        .as_deref()
        .map(|url| crate::http::public::widget::fragment(url, &issued));
    Ok(Json(WidgetAnswer {
        widget: issued,
        fragment,
    }))
}

/// The widget: its link, and the same form as an HTML fragment to place in the page itself.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WidgetAnswer {
    #[serde(flatten)]
    pub widget: IssuedWidget,
    /// The form as HTML (no JavaScript; styled by the page's `--hb-…` CSS variables); it posts
    /// to the widget link.
    pub fragment: Option<String>,
}

/// Records answers the buyer gave on the shop's own page (consent or refusal per opt-in).
#[utoipa::path(post, path = "/api/v1/checkout/answers", tag = "checkout", security(("bearer" = [])), request_body = AnswersRequest,
    responses((status = 200, body = crate::http::api::checkout::Recorded), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn answers(
    State(app): State<App>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<AnswersRequest>,
) -> Result<Json<Recorded>, ApiError> {
    let o: CheckoutOutcome = checkout::answer(&app, &p, &req).await?;
    Ok(Json(Recorded {
        consented: o.consented.len(),
        refused: o.refused.len(),
        already_decided: o.already_decided.len(),
        confirmation_mail: o.verification_queued,
    }))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub consented: usize,
    pub refused: usize,
    pub already_decided: usize,
    /// One mail asks the buyer to confirm every consent of the order (double opt-in).
    pub confirmation_mail: bool,
}
