//! mcp-prompts: a WebAssembly-extensible edge server for LLM prompts.
//!
//! The host owns protocols (HTTP, TLS, JWT, REST shapes, errors, limits); plugins —
//! WebAssembly components written against `wit/plugin.wit` — own prompt logic.

pub mod app;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod config;
pub mod http;
pub mod mcp;
pub mod plugins;
pub mod secrets;
pub mod service;
pub mod storage;
pub mod telemetry;
