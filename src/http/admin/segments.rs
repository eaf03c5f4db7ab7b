//! The segment builder with its count: opt-ins and conditions in, the number of contacts who
//! would receive a mailing and the first of them out. Without JavaScript the Count button
//! shows the page again; with it, the count follows every change.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::AdminResult;
use super::i18n::Ui;
use super::segment_form::{self, Builder};
use super::session::{Admin, Posted};
use super::{field_errors, render};
use crate::app::App;
use crate::services::lists;
use crate::services::segments::{self, PreviewRequest, PreviewResult};

#[derive(Template)]
#[template(path = "segments.html")]
struct SegmentsPage {
    ui: Ui,
    errors: Vec<String>,
    optins: Vec<String>,
    b: Builder,
    seg_fields: &'static [&'static str],
    seg_ops: &'static [(&'static str, &'static str)],
    result: Option<PreviewResult>,
    json: String,
}

/// The keys of the organisation's opt-ins that are not archived.
pub async fn optin_keys(app: &App, org_id: i64) -> AdminResult<Vec<String>> {
    Ok(lists::all(app, org_id)
        .await?
        .into_iter()
        .filter(|l| !l.archived)
        .map(|l| l.key)
        .collect())
}

async fn count(
    app: &App,
    org_id: i64,
    b: &Builder,
    sample: i64,
) -> Result<PreviewResult, crate::services::ServiceError> {
    segments::preview(
        app,
        org_id,
        &PreviewRequest {
            lists: b.lists.clone(),
            segment: b.segment(),
            sample: Some(sample),
        },
    )
    .await
}

async fn page(app: &App, admin: &Admin, b: Builder, run: bool) -> AdminResult {
    let (result, errors) = if run {
        match count(app, admin.org_id(), &b, 10).await {
            Ok(r) => (Some(r), Vec::new()),
            Err(e) => (None, field_errors(e)?),
        }
    } else {
        (None, Vec::new())
    };
    Ok(render(SegmentsPage {
        ui: admin.ui("segments"),
        errors,
        optins: optin_keys(app, admin.org_id()).await?,
        json: b
            .segment()
            .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
            .unwrap_or_default(),
        b,
        seg_fields: segment_form::FIELDS,
        seg_ops: segment_form::OPS,
        result,
    }))
}

pub async fn show(State(app): State<App>, admin: Admin) -> AdminResult {
    page(&app, &admin, Builder::empty(), false).await
}

pub async fn preview(State(app): State<App>, p: Posted) -> AdminResult {
    page(&app, &p.admin, Builder::from_form(&p.form), true).await
}

/// The live count as plain text, for the builder's script.
pub async fn live_count(State(app): State<App>, p: Posted) -> Response {
    let b = Builder::from_form(&p.form);
    let ui = p.admin.ui("segments");
    if b.lists.is_empty() {
        return ui.tr("choose at least one opt-in").into_response();
    }
    match count(&app, p.admin.org_id(), &b, 0).await {
        Ok(r) => format!("{} {}", ui.num(&r.count), ui.tr("contacts")).into_response(),
        Err(e) => match field_errors(e) {
            Ok(msgs) => msgs.join("; ").into_response(),
            Err(e) => e.into_response(),
        },
    }
}
