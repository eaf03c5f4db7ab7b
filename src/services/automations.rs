//! Automations (the Spotler row): drafts and published versions of steps, a generated trigger
//! code, triggering for a contact with automation fields (idempotent by key), and stopping a
//! contact's participations or one participation.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::tokens::Principal;
use super::{found, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation::{
    new_trigger_code, plausible_trigger_code, validate_fields, FieldInput, Reentry,
};
use crate::domain::automation_steps::{parse_steps, Step};
use crate::domain::automation_trigger::{validate_date_trigger, Trigger};
use crate::domain::validation::{required_text, text, Collector};
use crate::domain::{FieldError, Scope, ValidationError};
use crate::store::{AnswerBuilder, AutomationRow, NewAutomation, ParticipationRow, Start, Started};

/// `POST /api/v1/automations` and `PUT /api/v1/automations/{id}` (the draft).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationInput {
    pub name: String,
    /// The opt-in whose subscribers its marketing e-mails may reach.
    pub optin: Option<String>,
    /// single (default: one participation at a time) or multiple (repeating).
    pub reentry: Option<String>,
    /// What starts it besides its trigger code (default: only the trigger code).
    pub trigger: Option<TriggerInput>,
    /// The steps, in order: email, wait, tag, score, set_field, branch, sms, http, end.
    #[schema(value_type = Vec<Object>)]
    pub steps: Value,
}

/// What starts an automation: `external` (only its trigger code), `subscribed` or
/// `confirmed` (with `optin`), `tag_added` (with `tag`), or `date_field` (with `attribute`,
/// `offset_days`, `yearly` and `at`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The date attribute (`birthday` for `attributes.birthday`), `YYYY-MM-DD` values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Days from the date: -1 is the day before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_days: Option<i64>,
    /// Every year on the day and month (birthdays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yearly: Option<bool>,
    /// Time of day (`HH:MM`, UTC) the participations start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AutomationView {
    pub id: i64,
    pub name: String,
    #[serde(rename = "triggerCode")]
    pub trigger_code: String,
    /// draft (never published) or published
    pub status: String,
    pub published_version: Option<i64>,
    /// Whether the draft differs from the published version.
    pub unpublished_changes: bool,
    pub optin: Option<String>,
    pub reentry: String,
    pub trigger: TriggerInput,
    #[schema(value_type = Vec<Object>)]
    pub steps: Value,
    pub updated_at: String,
}

/// The API form of a stored trigger.
async fn trigger_view(app: &App, org_id: i64, config: &str) -> ServiceResult<TriggerInput> {
    let t: Trigger = serde_json::from_str(config).unwrap_or(Trigger::External);
    let mut v = TriggerInput {
        kind: t.kind().into(),
        ..TriggerInput::default()
    };
    match t {
        Trigger::External => {}
        Trigger::Subscribed { list_id } | Trigger::Confirmed { list_id } => {
            v.optin = Some(app.store.list_by_id(org_id, list_id).await?.key);
        }
        Trigger::TagAdded { tag } => v.tag = Some(tag),
        Trigger::DateField {
            attribute,
            offset_days,
            yearly,
            at,
        } => {
            v.attribute = Some(attribute);
            v.offset_days = Some(offset_days);
            v.yearly = Some(yearly);
            v.at = at;
        }
    }
    Ok(v)
}

/// Checks a trigger and resolves its opt-in; errors are named `trigger.…`.
async fn parse_trigger(
    app: &App,
    org_id: i64,
    t: &TriggerInput,
    c: &mut Collector,
) -> ServiceResult<Option<Trigger>> {
    let unexpected = |c: &mut Collector, name: &str, present: bool| {
        if present {
            c.push(FieldError::new(
                format!("trigger.{name}"),
                "unexpected",
                format!("a {} trigger has no {name}", t.kind),
            ));
        }
    };
    let date_fields =
        t.attribute.is_some() || t.offset_days.is_some() || t.yearly.is_some() || t.at.is_some();
    let trigger = match t.kind.as_str() {
        "external" => {
            unexpected(c, "optin", t.optin.is_some());
            unexpected(c, "tag", t.tag.is_some());
            unexpected(c, "attribute", date_fields);
            Some(Trigger::External)
        }
        "subscribed" | "confirmed" => {
            unexpected(c, "tag", t.tag.is_some());
            unexpected(c, "attribute", date_fields);
            let key = t.optin.as_deref().map(str::trim).unwrap_or("");
            match found(app.store.list_by_key(org_id, key).await)? {
                Some(l) if t.kind == "subscribed" => Some(Trigger::Subscribed { list_id: l.id }),
                Some(l) => Some(Trigger::Confirmed { list_id: l.id }),
                None => {
                    c.push(FieldError::new(
                        "trigger.optin",
                        "unknown_optin",
                        "the key of an opt-in",
                    ));
                    None
                }
            }
        }
        "tag_added" => {
            unexpected(c, "optin", t.optin.is_some());
            unexpected(c, "attribute", date_fields);
            let tag = t.tag.clone().unwrap_or_default();
            match crate::domain::contact::validate_tags(std::slice::from_ref(&tag)) {
                Ok(mut tags) if !tags.is_empty() => Some(Trigger::TagAdded {
                    tag: tags.remove(0),
                }),
                Ok(_) => {
                    c.push(FieldError::new(
                        "trigger.tag",
                        "required",
                        "the tag to listen for",
                    ));
                    None
                }
                Err(e) => {
                    c.take::<()>(Err(e.for_field("trigger.tag")));
                    None
                }
            }
        }
        "date_field" => {
            unexpected(c, "optin", t.optin.is_some());
            unexpected(c, "tag", t.tag.is_some());
            let d = Trigger::DateField {
                attribute: t.attribute.clone().unwrap_or_default(),
                offset_days: t.offset_days.unwrap_or(0),
                yearly: t.yearly.unwrap_or(false),
                at: t.at.clone(),
            };
            c.take(validate_date_trigger(&d)).map(|_| d)
        }
        _ => {
            c.push(FieldError::new(
                "trigger.type",
                "invalid_trigger",
                "external, subscribed, confirmed, tag_added or date_field",
            ));
            None
        }
    };
    Ok(trigger)
}

async fn view(app: &App, a: &AutomationRow) -> ServiceResult<AutomationView> {
    let optin = match a.list_id {
        Some(id) => Some(app.store.list_by_id(a.org_id, id).await?.key),
        None => None,
    };
    let unpublished_changes = match a.published_version {
        Some(v) => {
            app.store
                .automation_version_steps(a.org_id, a.id, v)
                .await?
                != a.draft_steps
        }
        None => true,
    };
    Ok(AutomationView {
        id: a.id,
        name: a.name.clone(),
        trigger_code: a.trigger_code.clone(),
        status: if a.published_version.is_some() {
            "published".into()
        } else {
            "draft".into()
        },
        published_version: a.published_version,
        unpublished_changes,
        optin,
        reentry: a.reentry.clone(),
        trigger: trigger_view(app, a.org_id, &a.trigger_config).await?,
        steps: serde_json::from_str(&a.draft_steps).unwrap_or(Value::Null),
        updated_at: rfc3339(a.updated_at),
    })
}

async fn validate(app: &App, org_id: i64, req: &AutomationInput) -> ServiceResult<NewAutomation> {
    let mut c = Collector::default();
    let name = c.take(required_text("name", &req.name, 200));
    let reentry = match req.reentry.as_deref().map(str::trim) {
        None | Some("") => Some(Reentry::Single),
        Some(r) => {
            let parsed = Reentry::parse(r);
            if parsed.is_none() {
                c.push(FieldError::new(
                    "reentry",
                    "invalid_reentry",
                    "single or multiple",
                ));
            }
            parsed
        }
    };
    let steps = c.take(parse_steps(&req.steps));
    let trigger = match &req.trigger {
        Some(t) => parse_trigger(app, org_id, t, &mut c).await?,
        None => Some(Trigger::External),
    };
    let list_id = match req
        .optin
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(k) => match found(app.store.list_by_key(org_id, k).await)? {
            Some(l) => Some(l.id),
            None => {
                c.push(FieldError::new(
                    "optin",
                    "unknown_optin",
                    "there is no opt-in with this key",
                ));
                None
            }
        },
        None => None,
    };
    if let Some(steps) = &steps {
        for (i, s) in steps.iter().enumerate() {
            if let (Some(Trigger::TagAdded { tag }), Step::Tag { add, .. }) = (&trigger, s) {
                if add.contains(tag) {
                    c.push(FieldError::new(
                        format!("steps[{i}].add"),
                        "trigger_loop",
                        "the automation would start itself again: it adds the tag it listens for",
                    ));
                }
            }
            let marketing_step = match s {
                Step::Sms { marketing, .. } => *marketing,
                _ => false,
            };
            if marketing_step && req.optin.as_deref().is_none_or(|o| o.trim().is_empty()) {
                c.push(FieldError::new(
                    format!("steps[{i}].marketing"),
                    "optin_required",
                    "a marketing message needs the automation's opt-in (optin)",
                ));
            }
            if let Step::Email {
                template,
                marketing,
            } = s
            {
                if found(app.store.template_by_key(org_id, template).await)?.is_none() {
                    c.push(FieldError::new(
                        format!("steps[{i}].template"),
                        "unknown_template",
                        "there is no template with this key",
                    ));
                }
                if *marketing && req.optin.as_deref().is_none_or(|o| o.trim().is_empty()) {
                    c.push(FieldError::new(
                        format!("steps[{i}].marketing"),
                        "optin_required",
                        "a marketing e-mail needs the automation's opt-in (optin)",
                    ));
                }
            }
        }
    }
    c.finish()?;
    let trigger = trigger.unwrap_or(Trigger::External);
    Ok(NewAutomation {
        name: name.unwrap_or_default(),
        trigger_kind: trigger.kind().into(),
        trigger_config: serde_json::to_string(&trigger)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        list_id,
        reentry: reentry.unwrap_or(Reentry::Single).as_str().into(),
        draft_steps: serde_json::to_string(&steps.unwrap_or_default())
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
    })
}

pub async fn create(
    app: &App,
    who: &Principal,
    req: &AutomationInput,
) -> ServiceResult<AutomationView> {
    who.require(Scope::AutomationsWrite)?;
    let new = validate(app, who.org_id, req).await?;
    let row = app
        .store
        .create_automation(who.org_id, &new, &new_trigger_code(), app.now())
        .await?;
    view(app, &row).await
}

/// Replaces the draft; running participations keep their version.
pub async fn update(
    app: &App,
    who: &Principal,
    id: i64,
    req: &AutomationInput,
) -> ServiceResult<AutomationView> {
    who.require(Scope::AutomationsWrite)?;
    get_row(app, who.org_id, id).await?;
    let new = validate(app, who.org_id, req).await?;
    let row = app
        .store
        .update_automation(who.org_id, id, &new, app.now())
        .await?;
    view(app, &row).await
}

/// Publishes the draft as a new version: new participations start on it.
pub async fn publish(app: &App, who: &Principal, id: i64) -> ServiceResult<AutomationView> {
    who.require(Scope::AutomationsWrite)?;
    get_row(app, who.org_id, id).await?;
    app.store
        .publish_automation(who.org_id, id, app.now())
        .await?;
    view(app, &get_row(app, who.org_id, id).await?).await
}

async fn get_row(app: &App, org_id: i64, id: i64) -> ServiceResult<AutomationRow> {
    app.store
        .automation_by_id(org_id, id)
        .await
        .or_not_found("automation")
}

pub async fn get(app: &App, who: &Principal, id: i64) -> ServiceResult<AutomationView> {
    who.require(Scope::AutomationsRead)?;
    view(app, &get_row(app, who.org_id, id).await?).await
}

pub async fn all(app: &App, who: &Principal) -> ServiceResult<Vec<AutomationView>> {
    who.require(Scope::AutomationsRead)?;
    let mut out = Vec::new();
    for a in app.store.automations(who.org_id).await? {
        out.push(view(app, &a).await?);
    }
    Ok(out)
}

/// `POST …/trigger/{triggerCode}` in Spotler's terms.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TriggerRequest {
    pub external_contact_id: String,
    #[serde(default)]
    pub automation_fields: Vec<FieldInput>,
}

/// The published automation whose trigger code this is, or a 404 with `unknown_trigger`.
/// The published automation with a trigger code, and its published version.
pub(crate) async fn published(
    app: &App,
    org_id: i64,
    code: &str,
) -> ServiceResult<(AutomationRow, i64)> {
    let unknown = || ServiceError::Missing {
        code: "unknown_trigger",
        message: "no published automation has this trigger code".into(),
    };
    if !plausible_trigger_code(code) {
        return Err(unknown());
    }
    let a = found(app.store.automation_by_code(org_id, code).await)?.ok_or_else(unknown)?;
    match a.published_version {
        Some(v) if a.archived_at.is_none() => Ok((a, v)),
        _ => Err(unknown()),
    }
}

async fn contact_by_external_id(
    app: &App,
    org_id: i64,
    external_id: &str,
) -> ServiceResult<crate::store::ContactRow> {
    let id = text("externalContactId", external_id, 100)?.ok_or_else(|| {
        ValidationError::single("externalContactId", "required", "must not be empty")
    })?;
    found(app.store.contact_by_external_id(org_id, &id).await)?.ok_or(ServiceError::Missing {
        code: "unknown_contact",
        message: "no contact has this externalContactId".into(),
    })
}

/// Starts the automation for a contact. With an `Idempotency-Key` a retried call returns the
/// first call's answer and starts nothing.
pub async fn trigger(
    app: &App,
    who: &Principal,
    code: &str,
    req: &TriggerRequest,
    idempotency_key: Option<&str>,
) -> ServiceResult<Value> {
    who.require(Scope::AutomationsTrigger)?;
    let fields = validate_fields(&req.automation_fields);
    let key = match idempotency_key.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 200 || k.chars().any(|c| c.is_control()) => {
            return Err(ValidationError::single(
                "Idempotency-Key",
                "invalid_key",
                "1 to 200 visible characters",
            )
            .into())
        }
        k => k.map(str::to_string),
    };
    let fields = fields?;
    let (automation, version) = published(app, who.org_id, code).await?;
    let contact = contact_by_external_id(app, who.org_id, &req.external_contact_id).await?;
    let (automation_id, name) = (automation.id, automation.name.clone());
    let answer = move |ids: &[i64]| -> String {
        json!({"publishedAutomationResults": ids.iter().map(|id| json!({
            "automationId": automation_id, "automationName": name, "version": version,
            "automationContactId": id,
        })).collect::<Vec<_>>()})
        .to_string()
    };
    let started = app
        .store
        .start_participation(Start {
            org_id: who.org_id,
            automation_id: automation.id,
            version,
            contact_id: contact.id,
            fields: serde_json::to_string(&fields)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            single: automation.reentry == Reentry::Single.as_str(),
            now: app.now(),
            // Keys count per automation: the same order number may start two automations.
            idempotency: key.map(|k| format!("{}:{k}", automation.id)).map(|k| {
                let a = answer.clone();
                (k, Box::new(a) as AnswerBuilder)
            }),
        })
        .await?;
    let body = match started {
        Started::New(ids) => {
            tracing::info!(
                org = who.org_id,
                automation = automation.id,
                started = ids.len(),
                "automation triggered"
            );
            answer(&ids)
        }
        Started::Replayed(stored) => stored,
    };
    serde_json::from_str(&body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// `POST …/stop/{triggerCode}`: stops every participation of the contact in the automation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StopRequest {
    pub external_contact_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stopped {
    pub stopped_automation_contact_ids: Vec<i64>,
}

pub async fn stop_contact(
    app: &App,
    who: &Principal,
    code: &str,
    req: &StopRequest,
) -> ServiceResult<Stopped> {
    who.require(Scope::AutomationsTrigger)?;
    let (automation, _) = published(app, who.org_id, code).await?;
    let contact = contact_by_external_id(app, who.org_id, &req.external_contact_id).await?;
    let ids = app
        .store
        .stop_contact_participations(
            who.org_id,
            automation.id,
            contact.id,
            "stopped by API",
            app.now(),
        )
        .await?;
    Ok(Stopped {
        stopped_automation_contact_ids: ids,
    })
}

/// Stops one participation by its `automationContactId`.
pub async fn stop_participation(app: &App, who: &Principal, id: i64) -> ServiceResult<Stopped> {
    who.require(Scope::AutomationsTrigger)?;
    app.store
        .stop_participation(who.org_id, id, "stopped by API", app.now())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ServiceError::Missing {
                code: "unknown_participation",
                message: "no running participation has this automationContactId".into(),
            },
            e => e.into(),
        })?;
    Ok(Stopped {
        stopped_automation_contact_ids: vec![id],
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipationView {
    pub automation_contact_id: i64,
    pub version: i64,
    pub status: String,
    pub next_step: i64,
    pub next_run_at: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub stop_reason: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub log: Value,
}

fn participation_view(p: &ParticipationRow, log: Value) -> ParticipationView {
    ParticipationView {
        automation_contact_id: p.id,
        version: p.version,
        status: p.status.clone(),
        next_step: p.step,
        next_run_at: p.next_run_at.map(rfc3339),
        started_at: rfc3339(p.started_at),
        finished_at: p.finished_at.map(rfc3339),
        stop_reason: p.stop_reason.clone(),
        log,
    }
}

/// One participation with the log of the steps it ran.
pub async fn participation(
    app: &App,
    who: &Principal,
    id: i64,
) -> ServiceResult<ParticipationView> {
    who.require(Scope::AutomationsRead)?;
    let p = app
        .store
        .participation(who.org_id, id)
        .await
        .or_not_found("participation")?;
    let log = app.store.participation_log(who.org_id, id).await?;
    let log = serde_json::to_value(
        log.iter()
            .map(|l| json!({"step": l.step, "type": l.kind, "outcome": l.outcome, "detail": l.detail, "at": rfc3339(l.at)}))
            .collect::<Vec<_>>(),
    )
    .unwrap_or(Value::Null);
    Ok(participation_view(&p, log))
}

/// The newest participations of an automation.
pub async fn participations(
    app: &App,
    who: &Principal,
    automation_id: i64,
) -> ServiceResult<Vec<ParticipationView>> {
    who.require(Scope::AutomationsRead)?;
    get_row(app, who.org_id, automation_id).await?;
    Ok(app
        .store
        .participations(who.org_id, automation_id, 100)
        .await?
        .iter()
        .map(|p| participation_view(p, Value::Array(Vec::new())))
        .collect())
}
