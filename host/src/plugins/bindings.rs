//! Host-side bindings generated from `wit/plugin.wit`.
//!
//! The three worlds share interfaces; `with` makes the renderer and policy worlds reuse
//! the prompt-handler world's generated types so that one set of host traits serves all.

pub mod handler {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "prompt-handler",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod renderer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "renderer",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "mcp-prompts:plugin/rendering": super::handler::mcp_prompts::plugin::rendering,
            "mcp-prompts:plugin/log": super::handler::mcp_prompts::plugin::log,
            "mcp-prompts:plugin/config": super::handler::mcp_prompts::plugin::config,
        },
    });
}

pub mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "mcp-prompts:plugin/types": super::handler::mcp_prompts::plugin::types,
            "mcp-prompts:plugin/kv": super::handler::mcp_prompts::plugin::kv,
            "mcp-prompts:plugin/log": super::handler::mcp_prompts::plugin::log,
            "mcp-prompts:plugin/config": super::handler::mcp_prompts::plugin::config,
        },
    });
}

pub use handler::exports::mcp_prompts::plugin::prompts;
pub use handler::mcp_prompts::plugin::{blob, config, kv, log, render, rendering, types};
pub use policy::exports::mcp_prompts::plugin::access_policy;
pub use policy::mcp_prompts::plugin::limits;
