//! Mailings: the list, a new mailing (content and audience with the segment builder), its page
//! with a preview for a chosen contact, test sends, send now (after a confirmation that states
//! the audience size) or at a time, pause/resume/cancel, live progress, and the statistics
//! with a chart and the clicks per link.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::charts;
use super::error::{AdminError, AdminResult};
use super::form::Form;
use super::i18n::Ui;
use super::segment_form::{self, Builder};
use super::segments::optin_keys;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render, render_status, sandboxed};
use crate::app::App;
use crate::services::mailings::{self, Action, MailingInput, MailingStats, MailingView};
use crate::services::segments::{self, PreviewRequest};
use crate::services::ServiceError;

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "mailings.html")]
struct MailingsPage {
    ui: Ui,
    errors: Vec<String>,
    status: String,
    mailings: Vec<MailingView>,
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<ListQuery>,
) -> AdminResult {
    let status = q.status.unwrap_or_default();
    let (mailings, errors) = match mailings::list(
        &app,
        admin.org_id(),
        Some(status.as_str()).filter(|s| !s.is_empty()),
        200,
        0,
    )
    .await
    {
        Ok(m) => (m, Vec::new()),
        Err(e) => (Vec::new(), field_errors(e)?),
    };
    Ok(render(MailingsPage {
        ui: admin.ui("mailings").with_notice(q.notice.as_deref()),
        errors,
        status,
        mailings,
    }))
}

#[derive(Template)]
#[template(path = "mailing_new.html")]
struct NewPage {
    ui: Ui,
    errors: Vec<String>,
    f: Form,
    optins: Vec<String>,
    b: Builder,
    seg_fields: &'static [&'static str],
    seg_ops: &'static [(&'static str, &'static str)],
    editing: Option<i64>,
    /// The organisation's layouts: (key, name).
    layouts: Vec<(String, String)>,
}

const STARTER_HTML: &str = "<h1>Hello {{ contact.first_name }}</h1>\n<p>…</p>\n<p><a href=\"https://example.org/agenda\">See the agenda</a></p>\n<p><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a> · <a href=\"{{ links.preferences }}\">Preferences</a></p>\n";

/// The mailing form: a new mailing, or (with `editing`) a saved one.
async fn new_page(
    app: &App,
    admin: &Admin,
    f: Form,
    errors: Vec<String>,
    editing: Option<i64>,
) -> AdminResult {
    Ok(render_status(
        form_status(&errors),
        NewPage {
            ui: admin.ui("mailings"),
            errors,
            b: Builder::from_form(&f),
            f,
            optins: optin_keys(app, admin.org_id()).await?,
            seg_fields: segment_form::FIELDS,
            seg_ops: segment_form::OPS,
            editing,
            layouts: crate::services::templates::all(app, admin.org_id())
                .await?
                .into_iter()
                .filter(|t| t.kind == "layout")
                .map(|t| (t.key, t.name))
                .collect(),
        },
    ))
}

pub async fn new(State(app): State<App>, admin: Admin) -> AdminResult {
    // Opens and clicks are counted as the organisation's tracking settings say.
    let org = crate::services::orgs::org_by_slug(&app, &admin.session.org_slug).await?;
    let mut starter = vec![("html".to_string(), STARTER_HTML.to_string())];
    starter.extend(tracking_fields(org.track_opens, org.track_clicks));
    new_page(&app, &admin, Form::from_pairs(starter), Vec::new(), None).await
}

/// The form fields of the two tracking boxes, ticked as given.
fn tracking_fields(opens: bool, clicks: bool) -> impl Iterator<Item = (String, String)> {
    [("track_opens", opens), ("track_clicks", clicks)]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| (name.to_string(), "on".to_string()))
}

/// The mailing as the API takes it, from the form. A segment the builder could not show is
/// kept as it was (`segment_json`) unless conditions were set.
fn input_from(f: &Form) -> MailingInput {
    let b = Builder::from_form(f);
    let segment = b.segment().or_else(|| {
        f.opt("segment_json")
            .and_then(|j| serde_json::from_str(j).ok())
    });
    MailingInput {
        name: f.get("name").trim().to_string(),
        subject: f.get("subject").trim().to_string(),
        from_name: f.opt("from_name").map(String::from),
        from_email: f.opt("from_email").map(String::from),
        reply_to: f.opt("reply_to").map(String::from),
        html: f.get("html").to_string(),
        text: f.opt("text").map(String::from),
        lists: b.lists.clone(),
        segment,
        layout: f.opt("layout").map(String::from),
        track_opens: Some(f.checked("track_opens")),
        track_clicks: Some(f.checked("track_clicks")),
        description: f.opt("description").map(String::from),
        owner: None,
    }
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    match mailings::create(&app, p.admin.org_id(), &input_from(&p.form), "admin").await {
        Ok(m) => done(&format!("/admin/mailings/{}", m.id), "created"),
        Err(e) => {
            let errors = field_errors(e)?;
            let Posted { admin, form } = p;
            new_page(&app, &admin, form, errors, None).await
        }
    }
}

/// The form of a saved draft (or scheduled mailing), filled in.
pub async fn edit(State(app): State<App>, admin: Admin, Path(id): Path<i64>) -> AdminResult {
    let m = mailings::view(&app, &mailings::get(&app, admin.org_id(), id).await?).await?;
    let mut pairs: Vec<(String, String)> = vec![
        ("name".into(), m.name.clone()),
        ("subject".into(), m.subject.clone()),
        ("from_name".into(), m.from_name.clone().unwrap_or_default()),
        ("from_email".into(), m.from_email.clone()),
        ("html".into(), m.html.clone()),
        ("text".into(), m.text.clone().unwrap_or_default()),
        ("layout".into(), m.layout.clone().unwrap_or_default()),
    ];
    pairs.extend(tracking_fields(m.track_opens, m.track_clicks));
    pairs.extend(m.lists.iter().map(|l| ("lists".to_string(), l.clone())));
    match segment_form::form_fields(m.segment.as_ref()) {
        Some(fields) => pairs.extend(fields),
        None => pairs.push((
            "segment_json".into(),
            m.segment
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        )),
    }
    new_page(&app, &admin, Form::from_pairs(pairs), Vec::new(), Some(id)).await
}

pub async fn update(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    match mailings::update(&app, p.admin.org_id(), id, &input_from(&p.form)).await {
        Ok(_) => done(&format!("/admin/mailings/{id}"), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            let Posted { admin, form } = p;
            new_page(&app, &admin, form, errors, Some(id)).await
        }
    }
}

#[derive(Template)]
#[template(path = "mailing.html")]
struct MailingPage {
    ui: Ui,
    errors: Vec<String>,
    m: MailingView,
    audience: Option<i64>,
    preview_for: String,
    live: bool,
}

/// How many contacts the mailing would go to now.
async fn audience(app: &App, org_id: i64, m: &MailingView) -> Result<i64, ServiceError> {
    Ok(segments::preview(
        app,
        org_id,
        &PreviewRequest {
            lists: m.lists.clone(),
            segment: m.segment.clone(),
            sample: Some(0),
        },
    )
    .await?
    .count)
}

async fn mailing_page(
    app: &App,
    admin: &Admin,
    id: i64,
    status: StatusCode,
    errors: Vec<String>,
    notice: Option<&str>,
    preview_for: &str,
) -> AdminResult {
    let m = mailings::view(app, &mailings::get(app, admin.org_id(), id).await?).await?;
    let audience = if matches!(m.status.as_str(), "draft" | "scheduled") {
        audience(app, admin.org_id(), &m).await.ok()
    } else {
        None
    };
    Ok(render_status(
        status,
        MailingPage {
            ui: admin.ui("mailings").with_notice(notice),
            errors,
            live: m.status == "sending",
            m,
            audience,
            preview_for: preview_for.to_string(),
        },
    ))
}

#[derive(Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
    contact: Option<String>,
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> AdminResult {
    mailing_page(
        &app,
        &admin,
        id,
        StatusCode::OK,
        Vec::new(),
        q.notice.as_deref(),
        q.contact.as_deref().unwrap_or(""),
    )
    .await
}

/// The mail as a contact (`?contact=ADDRESS`, or a stand-in) would get it, for the preview
/// frame: sandboxed, no scripts, the mail's own inline styles allowed.
pub async fn preview(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> AdminResult {
    let contact = q
        .contact
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let body = match mailings::preview(&app, admin.org_id(), id, None, contact).await {
        Ok(r) => r.html,
        Err(ServiceError::NotFound(_) | ServiceError::Validation(_)) if contact.is_some() => {
            format!(
                "<p>{}</p>",
                admin.ui("mailings").tr("No contact with this address.")
            )
        }
        Err(e) => return Err(e.into()),
    };
    Ok(sandboxed(body))
}

async fn after_action(
    app: &App,
    admin: &Admin,
    id: i64,
    r: Result<(), ServiceError>,
    notice: &str,
) -> AdminResult {
    match r {
        Ok(()) => done(&format!("/admin/mailings/{id}"), notice),
        Err(e) => {
            let errors = field_errors(e)?;
            mailing_page(
                app,
                admin,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
                "",
            )
            .await
        }
    }
}

pub async fn test_send(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    let to: Vec<String> = p
        .form
        .get("to")
        .split([',', ' ', '\n', '\r', ';'])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let r = mailings::test_send(&app, p.admin.org_id(), id, &to)
        .await
        .map(|_| ());
    after_action(&app, &p.admin, id, r, "test_sent").await
}

#[derive(Template)]
#[template(path = "mailing_send.html")]
struct SendPage {
    ui: Ui,
    m: MailingView,
    audience: i64,
}

/// The confirmation before sending: it states how many contacts the mailing goes to.
pub async fn confirm_send(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> AdminResult {
    let m = mailings::view(&app, &mailings::get(&app, admin.org_id(), id).await?).await?;
    let audience = audience(&app, admin.org_id(), &m).await?;
    Ok(render(SendPage {
        ui: admin.ui("mailings"),
        m,
        audience,
    }))
}

pub async fn send(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    act_on(&app, id, p, "send").await
}

/// Pause, resume or cancel.
pub async fn act(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    p: Posted,
) -> AdminResult {
    act_on(&app, id, p, &action).await
}

async fn act_on(app: &App, id: i64, p: Posted, action: &str) -> AdminResult {
    let (action, notice) = match action {
        "send" => (Action::Send, "sent"),
        "pause" => (Action::Pause, "paused"),
        "resume" => (Action::Resume, "resumed"),
        "cancel" => (Action::Cancel, "cancelled"),
        _ => return Err(AdminError::NotFound),
    };
    let r = mailings::act(app, p.admin.org_id(), id, action)
        .await
        .map(|_| ());
    after_action(app, &p.admin, id, r, notice).await
}

pub async fn schedule(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    let ui = p.admin.ui("mailings");
    let at = ui
        .local_to_rfc3339(p.form.get("at"))
        .unwrap_or_else(|| p.form.get("at").to_string());
    let r = mailings::schedule(&app, p.admin.org_id(), id, &at)
        .await
        .map(|_| ());
    after_action(&app, &p.admin, id, r, "scheduled").await
}

#[derive(Template)]
#[template(path = "mailing_stats.html")]
struct StatsPage {
    ui: Ui,
    m: MailingView,
    s: MailingStats,
    chart: String,
    hours: Vec<String>,
}

pub async fn stats(State(app): State<App>, admin: Admin, Path(id): Path<i64>) -> AdminResult {
    let m = mailings::view(&app, &mailings::get(&app, admin.org_id(), id).await?).await?;
    let s = mailings::stats(&app, admin.org_id(), id).await?;
    let ui = admin.ui("mailings");
    let hours: Vec<String> = s.hourly.iter().map(|h| ui.rfc(&h.hour)).collect();
    let short: Vec<String> = hours
        .iter()
        .map(|h| h.get(5..).unwrap_or(h).to_string())
        .collect();
    let chart = charts::lines(
        ui.tr("Opens and clicks per hour"),
        &short,
        &[
            (ui.tr("opens"), s.hourly.iter().map(|h| h.opens).collect()),
            (ui.tr("clicks"), s.hourly.iter().map(|h| h.clicks).collect()),
            (
                ui.tr("bounces"),
                s.hourly.iter().map(|h| h.bounces).collect(),
            ),
        ],
    );
    Ok(render(StatsPage {
        ui,
        m,
        s,
        chart,
        hours,
    }))
}

/// The editor's live preview: the content being edited (not saved) as the chosen contact
/// would get it, for the preview frame. Template errors are shown in the frame.
pub async fn live_preview(State(app): State<App>, p: Posted) -> AdminResult<Response> {
    let f = &p.form;
    // A layout is shown with an example mailing in its slot.
    let mut html = f.get("html").to_string();
    if f.get("kind") == "layout" {
        let example = format!(
            "<p>{}</p>",
            p.admin
                .ui("mailings")
                .tr("The mailing's content goes here.")
        );
        html = html.replace(crate::mail::content::LAYOUT_SLOT, &example);
    }
    let draft = mailings::Draft {
        subject: f.get("subject").to_string(),
        html,
        text: f.opt("text").map(String::from),
        layout: f.opt("layout").map(String::from),
    };
    let ui = p.admin.ui("mailings");
    let body =
        match mailings::preview_draft(&app, p.admin.org_id(), &draft, f.opt("preview_contact"))
            .await
        {
            Ok(r) => r.html,
            Err(ServiceError::NotFound(_)) => {
                format!("<p>{}</p>", ui.tr("No contact with this address."))
            }
            Err(e) => {
                let lines: String = field_errors(e)?
                    .iter()
                    .map(|m| format!("<li>{}</li>", super::escape(m)))
                    .collect();
                format!(
                    "<p><strong>{}</strong></p><ul>{lines}</ul>",
                    ui.tr("Please correct:")
                )
            }
        };
    Ok(sandboxed(body))
}
