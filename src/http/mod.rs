//! The HTTP server: native API, operational endpoints, and (in later modules) compat adapters,
//! public pages and the admin UI.

pub mod admin;
pub mod api;
pub mod auth;
pub mod caller;
pub mod client_ip;
pub mod compat;
pub mod download;
pub mod error;
mod hooks;
pub mod metrics;
mod ops;
pub mod public;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;

pub fn router(app: App) -> Router {
    let body_limit = app.config.body_limit_bytes;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api::router())
        .merge(public::router())
        .merge(admin::router())
        .merge(compat::spotler::router())
        .route("/api/ticketshop/optin/register", post(compat::stager::register))
        .route(
            "/api",
            get(compat::mailinglijst::handle).post(compat::mailinglijst::handle),
        )
        .route(
            "/api/",
            get(compat::mailinglijst::handle).post(compat::mailinglijst::handle),
        )
        .route("/api/api.xsd", get(compat::mailinglijst::xsd))
        .route("/webhooks/postmark", post(webhooks::postmark))
        .route("/webhooks/mailgun", post(webhooks::mailgun))
        .route("/webhooks/sendgrid", post(webhooks::sendgrid))
        .route("/webhooks/ses", post(webhooks::ses))
        .route("/hooks/{id}", post(hooks::receive))
        .fallback(error::not_found)
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            // The span names the path but never the query string (compat APIs carry tokens there),
            // and hides the tokens in the paths of public pages.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(app)
}

/// A path fit for logs: public pages (`/p/confirm/TOKEN/…`) and tracking links lose their token.
fn loggable_path(path: &str) -> String {
    let (prefix, rest) = match (path.strip_prefix("/p/"), path.strip_prefix("/t/")) {
        (Some(rest), _) => ("/p/", rest),
        (None, Some(rest)) => ("/t/", rest),
        _ => return path.to_string(),
    };
    match rest.split_once('/') {
        Some((page, rest)) => {
            let tail = rest
                .split_once('/')
                .map(|(_, t)| format!("/{t}"))
                .unwrap_or_default();
            format!("{prefix}{page}/***{tail}")
        }
        None => path.to_string(),
    }
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    metrics::handle();
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_public_paths_are_hidden() {
        assert_eq!(
            super::loggable_path("/p/confirm/abcDEF123"),
            "/p/confirm/***"
        );
        assert_eq!(
            super::loggable_path("/p/confirm/abc/resend"),
            "/p/confirm/***/resend"
        );
        assert_eq!(super::loggable_path("/api/v1/me"), "/api/v1/me");
        assert_eq!(super::loggable_path("/t/c/abc.def"), "/t/c/***");
    }
}
