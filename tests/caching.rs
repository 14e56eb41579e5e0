//! Client caching of prompt reads (issue 13, item 7) on both storage backends, against
//! the real binary over TLS: strong ETags resolved from the version (also through a
//! label), `If-None-Match` → 304, and `Cache-Control` per kind of read (pinned versions
//! immutable, label and default reads short-lived with stale fallbacks), configurable.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use rest_suite::Api;
use serde_json::json;

fn embedded() -> Api {
    Api::new(Server::start_with(&common::base_config("")))
}

fn aws() -> Api {
    let env = AwsEnv::new();
    let config = env.config("");
    let (code, out, err) = env.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    Api::new(Server::start_with_env(&config, env.env()))
}

async fn get(a: &Api, path: &str, inm: Option<&str>) -> reqwest::Response {
    let mut r = a.s.client.get(a.s.url(path));
    if let Some(v) = inm {
        r = r.header("If-None-Match", v);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

const PINNED: &str = "private, max-age=31536000, immutable";
const RESOLVED: &str = "private, max-age=60, stale-while-revalidate=300, stale-if-error=86400";

async fn reads_carry_etags_and_revalidate(a: Api) {
    assert_eq!(
        a.post("/v1/prompts", &common::prompt("c", "v1"))
            .await
            .status(),
        201
    );
    // A default read: the version as a strong ETag, short-lived caching.
    let r = get(&a, "/v1/prompts/c", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "etag"), "\"1\"");
    assert_eq!(header(&r, "cache-control"), RESOLVED);
    assert!(header(&r, "vary").to_lowercase().contains("authorization"));
    // Revalidation: 304 without a body, with the validators and caching again.
    let r = get(&a, "/v1/prompts/c", Some("\"1\"")).await;
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), "\"1\"");
    assert_eq!(header(&r, "cache-control"), RESOLVED);
    assert!(r.bytes().await.unwrap().is_empty());
    // If-None-Match takes lists, weak tags (weak comparison) and `*`.
    for inm in ["\"7\", \"1\"", "W/\"1\"", "*"] {
        assert_eq!(
            get(&a, "/v1/prompts/c", Some(inm)).await.status(),
            304,
            "{inm}"
        );
    }
    assert_eq!(get(&a, "/v1/prompts/c", Some("\"2\"")).await.status(), 200);

    // A new version: the default read changes its ETag, the pinned read does not.
    let r = a
        .put("/v1/prompts/c", &json!({"content": "v2"}), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = get(&a, "/v1/prompts/c", Some("\"1\"")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "etag"), "\"2\"");
    let r = get(&a, "/v1/prompts/c?version=1", Some("\"1\"")).await;
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "cache-control"), PINNED);
    let r = get(&a, "/v1/prompts/c?version=1", None).await;
    assert_eq!(header(&r, "cache-control"), PINNED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["content"],
        "v1"
    );

    // A label read is resolved: its ETag is the version the label points at.
    let r =
        a.s.client
            .put(a.s.url("/v1/prompts/c/labels/staging"))
            .bearer_auth(&a.token)
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let r = get(&a, "/v1/prompts/c?label=staging", None).await;
    assert_eq!(header(&r, "etag"), "\"1\"");
    assert_eq!(header(&r, "cache-control"), RESOLVED);
    assert_eq!(
        get(&a, "/v1/prompts/c?label=staging", Some("\"1\""))
            .await
            .status(),
        304
    );
    // Errors are not cached (the server-wide no-store).
    let r = get(&a, "/v1/prompts/nope", Some("*")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "cache-control"), "no-store");
    // Writes still answer the version ETag If-Match compares against.
    let r = a
        .put("/v1/prompts/c", &json!({"content": "v3"}), Some("\"2\""))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "etag"), "\"3\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_control_is_configurable_per_route() {
    let config = common::base_config(
        "cache_pinned = \"public, max-age=600, immutable\"\ncache_resolved = \"\"\n",
    );
    let a = Api::new(Server::start_with(&config));
    assert_eq!(
        a.post("/v1/prompts", &common::prompt("c", "v1"))
            .await
            .status(),
        201
    );
    let r = get(&a, "/v1/prompts/c?version=1", None).await;
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=600, immutable"
    );
    // "": the server-wide no-store, as every other response has; the ETag stays.
    let r = get(&a, "/v1/prompts/c", None).await;
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "etag"), "\"1\"");

    // A value that cannot be a header is a config error at `check`, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let bad = common::base_config("cache_pinned = \"max-age=1\\nx\"\n")
        .replace("{data}", &dir.path().join("data").display().to_string());
    let path = dir.path().join("config.toml");
    std::fs::write(&path, bad).unwrap();
    let (code, out, err) = common::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("cache_pinned"), "{err}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::embedded()).await
                }
            )*
        }
        mod aws_backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::aws()).await
                }
            )*
        }
    };
}

both_backends!(reads_carry_etags_and_revalidate);
