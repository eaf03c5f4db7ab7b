//! `/api/v1/imports`: contact imports (scope imports:write). The file and its mapping come as
//! multipart/form-data (`file`, `mapping`); the file goes to disk as it arrives, the answer
//! is `202` with the import, which the workers run; poll `GET /api/v1/imports/{id}`.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use tokio::io::AsyncWriteExt;

use crate::app::App;
use crate::domain::import::MappingInput;
use crate::domain::{Scope, ValidationError};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiPath};
use crate::services::imports::{self, ImportView};
use crate::services::ServiceError;

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ServiceError::from(ValidationError::single(field, code, message)).into()
}

/// Starts an import: `file` (the CSV) and `mapping` (JSON) as multipart/form-data.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file: the CSV; mapping: the column mapping (JSON)"),
    responses((status = 202, body = ImportView), (status = 422, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<App>,
    Auth(p): Auth,
    mut form: Multipart,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    p.require(Scope::ImportsWrite)?;
    let dir = imports::files_dir(&app, p.org_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
    let path = dir.join(format!("{}.csv", uuid::Uuid::new_v4()));
    let mut mapping: Option<MappingInput> = None;
    let mut file_name: Option<String> = None;
    let outcome = async {
        while let Some(mut field) = form
            .next_field()
            .await
            .map_err(|e| invalid("file", "invalid_upload", e.body_text()))?
        {
            match field.name() {
                Some("mapping") => {
                    let text = field
                        .text()
                        .await
                        .map_err(|e| invalid("mapping", "invalid_upload", e.body_text()))?;
                    mapping = Some(
                        serde_json::from_str(&text)
                            .map_err(|e| invalid("mapping", "invalid_mapping", e.to_string()))?,
                    );
                }
                Some("file") => {
                    file_name = Some(field.file_name().unwrap_or("upload.csv").to_string());
                    let mut out = tokio::fs::File::create(&path)
                        .await
                        .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
                    while let Some(bytes) = field
                        .chunk()
                        .await
                        .map_err(|e| invalid("file", "invalid_upload", e.body_text()))?
                    {
                        out.write_all(&bytes)
                            .await
                            .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
                    }
                    out.flush()
                        .await
                        .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
                }
                _ => {}
            }
        }
        let Some(name) = file_name.clone() else {
            return Err(invalid(
                "file",
                "required",
                "the CSV file (form field file)",
            ));
        };
        let Some(mapping) = mapping.clone() else {
            return Err(invalid(
                "mapping",
                "required",
                "the column mapping (form field mapping)",
            ));
        };
        let row = imports::create(&app, &p, "api", &name, &path, &mapping).await?;
        Ok(imports::view(&app, &row).await?)
    }
    .await;
    match outcome {
        Ok(v) => Ok((StatusCode::ACCEPTED, Json(v))),
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ImportView), (status = 404, body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<App>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(imports::get(&app, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/imports", tag = "imports", security(("bearer" = [])),
    responses((status = 200, body = Vec<ImportView>)))]
pub async fn index(
    State(app): State<App>,
    Auth(p): Auth,
) -> Result<Json<Vec<ImportView>>, ApiError> {
    Ok(Json(imports::list(&app, &p).await?))
}
