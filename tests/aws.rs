//! The aws backend beyond the shared REST suite: data really lands in DynamoDB and S3, two
//! servers share one data set, large bodies go through S3, the storage semantics (CAS,
//! atomic transactions, pagination, TTL, tenant scope) hold against DynamoDB exactly as
//! against the embedded store, Secrets Manager rotation and fail-closed start, an outage
//! and recovery, `aws bootstrap` and `import s3://…`. All against a real `moto_server`.

use crate::common;

use common::moto::{AwsEnv, Moto};
use common::{Server, catalog_dir, prompt};
use mcp_prompts::storage::{Precondition, Scope, Storage, StorageError, WriteOp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A started aws-backed server with its names, plus a writer token.
struct AwsServer {
    s: Server,
    token: String,
}

fn bootstrap(aws: &AwsEnv, config: &str) {
    let (code, out, err) = aws.bootstrap(config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
}

impl AwsServer {
    fn start(aws: &AwsEnv) -> Self {
        let config = aws.config("");
        bootstrap(aws, &config);
        Self::start_config(aws, &config)
    }

    fn start_config(aws: &AwsEnv, config: &str) -> Self {
        let s = Server::start_with_env(config, aws.env());
        let token = s.token("alice", &["--scope", "prompts:write"]);
        Self { s, token }
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.s
            .client
            .post(self.s.url("/v1/prompts"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn put(&self, id: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response {
        let mut r = self
            .s
            .client
            .put(self.s.url(&format!("/v1/prompts/{id}")))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        r.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.s.client.get(self.s.url(path)).send().await.unwrap()
    }
}

async fn items(
    aws: &AwsEnv,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    aws.dynamodb()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

fn s(v: &aws_sdk_dynamodb::types::AttributeValue) -> &str {
    v.as_s().unwrap()
}

async fn kv_objects(aws: &AwsEnv) -> Vec<String> {
    aws.s3()
        .await
        .list_objects_v2()
        .bucket(aws.bucket())
        .prefix("_kv/")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn prompts_are_items_in_dynamodb_and_large_bodies_round_trip_through_s3() {
    let aws = AwsEnv::new();
    let a = AwsServer::start(&aws);
    assert_eq!(
        a.post(&prompt("small", "Hello {{name}}")).await.status(),
        201
    );
    let all = items(&aws, &aws.prompts_table()).await;
    assert!(!all.is_empty());
    for it in &all {
        assert_eq!(
            s(&it["pk"]),
            "prompts#default",
            "namespace#tenant partition key"
        );
        assert!(it.contains_key("ver") && it.contains_key("val"));
    }
    assert!(
        all.iter().any(|it| s(&it["sk"]).contains("small")),
        "the prompt's key is the sort key: {:?}",
        all.iter()
            .map(|it| s(&it["sk"]).to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        kv_objects(&aws).await.is_empty(),
        "small values stay inline"
    );

    // 250 KB of quotes and newlines is ~500 KB as JSON: beyond a DynamoDB item.
    let big: String = "\"line\"\n".repeat(36 * 1024);
    let r = a.post(&prompt("big", &big)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let objects = kv_objects(&aws).await;
    assert!(!objects.is_empty(), "the large value went to S3");
    let offloaded: Vec<_> = items(&aws, &aws.prompts_table())
        .await
        .into_iter()
        .filter(|it| it.contains_key("s3"))
        .collect();
    assert!(!offloaded.is_empty());
    for it in &offloaded {
        assert!(!it.contains_key("val"), "pointer instead of the value");
        assert!(objects.contains(&s(&it["s3"]).to_string()));
    }
    let got: Value = a.get("/v1/prompts/big").await.json().await.unwrap();
    assert_eq!(got["content"].as_str().unwrap(), big);

    // Replacing a large value removes the object it replaced; a small one leaves S3.
    let bigger = format!("{big}more");
    assert_eq!(
        a.put("big", &json!({"content": bigger}), None)
            .await
            .status(),
        200
    );
    let got: Value = a.get("/v1/prompts/big").await.json().await.unwrap();
    assert_eq!(got["content"].as_str().unwrap(), bigger);
    let v1: Value = a
        .get("/v1/prompts/big?version=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["content"].as_str().unwrap(),
        big,
        "old versions stay readable"
    );
    let pointers: Vec<String> = items(&aws, &aws.prompts_table())
        .await
        .iter()
        .filter_map(|it| it.get("s3").map(|p| s(p).to_string()))
        .collect();
    let mut objects = kv_objects(&aws).await;
    objects.sort();
    let mut expected = pointers.clone();
    expected.sort();
    assert_eq!(objects, expected, "no orphaned or dangling value objects");

    let r =
        a.s.client
            .delete(a.s.url("/v1/prompts/big"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        kv_objects(&aws).await.is_empty(),
        "deleting removes the objects"
    );
    assert_eq!(a.get("/v1/prompts/big").await.status(), 404);
}

#[tokio::test]
async fn two_servers_share_one_data_set_and_if_match_has_one_winner() {
    let aws = AwsEnv::new();
    let a = AwsServer::start(&aws);
    let b = AwsServer::start_config(&aws, &aws.config(""));
    assert_ne!(a.s.port(), b.s.port());
    assert_eq!(a.post(&prompt("shared", "from a")).await.status(), 201);
    let got: Value = b.get("/v1/prompts/shared").await.json().await.unwrap();
    assert_eq!(got["content"], "from a");
    assert_eq!(
        b.put("shared", &json!({"content": "from b"}), Some("\"1\""))
            .await
            .status(),
        200
    );
    let got: Value = a.get("/v1/prompts/shared").await.json().await.unwrap();
    assert_eq!(
        (got["content"].as_str(), got["version"].as_u64()),
        (Some("from b"), Some(2))
    );

    let servers = std::sync::Arc::new((a, b));
    for round in 0..2u64 {
        let version = round + 2;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let servers = servers.clone();
            tasks.push(tokio::spawn(async move {
                let s = if i % 2 == 0 { &servers.0 } else { &servers.1 };
                s.put(
                    "shared",
                    &json!({"content": format!("writer {i}")}),
                    Some(&format!("\"{version}\"")),
                )
                .await
                .status()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let stale = statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!((ok, stale), (1, 7), "round {round}: {statuses:?}");
    }
    let got: Value = servers
        .1
        .get("/v1/prompts/shared")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["version"], 4);
}

fn scope(space: &str, tenant: &str) -> Scope {
    Scope {
        space: space.into(),
        tenant: tenant.into(),
    }
}

fn put(key: &str, v: &[u8], p: Precondition) -> WriteOp {
    WriteOp::Put {
        key: key.into(),
        value: v.to_vec(),
        precondition: p,
    }
}

/// The storage contract (storage/mod.rs) — run on both backends so they cannot drift.
async fn storage_contract(st: &Storage) {
    let kv = &st.kv;
    let s = scope("prompts", "t1");
    assert_eq!(
        kv.transact(&s, vec![put("k", b"1", Precondition::Absent)])
            .await
            .unwrap(),
        vec![1]
    );
    assert!(matches!(
        kv.transact(&s, vec![put("k", b"x", Precondition::Absent)]).await,
        Err(StorageError::Conflict(k)) if k == "k"
    ));
    assert!(matches!(
        kv.transact(&s, vec![put("k", b"x", Precondition::Version(7))])
            .await,
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(
        kv.transact(&s, vec![put("k", b"2", Precondition::Version(1))])
            .await
            .unwrap(),
        vec![2]
    );
    assert_eq!(
        kv.transact(&s, vec![put("k", b"3", Precondition::None)])
            .await
            .unwrap(),
        vec![3]
    );
    // A multi-op transaction with one failing precondition leaves nothing behind.
    let r = kv
        .transact(
            &s,
            vec![
                put("other", b"o", Precondition::None),
                put("k", b"4", Precondition::Version(1)),
            ],
        )
        .await;
    assert!(matches!(r, Err(StorageError::Conflict(k)) if k == "k"));
    assert!(kv.get(&s, "other").await.unwrap().is_none());
    let e = kv.get(&s, "k").await.unwrap().unwrap();
    assert_eq!((e.value.as_slice(), e.version), (b"3".as_slice(), 3));
    // And a successful one applies every op, returning exact versions.
    let r = kv
        .transact(
            &s,
            vec![
                put("other", b"o", Precondition::Absent),
                put("k", b"4", Precondition::Version(3)),
                WriteOp::Delete {
                    key: "nothing".into(),
                    precondition: Precondition::None,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(r, vec![1, 4, 0]);

    // Delete reports existence, under its precondition.
    assert!(matches!(
        kv.delete(&s, "other", Precondition::Version(9)).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(
        kv.delete(&s, "other", Precondition::Version(1))
            .await
            .unwrap()
    );
    assert!(!kv.delete(&s, "other", Precondition::None).await.unwrap());
    assert!(matches!(
        kv.delete(&s, "other", Precondition::Version(1)).await,
        Err(StorageError::Conflict(_))
    ));

    // Tenants and namespaces are separate key spaces.
    assert!(
        kv.get(&scope("prompts", "t2"), "k")
            .await
            .unwrap()
            .is_none()
    );
    assert!(kv.get(&scope("users", "t1"), "k").await.unwrap().is_none());

    // Prefix queries page through everything, in order, without repeats or short pages.
    let q = scope("prompts", "q");
    for i in 0..25 {
        kv.transact(
            &q,
            vec![put(&format!("p/{i:03}"), b"x", Precondition::None)],
        )
        .await
        .unwrap();
    }
    kv.transact(&q, vec![put("z", b"outside", Precondition::None)])
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, more) = kv.query(&q, "p/", after.as_deref(), 7).await.unwrap();
        if more {
            assert_eq!(page.len(), 7, "pages are full while more follow");
        }
        seen.extend(page.iter().map(|e| e.key.clone()));
        after = page.last().map(|e| e.key.clone());
        if !more {
            break;
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("p/{i:03}")).collect();
    assert_eq!(seen, expected);
    let (all, more) = kv.query(&q, "", None, 100).await.unwrap();
    assert_eq!((all.len(), more), (26, false));

    // Large values (beyond a DynamoDB item) round-trip, in get and query.
    let big = vec![7u8; 700 * 1024];
    assert_eq!(
        kv.transact(&s, vec![put("big", &big, Precondition::Absent)])
            .await
            .unwrap(),
        vec![1]
    );
    assert_eq!(kv.get(&s, "big").await.unwrap().unwrap().value, big);
    let r = kv
        .transact(
            &s,
            vec![
                put("big", &big[..500 * 1024], Precondition::Version(1)),
                put("big2", &big, Precondition::Absent),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r, vec![2, 1]);
    let (page, _) = kv.query(&s, "big", None, 10).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].value.len(), 500 * 1024);
    assert_eq!(page[1].value, big);

    // Blobs: scoped, listed by prefix with a cursor, deletes report existence.
    let b = &st.blob;
    let bs = scope("catalog", "t1");
    b.put(&bs, "x/1", b"one".to_vec()).await.unwrap();
    b.put(&bs, "x/2", b"two".to_vec()).await.unwrap();
    b.put(&bs, "y", b"why".to_vec()).await.unwrap();
    assert_eq!(b.get(&bs, "x/2").await.unwrap().unwrap(), b"two");
    assert!(
        b.get(&scope("catalog", "t2"), "x/2")
            .await
            .unwrap()
            .is_none()
    );
    let (l, more) = b.list(&bs, "x/", None, 1).await.unwrap();
    assert_eq!((l[0].key.as_str(), l[0].size, more), ("x/1", 3, true));
    let (l, more) = b.list(&bs, "x/", Some("x/1"), 10).await.unwrap();
    assert_eq!((l.len(), more), (1, false));
    assert!(b.delete(&bs, "y").await.unwrap());
    assert!(!b.delete(&bs, "y").await.unwrap());
    st.ping().await.unwrap();
}

async fn open_aws(aws: &AwsEnv) -> Storage {
    let config = aws.config("");
    bootstrap(aws, &config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        config.replace("{data}", &dir.path().display().to_string()),
    )
    .unwrap();
    let lc = mcp_prompts::config::load(&path).unwrap();
    // In-process, the clients get the endpoint and test credentials explicitly (setting
    // the environment of a multi-threaded test process is unsound); the server processes
    // find them through the default chain (AwsEnv::env).
    let sdk = aws.sdk().await;
    let cfg = lc.config.storage.aws.as_ref().unwrap();
    let clients = mcp_prompts::storage::aws::AwsClients::from_sdk(&sdk, cfg);
    mcp_prompts::storage::aws::open_with(clients, cfg)
}

#[tokio::test]
async fn storage_contract_holds_on_dynamodb_and_s3() {
    let aws = AwsEnv::new();
    storage_contract(&open_aws(&aws).await).await;
    // The sessions namespace has a TTL: its items carry expires_at.
    let st = open_aws(&aws).await;
    st.kv
        .transact(
            &scope("sessions", "t1"),
            vec![put("s1", b"x", Precondition::None)],
        )
        .await
        .unwrap();
    let it = items(&aws, &aws.sessions_table()).await;
    let exp: u64 = it[0]["expires_at"].as_n().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 3500..=now + 3700).contains(&exp), "ttl = 1h");
}

#[tokio::test]
async fn storage_contract_holds_on_embedded() {
    let dir = tempfile::tempdir().unwrap();
    storage_contract(&mcp_prompts::storage::embedded::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn expired_session_items_read_as_absent() {
    let aws = AwsEnv::new();
    let st = open_aws(&aws).await;
    let s = scope("sessions", "t1");
    st.kv
        .transact(&s, vec![put("gone", b"x", Precondition::None)])
        .await
        .unwrap();
    // Age the item as DynamoDB's TTL sweeper would see it (deletion itself lags).
    aws.dynamodb()
        .await
        .update_item()
        .table_name(aws.sessions_table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("sessions#t1".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("gone".into()),
        )
        .update_expression("SET expires_at = :e")
        .expression_attribute_values(":e", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    assert!(st.kv.get(&s, "gone").await.unwrap().is_none());
    assert!(st.kv.query(&s, "", None, 10).await.unwrap().0.is_empty());
    assert!(!st.kv.delete(&s, "gone", Precondition::None).await.unwrap());
    st.kv
        .transact(&s, vec![put("gone", b"y", Precondition::Absent)])
        .await
        .expect("an expired item counts as absent");
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_enables_ttl() {
    let aws = AwsEnv::new();
    let config = aws.config_with_secret("", "1m", "1m");
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("table {}: created", aws.prompts_table())),
        "{out}"
    );
    assert!(
        out.contains(&format!("bucket {}: created", aws.bucket())),
        "{out}"
    );
    assert!(
        out.contains("created with a random \"jwt_secret\""),
        "{out}"
    );
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains("created"),
        "second run creates nothing: {out}"
    );
    let ttl = aws
        .dynamodb()
        .await
        .describe_time_to_live()
        .table_name(aws.sessions_table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expires_at")
    );
    let tables = aws.dynamodb().await.list_tables().send().await.unwrap();
    for t in [aws.prompts_table(), aws.users_table(), aws.sessions_table()] {
        assert!(tables.table_names().contains(&t), "{t}");
    }
    let secret = aws
        .secrets()
        .await
        .get_secret_value()
        .secret_id(aws.secret_id())
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    assert_eq!(v["jwt_secret"].as_str().unwrap().len(), 64);
    assert!(
        !out.contains(v["jwt_secret"].as_str().unwrap()),
        "never printed"
    );
}

async fn put_secret(aws: &AwsEnv, value: &str) {
    let c = aws.secrets().await;
    let body = json!({"jwt_secret": value}).to_string();
    if c.describe_secret()
        .secret_id(aws.secret_id())
        .send()
        .await
        .is_ok()
    {
        c.put_secret_value()
            .secret_id(aws.secret_id())
            .secret_string(body)
            .send()
            .await
            .unwrap();
    } else {
        c.create_secret()
            .name(aws.secret_id())
            .secret_string(body)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn secret_rotation_keeps_the_previous_value_for_the_grace_period() {
    let aws = AwsEnv::new();
    let first = "first-secret-0123456789abcdef0123456789";
    put_secret(&aws, first).await;
    let config = aws.config_with_secret("", "500ms", "4s");
    bootstrap(&aws, &config);
    let a = AwsServer::start_config(&aws, &config);
    assert!(
        !a.s.log_text().contains(first),
        "the secret never appears in the log"
    );
    let me = |token: String| {
        let c = a.s.client.clone();
        let url = a.s.url("/v1/prompts");
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&prompt(&format!("p{}", uuid_ish()), "x"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Minted with the first secret; two are kept unused until after the rotation.
    let old_used = a.token.clone();
    let old_in_grace = a.s.token("bob", &["--scope", "prompts:write"]);
    let old_after_grace = a.s.token("carol", &["--scope", "prompts:write"]);
    assert_eq!(me(old_used.clone()).await, StatusCode::CREATED);

    let second = "second-secret-0123456789abcdef012345678";
    put_secret(&aws, second).await;
    let rotated_at = Instant::now();
    // The CLI reads the current value, so this token is signed with the second secret;
    // the server accepts it once its refresh has seen the rotation.
    let new = a.s.token("dave", &["--scope", "prompts:write"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while me(new.clone()).await != StatusCode::CREATED {
        assert!(Instant::now() < deadline, "rotation never picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        me(old_in_grace).await,
        StatusCode::CREATED,
        "previous value in grace"
    );
    // After the grace period (4 s from when the server saw it) the old value is refused.
    let wait = Duration::from_secs(6).saturating_sub(rotated_at.elapsed());
    tokio::time::sleep(wait).await;
    assert_eq!(me(old_after_grace).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(new).await, StatusCode::CREATED);
    let log = a.s.log_text();
    assert!(log.contains("secret rotated"), "{log}");
    assert!(!log.contains(first) && !log.contains(second));
}

fn uuid_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Starts `serve` and returns (exit code, stderr) once it exits (it must, within 60 s).
fn serve_until_exit(aws: &AwsEnv, config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        config.replace("{data}", &dir.path().join("data").display().to_string()),
    )
    .unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .envs(aws.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running without its secret");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn missing_or_unusable_secret_stops_the_start() {
    let aws = AwsEnv::new();
    let config = aws.config_with_secret("", "1m", "1m");
    bootstrap(&aws, &aws.config(""));
    let (code, err) = serve_until_exit(&aws, &config);
    assert_ne!(code, 0);
    assert!(
        err.contains("auth.dev.secrets_manager")
            && err.contains(&aws.secret_id())
            && err.contains("not found"),
        "{err}"
    );
    // Present but without the key, and present but too short: also refused, value unsaid.
    aws.secrets()
        .await
        .create_secret()
        .name(aws.secret_id())
        .secret_string(r#"{"other": "value-that-must-not-leak-0123456789"}"#)
        .send()
        .await
        .unwrap();
    let (code, err) = serve_until_exit(&aws, &config);
    assert_ne!(code, 0);
    assert!(
        err.contains("jwt_secret") && !err.contains("must-not-leak"),
        "{err}"
    );
    put_secret(&aws, "short-leaky").await;
    let (code, err) = serve_until_exit(&aws, &config);
    assert_ne!(code, 0);
    assert!(
        err.contains("at least 32") && !err.contains("short-leaky"),
        "{err}"
    );
}

#[tokio::test]
async fn outage_gives_503_and_recovers_when_aws_returns() {
    let mut moto = Moto::start();
    let aws = AwsEnv::on(moto.port);
    let a = AwsServer::start(&aws);
    assert_eq!(a.post(&prompt("before", "x")).await.status(), 201);

    moto.stop();
    let started = Instant::now();
    let r = a.get("/v1/prompts/before").await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        took < Duration::from_secs(8),
        "bounded by the retry budget: {took:?}"
    );
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("dispatch") && !body.contains("127.0.0.1"),
        "no internals: {body}"
    );
    let r = a.post(&prompt("during", "x")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let started = Instant::now();
    assert_eq!(
        a.get("/ready").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        a.get("/health").await.status(),
        StatusCode::OK,
        "alive, not ready"
    );

    // AWS is back (moto keeps data in memory, so the tables are created again).
    let _moto = Moto::start_on(aws.port);
    bootstrap(&aws, &aws.config(""));
    let back = Instant::now();
    let deadline = back + Duration::from_secs(30);
    while a.get("/ready").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "outage: GET 503 after {took:?}; ready again {:?} after AWS returned",
        back.elapsed()
    );
    assert_eq!(a.post(&prompt("after", "x")).await.status(), 201);
    let got: Value = a.get("/v1/prompts/after").await.json().await.unwrap();
    assert_eq!(got["id"], "after");
}

#[tokio::test]
async fn import_reads_a_catalog_from_an_s3_prefix() {
    let aws = AwsEnv::new();
    let config = aws.config("");
    bootstrap(&aws, &config);
    let s3 = aws.s3().await;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(catalog_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            s3.put_object()
                .bucket(aws.catalog_bucket())
                .key(format!("catalog/v1/{name}"))
                .body(std::fs::read(&p).unwrap().into())
                .send()
                .await
                .unwrap();
            names.push(name);
        }
    }
    assert!(!names.is_empty());
    // Not JSON objects of the catalog: ignored (other suffix) or outside the prefix.
    s3.put_object()
        .bucket(aws.catalog_bucket())
        .key("catalog/v1/README.md")
        .body(b"# not a prompt".to_vec().into())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        config.replace("{data}", &dir.path().join("data").display().to_string()),
    )
    .unwrap();
    let src = format!("s3://{}/catalog/v1/", aws.catalog_bucket());
    let (code, out, err) = aws.cli(&["import", "--config", path.to_str().unwrap(), &src]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("created {}", names.len())), "{out}");
    let (code, out, _) = aws.cli(&["import", "--config", path.to_str().unwrap(), &src]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("unchanged {}", names.len())),
        "idempotent: {out}"
    );

    let a = AwsServer::start_config(&aws, &config);
    let list: Value = a.get("/v1/prompts?limit=100").await.json().await.unwrap();
    let n = list["prompts"].as_array().map_or(0, Vec::len);
    assert_eq!(n, names.len(), "{list}");

    let (code, _, err) = aws.cli(&[
        "import",
        "--config",
        path.to_str().unwrap(),
        "s3://no-such-bucket-here/x",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("s3://no-such-bucket-here/x"), "{err}");
}

/// `config/production.toml` as shipped: `aws bootstrap` creates what it names and `check`
/// passes (Cognito provider, environment = "production"), with every stage value from the
/// environment; a missing required variable is named.
#[tokio::test]
async fn production_config_bootstraps_and_checks_with_stage_values_from_the_environment() {
    let aws = AwsEnv::new();
    common::plugin("prompt_store");
    let root = common::repo_root();
    let data = tempfile::tempdir().unwrap();
    let mut env = aws.env();
    for (k, v) in [
        (
            "MCP_PROMPTS_PLUGIN_DIR",
            root.join("target/wasm32-wasip2/release")
                .display()
                .to_string(),
        ),
        ("MCP_PROMPTS_DATA_DIR", data.path().display().to_string()),
        ("MCP_PROMPTS_TABLE_PROMPTS", aws.prompts_table()),
        ("MCP_PROMPTS_TABLE_USERS", aws.users_table()),
        ("MCP_PROMPTS_TABLE_SESSIONS", aws.sessions_table()),
        ("MCP_PROMPTS_USER_BUCKET", aws.bucket()),
        ("MCP_PROMPTS_CATALOG_BUCKET", aws.catalog_bucket()),
        (
            "MCP_PROMPTS_COGNITO_POOL_ID",
            "eu-west-1_TestPool".to_string(),
        ),
        ("MCP_PROMPTS_COGNITO_CLIENT_ID", "test-client".to_string()),
    ] {
        env.push((k.to_string(), v));
    }
    let run = |args: &[&str], env: &[(String, String)]| {
        let out = std::process::Command::new(common::BIN)
            .args(args)
            .arg("--config")
            .arg(root.join("config/production.toml"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = run(&["aws", "bootstrap"], &env);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("bucket {}: created", aws.catalog_bucket())),
        "{out}"
    );
    let (ok, out) = run(&["check"], &env);
    assert!(ok, "{out}");
    let without: Vec<_> = env
        .iter()
        .filter(|(k, _)| k != "MCP_PROMPTS_USER_BUCKET")
        .cloned()
        .collect();
    let (ok, out) = run(&["check"], &without);
    assert!(!ok);
    assert!(out.contains("MCP_PROMPTS_USER_BUCKET"), "{out}");
}

/// A TCP proxy in front of moto that can turn into a black hole: connections are accepted
/// and then nothing is ever answered (a hung endpoint, the fault that must not hang us).
struct Proxy {
    port: u16,
    black_hole: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let black_hole = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (bh, cs) = (black_hole.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let hole = bh.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if hole {
                        // Hold the connection open and say nothing.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(inbound);
                    } else if let Ok(mut out) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                cs.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            black_hole,
            conns,
        }
    }

    /// From now on nothing answers; open connections are cut so clients reconnect.
    fn hang(&self) {
        self.black_hole
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_aws_is_a_bounded_503_not_a_hang() {
    let aws = AwsEnv::new();
    let config = aws.config("");
    bootstrap(&aws, &config);
    let proxy = Proxy::start(aws.port).await;
    let env: Vec<(String, String)> = aws
        .env()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "AWS_ENDPOINT_URL" => (k, format!("http://127.0.0.1:{}", proxy.port)),
            _ => (k, v),
        })
        .collect();
    let s = tokio::task::spawn_blocking(move || Server::start_with_env(&config, env))
        .await
        .unwrap();
    let get = |path: &str| s.client.get(s.url(path)).send();
    assert_eq!(get("/v1/prompts/none").await.unwrap().status(), 404);

    proxy.hang();
    let started = Instant::now();
    let r = get("/v1/prompts/none").await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    // operation_timeout is 2 s in the test config; the plugin's own timeout is 5 s.
    assert!(
        took < Duration::from_secs(4),
        "bounded by the budget: {took:?}"
    );
    let started = Instant::now();
    assert_eq!(get("/ready").await.unwrap().status(), 503);
    let ready_took = started.elapsed();
    assert!(ready_took < Duration::from_secs(4), "{ready_took:?}");
    eprintln!("hung endpoint: GET 503 after {took:?}, /ready 503 after {ready_took:?}");
}

/// Issue 15 item 10: a stored profile that cannot be read (a damaged item) is an error on
/// every read and write of it, never an empty profile that a `PUT /users/me` would write
/// over the operator's tier with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_stored_profile_is_an_error_and_is_never_overwritten() {
    let aws = AwsEnv::new();
    let a = AwsServer::start(&aws);
    let me = a.s.url("/users/me");
    let r =
        a.s.client
            .put(&me)
            .bearer_auth(&a.token)
            .json(&json!({"displayName": "Alice"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Damage the stored item: a truncated JSON document that still names the tier.
    let damaged = br#"{"tier": "premium", "displayName": "Al"#.to_vec();
    let mut item = items(&aws, &aws.users_table())
        .await
        .into_iter()
        .find(|i| i.get("sk").map(s) == Some("alice"))
        .expect("alice's profile item");
    item.insert(
        "val".into(),
        aws_sdk_dynamodb::types::AttributeValue::B(damaged.clone().into()),
    );
    aws.dynamodb()
        .await
        .put_item()
        .table_name(aws.users_table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    let r =
        a.s.client
            .get(&me)
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 500);
    let r =
        a.s.client
            .put(&me)
            .bearer_auth(&a.token)
            .json(&json!({"displayName": "Mallory"}))
            .send()
            .await
            .unwrap();
    assert_eq!(
        r.status(),
        500,
        "a PUT over an unreadable profile must fail"
    );
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("premium"),
        "the problem leaks stored data: {body}"
    );
    let stored = items(&aws, &aws.users_table())
        .await
        .into_iter()
        .find(|i| i.get("sk").map(s) == Some("alice"))
        .unwrap();
    assert_eq!(
        stored["val"].as_b().unwrap().as_ref(),
        damaged.as_slice(),
        "the damaged profile was overwritten"
    );
}

/// Issue 15 item 9: the objects a write with an unknown outcome keeps are reclaimed by
/// `mcp-prompts aws sweep` — only those no item refers to, and only once old enough that
/// no write still in flight can own them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_reclaims_only_old_unreferenced_value_objects() {
    let aws = AwsEnv::new();
    let config = aws.config("");
    bootstrap(&aws, &config);
    let a = AwsServer::start_config(&aws, &config);
    let big: String = "\"line\"\n".repeat(36 * 1024);
    let r = a.post(&prompt("big", &big)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // The prompt and its version record each point at an object.
    let referenced = kv_objects(&aws).await;
    assert!(!referenced.is_empty(), "the large value went to S3");
    // An orphan, as a write whose outcome was unknown leaves one.
    let orphan = format!(
        "_kv/{}/0123456789abcdef0123456789abcdef",
        aws.prompts_table()
    );
    aws.s3()
        .await
        .put_object()
        .bucket(aws.bucket())
        .key(&orphan)
        .body(b"left over".to_vec().into())
        .send()
        .await
        .unwrap();

    let path = a.s.config.to_str().unwrap().to_string();
    let sweep = |extra: &[&str]| {
        let mut args = vec!["aws", "sweep", "--config", &path];
        args.extend_from_slice(extra);
        aws.cli(&args)
    };
    // Younger than the default --min-age (1h): left alone.
    let (code, out, err) = sweep(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("young 1") && out.contains("orphans 0"),
        "{out}"
    );
    assert_eq!(kv_objects(&aws).await.len(), referenced.len() + 1);
    // A dry run names it and deletes nothing.
    let (code, out, err) = sweep(&["--min-age", "0s", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("would delete {orphan}")), "{out}");
    assert_eq!(kv_objects(&aws).await.len(), referenced.len() + 1);
    // The sweep deletes the orphan only; the referenced object and its prompt stay whole.
    let (code, out, err) = sweep(&["--min-age", "0s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("deleted {orphan}")), "{out}");
    assert!(
        out.contains(&format!("referenced {}", referenced.len())),
        "{out}"
    );
    assert_eq!(kv_objects(&aws).await, referenced);
    let r = a.get("/v1/prompts/big").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"], big.as_str());
}
