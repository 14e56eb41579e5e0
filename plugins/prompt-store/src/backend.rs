//! What the prompt logic needs from the host, as a trait over plain Rust types.
//!
//! The wasm glue implements it with the WIT imports; unit tests implement it in memory.
//! This keeps every storage and rendering rule testable natively.

use crate::model::FieldError;

/// A kv entry (mirrors WIT `kv.entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    pub version: u64,
}

/// Mirrors WIT `kv.precondition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    None,
    Absent,
    Version(u64),
}

/// Mirrors WIT `kv.write-op`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put {
        key: String,
        value: Vec<u8>,
        precondition: Precondition,
    },
    Delete {
        key: String,
        precondition: Precondition,
    },
}

/// Mirrors WIT `kv.page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<String>,
}

/// Mirrors WIT `kv.kv-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    Denied(String),
    Conflict(String),
    Invalid(String),
    Unavailable(String),
}

/// Mirrors WIT `rendering.render-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderRequest {
    pub template: String,
    pub variables_json: String,
    /// (name, template) pairs.
    pub partials: Vec<(String, String)>,
    pub required: Vec<String>,
}

/// Mirrors WIT `rendering.render-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    Syntax {
        message: String,
        /// (line, column), 1-based.
        position: Option<(u32, u32)>,
        source_name: String,
    },
    MissingPartial(String),
    PartialCycle(Vec<String>),
    MissingVariables(Vec<String>),
    Failed(String),
}

/// The host, seen from the prompt logic. The kv namespace is bound by the implementation.
pub trait Backend {
    fn kv_get(&self, key: &str) -> Result<Option<Entry>, KvError>;
    fn kv_transact(&self, ops: Vec<WriteOp>) -> Result<Vec<u64>, KvError>;
    fn kv_query(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page, KvError>;
    fn render(&self, request: &RenderRequest) -> Result<String, RenderError>;
    /// Logs a warning (something was skipped or degraded but the call goes on).
    fn warn(&self, message: &str);
    /// RFC 3339 UTC time for `createdAt`/`updatedAt`.
    fn now(&self) -> String;
    /// Largest `config` accepted, in bytes of compact JSON (plugin config
    /// `max_config_size`).
    fn max_config_bytes(&self) -> usize {
        crate::validate::DEFAULT_MAX_CONFIG_BYTES
    }
}

/// Mirrors WIT `prompts.handler-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    NotFound(String),
    Invalid(Vec<FieldError>),
    Conflict(String),
    PreconditionFailed(String),
    MissingVariables(Vec<String>),
    RenderFailed(String),
    /// The caller may not do this (e.g. a premium prompt for a non-premium caller).
    Forbidden(String),
    /// A part of the input exceeds its limit (mirrors WIT `too-large`).
    TooLarge(String),
    Unavailable(String),
    Internal(String),
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
}

/// The default mapping of storage failures. Call sites that expect a conflict (a
/// precondition they set) handle it before falling back to this.
impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(m) => Error::Unavailable(format!("storage unavailable: {m}")),
            KvError::Denied(m) => Error::Internal(format!(
                "storage namespace not granted to the prompt-store plugin (check its `namespace` config and kv grants): {m}"
            )),
            KvError::Invalid(m) => Error::Internal(format!("storage rejected the request: {m}")),
            KvError::Conflict(key) => {
                Error::Conflict(format!("concurrent modification of '{key}'; try again"))
            }
        }
    }
}
