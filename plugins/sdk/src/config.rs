//! The plugin's `[plugins.NAME.config]` table. The host returns strings as they are and
//! other TOML values as JSON text.

use serde::de::DeserializeOwned;

/// One value (`None`: not set).
pub fn get(key: &str) -> Option<String> {
    crate::wit::config::get(key)
}

/// A value parsed as JSON into `T` (for TOML arrays, tables, numbers and booleans).
/// `Some(Err)` when it is set but does not parse: let the plugin choose a safe fallback.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<Result<T, serde_json::Error>> {
    get(key).map(|raw| serde_json::from_str(&raw))
}

/// The whole table as a JSON object.
pub fn all_json() -> String {
    crate::wit::config::get_json()
}
