//! The protocol revisions this server speaks.

use rmcp::model::ProtocolVersion;

/// Oldest first. 2025-03-26 (the first Streamable HTTP revision), 2025-06-18 and
/// 2025-11-25 use the `initialize` handshake and sessions; 2026-07-28 is stateless
/// (version in every request's `_meta`).
pub const SUPPORTED: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// What a session request without an `MCP-Protocol-Version` header is taken to speak
/// when nothing else says (spec 2025-06-18, "Protocol Version Header").
pub const HEADERLESS: ProtocolVersion = ProtocolVersion::V_2025_03_26;

/// The newest revision with an `initialize` handshake: the answer to an `initialize`
/// naming a revision we do not speak.
pub const LATEST_SESSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;

pub fn is_supported(v: &str) -> bool {
    SUPPORTED.iter().any(|s| s.as_str() == v)
}

/// True for revisions negotiated by `initialize` (and thus with sessions).
pub fn has_sessions(v: &str) -> bool {
    is_supported(v) && v < ProtocolVersion::V_2026_07_28.as_str()
}

/// The revision an `initialize` request is answered with: the client's when we speak it
/// over a handshake, else our newest handshake revision (the client then decides).
pub fn negotiate(requested: &str) -> ProtocolVersion {
    SUPPORTED
        .iter()
        .find(|v| v.as_str() == requested && has_sessions(requested))
        .cloned()
        .unwrap_or(LATEST_SESSION)
}

/// A revision string as rmcp's type (known revisions map to its constants).
pub fn parse(v: &str) -> ProtocolVersion {
    serde_json::from_value(serde_json::Value::String(v.to_string())).unwrap_or(LATEST_SESSION)
}

pub fn supported_strings() -> Vec<String> {
    SUPPORTED.iter().map(|v| v.as_str().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate("2025-03-26").as_str(), "2025-03-26");
        assert_eq!(negotiate("2025-06-18").as_str(), "2025-06-18");
        assert_eq!(negotiate("2025-11-25").as_str(), "2025-11-25");
        assert_eq!(negotiate("2024-11-05").as_str(), "2025-11-25");
        assert_eq!(negotiate("2026-07-28").as_str(), "2025-11-25");
        assert!(has_sessions("2025-06-18"));
        assert!(!has_sessions("2026-07-28"));
        assert!(!has_sessions("2024-11-05"));
    }
}
