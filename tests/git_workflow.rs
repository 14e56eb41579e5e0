//! Prompts in Git (issue 13, step 9): `mcp-prompts export` writes one file per prompt with
//! its versions and labels, `import` reads them back (import → export → import is a fixed
//! point), and `import --dry-run` says what would change with exit codes for CI — on both
//! storage backends, against the real binary and plugins over TLS. On the embedded store
//! the commands go through the running server's API (it holds the store); on DynamoDB
//! (moto) they open the store in the CLI's process, so both ways are covered.

use crate::common;
use crate::rest_suite;

use common::moto::{AwsEnv, free_port};
use common::{Server, run_cli};
use rest_suite::Api;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `production` needs `prompts:deploy` to move; the server listens on a fixed port (the
/// CLI's fallback reaches it at `server.listen`).
fn config(base: String) -> String {
    let anchor = "policies = [\"policy\"]\n";
    assert!(base.contains(anchor), "base_config's route changed");
    base.replacen(
        anchor,
        &format!("{anchor}protected_labels = {{ production = \"prompts:deploy\" }}\n"),
        1,
    )
    .replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{}\"", free_port()),
    )
}

/// A server on one backend, and how to run the CLI against its config.
struct Backend {
    api: Api,
    env: Option<AwsEnv>,
}

impl Backend {
    fn embedded() -> Self {
        Backend {
            api: Api::new(Server::start_with(&config(common::base_config("")))),
            env: None,
        }
    }

    fn aws() -> Self {
        let env = AwsEnv::new();
        let config = config(env.config(""));
        let (code, out, err) = env.bootstrap(&config);
        assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
        Backend {
            api: Api::new(Server::start_with_env(&config, env.env())),
            env: Some(env),
        }
    }

    /// `mcp-prompts ARGS --config CONFIG`: (exit code, stdout, stderr).
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.api.s.config.to_str().unwrap()]);
        match &self.env {
            Some(env) => env.cli(&all),
            None => run_cli(&all),
        }
    }

    fn export(&self, dir: &Path, extra: &[&str]) {
        let mut args = vec!["export", dir.to_str().unwrap()];
        args.extend(extra);
        let (code, out, err) = self.cli(&args);
        assert_eq!(code, 0, "export: {out}{err}");
    }

    /// `import DIR EXTRA…`: (exit code, stdout + stderr).
    fn import(&self, dir: &Path, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["import", dir.to_str().unwrap()];
        args.extend(extra);
        let (code, out, err) = self.cli(&args);
        (code, format!("{out}{err}"))
    }

    fn deployer(&self) -> String {
        self.api.s.token(
            "dora",
            &["--scope", "prompts:write", "--scope", "prompts:deploy"],
        )
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .api
            .s
            .client
            .request(method, self.api.s.url(path))
            .bearer_auth(self.deployer())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .api
            .s
            .client
            .get(self.api.s.url(path))
            .bearer_auth(self.deployer())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    async fn labels(&self, id: &str) -> BTreeMap<String, u64> {
        let v = self.get(&format!("/v1/prompts/{id}/labels")).await;
        v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_string(),
                    l["version"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// `greet`: a text prompt in three versions with commit messages, `production` on 2
    /// and `staging` on 3; `chat`: a chat prompt with config in two versions, `staging`
    /// on 1.
    async fn seed(&self) {
        use reqwest::Method;
        self.send(
            Method::POST,
            "/v1/prompts",
            json!({"id": "greet", "name": "Greet", "content": "Hello {{name}}",
                   "tags": ["a"], "variables": ["name"], "message": "first"}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/greet",
            json!({"content": "Hello {{name}}!", "message": "excited"}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/greet",
            json!({"content": "Hi {{name}}", "tags": ["a", "b"], "message": "shorter"}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/greet/labels/production",
            json!({"version": 2}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/greet/labels/staging",
            json!({"version": 3}),
        )
        .await;
        self.send(
            Method::POST,
            "/v1/prompts",
            json!({"id": "chat", "name": "Chat", "type": "chat",
                   "messages": [
                       {"role": "system", "content": "Be {{tone}}."},
                       {"type": "placeholder", "name": "history"},
                       {"role": "user", "content": "{{question}}"}
                   ],
                   "config": {"model": "small", "temperature": 0.2, "tools": [{"name": "search"}]},
                   "message": "chat v1"}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/chat",
            json!({"config": {"model": "large", "temperature": 0.2}, "message": "bigger model"}),
        )
        .await;
        self.send(
            Method::PUT,
            "/v1/prompts/chat/labels/staging",
            json!({"version": 1}),
        )
        .await;
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json_of(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&read(dir, name)).unwrap()
}

/// Every file of `dir`, name → bytes.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A file without who created the prompt and wrote its versions (the store records
/// whoever imports).
fn without_authors(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("versionAuthor");
    v.as_object_mut().unwrap().remove("author");
    for h in v["history"].as_array_mut().unwrap() {
        h.as_object_mut().unwrap().remove("versionAuthor");
    }
    v
}

async fn export_writes_versions_labels_and_config(b: Backend) {
    b.seed().await;
    let dir = tempfile::tempdir().unwrap();
    b.export(dir.path(), &[]);
    assert_eq!(
        files(dir.path()).keys().collect::<Vec<_>>(),
        ["chat.json", "greet.json"]
    );
    let text = read(dir.path(), "greet.json");
    assert!(text.ends_with("}\n"), "trailing newline");
    assert!(
        text.starts_with("{\n  \"id\": \"greet\",\n  \"type\": \"text\",\n"),
        "{text}"
    );
    assert!(
        !text.contains("createdAt") && !text.contains("updatedAt"),
        "{text}"
    );
    let g = json_of(dir.path(), "greet.json");
    assert_eq!(g["version"], 3);
    assert_eq!(g["content"], "Hi {{name}}");
    assert_eq!(g["message"], "shorter");
    assert_eq!(g["labels"], json!({"production": 2, "staging": 3}));
    let history: Vec<_> = g["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["version"].clone(),
                h["content"].clone(),
                h["message"].clone(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (json!(1), json!("Hello {{name}}"), json!("first")),
            (json!(2), json!("Hello {{name}}!"), json!("excited")),
        ]
    );
    let c = json_of(dir.path(), "chat.json");
    assert_eq!(c["type"], "chat");
    assert_eq!(
        c["messages"][1],
        json!({"type": "placeholder", "name": "history"})
    );
    assert_eq!(c["config"], json!({"model": "large", "temperature": 0.2}));
    assert_eq!(
        c["history"][0]["config"]["tools"],
        json!([{"name": "search"}])
    );
    assert_eq!(c["labels"], json!({"staging": 1}));

    // An unchanged store exports byte-identical files.
    let before = files(dir.path());
    b.export(dir.path(), &[]);
    assert_eq!(files(dir.path()), before);

    // Only labelled versions: greet keeps 2 (production) besides the newest.
    let labelled = tempfile::tempdir().unwrap();
    b.export(labelled.path(), &["--labelled-only"]);
    let g = json_of(labelled.path(), "greet.json");
    let numbers: Vec<_> = g["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2]);
    assert_eq!(g["version"], 3);

    // Both re-import into their store as a no-op, and a dry run says so with exit 0.
    for d in [dir.path(), labelled.path()] {
        let (code, out) = b.import(d, &["--dry-run"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("greet.json: greet: unchanged"), "{out}");
        assert!(
            out.contains("created 0, updated 0, unchanged 2, rejected 0"),
            "{out}"
        );
        let (code, out) = b.import(d, &[]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("created 0, updated 0, unchanged 2, rejected 0"),
            "{out}"
        );
    }
    assert_eq!(b.get("/v1/prompts/greet?label=latest").await["version"], 3);
}

async fn import_export_import_is_a_fixed_point(b: Backend, fresh: Backend) {
    b.seed().await;
    let first = tempfile::tempdir().unwrap();
    b.export(first.path(), &[]);

    // Into an empty store: versions, numbers, messages, config and labels come back.
    let (code, out) = fresh.import(first.path(), &["--allow-protected"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("created 2, updated 0, unchanged 0, rejected 0"),
        "{out}"
    );
    assert_eq!(
        fresh.labels("greet").await,
        BTreeMap::from([
            ("latest".to_string(), 3),
            ("production".to_string(), 2),
            ("staging".to_string(), 3)
        ])
    );
    let v2 = fresh.get("/v1/prompts/greet?version=2").await;
    assert_eq!(
        (v2["content"].as_str(), v2["message"].as_str()),
        (Some("Hello {{name}}!"), Some("excited"))
    );
    let chat = fresh.get("/v1/prompts/chat?label=staging").await;
    assert_eq!(chat["config"]["tools"], json!([{"name": "search"}]));
    assert_eq!(chat["messages"].as_array().unwrap().len(), 3);

    let second = tempfile::tempdir().unwrap();
    fresh.export(second.path(), &[]);
    for name in ["greet.json", "chat.json"] {
        assert_eq!(
            without_authors(json_of(second.path(), name)),
            without_authors(json_of(first.path(), name)),
            "{name}"
        );
    }
    // Import of that export changes nothing, and exports byte-identical files.
    let (code, out) = fresh.import(second.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unchanged 2"), "{out}");
    let third = tempfile::tempdir().unwrap();
    fresh.export(third.path(), &[]);
    assert_eq!(files(third.path()), files(second.path()));

    // The labelled-only export renumbers into an empty store (2, 3 → 1, 2), labels
    // following their versions; re-importing the same directory is then a no-op.
    let labelled = tempfile::tempdir().unwrap();
    b.export(labelled.path(), &["--labelled-only"]);
    for p in ["greet", "chat"] {
        fresh.api.delete(&format!("/v1/prompts/{p}")).await;
    }
    let (code, out) = fresh.import(labelled.path(), &["--allow-protected"]);
    assert_eq!(code, 0, "{out}");
    let l = fresh.labels("greet").await;
    assert_eq!((l["production"], l["staging"], l["latest"]), (1, 2, 2));
    let (code, out) = fresh.import(labelled.path(), &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unchanged 2"), "{out}");
}

/// A 1×1 PNG (the smallest image the server accepts as one).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// An exported file holds its images' bytes, not references into the store it came
/// from: it imports into a store that never saw them, and the round trip is still a
/// fixed point (an image compares by its hash, as bytes or as a reference).
async fn images_travel_inside_exported_files(b: Backend, fresh: Backend) {
    use base64::Engine;
    use reqwest::Method;
    let data = base64::engine::general_purpose::STANDARD.encode(PNG);
    let created = b
        .send(
            Method::POST,
            "/v1/prompts",
            json!({"id": "pic", "name": "Pic", "type": "chat", "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "mimeType": "image/png", "data": data}
                ]}
            ]}),
        )
        .await;
    // Version 2 keeps the image by the reference a read returned.
    let image_ref = created["messages"][0]["content"][1].clone();
    let sha = image_ref["sha256"].as_str().unwrap().to_string();
    b.send(
        Method::PUT,
        "/v1/prompts/pic",
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "And this?"}, image_ref
        ]}], "message": "reworded"}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    b.export(dir.path(), &[]);
    let text = read(dir.path(), "pic.json");
    assert!(
        !text.contains(&sha),
        "no reference into the old store: {text}"
    );
    assert_eq!(
        text.matches(&data).count(),
        2,
        "both versions carry the bytes: {text}"
    );

    let (code, out) = fresh.import(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("created 1"), "{out}");
    let got = fresh.get("/v1/prompts/pic?version=1").await;
    assert_eq!(got["messages"][0]["content"][1]["sha256"], sha.as_str());
    let r = fresh
        .api
        .s
        .client
        .get(fresh.api.s.url(&format!("/v1/prompts/pic/blobs/{sha}")))
        .bearer_auth(fresh.deployer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), PNG);

    // Nothing to do against either store, and the second export is the first.
    for (store, name) in [(&b, "source"), (&fresh, "copy")] {
        let (code, out) = store.import(dir.path(), &["--dry-run"]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains("unchanged 1"), "{name}: {out}");
    }
    let again = tempfile::tempdir().unwrap();
    fresh.export(again.path(), &[]);
    assert_eq!(
        without_authors(json_of(again.path(), "pic.json")),
        without_authors(json_of(dir.path(), "pic.json"))
    );
}

async fn dry_run_shows_changes_and_import_applies_them(b: Backend) {
    b.seed().await;
    let dir = tempfile::tempdir().unwrap();
    b.export(dir.path(), &[]);
    let path = dir.path().join("greet.json");

    // Edit the newest version in the file (a new version; staging follows it, since it
    // names the file's version 3), and drop staging from chat.
    let mut g: Value = json_of(dir.path(), "greet.json");
    g["content"] = json!("Hi {{name}}, edited");
    g["message"] = json!("from git");
    std::fs::write(&path, serde_json::to_string_pretty(&g).unwrap()).unwrap();
    let mut c: Value = json_of(dir.path(), "chat.json");
    c["labels"] = json!({});
    std::fs::write(dir.path().join("chat.json"), c.to_string()).unwrap();

    let (code, out) = b.import(dir.path(), &["--dry-run"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("greet.json: greet: would be new version 4; label staging 3 -> 4"),
        "{out}"
    );
    assert!(
        out.contains("-Hi {{name}}\n") && out.contains("+Hi {{name}}, edited"),
        "{out}"
    );
    assert!(
        out.contains("chat: would be label staging 1 -> removed"),
        "{out}"
    );
    assert!(
        out.contains("dry run (nothing written): created 0, updated 2, unchanged 0"),
        "{out}"
    );
    // Nothing was written.
    assert_eq!(b.get("/v1/prompts/greet?label=latest").await["version"], 3);
    assert_eq!(b.labels("chat").await.get("staging"), Some(&1));

    let (code, out) = b.import(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("created 0, updated 2, unchanged 0, rejected 0"),
        "{out}"
    );
    let v4 = b.get("/v1/prompts/greet?label=staging").await;
    assert_eq!(
        (
            v4["version"].as_u64(),
            v4["content"].as_str(),
            v4["message"].as_str()
        ),
        (Some(4), Some("Hi {{name}}, edited"), Some("from git"))
    );
    assert_eq!(b.labels("greet").await["production"], 2);
    assert_eq!(b.labels("chat").await.get("staging"), None);
    let (code, out) = b.import(dir.path(), &["--dry-run"]);
    assert_eq!(code, 0, "applied, the directory is in sync: {out}");

    // Moving the protected label needs --allow-protected (locally) or its scope (the
    // server's check, through the API), and the dry run says so too.
    let mut g: Value = json_of(dir.path(), "greet.json");
    g["labels"]["production"] = json!(3);
    std::fs::write(&path, g.to_string()).unwrap();
    for extra in [&["--dry-run"][..], &[]] {
        let (code, out) = b.import(dir.path(), extra);
        if b.env.is_some() || extra.is_empty() {
            assert_eq!(code, 2, "{extra:?}: {out}");
            assert!(
                out.contains("rejected") && out.contains("production"),
                "{out}"
            );
            assert!(out.contains("prompts:deploy"), "{out}");
        }
    }
    assert_eq!(b.labels("greet").await["production"], 2);
    let (code, out) = b.import(dir.path(), &["--allow-protected"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(b.labels("greet").await["production"], 4);

    // A history entry that matches nothing stored but is followed by ones that do
    // would rewrite history: refused, naming it.
    let mut g: Value = json_of(dir.path(), "greet.json");
    g["history"][0]["content"] = json!("rewritten");
    std::fs::write(&path, g.to_string()).unwrap();
    let (code, out) = b.import(dir.path(), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("greet.json") && out.contains("history[0]"),
        "{out}"
    );
}

async fn bad_files_exit_2_naming_the_file(b: Backend) {
    let cases = [
        ("malformed.json", "{\"id\": \"x\",".to_string(), "not valid JSON"),
        (
            "unknown.json",
            json!({"id": "u", "name": "U", "content": "x", "labels": {}, "colour": "red"}).to_string(),
            "unknown field \"colour\"",
        ),
        (
            "history.json",
            json!({"id": "h", "name": "H", "content": "x", "history": [{"version": 1, "content": "y", "shade": 1}]}).to_string(),
            "history[0].shade",
        ),
        (
            "type.json",
            json!({"id": "t", "name": "T", "type": "audio", "content": "x"}).to_string(),
            "type",
        ),
        (
            "label.json",
            json!({"id": "l", "name": "L", "content": "x", "version": 1, "labels": {"production": 5}}).to_string(),
            "labels.production",
        ),
    ];
    for (name, text, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        for extra in [&["--dry-run"][..], &[]] {
            let (code, out) = b.import(dir.path(), extra);
            assert_eq!(code, 2, "{name} {extra:?}: {out}");
            let line = out
                .lines()
                .find(|l| l.starts_with("rejected ") && l.contains(name))
                .unwrap_or_else(|| panic!("{name}: no rejection line: {out}"));
            assert!(line.contains(reason), "{name}: {line}");
        }
    }
    // Nothing of it was stored.
    let r = b.api.get("/v1/prompts/t").await;
    assert_eq!(r.status(), 404);
}

/// A plain prompt document (the catalog's import format) still imports, and a dry run
/// compares it with the handler's defaults: unchanged after its import.
async fn plain_documents_still_import_and_dry_run(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plain.json"),
        json!({"id": "plain", "name": "Plain", "template": "Dear {{who}}", "variables": ["who"],
               "categories": ["letters"], "examples": []})
        .to_string(),
    )
    .unwrap();
    let (code, out) = b.import(dir.path(), &["--dry-run"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("plain: would be created with version 1"),
        "{out}"
    );
    let (code, out) = b.import(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("created 1, updated 0, unchanged 0, rejected 0"),
        "{out}"
    );
    let (code, out) = b.import(dir.path(), &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    // And its export is a file the same import takes as unchanged.
    let out_dir = tempfile::tempdir().unwrap();
    b.export(out_dir.path(), &[]);
    let p = json_of(out_dir.path(), "plain.json");
    assert_eq!(
        (p["content"].as_str(), p["category"].as_str()),
        (Some("Dear {{who}}"), Some("letters"))
    );
    let (code, out) = b.import(out_dir.path(), &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
}

/// The embedded store with no server running: the commands open it themselves.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_store_without_a_server_works_locally() {
    let b = Backend::embedded();
    b.seed().await;
    let config = b.api.s.config.clone();
    let mut api = b.api;
    let _dir = api.s.kill9();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-prompts"))
        .args(["export", "--config", cfg, dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("held by a running server"),
        "local, not through an API"
    );
    let g = json_of(dir.path(), "greet.json");
    assert_eq!(g["labels"], json!({"production": 2, "staging": 3}));
    let (code, out, err) = run_cli(&[
        "import",
        "--dry-run",
        "--config",
        cfg,
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let mut g = g;
    g["labels"]["production"] = json!(3);
    std::fs::write(dir.path().join("greet.json"), g.to_string()).unwrap();
    let (code, out, err) = run_cli(&["import", "--config", cfg, dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("--allow-protected"), "{out}");
    let (code, out, err) = run_cli(&[
        "import",
        "--allow-protected",
        "--config",
        cfg,
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("greet: label production 2 -> 3"), "{out}");
}

mod embedded_backend {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn export_writes_versions_labels_and_config() {
        super::export_writes_versions_labels_and_config(Backend::embedded()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn import_export_import_is_a_fixed_point() {
        super::import_export_import_is_a_fixed_point(Backend::embedded(), Backend::embedded()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn images_travel_inside_exported_files() {
        super::images_travel_inside_exported_files(Backend::embedded(), Backend::embedded()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn dry_run_shows_changes_and_import_applies_them() {
        super::dry_run_shows_changes_and_import_applies_them(Backend::embedded()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_files_exit_2_naming_the_file() {
        super::bad_files_exit_2_naming_the_file(Backend::embedded()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn plain_documents_still_import_and_dry_run() {
        super::plain_documents_still_import_and_dry_run(Backend::embedded()).await
    }
}

mod aws_backend {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn export_writes_versions_labels_and_config() {
        super::export_writes_versions_labels_and_config(Backend::aws()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn import_export_import_is_a_fixed_point() {
        super::import_export_import_is_a_fixed_point(Backend::aws(), Backend::aws()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn images_travel_inside_exported_files() {
        super::images_travel_inside_exported_files(Backend::aws(), Backend::aws()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn dry_run_shows_changes_and_import_applies_them() {
        super::dry_run_shows_changes_and_import_applies_them(Backend::aws()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_files_exit_2_naming_the_file() {
        super::bad_files_exit_2_naming_the_file(Backend::aws()).await
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn plain_documents_still_import_and_dry_run() {
        super::plain_documents_still_import_and_dry_run(Backend::aws()).await
    }
}
