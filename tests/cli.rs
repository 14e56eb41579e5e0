//! The command line: check, import (with the real catalog), token.

mod common;

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
