//! Mailings: drafts with content and audience, their lifecycle (draft → scheduled → sending ⇄
//! paused → sent, or cancelled), previews, test sends, the delivery log and statistics.
//! The API, the CLI and the admin UI all call these functions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::delivery::prepare;
use super::{OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::segment::{parse_date, Segment};
use crate::domain::validation::{required_text, text, Collector};
use crate::domain::{EmailAddress, FieldError, MailingStatus, ValidationError};
use crate::mail::content::tracked_links;
use crate::mail::template::{self, Rendered};
use crate::store::{ContactRow, DeliveryCounts, DeliveryRow, MailingContent, MailingRow};

pub const MAX_HTML: usize = 512 * 1024;
pub const MAX_TEXT: usize = 256 * 1024;
pub const MAX_LISTS: usize = 50;
pub const MAX_TEST_RECIPIENTS: usize = 10;

/// `POST /api/v1/mailings` and `PUT /api/v1/mailings/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailingInput {
    pub name: String,
    /// A template: `{{ contact.first_name }}` and the like work here too.
    pub subject: String,
    pub from_name: Option<String>,
    /// Defaults to the organisation's sender address.
    pub from_email: Option<String>,
    pub reply_to: Option<String>,
    /// The HTML template. Without `{{ links.unsubscribe }}` the default footer is added.
    pub html: String,
    /// The text part; derived from the HTML when absent.
    pub text: Option<String>,
    /// Keys of the opt-ins whose subscribers receive the mailing.
    pub lists: Vec<String>,
    /// A segment narrowing the audience (see docs/mailings.md).
    #[schema(value_type = Option<Object>)]
    pub segment: Option<Value>,
    /// Key of a layout template the HTML is put into.
    pub layout: Option<String>,
    /// Count opens (absent: the organisation's default, Settings → Tracking; on unless changed).
    pub track_opens: Option<bool>,
    /// Count clicks (absent: the organisation's default).
    pub track_clicks: Option<bool>,
    /// A note for the marketers (at most 500 characters).
    pub description: Option<String>,
    /// An owner code (at most 20 characters), as the MailingLijst API sets it.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailingView {
    pub id: i64,
    pub name: String,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_email: String,
    pub reply_to: Option<String>,
    pub html: String,
    pub text: Option<String>,
    pub lists: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub segment: Option<Value>,
    pub layout: Option<String>,
    pub track_opens: bool,
    pub track_clicks: bool,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// draft, scheduled, sending, paused, sent or cancelled.
    pub status: String,
    /// A scheduled mailing whose time passed while no server ran: it waits for `send` or a
    /// new `schedule`.
    pub held: bool,
    pub scheduled_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub created_at: String,
    /// Recipients by delivery state.
    pub counts: DeliveryCounts,
}

fn conflict(m: &MailingRow, action: &str) -> ServiceError {
    ServiceError::Conflict {
        field: "status",
        message: format!("mailing {} is {}: cannot {action} it", m.id, m.status),
    }
}

pub async fn get(app: &App, org_id: i64, id: i64) -> ServiceResult<MailingRow> {
    app.store.mailing(org_id, id).await.or_not_found("mailing")
}

pub async fn view(app: &App, m: &MailingRow) -> ServiceResult<MailingView> {
    let mut lists = Vec::new();
    for id in app.store.mailing_list_ids(m.org_id, m.id).await? {
        lists.push(app.store.list_by_id(m.org_id, id).await?.key);
    }
    let layout = match m.layout_id {
        Some(id) => Some(app.store.template_by_id(m.org_id, id).await?.key),
        None => None,
    };
    Ok(MailingView {
        id: m.id,
        name: m.name.clone(),
        subject: m.subject.clone(),
        from_name: m.from_name.clone(),
        from_email: m.from_email.clone(),
        reply_to: m.reply_to.clone(),
        html: m.html.clone(),
        text: m.text.clone(),
        lists,
        segment: m
            .segment
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        layout,
        track_opens: m.track_opens,
        track_clicks: m.track_clicks,
        description: m.description.clone(),
        owner: m.owner.clone(),
        status: m.status.clone(),
        held: m.held_at.is_some(),
        scheduled_at: m.scheduled_at.map(rfc3339),
        started_at: m.started_at.map(rfc3339),
        finished_at: m.finished_at.map(rfc3339),
        created_at: rfc3339(m.created_at),
        counts: app.store.delivery_counts(m.org_id, m.id).await?,
    })
}

/// Checks the template syntax of a mail's parts (subject, HTML, text; absent ones are
/// skipped): each error names its part, line and column.
pub(super) fn check_syntax(c: &mut Collector, parts: [(&'static str, Option<&str>); 3]) {
    for (part, src) in parts {
        if let Some(Err(e)) = src.map(|src| template::check(part, src)) {
            c.push(FieldError::new(part, "template_syntax", e.located()));
        }
    }
}

/// The id of the layout with key `key` (none when empty); an unknown key is an error in `c`.
async fn layout_id(
    app: &App,
    org_id: i64,
    key: Option<&str>,
    c: &mut Collector,
) -> ServiceResult<Option<i64>> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    Ok(
        match super::found(app.store.template_by_key(org_id, key).await)? {
            Some(t) if t.kind == "layout" => Some(t.id),
            _ => {
                c.push(FieldError::new(
                    "layout",
                    "unknown_layout",
                    "there is no layout with this key",
                ));
                None
            }
        },
    )
}

/// Checks a mailing's input against the organisation's lists, layouts and sender.
async fn validate(
    app: &App,
    org_id: i64,
    input: &MailingInput,
    source: &str,
) -> ServiceResult<MailingContent> {
    let mut c = Collector::default();
    let name = c.take(required_text("name", &input.name, 200));
    let subject = c.take(required_text("subject", &input.subject, 255));
    let from_name = c.take(text(
        "from_name",
        input.from_name.as_deref().unwrap_or(""),
        100,
    ));
    let org = app.store.org_by_id(org_id).await?;
    let from_email = match input.from_email.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(e) => c.take(EmailAddress::parse(e).map_err(|e| e.for_field("from_email"))),
        None => match org.sender_email.as_deref().map(EmailAddress::parse) {
            Some(Ok(e)) => Some(e),
            _ => {
                c.push(FieldError::new(
                    "from_email",
                    "required",
                    "give from_email or set the organisation's sender address",
                ));
                None
            }
        },
    };
    let reply_to = match input.reply_to.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(r) => c.take(EmailAddress::parse(r).map_err(|e| e.for_field("reply_to"))),
        None => None,
    };
    if input.html.trim().is_empty() {
        c.push(FieldError::new(
            "html",
            "required",
            "the mail's HTML is required",
        ));
    } else if input.html.len() > MAX_HTML {
        c.push(FieldError::new(
            "html",
            "too_long",
            "the HTML has at most 512 KiB",
        ));
    }
    if input.text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
        c.push(FieldError::new(
            "text",
            "too_long",
            "the text has at most 256 KiB",
        ));
    }
    check_syntax(
        &mut c,
        [
            ("subject", Some(input.subject.as_str())),
            ("html", Some(input.html.as_str())),
            ("text", input.text.as_deref()),
        ],
    );
    let mut list_ids = Vec::new();
    // A draft may have no audience yet (BODYPOST drafts); it needs one to be sent.
    if input.lists.len() > MAX_LISTS {
        c.push(FieldError::new(
            "lists",
            "invalid_lists",
            format!("a mailing goes to at most {MAX_LISTS} opt-ins"),
        ));
    }
    let description = c.take(text(
        "description",
        input.description.as_deref().unwrap_or(""),
        500,
    ));
    let owner = c.take(text("owner", input.owner.as_deref().unwrap_or(""), 20));
    for (i, key) in input.lists.iter().enumerate() {
        match super::found(app.store.list_by_key(org_id, key).await)? {
            // Consent to a partner's opt-in is consent to hear from the partner, not from the
            // organisation: it is handed to the partner, who mails it.
            Some(l) if l.partner_id.is_some() => c.push(FieldError::new(
                format!("lists[{i}]"),
                "partner_optin",
                "this opt-in belongs to a partner: its consents go to the partner, not into mailings",
            )),
            Some(l) if !list_ids.contains(&l.id) => list_ids.push(l.id),
            Some(_) => {}
            None => c.push(FieldError::new(
                format!("lists[{i}]"),
                "unknown_list",
                format!(
                    "there is no opt-in '{}'",
                    key.chars().take(64).collect::<String>()
                ),
            )),
        }
    }
    let segment = match &input.segment {
        Some(Value::Null) | None => None,
        Some(v) => c.take(Segment::parse(v)).map(|_| v.to_string()),
    };
    let layout_id = layout_id(app, org_id, input.layout.as_deref(), &mut c).await?;
    c.finish()?;
    let (Some(name), Some(subject), Some(from_email)) = (name, subject, from_email) else {
        return Err(ValidationError::single("name", "required", "missing").into());
    };
    Ok(MailingContent {
        name,
        subject,
        from_name: from_name.flatten(),
        from_email: from_email.to_string(),
        reply_to: reply_to.map(|r| r.to_string()),
        html: input.html.clone(),
        text: input.text.clone().filter(|t| !t.trim().is_empty()),
        layout_id,
        segment,
        track_opens: input.track_opens.unwrap_or(org.track_opens),
        track_clicks: input.track_clicks.unwrap_or(org.track_clicks),
        description: description.flatten(),
        owner: owner.flatten(),
        list_ids,
        source: source.into(),
    })
}

pub async fn create(
    app: &App,
    org_id: i64,
    input: &MailingInput,
    source: &str,
) -> ServiceResult<MailingView> {
    let content = validate(app, org_id, input, source).await?;
    let m = app
        .store
        .insert_mailing(org_id, &content, app.now())
        .await?;
    view(app, &m).await
}

/// Replaces a draft's (or a scheduled mailing's) content and audience.
pub async fn update(
    app: &App,
    org_id: i64,
    id: i64,
    input: &MailingInput,
) -> ServiceResult<MailingView> {
    let m = get(app, org_id, id).await?;
    if !m.status().editable() {
        return Err(conflict(&m, "change"));
    }
    let content = validate(app, org_id, input, &m.source).await?;
    match app
        .store
        .update_mailing(org_id, id, &content, app.now())
        .await
    {
        Ok(m) => view(app, &m).await,
        // It started sending in between.
        Err(crate::store::StoreError::NotFound) => {
            Err(conflict(&get(app, org_id, id).await?, "change"))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    app: &App,
    org_id: i64,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> ServiceResult<Vec<MailingView>> {
    let status = match status {
        Some(s) => Some(MailingStatus::parse(s).ok_or_else(|| {
            ValidationError::single(
                "status",
                "invalid_status",
                "draft, scheduled, sending, paused, sent or cancelled",
            )
        })?),
        None => None,
    };
    let mut out = Vec::new();
    for m in app
        .store
        .mailings(org_id, status, limit.clamp(1, 200), offset.max(0))
        .await?
    {
        out.push(view(app, &m).await?);
    }
    Ok(out)
}

/// Freezes the tracked links and starts sending (from draft or scheduled).
pub async fn start(app: &App, m: &MailingRow) -> ServiceResult<bool> {
    let links = tracked_links(&super::delivery::assembled_html(app, m).await?);
    Ok(app
        .store
        .start_mailing(m.org_id, m.id, &links, app.now())
        .await?)
}

/// The lifecycle actions of the API and CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    Pause,
    Resume,
    Cancel,
}

pub async fn act(app: &App, org_id: i64, id: i64, action: Action) -> ServiceResult<MailingView> {
    let m = get(app, org_id, id).await?;
    let (from, to, verb): (&[MailingStatus], MailingStatus, &str) = match action {
        Action::Send => (
            &[MailingStatus::Draft, MailingStatus::Scheduled],
            MailingStatus::Sending,
            "send",
        ),
        Action::Pause => (&[MailingStatus::Sending], MailingStatus::Paused, "pause"),
        Action::Resume => (&[MailingStatus::Paused], MailingStatus::Sending, "resume"),
        Action::Cancel => (
            &[
                MailingStatus::Draft,
                MailingStatus::Scheduled,
                MailingStatus::Sending,
                MailingStatus::Paused,
            ],
            MailingStatus::Cancelled,
            "cancel",
        ),
    };
    if !from.contains(&m.status()) {
        return Err(conflict(&m, verb));
    }
    if action == Action::Send {
        has_audience(app, &m).await?;
    }
    let moved = if action == Action::Send {
        start(app, &m).await?
    } else {
        app.store
            .transition_mailing(org_id, id, from, to, None, app.now())
            .await?
    };
    let now = get(app, org_id, id).await?;
    if !moved {
        return Err(conflict(&now, verb));
    }
    tracing::info!(mailing = id, action = verb, "mailing {}", now.status);
    view(app, &now).await
}

/// A mailing is sent or scheduled only with at least one opt-in to go to.
async fn has_audience(app: &App, m: &MailingRow) -> ServiceResult<()> {
    if app.store.mailing_list_ids(m.org_id, m.id).await?.is_empty() {
        return Err(ValidationError::single(
            "lists",
            "no_lists",
            "add at least one opt-in (lists) before the mailing is sent or scheduled",
        )
        .into());
    }
    Ok(())
}

/// Schedules a draft (or moves a scheduled or held mailing) to `at` (RFC 3339, in the future).
pub async fn schedule(app: &App, org_id: i64, id: i64, at: &str) -> ServiceResult<MailingView> {
    let when = parse_date(at).ok_or_else(|| {
        ValidationError::single(
            "at",
            "invalid_time",
            "an RFC 3339 time such as 2026-12-01T19:00:00Z",
        )
    })?;
    if when <= app.now() {
        return Err(
            ValidationError::single("at", "in_the_past", "the time must be in the future").into(),
        );
    }
    let m = get(app, org_id, id).await?;
    has_audience(app, &m).await?;
    let from = [MailingStatus::Draft, MailingStatus::Scheduled];
    if !from.contains(&m.status())
        || !app
            .store
            .transition_mailing(
                org_id,
                id,
                &from,
                MailingStatus::Scheduled,
                Some(when),
                app.now(),
            )
            .await?
    {
        return Err(conflict(&m, "schedule"));
    }
    view(app, &get(app, org_id, id).await?).await
}

/// A stand-in recipient for previews and test sends to addresses that are not contacts.
pub(crate) fn sample_contact(org_id: i64, email: &str) -> ContactRow {
    ContactRow {
        org_id,
        id: 0,
        guid: "preview".into(),
        email: email.into(),
        external_id: None,
        first_name: Some("Alex".into()),
        name_prefix: None,
        last_name: Some("Example".into()),
        organisation: None,
        gender: 105,
        street: None,
        house_number: None,
        zipcode: None,
        city: None,
        country: None,
        mobile: None,
        phone: None,
        mail_format: "html".into(),
        active: true,
        language: None,
        source: None,
        import_code: None,
        sync_id: None,
        attributes: "{}".into(),
        score: 0,
        created_at: 0,
        updated_at: 0,
    }
}

/// The contact a preview is for: by id or address, a stand-in when neither.
async fn preview_contact(
    app: &App,
    org_id: i64,
    contact_id: Option<i64>,
    email: Option<&str>,
) -> ServiceResult<ContactRow> {
    Ok(match (contact_id, email) {
        (Some(c), _) => app
            .store
            .contact_by_id(org_id, c)
            .await
            .or_not_found("contact")?,
        (None, Some(e)) => {
            let e = EmailAddress::parse(e).map_err(|e| e.for_field("email"))?;
            app.store
                .contact_by_email(org_id, &e)
                .await
                .or_not_found("contact")?
        }
        (None, None) => sample_contact(org_id, "alex@example.com"),
    })
}

/// Renders a mailing row (saved, or a draft not saved yet) for one contact, as sent.
async fn render_for(app: &App, m: &MailingRow, contact: &ContactRow) -> ServiceResult<Rendered> {
    let p = prepare(app, m).await?;
    let records = p.records(app, contact).await?;
    p.render(contact, &records, 0, false)
        .map_err(|e| ValidationError::single("html", "render_failed", e).into())
}

/// The mail as one contact (by id or address; a stand-in when neither) would get it.
pub async fn preview(
    app: &App,
    org_id: i64,
    id: i64,
    contact_id: Option<i64>,
    email: Option<&str>,
) -> ServiceResult<Rendered> {
    let m = get(app, org_id, id).await?;
    let contact = preview_contact(app, org_id, contact_id, email).await?;
    render_for(app, &m, &contact).await
}

/// Content being edited, not saved: what the editor's live preview renders.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    /// The key of a layout to put the HTML in.
    pub layout: Option<String>,
}

/// A draft as one contact would get it; a template error is a validation error with its
/// line and column, as saving would report it. Nothing is written.
pub async fn preview_draft(
    app: &App,
    org_id: i64,
    draft: &Draft,
    email: Option<&str>,
) -> ServiceResult<Rendered> {
    let mut c = Collector::default();
    let parts = [
        ("subject", Some(draft.subject.as_str())),
        ("html", Some(draft.html.as_str())),
        ("text", draft.text.as_deref()),
    ];
    for (part, _) in parts
        .iter()
        .filter(|(_, src)| src.is_some_and(|s| s.len() > MAX_HTML))
    {
        c.push(FieldError::new(*part, "too_long", "at most 512 KiB"));
    }
    // A part too long is not read further.
    check_syntax(
        &mut c,
        parts.map(|(part, src)| (part, src.filter(|s| s.len() <= MAX_HTML))),
    );
    let layout_id = layout_id(app, org_id, draft.layout.as_deref(), &mut c).await?;
    c.finish()?;
    let contact = preview_contact(app, org_id, None, email).await?;
    let now = app.now();
    let m = MailingRow {
        org_id,
        id: 0,
        name: String::new(),
        subject: draft.subject.clone(),
        from_name: None,
        from_email: String::new(),
        reply_to: None,
        html: draft.html.clone(),
        text: draft.text.clone().filter(|t| !t.trim().is_empty()),
        layout_id,
        segment: None,
        track_opens: false,
        track_clicks: false,
        description: None,
        owner: None,
        status: MailingStatus::Draft.as_str().into(),
        scheduled_at: None,
        held_at: None,
        started_at: None,
        finished_at: None,
        plan_cursor: 0,
        planned: false,
        source: "preview".into(),
        created_at: now,
        updated_at: now,
    };
    render_for(app, &m, &contact).await
}

/// Sends the mailing now to up to ten named addresses, marked as a test and counted nowhere.
pub async fn test_send(app: &App, org_id: i64, id: i64, to: &[String]) -> ServiceResult<usize> {
    if to.is_empty() || to.len() > MAX_TEST_RECIPIENTS {
        return Err(ValidationError::single(
            "to",
            "invalid_recipients",
            format!("1 to {MAX_TEST_RECIPIENTS} addresses"),
        )
        .into());
    }
    let mut c = Collector::default();
    let addresses: Vec<EmailAddress> = to
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            c.take(EmailAddress::parse(a).map_err(|e| e.for_field(&format!("to[{i}]"))))
        })
        .collect();
    c.finish()?;
    let m = get(app, org_id, id).await?;
    let p = prepare(app, &m).await?;
    for a in &addresses {
        let contact = match super::found(app.store.contact_by_email(org_id, a).await)? {
            Some(c) => c,
            None => sample_contact(org_id, a.as_str()),
        };
        let records = p.records(app, &contact).await?;
        let mut msg = p
            .outgoing(app, &contact, &records, 0, false)
            .map_err(|e| ValidationError::single("html", "render_failed", e))?;
        msg.subject = format!("[TEST] {}", msg.subject);
        msg.headers.push(("X-Handbill-Test".into(), "yes".into()));
        super::mail::queue_mail(app, Some(org_id), &msg).await?;
    }
    Ok(addresses.len())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub mailing_id: Option<i64>,
    /// None once the contact is erased.
    pub contact_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub message_id: Option<String>,
    pub smtp_response: Option<String>,
    pub sent_at: Option<String>,
    pub updated_at: String,
}

fn delivery_view(d: DeliveryRow) -> DeliveryView {
    DeliveryView {
        id: d.id,
        mailing_id: d.mailing_id,
        contact_id: d.contact_id,
        status: d.status,
        attempts: d.attempts,
        message_id: d.message_id,
        smtp_response: d.smtp_response,
        sent_at: d.sent_at.map(rfc3339),
        updated_at: rfc3339(d.updated_at),
    }
}

/// The delivery log of a mailing (or, with `contact`, of one contact), in pages.
pub async fn deliveries(
    app: &App,
    org_id: i64,
    mailing_id: Option<i64>,
    contact_id: Option<i64>,
    after: i64,
    limit: i64,
) -> ServiceResult<Vec<DeliveryView>> {
    if let Some(id) = mailing_id {
        get(app, org_id, id).await?;
    }
    let rows = app
        .store
        .deliveries(
            org_id,
            mailing_id,
            contact_id,
            after.max(0),
            limit.clamp(1, 1000),
        )
        .await?;
    Ok(rows.into_iter().map(delivery_view).collect())
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct LinkStats {
    pub url: String,
    pub clicks: i64,
    pub unique_clicks: i64,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct HourStats {
    pub hour: String,
    pub sent: i64,
    pub opens: i64,
    pub clicks: i64,
    pub bounces: i64,
    pub unsubscribes: i64,
    pub complaints: i64,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct MailingStats {
    pub mailing_id: i64,
    pub status: String,
    /// Everyone the mailing was planned for.
    pub recipients: i64,
    pub sent: i64,
    pub bounced: i64,
    pub hard_bounces: i64,
    pub soft_bounces: i64,
    pub skipped: i64,
    pub uncertain: i64,
    pub opens: i64,
    pub unique_opens: i64,
    pub clicks: i64,
    pub unique_clicks: i64,
    pub unsubscribes: i64,
    pub complaints: i64,
    /// Opens and clicks by security scanners: recorded, not counted above.
    pub scanner_opens: i64,
    pub scanner_clicks: i64,
    pub links: Vec<LinkStats>,
    pub hourly: Vec<HourStats>,
}

pub async fn stats(app: &App, org_id: i64, id: i64) -> ServiceResult<MailingStats> {
    let m = get(app, org_id, id).await?;
    let counts = app.store.delivery_counts(org_id, id).await?;
    let mut s = MailingStats {
        mailing_id: id,
        status: m.status.clone(),
        recipients: counts.total(),
        sent: counts.sent,
        bounced: counts.bounced,
        skipped: counts.skipped,
        uncertain: counts.uncertain,
        ..Default::default()
    };
    for (kind, total, unique) in app.store.event_counts(org_id, id).await? {
        match kind.as_str() {
            "open" => (s.opens, s.unique_opens) = (total, unique),
            "click" => (s.clicks, s.unique_clicks) = (total, unique),
            "bounce_hard" => s.hard_bounces = unique,
            "bounce_soft" => s.soft_bounces = unique,
            "unsubscribe" => s.unsubscribes = unique,
            "complaint" => s.complaints = unique,
            _ => {}
        }
    }
    for (kind, n) in app.store.flagged_counts(org_id, id).await? {
        match kind.as_str() {
            "open" => s.scanner_opens = n,
            "click" => s.scanner_clicks = n,
            _ => {}
        }
    }
    let urls = app.store.mailing_links(org_id, id).await?;
    let clicks = app.store.link_clicks(org_id, id).await?;
    s.links = urls
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let (c, u) = clicks
                .iter()
                .find(|(idx, _, _)| *idx == i as i64)
                .map(|(_, c, u)| (*c, *u))
                .unwrap_or_default();
            LinkStats {
                url,
                clicks: c,
                unique_clicks: u,
            }
        })
        .collect();
    for (hour, kind, n) in app.store.hourly_series(org_id, id).await? {
        let h = rfc3339(hour);
        if s.hourly.last().is_none_or(|l| l.hour != h) {
            s.hourly.push(HourStats {
                hour: h,
                ..Default::default()
            });
        }
        let e = s.hourly.last_mut().expect("pushed above");
        match kind.as_str() {
            "sent" => e.sent += n,
            "open" => e.opens += n,
            "click" => e.clicks += n,
            "bounce_hard" | "bounce_soft" => e.bounces += n,
            "unsubscribe" => e.unsubscribes += n,
            "complaint" => e.complaints += n,
            _ => {}
        }
    }
    Ok(s)
}
