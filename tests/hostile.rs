//! Hostile plugins (endless loop, memory bomb, deep recursion, trap) fail only their own
//! request; everything else keeps being served.

use crate::common;

use common::{Server, prompt};
use serde_json::Value;
use std::time::{Duration, Instant};

fn config() -> String {
    common::hostile_config("")
}

#[tokio::test]
async fn each_failure_is_contained_to_its_request() {
    let s = std::sync::Arc::new(Server::start_with(&config()));
    let token = s.token("alice", &[]);
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&token)
        .json(&prompt("healthy", "still {{here}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Healthy traffic runs alongside the hostile calls the whole time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let s = s.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ok = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = s
                    .client
                    .get(s.url("/v1/prompts/healthy"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.status(),
                    200,
                    "a healthy request failed while a plugin misbehaved"
                );
                ok += 1;
            }
            ok
        })
    };

    let cases = [
        ("loop", 504u16, "/problems/plugin-timeout"),
        ("oom", 500, "/problems/plugin-limit"),
        ("recurse", 500, ""),
        ("trap", 500, "/problems/plugin-trap"),
    ];
    for (id, status, kind) in cases {
        let started = Instant::now();
        let r = s
            .client
            .get(s.url(&format!("/v1/hostile/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{id}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{id} took {:?}",
            started.elapsed()
        );
        let v: Value = r.json().await.unwrap();
        if !kind.is_empty() {
            assert_eq!(v["type"], kind, "{id}: {v}");
        }
        let error_id = v["errorId"]
            .as_str()
            .expect("failure carries an errorId")
            .to_string();
        // The same id is in the server log, with the plugin's name.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = s.log_text();
            if log
                .lines()
                .any(|l| l.contains(&error_id) && l.contains("hostile"))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "errorId {error_id} not in log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The same plugin still serves well-behaved calls.
        let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
        assert_eq!(r.status(), 200, "after {id}");
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ok = background.await.unwrap();
    assert!(ok > 0);
    let r = s.client.get(s.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn ungranted_namespace_is_refused_by_the_host() {
    let s = Server::start_with(&config());
    let r = s
        .client
        .get(s.url("/v1/hostile/steal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("not granted") && detail.contains("prompts"),
        "{detail}"
    );
    let r = s
        .client
        .get(s.url("/v1/hostile/scratch"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "scratch-v1");
}

#[tokio::test]
async fn concurrent_endless_loops_do_not_starve_other_requests() {
    let s = std::sync::Arc::new(Server::start_with(&config()));
    // More spinning plugins than the machine has cores: epoch yields keep workers free.
    let mut loops = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        loops.push(tokio::spawn(async move {
            s.client
                .get(s.url("/v1/hostile/loop"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Health is answered while the loops are still running (they end at their 1 s deadline):
    // an ordering check, not a timing threshold.
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        loops.iter().any(|l| !l.is_finished()),
        "health was only answered after the spinning plugins were stopped"
    );
    for l in loops {
        assert_eq!(l.await.unwrap(), 504);
    }
}

#[tokio::test]
async fn exhausted_instance_pool_answers_503_and_recovers() {
    // Room for three concurrent instances; three endless loops take them all for their
    // 1 s deadline.
    let s = std::sync::Arc::new(Server::start_with(
        &config().replace("max_instances = 200", "max_instances = 3"),
    ));
    let mut loops = Vec::new();
    for _ in 0..3 {
        let s = s.clone();
        loops.push(tokio::spawn(async move {
            s.client
                .get(s.url("/v1/hostile/loop"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "/problems/busy");
    for l in loops {
        assert_eq!(l.await.unwrap(), 504);
    }
    let r = s.client.get(s.url("/v1/hostile/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
