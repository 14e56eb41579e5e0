//! Stripe webhook signatures (https://docs.stripe.com/webhooks#verify-manually).
//!
//! The `Stripe-Signature` header is a comma-separated list of `key=value` pairs: one
//! `t=<unix seconds>`, one or more `v1=<hex HMAC-SHA256>` (several while an endpoint's
//! secret is being rolled: Stripe then signs with the old and the new secret), and
//! possibly `v0=` (test-mode legacy scheme, ignored). The signed payload is
//! `"{t}.{raw body}"`: the body exactly as received, so this runs before any parsing.
//!
//! A request is authentic when any `v1` equals the HMAC under any accepted secret (the
//! current one, and the previous one during its rotation grace period); the comparison is
//! constant-time (`subtle`). Then the timestamp must be within the tolerance of now, in
//! either direction, which bounds how long a captured request can be replayed (the event
//! id records close the rest of that window).

use crate::secrets::SecretBytes;
use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;
use subtle::ConstantTimeEq;

/// Longest header accepted: a few signatures fit in far less; anything bigger is junk.
const MAX_HEADER_BYTES: usize = 4096;
/// Most `v1` values looked at (Stripe sends one, two while a secret is rolled).
const MAX_SIGNATURES: usize = 8;

/// Why a request was refused. Also the `reason` label of the signature-failure metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    #[error("no signature matches the payload")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::NoV1 => "no_v1",
            Self::Mismatch => "mismatch",
            Self::Stale => "stale",
        }
    }
}

/// The parts of a `Stripe-Signature` header we use.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    timestamp: i64,
    v1: Vec<[u8; 32]>,
}

fn parse(header: &str) -> Result<Header, SignatureError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut saw_v1 = false;
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match k {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                // Digits only: `+5` or ` 5` are not what Stripe sends.
                if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
            }
            "v1" => {
                saw_v1 = true;
                // A value that is not 64 hex digits cannot match; skip it like Stripe's
                // libraries do rather than refusing the other signatures.
                let mut sig = [0u8; 32];
                if v1.len() < MAX_SIGNATURES && hex::decode_to_slice(v, &mut sig).is_ok() {
                    v1.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if !saw_v1 {
        return Err(SignatureError::NoV1);
    }
    Ok(Header { timestamp, v1 })
}

/// HMAC-SHA256 of `"{t}.{payload}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, payload: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// A header as Stripe would send it for `payload` signed with each of `secrets` at `t`.
pub fn header_for(secrets: &[&[u8]], timestamp: i64, payload: &[u8]) -> String {
    let mut h = format!("t={timestamp}");
    for s in secrets {
        h.push_str(",v1=");
        h.push_str(&hex::encode(sign(s, timestamp, payload)));
    }
    h
}

/// Verifies `header` for `payload` against `secrets` at time `now` (unix seconds).
/// Returns the signature's timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[SecretBytes],
    tolerance_secs: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    // Every candidate is compared, matched or not, so the time taken does not tell which
    // secret or which signature matched.
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let expected = sign(secret.expose(), header.timestamp, payload);
        for sig in &header.v1 {
            matched |= expected.ct_eq(sig);
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    if (now - header.timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    Ok(header.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn secret(s: &str) -> SecretBytes {
        SecretBytes::new(s.as_bytes().to_vec())
    }

    #[test]
    fn known_answer() {
        // Computed independently:
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test`.
        assert_eq!(
            hex::encode(sign(b"whsec_test", NOW, b"{}")),
            "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn valid_signature_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let h = header_for(&[b"whsec_a"], NOW, body);
        assert_eq!(
            verify(Some(&h), body, &[secret("whsec_a")], 300, NOW + 10),
            Ok(NOW)
        );
    }

    #[test]
    fn any_of_several_v1_and_any_accepted_secret() {
        let body = b"payload";
        // Rolling: Stripe signs with the old and the new secret.
        let h = header_for(&[b"whsec_old", b"whsec_new"], NOW, body);
        assert!(verify(Some(&h), body, &[secret("whsec_new")], 300, NOW).is_ok());
        assert!(verify(Some(&h), body, &[secret("whsec_old")], 300, NOW).is_ok());
        // Our side rotated (previous secret in grace), Stripe signs with one of them.
        let h = header_for(&[b"whsec_old"], NOW, body);
        let both = [secret("whsec_new"), secret("whsec_old")];
        assert!(verify(Some(&h), body, &both, 300, NOW).is_ok());
        assert_eq!(
            verify(Some(&h), body, &[secret("whsec_new")], 300, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tampering_and_wrong_secret_fail() {
        let body = br#"{"amount":100}"#;
        let h = header_for(&[b"whsec_a"], NOW, body);
        let s = [secret("whsec_a")];
        assert_eq!(
            verify(Some(&h), br#"{"amount":900}"#, &s, 300, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), body, &[secret("whsec_b")], 300, NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = h.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(Some(&moved), body, &s, 300, NOW),
            Err(SignatureError::Mismatch)
        );
        // One bad and one good v1: accepted (the good one matches).
        let mixed = format!(
            "t={NOW},v1={},{}",
            "00".repeat(32),
            &h[h.find("v1=").unwrap()..]
        );
        assert!(verify(Some(&mixed), body, &s, 300, NOW).is_ok());
    }

    #[test]
    fn tolerance_both_ways() {
        let body = b"x";
        let s = [secret("whsec_a")];
        let h = header_for(&[b"whsec_a"], NOW, body);
        assert!(verify(Some(&h), body, &s, 300, NOW + 300).is_ok());
        assert_eq!(
            verify(Some(&h), body, &s, 300, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h), body, &s, 300, NOW - 301),
            Err(SignatureError::Stale),
            "a timestamp from the future is refused too"
        );
    }

    #[test]
    fn malformed_headers() {
        let s = [secret("whsec_a")];
        let v = |h: Option<&str>| verify(h, b"x", &s, 300, NOW);
        assert_eq!(v(None), Err(SignatureError::Missing));
        assert_eq!(v(Some("")), Err(SignatureError::Malformed));
        assert_eq!(v(Some("garbage")), Err(SignatureError::Malformed));
        assert_eq!(
            v(Some(&format!("v1={}", "ab".repeat(32)))),
            Err(SignatureError::Malformed),
            "no timestamp"
        );
        assert_eq!(
            v(Some(&format!("t={NOW},t={NOW},v1={}", "ab".repeat(32)))),
            Err(SignatureError::Malformed),
            "two timestamps"
        );
        assert_eq!(
            v(Some(&format!("t=-{NOW},v1={}", "ab".repeat(32)))),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v(Some(&format!("t={NOW},v0={}", "ab".repeat(32)))),
            Err(SignatureError::NoV1),
            "v0 alone is not accepted"
        );
        assert_eq!(
            v(Some(&format!("t={NOW},v1=nothex"))),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(Some(&"t=1,".repeat(2000))),
            Err(SignatureError::Malformed)
        );
    }
}
