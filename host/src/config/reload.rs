//! `[reload]`: reloading on file changes (the watcher itself is in watch.rs).

use serde::Deserialize;
use std::time::Duration;

/// Long enough to fold an editor's write-and-rename, or a cargo build, into one reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config file and plugin files and reload on change (development).
    /// `SIGHUP` reloads whether or not this is set.
    pub watch: bool,
    /// Quiet period after a change before reloading.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: false,
            debounce: DEBOUNCE,
        }
    }
}
