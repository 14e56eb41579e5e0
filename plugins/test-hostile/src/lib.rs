//! A deliberately misbehaving prompt-handler plugin, used ONLY by the host's test suite
//! to check that the sandbox contains guests: epoch deadlines stop endless loops,
//! memory limits stop unbounded growth, stack limits stop runaway recursion, and traps
//! surface as errors instead of crashing the host. Never deploy it.
//!
//! `get(ctx, id, _)` by id:
//! - `loop`: spins forever;
//! - `oom`: allocates 1 MiB chunks (touching every page) until memory runs out;
//! - `recurse`: non-tail recursion without end;
//! - `trap`: executes `unreachable`;
//! - `steal`: reads the kv namespace `prompts`, which its config does not grant (the host
//!   must answer `denied`; the plugin reports it as `forbidden`);
//! - `scratch`: writes `secret-of-<tenant>` under key `k` of its granted namespace `scratch`;
//! - `scan`: lists everything its namespace `scratch` holds (content: `key=value` lines);
//! - `forge`: tries forged keys and namespaces (NUL separators, paths); all must fail;
//! - `count`: a prompt whose `content` is `calls=N first=T now=U`: how many `count` calls
//!   this instance's memory has seen, the tenant of the first and of this one (what a
//!   warm instance keeps between calls, and whom it serves);
//! - anything else (e.g. `ok`): returns a small valid prompt.
//!
//! Every other export answers `not-found`, and `list` an empty page.

#[cfg(target_arch = "wasm32")]
mod glue;

use std::hint::black_box;

/// Spins forever; `black_box` keeps the loop observable so it is not optimised away.
pub fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Grows the heap without bound. Every 4 KiB page of each chunk is written so the
/// memory is really committed, not just reserved.
pub fn exhaust_memory() -> usize {
    const CHUNK: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for i in (0..CHUNK).step_by(4096) {
            chunk[i] = black_box(1);
        }
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

/// Recurses without end. The frame holds a buffer and the result is used after the
/// call, so it is not a tail call; `black_box` hides that the base case never happens.
#[inline(never)]
pub fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[31])
}

/// Calls of `count` this instance has served, and the tenant of the first: guest memory
/// that lives exactly as long as the instance.
static COUNT: std::sync::Mutex<(u64, Option<String>)> = std::sync::Mutex::new((0, None));

/// The `count` prompt: bumps this instance's counter and reports it.
pub fn count_prompt(tenant: &str) -> String {
    let mut c = COUNT.lock().unwrap_or_else(|e| e.into_inner());
    c.0 += 1;
    let first = c.1.get_or_insert_with(|| tenant.to_string()).clone();
    let content = format!("calls={} first={first} now={tenant}", c.0);
    let mut p: serde_json::Value = serde_json::from_str(&ok_prompt("count")).unwrap_or_default();
    p["content"] = serde_json::Value::String(content);
    p.to_string()
}

/// The prompt returned for well-behaved ids.
pub fn ok_prompt(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "name": "ok",
        "description": "returned by the test-hostile plugin",
        "content": "ok",
        "isTemplate": false,
        "category": null,
        "tags": [],
        "variables": [],
        "version": 1,
        "createdAt": "1970-01-01T00:00:00.000Z",
        "updatedAt": "1970-01-01T00:00:00.000Z",
        "accessLevel": "public",
        "author": null,
        "metadata": {}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ok_prompt_is_json_with_the_id() {
        let v: serde_json::Value = serde_json::from_str(&super::ok_prompt("ok")).unwrap();
        assert_eq!(v["id"], "ok");
        assert_eq!(v["name"], "ok");
    }

    #[test]
    fn count_remembers_calls_and_the_first_tenant() {
        let content = |s: String| {
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            v["content"].as_str().unwrap().to_string()
        };
        assert_eq!(content(super::count_prompt("a")), "calls=1 first=a now=a");
        assert_eq!(content(super::count_prompt("b")), "calls=2 first=a now=b");
    }
}
