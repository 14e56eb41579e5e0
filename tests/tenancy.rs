//! Tenancy is enforced by the host, below the plugins: a tenant never sees another
//! tenant's prompts through the API, a plugin cannot reach another tenant's keys however
//! it forges them, and a shared catalog route serves one read-only tenant to everyone.

use crate::common;

use common::{Server, hostile_config, prompt, run_cli};
use serde_json::Value;

fn config() -> String {
    hostile_config(
        r#"
[[routes]]
path = "/v1/hostile-tenant"
handler = "hostile"
auth = "optional"

[[routes]]
path = "/v1/catalog"
handler = "prompt-store"
auth = "optional"
tenant = "catalog"
read_only = true
policies = ["policy"]
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_read_or_write_each_others_prompts() {
    let s = Server::start_with(&config());
    let a = s.token("alice", &["--tenant", "acme"]);
    let b = s.token("bob", &["--tenant", "globex"]);
    let url = s.url("/v1/prompts");

    let r = s
        .client
        .post(&url)
        .bearer_auth(&a)
        .json(&prompt("plan", "acme's plan"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // B: not found, not listed, not updatable, not deletable, no versions, no apply.
    let item = s.url("/v1/prompts/plan");
    assert_eq!(
        s.client
            .get(&item)
            .bearer_auth(&b)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        s.client
            .get(s.url("/v1/prompts/plan/versions"))
            .bearer_auth(&b)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = s
        .client
        .post(s.url("/v1/prompts/plan/apply"))
        .bearer_auth(&b)
        .json(&serde_json::json!({"variables": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let list: Value = s
        .client
        .get(&url)
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains("acme's plan"), "{list}");
    let r = s
        .client
        .put(&item)
        .bearer_auth(&b)
        .json(&prompt("plan", "bob was here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        s.client
            .delete(&item)
            .bearer_auth(&b)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Anonymous callers are in the default tenant: nothing there either.
    assert_eq!(s.client.get(&item).send().await.unwrap().status(), 404);

    // B may create the same id in its own tenant; both exist independently.
    let r = s
        .client
        .post(&url)
        .bearer_auth(&b)
        .json(&prompt("plan", "globex's plan"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pa: Value = s
        .client
        .get(&item)
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pb: Value = s
        .client
        .get(&item)
        .bearer_auth(&b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pa["content"], "acme's plan");
    assert_eq!(pb["content"], "globex's plan");
    // Client identity headers do not move a request into another tenant.
    let r = s
        .client
        .get(&item)
        .bearer_auth(&b)
        .header("x-tenant-id", "acme")
        .header("x-user-id", "alice")
        .send()
        .await
        .unwrap();
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["content"], "globex's plan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_plugin_cannot_reach_another_tenants_keys() {
    let s = Server::start_with(&config());
    let a = s.token("alice", &["--tenant", "acme"]);
    let b = s.token("bob", &["--tenant", "globex"]);
    let base = "/v1/hostile-tenant";
    // Each tenant writes its secret through the plugin.
    for t in [&a, &b] {
        let r = s
            .client
            .get(s.url(&format!("{base}/scratch")))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // A full scan of the namespace shows each tenant only its own entry.
    let scan = |t: String| {
        let s = &s;
        async move {
            let r = s
                .client
                .get(s.url(&format!("{base}/scan")))
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let p: Value = r.json().await.unwrap();
            p["content"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(scan(a.clone()).await, "k=secret-of-acme");
    assert_eq!(scan(b.clone()).await, "k=secret-of-globex");
    // Forged keys (NUL separators of the host's key layout, paths) and namespaces are refused.
    let r = s
        .client
        .get(s.url(&format!("{base}/forge")))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(scan(a).await, "k=secret-of-acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_catalog_route_is_one_read_only_tenant_for_everyone() {
    let mut s = Server::start_with(&config());
    // The operator fills the catalog with `import --route /v1/catalog` (the route's tenant)
    // while the server is stopped (the embedded store has one writer process).
    let config_path = s.config.clone();
    let dir = s.kill9();
    let (code, out, err) = run_cli(&[
        "import",
        "--config",
        config_path.to_str().unwrap(),
        "--route",
        "/v1/catalog",
        common::catalog_dir().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let s = Server::start_in(dir, &config());
    let a = s.token("alice", &["--tenant", "acme"]);
    let b = s.token("bob", &["--tenant", "globex"]);

    let list = |t: Option<String>| {
        let s = &s;
        async move {
            let mut r = s.client.get(s.url("/v1/catalog?limit=100"));
            if let Some(t) = t {
                r = r.bearer_auth(t);
            }
            let v: Value = r.send().await.unwrap().json().await.unwrap();
            let mut ids: Vec<String> = v["prompts"]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    let seen_a = list(Some(a.clone())).await;
    assert!(seen_a.len() >= 20, "{seen_a:?}");
    assert_eq!(seen_a, list(Some(b.clone())).await);
    assert_eq!(seen_a, list(None).await);
    // Nobody writes to it through the API, whatever their scopes.
    let id = &seen_a[0];
    let admin = s.token("root", &["--tenant", "catalog", "--scope", "prompts:write"]);
    for t in [&a, &admin] {
        let r = s
            .client
            .post(s.url("/v1/catalog"))
            .bearer_auth(t)
            .json(&prompt("new", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET");
        let r = s
            .client
            .put(s.url(&format!("/v1/catalog/{id}")))
            .bearer_auth(t)
            .json(&prompt(id, "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let r = s
            .client
            .delete(s.url(&format!("/v1/catalog/{id}")))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "/problems/read-only");
    }
    // Reads and renders work; the tenant's own prompts stay separate from the catalog.
    let r = s
        .client
        .get(s.url(&format!("/v1/catalog/{id}")))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.client
            .get(s.url(&format!("/v1/prompts/{id}")))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
