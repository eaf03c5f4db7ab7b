//! Lists (opt-ins / newsletters): created with texts in several languages, never renamed by key,
//! archived instead of deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::validation::{text, Collector};
use crate::domain::{FieldError, Language, ListKey, ValidationError};
use crate::store::{ListRow, ListText, ListWithTexts, MailTemplateRow, NewList};

pub const MAX_NAME: usize = 200;
pub const MAX_TEXT: usize = 2000;

/// `POST /api/v1/lists`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    pub key: String,
    /// Name per language (`nl`, `en`, `de`, `fr`); at least one.
    pub name: BTreeMap<String, String>,
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    /// The consent text shown to the person who subscribes, per language.
    #[serde(default)]
    pub optin_text: BTreeMap<String, String>,
    /// Default true: nothing but the contact's own confirmation subscribes.
    pub double_opt_in: Option<bool>,
    /// Make this the organisation's default opt-in.
    pub default: Option<bool>,
    /// Send a welcome mail after confirmation (default true; false for a partner's opt-in).
    pub send_welcome: Option<bool>,
    /// The partner (key) that owns the opt-in, for partner opt-ins at checkout; absent: the
    /// organisation's own. Fixed once created.
    pub partner: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListView {
    pub key: String,
    pub number: i64,
    pub name: BTreeMap<String, String>,
    pub description: BTreeMap<String, String>,
    pub optin_text: BTreeMap<String, String>,
    pub double_opt_in: bool,
    pub default: bool,
    pub send_welcome: bool,
    pub archived: bool,
    /// The partner that owns the opt-in.
    pub partner: Option<String>,
}

pub async fn view(app: &App, l: &ListRow) -> ServiceResult<ListView> {
    let texts = app.store.list_texts(l.org_id, l.id).await?;
    let partner = match l.partner_id {
        Some(id) => Some(app.store.partner_by_id(l.org_id, id).await?.key),
        None => None,
    };
    let map = |f: fn(&ListText) -> &String| {
        texts
            .iter()
            .filter(|t| !f(t).is_empty())
            .map(|t| (t.language.clone(), f(t).clone()))
            .collect::<BTreeMap<_, _>>()
    };
    Ok(ListView {
        key: l.key.clone(),
        number: l.number,
        name: map(|t| &t.name),
        description: map(|t| &t.description),
        optin_text: map(|t| &t.optin_text),
        double_opt_in: l.double_optin,
        default: l.is_default,
        send_welcome: l.send_welcome,
        archived: l.archived_at.is_some(),
        partner,
    })
}

fn texts_of(req: &CreateList) -> Result<Vec<ListText>, ValidationError> {
    let mut c = Collector::default();
    let mut langs: Vec<Language> = Vec::new();
    for (field, map) in [
        ("name", &req.name),
        ("description", &req.description),
        ("optin_text", &req.optin_text),
    ] {
        for lang in map.keys() {
            match Language::parse(lang) {
                Ok(l) if l.code() == lang => {
                    if !langs.contains(&l) {
                        langs.push(l);
                    }
                }
                _ => c.push(FieldError::new(
                    format!("{field}.{lang}"),
                    "unsupported_language",
                    "languages are nl, en, de and fr",
                )),
            }
        }
    }
    if req.name.values().all(|n| n.trim().is_empty()) {
        c.push(FieldError::new(
            "name",
            "required",
            "a name in at least one language is required",
        ));
    }
    let mut out = Vec::new();
    for l in langs {
        let get = |m: &BTreeMap<String, String>| m.get(l.code()).cloned().unwrap_or_default();
        let name = c
            .take(text(&format!("name.{l}"), &get(&req.name), MAX_NAME))
            .flatten();
        let description = c
            .take(text(
                &format!("description.{l}"),
                &get(&req.description),
                MAX_TEXT,
            ))
            .flatten();
        let optin_text = c
            .take(text(
                &format!("optin_text.{l}"),
                &get(&req.optin_text),
                MAX_TEXT,
            ))
            .flatten();
        out.push(ListText {
            language: l.code().into(),
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            optin_text: optin_text.unwrap_or_default(),
        });
    }
    c.finish().map(|_| out)
}

pub async fn create(app: &App, org_id: i64, req: &CreateList) -> ServiceResult<ListView> {
    let key = ListKey::parse(&req.key);
    let texts = texts_of(req);
    let (key, texts) = match (key, texts) {
        (Ok(k), Ok(t)) => (k, t),
        (Err(a), Err(b)) => return Err(ValidationError([a.0, b.0].concat()).into()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let partner_id = match req.partner.as_deref().map(str::trim) {
        Some(k) if !k.is_empty() => Some(
            app.store
                .partner_by_key(org_id, k)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::NotFound => ValidationError::single(
                        "partner",
                        "unknown_partner",
                        "no partner has this key",
                    )
                    .into(),
                    e => ServiceError::from(e),
                })?
                .id,
        ),
        _ => None,
    };
    let new = NewList {
        key: key.as_str().into(),
        double_optin: req.double_opt_in.unwrap_or(true),
        // A partner's opt-in is never the organisation's default.
        is_default: if partner_id.is_some() {
            Some(false)
        } else {
            req.default
        },
        // The partner welcomes its own subscribers.
        send_welcome: req.send_welcome.unwrap_or(partner_id.is_none()),
        texts,
        partner_id,
    };
    let row = app
        .store
        .create_list(org_id, &new, app.now())
        .await
        .map_err(|e| {
            if e.is_conflict_on("key") {
                ServiceError::Conflict {
                    field: "key",
                    message: format!("an opt-in with key '{}' already exists", key.as_str()),
                }
            } else {
                e.into()
            }
        })?;
    app.list_cache.forget(org_id);
    view(app, &row).await
}

pub async fn by_key(app: &App, org_id: i64, key: &str) -> ServiceResult<ListRow> {
    app.store
        .list_by_key(org_id, key)
        .await
        .or_not_found("opt-in")
}

pub async fn all(app: &App, org_id: i64) -> ServiceResult<Vec<ListView>> {
    let mut out = Vec::new();
    for l in app.store.lists(org_id).await? {
        out.push(view(app, &l).await?);
    }
    Ok(out)
}

pub async fn archive(app: &App, org_id: i64, key: &str) -> ServiceResult<ListView> {
    let l = by_key(app, org_id, key).await?;
    app.store.archive_list(org_id, l.id, app.now()).await?;
    app.list_cache.forget(org_id);
    view(app, &by_key(app, org_id, key).await?).await
}

/// How long a node reuses list data it read for registrations; changes made on this node
/// clear it at once, changes made on other nodes are seen within this time.
const LIST_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
const LIST_CACHE_MAX: usize = 10_000;

/// Cached lists of one organisation and key set, with the moment they were read.
type CachedLists = (std::time::Instant, Vec<ListWithTexts>);

/// Cached reads of lists and their texts for the registration hot path.
#[derive(Default)]
pub struct ListCache {
    entries: std::sync::Mutex<std::collections::HashMap<(i64, Vec<String>), CachedLists>>,
}

impl ListCache {
    /// Forgets an organisation's lists (after a change on this node).
    pub fn forget(&self, org_id: i64) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|(org, _), _| *org != org_id);
        }
    }
}

async fn cached_lists(
    app: &App,
    org_id: i64,
    keys: &[String],
) -> ServiceResult<Vec<ListWithTexts>> {
    let key = (org_id, keys.to_vec());
    if let Ok(e) = app.list_cache.entries.lock() {
        if let Some((at, lists)) = e.get(&key) {
            if at.elapsed() < LIST_CACHE_TTL {
                return Ok(lists.clone());
            }
        }
    }
    let lists = app.store.lists_with_texts(org_id, keys).await?;
    if let Ok(mut e) = app.list_cache.entries.lock() {
        if e.len() >= LIST_CACHE_MAX {
            e.clear();
        }
        e.insert(key, (std::time::Instant::now(), lists.clone()));
    }
    Ok(lists)
}

/// The active lists named by `keys`, or the organisation's default list when there are none,
/// each with its texts. Unknown and archived keys are one validation error naming them all.
pub async fn resolve(app: &App, org_id: i64, keys: &[String]) -> ServiceResult<Vec<ListWithTexts>> {
    if keys.len() > 50 {
        return Err(ValidationError::single(
            "optins",
            "too_many",
            "at most 50 opt-ins per request",
        )
        .into());
    }
    let mut wanted: Vec<String> = keys.iter().map(|k| k.trim().to_string()).collect();
    wanted.dedup();
    let found = cached_lists(app, org_id, &wanted).await?;
    if keys.is_empty() {
        return match found.len() {
            0 => Err(ValidationError::single(
                "optins",
                "no_default_optin",
                "name an opt-in: the organisation has no default",
            )
            .into()),
            _ => Ok(found),
        };
    }
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|k| {
            !found
                .iter()
                .any(|l| &l.list.key == *k && l.list.archived_at.is_none())
        })
        .map(|k| k.chars().take(64).collect())
        .collect();
    if !unknown.is_empty() {
        return Err(ValidationError::single(
            "optins",
            "unknown_optin",
            format!("unknown opt-in: {}", unknown.join(", ")),
        )
        .into());
    }
    Ok(found)
}

/// The text of a list in `lang`, falling back to the organisation's language and then to any.
pub fn pick<'a>(texts: &'a [ListText], lang: &str, fallback: &str) -> Option<&'a ListText> {
    pick_by(texts, lang, fallback, |t| &t.language)
}

/// The item in `lang`, else in `fallback`, else the first: for any texts per language.
pub fn pick_by<'a, T>(
    items: &'a [T],
    lang: &str,
    fallback: &str,
    language: impl Fn(&T) -> &String,
) -> Option<&'a T> {
    items
        .iter()
        .find(|t| language(t) == lang)
        .or_else(|| items.iter().find(|t| language(t) == fallback))
        .or_else(|| items.first())
}

/// `PUT /api/v1/lists/{key}/templates/{kind}/{language}`: an override of the verification or
/// welcome mail. Template syntax errors are reported with line numbers when saving.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateOverride {
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
}

pub async fn put_template(
    app: &App,
    org_id: i64,
    key: &str,
    kind: &str,
    lang: &str,
    t: &TemplateOverride,
) -> ServiceResult<()> {
    let l = by_key(app, org_id, key).await?;
    if !matches!(kind, "verification" | "welcome") {
        return Err(ServiceError::NotFound("template kind"));
    }
    let lang = Language::parse(lang).map_err(|e| e.for_field("language"))?;
    let mut c = Collector::default();
    c.take(text("subject", &t.subject, 200).and_then(|s| {
        s.ok_or_else(|| ValidationError::single("subject", "required", "must not be empty"))
    }));
    if t.html.len() > 256 * 1024 || t.text.as_ref().is_some_and(|x| x.len() > 256 * 1024) {
        c.push(FieldError::new(
            "html",
            "too_long",
            "a template has at most 256 KiB",
        ));
    }
    for (field, src) in [
        ("subject", Some(&t.subject)),
        ("html", Some(&t.html)),
        ("text", t.text.as_ref()),
    ] {
        if let Some(src) = src {
            if let Err(e) = crate::mail::template::check(field, src) {
                c.push(FieldError::new(field, "template_syntax", e.located()));
            }
        }
    }
    if kind == "welcome" && !t.html.contains("unsubscribe_url") {
        c.push(FieldError::new(
            "html",
            "unsubscribe_link_missing",
            "a welcome mail must contain {{ unsubscribe_url }}",
        ));
    }
    c.finish()?;
    let row = MailTemplateRow {
        subject: t.subject.trim().to_string(),
        html: t.html.clone(),
        text: t.text.clone(),
    };
    app.store
        .put_mail_template(org_id, l.id, kind, lang.code(), &row, app.now())
        .await?;
    Ok(())
}
