//! What the admin UI shows when a request cannot be done: a small page with the reason, in
//! the documented status code.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::services::ServiceError;

pub enum AdminError {
    Service(ServiceError),
    /// A marketer on an admin page.
    Forbidden,
    NotFound,
    /// A form without the session's token, or from another site.
    Csrf,
    TooLarge,
}

impl From<ServiceError> for AdminError {
    fn from(e: ServiceError) -> Self {
        AdminError::Service(e)
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        AdminError::Service(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    css: String,
    title: &'static str,
    message: String,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            AdminError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Only an administrator may open this page. / Alleen een beheerder mag deze pagina openen."
                    .to_string(),
            ),
            AdminError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "This page does not exist (any more). / Deze pagina bestaat niet (meer).".into(),
            ),
            AdminError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form was sent without its security token or from another site. Go back, reload the page and try again. / Het formulier is verlopen of kwam van een andere site: ga terug, laad de pagina opnieuw en probeer het nog eens."
                    .into(),
            ),
            AdminError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "The form or file is larger than this server accepts.".into(),
            ),
            AdminError::Service(e) => match e {
                ServiceError::NotFound(_) | ServiceError::Missing { .. } => (
                    StatusCode::NOT_FOUND,
                    "Not found",
                    e.to_string(),
                ),
                ServiceError::Validation(_) | ServiceError::Conflict { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Cannot do that",
                    e.to_string(),
                ),
                ServiceError::Forbidden(_) | ServiceError::Unauthorized => (
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    e.to_string(),
                ),
                ServiceError::RateLimited(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests",
                    e.to_string(),
                ),
                ServiceError::Upstream { .. } => (StatusCode::BAD_GATEWAY, "Failed", e.to_string()),
                e => {
                    tracing::error!(error = %e, "admin page failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "The server could not do this; the log says why.".into(),
                    )
                }
            },
        };
        let body = ErrorPage {
            css: super::assets::css_path(),
            title,
            message,
        }
        .render()
        .unwrap_or_else(|_| title.to_string());
        (status, axum::response::Html(body)).into_response()
    }
}

pub type AdminResult<T = Response> = Result<T, AdminError>;
