//! Hardening, reload edge cases (issue 15, item 10): a SIGHUP that arrives while plugins are
//! still loading is remembered and applied once they are loaded; it never kills the server.

use crate::common;

use common::{BIN, base_config, capture_output, client_for};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn sighup_while_plugins_load_does_not_kill_the_server() {
    // A fresh data dir: no compiled-plugin cache, so loading takes a while.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        base_config("").replace("{data}", &data.display().to_string()),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log, rx) = capture_output(&mut child);
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("listening");
    // At once, while the plugins are compiling.
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let client = client_for(&data, true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited ({status}) after a SIGHUP during loading; log:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        let ready = rt.block_on(async {
            client
                .get(format!("{base}/ready"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        });
        if ready == Some(200) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The remembered SIGHUP becomes a reload once loading has finished.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("reloaded configuration and plugins"))
    {
        assert!(std::time::Instant::now() < deadline, "no reload logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.try_wait().unwrap().is_none());
    let _ = child.kill();
    let _ = child.wait();
}
