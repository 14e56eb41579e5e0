//! The whole decision for one request: the access rules first, then the caller's
//! request budget. Plain Rust over [`Budgets`], so it is unit-tested natively.

use crate::ratelimit::{self, Budgets};
use crate::rules::{self, Caller, Decision};
use crate::settings::{RateLimits, Settings};

/// An authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub subject: &'a str,
    /// The principal's own tenant (a shared-catalog route may serve another one).
    pub tenant: &'a str,
    pub tier: &'a str,
    pub caller: Caller<'a>,
}

pub use mcp_prompts_plugin_sdk::policy::{Header, Verdict};
use mcp_prompts_plugin_sdk::policy::{allow, allow_with, deny};

/// Decides one request. Requests the access rules refuse are not counted: they cost
/// the server little, and a caller must not burn its budget on a missing login.
/// `client`: the caller's address as the host determined it (anonymous budgets are per
/// client, so one client cannot spend every anonymous caller's budget).
pub fn evaluate(
    settings: &Settings,
    principal: Option<Principal>,
    client: Option<&str>,
    action: &str,
    budgets: &dyn Budgets,
) -> Verdict {
    if let Decision::Deny {
        status,
        reason,
        scopes,
    } = rules::decide(settings, principal.map(|p| p.caller), action)
    {
        return Verdict::Deny {
            status,
            reason,
            headers: Vec::new(),
            scopes,
        };
    }
    let limits = match &settings.rate_limits {
        RateLimits::Off => return allow(),
        RateLimits::Misconfigured => {
            return deny(
                403,
                "requests are refused: the rate-limit configuration is invalid",
            );
        }
        RateLimits::On(limits) => limits,
    };
    let Some(limit) = limits.limit_for(principal.map(|p| p.tier)) else {
        return allow();
    };
    let key = match principal {
        Some(p) => ratelimit::counter_key(Some((p.tenant, p.subject))),
        None => ratelimit::anonymous_key(client),
    };
    let spent = budgets.spend(&key, limit, limits.window_ms);
    if spent.allowed {
        return allow_with(spent.headers());
    }
    let retry = spent.retry_after_secs();
    let headers = spent
        .headers()
        .into_iter()
        .chain([("Retry-After".to_owned(), retry.to_string())]);
    let who = if principal.is_some() {
        "your"
    } else {
        "this client's anonymous"
    };
    deny(
        429,
        format!(
            "rate limit exceeded: {who} budget of {limit} requests per {} is spent; retry in {retry} s",
            window_text(limits.window_ms)
        ),
    )
    .with_headers(headers)
}

fn window_text(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{Limits, Spent};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A fixed budget per key that never refills: enough to test the decisions.
    #[derive(Default)]
    struct Mem {
        used: RefCell<HashMap<String, u64>>,
    }

    impl Budgets for Mem {
        fn spend(&self, key: &str, limit: u64, window_ms: u64) -> Spent {
            let mut used = self.used.borrow_mut();
            let n = used.entry(key.to_owned()).or_default();
            let allowed = *n < limit;
            if allowed {
                *n += 1;
            }
            Spent {
                allowed,
                limit,
                remaining: limit - *n,
                reset_ms: window_ms,
                retry_after_ms: if allowed { 0 } else { window_ms / limit.max(1) },
            }
        }
    }

    fn settings() -> Settings {
        Settings {
            rate_limits: RateLimits::On(Limits {
                window_ms: 60_000,
                tiers: [("free".to_owned(), 2), ("premium".to_owned(), 4)].into(),
                default: None,
                anonymous: Some(1),
            }),
            ..Settings::default()
        }
    }

    fn who<'a>(subject: &'a str, tier: &'a str, empty: &'a [String]) -> Option<Principal<'a>> {
        Some(Principal {
            subject,
            tenant: "t",
            tier,
            caller: Caller {
                scopes: empty,
                groups: empty,
            },
        })
    }

    fn run(s: &Settings, p: Option<Principal>, action: &str, m: &Mem) -> Verdict {
        evaluate(s, p, None, action, m)
    }

    fn remaining(v: &Verdict) -> Option<&str> {
        v.headers()
            .iter()
            .find(|h| h.name == "X-RateLimit-Remaining")
            .map(|h| h.value.as_str())
    }

    #[test]
    fn budgets_per_principal_and_tier() {
        let (s, m, e) = (settings(), Mem::default(), vec![]);
        let alice = who("alice", "free", &e);
        assert_eq!(remaining(&run(&s, alice, "read", &m)), Some("1"));
        assert_eq!(remaining(&run(&s, alice, "list", &m)), Some("0"));
        let over = run(&s, alice, "read", &m);
        let Verdict::Deny {
            status: 429,
            headers,
            reason,
            ..
        } = &over
        else {
            panic!("{over:?}")
        };
        assert!(reason.contains("2 requests per 1 min"), "{reason}");
        let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After"
            ]
        );
        // Bob has his own budget; Carol's premium tier a larger one.
        assert_eq!(
            remaining(&run(&s, who("bob", "free", &e), "read", &m)),
            Some("1")
        );
        assert_eq!(
            remaining(&run(&s, who("carol", "premium", &e), "read", &m)),
            Some("3")
        );
        // Anonymous callers without an address share one budget.
        assert_eq!(remaining(&run(&s, None, "read", &m)), Some("0"));
        assert!(matches!(
            run(&s, None, "list", &m),
            Verdict::Deny { status: 429, .. }
        ));
        // With addresses, each client has its own: one spent budget locks out no other.
        let from = |ip| evaluate(&s, None, Some(ip), "read", &m);
        assert_eq!(remaining(&from("192.0.2.1")), Some("0"));
        assert!(matches!(
            from("192.0.2.1"),
            Verdict::Deny { status: 429, .. }
        ));
        assert_eq!(remaining(&from("192.0.2.2")), Some("0"));
        // Unlisted tier without `default`: not limited, no headers.
        assert_eq!(
            run(&s, who("dave", "gold", &e), "read", &m),
            Verdict::Allow(vec![])
        );
    }

    #[test]
    fn access_denials_come_first_and_are_not_counted() {
        let (s, m) = (settings(), Mem::default());
        assert_eq!(
            run(&s, None, "create", &m),
            deny(401, "authentication required")
        );
        assert!(m.used.borrow().is_empty());
    }

    #[test]
    fn off_and_misconfigured() {
        let e = vec![];
        let m = Mem::default();
        assert_eq!(
            run(&Settings::default(), who("a", "free", &e), "read", &m),
            Verdict::Allow(vec![])
        );
        let bad = Settings {
            rate_limits: RateLimits::Misconfigured,
            ..Settings::default()
        };
        assert!(matches!(
            run(&bad, None, "read", &m),
            Verdict::Deny { status: 403, .. }
        ));
    }

    #[test]
    fn window_texts() {
        assert_eq!(window_text(60_000), "1 min");
        assert_eq!(window_text(7_200_000), "2 h");
        assert_eq!(window_text(90_000), "90 s");
        assert_eq!(window_text(1_500), "1500 ms");
    }
}
