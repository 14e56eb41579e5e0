//! Black-box test harness: spawns the real `mcp-prompts` binary with a temporary config and
//! data directory, the real plugin components, and talks to it over real TLS.
#![allow(dead_code)]

pub mod idp;
pub mod moto;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-prompts");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A built plugin component; `cargo plugins` must have run (scripts/test.sh does).
pub fn plugin(name: &str) -> PathBuf {
    let p = repo_root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo plugins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A component built from another language by plugins/examples/build.sh (scripts/test.sh
/// runs it), in target/examples/.
pub fn example(name: &str) -> PathBuf {
    let p = repo_root()
        .join("target/examples")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run plugins/examples/build.sh first (scripts/test.sh does)",
        p.display()
    );
    p
}

pub fn catalog_dir() -> PathBuf {
    let p = repo_root().join("../shared/catalog");
    assert!(p.is_dir(), "{} is missing", p.display());
    p
}

/// The default plugin set and one prompt route, as TOML, with `{data}` for the data dir.
pub fn base_config(extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
mode = "tls"
header_read_timeout = "2s"
tls_handshake_timeout = "2s"

[storage]
data_dir = "{{data}}"

[auth.dev]
secret_file = "{{data}}/dev-secret"
generate_if_missing = true

[logging]
format = "json"
level = "info"

[runtime]
max_instances = 200

[plugins.renderer]
path = "{renderer}"
world = "renderer"

[plugins.prompt-store]
path = "{store}"
world = "prompt-handler"
kv = ["prompts"]
renderer = "renderer"
timeout = "5s"

[plugins.policy]
path = "{policy}"
world = "policy"
kv = ["ratelimits"]

[[routes]]
path = "/v1/prompts"
handler = "prompt-store"
auth = "optional"
policies = ["policy"]
{extra}
"#,
        renderer = plugin("renderer").display(),
        store = plugin("prompt_store").display(),
        policy = plugin("policy").display(),
    )
}

/// The default config plus the deliberately misbehaving `test-hostile` plugin mounted at
/// `/v1/hostile` (1 s deadline, 32 MiB memory, kv namespace `scratch`), then `extra`.
pub fn hostile_config(extra: &str) -> String {
    base_config(&format!(
        r#"
[plugins.hostile]
path = "{}"
world = "prompt-handler"
memory_limit = "32MiB"
timeout = "1s"
kv = ["scratch"]

[[routes]]
path = "/v1/hostile"
handler = "hostile"
auth = "none"
{extra}
"#,
        plugin("test_hostile").display()
    ))
}

/// Collects a spawned server's stderr lines into a shared log and sends the URL of its
/// `mcp-prompts listening on URL` stdout line, once, on the returned channel.
pub fn capture_output(
    child: &mut Child,
) -> (Arc<Mutex<Vec<String>>>, std::sync::mpsc::Receiver<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let l2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("mcp-prompts listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    (log, rx)
}

pub struct Server {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub base: String,
    pub client: reqwest::Client,
    pub log: Arc<Mutex<Vec<String>>>,
    /// Extra environment of the server and of `token` (AWS endpoint and credentials).
    pub env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server with the default config.
    pub fn start() -> Self {
        Self::start_with(&base_config(""))
    }

    /// Starts a server with `config` (a TOML template where `{data}` is the data dir).
    pub fn start_with(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, config)
    }

    /// Starts a server in an existing directory (e.g. to restart on the same data).
    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Self {
        Self::start_in_env(dir, config, Vec::new())
    }

    /// Starts a server with `config` and extra environment variables.
    pub fn start_with_env(config: &str, env: Vec<(String, String)>) -> Self {
        Self::start_in_env(tempfile::tempdir().unwrap(), config, env)
    }

    /// As [`Server::start_in`], with extra environment variables.
    pub fn start_in_env(dir: tempfile::TempDir, config: &str, env: Vec<(String, String)>) -> Self {
        let data = dir.path().join("data");
        let config_path = dir.path().join("config.toml");
        std::fs::write(
            &config_path,
            config.replace("{data}", &data.display().to_string()),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config_path)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp-prompts");
        let (log, rx) = capture_output(&mut child);
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let client = client_for(&data, base.starts_with("https"));
        let mut server = Server {
            child: Some(child),
            dir,
            config: config_path,
            base,
            client,
            log,
            env,
        };
        server.wait_ready();
        server
    }

    /// The listener is up before plugins are loaded; wait until `/ready` says 200.
    /// Polls from a plain thread so that this works inside and outside a tokio runtime.
    pub fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            // A client of its own: connections pooled by a runtime that is then dropped
            // must not leak into the test's client.
            let client = client_for(&self.data_dir(), self.base.starts_with("https"));
            let url = self.url("/ready");
            let status = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    client
                        .get(url)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .ok()
                })
            })
            .join()
            .unwrap();
            if status == Some(200) {
                return;
            }
            if !self.is_running() || std::time::Instant::now() > deadline {
                panic!(
                    "server never became ready ({status:?}); log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A development token from `mcp-prompts token` for this server's config.
    pub fn token(&self, sub: &str, extra: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(["token", "--config"])
            .arg(&self.config)
            .args(["--sub", sub])
            .args(extra)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Stops the server with SIGKILL (no chance to flush anything).
    pub fn kill9(&mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTPS client that trusts exactly the server's generated certificate.
pub fn client_for(data: &Path, tls: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if tls {
        let pem = std::fs::read(data.join("tls/cert.pem")).unwrap();
        b = b
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// A minimal valid prompt body.
pub fn prompt(id: &str, content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "name": format!("Prompt {id}"),
        "description": "a test prompt",
        "content": content,
        "isTemplate": true,
        "tags": ["test"],
        "variables": [],
    })
}

/// Runs the binary with args and returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
