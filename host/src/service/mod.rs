//! The application layer: what a request *means*, independent of how it arrived.
//!
//! REST (`http/rest/`), MCP over HTTP (`http/mcp/`) and MCP over stdio (`mcp/stdio.rs`)
//! all call this layer with the same types and get the same answers:
//!
//! - [`caller`]: who is calling — one resolution, in one order (authenticate → stored
//!   profile tier → required scopes → tenant → audience).
//! - [`policy`]: the route's policy chain, which yields a [`policy::Permit`]; every prompt
//!   operation needs one, so no transport can skip the policies.
//! - [`prompts`]: [`prompts::PromptService`], the prompt operations of one route.
//! - [`users`]: the caller's stored profile (`/users/me`, the tier it assigns).
//! - [`changes`]: the per-tenant change revision that MCP sessions announce.
//! - [`media`]: image bytes of multimodal messages, checked and stored content-addressed.
//! - [`diff`]: what changed between two versions of a prompt (pure).
//! - [`webhooks`]: signed change events per tenant, through a durable outbox.
//! - [`prompt_file`] and [`sync`]: the Git-friendly prompt file of `export`/`import`, and
//!   what importing one would change (pure).
//! - [`error`]: one transport-neutral error with a kind and a detail.
//!
//! The layer reaches plugins only through the typed calls of `plugins::calls`, and never
//! names an HTTP or MCP type.

// Errors travel by value only on the error path, where they allocate anyway; boxing them
// would add an allocation to every error for no gain on the success path.
#![allow(clippy::result_large_err)]

pub mod caller;
pub mod changes;
pub mod diff;
pub mod error;
pub mod media;
pub mod policy;
pub mod prompt_file;
pub mod prompts;
pub mod sync;
pub mod users;
pub mod webhooks;

pub use caller::{AuthRules, Caller};
pub use error::{Challenge, Error, ErrorKind, FieldError};
pub use policy::Permit;
pub use prompts::PromptService;

use crate::app::Snapshot;
use crate::plugins::CallContext;
pub use crate::plugins::limits::RequestSpend;
use std::sync::Arc;

/// One request as the service sees it: its id, the config snapshot it started on (and
/// finishes on, whatever reloads happen meanwhile) and the resolved caller.
#[derive(Clone)]
pub struct Request {
    pub id: String,
    pub snapshot: Arc<Snapshot>,
    pub caller: Caller,
    /// What this request has spent of its rate limits (one spend per key, however many
    /// policy decisions the request needs).
    pub spend: RequestSpend,
}

impl Request {
    /// What plugins are told about the call.
    pub fn plugin_context(&self) -> CallContext {
        CallContext {
            request_id: self.id.clone(),
            principal: self.caller.principal.clone(),
            tenant: self.caller.tenant.clone(),
            spend: self.spend.clone(),
            rider: None,
        }
    }

    pub fn subject(&self) -> Option<&str> {
        self.caller.principal.as_ref().map(|p| p.subject.as_str())
    }
}
