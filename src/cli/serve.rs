//! `handbill serve`.

use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::watch;

use super::ServeArgs;
use crate::app::App;
use crate::config::{redact_url, Config};

pub async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let listen = config.listen;
    let app = App::open(config).await?;
    tracing::info!(
        database = %redact_url(&app.config.database_url()),
        mail = %app.transport.describe(),
        "handbill started"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers =
        (!args.no_workers).then(|| tokio::spawn(crate::workers::run(app.clone(), stop_rx.clone())));
    let bounces = match app.config.bounce_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for bounces on {addr}"))?;
            tracing::info!("bounce listener on smtp://{}", listener.local_addr()?);
            let mut stop = stop_rx.clone();
            let app = app.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = crate::services::bounces::listen(app, listener, stopped).await {
                    tracing::error!(error = %e, "bounce listener failed");
                }
            }))
        }
        None => None,
    };

    if args.workers_only {
        shutdown_signal().await;
    } else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        eprintln!("handbill listening on http://{}", listener.local_addr()?);
        crate::http::serve(app.clone(), listener, shutdown_signal()).await?;
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    if let Some(w) = workers {
        let _ = w.await;
    }
    if let Some(b) = bounces {
        let _ = b.await;
    }
    app.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
