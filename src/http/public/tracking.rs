//! Tracking under `/t/`: the open pixel, click redirects and "view in browser".

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{failed, invalid};
use crate::app::App;
use crate::services::tracking;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// The pixel is the same for every token, valid or not.
pub async fn open(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = tracking::open(&app, &token, user_agent(&headers)).await {
        tracing::error!(error = %e, "could not record an open");
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response()
}

pub async fn click(
    State(app): State<App>,
    Path((token, idx)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(idx) = idx.parse::<i64>() else {
        return invalid(&headers);
    };
    match tracking::click(&app, &token, idx, user_agent(&headers)).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

pub async fn signed_click(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match tracking::signed_click(&app, &token, user_agent(&headers)).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}

pub async fn view(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match tracking::view(&app, &token).await {
        Ok(Some(html)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "private, no-store"),
                (
                    header::HeaderName::from_static("referrer-policy"),
                    "no-referrer",
                ),
            ],
            html,
        )
            .into_response(),
        Ok(None) => invalid(&headers),
        Err(e) => failed(e),
    }
}
