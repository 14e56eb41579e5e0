//! Data commands while a server runs (issue 16): `import` and `user set-tier` through the
//! running server's API — automatically on the embedded store it holds, explicitly with
//! `--url`/`--token`/`--cacert`, and on the AWS backend (moto) — the
//! `PUT {route}/{id}?mode=replace` import endpoint and `/users/{sub}/tier`, and an import
//! racing REST writes without losing or corrupting any of them.

use crate::common;

use common::moto::{AwsEnv, free_port};
use common::{Server, base_config, catalog_dir, prompt, run_cli};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const ADMIN: &str = "[users]\nadmin_scopes = [\"users:admin\"]\n";
const CATALOG_SIZE: usize = 29;

/// The harness config on a fixed port (the fallback reaches the server at
/// `server.listen`, which port 0 would not tell it).
fn fixed_port_config(extra: &str) -> String {
    base_config(extra).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{}\"", free_port()),
    )
}

fn cfg(s: &Server) -> &str {
    s.config.to_str().unwrap()
}

fn summary(created: usize, updated: usize, unchanged: usize, rejected: usize) -> String {
    format!("created {created}, updated {updated}, unchanged {unchanged}, rejected {rejected}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_while_the_server_runs_goes_through_its_api() {
    let s = Server::start_with(&fixed_port_config(""));
    let catalog = catalog_dir();
    let (code, out, err) = run_cli(&["import", "--config", cfg(&s), catalog.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&summary(CATALOG_SIZE, 0, 0, 0)), "{out}");
    assert!(
        err.contains("held by a running server") && err.contains(&s.base),
        "the fallback is announced on stderr: {err}"
    );
    assert!(
        err.contains(&format!("[{CATALOG_SIZE}/{CATALOG_SIZE}]")),
        "progress: {err}"
    );
    // The server serves what was imported, and a second run writes nothing.
    let r = s
        .client
        .get(s.url("/v1/prompts/basic-template"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, out, err) = run_cli(&["import", "--config", cfg(&s), catalog.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&summary(0, 0, CATALOG_SIZE, 0)), "{out}");

    // A changed file is an update, a broken one a rejection with its reason (exit 2),
    // exactly as the local import reports them.
    let dir = tempfile::tempdir().unwrap();
    let mut basic: Value = serde_json::from_str(
        &std::fs::read_to_string(catalog.join("basic-template.json")).unwrap(),
    )
    .unwrap();
    basic["content"] = json!("Changed {{x}}");
    basic["variables"] = json!(["x"]);
    std::fs::write(dir.path().join("a.json"), basic.to_string()).unwrap();
    std::fs::write(dir.path().join("b.json"), "{not json").unwrap();
    std::fs::write(
        dir.path().join("c.json"),
        json!({"id": "c", "name": "C"}).to_string(),
    )
    .unwrap();
    let (code, out, err) = run_cli(&["import", "--config", cfg(&s), dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains(&summary(0, 1, 0, 2)), "{out}");
    assert!(
        out.contains("b.json: not valid JSON")
            && out.contains("c.json: 400")
            && out.contains("content"),
        "{out}"
    );
    let v: Value = s
        .client
        .get(s.url("/v1/prompts/basic-template"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["content"].as_str(), v["version"].as_u64()),
        (Some("Changed {{x}}"), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_with_url_token_and_cacert_needs_no_config() {
    let s = Server::start();
    let token = s.token("ops", &["--scope", "prompts:write"]);
    let ca = s.data_dir().join("tls/cert.pem");
    let catalog = catalog_dir();
    let args = [
        "import",
        "--url",
        &s.base,
        "--token",
        &token,
        "--cacert",
        ca.to_str().unwrap(),
        catalog.to_str().unwrap(),
    ];
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&summary(CATALOG_SIZE, 0, 0, 0)), "{out}");
    assert!(!err.contains("held by a running server"), "{err}");

    // The same through the environment.
    let o = Command::new(common::BIN)
        .args([
            "import",
            catalog.to_str().unwrap(),
            "--cacert",
            ca.to_str().unwrap(),
        ])
        .env("MCP_PROMPTS_URL", &s.base)
        .env("MCP_PROMPTS_TOKEN", &token)
        .env_remove("MCP_PROMPTS_CONFIG")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(&summary(0, 0, CATALOG_SIZE, 0)), "{out}");

    // No token, a bad token, an untrusted certificate: clear errors, exit 1.
    let (code, _, err) = run_cli(&["import", "--url", &s.base, catalog.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--token") && err.contains("MCP_PROMPTS_TOKEN"),
        "{err}"
    );
    let (code, _, err) = run_cli(&[
        "import",
        "--url",
        &s.base,
        "--token",
        "nope",
        "--cacert",
        ca.to_str().unwrap(),
        catalog.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused the token"), "{err}");
    let (code, _, err) = run_cli(&[
        "import",
        "--url",
        &s.base,
        "--token",
        &token,
        catalog.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_without_dev_auth_names_url_and_token() {
    let s = Server::start_with(&fixed_port_config(""));
    // A second config on the same data directory without [auth.dev].
    let text = std::fs::read_to_string(&s.config).unwrap();
    let start = text.find("[auth.dev]").unwrap();
    let end = start + text[start..].find("[logging]").unwrap();
    let other = s.config.with_file_name("no-dev.toml");
    std::fs::write(&other, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let (code, _, err) = run_cli(&[
        "import",
        "--config",
        other.to_str().unwrap(),
        catalog_dir().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("held by a running server")
            && err.contains("--url")
            && err.contains("--token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_tier_while_the_server_runs_shows_in_users_me() {
    let s = Server::start_with(&fixed_port_config(ADMIN));
    let alice = s.token("alice", &[]);
    let me = |token: String| {
        let (c, u) = (s.client.clone(), s.url("/users/me"));
        async move {
            let r = c.get(u).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(me(alice.clone()).await["tier"], "free");
    let (code, out, err) = run_cli(&[
        "user",
        "set-tier",
        "--config",
        cfg(&s),
        "--sub",
        "alice",
        "--tier",
        "premium",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("alice in tenant default: tier premium"),
        "{out}"
    );
    assert!(err.contains("held by a running server"), "{err}");
    assert_eq!(me(alice.clone()).await["tier"], "premium");

    // The admin endpoint itself: scope-guarded, typed errors, clear with DELETE.
    let admin = s.token("root", &["--scope", "users:admin"]);
    let tier_url = s.url("/users/alice/tier");
    let r = s
        .client
        .get(&tier_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["subject"].as_str(),
            v["tenant"].as_str(),
            v["tier"].as_str()
        ),
        (Some("alice"), Some("default"), Some("premium"))
    );
    let r = s
        .client
        .put(&tier_url)
        .bearer_auth(&alice)
        .json(&json!({"tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("users:admin")
    );
    let r = s
        .client
        .put(&tier_url)
        .json(&json!({"tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .put(&tier_url)
        .bearer_auth(&admin)
        .json(&json!({"tier": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .put(&tier_url)
        .bearer_auth(&admin)
        .json(&json!({"tier": "gold", "x": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .put(format!("{tier_url}?tenant=bad%20tenant"))
        .bearer_auth(&admin)
        .json(&json!({"tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .post(&tier_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // A user's own PUT /users/me keeps the operator's tier, and the tier keeps their fields.
    let r = s
        .client
        .put(s.url("/users/me"))
        .bearer_auth(&alice)
        .json(&json!({"displayName": "Alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .delete(&tier_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let v = me(alice.clone()).await;
    assert_eq!(
        (v["tier"].as_str(), v["displayName"].as_str()),
        (Some("free"), Some("Alice"))
    );

    // Through --url with the admin token, into another tenant.
    let ca = s.data_dir().join("tls/cert.pem");
    let (code, out, err) = run_cli(&[
        "user",
        "set-tier",
        "--url",
        &s.base,
        "--token",
        &admin,
        "--cacert",
        ca.to_str().unwrap(),
        "--sub",
        "bob",
        "--tenant",
        "acme",
        "--tier",
        "premium",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bob in tenant acme: tier premium"), "{out}");
    let bob = s.token("bob", &["--tenant", "acme"]);
    assert_eq!(me(bob).await["tier"], "premium");
    // Without the admin scope the command fails with the server's reason.
    let (code, _, err) = run_cli(&[
        "user",
        "set-tier",
        "--url",
        &s.base,
        "--token",
        &alice,
        "--cacert",
        ca.to_str().unwrap(),
        "--sub",
        "alice",
        "--tier",
        "premium",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("403") && err.contains("users:admin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_tier_fallback_needs_admin_scopes() {
    let s = Server::start_with(&fixed_port_config(""));
    let (code, _, err) = run_cli(&[
        "user",
        "set-tier",
        "--config",
        cfg(&s),
        "--sub",
        "alice",
        "--tier",
        "premium",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("admin_scopes"), "{err}");
    let admin = s.token("root", &["--scope", "users:admin"]);
    let r = s
        .client
        .put(s.url("/users/alice/tier"))
        .bearer_auth(&admin)
        .json(&json!({"tier": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "no admin_scopes: nobody manages users over the API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_mode_creates_updates_and_honours_access_rules() {
    let extra = r#"
[[routes]]
path = "/v1/catalog"
handler = "prompt-store"
auth = "optional"
tenant = "catalog"
read_only = true
"#;
    let s = Server::start_with(&base_config(extra));
    let alice = s.token("alice", &[]);
    let bob = s.token("bob", &[]);
    let url = s.url("/v1/prompts/greet?mode=replace");
    let body = json!({"name": "Greet", "content": "Hello {{name}}", "variables": ["name"]});
    let put = |token: &str, url: &str, body: &Value| {
        s.client.put(url).bearer_auth(token).json(body).send()
    };
    let r = put(&alice, &url, &body).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upsert-outcome"], "created");
    assert_eq!(r.headers()["location"], "/v1/prompts/greet");
    assert_eq!(r.headers()["etag"], "\"1\"");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["id"].as_str(), v["author"].as_str()),
        (Some("greet"), Some("alice"))
    );
    let r = put(&alice, &url, &body).await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["upsert-outcome"].to_str().unwrap()
        ),
        (200, "unchanged")
    );
    // Replace, not merge: the omitted `variables` goes back to its default.
    let r = put(&bob, &url, &json!({"name": "Greet", "content": "Hi"}))
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["upsert-outcome"].to_str().unwrap()
        ),
        (200, "updated")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["version"].as_u64(),
            v["variables"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );

    // Bad requests are typed problems.
    let r = put(
        &alice,
        &url,
        &json!({"id": "other", "name": "G", "content": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "id", "{p}");
    let r = put(&alice, &url, &json!(["not", "an", "object"]))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put(&alice, &s.url("/v1/prompts/greet?mode=sideways"), &body)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .put(&url)
        .bearer_auth(&alice)
        .header("if-match", "\"2\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s.client.put(&url).json(&body).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "anonymous writes are refused by the policy"
    );
    let r = put(&alice, &s.url("/v1/catalog/greet?mode=replace"), &body)
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "read-only catalog");
    assert_eq!(r.headers()["allow"], "GET");

    // Someone else's private prompt is not replaced (and not revealed beyond a create).
    let private = json!({"name": "Mine", "content": "secret", "accessLevel": "private"});
    let r = put(&alice, &s.url("/v1/prompts/mine?mode=replace"), &private)
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = put(
        &bob,
        &s.url("/v1/prompts/mine?mode=replace"),
        &json!({"name": "Mine", "content": "bob's"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    let r = s
        .client
        .get(s.url("/v1/prompts/mine"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "secret");

    // Tenancy: the token's tenant, like any write.
    let acme = s.token("carol", &["--tenant", "acme"]);
    let r = put(
        &acme,
        &s.url("/v1/prompts/tenanted?mode=replace"),
        &json!({"name": "T", "content": "acme"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .get(s.url("/v1/prompts/tenanted"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another tenant's prompt");
}

/// An import and REST writers on the same prompts at once: every acknowledged write is
/// in the history with its content and its own version, every prompt's history is
/// gap-free, and every file the import reported is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_import_and_rest_writes_lose_nothing() {
    const HOT: usize = 4;
    const COLD: usize = 40;
    const WRITERS: usize = 4;
    const WRITES: usize = 12;
    let s = Server::start_with(&fixed_port_config(""));
    let dir = tempfile::tempdir().unwrap();
    let mut files = BTreeMap::new();
    for i in 0..HOT {
        files.insert(format!("hot-{i}"), format!("imported hot {i}"));
    }
    for i in 0..COLD {
        files.insert(format!("cold-{i:02}"), format!("imported cold {i}"));
    }
    for (id, content) in &files {
        std::fs::write(
            dir.path().join(format!("{id}.json")),
            prompt(id, content).to_string(),
        )
        .unwrap();
    }
    let config = s.config.clone();
    let import_dir = dir.path().to_path_buf();
    let import = std::thread::spawn(move || {
        run_cli(&[
            "import",
            "--config",
            config.to_str().unwrap(),
            import_dir.to_str().unwrap(),
        ])
    });

    let token = s.token("writer", &[]);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (client, base, token) = (s.client.clone(), s.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            // (id, version, content) of every write the server acknowledged.
            let mut acked = Vec::new();
            for n in 0..WRITES {
                let id = if n % 2 == 0 {
                    format!("hot-{}", n / 2 % HOT)
                } else {
                    format!("own-{w}")
                };
                let content = format!("writer {w} write {n}");
                let r = client
                    .put(format!("{base}/v1/prompts/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({"content": content}))
                    .send()
                    .await
                    .unwrap();
                let r = if r.status() == 404 {
                    // Not imported (or created) yet: create it, or update if the
                    // import got there first.
                    let r = client
                        .post(format!("{base}/v1/prompts"))
                        .bearer_auth(&token)
                        .json(&prompt(&id, &content))
                        .send()
                        .await
                        .unwrap();
                    if r.status() == 409 {
                        client
                            .put(format!("{base}/v1/prompts/{id}"))
                            .bearer_auth(&token)
                            .json(&json!({"content": content}))
                            .send()
                            .await
                            .unwrap()
                    } else {
                        r
                    }
                } else {
                    r
                };
                assert!(r.status().is_success(), "{id}: {}", r.status());
                let v: Value = r.json().await.unwrap();
                acked.push((id, v["version"].as_u64().unwrap(), content));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let (code, out, err) = tokio::task::spawn_blocking(move || import.join().unwrap())
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let counted: usize = out
        .split(['\n', ','])
        .filter_map(|part| {
            let mut w = part.split_whitespace();
            match (w.next(), w.next()) {
                (Some("created" | "updated" | "unchanged"), Some(n)) => n.parse::<usize>().ok(),
                _ => None,
            }
        })
        .sum();
    assert_eq!(counted, files.len(), "every file was imported: {out}");
    assert!(out.contains("rejected 0"), "{out}");

    // Every acknowledged write is in the history, with its content, at its own version.
    let mut seen = BTreeSet::new();
    for (id, version, content) in &acked {
        assert!(
            seen.insert((id.clone(), *version)),
            "two writes acknowledged as {id} v{version}"
        );
        let r = s
            .client
            .get(s.url(&format!("/v1/prompts/{id}?version={version}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id} v{version}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["content"].as_str(),
            Some(content.as_str()),
            "{id} v{version}"
        );
    }
    // Every history is whole: versions 1..=head, each one stored once.
    let ids: BTreeSet<String> = files
        .keys()
        .cloned()
        .chain(acked.iter().map(|a| a.0.clone()))
        .collect();
    for id in &ids {
        let head: Value = s
            .client
            .get(s.url(&format!("/v1/prompts/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let head_version = head["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("{id}: {head}"));
        let versions: Value = s
            .client
            .get(s.url(&format!("/v1/prompts/{id}/versions")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut numbers: Vec<u64> = versions["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=head_version).collect::<Vec<_>>(), "{id}");
        // The import's document is in the history of every prompt it wrote.
        if let Some(content) = files.get(id) {
            let all = versions["versions"].as_array().unwrap();
            assert!(
                all.iter().any(|v| v["content"].as_str() == Some(content)),
                "{id}: the imported version is missing"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_set_tier_through_url_on_aws() {
    let aws = AwsEnv::new();
    let config = aws.config(ADMIN);
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    let s = Server::start_with_env(&config, aws.env());
    let token = s.token("ops", &["--scope", "users:admin"]);
    let ca = s.data_dir().join("tls/cert.pem");
    let catalog = catalog_dir();
    let conn = [
        "--url",
        &s.base,
        "--token",
        &token,
        "--cacert",
        ca.to_str().unwrap(),
    ];
    let mut args = vec!["import"];
    args.extend(conn);
    args.push(catalog.to_str().unwrap());
    let (code, out, err) = aws.cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&summary(CATALOG_SIZE, 0, 0, 0)), "{out}");
    let (code, out, err) = aws.cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&summary(0, 0, CATALOG_SIZE, 0)), "{out}");
    let r = s
        .client
        .get(s.url("/v1/prompts/basic-template"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Stored in DynamoDB, where every host of a fleet reads it.
    let items = aws
        .dynamodb()
        .await
        .scan()
        .table_name(aws.prompts_table())
        .send()
        .await
        .unwrap();
    assert!(items.count() as usize >= CATALOG_SIZE, "{items:?}");

    let mut args = vec!["user", "set-tier"];
    args.extend(conn);
    args.extend(["--sub", "alice", "--tier", "premium"]);
    let (code, out, err) = aws.cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    let r = s
        .client
        .get(s.url("/users/me"))
        .bearer_auth(s.token("alice", &[]))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tier"], "premium");
}
