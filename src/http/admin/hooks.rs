//! Webhook receivers (admins only): the endpoint `POST /hooks/{id}` with its own token (shown
//! once, rotate), or an organisation token attached; the mapping from the payload's JSON
//! pointers to the contact, records and an automation; and a test payload that shows what a
//! call would write, writing nothing.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::error::AdminResult;
use super::form::Form;
use super::i18n::Ui;
use super::session::{Admin, Posted};
use super::{done, field_errors, form_status, render_status, NoticeQuery};
use crate::app::App;
use crate::domain::hook::HookMapping;
use crate::domain::ValidationError;
use crate::services::hooks::{self, HookInput, HookTest, HookView};
use crate::services::tokens;
use crate::services::ServiceError;

/// The mapping a new receiver starts with: the API's shape, to adapt.
const EXAMPLE_MAPPING: &str = r#"{
  "contact": {
    "email": "/customer/email",
    "first_name": "/customer/first_name"
  }
}"#;

const EXAMPLE_PAYLOAD: &str = r#"{
  "customer": {
    "email": "someone@example.org",
    "first_name": "Sam"
  }
}"#;

/// A receiver's fields as the form shows them.
struct HookForm {
    name: String,
    mapping: String,
    token_id: Option<i64>,
}

impl HookForm {
    fn of(v: Option<&HookView>) -> Self {
        HookForm {
            name: v.map(|v| v.name.clone()).unwrap_or_default(),
            mapping: v
                .and_then(|v| serde_json::to_string_pretty(&v.mapping).ok())
                .unwrap_or_else(|| EXAMPLE_MAPPING.into()),
            token_id: v.and_then(|v| v.token_id),
        }
    }

    fn posted(f: &Form) -> Self {
        HookForm {
            name: f.get("name").to_string(),
            mapping: f.get("mapping").to_string(),
            token_id: f.opt("token_id").and_then(|t| t.parse().ok()),
        }
    }

    fn input(&self) -> Result<HookInput, ServiceError> {
        let mapping: HookMapping = serde_json::from_str(&self.mapping).map_err(|e| {
            ValidationError::single(
                "mapping",
                "malformed_json",
                format!("the mapping is not valid: {e}"),
            )
        })?;
        Ok(HookInput {
            name: self.name.clone(),
            mapping,
            token_id: self.token_id,
        })
    }
}

/// The organisation's tokens that may be attached to a receiver: (id, label).
async fn receive_tokens(app: &App, admin: &Admin) -> AdminResult<Vec<(i64, String)>> {
    Ok(tokens::list_tokens(app, &admin.session.org_slug)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && hooks::may_call_hooks(t))
        .map(|t| (t.id, format!("#{} {}", t.id, t.name.unwrap_or_default())))
        .collect())
}

#[derive(Template)]
#[template(path = "hooks.html")]
struct HooksPage {
    ui: Ui,
    errors: Vec<String>,
    hooks: Vec<HookView>,
    tokens: Vec<(i64, String)>,
    hook: HookForm,
}

async fn list_page(
    app: &App,
    admin: &Admin,
    errors: Vec<String>,
    hook: HookForm,
    notice: Option<&str>,
) -> AdminResult {
    Ok(render_status(
        form_status(&errors),
        HooksPage {
            ui: admin.ui("imports").with_notice(notice),
            errors,
            hooks: hooks::list(app, &admin.admin_principal()?).await?,
            tokens: receive_tokens(app, admin).await?,
            hook,
        },
    ))
}

pub async fn index(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    list_page(
        &app,
        &admin,
        Vec::new(),
        HookForm::of(None),
        q.notice.as_deref(),
    )
    .await
}

pub async fn create(State(app): State<App>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let form = HookForm::posted(&p.form);
    let outcome = match form.input() {
        Ok(input) => hooks::create(&app, &p.admin.admin_principal()?, &input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(v) => {
            let page = Page {
                status: StatusCode::CREATED,
                secret: v.token.clone(),
                ..Page::default()
            };
            hook_page(&app, &p.admin, &v.id, page).await
        }
        Err(e) => {
            let errors = field_errors(e)?;
            list_page(&app, &p.admin, errors, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "hook.html")]
struct HookPage {
    ui: Ui,
    errors: Vec<String>,
    v: HookView,
    tokens: Vec<(i64, String)>,
    hook: HookForm,
    secret: Option<String>,
    payload: String,
    test_errors: Vec<String>,
    test: Option<HookTest>,
}

/// What a receiver's page shows besides the receiver.
#[derive(Default)]
struct Page {
    status: StatusCode,
    errors: Vec<String>,
    posted: Option<HookForm>,
    secret: Option<String>,
    payload: Option<String>,
    tested: Option<Result<HookTest, Vec<String>>>,
    notice: Option<String>,
}

async fn hook_page(app: &App, admin: &Admin, id: &str, page: Page) -> AdminResult {
    let v = hooks::get(app, &admin.admin_principal()?, id).await?;
    let status = if page.errors.is_empty() {
        page.status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (test, test_errors) = match page.tested {
        Some(Ok(t)) => (Some(t), Vec::new()),
        Some(Err(e)) => (None, e),
        None => (None, Vec::new()),
    };
    Ok(render_status(
        status,
        HookPage {
            ui: admin.ui("imports").with_notice(page.notice.as_deref()),
            errors: page.errors,
            tokens: receive_tokens(app, admin).await?,
            hook: page.posted.unwrap_or_else(|| HookForm::of(Some(&v))),
            v,
            secret: page.secret,
            payload: page.payload.unwrap_or_else(|| EXAMPLE_PAYLOAD.into()),
            test_errors,
            test,
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AdminResult {
    admin.require_admin()?;
    let page = Page {
        notice: q.notice,
        ..Page::default()
    };
    hook_page(&app, &admin, &id, page).await
}

pub async fn update(State(app): State<App>, Path(id): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let form = HookForm::posted(&p.form);
    let outcome = match form.input() {
        Ok(input) => hooks::update(&app, &p.admin.admin_principal()?, &id, &input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(v) => done(&format!("/admin/hooks/{}", v.id), "saved"),
        Err(e) => {
            let page = Page {
                errors: field_errors(e)?,
                posted: Some(form),
                ..Page::default()
            };
            hook_page(&app, &p.admin, &id, page).await
        }
    }
}

/// A new own token; the old one stops working at once. The secret is shown once.
pub async fn rotate(State(app): State<App>, Path(id): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let v = hooks::rotate(&app, &p.admin.admin_principal()?, &id).await?;
    let page = Page {
        secret: v.token,
        ..Page::default()
    };
    hook_page(&app, &p.admin, &id, page).await
}

/// Reads the posted payload through the mapping and shows what a call would write.
pub async fn test(State(app): State<App>, Path(id): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    let payload = p.form.get("payload").to_string();
    let tested = match hooks::test(&app, &p.admin.admin_principal()?, &id, payload.as_bytes()).await
    {
        Ok(t) => Ok(t),
        Err(e) => Err(field_errors(e)?),
    };
    let page = Page {
        payload: Some(payload),
        tested: Some(tested),
        ..Page::default()
    };
    hook_page(&app, &p.admin, &id, page).await
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>, p: Posted) -> AdminResult {
    p.admin.require_admin()?;
    hooks::delete(&app, &p.admin.admin_principal()?, &id).await?;
    done("/admin/hooks", "deleted")
}
