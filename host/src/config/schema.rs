//! The config file's schema. Documented key by key in docs/configuration.md.

use super::{ByteSize, ConfigError, LoadedConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `production` refuses development conveniences (the HS256 provider).
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub reload: ReloadConfig,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub redirect: RedirectConfig,
    #[serde(default)]
    pub users: UsersConfig,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub mcp: McpConfig,
}

/// `/users/me` and the stored user profiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersConfig {
    /// Serve `GET`/`PUT /users/me`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// kv namespace of the profiles (the `mcp-users` table on AWS).
    #[serde(default = "default_users_namespace")]
    pub namespace: String,
    /// When a token carries no tier claim, take the tier from the caller's profile.
    #[serde(default = "yes")]
    pub tier_from_profile: bool,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: default_users_namespace(),
            tier_from_profile: true,
        }
    }
}

fn default_users_namespace() -> String {
    "users".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerMode {
    /// HTTPS terminated by this server (rustls).
    Tls,
    /// Plain HTTP, for running behind a TLS-terminating load balancer.
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_mode")]
    pub mode: ListenerMode,
    /// PEM certificate chain; without it (and in `tls` mode) a self-signed certificate is
    /// generated into `<data_dir>/tls/` on first run.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    #[serde(default = "default_max_body")]
    pub max_body_size: ByteSize,
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub tls_handshake_timeout: Duration,
    /// Deadline for a whole request (reading the body, policies, plugin calls).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// After SIGTERM/SIGINT, how long in-flight requests may take before connections are
    /// closed. Keep it below the orchestrator's stop timeout (ECS: 30 s).
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            mode: default_mode(),
            cert_file: None,
            key_file: None,
            max_body_size: default_max_body(),
            header_read_timeout: default_header_timeout(),
            tls_handshake_timeout: default_handshake_timeout(),
            request_timeout: default_request_timeout(),
            max_connections: default_max_connections(),
            max_headers: default_max_headers(),
            drain_timeout: default_drain_timeout(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3003))
}
fn default_mode() -> ListenerMode {
    ListenerMode::Tls
}
fn default_max_body() -> ByteSize {
    ByteSize::mib(1)
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_headers() -> usize {
    100
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(20)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Embedded,
    /// DynamoDB + S3 (`[storage.aws]`, docs/aws.md).
    Aws,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "default_backend")]
    pub backend: StorageBackend,
    /// Holds the embedded database, blobs, the generated TLS certificate and dev secret.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// DynamoDB + S3 settings; required when `backend = "aws"`.
    pub aws: Option<super::AwsStorageConfig>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            data_dir: default_data_dir(),
            aws: None,
        }
    }
}

fn default_backend() -> StorageBackend {
    StorageBackend::Embedded
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Tenant for anonymous requests and tokens without a tenant claim.
    #[serde(default = "default_tenant")]
    pub default_tenant: String,
    /// Claim holding the tenant id.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim holding the subscription tier.
    #[serde(default = "default_tier_claim")]
    pub tier_claim: String,
    /// HS256 development token provider.
    pub dev: Option<DevAuthConfig>,
    /// Cognito / OIDC issuers (RS256 via JWKS), one table each (`[[auth.oidc]]`).
    #[serde(default)]
    pub oidc: Vec<OidcProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            default_tenant: default_tenant(),
            tenant_claim: default_tenant_claim(),
            tier_claim: default_tier_claim(),
            dev: None,
            oidc: Vec::new(),
        }
    }
}

fn default_tenant() -> String {
    "default".into()
}
fn default_tenant_claim() -> String {
    "custom:tenant".into()
}
fn default_tier_claim() -> String {
    "custom:subscriptionTier".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevAuthConfig {
    #[serde(default = "default_dev_issuer")]
    pub issuer: String,
    /// Expected `aud`; tokens minted by `mcp-prompts token` carry it.
    #[serde(default = "default_dev_audience")]
    pub audience: String,
    /// File holding the HS256 secret (at least 32 bytes).
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the secret, used when `secret_file` is not set.
    pub secret_env: Option<String>,
    /// The secret from AWS Secrets Manager (refreshed; previous value kept for a grace period).
    pub secrets_manager: Option<super::SecretsManagerSource>,
    /// Generate a random secret into `secret_file` when it does not exist yet.
    #[serde(default)]
    pub generate_if_missing: bool,
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

/// Cognito's `token_use` claim: which kind of token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    Access,
    Id,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The `iss` of the tokens, e.g. `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    /// Where the key set is published; defaults to `<issuer>/.well-known/jwks.json`.
    pub jwks_uri: Option<String>,
    /// Accepted `token_use` values; empty = the claim is not checked (non-Cognito issuers).
    #[serde(default = "default_token_use")]
    pub token_use: Vec<TokenUse>,
    /// App clients whose tokens are accepted (`client_id` of access tokens, `aud` of ID tokens).
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Required `aud` (RFC 8707 resource indicator), e.g. this server's public URL.
    pub audience: Option<String>,
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    #[serde(default = "default_max_token_size")]
    pub max_token_size: ByteSize,
    #[serde(default = "default_jwks_timeout", with = "humantime_serde")]
    pub jwks_timeout: Duration,
    #[serde(default = "default_jwks_max_size")]
    pub jwks_max_size: ByteSize,
    /// Shortest time between two key-set fetches caused by unknown `kid`s.
    #[serde(default = "default_jwks_refresh_interval", with = "humantime_serde")]
    pub jwks_refresh_interval: Duration,
    /// Key sets older than this are re-fetched in the background.
    #[serde(default = "default_jwks_max_age", with = "humantime_serde")]
    pub jwks_max_age: Duration,
}

impl OidcProviderConfig {
    pub fn jwks_uri(&self) -> String {
        self.jwks_uri.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/jwks.json",
                self.issuer.trim_end_matches('/')
            )
        })
    }
}

fn default_token_use() -> Vec<TokenUse> {
    vec![TokenUse::Access]
}
fn default_max_token_size() -> ByteSize {
    ByteSize(8 * 1024)
}
fn default_jwks_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_jwks_max_size() -> ByteSize {
    ByteSize(64 * 1024)
}
fn default_jwks_refresh_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_jwks_max_age() -> Duration {
    Duration::from_secs(3600)
}

/// Key sets and issuers must be fetched over HTTPS; plain HTTP only to this machine
/// (tests and local identity providers), where nothing on the network can alter it.
fn is_acceptable_key_url(u: &str) -> bool {
    let Ok(url) = u.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = url.host() else {
        return false;
    };
    match url.scheme_str() {
        Some("https") => true,
        Some("http") => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

fn default_dev_issuer() -> String {
    "mcp-prompts-dev".into()
}
fn default_dev_audience() -> String {
    "mcp-prompts".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Use wasmtime's pooling allocator (falls back to on-demand if it cannot reserve memory).
    #[serde(default = "yes")]
    pub pooling: bool,
    /// Concurrent plugin instances the pool holds (each request uses one to three).
    #[serde(default = "default_max_instances")]
    pub max_instances: u32,
    /// Upper bound for any plugin's `memory_limit`; sizes the pool's memory slots.
    #[serde(default = "default_max_memory")]
    pub max_memory: ByteSize,
    /// Epoch tick: the granularity of plugin deadlines and of yielding to other requests.
    #[serde(default = "default_epoch_tick", with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// Memory kept resident per pool slot between instances (avoids page faults on reuse).
    #[serde(default = "default_keep_resident")]
    pub keep_resident: ByteSize,
    /// Maximum native stack for wasm code (deep recursion traps beyond it).
    #[serde(default = "default_wasm_stack")]
    pub max_wasm_stack: ByteSize,
    /// Keep compiled plugins on disk so a restart skips compilation.
    #[serde(default = "yes")]
    pub compile_cache: bool,
    /// Where the compiled-plugin cache lives (default: `<data_dir>/plugin-cache`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: default_max_instances(),
            max_memory: default_max_memory(),
            epoch_tick: default_epoch_tick(),
            keep_resident: default_keep_resident(),
            max_wasm_stack: default_wasm_stack(),
            compile_cache: true,
            cache_dir: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_instances() -> u32 {
    1000
}
fn default_max_memory() -> ByteSize {
    ByteSize::mib(256)
}
fn default_epoch_tick() -> Duration {
    Duration::from_millis(5)
}
fn default_keep_resident() -> ByteSize {
    ByteSize::mib(1)
}
fn default_wasm_stack() -> ByteSize {
    ByteSize(512 * 1024)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. "info" or "mcp_prompts=debug"; `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// `/metrics` (docs/metrics.md). Read at start-up; changing it needs a restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Separate plain-HTTP listener for `/metrics`; when set, only it serves `/metrics`.
    pub listen: Option<SocketAddr>,
    /// Environment variable holding a static token required as `Authorization: Bearer`.
    pub bearer_token_env: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            bearer_token_env: None,
        }
    }
}

/// Cross-origin requests from browsers (docs/configuration.md, `[cors]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins ("https://app.example.com"); empty turns CORS off. "*" is refused.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_cors_methods")]
    pub allowed_methods: Vec<String>,
    #[serde(default = "default_cors_headers")]
    pub allowed_headers: Vec<String>,
    #[serde(default = "default_cors_expose")]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer.
    #[serde(default = "default_cors_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    #[serde(default)]
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_methods: default_cors_methods(),
            allowed_headers: default_cors_headers(),
            expose_headers: default_cors_expose(),
            max_age: default_cors_max_age(),
            allow_credentials: false,
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
fn default_cors_methods() -> Vec<String> {
    strings(&["GET", "POST", "PUT", "DELETE", "OPTIONS"])
}
fn default_cors_headers() -> Vec<String> {
    strings(&["authorization", "content-type", "if-match", "x-request-id"])
}
fn default_cors_expose() -> Vec<String> {
    strings(&[
        "etag",
        "location",
        "x-request-id",
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ])
}
fn default_cors_max_age() -> Duration {
    Duration::from_secs(600)
}

/// Optional plain-HTTP listener answering every request with a 301 to the canonical HTTPS
/// host. Read at start-up; changing it needs a restart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// Socket address to listen on; absent = no redirect listener.
    pub listen: Option<SocketAddr>,
    /// host[:port] of the HTTPS server; the request's `Host` header is never used.
    pub canonical_host: Option<String>,
}

/// An origin as browsers serialize it: `scheme://host[:port]`, nothing else.
fn is_valid_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    is_valid_authority(rest)
}

/// `host[:port]` without user info, path, query or fragment.
fn is_valid_authority(a: &str) -> bool {
    !a.is_empty()
        && !a.contains(['/', '?', '#', '@', '\\'])
        && a.parse::<http::uri::Authority>()
            .is_ok_and(|x| !x.host().is_empty())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config file and plugin files and reload on change (development).
    /// `SIGHUP` reloads whether or not this is set.
    #[serde(default)]
    pub watch: bool,
    /// Quiet period after a change before reloading.
    #[serde(default = "default_debounce", with = "humantime_serde")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: false,
            debounce: default_debounce(),
        }
    }
}

fn default_debounce() -> Duration {
    Duration::from_millis(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    PromptHandler,
    Renderer,
    Policy,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::PromptHandler => "prompt-handler",
            World::Renderer => "renderer",
            World::Policy => "policy",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Path to the component (`.wasm`).
    pub path: PathBuf,
    pub world: World,
    /// Linear memory cap per instance.
    #[serde(default = "default_plugin_memory")]
    pub memory_limit: ByteSize,
    /// Deadline for one call into the plugin (including host calls it makes).
    #[serde(default = "default_plugin_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// kv namespaces this plugin may use.
    #[serde(default)]
    pub kv: Vec<String>,
    /// Blob buckets this plugin may use.
    #[serde(default)]
    pub blob: Vec<String>,
    /// Renderer plugin behind this plugin's `render` import (prompt handlers).
    pub renderer: Option<String>,
    /// The plugin's own settings, readable through its `config` import.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_plugin_memory() -> ByteSize {
    ByteSize::mib(64)
}
fn default_plugin_timeout() -> Duration {
    Duration::from_secs(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A valid token is required.
    Required,
    /// Anonymous allowed; a presented token must still be valid.
    Optional,
    /// Tokens are not looked at.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix the prompt REST API is mounted at, e.g. "/v1/prompts".
    pub path: String,
    /// A `prompt-handler` plugin.
    pub handler: String,
    #[serde(default = "default_auth_mode")]
    pub auth: AuthMode,
    /// `policy` plugins consulted in order; the first denial wins.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Scopes every token must carry on this route (403 `insufficient_scope` otherwise).
    /// Needs `auth = "required"`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Serve every request of this route in this tenant, whoever calls: a catalog shared
    /// by all tenants. Usually with `read_only`.
    pub tenant: Option<String>,
    /// Refuse creates, updates and deletes on this route (405).
    #[serde(default)]
    pub read_only: bool,
}

fn default_auth_mode() -> AuthMode {
    AuthMode::Optional
}

/// The MCP endpoint (docs/mcp.md). It serves the prompts of one REST route, with that
/// route's handler, auth mode and policy chain, so both APIs enforce the same rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the Streamable HTTP endpoint is mounted.
    #[serde(default = "default_mcp_path")]
    pub path: String,
    /// The REST route (its `path`) whose handler, auth and policies MCP uses; default: the
    /// first route.
    pub route: Option<String>,
    /// Browser origins allowed to call the endpoint; a request with any other `Origin`
    /// header is refused (403). Requests without `Origin` (non-browser clients) pass.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Canonical URI of the endpoint (RFC 9728 `resource`), e.g.
    /// "https://prompts.example.com/mcp"; default: derived from the request's Host.
    pub resource: Option<String>,
    /// When set, bearer tokens on `/mcp` must name it in `aud` (audience binding).
    pub audience: Option<String>,
    /// Scopes advertised in the protected-resource metadata.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Idle lifetime of a session (revisions 2025-06-18 and 2025-11-25).
    #[serde(default = "default_session_ttl", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Items per page of `prompts/list`, `resources/list` and the `list_prompts` tool.
    #[serde(default = "default_mcp_page_size")]
    pub page_size: u32,
    /// Who `mcp-prompts stdio` acts as.
    #[serde(default)]
    pub stdio: McpStdioConfig,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: default_mcp_path(),
            route: None,
            allowed_origins: Vec::new(),
            resource: None,
            audience: None,
            scopes_supported: Vec::new(),
            session_ttl: default_session_ttl(),
            page_size: default_mcp_page_size(),
            stdio: McpStdioConfig::default(),
        }
    }
}

/// The local principal of `mcp-prompts stdio` (a desktop client has no bearer token).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpStdioConfig {
    #[serde(default = "default_stdio_subject")]
    pub subject: String,
    /// Default: `auth.default_tenant`.
    pub tenant: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default = "default_stdio_tier")]
    pub tier: String,
}

impl Default for McpStdioConfig {
    fn default() -> Self {
        Self {
            subject: default_stdio_subject(),
            tenant: None,
            scopes: Vec::new(),
            groups: Vec::new(),
            tier: default_stdio_tier(),
        }
    }
}

fn default_mcp_path() -> String {
    "/mcp".into()
}
fn default_session_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_mcp_page_size() -> u32 {
    50
}
fn default_stdio_subject() -> String {
    "local".into()
}
fn default_stdio_tier() -> String {
    "free".into()
}

/// Checks `[mcp]` against the rest of the config.
fn validate_mcp(lc: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &lc.config;
    let m = &c.mcp;
    let path = m.path.trim_end_matches('/');
    if !m.path.starts_with('/') || path.is_empty() || path.contains(['{', '*', '?', '#']) {
        return Err(lc.invalid("mcp.path", "must be a literal path starting with '/'"));
    }
    if ["/health", "/ready", "/metrics", "/.well-known"]
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}/")))
    {
        return Err(lc.invalid("mcp.path", format!("{path} is a built-in route")));
    }
    if m.enabled
        && c.routes.iter().any(|r| {
            let rp = r.path.trim_end_matches('/');
            path == rp || path.starts_with(&format!("{rp}/"))
        })
    {
        return Err(lc.invalid("mcp.path", format!("{path} overlaps a [[routes]] path")));
    }
    if let Some(r) = &m.route
        && !c
            .routes
            .iter()
            .any(|x| x.path.trim_end_matches('/') == r.trim_end_matches('/'))
    {
        return Err(lc.invalid("mcp.route", format!("no [[routes]] entry has path {r:?}")));
    }
    for o in &m.allowed_origins {
        if !is_valid_origin(o) {
            return Err(lc.invalid(
                "mcp.allowed_origins",
                format!("{o:?} is not an origin: use scheme://host[:port]"),
            ));
        }
    }
    if let Some(r) = &m.resource
        && (!r.starts_with("https://") && !r.starts_with("http://") || r.contains('#'))
    {
        return Err(lc.invalid(
            "mcp.resource",
            "must be an absolute http(s) URI without a fragment",
        ));
    }
    if m.audience.as_deref().is_some_and(str::is_empty) {
        return Err(lc.invalid("mcp.audience", "must not be empty"));
    }
    if m.page_size == 0 || m.page_size > 100 {
        return Err(lc.invalid("mcp.page_size", "must be from 1 to 100"));
    }
    if m.session_ttl < Duration::from_secs(1) {
        return Err(lc.invalid("mcp.session_ttl", "must be at least 1s"));
    }
    if let Some(t) = &m.stdio.tenant
        && !is_valid_name(t)
    {
        return Err(lc.invalid("mcp.stdio.tenant", "not a valid tenant name"));
    }
    if m.stdio.subject.is_empty() {
        return Err(lc.invalid("mcp.stdio.subject", "must not be empty"));
    }
    Ok(())
}

/// Name rules shared by tenants, plugins, namespaces and buckets: they end up in storage
/// keys and file names, so keep them to a safe alphabet.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn validate_oidc(lc: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &lc.config;
    let mut seen: Vec<&str> = c.auth.dev.iter().map(|d| d.issuer.as_str()).collect();
    for (i, p) in c.auth.oidc.iter().enumerate() {
        let key = |k: &str| format!("auth.oidc[{i}].{k}");
        if !is_acceptable_key_url(&p.issuer) {
            return Err(lc.invalid(
                key("issuer"),
                format!(
                    "{:?} must be an https:// URL (http:// only for localhost)",
                    p.issuer
                ),
            ));
        }
        if seen.contains(&p.issuer.as_str()) {
            return Err(lc.invalid(key("issuer"), format!("{:?} is configured twice", p.issuer)));
        }
        seen.push(&p.issuer);
        if !is_acceptable_key_url(&p.jwks_uri()) {
            return Err(lc.invalid(
                key("jwks_uri"),
                format!(
                    "{:?} must be an https:// URL (http:// only for localhost)",
                    p.jwks_uri()
                ),
            ));
        }
        if p.client_ids.is_empty() && p.audience.is_none() {
            return Err(lc.invalid(
                key("client_ids"),
                "set client_ids (or audience): without either, tokens the issuer made for any \
                 other application would be accepted",
            ));
        }
        if p.leeway > Duration::from_secs(300) {
            return Err(lc.invalid(key("leeway"), "must be at most 5m (60s or less is usual)"));
        }
        if p.max_token_size.0 < 1024 || p.max_token_size.0 > 64 * 1024 {
            return Err(lc.invalid(key("max_token_size"), "must be between 1KiB and 64KiB"));
        }
        if p.jwks_timeout.is_zero() || p.jwks_timeout > Duration::from_secs(60) {
            return Err(lc.invalid(key("jwks_timeout"), "must be between 1ms and 60s"));
        }
        if p.jwks_max_size.0 < 1024 {
            return Err(lc.invalid(key("jwks_max_size"), "must be at least 1KiB"));
        }
        if p.jwks_refresh_interval < Duration::from_secs(1) {
            return Err(lc.invalid(
                key("jwks_refresh_interval"),
                "must be at least 1s (it bounds the fetches a flood of unknown kids can cause)",
            ));
        }
    }
    Ok(())
}

/// Checks the relations between keys that serde cannot express.
pub(super) fn validate(lc: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &lc.config;
    let s = &c.server;
    if s.max_connections == 0 {
        return Err(lc.invalid("server.max_connections", "must be at least 1"));
    }
    if s.max_body_size.0 == 0 {
        return Err(lc.invalid("server.max_body_size", "must be at least 1 byte"));
    }
    match (&s.cert_file, &s.key_file) {
        (Some(_), None) => {
            return Err(lc.invalid("server.key_file", "required when server.cert_file is set"));
        }
        (None, Some(_)) => {
            return Err(lc.invalid("server.cert_file", "required when server.key_file is set"));
        }
        _ => {}
    }
    if s.mode == ListenerMode::Plain && s.cert_file.is_some() {
        return Err(lc.invalid(
            "server.cert_file",
            "set, but server.mode is \"plain\"; remove it or use mode = \"tls\"",
        ));
    }
    if !is_valid_name(&c.auth.default_tenant) {
        return Err(lc.invalid(
            "auth.default_tenant",
            "must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
        ));
    }
    if let Some(dev) = &c.auth.dev {
        if c.environment == Environment::Production {
            return Err(lc.invalid(
                "auth.dev",
                "the HS256 development provider is refused when environment = \"production\"; \
                 configure an [[auth.oidc]] issuer instead",
            ));
        }
        let sources = [
            dev.secret_file.is_some(),
            dev.secret_env.is_some(),
            dev.secrets_manager.is_some(),
        ];
        if !sources.contains(&true) {
            return Err(lc.invalid(
                "auth.dev",
                "needs secret_file, secret_env or secrets_manager",
            ));
        }
        if dev.secrets_manager.is_some() && sources.iter().filter(|s| **s).count() > 1 {
            return Err(lc.invalid(
                "auth.dev.secrets_manager",
                "cannot be combined with secret_file or secret_env",
            ));
        }
        if dev.generate_if_missing && dev.secret_file.is_none() {
            return Err(lc.invalid(
                "auth.dev.generate_if_missing",
                "needs auth.dev.secret_file to write the generated secret to",
            ));
        }
    }
    validate_oidc(lc)?;
    if !is_valid_name(&c.users.namespace) {
        return Err(lc.invalid("users.namespace", "must be a valid name"));
    }
    if let Some(v) = &c.metrics.bearer_token_env
        && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(lc.invalid(
            "metrics.bearer_token_env",
            "must be an environment variable name (A-Z a-z 0-9 _)",
        ));
    }
    for o in &c.cors.allowed_origins {
        if o.trim() == "*" {
            return Err(lc.invalid(
                "cors.allowed_origins",
                "\"*\" is not allowed: list the exact origins (e.g. \"https://app.example.com\")",
            ));
        }
        if !is_valid_origin(o) {
            return Err(lc.invalid(
                "cors.allowed_origins",
                format!("{o:?} is not an origin: use scheme://host[:port] with no path or trailing slash"),
            ));
        }
    }
    for (key, list) in [
        ("cors.allowed_methods", &c.cors.allowed_methods),
        ("cors.allowed_headers", &c.cors.allowed_headers),
        ("cors.expose_headers", &c.cors.expose_headers),
    ] {
        if let Some(bad) = list.iter().find(|v| {
            v.as_str() == "*"
                || v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        }) {
            return Err(lc.invalid(
                key,
                format!("{bad:?} is not a method or header name (no \"*\")"),
            ));
        }
    }
    match (&c.redirect.listen, &c.redirect.canonical_host) {
        (Some(_), None) => {
            return Err(lc.invalid(
                "redirect.canonical_host",
                "required when redirect.listen is set (host[:port] of the HTTPS server)",
            ));
        }
        (_, Some(h)) if !is_valid_authority(h) => {
            return Err(lc.invalid(
                "redirect.canonical_host",
                format!("{h:?} must be host[:port], without scheme, path or user info"),
            ));
        }
        _ => {}
    }
    super::aws::validate(lc)?;
    let r = &c.runtime;
    if r.max_instances == 0 {
        return Err(lc.invalid("runtime.max_instances", "must be at least 1"));
    }
    if r.epoch_tick < Duration::from_millis(1) || r.epoch_tick > Duration::from_secs(1) {
        return Err(lc.invalid("runtime.epoch_tick", "must be between 1ms and 1s"));
    }
    for (name, p) in &c.plugins {
        let key = |k: &str| format!("plugins.{name}.{k}");
        if !is_valid_name(name) {
            return Err(lc.invalid(
                format!("plugins.{name}"),
                "plugin names are 1-64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if p.memory_limit.0 < 64 * 1024 {
            return Err(lc.invalid(
                key("memory_limit"),
                "must be at least 64KiB (one wasm page)",
            ));
        }
        if p.memory_limit > r.max_memory {
            return Err(lc.invalid(
                key("memory_limit"),
                format!(
                    "{} exceeds runtime.max_memory ({})",
                    p.memory_limit, r.max_memory
                ),
            ));
        }
        if p.timeout.is_zero() {
            return Err(lc.invalid(key("timeout"), "must be greater than zero"));
        }
        for ns in &p.kv {
            if !is_valid_name(ns) {
                return Err(lc.invalid(key("kv"), format!("invalid namespace name {ns:?}")));
            }
        }
        for b in &p.blob {
            if !is_valid_name(b) {
                return Err(lc.invalid(key("blob"), format!("invalid bucket name {b:?}")));
            }
        }
        match (&p.renderer, p.world) {
            (Some(rn), World::PromptHandler) => match c.plugins.get(rn) {
                Some(rp) if rp.world == World::Renderer => {}
                Some(rp) => {
                    return Err(lc.invalid(
                        key("renderer"),
                        format!(
                            "plugin {rn:?} is a {} plugin, not a renderer",
                            rp.world.as_str()
                        ),
                    ));
                }
                None => {
                    return Err(lc.invalid(key("renderer"), format!("no plugin named {rn:?}")));
                }
            },
            (Some(_), w) => {
                return Err(lc.invalid(
                    key("renderer"),
                    format!(
                        "only prompt-handler plugins have a renderer, this is a {} plugin",
                        w.as_str()
                    ),
                ));
            }
            (None, _) => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        let path = route.path.trim_end_matches('/');
        if !route.path.starts_with('/') || path.is_empty() {
            return Err(lc.invalid(key("path"), "must start with '/' and not be the root"));
        }
        if path.contains("{") || path.contains('*') || path.contains("//") {
            return Err(lc.invalid(key("path"), "must be a literal path prefix"));
        }
        let reserved = ["/health", "/ready", "/metrics", "/users", "/.well-known"];
        if reserved
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            return Err(lc.invalid(key("path"), format!("{path} is a built-in route")));
        }
        if !seen.insert(path.to_string()) {
            return Err(lc.invalid(key("path"), format!("duplicate route {path}")));
        }
        match c.plugins.get(&route.handler) {
            Some(p) if p.world == World::PromptHandler => {}
            Some(p) => {
                return Err(lc.invalid(
                    key("handler"),
                    format!(
                        "plugin {:?} is a {} plugin, not a prompt-handler",
                        route.handler,
                        p.world.as_str()
                    ),
                ));
            }
            None => {
                return Err(lc.invalid(
                    key("handler"),
                    format!("no plugin named {:?}", route.handler),
                ));
            }
        }
        for pol in &route.policies {
            match c.plugins.get(pol) {
                Some(p) if p.world == World::Policy => {}
                Some(p) => {
                    return Err(lc.invalid(
                        key("policies"),
                        format!(
                            "plugin {pol:?} is a {} plugin, not a policy",
                            p.world.as_str()
                        ),
                    ));
                }
                None => return Err(lc.invalid(key("policies"), format!("no plugin named {pol:?}"))),
            }
        }
        if let Some(t) = &route.tenant
            && !is_valid_name(t)
        {
            return Err(lc.invalid(key("tenant"), format!("{t:?} is not a valid tenant name")));
        }
        if !route.scopes.is_empty() && route.auth != AuthMode::Required {
            return Err(lc.invalid(
                key("scopes"),
                "required scopes need auth = \"required\" (an anonymous request has none)",
            ));
        }
        if let Some(bad) = route.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(lc.invalid(
                key("scopes"),
                format!("{bad:?} is not a scope (RFC 6749: no spaces, quotes or backslashes)"),
            ));
        }
    }
    validate_mcp(lc)
}

/// RFC 6749 §3.3 `scope-token`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
