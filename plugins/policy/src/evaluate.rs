//! The whole decision for one request: the access rules first, then the caller's
//! request budget. Plain Rust over [`Counters`], so it is unit-tested natively.

use crate::ratelimit::{self, Counters, Outcome, StoreError};
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

/// Mirrors WIT `decision`, with headers as (name, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allow, adding these headers (empty: a plain allow).
    Allow(Vec<(String, String)>),
    Deny {
        status: u16,
        reason: String,
        headers: Vec<(String, String)>,
        /// Scopes that would allow the request (a missing-scope denial), else empty.
        scopes: Vec<String>,
    },
}

fn deny(status: u16, reason: impl Into<String>, headers: Vec<(String, String)>) -> Verdict {
    Verdict::Deny {
        status,
        reason: reason.into(),
        headers,
        scopes: Vec::new(),
    }
}

/// Decides one request. Requests the access rules refuse are not counted: they cost
/// the server little, and a caller must not burn its budget on a missing login.
/// `warn` receives problems worth an operator's attention.
pub fn evaluate(
    settings: &Settings,
    principal: Option<Principal>,
    action: &str,
    counters: &dyn Counters,
    now_ms: u64,
    warn: &mut dyn FnMut(String),
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
        RateLimits::Off => return Verdict::Allow(Vec::new()),
        RateLimits::Misconfigured => {
            return deny(
                403,
                "requests are refused: the rate-limit configuration is invalid",
                Vec::new(),
            );
        }
        RateLimits::On(limits) => limits,
    };
    let Some(limit) = limits.limit_for(principal.map(|p| p.tier)) else {
        return Verdict::Allow(Vec::new());
    };
    let key = ratelimit::counter_key(principal.map(|p| (p.tenant, p.subject)));
    match ratelimit::take(counters, &key, limit, limits.window_ms, now_ms) {
        Ok(Outcome::Allowed(budget)) => Verdict::Allow(budget.headers()),
        Ok(Outcome::Limited(budget)) => {
            let mut headers = budget.headers();
            headers.push(("Retry-After".to_owned(), budget.reset_secs.to_string()));
            let who = if principal.is_some() {
                "your"
            } else {
                "the anonymous"
            };
            deny(
                429,
                format!(
                    "rate limit exceeded: {who} budget of {limit} requests per {} is spent; retry in {} s",
                    window_text(limits.window_ms),
                    budget.reset_secs
                ),
                headers,
            )
        }
        Ok(Outcome::Contended) => deny(
            429,
            "too many concurrent requests; retry in a moment",
            vec![("Retry-After".to_owned(), "1".to_owned())],
        ),
        // Fail open: a storage hiccup in the counters must not take the whole API down
        // with it. Logged so that a missing grant or an outage is noticed.
        Err(StoreError::Conflict) => Verdict::Allow(Vec::new()),
        Err(StoreError::Other(m)) => {
            warn(format!(
                "rate limit not enforced: counter storage failed (is kv namespace '{}' granted to this plugin?): {m}",
                limits.namespace
            ));
            Verdict::Allow(Vec::new())
        }
    }
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
    use crate::ratelimit::Limits;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Mem {
        data: RefCell<HashMap<String, (Vec<u8>, u64)>>,
        down: bool,
    }

    impl Counters for Mem {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
            if self.down {
                return Err(StoreError::Other("denied: namespace not granted".into()));
            }
            Ok(self.data.borrow().get(key).cloned())
        }

        fn put(&self, key: &str, value: Vec<u8>, version: Option<u64>) -> Result<(), StoreError> {
            let mut data = self.data.borrow_mut();
            let current = data.get(key).map(|(_, v)| *v);
            if current != version {
                return Err(StoreError::Conflict);
            }
            data.insert(key.into(), (value, current.unwrap_or(0) + 1));
            Ok(())
        }
    }

    const T0: u64 = 1_800_000_000_000;

    fn settings() -> Settings {
        Settings {
            rate_limits: RateLimits::On(Limits {
                window_ms: 60_000,
                tiers: [("free".to_owned(), 2), ("premium".to_owned(), 4)].into(),
                default: None,
                anonymous: Some(1),
                namespace: "ratelimits".into(),
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
        let mut warnings = Vec::new();
        let v = evaluate(s, p, action, m, T0, &mut |w| warnings.push(w));
        assert!(warnings.is_empty(), "{warnings:?}");
        v
    }

    fn remaining(v: &Verdict) -> Option<&str> {
        let headers = match v {
            Verdict::Allow(h) | Verdict::Deny { headers: h, .. } => h,
        };
        headers
            .iter()
            .find(|(n, _)| n == "X-RateLimit-Remaining")
            .map(|(_, v)| v.as_str())
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
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
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
        // Anonymous callers share one budget.
        assert_eq!(remaining(&run(&s, None, "read", &m)), Some("0"));
        assert!(matches!(
            run(&s, None, "list", &m),
            Verdict::Deny { status: 429, .. }
        ));
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
            deny(401, "authentication required", vec![])
        );
        assert!(m.data.borrow().is_empty());
    }

    #[test]
    fn off_misconfigured_and_storage_failures() {
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
        let down = Mem {
            down: true,
            ..Mem::default()
        };
        let mut warnings = Vec::new();
        let v = evaluate(
            &settings(),
            who("a", "free", &e),
            "read",
            &down,
            T0,
            &mut |w| warnings.push(w),
        );
        assert_eq!(v, Verdict::Allow(vec![]));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'ratelimits'"), "{}", warnings[0]);
    }

    #[test]
    fn window_texts() {
        assert_eq!(window_text(60_000), "1 min");
        assert_eq!(window_text(7_200_000), "2 h");
        assert_eq!(window_text(90_000), "90 s");
        assert_eq!(window_text(1_500), "1500 ms");
    }
}
