//! Binding to the WIT world `policy`.

use crate::evaluate::{Principal, Verdict, evaluate};
use crate::ratelimit::{Budgets, Spent};
use crate::rules::Caller;
use crate::settings;

wit_bindgen::generate!({
    path: "../../wit",
    world: "policy",
});

use exports::mcp_prompts::plugin::access_policy as wit;
use mcp_prompts::plugin::{config, limits, log};

/// The host's in-memory budgets (`limits` import).
struct HostBudgets;

impl Budgets for HostBudgets {
    fn spend(&self, key: &str, limit: u64, window_ms: u64) -> Spent {
        let v = limits::check(key, 1, limits::Quota { limit, window_ms });
        Spent {
            allowed: v.allowed,
            limit: v.limit,
            remaining: v.remaining,
            reset_ms: v.reset_ms,
            retry_after_ms: v.retry_after_ms,
        }
    }
}

fn headers(list: Vec<(String, String)>) -> Vec<wit::Header> {
    list.into_iter()
        .map(|(name, value)| wit::Header { name, value })
        .collect()
}

struct Component;

impl wit::Guest for Component {
    fn decide(request: wit::RequestInfo) -> wit::Decision {
        // Read per call: instances are per request and lookups are cheap host calls.
        let (settings, warnings) = settings::load(config::get);
        for warning in &warnings {
            log::log(log::Level::Warn, warning);
        }
        let principal = request.principal.as_ref().map(|p| Principal {
            subject: &p.subject,
            tenant: &p.tenant,
            tier: &p.tier,
            caller: Caller {
                scopes: &p.scopes,
                groups: &p.groups,
            },
        });
        let verdict = evaluate(
            &settings,
            principal,
            request.client.as_deref(),
            &request.action,
            &HostBudgets,
        );
        match verdict {
            Verdict::Allow(h) if h.is_empty() => wit::Decision::Allow,
            Verdict::Allow(h) => wit::Decision::AllowWith(headers(h)),
            Verdict::Deny {
                status,
                reason,
                headers: h,
                scopes,
            } => wit::Decision::Deny(wit::Denial {
                status,
                reason,
                headers: headers(h),
                required_scopes: scopes,
            }),
        }
    }
}

export!(Component);
