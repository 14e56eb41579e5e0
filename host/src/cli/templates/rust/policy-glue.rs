//! Binding to the WIT world `policy`. Only the export is generated here; the imports are
//! the SDK's, so the helpers and this glue share one set of types.

wit_bindgen::generate!({
    path: "wit",
    world: "policy",
    with: {
        "mcp-prompts:plugin/types@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::types,
        "mcp-prompts:plugin/kv@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::kv,
        "mcp-prompts:plugin/limits@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::limits,
        "mcp-prompts:plugin/log@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::log,
        "mcp-prompts:plugin/config@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::config,
    },
});

use exports::mcp_prompts::plugin::access_policy as wit;
use mcp_prompts_plugin_sdk::{config, log};

mcp_prompts_plugin_sdk::impl_policy_decision!(exports::mcp_prompts::plugin::access_policy);

struct Component;

impl wit::Guest for Component {
    fn decide(request: wit::RequestInfo) -> wit::Decision {
        // Read per call: an instance lives for one request, and the lookup is cheap.
        let scope = config::get("scope").unwrap_or_else(|| crate::DEFAULT_SCOPE.to_owned());
        let scopes = request.principal.as_ref().map(|p| p.scopes.as_slice());
        let verdict = crate::decide(&request.action, scopes, &scope);
        if !verdict.is_allowed() {
            log::info(&format!("refused {} on {}", request.action, request.route));
        }
        verdict.into()
    }
}

export!(Component);
