//! Subscriptions (issue 17, docs/billing.md) against the real binary over TLS: Stripe
//! webhook events built from the fixtures in tests/fixtures/stripe/ (real event shapes)
//! and signed here exactly as Stripe signs them (HMAC-SHA256 over "{t}.{body}", hex, in
//! `Stripe-Signature: t=…,v1=…`), on the embedded store and on DynamoDB (moto_server).

use crate::common;

use common::moto::{AwsEnv, Moto};
use common::{Server, base_config, prompt, run_cli};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "whsec_test_0123456789abcdefghijklmnopqrstuv";
const OLD_SECRET: &str = "whsec_old_0123456789abcdefghijklmnopqrstuvw";
const PREMIUM: &str = "price_1PremiumMonthly";
const TEAM: &str = "price_1TeamYearly";
const DAY: i64 = 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Stripe-Signature` for `body` at `t`, one `v1` per secret (two while a secret is rolled).
fn stripe_signature(secrets: &[&str], t: i64, body: &str) -> String {
    let mut h = format!("t={t}");
    for s in secrets {
        let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(s.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        h.push_str(&format!(",v1={}", hex::encode(mac.finalize().into_bytes())));
    }
    h
}

fn fixture(name: &str) -> Value {
    let p = common::repo_root().join(format!("tests/fixtures/stripe/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// A subscription event from a fixture with its ids, times, user, price and status set.
#[derive(Clone)]
struct Ev {
    kind: &'static str,
    id: String,
    created: i64,
    sub: String,
    customer: String,
    /// `Some(subject)`: metadata names `mcp-prompts-dev|subject`; `None`: no metadata.
    subject: Option<String>,
    price: String,
    status: &'static str,
    period_end: i64,
}

impl Ev {
    fn new(kind: &'static str, n: &str, subject: &str) -> Self {
        let t = now();
        Ev {
            kind,
            id: format!("evt_{n}_{}", uuid::Uuid::new_v4().simple()),
            created: t,
            sub: format!("sub_{subject}_{n}"),
            customer: format!("cus_{subject}"),
            subject: Some(subject.to_string()),
            price: PREMIUM.into(),
            status: if kind == "customer.subscription.deleted" {
                "canceled"
            } else {
                "active"
            },
            period_end: t + 30 * DAY,
        }
    }

    fn json(&self) -> String {
        let mut v = fixture(self.kind);
        v["id"] = json!(self.id);
        v["created"] = json!(self.created);
        let o = &mut v["data"]["object"];
        o["id"] = json!(self.sub);
        o["customer"] = json!(self.customer);
        o["status"] = json!(self.status);
        o["metadata"] = match &self.subject {
            Some(s) => json!({"mcp_prompts_subject": format!("mcp-prompts-dev|{s}")}),
            None => json!({}),
        };
        let item = &mut o["items"]["data"][0];
        item["price"]["id"] = json!(self.price);
        item["plan"]["id"] = json!(self.price);
        item["current_period_end"] = json!(self.period_end);
        item["subscription"] = json!(self.sub);
        // Stripe's own serialisation is pretty-printed; the signature covers these bytes.
        serde_json::to_string_pretty(&v).unwrap()
    }
}

struct Billing<'a> {
    s: &'a Server,
}

impl Billing<'_> {
    async fn send_raw(&self, body: &str, sig: Option<&str>) -> (u16, Value) {
        let mut r = self
            .s
            .client
            .post(self.s.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(body.to_string());
        if let Some(h) = sig {
            r = r.header("stripe-signature", h);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends `ev` signed now with the endpoint's secret: (status, outcome or problem).
    async fn send(&self, ev: &Ev) -> (u16, Value) {
        let body = ev.json();
        self.send_raw(&body, Some(&stripe_signature(&[SECRET], now(), &body)))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .s
            .client
            .get(self.s.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn tier(&self, token: &str) -> String {
        let (st, v) = self.get("/users/me", token).await;
        assert_eq!(st, 200, "{v}");
        v["tier"].as_str().unwrap().to_string()
    }

    async fn subscription(&self, token: &str) -> Value {
        let (st, v) = self.get("/v1/subscription", token).await;
        assert_eq!(st, 200, "{v}");
        v
    }

    /// A 2026-07-28 (stateless) MCP `prompts/get`.
    async fn mcp_get(&self, token: &str, name: &str) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {
            "name": name,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "billing-test", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }});
        let r = self
            .s
            .client
            .post(self.s.url("/mcp"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "prompts/get")
            .header("mcp-name", name)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn metrics(&self) -> String {
        self.s
            .client
            .get(self.s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn billing_toml(secret: &str) -> String {
    format!(
        r#"
[billing]
enabled = true
period_end_grace = "1h"

[billing.stripe]
{secret}

[[billing.plans]]
id = "premium-monthly"
name = "Premium (monthly)"
description = "Every premium prompt"
price_id = "{PREMIUM}"
tier = "premium"
amount = 900
currency = "usd"
interval = "month"

[[billing.plans]]
id = "team-yearly"
name = "Team (yearly)"
price_id = "{TEAM}"
tier = "team"
amount = 9000
currency = "usd"
interval = "year"
"#
    )
}

/// A server whose webhook secret is the file `whsec` next to its config.
fn start_embedded(secret: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), format!("{secret}\n")).unwrap();
    Server::start_in(
        dir,
        &base_config(&billing_toml("webhook_secret_file = \"whsec\"")),
    )
}

async fn create_premium_prompt(s: &Server) {
    let author = s.token("author", &["--scope", "prompts:write"]);
    let mut p = prompt("gold", "premium content");
    p["accessLevel"] = json!("premium");
    let r = s
        .client
        .post(s.url("/v1/prompts"))
        .bearer_auth(&author)
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

async fn premium_readable(s: &Server, token: &str) -> bool {
    let r = s
        .client
        .get(s.url("/v1/prompts/gold"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => true,
        403 => false,
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_events_drive_the_tier_on_the_embedded_store() {
    let mut s = start_embedded(SECRET);
    create_premium_prompt(&s).await;
    let b = Billing { s: &s };
    let bob = s.token("bob", &[]);

    // Plans are public; the caller's subscription needs a token.
    let r = s
        .client
        .get(s.url("/v1/subscription/plans"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let plans: Value = r.json().await.unwrap();
    assert_eq!(plans["defaultTier"], "free");
    assert_eq!(plans["plans"][0]["priceId"], PREMIUM);
    assert_eq!(plans["plans"][1]["tier"], "team");
    let r = s
        .client
        .get(s.url("/v1/subscription"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v = b.subscription(&bob).await;
    assert_eq!(
        (v["tier"].as_str(), v["source"].as_str()),
        (Some("free"), Some("default"))
    );
    assert!(!premium_readable(&s, &bob).await);
    let m = b.mcp_get(&bob, "gold").await;
    assert!(m["result"].is_null(), "free caller over MCP: {m}");

    // customer.subscription.updated → active on the premium price.
    let up = Ev::new("customer.subscription.updated", "1", "bob");
    let (st, v) = b.send(&up).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(b.tier(&bob).await, "premium");
    let v = b.subscription(&bob).await;
    assert_eq!(v["source"], "stripe");
    assert_eq!(v["status"], "active");
    assert_eq!(v["plan"], "premium-monthly");
    assert_eq!(v["subscriptionId"], up.sub);
    assert_eq!(v["active"], true);
    assert!(
        v["currentPeriodEnd"].as_str().unwrap().ends_with('Z'),
        "{v}"
    );
    assert!(
        premium_readable(&s, &bob).await,
        "the policy sees the new tier"
    );
    let m = b.mcp_get(&bob, "gold").await;
    assert_eq!(
        m["result"]["messages"][0]["content"]["text"], "premium content",
        "MCP sees the new tier: {m}"
    );
    // The subscription state beats a stale tier claim in the token.
    let claimed = s.token("bob", &["--tier", "gold"]);
    assert_eq!(b.tier(&claimed).await, "premium");

    // Replays: the same event again (freshly signed, as Stripe retries) and the very same
    // request (same signature, within the tolerance) are acknowledged, not applied again.
    let (st, v) = b.send(&up).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("duplicate")));
    let body = up.json();
    let sig = stripe_signature(&[SECRET], now(), &body);
    assert_eq!(
        b.send_raw(&body, Some(&sig)).await.1["outcome"],
        "duplicate"
    );
    assert_eq!(
        b.send_raw(&body, Some(&sig)).await.1["outcome"],
        "duplicate"
    );

    // Refused before parsing: no signature, a wrong one, a tampered body, an old or future
    // timestamp, v0 only. None of them changes anything.
    let del = Ev {
        created: up.created + 100,
        sub: up.sub.clone(),
        ..Ev::new("customer.subscription.deleted", "1", "bob")
    };
    let body = del.json();
    let t = now();
    let tampered = body.replace("canceled", "cancelled");
    for (sig, why) in [
        (None, "missing"),
        (
            Some(stripe_signature(
                &["whsec_wrong_secret_0123456789abcdef"],
                t,
                &body,
            )),
            "mismatch",
        ),
        (Some(stripe_signature(&[SECRET], t, &tampered)), "mismatch"),
        (Some(stripe_signature(&[SECRET], t - 301, &body)), "stale"),
        (Some(stripe_signature(&[SECRET], t + 400, &body)), "stale"),
        (Some(format!("t={t},v0={}", "ab".repeat(32))), "no_v1"),
        (Some("garbage".into()), "malformed"),
    ] {
        let (st, v) = b.send_raw(&body, sig.as_deref()).await;
        assert_eq!(st, 400, "{why}: {v}");
        assert_eq!(v["type"], "/problems/invalid-signature", "{v}");
    }
    assert_eq!(b.tier(&bob).await, "premium", "nothing refused was applied");

    // Out of order: the deletion (newer) arrives, then a delayed older update.
    let (st, v) = b.send(&del).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(b.tier(&bob).await, "free");
    assert!(!premium_readable(&s, &bob).await);
    let v = b.subscription(&bob).await;
    assert_eq!(
        (v["status"].as_str(), v["source"].as_str()),
        (Some("canceled"), Some("stripe"))
    );
    let late = Ev {
        created: up.created + 50,
        sub: up.sub.clone(),
        ..Ev::new("customer.subscription.updated", "late", "bob")
    };
    let (st, v) = b.send(&late).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("stale")), "{v}");
    assert_eq!(b.tier(&bob).await, "free", "a late update never revives it");

    // Out of order between updates: carol's newer state (team) stays when an older one
    // (premium, past_due) arrives afterwards.
    let carol = s.token("carol", &[]);
    let newer = Ev {
        price: TEAM.into(),
        ..Ev::new("customer.subscription.updated", "2", "carol")
    };
    let older = Ev {
        id: format!("evt_older_{}", uuid::Uuid::new_v4().simple()),
        created: newer.created - 60,
        price: PREMIUM.into(),
        status: "past_due",
        ..newer.clone()
    };
    assert_eq!(b.send(&newer).await.1["outcome"], "applied");
    assert_eq!(b.send(&older).await.1["outcome"], "stale");
    assert_eq!(b.tier(&carol).await, "team");

    // A price no plan has: recorded, grants nothing.
    let dave = s.token("dave", &[]);
    let unknown = Ev {
        price: "price_1NotConfigured".into(),
        ..Ev::new("customer.subscription.updated", "3", "dave")
    };
    let (st, v) = b.send(&unknown).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("unknown_price")));
    assert_eq!(b.tier(&dave).await, "free");

    // Expiry without a deletion: the paid period ended more than period_end_grace ago.
    let erin = s.token("erin", &[]);
    let expired = Ev {
        period_end: now() - 2 * 3600,
        ..Ev::new("customer.subscription.updated", "4", "erin")
    };
    assert_eq!(b.send(&expired).await.1["outcome"], "applied");
    assert_eq!(b.tier(&erin).await, "free");
    assert_eq!(b.subscription(&erin).await["active"], false);

    // The customer mapping: a new subscription of bob's customer, without metadata.
    let again = Ev {
        subject: None,
        ..Ev::new("customer.subscription.created", "5", "bob")
    };
    let (st, v) = b.send(&again).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(b.tier(&bob).await, "premium");
    // Unknown customer and no metadata: acknowledged, not recorded (a resend can work later).
    let stranger = Ev {
        subject: None,
        customer: "cus_nobody".into(),
        ..Ev::new("customer.subscription.updated", "6", "nobody")
    };
    assert_eq!(b.send(&stranger).await.1["outcome"], "unmatched");
    assert_eq!(b.send(&stranger).await.1["outcome"], "unmatched");
    // Other event types are acknowledged and ignored; the legacy layout is read too.
    let inv = fixture("invoice.paid").to_string();
    let (st, v) = b
        .send_raw(&inv, Some(&stripe_signature(&[SECRET], now(), &inv)))
        .await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("ignored")));
    let frank = s.token("frank", &[]);
    let mut legacy = fixture("customer.subscription.updated.legacy");
    legacy["id"] = json!(format!("evt_legacy_{}", uuid::Uuid::new_v4().simple()));
    legacy["created"] = json!(now());
    legacy["data"]["object"]["metadata"]["mcp_prompts_subject"] = json!("mcp-prompts-dev|frank");
    legacy["data"]["object"]["current_period_end"] = json!(now() + DAY);
    let body = legacy.to_string();
    let (st, v) = b
        .send_raw(&body, Some(&stripe_signature(&[SECRET], now(), &body)))
        .await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(b.tier(&frank).await, "premium");
    // Signed, but not an event: 400.
    let junk = r#"{"hello": "world"}"#;
    let (st, _) = b
        .send_raw(junk, Some(&stripe_signature(&[SECRET], now(), junk)))
        .await;
    assert_eq!(st, 400);
    // Metadata naming an issuer we do not trust, and no mapping: unmatched.
    let mut foreign = Ev::new("customer.subscription.updated", "7", "mallory");
    foreign.customer = "cus_foreign".into();
    let body = foreign
        .json()
        .replace("mcp-prompts-dev|mallory", "https://evil.example|mallory");
    let (_, v) = b
        .send_raw(&body, Some(&stripe_signature(&[SECRET], now(), &body)))
        .await;
    assert_eq!(v["outcome"], "unmatched");

    // The user's own PUT /users/me keeps the subscription state.
    let r = s
        .client
        .put(s.url("/users/me"))
        .bearer_auth(&bob)
        .json(&json!({"displayName": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tier"], "premium");
    assert!(
        v.get("billing").is_none(),
        "billing state is not part of /users/me: {v}"
    );

    let metrics = b.metrics().await;
    for line in [
        r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.updated",outcome="applied"}"#,
        r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.updated",outcome="duplicate"} 3"#,
        r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.updated",outcome="stale"} 2"#,
        r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.updated",outcome="unknown_price"} 1"#,
        r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.deleted",outcome="applied"} 1"#,
        r#"mcp_prompts_billing_webhook_events_total{type="other",outcome="ignored"} 1"#,
        r#"mcp_prompts_billing_webhook_signature_failures_total{reason="mismatch"} 2"#,
        r#"mcp_prompts_billing_webhook_signature_failures_total{reason="stale"} 2"#,
        r#"mcp_prompts_billing_webhook_signature_failures_total{reason="missing"} 1"#,
        r#"mcp_prompts_billing_webhook_signature_failures_total{reason="no_v1"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let log = s.log_text();
    assert!(
        !log.contains(SECRET) && !log.contains("pm_1RxUpd"),
        "no secrets or payment data in the log"
    );
    assert!(log.contains("stripe event processed"), "{log}");

    // The operator's set-tier wins over the subscription (and clearing it gives it back).
    let config = s.config.clone();
    let dir = s.kill9();
    let set = |tier: Option<&str>| {
        let mut args = vec![
            "user",
            "set-tier",
            "--config",
            config.to_str().unwrap(),
            "--sub",
            "bob",
        ];
        match tier {
            Some(t) => args.extend(["--tier", t]),
            None => args.push("--clear"),
        }
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, 0, "{out}{err}");
    };
    set(Some("staff"));
    let s = Server::start_in(
        dir,
        &base_config(&billing_toml("webhook_secret_file = \"whsec\"")),
    );
    let b = Billing { s: &s };
    let v = b.subscription(&bob).await;
    assert_eq!(
        (v["tier"].as_str(), v["source"].as_str()),
        (Some("staff"), Some("operator"))
    );
    assert_eq!(v["status"], "active", "the subscription is still reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_secret_signs_twice_and_either_secret_verifies() {
    // Stripe's "roll secret": for a while every delivery carries a v1 for the old and the
    // new secret. A server on either one accepts; a signature by neither is refused.
    let s = start_embedded(SECRET);
    let b = Billing { s: &s };
    let ev = Ev::new("customer.subscription.updated", "r1", "rita");
    let body = ev.json();
    let t = now();
    let (st, v) = b
        .send_raw(
            &body,
            Some(&stripe_signature(&[OLD_SECRET, SECRET], t, &body)),
        )
        .await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    let ev2 = Ev::new("customer.subscription.updated", "r2", "rita");
    let body = ev2.json();
    assert_eq!(
        b.send_raw(&body, Some(&stripe_signature(&[OLD_SECRET], t, &body)))
            .await
            .0,
        400,
        "the old secret alone is not this server's"
    );
    let old = start_embedded(OLD_SECRET);
    let (st, _) = Billing { s: &old }
        .send_raw(
            &body,
            Some(&stripe_signature(&[OLD_SECRET, SECRET], t, &body)),
        )
        .await;
    assert_eq!(
        st, 200,
        "a server still on the old secret accepts the rolled delivery"
    );
}

#[test]
fn config_errors_name_the_billing_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        let path = dir.path().join("c.toml");
        let text =
            base_config(extra).replace("{data}", &dir.path().join("data").display().to_string());
        std::fs::write(&path, text).unwrap();
        run_cli(&["check", "--config", path.to_str().unwrap()])
    };
    let (code, _, err) = check("[billing]\nenabled = true\n");
    assert_ne!(code, 0);
    assert!(
        err.contains("billing.stripe") && err.contains("webhook_secret_file"),
        "{err}"
    );
    let (code, _, err) = check(&format!(
        "{}\n[plugins.policy2]\npath = \"{}\"\nworld = \"policy\"\nkv = [\"billing-events\"]\n",
        billing_toml("webhook_secret_env = \"WHSEC\""),
        common::plugin("policy").display()
    ));
    assert_ne!(code, 0);
    assert!(
        err.contains("plugins.policy2.kv") && err.contains("reserved"),
        "{err}"
    );
    let (code, _, err) = check(&billing_toml(
        "webhook_secret_env = \"WHSEC\"\ntolerance = \"0s\"",
    ));
    assert_ne!(code, 0);
    assert!(err.contains("billing.stripe.tolerance"), "{err}");
    // An unset secret variable stops the start with the key's name, not a value.
    let (code, _, err) = check(&billing_toml(
        "webhook_secret_env = \"MCP_TEST_UNSET_WHSEC\"",
    ));
    assert_ne!(code, 0);
    assert!(err.contains("billing.stripe.webhook_secret_env"), "{err}");
}

/// The `[storage.aws.namespaces]` entries of the billing namespaces for `aws`.
fn aws_billing_namespaces(aws: &AwsEnv) -> String {
    format!(
        "\n[storage.aws.namespaces.billing]\ntable = \"{}\"\n\n[storage.aws.namespaces.billing-events]\ntable = \"{}\"\nttl = \"30d\"\n",
        aws.users_table(),
        aws.sessions_table()
    )
}

fn bootstrap(aws: &AwsEnv, config: &str) {
    let (code, out, err) = aws.bootstrap(config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_an_outage_is_a_503_and_the_retry_applies() {
    let mut moto = Moto::start();
    let aws = AwsEnv::on(moto.port);
    let config = aws.config(&format!(
        "{}{}",
        aws_billing_namespaces(&aws),
        billing_toml("webhook_secret_file = \"whsec\"")
    ));
    bootstrap(&aws, &config);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), SECRET).unwrap();
    let s = Server::start_in_env(dir, &config, aws.env());
    create_premium_prompt(&s).await;
    let b = Billing { s: &s };
    let bob = s.token("bob", &[]);

    let up = Ev::new("customer.subscription.updated", "a1", "bob");
    let (st, v) = b.send(&up).await;
    assert_eq!((st, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(b.tier(&bob).await, "premium");
    assert!(premium_readable(&s, &bob).await);
    assert_eq!(b.send(&up).await.1["outcome"], "duplicate");
    // The records are really in DynamoDB, in the host's tenant.
    let ddb = aws.dynamodb().await;
    let items = ddb
        .scan()
        .table_name(aws.sessions_table())
        .send()
        .await
        .unwrap();
    let pks: Vec<String> = items
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert!(
        pks.contains(&"billing-events#_billing".to_string()),
        "{pks:?}"
    );

    // Storage goes away: Stripe gets a 503 (and retries), nothing is lost.
    moto.stop();
    let del = Ev {
        created: up.created + 10,
        sub: up.sub.clone(),
        ..Ev::new("customer.subscription.deleted", "a2", "bob")
    };
    let started = std::time::Instant::now();
    let (st, v) = b.send(&del).await;
    assert_eq!(st, 503, "{v}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Back (moto keeps nothing: the tables come again, empty). Stripe's retry applies.
    let _moto = Moto::start_on(aws.port);
    bootstrap(&aws, &config);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (st, v) = b.send(&del).await;
        if st == 200 {
            assert_eq!(v["outcome"], "applied", "{v}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recovered: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let v = b.subscription(&bob).await;
    assert_eq!(
        (v["tier"].as_str(), v["status"].as_str()),
        (Some("free"), Some("canceled"))
    );
    let metrics = b.metrics().await;
    assert!(
        metrics.contains(r#"mcp_prompts_billing_webhook_events_total{type="customer.subscription.deleted",outcome="storage_unavailable"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_secret_comes_from_secrets_manager_and_rotates_with_grace() {
    let aws = AwsEnv::new();
    let put = |value: &'static str, create: bool| {
        let aws = aws.clone();
        async move {
            let c = aws.secrets().await;
            let body =
                json!({"stripe_webhook_secret": value, "stripe_secret_key": "sk_test_unused"})
                    .to_string();
            if create {
                c.create_secret()
                    .name(aws.secret_id())
                    .secret_string(body)
                    .send()
                    .await
                    .unwrap();
            } else {
                c.put_secret_value()
                    .secret_id(aws.secret_id())
                    .secret_string(body)
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    put(OLD_SECRET, true).await;
    let config = aws.config(&format!(
        "{}{}",
        aws_billing_namespaces(&aws),
        billing_toml(&format!(
            "[billing.stripe.secrets_manager]\nsecret_id = \"{}\"\nrefresh_interval = \"300ms\"\ngrace_period = \"3s\"",
            aws.secret_id()
        ))
    ));
    bootstrap(&aws, &config);
    let s = Server::start_with_env(&config, aws.env());
    let b = Billing { s: &s };
    let signed = |ev: &Ev, secret: &str| {
        let body = ev.json();
        let sig = stripe_signature(&[secret], now(), &body);
        (body, sig)
    };
    let (body, sig) = signed(
        &Ev::new("customer.subscription.updated", "s1", "sam"),
        OLD_SECRET,
    );
    assert_eq!(b.send_raw(&body, Some(&sig)).await.0, 200);

    put(SECRET, false).await;
    let rotated = std::time::Instant::now();
    let deadline = rotated + Duration::from_secs(10);
    loop {
        let (body, sig) = signed(
            &Ev::new("customer.subscription.updated", "s2", "sam"),
            SECRET,
        );
        if b.send_raw(&body, Some(&sig)).await.0 == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rotation never seen");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // In the grace period the previous secret still verifies; after it, it does not.
    let (body, sig) = signed(
        &Ev::new("customer.subscription.updated", "s3", "sam"),
        OLD_SECRET,
    );
    assert_eq!(
        b.send_raw(&body, Some(&sig)).await.0,
        200,
        "previous secret in grace"
    );
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(rotated.elapsed())).await;
    let (body, sig) = signed(
        &Ev::new("customer.subscription.updated", "s4", "sam"),
        OLD_SECRET,
    );
    assert_eq!(b.send_raw(&body, Some(&sig)).await.0, 400, "grace over");
    let log = s.log_text();
    assert!(!log.contains(SECRET) && !log.contains(OLD_SECRET) && !log.contains("sk_test_unused"));
}
