//! `mcp-prompts plugin new` for every language and world: the generated project passes
//! its own test with the language's usual tool, builds with the usual tool, and the
//! component serves real requests in the real server over TLS (pasting the project's
//! own `plugin.toml`). Also `plugin wit` and the refusals of bad input.
//!
//! Projects are generated afresh under target/plugin-new/ on every run; the Rust ones
//! share one CARGO_TARGET_DIR there so their wasm dependencies compile once. A Python or
//! JavaScript build (minutes: an interpreter is snapshotted into the component) is
//! skipped when the project's build inputs are byte for byte those of the component
//! kept from an earlier run under target/plugin-new/built/; any change to a template,
//! an SDK or the WIT rebuilds it.

use crate::common;

use common::{Server, base_config, prompt, run_cli};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const WORLDS: [&str; 3] = ["policy", "renderer", "prompt-handler"];

/// Runs a build or test tool in `dir`; fails the test with its output if it fails.
fn tool(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files a build reads, concatenated with their names (not plugin.toml or README.md,
/// which name the project's folder; not what the tools install or write).
fn build_inputs(dir: &Path) -> Vec<u8> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let skip = [
                "node_modules",
                "build",
                "plugin.toml",
                "README.md",
                "__pycache__",
            ];
            if skip.contains(&rel.as_str()) || rel.ends_with(".wasm") || rel.contains("__pycache__")
            {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for (name, bytes) in files {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&bytes);
        out.push(0);
    }
    out
}

/// Runs `build` in `dir` unless a component built from the same inputs is kept; `wasm`
/// is the file the build writes.
fn build_cached(dir: &Path, key: &str, wasm: &Path, build: impl FnOnce()) {
    let kept = common::repo_root().join("target/plugin-new/built");
    std::fs::create_dir_all(&kept).unwrap();
    let (stamp, copy) = (
        kept.join(format!("{key}.inputs")),
        kept.join(format!("{key}.wasm")),
    );
    let inputs = build_inputs(dir);
    if copy.exists() && std::fs::read(&stamp).ok().as_deref() == Some(inputs.as_slice()) {
        std::fs::copy(&copy, wasm).unwrap();
        return;
    }
    build();
    std::fs::copy(wasm, &copy).unwrap();
    std::fs::write(&stamp, inputs).unwrap();
}

/// `plugin new` for the three worlds of `lang` into a fresh folder; returns
/// (name, project dir) per world.
fn generate(lang: &str, prefix: &str) -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    let base = common::repo_root().join("target/plugin-new");
    std::fs::create_dir_all(&base).unwrap();
    let root = tempfile::Builder::new()
        .prefix(&format!("{lang}-"))
        .tempdir_in(&base)
        .unwrap();
    let mut out = Vec::new();
    for world in WORLDS {
        let name = format!("{prefix}-{world}");
        let dir = root.path().join(&name);
        let (code, stdout, stderr) = run_cli(&[
            "plugin",
            "new",
            "--lang",
            lang,
            "--world",
            world,
            "--dir",
            dir.to_str().unwrap(),
            &name,
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("plugin.toml"), "{stdout}");
        // The shipped WIT is the binary's own.
        assert_eq!(
            std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap(),
            std::fs::read_to_string(common::repo_root().join("wit/plugin.wit")).unwrap()
        );
        out.push((name, dir));
    }
    (root, out)
}

/// The projects' `plugin.toml` snippets, plus a route through the policy and a second
/// default prompt store rendering with the generated renderer.
fn config(prefix: &str, projects: &[(String, PathBuf)]) -> String {
    let mut extra = String::new();
    for (_, dir) in projects {
        extra.push_str(&std::fs::read_to_string(dir.join("plugin.toml")).unwrap());
        extra.push('\n');
    }
    extra.push_str(&format!(
        r#"
[plugins.{prefix}-rstore]
path = "{store}"
world = "prompt-handler"
kv = ["{prefix}-rstore"]
renderer = "{prefix}-renderer"

[plugins.{prefix}-rstore.config]
namespace = "{prefix}-rstore"

[[routes]]
path = "/v1/{prefix}-pol"
handler = "prompt-store"
auth = "optional"
policies = ["{prefix}-policy"]

[[routes]]
path = "/v1/{prefix}-rend"
handler = "{prefix}-rstore"
auth = "optional"
policies = ["policy"]
"#,
        store = common::plugin("prompt_store").display(),
    ));
    let cache = common::repo_root().join("target/test-plugin-cache");
    base_config(&extra).replacen(
        "[runtime]\n",
        &format!("[runtime]\ncache_dir = \"{}\"\n", cache.display()),
        1,
    )
}

/// `mcp-prompts check` on the config: the pasted snippets must pass it (every plugin
/// loads and answers a harmless call). It compiles the components into the runtime's
/// cache dir, which the server then loads from: three interpreter components compiled
/// at start-up could take longer than the harness waits for a server to be ready.
fn check_and_start(config: String) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let data = dir.path().join("data");
    std::fs::write(&path, config.replace("{data}", data.to_str().unwrap())).unwrap();
    let (code, out, err) = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    Server::start_with(&config)
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The requests every language's three plugins must serve.
async fn exercise(s: &Server, prefix: &str) {
    let pol = format!("/v1/{prefix}-pol");
    let writer = s.token("alice", &["--scope", "prompts:write"]);
    let reader = s.token("bob", &[]);

    // Policy: reads pass, an anonymous write is 401, one without the scope 403 with a
    // challenge naming it, one with it passes with the policy's header.
    let r = s.client.get(s.url(&pol)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = prompt("p1", "Hi {{who}}");
    let r = s.client.post(s.url(&pol)).json(&body).send().await.unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(
        (status, v["detail"].as_str()),
        (401, Some("sign in to change prompts")),
        "{v}"
    );
    let r = s
        .client
        .post(s.url(&pol))
        .bearer_auth(&reader)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("scope=\"prompts:write\""), "{challenge}");
    let r = s
        .client
        .post(s.url(&pol))
        .bearer_auth(&writer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-policy"], format!("{prefix}-policy").as_str());

    // Renderer, behind the default prompt store.
    let rend = format!("/v1/{prefix}-rend");
    let r = s
        .client
        .post(s.url(&rend))
        .bearer_auth(&writer)
        .json(&prompt("greet", "Hi {{ who }} from {{place.city}}!"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .post(s.url(&format!("{rend}/greet/apply")))
        .json(&json!({"variables": {"who": "Ada", "place": {"city": "Lyon"}}}))
        .send()
        .await
        .unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(
        (status, v["content"].as_str()),
        (200, Some("Hi Ada from Lyon!")),
        "{v}"
    );

    // Prompt handler: create, read, apply (through the default renderer), update with
    // the expected version, list, delete.
    let store = format!("/v1/{prefix}-prompt-handler");
    let r = s
        .client
        .post(s.url(&store))
        .bearer_auth(&writer)
        .json(&json!({"id": "hello", "content": "Hello {{who}}"}))
        .send()
        .await
        .unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["version"], 1, "{v}");
    let r = s
        .client
        .post(s.url(&store))
        .bearer_auth(&writer)
        .json(&json!({"id": "hello", "content": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = s
        .client
        .post(s.url(&format!("{store}/hello/apply")))
        .json(&json!({"variables": {"who": "world"}}))
        .send()
        .await
        .unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(
        (status, v["content"].as_str()),
        (200, Some("Hello world")),
        "{v}"
    );
    let r = s
        .client
        .put(s.url(&format!("{store}/hello")))
        .bearer_auth(&writer)
        .header("if-match", "\"1\"")
        .json(&json!({"id": "hello", "content": "Bye {{who}}"}))
        .send()
        .await
        .unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!((status, &v["version"]), (200, &json!(2)), "{v}");
    let r = s.client.get(s.url(&store)).send().await.unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.to_string().contains("Bye {{who}}"), "{v}");
    let r = s
        .client
        .delete(s.url(&format!("{store}/hello")))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = s
        .client
        .get(s.url(&format!("{store}/hello")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_projects_test_build_and_serve() {
    let (_root, projects) = generate("rust", "rs");
    // One shared target dir: the wasm dependencies compile once for every project.
    let target = common::repo_root().join("target/plugin-new/cargo");
    let env = [("CARGO_TARGET_DIR", target.as_path())];
    for (name, dir) in &projects {
        tool(dir, "cargo", &["test", "--quiet"], &env);
        tool(dir, "./build.sh", &["--quiet"], &env);
        // plugin.toml names where the build puts the component when CARGO_TARGET_DIR is
        // unset; this test builds elsewhere, so point it at the shared target dir.
        let built = target.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let local = dir.join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let snippet = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
        assert!(snippet.contains(local.to_str().unwrap()), "{snippet}");
        std::fs::write(
            dir.join("plugin.toml"),
            snippet.replace(local.to_str().unwrap(), built.to_str().unwrap()),
        )
        .unwrap();
    }
    let s = tokio::task::spawn_blocking(move || check_and_start(config("rs", &projects)))
        .await
        .unwrap();
    exercise(&s, "rs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_projects_test_build_and_serve() {
    let (_root, projects) = generate("python", "py");
    for (name, dir) in &projects {
        tool(dir, "python3", &["-m", "unittest", "--quiet"], &[]);
        let wasm = dir.join(format!("{name}.wasm"));
        build_cached(dir, name, &wasm, || tool(dir, "./build.sh", &[], &[]));
    }
    let s = tokio::task::spawn_blocking(move || check_and_start(config("py", &projects)))
        .await
        .unwrap();
    exercise(&s, "py").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn js_projects_test_build_and_serve() {
    let (_root, projects) = generate("js", "js");
    for (name, dir) in &projects {
        tool(
            dir,
            "npm",
            &["ci", "--no-audit", "--no-fund", "--silent"],
            &[],
        );
        tool(dir, "npm", &["test", "--silent"], &[]);
        let wasm = dir.join(format!("{name}.wasm"));
        build_cached(dir, name, &wasm, || {
            tool(dir, "npm", &["run", "--silent", "build"], &[])
        });
    }
    let s = tokio::task::spawn_blocking(move || check_and_start(config("js", &projects)))
        .await
        .unwrap();
    exercise(&s, "js").await;
}

#[test]
fn plugin_wit_prints_and_writes_the_servers_wit() {
    let wit = std::fs::read_to_string(common::repo_root().join("wit/plugin.wit")).unwrap();
    let (code, stdout, _) = run_cli(&["plugin", "wit"]);
    assert_eq!((code, stdout.as_str()), (0, wit.as_str()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plugin.wit");
    let (code, _, stderr) = run_cli(&["plugin", "wit", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), wit);
    let version = wit
        .lines()
        .find_map(|l| l.strip_prefix("package mcp-prompts:plugin@"))
        .unwrap()
        .trim_end_matches(';');
    assert!(stderr.contains(version), "{stderr}");
}

#[test]
fn plugin_new_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let new = |args: &[&str]| {
        let mut all = vec!["plugin", "new"];
        all.extend_from_slice(args);
        run_cli(&all)
    };
    let (code, _, stderr) = new(&[
        "--lang",
        "rust",
        "--world",
        "policy",
        "--dir",
        busy.to_str().unwrap(),
        "ok",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not an empty directory"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(busy.join("keep.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_dir(&busy).unwrap().count(),
        1,
        "nothing was written"
    );

    let target = dir.path().join("x");
    let t = target.to_str().unwrap();
    for bad in ["Bad", "1st", "a_b", "trailing-", "two--dashes"] {
        let (code, _, stderr) = new(&["--lang", "js", "--world", "renderer", "--dir", t, bad]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("invalid plugin name"), "{bad}: {stderr}");
    }
    let (code, _, stderr) = new(&["--lang", "cobol", "--world", "policy", "--dir", t, "ok"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value 'cobol' for '--lang"),
        "{stderr}"
    );
    let (code, _, stderr) = new(&["--lang", "rust", "--world", "proxy", "--dir", t, "ok"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value 'proxy' for '--world"),
        "{stderr}"
    );
    assert!(!target.exists(), "a refused command wrote nothing");
}
