//! `[webhooks]`: signed change events per tenant (docs/configuration.md#webhooks,
//! service/webhooks).

use super::names::is_valid_name;
use super::{ConfigError, Ctx};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The host-reserved kv namespace of the outbox and the delivery log.
pub const WEBHOOKS_NAMESPACE: &str = "webhooks";
/// The delivery-status endpoint (GET, the caller's tenant).
pub const DELIVERIES_PATH: &str = "/v1/webhooks/deliveries";

/// The change events a webhook can subscribe to.
pub const EVENT_TYPES: [&str; 3] = ["version.created", "label.moved", "prompt.deleted"];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// How often each host looks at the outboxes for due deliveries.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Time limit of one HTTP attempt (connect to response head).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Wait before the first retry; each further retry waits twice as long…
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// …up to this.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Attempts per endpoint before an event is marked failed.
    pub max_attempts: u32,
    /// An event older than this is marked failed at its next failed attempt.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How long a host's claim on an event lasts (another host takes over after it).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Most events waiting per tenant; further events are dropped (and counted).
    pub max_outbox: usize,
    /// Delivered and failed events kept per tenant for the status endpoint.
    pub keep_recent: usize,
    /// Scopes of which a token needs one for `GET /v1/webhooks/deliveries`; empty: the
    /// endpoint is off.
    pub admin_scopes: Vec<String>,
    pub endpoints: Vec<EndpointConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            max_attempts: 12,
            max_age: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(30),
            max_outbox: 10_000,
            keep_recent: 100,
            admin_scopes: Vec::new(),
            endpoints: Vec::new(),
        }
    }
}

/// `[[webhooks.endpoints]]`: one receiver of one tenant's events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The tenant whose prompt changes are sent.
    pub tenant: String,
    /// `https://…`, or `http://` to a loopback host (127.0.0.1, ::1, localhost) for tests.
    pub url: String,
    /// File holding the signing secret (`whsec_<base64>`, or any string of 24+ bytes).
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the signing secret.
    pub secret_env: Option<String>,
    /// The events sent (default: all of [`EVENT_TYPES`]).
    #[serde(default = "all_events")]
    pub events: Vec<String>,
}

fn all_events() -> Vec<String> {
    EVENT_TYPES.iter().map(|s| s.to_string()).collect()
}

/// Whether `url` may receive webhooks: https anywhere, plain http only on loopback.
pub fn url_allowed(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry credentials (sign with the secret instead)".into());
    }
    match u.scheme() {
        "https" if u.host().is_some() => Ok(()),
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "{url:?} is not allowed: webhooks go over https, plain http only to a \
                     loopback host (127.0.0.1, ::1, localhost)"
                ))
            }
        }
        other => Err(format!(
            "{url:?} is not allowed: the scheme must be https (got {other:?})"
        )),
    }
}

impl WebhooksConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        for (key, d) in [
            ("webhooks.poll_interval", self.poll_interval),
            ("webhooks.timeout", self.timeout),
            ("webhooks.backoff_initial", self.backoff_initial),
            ("webhooks.backoff_max", self.backoff_max),
            ("webhooks.max_age", self.max_age),
            ("webhooks.lease", self.lease),
        ] {
            if d.is_zero() {
                return Err(cx.invalid(key, "must be more than 0"));
            }
        }
        if self.backoff_max < self.backoff_initial {
            return Err(cx.invalid(
                "webhooks.backoff_max",
                "must be at least webhooks.backoff_initial",
            ));
        }
        if self.lease <= self.timeout {
            return Err(cx.invalid(
                "webhooks.lease",
                "must be longer than webhooks.timeout (a claim must outlast its attempt)",
            ));
        }
        if self.max_attempts == 0 {
            return Err(cx.invalid("webhooks.max_attempts", "must be at least 1"));
        }
        if self.max_outbox == 0 {
            return Err(cx.invalid("webhooks.max_outbox", "must be at least 1"));
        }
        if self.keep_recent > 1000 {
            return Err(cx.invalid("webhooks.keep_recent", "must be at most 1000"));
        }
        if let Some(s) = self.admin_scopes.iter().find(|s| !super::is_scope_token(s)) {
            return Err(cx.invalid(
                "webhooks.admin_scopes",
                format!("{s:?} is not a valid scope (RFC 6749 scope-token)"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let key = |k: &str| format!("webhooks.endpoints[{i}].{k}");
            if !is_valid_name(&e.tenant) {
                return Err(cx.invalid(key("tenant"), "must be a valid tenant name"));
            }
            url_allowed(&e.url).map_err(|m| cx.invalid(key("url"), m))?;
            if !seen.insert((e.tenant.as_str(), e.url.as_str())) {
                return Err(cx.invalid(
                    key("url"),
                    format!("{:?} is configured twice for tenant {:?}", e.url, e.tenant),
                ));
            }
            match (&e.secret_file, &e.secret_env) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(cx.invalid(
                        key("secret_file"),
                        "set exactly one of secret_file and secret_env",
                    ));
                }
            }
            if e.events.is_empty() {
                return Err(cx.invalid(key("events"), "must name at least one event"));
            }
            if let Some(bad) = e.events.iter().find(|v| !EVENT_TYPES.contains(&v.as_str())) {
                return Err(cx.invalid(
                    key("events"),
                    format!("{bad:?} is not an event; known: {}", EVENT_TYPES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::url_allowed;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://hooks.example.com/x",
            "http://127.0.0.1:9/x",
            "http://[::1]:8080/",
            "http://localhost/hook",
            "https://10.0.0.1/",
        ] {
            assert!(url_allowed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "http://10.0.0.1/",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
            "https://user:pw@example.com/",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(url_allowed(bad).is_err(), "{bad}");
        }
    }
}
