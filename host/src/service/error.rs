//! The service layer's one error type: a [`kind`](ErrorKind) that transports map to their
//! own codes (HTTP status and problem type on REST, JSON-RPC code on MCP), a detail for
//! people, and the structured extras some kinds carry (field errors, missing variables,
//! the scopes a refusal asks for, the headers a policy attached).

use crate::plugins::{FieldError as PluginFieldError, HandlerError, PluginFailure};
use serde::Serialize;

/// What went wrong, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// The input is malformed or fails validation.
    Invalid,
    MissingVariables,
    Conflict,
    PreconditionFailed,
    RenderFailed,
    /// No (valid) credentials.
    Unauthorized,
    /// Authenticated, but the token lacks a scope.
    InsufficientScope,
    Forbidden,
    RateLimited,
    /// Part of the input exceeds a limit (e.g. a prompt's config, an image).
    TooLarge,
    /// An image block whose bytes are not an image of an accepted type, or not of the
    /// type it declares.
    UnsupportedMediaType,
    /// A write to a read-only catalog route.
    ReadOnly,
    /// Storage is down; retrying later may work.
    Unavailable,
    /// No capacity to run a plugin now.
    Busy,
    PluginTimeout,
    PluginLimit,
    PluginTrap,
    Internal,
}

impl ErrorKind {
    /// The HTTP status REST answers with (MCP maps kinds to JSON-RPC codes instead).
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid | ErrorKind::MissingVariables => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::PreconditionFailed => 412,
            ErrorKind::RenderFailed => 422,
            ErrorKind::Unauthorized => 401,
            ErrorKind::InsufficientScope | ErrorKind::Forbidden => 403,
            ErrorKind::RateLimited => 429,
            ErrorKind::TooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::ReadOnly => 405,
            ErrorKind::Unavailable | ErrorKind::Busy => 503,
            ErrorKind::PluginTimeout => 504,
            ErrorKind::PluginLimit | ErrorKind::PluginTrap | ErrorKind::Internal => 500,
        }
    }

    /// The problem type slug (`/problems/{slug}`, docs/api.md) unless the error names
    /// a more specific one.
    pub fn default_code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Invalid => "validation-failed",
            ErrorKind::MissingVariables => "missing-variables",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PreconditionFailed => "precondition-failed",
            ErrorKind::RenderFailed => "render-failed",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::InsufficientScope => "insufficient-scope",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::UnsupportedMediaType => "unsupported-media-type",
            ErrorKind::ReadOnly => "read-only",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Busy => "busy",
            ErrorKind::PluginTimeout => "plugin-timeout",
            ErrorKind::PluginLimit => "plugin-limit",
            ErrorKind::PluginTrap => "plugin-trap",
            ErrorKind::Internal => "internal",
        }
    }

    /// The short human title of the kind (the HTTP reason phrase of its status).
    pub fn title(self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Content",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Internal Server Error",
        }
    }
}

/// How a 401 asks for credentials (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm=…`: no token was sent, or a policy wants one.
    Bearer,
    /// `error="invalid_token"` with a description of what was wrong.
    InvalidToken(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A failed service call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct Error {
    pub kind: ErrorKind,
    /// The problem type slug; usually `kind.default_code()`.
    pub code: &'static str,
    pub detail: String,
    pub fields: Vec<FieldError>,
    pub missing_variables: Option<Vec<String>>,
    /// `InsufficientScope`: the scopes to name in the challenge.
    pub scopes: Vec<String>,
    /// `Unauthorized`: how to ask for credentials.
    pub challenge: Option<Challenge>,
    /// Headers a policy attached to its denial (rate-limit counters, `Retry-After`).
    pub headers: Vec<(String, String)>,
    /// Correlates a server-side failure with its log line.
    pub error_id: Option<String>,
    pub request_id: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code: kind.default_code(),
            detail: detail.into(),
            fields: Vec::new(),
            missing_variables: None,
            scopes: Vec::new(),
            challenge: None,
            headers: Vec::new(),
            error_id: None,
            request_id: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }

    /// Invalid input with a specific problem type, e.g. `invalid-json`.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, detail).with_code(code)
    }

    /// One invalid field, reported as a validation failure.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        let mut e = Self::new(ErrorKind::Invalid, format!("{field}: {message}"));
        e.fields.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        e
    }

    pub fn unauthorized(detail: impl Into<String>, challenge: Challenge) -> Self {
        let mut e = Self::new(ErrorKind::Unauthorized, detail);
        e.challenge = Some(challenge);
        e
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// A server-side failure: logged with an error id that the client also gets; the
    /// client sees only a generic detail.
    pub fn internal(request_id: &str, message: &str) -> Self {
        let error_id = uuid::Uuid::new_v4().to_string();
        tracing::error!(error_id = %error_id, request_id = %request_id, "{message}");
        let mut e = Self::new(
            ErrorKind::Internal,
            "the server failed to handle the request",
        );
        e.error_id = Some(error_id);
        e.request_id = Some(request_id.to_string());
        e
    }

    /// A plugin that did not answer (trap, timeout, limit, no capacity): logged with an
    /// error id that the client also gets.
    pub fn plugin(request_id: &str, f: PluginFailure) -> Self {
        let error_id = uuid::Uuid::new_v4().to_string();
        tracing::error!(
            error_id = %error_id,
            request_id = %request_id,
            plugin = f.plugin(),
            failure = %f,
            "plugin call failed"
        );
        let mut e = match &f {
            PluginFailure::Timeout { .. } => Self::new(
                ErrorKind::PluginTimeout,
                format!("plugin {:?} did not finish in time", f.plugin()),
            ),
            PluginFailure::Limit { what, .. } => Self::new(
                ErrorKind::PluginLimit,
                format!("plugin {:?} exceeded its {what} limit", f.plugin()),
            ),
            PluginFailure::Trap { .. } => Self::new(
                ErrorKind::PluginTrap,
                format!("plugin {:?} failed", f.plugin()),
            ),
            PluginFailure::Busy { .. } => {
                Self::new(ErrorKind::Busy, "the server is at capacity; retry shortly")
            }
            PluginFailure::AtCap { plugin, limit } => Self::new(
                ErrorKind::Busy,
                format!(
                    "plugin {plugin:?} already runs {limit} calls \
                     (plugins.{plugin}.max_concurrency, queue_timeout); retry shortly"
                ),
            ),
        };
        e.error_id = Some(error_id);
        e.request_id = Some(request_id.to_string());
        e
    }

    /// A prompt handler's domain answer.
    pub fn handler(request_id: &str, e: HandlerError) -> Self {
        match e {
            HandlerError::NotFound(m) => Self::not_found(m),
            HandlerError::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| {
                        if e.field.is_empty() {
                            e.message.clone()
                        } else {
                            format!("{}: {}", e.field, e.message)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut out = Self::new(ErrorKind::Invalid, detail);
                out.fields = errors
                    .into_iter()
                    .map(|PluginFieldError { field, message }| FieldError { field, message })
                    .collect();
                out
            }
            HandlerError::Conflict(m) => Self::new(ErrorKind::Conflict, m),
            HandlerError::PreconditionFailed(m) => Self::new(ErrorKind::PreconditionFailed, m),
            HandlerError::MissingVariables(names) => {
                let mut out = Self::new(
                    ErrorKind::MissingVariables,
                    format!("missing required variables: {}", names.join(", ")),
                );
                out.missing_variables = Some(names);
                out
            }
            HandlerError::RenderFailed(m) => Self::new(ErrorKind::RenderFailed, m),
            HandlerError::Forbidden(m) => Self::new(ErrorKind::Forbidden, m),
            HandlerError::TooLarge(m) => Self::new(ErrorKind::TooLarge, m),
            HandlerError::Unavailable(m) => {
                tracing::warn!(request_id = %request_id, "storage unavailable: {m}");
                Self::new(ErrorKind::Unavailable, "storage is temporarily unavailable")
            }
            HandlerError::Internal(m) => Self::internal(
                request_id,
                &format!("plugin reported an internal error: {m}"),
            ),
        }
    }

    /// The error as a problem document (RFC 9457 fields), which REST sends as its body
    /// and MCP attaches as error data or a tool's structured content.
    pub fn document(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Document<'a> {
            #[serde(rename = "type")]
            kind: String,
            title: &'a str,
            status: u16,
            detail: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<&'a [FieldError]>,
            #[serde(rename = "missingVariables", skip_serializing_if = "Option::is_none")]
            missing_variables: Option<&'a [String]>,
            #[serde(rename = "errorId", skip_serializing_if = "Option::is_none")]
            error_id: Option<&'a str>,
            #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
            request_id: Option<&'a str>,
        }
        let doc = Document {
            kind: format!("/problems/{}", self.code),
            title: self.kind.title(),
            status: self.kind.status(),
            detail: &self.detail,
            errors: (!self.fields.is_empty()).then_some(self.fields.as_slice()),
            missing_variables: self.missing_variables.as_deref(),
            error_id: self.error_id.as_deref(),
            request_id: self.request_id.as_deref(),
        };
        serde_json::to_value(doc).unwrap_or_default()
    }
}
