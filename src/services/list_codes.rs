//! List codes ("rubrieken") and list fields ("vrije velden") of a list: defined by the
//! marketer or the integration (JSON API), assigned to contacts by the MailingLijst API.

use serde::{Deserialize, Serialize};

use super::{lists, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::list_code::{validate_name, validate_owner, CodeKind, FieldType};
use crate::domain::validation::Collector;
use crate::domain::{FieldError, ValidationError};
use crate::store::{ListCodeRow, StoreError};

/// `POST /api/v1/lists/{key}/codes`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    /// `code` (a contact has it or not) or `field` (a contact has a value).
    pub kind: String,
    /// 1 to 100 characters, without `;`, `,` or `:`.
    pub name: String,
    /// The owner code whose codes an integration replaces with `owner=` (at most 20).
    #[serde(default)]
    pub owner: String,
    /// For fields: `text` (default), `date`, `number` or `yesno`.
    pub field_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeView {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub owner: String,
    pub field_type: String,
}

impl From<ListCodeRow> for CodeView {
    fn from(c: ListCodeRow) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            name: c.name,
            owner: c.owner,
            field_type: c.field_type,
        }
    }
}

pub async fn create(
    app: &App,
    org_id: i64,
    list_key: &str,
    req: &NewCode,
) -> ServiceResult<CodeView> {
    let list = lists::by_key(app, org_id, list_key).await?;
    let mut c = Collector::default();
    let kind = CodeKind::parse(&req.kind);
    if kind.is_none() {
        c.push(FieldError::new(
            "kind",
            "invalid_kind",
            "kind is code or field",
        ));
    }
    let name = c.take(validate_name(&req.name));
    let owner = c.take(validate_owner(&req.owner));
    let field_type = match (kind, req.field_type.as_deref()) {
        (Some(CodeKind::Code), Some(_)) => {
            c.push(FieldError::new(
                "field_type",
                "not_a_field",
                "only fields have a type",
            ));
            None
        }
        (_, None) => Some(FieldType::Text),
        (_, Some(t)) => {
            let t = FieldType::parse(t);
            if t.is_none() {
                c.push(FieldError::new(
                    "field_type",
                    "invalid_field_type",
                    "field_type is text, date, number or yesno",
                ));
            }
            t
        }
    };
    c.finish()?;
    let (Some(kind), Some(name), Some(owner), Some(field_type)) = (kind, name, owner, field_type)
    else {
        return Err(ValidationError::single("kind", "required", "missing").into());
    };
    match app
        .store
        .insert_list_code(
            org_id,
            list.id,
            kind.as_str(),
            &name,
            &owner,
            field_type.as_str(),
            app.now(),
        )
        .await
    {
        Ok(row) => Ok(row.into()),
        Err(StoreError::Conflict(_)) => Err(ServiceError::Conflict {
            field: "name",
            message: format!("the list has a {kind} named '{name}' already"),
        }),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(app: &App, org_id: i64, list_key: &str) -> ServiceResult<Vec<CodeView>> {
    let list = lists::by_key(app, org_id, list_key).await?;
    Ok(app
        .store
        .list_codes(org_id, Some(list.id))
        .await?
        .into_iter()
        .map(CodeView::from)
        .collect())
}

pub async fn delete(app: &App, org_id: i64, list_key: &str, id: i64) -> ServiceResult<()> {
    let list = lists::by_key(app, org_id, list_key).await?;
    app.store
        .delete_list_code(org_id, list.id, id)
        .await
        .or_not_found("code")
}
