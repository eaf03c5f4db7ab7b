//! Opt-ins (lists): the list with audience figures, create (the key is fixed after), texts per
//! language, archive.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::{AdminError, AdminResult};
use super::form::Form;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{
    done, escape, field_errors, form_status, render, render_status, sandboxed, NoticeQuery,
};
use crate::app::App;
use crate::domain::Language;
use crate::services::dashboard::{self, ListAudience};
use crate::services::lists::{self, CreateList, ListView, TemplateOverride};
use crate::services::optin_mail;

/// The languages an opt-in has texts in, with their names.
pub(super) const LANGUAGES: [(&str, &str); 4] = [
    ("nl", "Nederlands"),
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
];

#[derive(Template)]
#[template(path = "optins.html")]
struct OptinsPage {
    ui: Ui,
    lists: Vec<ListAudience>,
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    Ok(render(OptinsPage {
        ui: admin.ui("optins").with_notice(q.notice.as_deref()),
        lists: dashboard::audience(&app, admin.org_id())
            .await?
            .lists
            .clone(),
    }))
}

struct LangTexts {
    code: &'static str,
    label: &'static str,
    name: String,
    optin_text: String,
}

#[derive(Template)]
#[template(path = "optin_new.html")]
struct NewPage {
    ui: Ui,
    errors: Vec<String>,
    key: String,
    texts: Vec<LangTexts>,
    double_opt_in: bool,
    is_default: bool,
    send_welcome: bool,
    /// The organisation's partners (key, name), and the one chosen.
    partners: Vec<(String, String)>,
    partner: String,
}

async fn partner_choices(app: &App, org_id: i64) -> AdminResult<Vec<(String, String)>> {
    Ok(crate::services::partners::all(app, org_id)
        .await?
        .into_iter()
        .map(|p| (p.key, p.name))
        .collect())
}

fn texts_from(form: Option<&Form>) -> Vec<LangTexts> {
    LANGUAGES
        .iter()
        .map(|(code, label)| LangTexts {
            code,
            label,
            name: form
                .map(|f| f.get(&format!("name_{code}")).to_string())
                .unwrap_or_default(),
            optin_text: form
                .map(|f| f.get(&format!("optin_text_{code}")).to_string())
                .unwrap_or_default(),
        })
        .collect()
}

pub async fn new(State(app): State<App>, admin: Admin) -> AdminResult {
    Ok(render(NewPage {
        ui: admin.ui("optins"),
        errors: Vec::new(),
        key: String::new(),
        texts: texts_from(None),
        double_opt_in: true,
        is_default: false,
        send_welcome: true,
        partners: partner_choices(&app, admin.org_id()).await?,
        partner: String::new(),
    }))
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    let f = &p.form;
    let per_language = |prefix: &str| -> BTreeMap<String, String> {
        LANGUAGES
            .iter()
            .filter_map(|(code, _)| {
                f.opt(&format!("{prefix}_{code}"))
                    .map(|v| (code.to_string(), v.to_string()))
            })
            .collect()
    };
    let req = CreateList {
        key: f.get("key").trim().to_string(),
        name: per_language("name"),
        description: BTreeMap::new(),
        optin_text: per_language("optin_text"),
        double_opt_in: Some(f.checked("double_opt_in")),
        default: Some(f.checked("default")),
        send_welcome: Some(f.checked("send_welcome")),
        partner: f.opt("partner").map(String::from),
    };
    match lists::create(&app, p.admin.org_id(), &req).await {
        Ok(l) => done(&format!("/admin/optins/{}", l.key), "created"),
        Err(e) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            NewPage {
                ui: p.admin.ui("optins"),
                errors: field_errors(e)?,
                key: req.key.clone(),
                texts: texts_from(Some(f)),
                double_opt_in: f.checked("double_opt_in"),
                is_default: f.checked("default"),
                send_welcome: f.checked("send_welcome"),
                partners: partner_choices(&app, p.admin.org_id()).await?,
                partner: f.get("partner").to_string(),
            },
        )),
    }
}

#[derive(Template)]
#[template(path = "optin.html")]
struct OptinPage {
    ui: Ui,
    l: ListView,
    texts: Vec<LangTexts>,
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    let row = lists::by_key(&app, admin.org_id(), &key).await?;
    let l = lists::view(&app, &row).await?;
    let texts = LANGUAGES
        .iter()
        .map(|(code, label)| LangTexts {
            code,
            label,
            name: l.name.get(*code).cloned().unwrap_or_default(),
            optin_text: l.optin_text.get(*code).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(render(OptinPage {
        ui: admin.ui("optins").with_notice(q.notice.as_deref()),
        l,
        texts,
    }))
}

pub async fn archive(State(app): State<App>, Path(key): Path<String>, p: Posted) -> AdminResult {
    let l = lists::archive(&app, p.admin.org_id(), &key).await?;
    done(&format!("/admin/optins/{}", l.key), "archived")
}

#[derive(Template)]
#[template(path = "optin_mail.html")]
struct MailPage {
    ui: Ui,
    errors: Vec<String>,
    key: String,
    kind: String,
    lang: String,
    subject: String,
    html: String,
    text: String,
}

/// The kind and language in a mail's path, checked.
fn mail_path(kind: &str, lang: &str) -> AdminResult<Language> {
    if !matches!(kind, "verification" | "welcome") {
        return Err(AdminError::NotFound);
    }
    Language::parse(lang).map_err(|_| AdminError::NotFound)
}

/// The verification or welcome mail of an opt-in in one language: the editor with a preview.
pub async fn mail(
    State(app): State<App>,
    admin: Admin,
    Path((key, kind, lang)): Path<(String, String, String)>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    let language = mail_path(&kind, &lang)?;
    let t = optin_mail::current_template(&app, admin.org_id(), &key, &kind, language).await?;
    Ok(render(MailPage {
        ui: admin.ui("optins").with_notice(q.notice.as_deref()),
        errors: Vec::new(),
        key,
        kind,
        lang,
        subject: t.subject,
        html: t.html,
        text: t.text.unwrap_or_default(),
    }))
}

pub async fn save_mail(
    State(app): State<App>,
    Path((key, kind, lang)): Path<(String, String, String)>,
    p: Posted,
) -> AdminResult {
    mail_path(&kind, &lang)?;
    let t = TemplateOverride {
        subject: p.form.get("subject").to_string(),
        html: p.form.get("html").to_string(),
        text: p.form.opt("text").map(String::from),
    };
    match lists::put_template(&app, p.admin.org_id(), &key, &kind, &lang, &t).await {
        Ok(()) => done(&format!("/admin/optins/{key}/mails/{kind}/{lang}"), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            Ok(render_status(
                form_status(&errors),
                MailPage {
                    ui: p.admin.ui("optins"),
                    errors,
                    key,
                    kind,
                    lang,
                    subject: t.subject,
                    html: t.html,
                    text: t.text.unwrap_or_default(),
                },
            ))
        }
    }
}

pub async fn mail_preview(
    State(app): State<App>,
    admin: Admin,
    Path((key, kind, lang)): Path<(String, String, String)>,
) -> AdminResult {
    let language = mail_path(&kind, &lang)?;
    let (subject, html) = optin_mail::preview(&app, admin.org_id(), &key, &kind, language).await?;
    Ok(sandboxed(format!(
        "<p><strong>{}</strong></p>{html}",
        escape(&subject)
    )))
}
