//! The automation engine: workers lease due participations, run their steps up to the next
//! wait (or the end), and write each participation's effects — tags, score, queued e-mails,
//! the step log and its next step — in one transaction, so a restart loses nothing and runs
//! nothing twice. E-mail steps queue a job; the job renders the template with the contact,
//! the automation fields and product blocks, and checks consent again when it sends.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::Value as JinjaValue;
use serde::{Deserialize, Serialize};

use super::templates::{queue_rendered, OneMessage};
use super::{found, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation::{rewrite_placeholders, AutomationField, FieldType, Step};
use crate::domain::EmailAddress;
use crate::mail::template::Compiled;
use crate::mail::{ListUnsubscribe, SendError};
use crate::store::{Advance, AutomationRow, ContactRow, ParticipationRow, StoreError};

/// Job kind: send the e-mail of one automation step.
pub const EMAIL_JOB: &str = "automation.email";
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Participations leased and written per transaction.
const BATCH: i64 = 500;
/// Steps one participation may run in one go (versions are forward-only, this is a guard).
const MAX_STEPS_PER_RUN: usize = 200;
const CACHE_MAX: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailJob {
    pub participation_id: i64,
    pub step: i64,
}

/// Published versions never change, so their steps are cached for good.
#[derive(Default)]
pub struct Engine {
    versions: HashMap<(i64, i64, i64), Arc<Vec<Step>>>,
    automations: HashMap<(i64, i64), AutomationRow>,
}

impl Engine {
    async fn steps(&mut self, app: &App, p: &ParticipationRow) -> ServiceResult<Arc<Vec<Step>>> {
        let key = (p.org_id, p.automation_id, p.version);
        if let Some(s) = self.versions.get(&key) {
            return Ok(s.clone());
        }
        let json = app
            .store
            .automation_version_steps(p.org_id, p.automation_id, p.version)
            .await?;
        let steps: Vec<Step> = serde_json::from_str(&json)
            .map_err(|e| ServiceError::Internal(format!("stored steps: {e}")))?;
        if self.versions.len() >= CACHE_MAX {
            self.versions.clear();
        }
        let steps = Arc::new(steps);
        self.versions.insert(key, steps.clone());
        Ok(steps)
    }

    /// The automation (its opt-in may change with a new draft; read once per tick).
    async fn automation(
        &mut self,
        app: &App,
        org_id: i64,
        id: i64,
    ) -> ServiceResult<AutomationRow> {
        if let Some(a) = self.automations.get(&(org_id, id)) {
            return Ok(a.clone());
        }
        let a = app.store.automation_by_id(org_id, id).await?;
        self.automations.insert((org_id, id), a.clone());
        Ok(a)
    }

    /// Runs the due steps of one leased batch; returns how many participations moved.
    pub async fn tick(&mut self, app: &App) -> ServiceResult<usize> {
        self.automations.clear();
        let now = app.now();
        let batch = app.store.claim_participations(now, LEASE_MS, BATCH).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        // The batch's contacts in one query per organisation.
        let mut contacts: HashMap<(i64, i64), ContactRow> = HashMap::new();
        let mut by_org: HashMap<i64, Vec<i64>> = HashMap::new();
        for p in &batch {
            if let Some(c) = p.contact_id {
                by_org.entry(p.org_id).or_default().push(c);
            }
        }
        for (org, mut ids) in by_org {
            ids.sort_unstable();
            ids.dedup();
            for c in app.store.contacts_by_ids(org, &ids).await? {
                contacts.insert((org, c.id), c);
            }
        }
        let mut advances = Vec::with_capacity(batch.len());
        for p in &batch {
            let contact = p.contact_id.and_then(|c| contacts.get(&(p.org_id, c)));
            advances.push(self.run(app, p, contact, now).await?);
        }
        let n = app
            .store
            .advance_participations(&advances, super::mail::MAIL_MAX_ATTEMPTS, now)
            .await?;
        // A batch whose participations were all stopped meanwhile still counts as work done:
        // more may be due behind it.
        Ok(n.max(1))
    }

    async fn run(
        &mut self,
        app: &App,
        p: &ParticipationRow,
        contact: Option<&ContactRow>,
        now: i64,
    ) -> ServiceResult<Advance> {
        let steps = self.steps(app, p).await?;
        let automation = self.automation(app, p.org_id, p.automation_id).await?;
        let mut a = Advance {
            org_id: p.org_id,
            participation_id: p.id,
            contact_id: p.contact_id,
            next_step: p.step,
            ..Advance::default()
        };
        let Some(contact) = contact else {
            a.done = true;
            a.stop_reason = Some("the contact was erased".into());
            return Ok(a);
        };
        let mut i = p.step.max(0) as usize;
        for _ in 0..MAX_STEPS_PER_RUN {
            let Some(step) = steps.get(i) else {
                a.done = true;
                break;
            };
            let idx = i as i64;
            match step {
                Step::Wait { .. } => {
                    // Counted from when the step became due, not from when a worker got to
                    // it: a busy or restarted node does not stretch waits.
                    let base = p.next_run_at.unwrap_or(now).min(now);
                    let until = step.wait_until(base).unwrap_or(now);
                    a.log
                        .push((idx, "wait".into(), "waiting".into(), Some(rfc3339(until))));
                    a.next_step = idx + 1;
                    a.next_run_at = Some(until);
                    return Ok(a);
                }
                Step::Email {
                    template,
                    marketing,
                } => {
                    let refusal = if *marketing {
                        consent_refusal(app, &automation, contact).await?
                    } else {
                        None
                    };
                    match refusal {
                        Some(why) => a
                            .log
                            .push((idx, "email".into(), "skipped".into(), Some(why))),
                        None => {
                            let job = EmailJob {
                                participation_id: p.id,
                                step: idx,
                            };
                            a.jobs.push((
                                EMAIL_JOB.into(),
                                serde_json::to_string(&job).unwrap_or_default(),
                            ));
                            a.log.push((
                                idx,
                                "email".into(),
                                "queued".into(),
                                Some(template.clone()),
                            ));
                        }
                    }
                }
                Step::Tag { add, remove } => {
                    a.add_tags.extend(add.iter().cloned());
                    a.remove_tags.extend(remove.iter().cloned());
                    a.log.push((idx, "tag".into(), "done".into(), None));
                }
                Step::Score { change } => {
                    a.score += change;
                    a.log
                        .push((idx, "score".into(), "done".into(), Some(change.to_string())));
                }
                Step::End => {
                    a.log.push((idx, "end".into(), "done".into(), None));
                    a.done = true;
                    break;
                }
            }
            i += 1;
            a.next_step = i as i64;
        }
        if !a.done {
            // A version longer than one run allows: continue right away in the next tick.
            a.next_run_at = Some(now);
        }
        Ok(a)
    }
}

/// Why a marketing e-mail may not go to this contact now (None: it may).
async fn consent_refusal(
    app: &App,
    automation: &AutomationRow,
    contact: &ContactRow,
) -> ServiceResult<Option<String>> {
    let Some(list_id) = automation.list_id else {
        return Ok(Some(
            "the automation has no opt-in for marketing e-mail".into(),
        ));
    };
    match found(
        app.store
            .subscription(contact.org_id, contact.id, list_id)
            .await,
    )? {
        Some(s) if s.status == "subscribed" => {}
        _ => {
            let key = app.store.list_by_id(contact.org_id, list_id).await?.key;
            return Ok(Some(format!("not subscribed to the opt-in '{key}'")));
        }
    }
    if !app
        .store
        .suppressions(contact.org_id, &contact.email)
        .await?
        .is_empty()
    {
        return Ok(Some(
            "the address is suppressed (blacklist, bounce or complaint)".into(),
        ));
    }
    Ok(None)
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
    let mut html = std::collections::BTreeMap::new();
    let mut text = std::collections::BTreeMap::new();
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

/// Runs an e-mail job: renders the step's template for the participation and queues it to
/// the contact (delivery log, bounce address). Nothing is sent for a stopped participation,
/// an erased contact or — for marketing mail — a contact who is no longer subscribed.
pub async fn send_email(app: &App, org_id: i64, job: &EmailJob) -> Result<(), SendError> {
    let p = match app.store.participation(org_id, job.participation_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(SendError::transient(e)),
    };
    if p.status == "stopped" {
        tracing::info!(
            participation = p.id,
            "automation e-mail dropped: participation stopped"
        );
        return Ok(());
    }
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
    let Some(Step::Email {
        template,
        marketing,
    }) = steps.get(job.step as usize)
    else {
        return Err(SendError::Permanent(
            "the step is not an e-mail step".into(),
        ));
    };
    let Some(contact_id) = p.contact_id else {
        return Ok(());
    };
    let contact = match app.store.contact_by_id(org_id, contact_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(SendError::transient(e)),
    };
    if *marketing {
        if let Some(why) = consent_refusal(app, &automation, &contact)
            .await
            .map_err(SendError::transient)?
        {
            tracing::info!(participation = p.id, reason = %why, "automation e-mail skipped at send time");
            return Ok(());
        }
    }
    let org = app
        .store
        .org_by_id(org_id)
        .await
        .map_err(SendError::transient)?;
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
    let lang = super::optins::contact_language(&contact, &org);
    let fields: Vec<AutomationField> = serde_json::from_str(&p.fields).unwrap_or_default();
    let (html_fields, text_fields) = field_values(app, org_id, &fields, lang)
        .await
        .map_err(SendError::transient)?;
    let unsubscribe = match (marketing, automation.list_id) {
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
    let ctx = minijinja::context! {
        contact => super::template_vars::contact(&contact),
        org => minijinja::context! { name => org.name.as_str() },
        automationfield => html_fields,
        automationfield_text => text_fields,
        unsubscribe_url => unsubscribe.clone(),
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
        &org,
        &t,
        &contact,
        OneMessage {
            from,
            to,
            rendered,
            list_unsubscribe: unsubscribe.map(|url| ListUnsubscribe {
                url,
                mailto: None,
                one_click: true,
            }),
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| match e {
        ServiceError::Validation(v) => SendError::Permanent(v.to_string()),
        e => SendError::transient(e),
    })
}
