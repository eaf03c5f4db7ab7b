//! Contacts: search with keyset paging, a contact's page (fields, subscriptions, the consent
//! ledger with its proof, deliveries), editing fields, GDPR export and erasure.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::AdminResult;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render, render_status, NoticeQuery};
use crate::app::App;
use crate::services::contacts::{self, ContactView};
use crate::store::{ContactRow, DeliveryRow, EventRow, LedgerRow};

const PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    ui: Ui,
    errors: Vec<String>,
    q: String,
    rows: Vec<ContactRow>,
    next: Option<String>,
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<SearchQuery>,
) -> AdminResult {
    let text = q.q.unwrap_or_default();
    let (rows, errors) = match contacts::search(
        &app,
        admin.org_id(),
        Some(&text),
        q.after.unwrap_or(0),
        PAGE,
    )
    .await
    {
        Ok(rows) => (rows, Vec::new()),
        Err(e) => (Vec::new(), field_errors(e)?),
    };
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|last| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &text)
                .append_pair("after", &last.id.to_string())
                .finish()
        });
    Ok(render(ContactsPage {
        ui: admin.ui("contacts"),
        errors,
        q: text,
        rows,
        next,
    }))
}

/// The fields the edit form shows, in order: (name, label).
pub(super) const EDITABLE: &[(&str, &str)] = &[
    ("first_name", "First name"),
    ("name_prefix", "Name prefix"),
    ("last_name", "Last name"),
    ("external_id", "External id"),
    ("organisation", "Organisation"),
    ("street", "Street"),
    ("house_number", "House number"),
    ("zipcode", "Postcode"),
    ("city", "City"),
    ("country", "Country (ISO code)"),
    ("mobile", "Mobile"),
    ("phone", "Phone"),
    ("language", "Language (nl, en, de, fr)"),
];

struct Field {
    name: &'static str,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    ui: Ui,
    errors: Vec<String>,
    c: ContactView,
    fields: Vec<Field>,
    ledger: Vec<(LedgerRow, String)>,
    deliveries: Vec<DeliveryRow>,
    events: Vec<EventRow>,
}

fn field_value(c: &ContactView, name: &str) -> String {
    match serde_json::to_value(&c.fields)
        .ok()
        .and_then(|v| v.get(name).cloned())
    {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn contact_page(
    app: &App,
    admin: &Admin,
    id: i64,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AdminResult {
    let row = contacts::get(app, admin.org_id(), id).await?;
    let c = contacts::view(app, &row).await?;
    let history = contacts::history(app, admin.org_id(), id).await?;
    let lists = app.store.lists(admin.org_id()).await?;
    let ledger = history
        .ledger
        .into_iter()
        .map(|e| {
            let key = e
                .list_id
                .and_then(|id| lists.iter().find(|l| l.id == id))
                .map(|l| l.key.clone())
                .unwrap_or_default();
            (e, key)
        })
        .collect();
    let fields = EDITABLE
        .iter()
        .map(|(name, label)| Field {
            name,
            label,
            value: field_value(&c, name),
        })
        .collect();
    Ok(render_status(
        form_status(&errors),
        ContactPage {
            ui: admin.ui("contacts").with_notice(notice),
            errors,
            c,
            fields,
            ledger,
            deliveries: history.deliveries,
            events: history.events,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    contact_page(&app, &admin, id, Vec::new(), q.notice.as_deref()).await
}

/// Saves the edit form: an emptied field is cleared; the address may change too.
pub async fn update(State(app): State<App>, Path(id): Path<i64>, p: Posted) -> AdminResult {
    let mut patch = Map::new();
    patch.insert(
        "email".into(),
        Value::String(p.form.get("email").trim().into()),
    );
    for (name, _) in EDITABLE {
        let v = p.form.get(name).trim();
        patch.insert(
            (*name).into(),
            if v.is_empty() {
                Value::Null
            } else {
                Value::String(v.into())
            },
        );
    }
    match contacts::update(&app, p.admin.org_id(), id, &patch).await {
        Ok(_) => done(&format!("/admin/contacts/{id}"), "saved"),
        Err(e) => {
            let errors = field_errors(e)?;
            contact_page(&app, &p.admin, id, errors, None).await
        }
    }
}

/// GDPR access: everything stored about the contact, as a JSON download.
pub async fn export(State(app): State<App>, admin: Admin, Path(id): Path<i64>) -> AdminResult {
    let data = contacts::export(&app, admin.org_id(), id).await?;
    let body = serde_json::to_string_pretty(&data).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"contact-{id}.json\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "contact_erase.html")]
struct ErasePage {
    ui: Ui,
    c: ContactRow,
}

pub async fn confirm_erase(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> AdminResult {
    let c = contacts::get(&app, admin.org_id(), id).await?;
    Ok(render(ErasePage {
        ui: admin.ui("contacts"),
        c,
    }))
}

pub async fn erase(
    State(app): State<App>,
    Path(id): Path<i64>,
    p: Posted,
) -> AdminResult<Response> {
    contacts::erase(&app, p.admin.org_id(), id).await?;
    done("/admin/contacts", "erased")
}
