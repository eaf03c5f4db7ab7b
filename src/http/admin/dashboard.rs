//! The dashboard: audience, pending confirmations, last mailings, running automations and
//! what needs attention.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::charts;
use super::error::AdminResult;
use super::i18n::Ui;
use super::session::Admin;
use super::{render, NoticeQuery};
use crate::app::App;
use crate::services::dashboard::{self, Attention, Overview};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ui: Ui,
    o: Overview,
    chart: String,
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult<Response> {
    let o = dashboard::overview(&app, admin.org_id()).await?;
    let ui = admin.ui("dashboard").with_notice(q.notice.as_deref());
    let labels: Vec<String> = o.days.iter().map(|d| d.date[5..].to_string()).collect();
    let chart = charts::lines(
        ui.tr("Subscriptions per day"),
        &labels,
        &[
            (
                ui.tr("confirmed"),
                o.days.iter().map(|d| d.confirmed).collect(),
            ),
            (ui.tr("ended"), o.days.iter().map(|d| d.ended).collect()),
        ],
    );
    Ok(render(DashboardPage { ui, o, chart }))
}
