//! The command line: check, import (with the real catalog), token.

use crate::common;

use common::{Server, base_config, catalog_dir, plugin, run_cli};
use serde_json::{Value, json};

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        text.replace("{data}", &dir.join("data").display().to_string()),
    )
    .unwrap();
    path
}

#[test]
fn check_accepts_the_shipped_dev_config() {
    let cfg = common::repo_root().join("config/dev.toml");
    let (code, out, err) = run_cli(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn check_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown key.
    let p = write_config(
        dir.path(),
        &base_config("").replace("[server]", "[server]\nlisen = 1"),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("config.toml") && err.contains("lisen"),
        "{err}"
    );
    // Semantic error.
    let p = write_config(
        dir.path(),
        &base_config("").replace(
            "kv = [\"prompts\"]",
            "kv = [\"prompts\"]\nmemory_limit = \"4GiB\"",
        ),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("plugins.prompt-store.memory_limit"), "{err}");
    // Bad value type.
    let p = write_config(
        dir.path(),
        &base_config("").replace("mode = \"tls\"", "mode = \"carrier-pigeon\""),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("carrier-pigeon"), "{err}");
    // Dangling reference.
    let p = write_config(
        dir.path(),
        &base_config("").replace("handler = \"prompt-store\"", "handler = \"nope\""),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("routes[0].handler") && err.contains("nope"),
        "{err}"
    );
    // A missing plugin file names the plugin and the path.
    let p = write_config(
        dir.path(),
        &base_config("").replace("policy.wasm", "missing.wasm"),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("\"policy\"") && err.contains("missing.wasm"),
        "{err}"
    );
}

#[test]
fn plugin_needing_an_ungranted_import_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(
        dir.path(),
        &base_config("").replace("kv = [\"prompts\"]", "kv = []"),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("prompt-store")
            && err.contains("mcp-prompts:plugin/kv")
            && err.contains("plugins.prompt-store.kv"),
        "{err}"
    );
    // A component in the wrong world is refused too.
    let p = write_config(
        dir.path(),
        &base_config("").replace(
            &format!(
                "path = \"{}\"\nworld = \"renderer\"",
                plugin("renderer").display()
            ),
            &format!(
                "path = \"{}\"\nworld = \"renderer\"",
                plugin("policy").display()
            ),
        ),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("renderer"), "{err}");
}

/// A Python policy (componentize-py output) in a config of its own, with `keys` added.
fn python_policy_config(keys: &str) -> String {
    base_config(&format!(
        "[plugins.py]\npath = \"{}\"\nworld = \"policy\"\nkv = [\"py\"]\nmemory_limit = \"128MiB\"\n{keys}\n",
        common::example("python_policy").display()
    ))
}

#[test]
fn toolchain_imports_and_counts_are_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    // componentize-py imports wasi:sockets; the refusal names the key that stubs it.
    let p = write_config(dir.path(), &python_policy_config(""));
    let started = std::time::Instant::now();
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("plugin \"py\"")
            && err.contains("wasi:sockets/")
            && err.contains("plugins.py.stub_wasi = [\"sockets\"]"),
        "{err}"
    );
    // 14 core instances (componentize-py 0.25.1), more than 8: refused with the key and the count it needs.
    let p = write_config(
        dir.path(),
        &python_policy_config("stub_wasi = [\"sockets\"]\nmax_core_instances = 8"),
    );
    let (code, _, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("core instances per call, more than its limit of 8")
            && err.contains("set plugins.py.max_core_instances = "),
        "{err}"
    );
    // Both refusals read the file's bytes only: compiling the 18 MB interpreter takes
    // many seconds, so this bound fails if either check ever moves after compilation.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "refusals took {:?}",
        started.elapsed()
    );
}

#[test]
fn inspect_reports_world_imports_grants_counts_and_cost() {
    // A Rust policy: matches the policy world, imports the host's limits (which need no
    // grant), a few core instances.
    let rust = plugin("policy");
    let (code, out, err) = run_cli(&["plugin", "inspect", rust.to_str().unwrap(), "--runs", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "world: policy",
        "mcp-prompts:plugin/access-policy@",
        "mcp-prompts:plugin/limits@",
        "grants needed in [plugins.NAME]:\n  none",
        "instantiate + call: first",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let instances: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("core instances: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no core instance count in:\n{out}"));
    assert!((1..=8).contains(&instances), "{out}");

    // The Python policy: the sockets stub it needs, and it runs (measured).
    let py = common::example("python_policy");
    let (code, out, err) = run_cli(&["plugin", "inspect", py.to_str().unwrap(), "--runs", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "world: policy",
        "stub_wasi = [\"sockets\"]",
        "wasi:sockets/tcp@",
        "initial memory: ",
        "instantiate + call: first",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }

    // Bad inputs: not wasm, and a core module (not a component).
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"definitely not wasm").unwrap();
    let (code, _, err) = run_cli(&["plugin", "inspect", junk.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("not a WebAssembly component"), "{err}");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, _, err) = run_cli(&["plugin", "inspect", core.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("core wasm module, not a component"), "{err}");
    // A handler that renders: its world and the renderer grant, timing skipped (it would
    // need a renderer plugin; `check` measures it with one).
    let (code, out, _) = run_cli(&[
        "plugin",
        "inspect",
        plugin("prompt_store").to_str().unwrap(),
        "--runs",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("world: prompt-handler") && out.contains("renderer = \"NAME\""),
        "{out}"
    );
}

#[test]
fn check_calls_every_plugin_and_reports_one_that_traps() {
    let dir = tempfile::tempdir().unwrap();
    let cache = common::repo_root().join("target/test-plugin-cache");
    let with_hostile = |fail: &str| {
        base_config(&format!(
            "[plugins.pyh]\npath = \"{}\"\nworld = \"policy\"\nkv = [\"py\"]\nmemory_limit = \"128MiB\"\nstub_wasi = [\"sockets\"]\n[plugins.pyh.config]\nfail = \"{fail}\"\n",
            common::example("python_hostile").display()
        ))
        .replacen(
            "[runtime]\n",
            &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
            1,
        )
    };
    // Loads and answers: every plugin gets an `ok` line with its call time.
    let p = write_config(dir.path(), &with_hostile("never"));
    let (code, out, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    for name in ["pyh", "policy", "prompt-store", "renderer"] {
        assert!(
            out.contains(&format!("plugin {name:?}: ok (")),
            "no ok line for {name}:\n{out}"
        );
    }
    // Loads, but traps on every call: `check` used to say ok here.
    let p = write_config(dir.path(), &with_hostile("always"));
    let started = std::time::Instant::now();
    let (code, out, err) = run_cli(&["check", "--config", p.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("plugin \"pyh\": loads, but a harmless call fails"),
        "{err}"
    );
    // The second run found the component in the compile cache (an 18 MB interpreter
    // takes far longer to compile than this on any machine we run on).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "second check took {:?}: compile cache unused?",
        started.elapsed()
    );
}

#[tokio::test]
async fn catalog_imports_idempotently_and_every_template_renders() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &base_config(""));
    let catalog = catalog_dir();
    let (code, out, err) = run_cli(&[
        "import",
        "--config",
        cfg.to_str().unwrap(),
        catalog.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 29, updated 0, unchanged 0, rejected 0"),
        "{out}"
    );
    let (code, out, err) = run_cli(&[
        "import",
        "--config",
        cfg.to_str().unwrap(),
        catalog.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 0, updated 0, unchanged 29, rejected 0"),
        "{out}"
    );

    // A changed file is an update; a broken one is rejected with its reason.
    let extra = tempfile::tempdir().unwrap();
    let mut basic: Value = serde_json::from_str(
        &std::fs::read_to_string(catalog.join("basic-template.json")).unwrap(),
    )
    .unwrap();
    basic["description"] = json!("changed");
    std::fs::write(extra.path().join("basic-template.json"), basic.to_string()).unwrap();
    std::fs::write(extra.path().join("broken.json"), "{\"id\": ").unwrap();
    std::fs::write(extra.path().join("invalid.json"), "{\"id\": \"x\"}").unwrap();
    let (code, out, _) = run_cli(&[
        "import",
        "--config",
        cfg.to_str().unwrap(),
        extra.path().to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        out.contains("created 0, updated 1, unchanged 0, rejected 2"),
        "{out}"
    );
    assert!(
        out.contains("broken.json") && out.contains("invalid.json"),
        "{out}"
    );
    assert!(out.contains("name"), "rejection names the field: {out}");

    // Serve the imported data and render every template with its declared variables.
    let dir_path = dir.path().to_path_buf();
    let s = Server::start_in(dir, &std::fs::read_to_string(&cfg).unwrap());
    assert_eq!(s.dir.path(), dir_path);
    let mut rendered = 0;
    for entry in std::fs::read_dir(&catalog).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let p: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let id = p["id"].as_str().unwrap();
        let mut vars = serde_json::Map::new();
        for v in p["variables"].as_array().cloned().unwrap_or_default() {
            let name = v
                .as_str()
                .map(str::to_string)
                .or_else(|| v["name"].as_str().map(str::to_string));
            let name = name.unwrap();
            vars.insert(name.clone(), json!(format!("<{name} value>")));
        }
        let r = s
            .client
            .post(s.url(&format!("/v1/prompts/{id}/apply")))
            .json(&json!({ "variables": vars }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{id}: {body}");
        let content = body["content"].as_str().unwrap();
        assert!(
            !content.contains("{{"),
            "{id} left a placeholder: {content}"
        );
        for name in vars.keys() {
            if p["content"]
                .as_str()
                .unwrap()
                .contains(&format!("{{{{{name}}}}}"))
            {
                assert!(
                    content.contains(&format!("<{name} value>")),
                    "{id}: {name} not substituted"
                );
            }
        }
        rendered += 1;
    }
    assert_eq!(rendered, 29);
    let list: Value = s
        .client
        .get(s.url("/v1/prompts?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["prompts"].as_array().unwrap().len(), 29);
}

#[test]
fn token_is_verifiable_and_rejects_short_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &base_config(""));
    let (code, out, err) = run_cli(&[
        "token",
        "--config",
        cfg.to_str().unwrap(),
        "--sub",
        "bob",
        "--scope",
        "a",
        "--scope",
        "b",
        "--ttl",
        "5m",
    ]);
    assert_eq!(code, 0, "{err}");
    let parts: Vec<&str> = out.trim().split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["scope"], "a b");
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 300);

    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/dev-secret"), "too-short").unwrap();
    let (code, _, err) = run_cli(&["token", "--config", cfg.to_str().unwrap(), "--sub", "bob"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("auth.dev.secret_file") && err.contains("32"),
        "{err}"
    );
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let s = Server::start();
    let a = s.token("alice", &["--tenant", "acme"]);
    let b = s.token("bob", &["--tenant", "globex"]);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&a)
        .json(&common::prompt("secret-plan", "acme only"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .get(s.url("/v1/prompts/secret-plan"))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .client
        .get(s.url("/v1/prompts/secret-plan"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The same id can exist independently in the other tenant.
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&b)
        .json(&common::prompt("secret-plan", "globex"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Identity headers from the client are ignored.
    let r = s
        .client
        .get(s.url("/v1/prompts/secret-plan"))
        .header("x-user-id", "alice")
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
