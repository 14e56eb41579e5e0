//! Reload triggers for a running server: `SIGHUP` always, file changes when
//! `[reload] watch = true`. Reloads are serialised by this one task.

use crate::app::App;
use crate::config::ReloadConfig;
use crate::config::watch::Watcher;
use std::path::PathBuf;
use std::sync::Arc;

/// The SIGHUP handler, installed at start-up (before plugins load) so that a SIGHUP that
/// arrives while they load is remembered and becomes one reload instead of killing the
/// process with the signal's default action.
#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangup = ();

#[cfg(unix)]
pub fn install_sighup() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot install the SIGHUP handler");
            None
        }
    }
}

#[cfg(not(unix))]
pub fn install_sighup() -> Hangup {}

pub fn spawn(app: Arc<App>, config_file: PathBuf, cfg: ReloadConfig, hup: Hangup) {
    tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(1);
        spawn_sighup(tx.clone(), hup);
        let mut watcher = None;
        if cfg.watch {
            match Watcher::start(cfg.debounce) {
                Ok((mut w, mut changes)) => {
                    w.set_files(&watched_files(&app, &config_file));
                    watcher = Some(w);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        while changes.recv().await.is_some() {
                            let _ = tx.try_send("file change");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP"),
            }
        }
        drop(tx);
        while let Some(trigger) = rx.recv().await {
            let started = std::time::Instant::now();
            match app.reload(&config_file).await {
                Ok(()) => {
                    tracing::info!(
                        trigger,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "reloaded configuration and plugins"
                    );
                    if let Some(w) = watcher.as_mut() {
                        w.set_files(&watched_files(&app, &config_file));
                    }
                }
                Err(e) => tracing::error!(
                    trigger,
                    error = %format!("{e:#}"),
                    "reload rejected; the previous configuration keeps serving"
                ),
            }
        }
    });
}

fn watched_files(app: &App, config_file: &std::path::Path) -> Vec<PathBuf> {
    let mut files = vec![config_file.to_path_buf()];
    if let Some(s) = app.snapshot() {
        files.extend(s.plugins.values().map(|p| p.path.clone()));
    }
    files
}

#[cfg(unix)]
fn spawn_sighup(tx: tokio::sync::mpsc::Sender<&'static str>, hup: Hangup) {
    if let Some(mut hup) = hup {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = tx.try_send("SIGHUP");
            }
        });
    }
}

#[cfg(not(unix))]
fn spawn_sighup(_tx: tokio::sync::mpsc::Sender<&'static str>, _hup: Hangup) {}
