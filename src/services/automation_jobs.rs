//! What automation steps hand to the job queue, and the jobs themselves: e-mails (rendered
//! with the contact, the automation fields and product blocks), SMS through the
//! organisation's gateway, and HTTP requests to outside systems. Each job checks again that
//! its participation still runs, and marketing messages that consent still holds; SMS and
//! HTTP outcomes are written into the step log.

use std::collections::BTreeMap;

use minijinja::Value as JinjaValue;
use serde::{Deserialize, Serialize};

use super::automation_engine::consent_refusal;
use super::templates::{queue_rendered, OneMessage};
use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::automation::{rewrite_placeholders, AutomationField, FieldType};
use crate::domain::automation_steps::Step;
use crate::domain::EmailAddress;
use crate::mail::template::{render_text, Compiled};
use crate::mail::{ListUnsubscribe, SendError};
use crate::store::{AutomationRow, ContactRow, Org, ParticipationRow, StoreError};

/// Job kind: send the e-mail of one automation step.
pub const EMAIL_JOB: &str = "automation.email";
/// Job kind: send the text message of one automation step.
pub const SMS_JOB: &str = "automation.sms";
/// Job kind: make the HTTP request of one automation step.
pub const HTTP_JOB: &str = "automation.http";

/// The payload of every step job: which step of which participation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepJob {
    pub participation_id: i64,
    pub step: i64,
}

const PRODUCT_BLOCK_HTML: &str = r#"<table role="presentation" cellpadding="0" cellspacing="0" style="width:100%;border-collapse:collapse">{% for p in products %}<tr><td style="padding:8px 12px 8px 0;width:96px;vertical-align:top">{% if p.image_url %}<img src="{{ p.image_url }}" alt="" width="96" style="display:block;max-width:96px">{% endif %}</td><td style="padding:8px 0;vertical-align:top">{% if p.url %}<a href="{{ p.url }}"><strong>{{ p.title }}</strong></a>{% else %}<strong>{{ p.title }}</strong>{% endif %}{% if p.price %}<br>{{ p.price }}{% endif %}{% if p.review_url %}<br><a href="{{ p.review_url }}">{{ review }}</a>{% endif %}</td></tr>{% endfor %}</table>"#;
const PRODUCT_BLOCK_TEXT: &str = "{% for p in products %}- {{ p.title }}{% if p.price %} ({{ p.price }}){% endif %}{% if p.url %}: {{ p.url }}{% endif %}{% if p.review_url %}\n  {{ review }}: {{ p.review_url }}{% endif %}\n{% endfor %}";

/// A product list as (HTML block, text block); ids not in the catalogue are skipped.
async fn product_block(
    app: &App,
    org_id: i64,
    ids: &[String],
    lang: crate::domain::Language,
) -> ServiceResult<(String, String)> {
    let rows = app.store.products_by_external_ids(org_id, ids).await?;
    let mut products = Vec::new();
    for id in ids {
        match rows.iter().find(|p| &p.external_id == id) {
            Some(p) => products.push(minijinja::context! {
                title => p.title, url => p.url, image_url => p.image_url, price => p.price,
                review_url => p.review_url,
            }),
            None => {
                tracing::warn!(org = org_id, product = %id, "product list: unknown product skipped")
            }
        }
    }
    let review = match lang {
        crate::domain::Language::Nl => "Schrijf een review",
        crate::domain::Language::De => "Bewertung schreiben",
        crate::domain::Language::Fr => "Donner votre avis",
        crate::domain::Language::En => "Write a review",
    };
    let r = Compiled::new("", PRODUCT_BLOCK_HTML, Some(PRODUCT_BLOCK_TEXT))
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .render(&minijinja::context! { products => products, review => review })
        .map_err(ServiceError::Internal)?;
    Ok((r.html, r.text))
}

/// The automation fields for templates: `automationfield` (HTML) and `automationfield_text`.
async fn field_values(
    app: &App,
    org_id: i64,
    fields: &[AutomationField],
    lang: crate::domain::Language,
) -> ServiceResult<(JinjaValue, JinjaValue)> {
    let mut html = BTreeMap::new();
    let mut text = BTreeMap::new();
    for f in fields {
        if f.kind == FieldType::ProductList.as_str() {
            let (h, t) = product_block(app, org_id, &f.values, lang).await?;
            html.insert(f.name.clone(), JinjaValue::from_safe_string(h));
            text.insert(f.name.clone(), JinjaValue::from(t));
        } else {
            let v = f.values.join(", ");
            html.insert(f.name.clone(), JinjaValue::from(v.clone()));
            text.insert(f.name.clone(), JinjaValue::from(v));
        }
    }
    Ok((JinjaValue::from(html), JinjaValue::from(text)))
}

/// Everything a step job needs; None when there is nothing to do any more (the participation
/// was stopped, the contact erased).
struct Loaded {
    p: ParticipationRow,
    automation: AutomationRow,
    step: Step,
    step_index: i64,
    contact: ContactRow,
    org: Org,
    fields: Vec<AutomationField>,
}

async fn load(app: &App, org_id: i64, job: &StepJob) -> Result<Option<Loaded>, SendError> {
    let p = match app.store.participation(org_id, job.participation_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(SendError::transient(e)),
    };
    if p.status == "stopped" {
        tracing::info!(
            participation = p.id,
            "automation step dropped: participation stopped"
        );
        return Ok(None);
    }
    let Some(contact_id) = p.contact_id else {
        return Ok(None);
    };
    let contact = match app.store.contact_by_id(org_id, contact_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(SendError::transient(e)),
    };
    let automation = app
        .store
        .automation_by_id(org_id, p.automation_id)
        .await
        .map_err(SendError::transient)?;
    let steps: Vec<Step> = app
        .store
        .automation_version_steps(org_id, p.automation_id, p.version)
        .await
        .map_err(SendError::transient)
        .and_then(|s| serde_json::from_str(&s).map_err(|e| SendError::Permanent(e.to_string())))?;
    let step = steps
        .get(job.step as usize)
        .cloned()
        .ok_or_else(|| SendError::Permanent("the step is gone".into()))?;
    let org = app
        .store
        .org_by_id(org_id)
        .await
        .map_err(SendError::transient)?;
    let fields: Vec<AutomationField> = serde_json::from_str(&p.fields).unwrap_or_default();
    Ok(Some(Loaded {
        p,
        automation,
        step,
        step_index: job.step,
        contact,
        org,
        fields,
    }))
}

/// Why a marketing message may no longer go out (checked again when the job runs).
async fn refused_now(app: &App, l: &Loaded, marketing: bool) -> Result<bool, SendError> {
    if !marketing {
        return Ok(false);
    }
    match consent_refusal(app, &l.automation, &l.contact)
        .await
        .map_err(SendError::transient)?
    {
        Some(why) => {
            tracing::info!(participation = l.p.id, reason = %why, "automation message skipped at send time");
            settle(app, l, "skipped", &why).await;
            Ok(true)
        }
        None => Ok(false),
    }
}

async fn settle(app: &App, l: &Loaded, outcome: &str, detail: &str) {
    if let Err(e) = app
        .store
        .settle_step_log(l.org.id, l.p.id, l.step_index, outcome, detail)
        .await
    {
        tracing::error!(error = %e, "could not record a step outcome");
    }
}

/// The variables of SMS texts and HTTP requests: the contact, the organisation and the
/// automation fields (their text form).
async fn text_context(app: &App, l: &Loaded) -> Result<JinjaValue, SendError> {
    let lang = super::optins::contact_language(&l.contact, &l.org);
    let (_, text_fields) = field_values(app, l.org.id, &l.fields, lang)
        .await
        .map_err(SendError::transient)?;
    Ok(minijinja::context! {
        contact => super::template_vars::contact(&l.contact),
        org => minijinja::context! { name => l.org.name.as_str() },
        automationfield => text_fields,
    })
}

fn render(src: &str, ctx: &JinjaValue) -> Result<String, SendError> {
    render_text(&rewrite_placeholders(src, "automationfield"), ctx).map_err(SendError::Permanent)
}

/// Claims the step's request (see [`crate::store::Store::begin_step_request`]): false when
/// it went out already, or may have.
async fn begin(app: &App, l: &Loaded) -> Result<bool, SendError> {
    app.store
        .begin_step_request(l.org.id, l.p.id, l.step_index)
        .await
        .map_err(SendError::transient)
}

/// Records a job's final outcome in the step log and passes a retryable failure on while
/// attempts are left.
async fn finish(
    app: &App,
    l: &Loaded,
    result: Result<super::outbound::Answer, SendError>,
    last_attempt: bool,
) -> Result<(), SendError> {
    match result {
        Ok(answer) => {
            settle(app, l, "sent", &answer.summary()).await;
            Ok(())
        }
        Err(SendError::Transient(e)) if !last_attempt => {
            settle(app, l, "queued", &format!("will retry: {e}")).await;
            Err(SendError::Transient(e))
        }
        Err(SendError::Transient(e) | SendError::Permanent(e)) => {
            settle(app, l, "failed", &e).await;
            Err(SendError::Permanent(e))
        }
    }
}

/// Runs an SMS job: renders the text and sends it through the organisation's gateway.
pub async fn send_sms(
    app: &App,
    org_id: i64,
    job: &StepJob,
    last_attempt: bool,
) -> Result<(), SendError> {
    let Some(l) = load(app, org_id, job).await? else {
        return Ok(());
    };
    let Step::Sms { text, marketing } = &l.step else {
        return Err(SendError::Permanent("the step is not an SMS step".into()));
    };
    if refused_now(app, &l, *marketing).await? {
        return Ok(());
    }
    let Some(to) = l
        .contact
        .mobile
        .as_deref()
        .and_then(super::sms_gateways::mobile_number)
    else {
        settle(app, &l, "skipped", "the contact has no valid mobile number").await;
        return Ok(());
    };
    let ctx = text_context(app, &l).await?;
    let message = match render(text, &ctx) {
        Ok(m) => m,
        Err(e) => return finish(app, &l, Err(e), true).await,
    };
    if !begin(app, &l).await? {
        return Ok(());
    }
    let result = super::sms_gateways::send(app, org_id, &to, message.trim()).await;
    finish(app, &l, result, last_attempt).await
}

/// Runs an HTTP request job: renders URL, headers, fields and body, and calls the outside
/// system.
pub async fn call_http(
    app: &App,
    org_id: i64,
    job: &StepJob,
    last_attempt: bool,
) -> Result<(), SendError> {
    let Some(l) = load(app, org_id, job).await? else {
        return Ok(());
    };
    let ctx = text_context(app, &l).await?;
    let request = match http_request(&l.step, &ctx) {
        Ok(r) => r,
        Err(e) => return finish(app, &l, Err(e), true).await,
    };
    if !begin(app, &l).await? {
        return Ok(());
    }
    let result = super::outbound::send(app, &request).await;
    finish(app, &l, result, last_attempt).await
}

/// The request of an HTTP step for one participation.
pub(super) fn http_request(
    step: &Step,
    ctx: &JinjaValue,
) -> Result<super::outbound::Request, SendError> {
    let Step::Http {
        method,
        url,
        headers,
        fields,
        body,
        content_type,
        batch,
    } = step
    else {
        return Err(SendError::Permanent("the step is not an HTTP step".into()));
    };
    let mut url = render(url, ctx)?;
    let mut rendered_fields = Vec::new();
    for (name, value) in fields {
        rendered_fields.push((name.clone(), render(value, ctx)?));
    }
    let form = || {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&rendered_fields)
            .finish()
    };
    // A batch without a body template goes as a JSON array of its contacts.
    let batch_body = batch.map(|_| "{{ contacts | tojson }}".to_string());
    let body = match (body.as_ref().or(batch_body.as_ref()), method.as_str()) {
        (Some(b), _) => Some((
            content_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
            render(b, ctx)?,
        )),
        (None, "GET") => {
            if !rendered_fields.is_empty() {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&form());
            }
            None
        }
        (None, _) => Some(("application/x-www-form-urlencoded".into(), form())),
    };
    let mut rendered_headers = Vec::new();
    for (name, value) in headers {
        let v = render(value, ctx)?;
        if v.chars().any(|c| c.is_control()) {
            return Err(SendError::Permanent(format!(
                "the header {name} renders to a value with control characters"
            )));
        }
        rendered_headers.push((name.clone(), v));
    }
    Ok(super::outbound::Request {
        method: method.clone(),
        url,
        headers: rendered_headers,
        body,
    })
}

/// Runs an e-mail job: renders the step's template for the participation and queues it to
/// the contact (delivery log, bounce address, links click-tracked). Nothing is sent for a
/// stopped participation, an erased contact or — for marketing mail — a contact who is no
/// longer subscribed.
pub async fn send_email(app: &App, org_id: i64, job: &StepJob) -> Result<(), SendError> {
    let Some(l) = load(app, org_id, job).await? else {
        return Ok(());
    };
    let Step::Email {
        template,
        marketing,
    } = &l.step
    else {
        return Err(SendError::Permanent(
            "the step is not an e-mail step".into(),
        ));
    };
    if refused_now(app, &l, *marketing).await? {
        return Ok(());
    }
    let (org, contact) = (&l.org, &l.contact);
    let t = match app.store.template_by_key(org_id, template).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => {
            return Err(SendError::Permanent(format!(
                "template '{template}' is gone"
            )))
        }
        Err(e) => return Err(SendError::transient(e)),
    };
    let Some(from) = org
        .sender_email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
    else {
        return Err(SendError::Permanent(
            "the organisation has no sender address".into(),
        ));
    };
    let to =
        EmailAddress::parse(&contact.email).map_err(|e| SendError::Permanent(e.to_string()))?;
    let lang = super::optins::contact_language(contact, org);
    let (html_fields, text_fields) = field_values(app, org_id, &l.fields, lang)
        .await
        .map_err(SendError::transient)?;
    let unsubscribe = match (marketing, l.automation.list_id) {
        (true, Some(list_id)) => {
            let claims = super::links::LinkClaims {
                org_id,
                contact_id: contact.id,
                list_id: Some(list_id),
                delivery_id: None,
            };
            Some(
                super::links::unsubscribe_url(app, claims)
                    .await
                    .map_err(SendError::transient)?,
            )
        }
        _ => None,
    };
    // The contact's data-model records (`{{ records.orders[0].event_date }}`).
    let records = super::collections::records_of(app, org_id, contact.id)
        .await
        .map_err(SendError::transient)?;
    let ctx = minijinja::context! {
        contact => super::template_vars::contact(contact),
        org => minijinja::context! { name => org.name.as_str() },
        automationfield => html_fields,
        automationfield_text => text_fields,
        unsubscribe_url => unsubscribe.clone(),
        records => minijinja::Value::from_serialize(&records),
    };
    let subject = rewrite_placeholders(t.subject.as_deref().unwrap_or(""), "automationfield_text");
    let html = rewrite_placeholders(&t.html, "automationfield");
    // Without a text part one is derived from the HTML, with the text form of the fields.
    let text = rewrite_placeholders(
        &t.text
            .clone()
            .unwrap_or_else(|| crate::mail::template::html_to_text(&t.html)),
        "automationfield_text",
    );
    let rendered = Compiled::new(&subject, &html, Some(&text))
        .map_err(|e| SendError::Permanent(e.to_string()))?
        .render(&ctx)
        .map_err(SendError::Permanent)?;
    queue_rendered(
        app,
        org,
        &t,
        contact,
        OneMessage {
            from,
            to,
            rendered,
            list_unsubscribe: unsubscribe.map(|url| ListUnsubscribe {
                url,
                mailto: None,
                one_click: true,
            }),
            track_clicks: true,
            automation_id: Some(l.automation.id),
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| match e {
        ServiceError::Validation(v) => SendError::Permanent(v.to_string()),
        e => SendError::transient(e),
    })
}
