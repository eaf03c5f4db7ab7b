//! Reusable templates: layouts (a mailing's HTML goes where the layout says `{{ content }}`)
//! and transactional templates (order confirmations and the like, sent one at a time through
//! `POST /api/v1/tx`, outside the consent rules but recorded in the delivery log).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::contacts::find_or_create;
use super::delivery::{is_mailbox_failure, provider_headers};
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::contact::ContactInput;
use crate::domain::validation::{required_text, Collector};
use crate::domain::{DeliveryStatus, EmailAddress, EventKind, FieldError, ListKey};
use crate::mail::content::LAYOUT_SLOT;
use crate::mail::template::Compiled;
use crate::mail::{compose, ComposedMessage, Mailbox, OutgoingMessage, SendError};
use crate::store::{NewTemplate, Outcome, TemplateRow};

/// Job kind: send one transactional message.
pub const TX_JOB: &str = "mail.tx";
const TX_MAX_ATTEMPTS: i64 = 8;
const MAX_DATA_BYTES: usize = 64 * 1024;

/// `POST /api/v1/templates` and `PUT /api/v1/templates/{key}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Ignored by PUT (a key never changes).
    pub key: Option<String>,
    /// `layout` or `transactional`.
    pub kind: Option<String>,
    pub name: String,
    /// Required for transactional templates.
    pub subject: Option<String>,
    pub html: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub subject: Option<String>,
    pub html: String,
    pub text: Option<String>,
    pub updated_at: String,
}

fn view(t: TemplateRow) -> TemplateView {
    TemplateView {
        key: t.key,
        kind: t.kind,
        name: t.name,
        subject: t.subject,
        html: t.html,
        text: t.text,
        updated_at: rfc3339(t.updated_at),
    }
}

fn validate(
    kind: &str,
    input: &TemplateInput,
) -> Result<NewTemplate, crate::domain::ValidationError> {
    let mut c = Collector::default();
    let name = c.take(required_text("name", &input.name, 200));
    if !matches!(kind, "layout" | "transactional") {
        c.push(FieldError::new(
            "kind",
            "invalid_kind",
            "layout or transactional",
        ));
    }
    let subject = input.subject.clone().filter(|s| !s.trim().is_empty());
    if kind == "transactional" && subject.is_none() {
        c.push(FieldError::new(
            "subject",
            "required",
            "a transactional template needs a subject",
        ));
    }
    if input.html.trim().is_empty() || input.html.len() > super::mailings::MAX_HTML {
        c.push(FieldError::new(
            "html",
            "invalid_html",
            "1 byte to 512 KiB of HTML",
        ));
    }
    if kind == "layout" && input.html.matches(LAYOUT_SLOT).count() != 1 {
        c.push(FieldError::new(
            "html",
            "layout_slot_missing",
            format!("a layout contains {LAYOUT_SLOT} exactly once"),
        ));
    }
    super::mailings::check_syntax(
        &mut c,
        [
            ("subject", subject.as_deref()),
            ("html", Some(input.html.as_str())),
            ("text", input.text.as_deref()),
        ],
    );
    c.finish()?;
    Ok(NewTemplate {
        key: String::new(),
        kind: kind.into(),
        name: name.unwrap_or_default(),
        subject,
        html: input.html.clone(),
        text: input.text.clone().filter(|t| !t.trim().is_empty()),
    })
}

pub async fn create(app: &App, org_id: i64, input: &TemplateInput) -> ServiceResult<TemplateView> {
    let key = ListKey::parse(input.key.as_deref().unwrap_or(""))?;
    let mut t = validate(input.kind.as_deref().unwrap_or(""), input)?;
    t.key = key.as_str().into();
    match app.store.insert_template(org_id, &t, app.now()).await {
        Ok(row) => Ok(view(row)),
        Err(e) if e.is_conflict_on("key") || e.is_conflict_on("templates") => {
            Err(ServiceError::Conflict {
                field: "key",
                message: "a template with this key exists".into(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update(
    app: &App,
    org_id: i64,
    key: &str,
    input: &TemplateInput,
) -> ServiceResult<TemplateView> {
    let old = app
        .store
        .template_by_key(org_id, key)
        .await
        .or_not_found("template")?;
    let t = validate(&old.kind, input)?;
    Ok(view(
        app.store
            .update_template(org_id, key, &t, app.now())
            .await?,
    ))
}

pub async fn get(app: &App, org_id: i64, key: &str) -> ServiceResult<TemplateView> {
    Ok(view(
        app.store
            .template_by_key(org_id, key)
            .await
            .or_not_found("template")?,
    ))
}

pub async fn all(app: &App, org_id: i64) -> ServiceResult<Vec<TemplateView>> {
    Ok(app
        .store
        .templates(org_id)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// `POST /api/v1/tx`: one transactional mail to one address, now.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxRequest {
    /// Key of a transactional template.
    pub template: String,
    /// The recipient; a contact is created when the address is new (without any subscription).
    pub to: String,
    /// Values for the template, as `{{ data.order_number }}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TxAccepted {
    pub delivery_id: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct TxJob {
    delivery_id: i64,
    message: ComposedMessage,
}

pub async fn send_tx(app: &App, org_id: i64, req: &TxRequest) -> ServiceResult<TxAccepted> {
    let mut c = Collector::default();
    let to = c.take(EmailAddress::parse(&req.to).map_err(|e| e.for_field("to")));
    let data = Value::Object(req.data.clone().unwrap_or_default());
    if data.to_string().len() > MAX_DATA_BYTES {
        c.push(FieldError::new(
            "data",
            "too_large",
            "data takes at most 64 KiB",
        ));
    }
    let t = match found(app.store.template_by_key(org_id, &req.template).await)? {
        Some(t) if t.kind == "transactional" => Some(t),
        _ => {
            c.push(FieldError::new(
                "template",
                "unknown_template",
                "there is no transactional template with this key",
            ));
            None
        }
    };
    let org = app.store.org_by_id(org_id).await?;
    let from = match org.sender_email.as_deref().map(EmailAddress::parse) {
        Some(Ok(e)) => Some(e),
        _ => {
            c.push(FieldError::new(
                "from",
                "no_sender",
                "set the organisation's sender address first",
            ));
            None
        }
    };
    c.finish()?;
    let (Some(to), Some(t), Some(from)) = (to, t, from) else {
        return Err(ServiceError::Internal("validated above".into()));
    };
    let (contact, _) = find_or_create(app, org_id, &to, &ContactInput::default()).await?;
    let ctx = minijinja::context! {
        contact => super::template_vars::contact(&contact),
        org => minijinja::context! { name => org.name.as_str() },
        data => minijinja::Value::from_serialize(data),
    };
    let rendered = Compiled::new(
        t.subject.as_deref().unwrap_or(""),
        &t.html,
        t.text.as_deref(),
    )
    .map_err(|e| e.to_string())
    .and_then(|c| c.render(&ctx))
    .map_err(|e| crate::domain::ValidationError::single("data", "render_failed", e))?;
    let delivery_id = queue_rendered(
        app,
        &org,
        &t,
        &contact,
        OneMessage {
            from,
            to,
            rendered,
            list_unsubscribe: None,
            track_clicks: false,
            automation_id: None,
        },
    )
    .await?;
    Ok(TxAccepted { delivery_id })
}

/// A rendered message for one contact, before it gets its delivery row.
pub struct OneMessage {
    pub from: EmailAddress,
    pub to: EmailAddress,
    pub rendered: crate::mail::template::Rendered,
    pub list_unsubscribe: Option<crate::mail::ListUnsubscribe>,
    /// Send the http(s) links of the HTML (but our own) through click tracking.
    pub track_clicks: bool,
    /// The automation the message belongs to (the activity log names it).
    pub automation_id: Option<i64>,
}

/// The HTML with every http(s) link that is not one of ours going through `/t/u/…`, which
/// records the click on the delivery and redirects (the target is signed into the link).
fn tracked_html(html: &str, key: &[u8], base: &str, org_id: i64, delivery_id: i64) -> String {
    crate::mail::content::rewrite_hrefs(html, |href| {
        let lower = href.trim().to_ascii_lowercase();
        let external = (lower.starts_with("https://") || lower.starts_with("http://"))
            && !href.starts_with(base);
        external.then(|| {
            format!(
                "{base}/t/u/{}",
                super::links::sign_url(key, org_id, delivery_id, href.trim())
            )
        })
    })
}

/// Queues one rendered message of template `t` to a contact: a delivery row (the log, the
/// bounce address) and the job that sends it, in one transaction. A message that cannot be
/// composed is refused before anything is written.
pub async fn queue_rendered(
    app: &App,
    org: &crate::store::Org,
    t: &TemplateRow,
    contact: &crate::store::ContactRow,
    m: OneMessage,
) -> ServiceResult<i64> {
    let host = app.config.mail_hostname();
    let key = super::links::signing_key(app).await?;
    let now = app.now();
    let org_id = org.id;
    let base = app.config.public_url();
    let message = |delivery_id: i64| -> Result<ComposedMessage, String> {
        let verp = super::links::verp_local(&key, org_id, delivery_id);
        let mut headers = vec![(
            "Feedback-ID".to_string(),
            format!("tx-{}:{}:handbill", t.key, org.slug),
        )];
        headers.extend(provider_headers(app.config.mail_provider.as_deref(), &verp));
        let msg = OutgoingMessage {
            from: Mailbox::new(org.sender_name.as_deref(), m.from.clone()),
            to: Mailbox::new(None, m.to.clone()),
            reply_to: None,
            return_path: EmailAddress::parse(&format!("{verp}@{}", app.config.bounce_domain()))
                .ok(),
            subject: m.rendered.subject.clone(),
            text: m.rendered.text.clone(),
            html: Some(if m.track_clicks {
                tracked_html(&m.rendered.html, &key, &base, org_id, delivery_id)
            } else {
                m.rendered.html.clone()
            }),
            list_unsubscribe: m.list_unsubscribe.clone(),
            headers: headers.clone(),
        };
        compose(&msg, &host, now).map_err(|e| e.to_string())
    };
    // Whatever can be wrong with the message shows here, before anything is written.
    message(0).map_err(|e| crate::domain::ValidationError::single("data", "invalid_message", e))?;
    Ok(app
        .store
        .queue_tx_message(
            org_id,
            (t.id, m.automation_id),
            contact.id,
            TX_JOB,
            TX_MAX_ATTEMPTS,
            now,
            |id| {
                let job = TxJob {
                    delivery_id: id,
                    message: message(id)?,
                };
                serde_json::to_string(&job).map_err(|e| e.to_string())
            },
        )
        .await?)
}

/// Runs a transactional send job: Ok when finished (sent or given up, recorded in the
/// delivery log), Err for a temporary failure the job queue retries.
pub async fn run_tx_job(
    app: &App,
    org_id: i64,
    payload: &str,
    last_attempt: bool,
) -> Result<(), SendError> {
    let job: TxJob = serde_json::from_str(payload)
        .map_err(|e| SendError::Permanent(format!("bad payload: {e}")))?;
    let result = super::mail::deliver(app, Some(org_id), &job.message).await;
    let mut o = Outcome {
        message_id: Some(job.message.message_id.clone()),
        ..Outcome::new(job.delivery_id, DeliveryStatus::Sent, None)
    };
    match &result {
        Ok(answer) => o.smtp_response = Some(answer.clone()),
        Err(SendError::Transient(e)) if !last_attempt => {
            tracing::warn!(delivery = job.delivery_id, error = %e, "transactional mail deferred");
            return Err(SendError::Transient(e.clone()));
        }
        Err(SendError::Transient(e) | SendError::Permanent(e)) => {
            o.status = DeliveryStatus::Bounced;
            o.smtp_response = Some(e.clone());
            o.event = Some((
                if is_mailbox_failure(e) {
                    EventKind::BounceHard
                } else {
                    EventKind::BounceSoft
                },
                None,
            ));
        }
    }
    app.store
        .record_outcomes(org_id, None, &[o], app.now())
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?;
    Ok(())
}
