//! Service errors as JSON-RPC errors (for protocol methods; tools report them as error
//! results instead, `tools::error_result`). The problem document rides along as `data`.

use crate::service::{Error, ErrorKind};
use rmcp::ErrorData as McpError;
use rmcp::model::ErrorCode;

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
        | ErrorKind::RenderFailed => McpError::invalid_params(e.detail.clone(), data),
        // Access decisions: not a malformed request, not a server fault.
        ErrorKind::Unauthorized
        | ErrorKind::InsufficientScope
        | ErrorKind::Forbidden
        | ErrorKind::RateLimited => McpError::new(
            ErrorCode::INVALID_REQUEST,
            format!("{}: {}", e.kind.title(), e.detail),
            data,
        ),
        _ => McpError::internal_error(format!("{} ({})", e.detail, e.code), data),
    }
}
