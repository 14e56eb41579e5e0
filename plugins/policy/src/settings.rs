//! Reading the policy's configuration (`[plugins.NAME.config]`).
//!
//! The host returns strings raw and other TOML values as JSON text. A malformed value
//! is logged and replaced by the *restrictive* choice rather than the default, so a typo
//! in a security setting never opens access.

use crate::ratelimit::{Limits, parse_window};
use std::collections::BTreeMap;

/// Default `rate_window`.
pub const DEFAULT_WINDOW_MS: u64 = 60_000;

/// Which scopes a write needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteScopes {
    /// Any principal may write (`write_scopes` absent or empty).
    Any,
    /// The principal needs one of these scopes, or a group of the same name.
    OneOf(Vec<String>),
    /// `write_scopes` could not be understood: writes are refused.
    Misconfigured,
}

/// Whether and how requests are rate-limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimits {
    /// No `rate_limits` table (or an empty one): nothing is counted.
    Off,
    On(Limits),
    /// `rate_limits` could not be understood: every request is refused.
    Misconfigured,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub anonymous_read: bool,
    pub write_requires_auth: bool,
    pub write_scopes: WriteScopes,
    pub rate_limits: RateLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            anonymous_read: true,
            write_requires_auth: true,
            write_scopes: WriteScopes::Any,
            rate_limits: RateLimits::Off,
        }
    }
}

/// Builds the settings from a config lookup; returns warnings for malformed values.
pub fn load(get: impl Fn(&str) -> Option<String>) -> (Settings, Vec<String>) {
    let mut warnings = Vec::new();
    let defaults = Settings::default();
    let settings = Settings {
        // Restrictive fallback: no anonymous reads.
        anonymous_read: flag(
            &get,
            "anonymous_read",
            defaults.anonymous_read,
            false,
            &mut warnings,
        ),
        // Restrictive fallback: writes need a principal.
        write_requires_auth: flag(
            &get,
            "write_requires_auth",
            defaults.write_requires_auth,
            true,
            &mut warnings,
        ),
        write_scopes: scopes(get("write_scopes"), &mut warnings),
        rate_limits: rate_limits(&get, &mut warnings),
    };
    (settings, warnings)
}

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: bool,
    restrictive: bool,
    warnings: &mut Vec<String>,
) -> bool {
    let Some(raw) = get(key) else {
        return default;
    };
    match raw.trim() {
        "true" => true,
        "false" => false,
        other => {
            warnings.push(format!(
                "policy config `{key}` must be true or false, got `{other}`; using {restrictive}"
            ));
            restrictive
        }
    }
}

/// `write_scopes`: a JSON array of strings (TOML array). A TOML string is also accepted,
/// as a space- or comma-separated list like an OAuth `scope` claim.
fn scopes(raw: Option<String>, warnings: &mut Vec<String>) -> WriteScopes {
    let Some(raw) = raw else {
        return WriteScopes::Any;
    };
    let list: Vec<String> = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Array(items)) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            match strings {
                Some(s) => s,
                None => return misconfigured(&raw, warnings),
            }
        }
        // Other JSON (a number, a table, a bool) is a mistake, not a scope name.
        Ok(_) => return misconfigured(&raw, warnings),
        Err(_) => raw.split([' ', ',']).map(str::to_owned).collect(),
    };
    let list: Vec<String> = list
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        WriteScopes::Any
    } else {
        WriteScopes::OneOf(list)
    }
}

/// `rate_limits` (a table of tier = requests per window, plus the special entries
/// `anonymous` and `default`) and `rate_window`.
fn rate_limits(get: &impl Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> RateLimits {
    let Some(raw) = get("rate_limits") else {
        return RateLimits::Off;
    };
    let table = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(table)) => table,
        _ => {
            warnings.push(format!(
                "policy config `rate_limits` must be a table of tier = requests per window, got `{raw}`; refusing all requests"
            ));
            return RateLimits::Misconfigured;
        }
    };
    let mut tiers = BTreeMap::new();
    for (tier, value) in table {
        let Some(n) = value.as_u64() else {
            warnings.push(format!(
                "policy config `rate_limits.{tier}` must be a whole number of requests >= 0, got `{value}`; refusing all requests"
            ));
            return RateLimits::Misconfigured;
        };
        tiers.insert(tier, n);
    }
    if tiers.is_empty() {
        return RateLimits::Off;
    }
    let window_ms = match get("rate_window") {
        None => DEFAULT_WINDOW_MS,
        Some(w) => parse_window(&w).unwrap_or_else(|| {
            // The default is a sane window; a typo must not mean "per millisecond".
            warnings.push(format!(
                "policy config `rate_window` must be a duration such as \"60s\", \"1m\" or \"1h\", got `{w}`; using 60s"
            ));
            DEFAULT_WINDOW_MS
        }),
    };
    // `rate_namespace` (kv counters before 0.1.1) is accepted and ignored: budgets are
    // kept by the host now, so old configs keep loading.
    RateLimits::On(Limits {
        window_ms,
        default: tiers.remove("default"),
        anonymous: tiers.remove("anonymous"),
        tiers,
    })
}

fn misconfigured(raw: &str, warnings: &mut Vec<String>) -> WriteScopes {
    warnings.push(format!(
        "policy config `write_scopes` must be an array of strings, got `{raw}`; refusing all writes"
    ));
    WriteScopes::Misconfigured
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_from(pairs: &[(&str, &str)]) -> (Settings, Vec<String>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let (s, warnings) = load_from(&[]);
        assert_eq!(s, Settings::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn explicit_values() {
        let (s, warnings) = load_from(&[
            ("anonymous_read", "false"),
            ("write_requires_auth", "false"),
            ("write_scopes", r#"["prompts:write", "admin"]"#),
        ]);
        assert!(warnings.is_empty());
        assert_eq!(
            s,
            Settings {
                anonymous_read: false,
                write_requires_auth: false,
                write_scopes: WriteScopes::OneOf(vec!["prompts:write".into(), "admin".into()]),
                rate_limits: RateLimits::Off,
            }
        );
    }

    #[test]
    fn scope_strings_and_empty_lists() {
        assert_eq!(
            load_from(&[("write_scopes", "[]")]).0.write_scopes,
            WriteScopes::Any
        );
        assert_eq!(
            load_from(&[("write_scopes", "[\"\", \" \"]")])
                .0
                .write_scopes,
            WriteScopes::Any
        );
        assert_eq!(
            load_from(&[("write_scopes", "a b,c")]).0.write_scopes,
            WriteScopes::OneOf(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn malformed_values_fall_back_to_restrictive() {
        let (s, warnings) = load_from(&[
            ("anonymous_read", "yes"),
            ("write_requires_auth", "0"),
            ("write_scopes", "[1, 2]"),
        ]);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(!s.anonymous_read);
        assert!(s.write_requires_auth);
        assert_eq!(s.write_scopes, WriteScopes::Misconfigured);
        assert_eq!(
            load_from(&[("write_scopes", "{\"a\": 1}")]).0.write_scopes,
            WriteScopes::Misconfigured
        );
        assert_eq!(
            load_from(&[("write_scopes", "true")]).0.write_scopes,
            WriteScopes::Misconfigured
        );
    }

    #[test]
    fn rate_limits_table() {
        let (s, warnings) = load_from(&[
            (
                "rate_limits",
                r#"{"free": 60, "premium": 600, "anonymous": 30, "default": 10}"#,
            ),
            ("rate_window", "2m"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            s.rate_limits,
            RateLimits::On(Limits {
                window_ms: 120_000,
                tiers: [("free".to_owned(), 60), ("premium".to_owned(), 600)].into(),
                default: Some(10),
                anonymous: Some(30),
            })
        );
        let (s, _) = load_from(&[
            ("rate_limits", r#"{"free": 5}"#),
            ("rate_namespace", "counters"),
        ]);
        let RateLimits::On(l) = s.rate_limits else {
            panic!("{:?}", s.rate_limits)
        };
        assert_eq!(l.window_ms, 60_000, "rate_namespace is ignored");
        assert_eq!((l.default, l.anonymous), (None, None));
        assert_eq!(
            load_from(&[("rate_limits", "{}")]).0.rate_limits,
            RateLimits::Off
        );
    }

    #[test]
    fn malformed_rate_limits_refuse_requests() {
        for bad in [
            r#"{"free": -1}"#,
            r#"{"free": "60"}"#,
            r#"{"free": 1.5}"#,
            "60",
            "[1]",
            "x",
        ] {
            let (s, warnings) = load_from(&[("rate_limits", bad)]);
            assert_eq!(s.rate_limits, RateLimits::Misconfigured, "{bad}");
            assert_eq!(warnings.len(), 1, "{bad}");
        }
        // A bad window falls back to the default, with a warning.
        let (s, warnings) = load_from(&[("rate_limits", r#"{"free": 1}"#), ("rate_window", "0s")]);
        assert_eq!(warnings.len(), 1);
        assert!(matches!(
            s.rate_limits,
            RateLimits::On(Limits {
                window_ms: 60_000,
                ..
            })
        ));
    }
}
