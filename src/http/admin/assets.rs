//! The admin UI's stylesheet and script, embedded in the binary and served under names that
//! carry a hash of their content, so browsers may keep them for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        name: format!("{stem}-{digest}.{ext}"),
        body,
        content_type,
    }
}

static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "admin",
        "css",
        include_str!("assets/admin.css"),
        "text/css; charset=utf-8",
    )
});
static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "admin",
        "js",
        include_str!("assets/admin.js"),
        "text/javascript; charset=utf-8",
    )
});

/// The path of the stylesheet, for the pages.
pub fn css_path() -> String {
    format!("/admin/assets/{}", CSS.name)
}

/// The path of the script, for the pages.
pub fn js_path() -> String {
    format!("/admin/assets/{}", JS.name)
}

pub async fn serve(Path(name): Path<String>) -> Response {
    for a in [&*CSS, &*JS] {
        if a.name == name {
            return (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                a.body,
            )
                .into_response();
        }
    }
    StatusCode::NOT_FOUND.into_response()
}
