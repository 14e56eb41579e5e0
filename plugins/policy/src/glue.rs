//! Binding to the WIT world `policy`.

use crate::evaluate::{Principal, evaluate};
use crate::ratelimit::{Budgets, Spent};
use crate::rules::Caller;
use crate::settings::{self, Settings};
use std::cell::OnceCell;
use std::rc::Rc;

// Only the export is generated here; the imports are the SDK's (one set of types).
wit_bindgen::generate!({
    path: "../../wit",
    world: "policy",
    with: {
        "mcp-prompts:plugin/types@0.2.0": mcp_prompts_plugin_sdk::wit::types,
        "mcp-prompts:plugin/kv@0.2.0": mcp_prompts_plugin_sdk::wit::kv,
        "mcp-prompts:plugin/limits@0.2.0": mcp_prompts_plugin_sdk::wit::limits,
        "mcp-prompts:plugin/log@0.2.0": mcp_prompts_plugin_sdk::wit::log,
        "mcp-prompts:plugin/config@0.2.0": mcp_prompts_plugin_sdk::wit::config,
    },
});

use exports::mcp_prompts::plugin::access_policy as wit;
use mcp_prompts_plugin_sdk::wit::{config, limits};
use mcp_prompts_plugin_sdk::{impl_policy_decision, log};

impl_policy_decision!(exports::mcp_prompts::plugin::access_policy);

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

struct Component;

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

/// The settings, read (and their warnings logged) by an instance's first call: the
/// configuration cannot change under a live instance (a reload replaces the instances),
/// and a warm instance serves many calls, which would otherwise each make a host call
/// per key.
fn settings() -> Rc<Settings> {
    SETTINGS.with(|s| {
        s.get_or_init(|| {
            let (settings, warnings) = settings::load(config::get);
            for warning in &warnings {
                log::warn(warning);
            }
            Rc::new(settings)
        })
        .clone()
    })
}

impl wit::Guest for Component {
    fn decide(request: wit::RequestInfo) -> wit::Decision {
        let settings = settings();
        let principal = request.principal.as_ref().map(|p| Principal {
            subject: &p.subject,
            tenant: &p.tenant,
            tier: &p.tier,
            caller: Caller {
                scopes: &p.scopes,
                groups: &p.groups,
            },
        });
        evaluate(
            &settings,
            principal,
            request.client.as_deref(),
            &request.action,
            &HostBudgets,
        )
        .into()
    }
}

export!(Component);
