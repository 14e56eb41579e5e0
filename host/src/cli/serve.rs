//! `mcp-prompts serve`.

use super::reload;
use crate::app::App;
use crate::config::{self, ListenerMode};
use crate::http::{server, tls};
use std::path::Path;
use std::process::ExitCode;

pub async fn serve(path: &Path) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    crate::telemetry::init(&lc.config.logging);
    // Before anything slow: a SIGHUP from now on is a reload, never the default "terminate".
    let hup = reload::install_sighup();
    let sc = lc.config.server.clone();
    let data_dir = lc.data_dir();
    let tls_config = match sc.mode {
        ListenerMode::Tls => {
            let cert = sc.cert_file.as_ref().map(|p| lc.resolve(p));
            let key = sc.key_file.as_ref().map(|p| lc.resolve(p));
            let (cfg, source) = tls::server_config(cert.as_deref(), key.as_deref(), &data_dir)?;
            // Logged, not printed: in JSON mode every stderr line is a JSON object.
            match source {
                tls::CertSource::Generated { cert } => tracing::info!(
                    certificate = %cert.display(),
                    "generated a self-signed development certificate"
                ),
                tls::CertSource::Existing { cert } => tracing::info!(
                    certificate = %cert.display(),
                    "using the self-signed development certificate"
                ),
                tls::CertSource::Files => {}
            }
            Some(cfg)
        }
        ListenerMode::Plain => None,
    };
    let app = App::new(&lc).await?;
    // `[metrics] listen`: a separate plain-HTTP listener for /metrics (none by default).
    crate::http::metrics_listener::spawn(app.clone()).await?;
    // `[redirect] listen`: plain HTTP answering 301 to the canonical HTTPS host (none by default).
    crate::http::redirect::spawn(&lc.config.redirect, sc.header_read_timeout).await?;
    let (listener, acceptor) = server::bind(&sc, tls_config).await?;
    let addr = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // Listen first, then compile plugins: `/health` answers at once and `/ready` says 503
    // until the plugins are loaded, which is what a load balancer needs to see.
    tracing::info!(%addr, scheme, allocator = ?app.runtime.allocator(), data_dir = %data_dir.display(), "listening");
    // The test harness and scripts read this line to learn the bound port.
    println!("mcp-prompts listening on {scheme}://{addr}");
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let loader = app.clone();
    let config_file = path.to_path_buf();
    let reload_cfg = lc.config.reload.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match loader.load(lc).await {
            Ok(()) => {
                loader.set_ready(true);
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "plugins loaded; ready"
                );
                // Webhook deliveries from the outboxes, on every serving host.
                crate::service::webhooks::deliver::spawn(loader.clone());
                reload::spawn(loader, config_file, reload_cfg, hup);
            }
            Err(e) => {
                let _ = fail_tx.send(e);
            }
        }
    });
    let ready_app = app.clone();
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let failed2 = failed.clone();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutting down: draining connections"),
            Ok(e) = fail_rx => {
                tracing::error!(error = %format!("{e:#}"), "cannot load plugins; stopping");
                if let Ok(mut f) = failed2.lock() {
                    *f = Some(e);
                }
            }
        }
        ready_app.set_ready(false);
    };
    let drain = sc.drain_timeout;
    server::run(app, listener, acceptor, sc, shutdown, drain).await;
    let failure = failed.lock().ok().and_then(|mut f| f.take());
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
