//! @NAME@: an access policy. Anyone may list, read and render; creating, updating and
//! deleting prompts needs a signed-in caller with the configured scope
//! (`[plugins.@NAME@.config] scope`, default `prompts:write`).
//!
//! The decision is plain Rust, unit-tested natively with `cargo test`; `glue` binds it
//! to the WIT world `policy`.

use mcp_prompts_plugin_sdk::policy::{Verdict, allow, allow_with, deny, deny_with_scopes};

pub const DEFAULT_SCOPE: &str = "prompts:write";

/// Decides `action` for a caller with `scopes` (`None`: anonymous).
pub fn decide(action: &str, scopes: Option<&[String]>, scope: &str) -> Verdict {
    match action {
        "read" | "list" | "render" => allow(),
        "create" | "update" | "delete" => match scopes {
            None => deny(401, "sign in to change prompts"),
            Some(s) if s.iter().any(|x| x == scope) => allow_with([("x-policy", "@NAME@")]),
            // Naming the scope makes the host answer with an insufficient_scope challenge.
            Some(_) => deny_with_scopes(403, format!("this needs the {scope} scope"), [scope]),
        },
        // The host and the policy disagree on the vocabulary: refuse rather than guess.
        other => deny(403, format!("unknown action '{other}'")),
    }
}

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_open() {
        for action in ["read", "list", "render"] {
            assert_eq!(decide(action, None, DEFAULT_SCOPE), allow());
        }
    }

    #[test]
    fn writes_need_the_scope() {
        let none: Vec<String> = vec![];
        let scoped = vec![DEFAULT_SCOPE.to_owned()];
        assert_eq!(
            decide("create", None, DEFAULT_SCOPE),
            deny(401, "sign in to change prompts")
        );
        let refused = decide("update", Some(&none), DEFAULT_SCOPE);
        assert!(
            matches!(&refused, Verdict::Deny { status: 403, scopes, .. } if scopes == &scoped),
            "{refused:?}"
        );
        assert!(decide("delete", Some(&scoped), DEFAULT_SCOPE).is_allowed());
        assert!(!decide("admin", Some(&scoped), DEFAULT_SCOPE).is_allowed());
    }
}
