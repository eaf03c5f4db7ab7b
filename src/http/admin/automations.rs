//! Automations: the list with trigger codes (copy button), a new automation, and its page:
//! the ordered step editor (add a step of any kind, move, remove, or edit all steps as JSON),
//! publish, and the participations with their state and a stop button.

use askama::Template;
use axum::extract::{Path, Query, State};
use serde_json::{json, Map, Value};

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::segments::optin_keys;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::Scope;
use crate::services::automations::{
    self, AutomationInput, AutomationView, ParticipationView, TriggerInput,
};
use crate::services::tokens::Principal;
use crate::services::{templates, ServiceError};

fn principal(admin: &Admin) -> Principal {
    admin.principal(&[
        Scope::AutomationsRead,
        Scope::AutomationsWrite,
        Scope::AutomationsTrigger,
    ])
}

#[derive(Template)]
#[template(path = "automations.html")]
struct ListPage {
    ui: Ui,
    errors: Vec<String>,
    automations: Vec<AutomationView>,
    optins: Vec<String>,
    f: Form,
}

async fn list_page(
    app: &App,
    admin: &Admin,
    f: Form,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AdminResult {
    Ok(render_status(
        form_status(&errors),
        ListPage {
            ui: admin.ui("automations").with_notice(notice),
            errors,
            automations: automations::all(app, &principal(admin)).await?,
            optins: optin_keys(app, admin.org_id()).await?,
            f,
        },
    ))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    list_page(
        &app,
        &admin,
        Form::parse(b""),
        Vec::new(),
        q.notice.as_deref(),
    )
    .await
}

/// The trigger chosen in the form: only its code (`external`), a subscription or confirmation
/// to an opt-in, or a tag.
fn trigger_from(f: &Form) -> Option<TriggerInput> {
    let kind = f.opt("trigger").unwrap_or("external");
    (kind != "external").then(|| TriggerInput {
        kind: kind.to_string(),
        optin: matches!(kind, "subscribed" | "confirmed")
            .then(|| f.get("trigger_optin").to_string()),
        tag: (kind == "tag_added").then(|| f.get("trigger_tag").trim().to_string()),
        ..TriggerInput::default()
    })
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    let f = &p.form;
    let input = AutomationInput {
        name: f.get("name").trim().to_string(),
        optin: f.opt("optin").map(String::from),
        reentry: f.opt("reentry").map(String::from),
        trigger: trigger_from(f),
        // A new automation starts with its end; added steps go before it.
        steps: json!([{"type": "end"}]),
    };
    match automations::create(&app, &principal(&p.admin), &input).await {
        Ok(a) => done(&format!("/admin/automations/{}", a.id), "created"),
        Err(e) => {
            let errors = field_errors(e)?;
            let Posted { admin, form } = p;
            list_page(&app, &admin, form, errors, None).await
        }
    }
}

/// A step as one line for people.
struct StepLine {
    index: usize,
    kind: String,
    summary: String,
}

fn summary(step: &Value) -> (String, String) {
    let kind = step["type"].as_str().unwrap_or("?").to_string();
    let s = |k: &str| step[k].as_str().unwrap_or("").to_string();
    let n = |k: &str| step[k].as_i64().unwrap_or(0);
    let text = match kind.as_str() {
        "email" => format!(
            "{}{}",
            s("template"),
            if step["marketing"] == json!(false) {
                " (transactional)"
            } else {
                ""
            }
        ),
        "wait" => {
            let mut parts = Vec::new();
            for (k, unit) in [("days", "d"), ("hours", "h"), ("minutes", "min")] {
                if n(k) > 0 {
                    parts.push(format!("{} {unit}", n(k)));
                }
            }
            if !s("at").is_empty() {
                parts.push(format!("until {} UTC", s("at")));
            }
            parts.join(" ")
        }
        "tag" => {
            let list = |k: &str, sign: char| {
                step[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(|t| format!("{sign}{t}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default()
            };
            format!("{} {}", list("add", '+'), list("remove", '−'))
                .trim()
                .to_string()
        }
        "score" => format!("{:+}", n("change")),
        "set_field" => format!("{} = {}", s("field"), step["value"]),
        "branch" => format!(
            "if {} then step {} else step {}",
            step["if"],
            step["then"]
                .as_i64()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "next".into()),
            step["else"]
                .as_i64()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "next".into())
        ),
        "sms" => s("text"),
        "http" => format!("{} {}", s("method"), s("url")),
        "export" => format!("export #{}", n("export")),
        _ => String::new(),
    };
    (kind, text)
}

#[derive(Template)]
#[template(path = "automation.html")]
struct AutomationPage {
    ui: Ui,
    errors: Vec<String>,
    a: AutomationView,
    steps: Vec<StepLine>,
    json: String,
    templates: Vec<String>,
    participations: Vec<ParticipationView>,
    seg_fields: &'static [&'static str],
    seg_ops: &'static [(&'static str, &'static str)],
}

async fn automation_page(
    app: &App,
    admin: &Admin,
    id: i64,
    errors: Vec<String>,
    json_text: Option<String>,
    notice: Option<&str>,
) -> AdminResult {
    let who = principal(admin);
    let a = automations::get(app, &who, id).await?;
    let steps = a
        .steps
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .enumerate()
                .map(|(index, s)| {
                    let (kind, summary) = summary(s);
                    StepLine {
                        index,
                        kind,
                        summary,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(render_status(
        form_status(&errors),
        AutomationPage {
            ui: admin.ui("automations").with_notice(notice),
            errors,
            json: json_text
                .unwrap_or_else(|| serde_json::to_string_pretty(&a.steps).unwrap_or_default()),
            steps,
            templates: templates::all(app, admin.org_id())
                .await?
                .into_iter()
                .map(|t| t.key)
                .collect(),
            participations: automations::participations(app, &who, id).await?,
            seg_fields: super::segment_form::FIELDS,
            seg_ops: super::segment_form::OPS,
            a,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    automation_page(&app, &admin, id, Vec::new(), None, q.notice.as_deref()).await
}

/// Saves new steps as the draft (the service checks them); the page shows why when it refuses.
async fn save_steps(
    app: &App,
    p: &Posted,
    id: i64,
    steps: Value,
    json_text: Option<String>,
) -> AdminResult {
    let who = principal(&p.admin);
    let a = automations::get(app, &who, id).await?;
    let input = AutomationInput {
        name: a.name.clone(),
        optin: a.optin.clone(),
        reentry: Some(a.reentry.clone()),
        trigger: Some(a.trigger.clone()),
        steps,
    };
    match automations::update(app, &who, id, &input).await {
        Ok(_) => done(&format!("/admin/automations/{id}"), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            automation_page(app, &p.admin, id, errors, json_text, None).await
        }
    }
}

/// A new step from the add form of its kind.
fn new_step(f: &Form) -> Value {
    let num = |k: &str| f.get(k).trim().parse::<i64>().unwrap_or(0);
    let words = |k: &str| -> Vec<String> {
        f.get(k)
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    let mut step = Map::new();
    let kind = f.get("type");
    step.insert("type".into(), json!(kind));
    match kind {
        "email" => {
            step.insert("template".into(), json!(f.get("template")));
            step.insert("marketing".into(), json!(!f.checked("transactional")));
        }
        "wait" => {
            for k in ["days", "hours", "minutes"] {
                if num(k) != 0 {
                    step.insert(k.into(), json!(num(k)));
                }
            }
            if let Some(at) = f.opt("at") {
                step.insert("at".into(), json!(at));
            }
        }
        "tag" => {
            step.insert("add".into(), json!(words("add")));
            step.insert("remove".into(), json!(words("remove")));
        }
        "score" => {
            step.insert("change".into(), json!(num("change")));
        }
        "set_field" => {
            step.insert("field".into(), json!(f.get("field").trim()));
            step.insert(
                "value".into(),
                f.opt("value").map(|v| json!(v)).unwrap_or(Value::Null),
            );
        }
        "branch" => {
            let b = super::segment_form::Builder::from_form(f);
            step.insert("if".into(), b.segment().unwrap_or(Value::Null));
            for k in ["then", "else"] {
                if let Some(v) = f.opt(k) {
                    step.insert(
                        k.into(),
                        v.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(v)),
                    );
                }
            }
        }
        "sms" => {
            step.insert("text".into(), json!(f.get("text")));
            step.insert("marketing".into(), json!(!f.checked("transactional")));
        }
        "http" => {
            step.insert("method".into(), json!(f.opt("method").unwrap_or("POST")));
            step.insert("url".into(), json!(f.get("url").trim()));
            if let Some(body) = f.opt("body") {
                step.insert("body".into(), json!(body));
                step.insert(
                    "content_type".into(),
                    json!(f.opt("content_type").unwrap_or("application/json")),
                );
            }
        }
        "export" => {
            step.insert("export".into(), json!(num("export")));
        }
        _ => {}
    }
    Value::Object(step)
}

/// Adds, moves or removes one step of the draft.
pub async fn edit_steps(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    let a = automations::get(&app, &principal(&p.admin), id).await?;
    let mut steps = a.steps.as_array().cloned().unwrap_or_default();
    let at = p
        .form
        .get("index")
        .parse::<usize>()
        .ok()
        .filter(|i| *i < steps.len());
    match (p.form.get("op"), at) {
        ("add", _) => {
            let at = match steps.last() {
                Some(last) if last["type"] == "end" => steps.len() - 1,
                _ => steps.len(),
            };
            steps.insert(at, new_step(&p.form));
        }
        ("remove", Some(i)) => {
            steps.remove(i);
        }
        ("up", Some(i)) if i > 0 => steps.swap(i, i - 1),
        ("down", Some(i)) if i + 1 < steps.len() => steps.swap(i, i + 1),
        _ => return done(&format!("/admin/automations/{id}"), "saved"),
    }
    save_steps(&app, &p, id, Value::Array(steps), None).await
}

/// Replaces all steps with the JSON from the advanced editor.
pub async fn edit_json(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    let text = p.form.get("steps").to_string();
    match serde_json::from_str::<Value>(&text) {
        Ok(steps) => save_steps(&app, &p, id, steps, Some(text)).await,
        Err(e) => {
            let errors = vec![format!("steps: not JSON ({e})")];
            automation_page(&app, &p.admin, id, errors, Some(text), None).await
        }
    }
}

pub async fn publish(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    match automations::publish(&app, &principal(&p.admin), id).await {
        Ok(_) => done(&format!("/admin/automations/{id}"), "published"),
        Err(e) => {
            let errors = field_errors(e)?;
            automation_page(&app, &p.admin, id, errors, None, None).await
        }
    }
}

pub async fn stop(
    State(app): State<App>,
    Path((id, participation)): Path<(i64, i64)>,
    p: Posted,
) -> AdminResult {
    let who = principal(&p.admin);
    // The participation must belong to this automation.
    let ours = automations::participations(&app, &who, id)
        .await?
        .iter()
        .any(|x| x.automation_contact_id == participation);
    if !ours {
        return Err(ServiceError::NotFound("participation").into());
    }
    match automations::stop_participation(&app, &who, participation).await {
        Ok(_) => done(&format!("/admin/automations/{id}"), "stopped"),
        Err(e) => {
            let errors = field_errors(e)?;
            automation_page(&app, &p.admin, id, errors, None, None).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_forms_become_steps() {
        let f = Form::parse(b"type=wait&days=2&hours=&minutes=30&at=09:00");
        assert_eq!(
            new_step(&f),
            json!({"type": "wait", "days": 2, "minutes": 30, "at": "09:00"})
        );
        let f = Form::parse(b"type=tag&add=vip,+jazz&remove=new");
        assert_eq!(
            new_step(&f),
            json!({"type": "tag", "add": ["vip", "jazz"], "remove": ["new"]})
        );
        let f = Form::parse(b"type=branch&field_0=city&op_0=eq&value_0=Utrecht&then=3");
        assert_eq!(
            new_step(&f),
            json!({"type": "branch", "if": {"field": "city", "op": "eq", "value": "Utrecht"}, "then": 3})
        );
        let f = Form::parse(b"type=email&template=welcome");
        assert_eq!(
            new_step(&f),
            json!({"type": "email", "template": "welcome", "marketing": true})
        );
        assert_eq!(
            summary(&json!({"type": "wait", "days": 1, "at": "09:00"})).1,
            "1 d until 09:00 UTC"
        );
    }
}
