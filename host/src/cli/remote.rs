//! Client mode of the data-writing commands (`import`, `user set-tier`): the same work
//! done through a running server's REST API with a bearer token, so that it works while
//! a server holds the data — on AWS (any host of the fleet, `--url`) and on the embedded
//! store, whose single-writer file lock a running server holds.
//!
//! Why through the API rather than a second writer on the store: redb allows one process,
//! and the server caches nothing a second writer could invalidate only on AWS; going
//! through the server keeps one code path (policies, tenancy, change notification to MCP
//! sessions) for every write, whichever backend is configured.
//!
//! Which mode runs: `--url` (or `MCP_PROMPTS_URL`) → client mode with `--token`; else
//! the config's store directly, unless it is the embedded store and locked by a running
//! server — then client mode against the config's `server.listen` address with a
//! short-lived token minted from the config's `[auth.dev]` secret (said on stderr).

use crate::config::{self, ListenerMode, LoadedConfig, StorageBackend};
use anyhow::{Context, bail};
use http::{HeaderMap, Method, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Subject of the tokens minted for the automatic fallback.
pub const FALLBACK_SUBJECT: &str = "mcp-prompts-cli";
/// Lifetime of those tokens: long enough for a large import, short enough to be useless
/// if it leaks from a process listing or a log.
const FALLBACK_TTL: Duration = Duration::from_secs(15 * 60);
/// Attempts of one request when the server asks to come back later (429, 503) or the
/// connection fails; every request the commands send is idempotent.
const MAX_ATTEMPTS: u32 = 8;
/// Longest wait between attempts, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How to reach a running server (flattened into each data command).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Base URL of a running server, e.g. https://prompts.example.com: do the work through
    /// its REST API instead of opening the config's store.
    #[arg(long, env = "MCP_PROMPTS_URL")]
    pub url: Option<String>,
    /// Bearer token for --url (an access token of your identity provider, or
    /// `mcp-prompts token`).
    #[arg(long, env = "MCP_PROMPTS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA (or self-signed certificate) to trust for --url, in addition to
    /// the system's roots.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
}

/// Where a data command does its work.
pub enum Mode {
    /// Open the config's store in this process.
    Local(Box<LoadedConfig>),
    /// Through a running server's API; the config, when there is one, supplies defaults.
    Remote {
        client: Client,
        config: Option<Box<LoadedConfig>>,
    },
}

/// What the fallback token must allow and where it runs.
pub struct Needs {
    pub scopes: Vec<String>,
    /// Tenant claim of the token (a command's `--tenant`).
    pub tenant: Option<String>,
}

/// Picks the mode (see the module doc). `needs` is called only for the fallback, with
/// the loaded config, to say which scopes and tenant the minted token carries.
pub async fn choose(
    config_path: Option<&Path>,
    conn: &ConnArgs,
    needs: impl FnOnce(&LoadedConfig) -> anyhow::Result<Needs>,
) -> anyhow::Result<Mode> {
    let lc = match config_path {
        Some(p) => Some(Box::new(config::load(p)?)),
        None => None,
    };
    if let Some(url) = &conn.url {
        let Some(token) = conn.token.clone().filter(|t| !t.trim().is_empty()) else {
            bail!("--url needs a bearer token: pass --token or set MCP_PROMPTS_TOKEN");
        };
        let client = Client::new(url, token, conn.cacert.as_deref())?;
        return Ok(Mode::Remote { client, config: lc });
    }
    let Some(lc) = lc else {
        bail!("pass --config FILE (or MCP_PROMPTS_CONFIG), or --url and --token");
    };
    if lc.config.storage.backend != StorageBackend::Embedded
        || !crate::storage::embedded::is_locked(&lc.data_dir())
    {
        return Ok(Mode::Local(lc));
    }
    let data_dir = lc.data_dir();
    let Some(dc) = &lc.config.auth.dev else {
        bail!(
            "the store in {} is held by a running server, and the config has no [auth.dev] \
             secret to mint a token for its API: pass --url and --token (or MCP_PROMPTS_URL \
             and MCP_PROMPTS_TOKEN), or stop the server",
            data_dir.display()
        );
    };
    let Needs { scopes, tenant } = needs(lc.as_ref())?;
    let provider = crate::auth::DevProvider::load_async(&lc, dc).await?;
    let mut extra = serde_json::Map::new();
    if let Some(t) = tenant {
        extra.insert(lc.config.auth.tenant_claim.clone(), t.into());
    }
    let token = provider.mint(FALLBACK_SUBJECT, &scopes, FALLBACK_TTL, extra)?;
    let server = &lc.config.server;
    let host = match server.listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_string(),
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let (scheme, ca) = match server.mode {
        ListenerMode::Tls => (
            "https",
            Some(match &server.cert_file {
                Some(c) => lc.resolve(c),
                None => data_dir.join("tls/cert.pem"),
            }),
        ),
        ListenerMode::Plain => ("http", None),
    };
    let url = format!("{scheme}://{host}:{}", server.listen.port());
    let ca = conn.cacert.clone().or(ca);
    eprintln!(
        "the store in {} is held by a running server: going through its API at {url} \
         (a {}-minute token from [auth.dev], subject {FALLBACK_SUBJECT})",
        data_dir.display(),
        FALLBACK_TTL.as_secs() / 60
    );
    let client = Client::new(&url, token, ca.as_deref())?;
    Ok(Mode::Remote {
        client,
        config: Some(lc),
    })
}

/// Scopes a token needs to write on `route`: the route's own, and the `write_scopes` of
/// the default policy plugin on it when its config names some (any one of those will do;
/// all are asked for so the token passes whichever the policy checks).
pub fn write_scopes(lc: &LoadedConfig, route: &config::RouteConfig) -> Vec<String> {
    let mut scopes = route.scopes.clone();
    for name in &route.policies {
        let Some(p) = lc.config.plugins.get(name) else {
            continue;
        };
        let listed: Vec<String> = match p.config.get("write_scopes") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(toml::Value::String(s)) => s
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        scopes.extend(listed);
    }
    scopes.retain(|s| config::is_scope_token(s));
    scopes.sort();
    scopes.dedup();
    scopes
}

/// An HTTP response the commands look at.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The problem document's `detail` (and field errors), else the status line.
    pub fn reason(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        let mut text = v
            .get("detail")
            .and_then(|d| d.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| self.status.to_string());
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
            let fields: Vec<String> = errors
                .iter()
                .filter_map(|e| {
                    let f = e.get("field")?.as_str()?;
                    let m = e.get("message")?.as_str()?;
                    (!text.contains(m)).then(|| format!("{f}: {m}"))
                })
                .collect();
            if !fields.is_empty() {
                text = format!("{text} ({})", fields.join("; "));
            }
        }
        text
    }
}

/// A REST client for one server and token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: String, cacert: Option<&Path>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            bail!("--url {base:?}: expected http://HOST[:PORT] or https://HOST[:PORT]");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // Unparseable system certificates are skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if let Some(path) = cacert {
            use rustls_pki_types::pem::PemObject as _;
            let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow::anyhow!("--cacert {}: {e}", path.display()))?;
            if certs.is_empty() {
                bail!("--cacert {}: no PEM certificate in it", path.display());
            }
            for c in certs {
                roots
                    .add(c)
                    .with_context(|| format!("--cacert {}", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // A token must only go where the operator pointed it.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("mcp-prompts-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base, token })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one idempotent request, retrying while the server says "later" (429, 503,
    /// honouring `Retry-After`) or cannot be reached. `path_and_query` is already encoded.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        json_body: Option<&str>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, path_and_query, json_body, None)
            .await
    }

    /// `GET path_and_query` answered as bytes (an image); `None` on 404.
    pub async fn get_bytes(&self, path_and_query: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let url = format!("{}{path_and_query}", self.base);
        let r = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {}", error_chain(&e)))?;
        match r.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| anyhow::anyhow!("{url}: {}", error_chain(&e)))?
                    .to_vec(),
            )),
            s => anyhow::bail!("{url}: {s}"),
        }
    }

    /// [`Client::send`] with an `If-Match` header (a conditional write is idempotent too).
    pub async fn send_with(
        &self,
        method: Method,
        path_and_query: &str,
        json_body: Option<&str>,
        if_match: Option<String>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path_and_query}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rb = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token);
            if let Some(m) = &if_match {
                rb = rb.header(http::header::IF_MATCH, m);
            }
            if let Some(b) = json_body {
                rb = rb
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let wait = match rb.send().await {
                Ok(r) => {
                    let status = r.status();
                    let headers = r.headers().clone();
                    let later = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE;
                    if !later || attempt >= MAX_ATTEMPTS {
                        let body = r.text().await.unwrap_or_default();
                        return Ok(Answer {
                            status,
                            headers,
                            body,
                        });
                    }
                    retry_after(&headers).unwrap_or(backoff(attempt))
                }
                Err(e) if attempt < MAX_ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    backoff(attempt)
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "{url}: {}",
                        crate::cli::remote::error_chain(&e)
                    ));
                }
            };
            tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
        }
    }
}

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    h.get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt.min(20)))
}

/// An error and its sources on one line (reqwest hides the useful part in `source()`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}
