//! Service errors as JSON-RPC errors (for protocol methods; tools report them as error
//! results instead, `tools::error_result`, except a spent rate limit). The problem
//! document rides along as `data`.

use crate::service::{Error, ErrorKind};
use rmcp::ErrorData as McpError;
use rmcp::model::ErrorCode;
use serde_json::Value;

/// A spent request budget (JSON-RPC implementation-defined server error; 429 in the
/// code's last digits). `data` is the problem document plus `retryAfter` (seconds) and
/// the policy's `headers`; over HTTP the response is also a `429` with `Retry-After`.
pub const RATE_LIMITED: ErrorCode = ErrorCode(-32029);

/// `not_found` is the code a missing item gets (it differs per method).
pub fn to_error(e: &Error, not_found: ErrorCode) -> McpError {
    let data = Some(e.document());
    match e.kind {
        ErrorKind::NotFound => McpError::new(not_found, e.detail.clone(), data),
        ErrorKind::Invalid
        | ErrorKind::MissingVariables
        | ErrorKind::Conflict
        | ErrorKind::PreconditionFailed
        | ErrorKind::TooLarge
        | ErrorKind::UnsupportedMediaType
        | ErrorKind::RenderFailed => McpError::invalid_params(e.detail.clone(), data),
        ErrorKind::RateLimited => rate_limited(e),
        // Access decisions: not a malformed request, not a server fault.
        ErrorKind::Unauthorized | ErrorKind::InsufficientScope | ErrorKind::Forbidden => {
            McpError::new(
                ErrorCode::INVALID_REQUEST,
                format!("{}: {}", e.kind.title(), e.detail),
                data,
            )
        }
        _ => McpError::internal_error(format!("{} ({})", e.detail, e.code), data),
    }
}

/// [`RATE_LIMITED`] for a refusal of the rate limiter.
pub fn rate_limited(e: &Error) -> McpError {
    let mut doc = e.document();
    if let Value::Object(m) = &mut doc {
        m.insert("retryAfter".into(), retry_after(e).into());
        let headers: serde_json::Map<String, Value> = e
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        m.insert("headers".into(), Value::Object(headers));
    }
    McpError::new(
        RATE_LIMITED,
        format!("{}: {}", e.kind.title(), e.detail),
        Some(doc),
    )
}

/// Whole seconds until a refused request may be retried (the policy's `Retry-After`,
/// else 1).
pub fn retry_after(e: &Error) -> u64 {
    e.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(1)
}
