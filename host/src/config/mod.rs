//! Configuration: the TOML schema, loading with precise errors, and validation.
//!
//! Every table denies unknown keys so that a typo is an error at start-up rather than a
//! silently ignored setting. Relative paths are resolved against the config file's folder,
//! so a config works from whatever directory the server is started in.
//!
//! One module per top-level table (small related ones share: `[server]` and `[redirect]`
//! in server.rs, `[logging]` and `[metrics]` in telemetry.rs, the AWS settings in aws.rs),
//! each type taking its defaults from its one `impl Default`. Each table validates itself;
//! the rules between tables are in cross_table.rs, and root.rs runs them all in order.

mod auth;
mod aws;
mod billing;
mod cors;
mod cross_table;
mod limits;
mod mcp;
mod media;
mod names;
pub mod outbound;
mod plugins;
mod reload;
mod root;
mod routes;
mod runtime;
mod server;
mod size;
mod storage;
mod telemetry;
mod users;
pub mod watch;
mod webhooks;

pub use auth::{AuthConfig, DevAuthConfig, IDENTITY_SEPARATOR, OidcProviderConfig, TokenUse};
pub use aws::{AwsStorageConfig, NamespaceTable, SecretsManagerSource};
pub use billing::{
    BillingConfig, PlanConfig, SUBSCRIPTION_PATH, StripeConfig, StripeSecretsManager, WEBHOOK_PATH,
};
pub use cors::CorsConfig;
pub use limits::{LimitsConfig, LimitsMode};
pub use mcp::{McpConfig, McpStdioConfig};
pub use media::MediaConfig;
pub use names::is_valid_name;
pub use plugins::{PluginConfig, StubWasi, WarmConfig, World};
pub use reload::ReloadConfig;
pub use root::{Config, Environment};
pub use routes::{AuthMode, LATEST_LABEL, RouteConfig, is_scope_token};
pub use runtime::RuntimeConfig;
pub use server::{ListenerMode, RedirectConfig, ServerConfig};
pub use size::ByteSize;
pub use storage::{StorageBackend, StorageConfig};
pub use telemetry::{LogFormat, LoggingConfig, MetricsConfig};
pub use users::UsersConfig;
pub use webhooks::{
    DELIVERIES_PATH, EVENT_TYPES, EndpointConfig, WEBHOOKS_NAMESPACE, WebhooksConfig, url_allowed,
};

use std::path::{Path, PathBuf};

/// A configuration problem, always naming the file and, where known, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {key}: {reason}")]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
}

/// What a table's validation needs besides the table itself: the file its errors name.
struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A loaded, validated configuration plus where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub file: PathBuf,
    /// Folder that relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    pub config: Config,
}

impl LoadedConfig {
    /// Resolves a path from the config file relative to the file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.config.storage.data_dir)
    }

    /// The compiled-plugin cache directory, if the cache is enabled.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        let r = &self.config.runtime;
        r.compile_cache.then(|| match &r.cache_dir {
            Some(d) => self.resolve(d),
            None => self.data_dir().join("plugin-cache"),
        })
    }

    pub fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Reads, parses and validates a config file.
pub fn load(file: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Parses and validates config text that came from `file`.
pub fn parse(file: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let interpolated = interpolate_env(text).map_err(|(key, reason)| ConfigError::Invalid {
        file: file.to_path_buf(),
        key,
        reason,
    })?;
    let config: Config = toml::from_str(&interpolated).map_err(|e| ConfigError::Parse {
        file: file.to_path_buf(),
        message: describe_toml_error(&interpolated, &e),
    })?;
    let base_dir = file
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let loaded = LoadedConfig {
        file: file.to_path_buf(),
        base_dir,
        config,
    };
    loaded.config.validate(&Ctx { file: &loaded.file })?;
    // Billing checks read the whole config (routes, users, storage), after the tables.
    billing::validate(&loaded)?;
    Ok(loaded)
}

/// Turns a toml error into one line: "line L, column C: <message>". toml's own Display
/// repeats the source line with a caret over several lines, which reads badly in logs;
/// its message names the offending key (e.g. "unknown field `lisen`, expected one of ...").
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut out = String::new();
    if let Some(span) = e.span() {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        out.push_str(&format!("line {line}, column {column}: "));
        // Name the key being defined on that line, when there is one.
        if let Some(src) = text.lines().nth(line - 1)
            && let Some((key, _)) = src.split_once('=')
        {
            let key = key.trim();
            if !key.is_empty() && !key.starts_with('#') && !key.starts_with('[') {
                out.push_str(&format!("key `{key}`: "));
            }
        }
    }
    out.push_str(e.message().trim());
    out
}

/// Replaces `${VAR}` with the environment variable's value and `${VAR:-default}` with the
/// value or the default. `$${` escapes a literal `${`. An unset variable without default is
/// an error, because silently substituting "" would start a server with a broken config.
fn interpolate_env(text: &str) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or_else(|| {
            (
                "${...}".to_string(),
                "unterminated environment variable reference".to_string(),
            )
        })?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((
                format!("${{{expr}}}"),
                "invalid environment variable name".to_string(),
            ));
        }
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&toml_escape(&v)),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err((
                    format!("${{{name}}}"),
                    "environment variable is not set and has no default".to_string(),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Values are substituted inside TOML strings, so quotes and backslashes must not end them.
fn toml_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_substitutes_defaults_and_escapes() {
        // SAFETY: tests in this module are the only users of this variable name.
        unsafe { std::env::set_var("MCP_TEST_INTERP", "a\"b") };
        let s = interpolate_env(
            "x = \"${MCP_TEST_INTERP}\" y = \"${MCP_NOPE_UNSET:-dflt}\" z = \"$${LIT}\"",
        )
        .unwrap();
        assert_eq!(s, "x = \"a\\\"b\" y = \"dflt\" z = \"${LIT}\"");
    }

    #[test]
    fn interpolation_rejects_unset_variable() {
        let err = interpolate_env("x = \"${MCP_SURELY_UNSET_VAR}\"").unwrap_err();
        assert_eq!(err.0, "${MCP_SURELY_UNSET_VAR}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = parse(Path::new("x.toml"), "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.toml"), "{msg}");
        assert!(msg.contains("lisen"), "{msg}");
    }
}

#[cfg(test)]
mod tests_fixtures;

#[cfg(test)]
mod props;
