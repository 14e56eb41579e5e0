//! The black-box tests: one module per concern, each starting the real server binary
//! (with real plugins, over TLS) or a real peer (moto, an IdP, MCP SDK clients).
//! Shared helpers are in `common`; `rest_suite` is the REST suite every storage backend
//! runs (tests/api.rs, tests/aws_api.rs).

mod common;
mod rest_suite;

mod access;
mod api;
mod auth_oidc;
mod aws;
mod aws_api;
mod billing;
mod caching;
mod chat_prompts;
mod cli;
mod cluster_limits;
mod container;
mod data_commands;
mod deploy;
mod diffs;
mod durability;
mod git_workflow;
mod hardening_admission;
mod hardening_connections;
mod hardening_identity;
mod hardening_reload;
mod hardening_requests;
mod hostile;
mod http_hygiene;
mod labels;
mod lang_js;
mod lang_python;
mod mcp_http;
mod mcp_node_client;
mod mcp_protocol;
mod mcp_sdk_cross_host;
mod mcp_stdio;
mod mcp_stream;
mod metrics;
mod multimodal;
mod operations;
mod plugin_new;
mod prompt_config;
mod proxy_routes;
mod rate_limits;
mod server;
mod tenancy;
mod users;
mod warm;
mod webhooks;
