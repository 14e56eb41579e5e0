//! An acknowledged write survives `kill -9` of the server in the middle of a write burst.

use crate::common;

use common::{Server, base_config, prompt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let config = base_config("");
    let mut s = Server::start_with(&config);
    let token = s.token("alice", &[]);
    let acked_creates = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked_updates = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let client = s.client.clone();
    let base = s.base.clone();

    let mut writers = Vec::new();
    for w in 0..6 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (creates, updates) = (acked_creates.clone(), acked_updates.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("w{w}-{i}");
                let r = client
                    .post(format!("{base}/v1/prompts"))
                    .bearer_auth(&token)
                    .json(&prompt(&id, &format!("body of {id}")))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => creates.lock().unwrap().push(id.clone()),
                    _ => break, // the server is gone
                }
                let r = client
                    .put(format!("{base}/v1/prompts/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("updated {id}")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => break,
                        };
                        updates
                            .lock()
                            .unwrap()
                            .push((id, v["version"].as_u64().unwrap()));
                    }
                    _ => break,
                }
            }
        }));
    }
    // Let the burst run, then pull the plug while requests are in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = s.kill9();
    for w in writers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let creates = acked_creates.lock().unwrap().clone();
    let updates = acked_updates.lock().unwrap().clone();
    assert!(
        creates.len() >= 10,
        "too few writes before the kill: {}",
        creates.len()
    );

    let s = Server::start_in(dir, &config);
    for id in &creates {
        let r = s
            .client
            .get(s.url(&format!("/v1/prompts/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged create of {id} was lost");
    }
    for (id, version) in &updates {
        let v: Value = s
            .client
            .get(s.url(&format!("/v1/prompts/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            v["version"].as_u64().unwrap() >= *version,
            "acknowledged update of {id} was lost"
        );
        assert_eq!(v["content"], format!("updated {id}"));
    }
    // The store is fully usable after recovery.
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(s.token("alice", &[]))
        .json(&prompt("after-crash", "fine"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
