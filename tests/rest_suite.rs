//! The black-box REST suite, run against every storage backend: tests/api.rs (embedded)
//! and tests/aws_api.rs (DynamoDB + S3 in moto). Each test is a `pub async fn` taking a
//! started [`Api`]; [`rest_suite!`] turns the list into `#[tokio::test]`s for one backend.
#![allow(dead_code)]

use crate::common::{Server, prompt};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct Api {
    pub s: Server,
    pub token: String,
}

impl Api {
    /// Wraps a started server, with a token for a writer.
    pub fn new(s: Server) -> Self {
        let token = s.token("alice", &["--scope", "prompts:write"]);
        Api { s, token }
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.s
            .client
            .post(self.s.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response {
        let mut r = self
            .s
            .client
            .put(self.s.url(path))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        r.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.s.client.get(self.s.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.s
            .client
            .delete(self.s.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

pub async fn problem(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json",
        "errors are RFC 9457 problems"
    );
    let v: Value = r.json().await.unwrap();
    for k in ["type", "title", "status", "detail"] {
        assert!(v.get(k).is_some(), "problem lacks {k}: {v}");
    }
    assert_eq!(v["status"], status.as_u16());
    v
}

pub async fn health_and_ready(a: Api) {
    let r = a.get("/health").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert!(r.headers().get("strict-transport-security").is_some());
    assert!(r.headers().get("x-request-id").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    let r = a.get("/ready").await;
    assert_eq!(r.status(), 200);
    let r = a.s.client.post(a.s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

pub async fn crud_lifecycle_with_versions(a: Api) {
    let r = a
        .post("/v1/prompts", &prompt("greet", "Hello {{name}}!"))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("location").unwrap(), "/v1/prompts/greet");
    assert_eq!(r.headers().get("etag").unwrap(), "\"1\"");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["id"], "greet");
    assert_eq!(created["version"], 1);
    assert_eq!(created["author"], "alice");
    assert_eq!(created["accessLevel"], "public");
    for k in [
        "createdAt",
        "updatedAt",
        "metadata",
        "category",
        "tags",
        "variables",
        "isTemplate",
        "description",
    ] {
        assert!(created.get(k).is_some(), "missing {k} in {created}");
    }

    let r = a.get("/v1/prompts/greet").await;
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["content"], "Hello {{name}}!");

    // Duplicate id.
    let v = problem(
        a.post("/v1/prompts", &prompt("greet", "x")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(v["detail"].as_str().unwrap().contains("greet"));

    // Update bumps the version; the old version stays readable.
    let r = a
        .put(
            "/v1/prompts/greet",
            &json!({"content": "Hi {{name}}."}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("etag").unwrap(), "\"2\"");
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "Prompt greet", "fields not sent are kept");
    let v1: Value = a
        .get("/v1/prompts/greet?version=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v1["content"], "Hello {{name}}!");
    problem(
        a.get("/v1/prompts/greet?version=9").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        a.get("/v1/prompts/greet?version=zero").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let versions: Value = a
        .get("/v1/prompts/greet/versions")
        .await
        .json()
        .await
        .unwrap();
    let vs = versions["versions"].as_array().unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0]["version"], 1);
    assert_eq!(vs[1]["version"], 2);

    // Stale If-Match.
    let v = problem(
        a.put("/v1/prompts/greet", &json!({"content": "x"}), Some("\"1\""))
            .await,
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    assert_eq!(v["type"], "/problems/precondition-failed");
    let r = a
        .put("/v1/prompts/greet", &json!({"content": "y"}), Some("\"2\""))
        .await;
    assert_eq!(r.status(), 200);

    let r = a.delete("/v1/prompts/greet").await;
    assert_eq!(r.status(), 204);
    problem(a.get("/v1/prompts/greet").await, StatusCode::NOT_FOUND).await;
    problem(a.delete("/v1/prompts/greet").await, StatusCode::NOT_FOUND).await;
    problem(
        a.get("/v1/prompts/greet/versions").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The id can be reused and starts over.
    let r = a.post("/v1/prompts", &prompt("greet", "again")).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["version"], 1);
}

pub async fn template_alias_and_string_variables_are_accepted(a: Api) {
    let body = json!({
        "id": "alias",
        "name": "Alias",
        "template": "Do {{task}} with {{tool}}",
        "variables": ["task", {"name": "tool", "required": false, "default": "care"}],
    });
    let r = a.post("/v1/prompts", &body).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], "Do {{task}} with {{tool}}");
    assert_eq!(v["variables"][0]["name"], "task");
    assert_eq!(v["variables"][0]["required"], true);
    assert_eq!(v["variables"][1]["default"], "care");
}

pub async fn validation_errors_name_fields(a: Api) {
    let v = problem(
        a.post(
            "/v1/prompts",
            &json!({"id": "bad id!", "tags": "x", "content": ""}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["id", "name", "content", "tags"] {
        assert!(fields.contains(&f), "no error for {f}: {v}");
    }
    // Malformed JSON.
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts"))
            .bearer_auth(&a.token)
            .header("content-type", "application/json")
            .body("{\"id\": ")
            .send()
            .await
            .unwrap();
    let v = problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(v["type"], "/problems/malformed-json");
    // Wrong content type.
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts"))
            .bearer_auth(&a.token)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
    problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Not an object.
    problem(
        a.post("/v1/prompts", &json!([1, 2])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

pub async fn oversized_body_is_413(a: Api) {
    let big = "x".repeat(1024 * 1024 + 10);
    let r = a.post("/v1/prompts", &prompt("big", &big)).await;
    let v = problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(v["type"], "/problems/payload-too-large");
    // Also without a Content-Length (chunked), the limit holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 100 * 1024])).collect();
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts"))
            .bearer_auth(&a.token)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
}

pub async fn unknown_route_and_wrong_method(a: Api) {
    problem(a.get("/nope").await, StatusCode::NOT_FOUND).await;
    problem(a.get("/v1/prompts/a/b/c").await, StatusCode::NOT_FOUND).await;
    let r =
        a.s.client
            .patch(a.s.url("/v1/prompts/x"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.headers().get("allow").unwrap(), "GET, PUT, DELETE");
    problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r =
        a.s.client
            .delete(a.s.url("/v1/prompts"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.headers().get("allow").unwrap(), "GET, POST");
    problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r =
        a.s.client
            .get(a.s.url("/v1/prompts/x/apply"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.headers().get("allow").unwrap(), "POST");
}

pub async fn policy_requires_authentication_for_writes(a: Api) {
    let r =
        a.s.client
            .post(a.s.url("/v1/prompts"))
            .json(&prompt("anon", "x"))
            .send()
            .await
            .unwrap();
    assert!(r.headers().get("www-authenticate").is_some());
    problem(r, StatusCode::UNAUTHORIZED).await;
    // A forged token is refused even on a route where auth is optional.
    let r =
        a.s.client
            .get(a.s.url("/v1/prompts"))
            .bearer_auth(
                "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJtY3AtcHJvbXB0cy1kZXYiLCJzdWIiOiJ4In0.c2lnbmF0dXJl",
            )
            .send()
            .await
            .unwrap();
    let www = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.contains("invalid_token"), "{www}");
    problem(r, StatusCode::UNAUTHORIZED).await;
    // Anonymous reads are allowed.
    assert_eq!(a.get("/v1/prompts").await.status(), 200);
}

pub async fn list_filters_and_paginates(a: Api) {
    for i in 0..25 {
        let mut p = prompt(&format!("p{i:02}"), &format!("content number {i}"));
        p["category"] = json!(if i % 2 == 0 { "even" } else { "odd" });
        p["tags"] = json!(if i % 5 == 0 {
            vec!["five", "test"]
        } else {
            vec!["test"]
        });
        if i == 7 {
            p["description"] = json!("The NEEDLE is here");
        }
        assert_eq!(a.post("/v1/prompts", &p).await.status(), 201);
    }
    // Default page size 20, then the rest, no duplicates.
    let page1: Value = a.get("/v1/prompts").await.json().await.unwrap();
    assert_eq!(page1["prompts"].as_array().unwrap().len(), 20);
    let cursor = page1["nextCursor"].as_str().unwrap().to_string();
    let page2: Value =
        a.s.client
            .get(a.s.url("/v1/prompts"))
            .query(&[("cursor", cursor.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(page2["prompts"].as_array().unwrap().len(), 5);
    assert!(page2["nextCursor"].is_null());
    let mut ids: Vec<String> = page1["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["prompts"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);

    // Filtered pages are full pages of matches.
    let odd: Value = a
        .get("/v1/prompts?category=odd&limit=5")
        .await
        .json()
        .await
        .unwrap();
    let odd_ids: Vec<_> = odd["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["category"].clone())
        .collect();
    assert_eq!(odd_ids.len(), 5);
    assert!(odd_ids.iter().all(|c| c == "odd"));
    let five: Value = a
        .get("/v1/prompts?tags=five,test")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(five["prompts"].as_array().unwrap().len(), 5);
    let q: Value = a.get("/v1/prompts?q=needle").await.json().await.unwrap();
    assert_eq!(q["prompts"].as_array().unwrap().len(), 1);
    assert_eq!(q["prompts"][0]["id"], "p07");
    let q: Value = a
        .get("/v1/prompts?q=NUMBER%2013")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["prompts"][0]["id"], "p13");

    problem(a.get("/v1/prompts?limit=0").await, StatusCode::BAD_REQUEST).await;
    problem(
        a.get("/v1/prompts?limit=101").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        a.get("/v1/prompts?cursor=%25%25garbage").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

pub async fn apply_renders_handlebars_without_escaping(a: Api) {
    let mut p = prompt(
        "code",
        "Review {{language}}:\n{{code}}\n{{#if focus}}Focus: {{focus}}{{else}}General review{{/if}}\n{{#each items}}- {{this}}\n{{/each}}{{user.name}}",
    );
    p["variables"] = json!([
        "language",
        "code",
        {"name": "focus", "required": false},
        {"name": "items", "required": false, "default": []},
        {"name": "user", "required": false},
    ]);
    assert_eq!(a.post("/v1/prompts", &p).await.status(), 201);
    let r = a
        .post(
            "/v1/prompts/code/apply",
            &json!({"variables": {"language": "rust", "code": "if a < b && c > \"d\" {}", "items": ["x", "y"], "user": {"name": "Ann"}}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["content"],
        "Review rust:\nif a < b && c > \"d\" {}\nGeneral review\n- x\n- y\nAnn"
    );
    let applied: Vec<&str> = v["appliedVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(applied.contains(&"language") && applied.contains(&"code"));
    assert!(
        v["missingVariables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "focus")
    );

    // Missing required variables: 400 naming them all.
    let v = problem(
        a.post("/v1/prompts/code/apply", &json!({"variables": {}}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(v["type"], "/problems/missing-variables");
    let missing: Vec<&str> = v["missingVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(missing, ["code", "language"]);
    problem(
        a.post("/v1/prompts/nope/apply", &json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        a.post("/v1/prompts/code/apply", &json!({"variables": [1]}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

pub async fn partials_resolve_and_cycles_are_named(a: Api) {
    assert_eq!(
        a.post("/v1/prompts", &prompt("header", "# {{title}}"))
            .await
            .status(),
        201
    );
    assert_eq!(
        a.post("/v1/prompts", &prompt("page", "{{> header}} / body"))
            .await
            .status(),
        201
    );
    let v: Value = a
        .post(
            "/v1/prompts/page/apply",
            &json!({"variables": {"title": "T"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"], "# T / body");

    assert_eq!(
        a.post("/v1/prompts", &prompt("cyc-a", "A {{> cyc-b}}"))
            .await
            .status(),
        201
    );
    assert_eq!(
        a.post("/v1/prompts", &prompt("cyc-b", "B {{> cyc-a}}"))
            .await
            .status(),
        201
    );
    let v = problem(
        a.post("/v1/prompts/cyc-a/apply", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("cyc-a") && detail.contains("cyc-b"),
        "{detail}"
    );
    assert!(detail.contains("cycle"), "{detail}");

    assert_eq!(
        a.post("/v1/prompts", &prompt("orphan", "{{> nowhere}}"))
            .await
            .status(),
        201
    );
    let v = problem(
        a.post("/v1/prompts/orphan/apply", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(v["detail"].as_str().unwrap().contains("nowhere"));

    assert_eq!(
        a.post("/v1/prompts", &prompt("broken", "{{#if x}}never closed"))
            .await
            .status(),
        201
    );
    problem(
        a.post("/v1/prompts/broken/apply", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

pub async fn concurrent_if_match_has_exactly_one_winner(a: Api) {
    let a = std::sync::Arc::new(a);
    assert_eq!(
        a.post("/v1/prompts", &prompt("race", "v1")).await.status(),
        201
    );
    for round in 0..3u64 {
        let version = round + 1;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                a.put(
                    "/v1/prompts/race",
                    &json!({"content": format!("writer {i}")}),
                    Some(&format!("\"{version}\"")),
                )
                .await
                .status()
            }));
        }
        let mut ok = 0;
        let mut stale = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::OK => ok += 1,
                StatusCode::PRECONDITION_FAILED => stale += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((ok, stale), (1, 7), "round {round}");
    }
    let v: Value = a.get("/v1/prompts/race").await.json().await.unwrap();
    assert_eq!(v["version"], 4);

    // Writers without If-Match never lose an update: every one gets its own version.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            a.put(
                "/v1/prompts/race",
                &json!({"description": format!("d{i}")}),
                None,
            )
            .await
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let versions: Value = a
        .get("/v1/prompts/race/versions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 10);
}

pub async fn http2_is_negotiated_by_alpn(a: Api) {
    let r = a.get("/health").await;
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let pem = std::fs::read(a.s.data_dir().join("tls/cert.pem")).unwrap();
    let h1 = reqwest::Client::builder()
        .http1_only()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = h1.get(a.s.url("/health")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
}

/// Generates one `#[tokio::test]` per suite test, each on a fresh `Api` from `$make`.
#[macro_export]
macro_rules! rest_suite {
    ($make:expr) => {
        $crate::rest_suite!(@tests $make; health_and_ready, crud_lifecycle_with_versions, template_alias_and_string_variables_are_accepted, validation_errors_name_fields, oversized_body_is_413, unknown_route_and_wrong_method, policy_requires_authentication_for_writes, list_filters_and_paginates, apply_renders_handlebars_without_escaping, partials_resolve_and_cycles_are_named, concurrent_if_match_has_exactly_one_winner, http2_is_negotiated_by_alpn);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let make = $make;
                rest_suite::$name(make()).await
            }
        )*
    };
}
