//! `[server]`, the HTTPS (or plain HTTP) listener, and `[redirect]`, the optional plain-HTTP
//! listener that sends browsers to it. Both are listeners bound at start-up.

use super::names::is_valid_authority;
use super::{ByteSize, ConfigError, Ctx};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Loopback port 3003: a fresh install answers only on this machine until told otherwise.
const LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 3003);
/// HTTPS terminated here, with a generated self-signed certificate when none is configured.
const MODE: ListenerMode = ListenerMode::Tls;
/// Prompt bodies are text; anything larger is refused with 413.
const MAX_BODY_SIZE: ByteSize = ByteSize::mib(1);
/// Slow-header protection; hyper also applies it to idle keep-alive connections.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in flight — silent since accept, or between keep-alive
/// requests — is closed after this. Longer than the 60 s idle timeout of an AWS ALB, so the
/// balancer, not this server, closes its pooled connections first (no spurious 502s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Request line plus header fields of one request, on HTTP/1.1 and HTTP/2 alike.
const MAX_HEADER_SIZE: ByteSize = ByteSize::kib(64);
/// Time a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for a whole request; each plugin call also has its own, shorter, timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once; more wait in the accept backlog.
const MAX_CONNECTIONS: usize = 1024;
/// HTTP/1.1 header fields per request.
const MAX_HEADERS: usize = 100;
/// Below ECS's 30 s stop timeout, so in-flight requests end before the task is killed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerMode {
    /// HTTPS terminated by this server (rustls).
    Tls,
    /// Plain HTTP, for running behind a TLS-terminating load balancer.
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub mode: ListenerMode,
    /// PEM certificate chain; without it (and in `tls` mode) a self-signed certificate is
    /// generated into `<data_dir>/tls/` on first run.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub max_body_size: ByteSize,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub tls_handshake_timeout: Duration,
    /// How long a connection may have no request in flight (from accept, and between
    /// keep-alive requests) before it is closed; separate from `header_read_timeout`,
    /// which bounds reading one request's header block once it has started.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Largest header block of one request; larger ones get 431 (HTTP/1.1) or a stream
    /// reset (HTTP/2).
    pub max_header_size: ByteSize,
    /// Deadline for a whole request (reading the body, policies, plugin calls).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_headers: usize,
    /// After SIGTERM/SIGINT, how long in-flight requests may take before connections are
    /// closed. Keep it below the orchestrator's stop timeout (ECS: 30 s).
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer's subnets): the client
    /// address policies see is then the nearest hop not in these networks.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: LISTEN,
            mode: MODE,
            cert_file: None,
            key_file: None,
            max_body_size: MAX_BODY_SIZE,
            header_read_timeout: HEADER_READ_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_header_size: MAX_HEADER_SIZE,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_headers: MAX_HEADERS,
            drain_timeout: DRAIN_TIMEOUT,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(cx.invalid("server.max_connections", "must be at least 1"));
        }
        if self.idle_timeout.is_zero() {
            return Err(cx.invalid("server.idle_timeout", "must be greater than 0"));
        }
        if self.max_header_size.0 < 1024 || self.max_header_size.0 > ByteSize::mib(16).0 {
            return Err(cx.invalid("server.max_header_size", "must be between 1KiB and 16MiB"));
        }
        if self.max_body_size.0 == 0 {
            return Err(cx.invalid("server.max_body_size", "must be at least 1 byte"));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err(cx.invalid("server.key_file", "required when server.cert_file is set"));
            }
            (None, Some(_)) => {
                return Err(cx.invalid("server.cert_file", "required when server.key_file is set"));
            }
            _ => {}
        }
        if self.mode == ListenerMode::Plain && self.cert_file.is_some() {
            return Err(cx.invalid(
                "server.cert_file",
                "set, but server.mode is \"plain\"; remove it or use mode = \"tls\"",
            ));
        }
        Ok(())
    }
}

/// Optional plain-HTTP listener answering every request with a 301 to the canonical HTTPS
/// host. Read at start-up; changing it needs a restart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedirectConfig {
    /// Socket address to listen on; absent = no redirect listener.
    pub listen: Option<SocketAddr>,
    /// host[:port] of the HTTPS server; the request's `Host` header is never used.
    pub canonical_host: Option<String>,
}

impl RedirectConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        match (&self.listen, &self.canonical_host) {
            (Some(_), None) => Err(cx.invalid(
                "redirect.canonical_host",
                "required when redirect.listen is set (host[:port] of the HTTPS server)",
            )),
            (_, Some(h)) if !is_valid_authority(h) => Err(cx.invalid(
                "redirect.canonical_host",
                format!("{h:?} must be host[:port], without scheme, path or user info"),
            )),
            _ => Ok(()),
        }
    }
}
