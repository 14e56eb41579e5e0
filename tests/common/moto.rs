//! A real AWS-API server for tests: `moto_server` (PyPI `moto[server]`, installed by
//! scripts/test.sh) on 127.0.0.1, started and stopped by the test harness.
//!
//! [`shared`] is one server per test binary (its start takes seconds), and [`AwsEnv::new`]
//! gives each test its own table, bucket and secret names in it, so tests do not see each
//! other's data. Tests that stop the server (outage) start their own with [`Moto::start`].
#![allow(dead_code)]

use super::{BIN, base_config};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

/// A free port on 127.0.0.1 (bound, then released for moto to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `moto_server` with `threaded=False` (see `Moto::start_on`).
const MOTO_SERIAL: &str = "import sys\n\
from werkzeug.serving import run_simple\n\
from moto.server import DomainDispatcherApplication, create_backend_app\n\
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)\n";

impl Moto {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts moto on `port` and waits until it answers HTTP.
    pub fn start_on(port: u16) -> Self {
        // moto's own `moto_server` serves each request on a thread of its own, and its
        // in-memory DynamoDB does not serialise them: two concurrent conditional writes can
        // both pass their condition (DynamoDB never allows that), which made the If-Match
        // race tests fail now and then. The same moto application, served one request at
        // a time (HTTP/1.0, so no connection holds the server), behaves like DynamoDB.
        let mut cmd = Command::new("python3");
        cmd.args(["-c", MOTO_SERIAL, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // moto must not outlive the test process, even when a test panics or the process
        // is killed: the kernel signals it when the thread that spawned it exits, and the
        // spawning threads here live as long as the process (see `shared`) or the `Moto`.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("spawn moto_server (pip install 'moto[server]'; scripts/test.sh does)");
        let moto = Moto {
            child: Some(child),
            port,
        };
        moto.wait_up();
        moto
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                let mut buf = [0u8; 12];
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && buf.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (an outage); its in-memory data is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The test binary's moto server, started on first use from a thread that never exits
/// (so the parent-death signal fires only when the process ends).
pub fn shared() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let moto = Moto::start();
            tx.send(moto.port).unwrap();
            std::mem::forget(moto);
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap()
    })
}

/// Unique resource names for one test, in the moto server at `port`.
#[derive(Clone)]
pub struct AwsEnv {
    pub port: u16,
    pub suffix: String,
}

impl AwsEnv {
    /// Fresh names in the shared server.
    pub fn new() -> Self {
        Self::on(shared())
    }

    pub fn on(port: u16) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        Self {
            port,
            suffix: format!(
                "{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn prompts_table(&self) -> String {
        format!("mcp-prompts-{}", self.suffix)
    }
    pub fn sessions_table(&self) -> String {
        format!("mcp-sessions-{}", self.suffix)
    }
    pub fn users_table(&self) -> String {
        format!("mcp-users-{}", self.suffix)
    }
    pub fn bucket(&self) -> String {
        format!("mcp-user-prompts-{}", self.suffix)
    }
    pub fn catalog_bucket(&self) -> String {
        format!("mcp-prompts-catalog-{}", self.suffix)
    }
    pub fn secret_id(&self) -> String {
        format!("mcp-prompts/secrets-{}", self.suffix)
    }

    /// Environment of every process that talks to moto: the SDK's standard variables
    /// only (endpoint, static test credentials, region); nothing is in the config.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The `[storage.aws]` table for these names (short timeouts keep outage tests quick).
    pub fn storage_toml(&self) -> String {
        format!(
            r#"
[storage.aws]
force_path_style = true
default_table = "{prompts}"
default_bucket = "{bucket}"
connect_timeout = "500ms"
attempt_timeout = "1s"
operation_timeout = "2s"
max_attempts = 3

[storage.aws.namespaces.prompts]
table = "{prompts}"

[storage.aws.namespaces.users]
table = "{users}"

[storage.aws.namespaces.sessions]
table = "{sessions}"
ttl = "1h"

[storage.aws.namespaces.mcp-sessions]
table = "{sessions}"
ttl = "1h"

[storage.aws.namespaces.ratelimits]
table = "{sessions}"
ttl = "1h"

[storage.aws.buckets]
catalog = "{catalog}"
"#,
            prompts = self.prompts_table(),
            users = self.users_table(),
            sessions = self.sessions_table(),
            bucket = self.bucket(),
            catalog = self.catalog_bucket(),
        )
    }

    /// The harness's default config on the aws backend, then `extra`.
    pub fn config(&self, extra: &str) -> String {
        with_aws_backend(&base_config(&format!("{}\n{extra}", self.storage_toml())))
    }

    /// As [`AwsEnv::config`], with the HS256 secret from Secrets Manager.
    pub fn config_with_secret(&self, extra: &str, refresh: &str, grace: &str) -> String {
        let c = self.config(extra);
        let from = "[auth.dev]\nsecret_file = \"{data}/dev-secret\"\ngenerate_if_missing = true\n";
        assert!(c.contains(from), "base_config's [auth.dev] changed");
        c.replace(
            from,
            &format!(
                "[auth.dev.secrets_manager]\nsecret_id = \"{}\"\nrefresh_interval = \"{refresh}\"\ngrace_period = \"{grace}\"\n",
                self.secret_id()
            ),
        )
    }

    /// Runs `mcp-prompts aws bootstrap` for `config` (a template with `{data}`). Setup,
    /// not the thing under test: it gets generous timeouts (the short ones in
    /// [`AwsEnv::storage_toml`] are for outage tests), since creating tables in moto on a
    /// loaded machine can take seconds.
    pub fn bootstrap(&self, config: &str) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootstrap.toml");
        let config = config
            .replace("{data}", &dir.path().join("data").display().to_string())
            .replace("attempt_timeout = \"1s\"", "attempt_timeout = \"10s\"")
            .replace("operation_timeout = \"2s\"", "operation_timeout = \"30s\"");
        std::fs::write(&path, config).unwrap();
        self.cli(&["aws", "bootstrap", "--config", path.to_str().unwrap()])
    }

    /// Runs the binary with this environment: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .envs(self.env())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// SDK clients for checking what really is in DynamoDB / S3 / Secrets Manager.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        use aws_config::{BehaviorVersion, Region};
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk().await)
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk().await)
                .force_path_style(true)
                .build(),
        )
    }

    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk().await)
    }
}

/// Switches a harness config's `[storage]` table to the aws backend.
pub fn with_aws_backend(config: &str) -> String {
    assert!(config.contains("[storage]\n"));
    config.replacen("[storage]\n", "[storage]\nbackend = \"aws\"\n", 1)
}
