//! Binding to the WIT world `policy`.

use crate::rules::{Caller, Decision, decide};
use crate::settings;

wit_bindgen::generate!({
    path: "../../wit",
    world: "policy",
});

use exports::mcp_prompts::plugin::access_policy as wit;
use mcp_prompts::plugin::{config, log};

struct Component;

impl wit::Guest for Component {
    fn decide(request: wit::RequestInfo) -> wit::Decision {
        // Read per call: instances are per request and lookups are cheap host calls.
        let (settings, warnings) = settings::load(config::get);
        for warning in &warnings {
            log::log(log::Level::Warn, warning);
        }
        let caller = request.principal.as_ref().map(|p| Caller {
            scopes: &p.scopes,
            groups: &p.groups,
        });
        match decide(&settings, caller, &request.action) {
            Decision::Allow => wit::Decision::Allow,
            Decision::Deny { status, reason } => wit::Decision::Deny(wit::Denial {
                status,
                reason,
                headers: Vec::new(),
            }),
        }
    }
}

export!(Component);
