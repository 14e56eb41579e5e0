//! Guest SDK for mcp-prompts plugins written in Rust.
//!
//! The host imports (`kv`, `blob`, `render`, `log`, `config`, `limits` and the shared
//! `types`/`rendering` records) are generated here once, from the same `wit/plugin.wit`
//! the host embeds. A plugin generates only its own world's exports and points
//! wit-bindgen's `with` at [`wit`], so that the SDK's helpers and the plugin's export
//! glue share one set of types:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "../../wit",
//!     world: "policy",
//!     with: {
//!         "mcp-prompts:plugin/types@0.2.0": mcp_prompts_plugin_sdk::wit::types,
//!         "mcp-prompts:plugin/kv@0.2.0": mcp_prompts_plugin_sdk::wit::kv,
//!         "mcp-prompts:plugin/limits@0.2.0": mcp_prompts_plugin_sdk::wit::limits,
//!         "mcp-prompts:plugin/log@0.2.0": mcp_prompts_plugin_sdk::wit::log,
//!         "mcp-prompts:plugin/config@0.2.0": mcp_prompts_plugin_sdk::wit::config,
//!     },
//! });
//! ```
//!
//! A component still imports only the interfaces its code calls: wit-component drops
//! the imports that the core module never references, so depending on the SDK adds no
//! grant to a plugin's config.
//!
//! The helpers are plain Rust over small traits ([`kv::Store`]) so that plugin logic,
//! and the retry loop itself, are unit-tested natively with `cargo test`.

pub mod config;
pub mod kv;
pub mod log;
pub mod policy;

/// The WIT version these bindings were generated from (`package mcp-prompts:plugin@…`).
pub const WIT_VERSION: &str = "0.2.0";

/// Host import bindings, generated once for every world.
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: r#"
            package mcp-prompts:sdk;
            world imports {
                import mcp-prompts:plugin/types@0.2.0;
                import mcp-prompts:plugin/kv@0.2.0;
                import mcp-prompts:plugin/blob@0.2.0;
                import mcp-prompts:plugin/rendering@0.2.0;
                import mcp-prompts:plugin/render@0.2.0;
                import mcp-prompts:plugin/log@0.2.0;
                import mcp-prompts:plugin/config@0.2.0;
                import mcp-prompts:plugin/limits@0.2.0;
            }
        "#,
        world: "mcp-prompts:sdk/imports",
        // The interfaces come from the `path` package, so they count as dependencies.
        generate_all,
    });
}

/// The generated import modules, for `with:` in a plugin's own `generate!` and for
/// direct calls the helpers do not cover.
pub mod wit {
    pub use crate::bindings::mcp_prompts::plugin::{
        blob, config, kv, limits, log, render, rendering, types,
    };
}

#[cfg(test)]
mod tests {
    /// The inline world above names the package version; it must be the one in the file.
    #[test]
    fn wit_version_matches_the_file() {
        let wit = include_str!("../../../wit/plugin.wit");
        let line = format!("package mcp-prompts:plugin@{};", super::WIT_VERSION);
        assert!(
            wit.contains(&line),
            "wit/plugin.wit does not declare {line}"
        );
    }
}
