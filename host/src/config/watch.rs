//! Watches the config file and plugin files for changes (development hot reload).
//!
//! Directories are watched non-recursively and events are filtered to the exact files of
//! interest, so build outputs next to a plugin, editor swap files and `target/` churn do
//! not trigger reloads; the debouncer folds an editor's write-rename-chmod burst (or a
//! cargo build's delete-and-link) into one notification.

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Watcher {
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    interesting: Arc<Mutex<HashSet<PathBuf>>>,
    watched_dirs: HashSet<PathBuf>,
}

/// A canonical form for comparing event paths with configured paths: the parent is
/// canonicalised (it exists), the file name kept (the file may be mid-replacement).
fn normalise(path: &Path) -> Option<PathBuf> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.canonicalize().ok()?;
    Some(dir.join(path.file_name()?))
}

impl Watcher {
    /// Starts watching; every relevant change sends `()` on the returned channel.
    pub fn start(debounce: Duration) -> notify::Result<(Self, mpsc::Receiver<()>)> {
        let (tx, rx) = mpsc::channel(1);
        let interesting: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let filter = interesting.clone();
        let debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let Ok(wanted) = filter.lock() else { return };
            let hit = events
                .iter()
                .flat_map(|e| e.paths.iter())
                .filter_map(|p| normalise(p))
                .any(|p| wanted.contains(&p));
            if hit {
                // A full channel already holds a pending reload, which will see this change.
                let _ = tx.try_send(());
            }
        })?;
        Ok((
            Self {
                debouncer,
                interesting,
                watched_dirs: HashSet::new(),
            },
            rx,
        ))
    }

    /// Sets the files of interest (config file and plugin files), watching their folders.
    pub fn set_files(&mut self, files: &[PathBuf]) {
        let normalised: HashSet<PathBuf> = files.iter().filter_map(|f| normalise(f)).collect();
        for file in &normalised {
            if let Some(dir) = file.parent()
                && !self.watched_dirs.contains(dir)
            {
                match self.debouncer.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.watched_dirs.insert(dir.to_path_buf());
                    }
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch for changes")
                    }
                }
            }
        }
        if let Ok(mut i) = self.interesting.lock() {
            *i = normalised;
        }
    }
}
