//! Signing outgoing webhooks, the Standard Webhooks way
//! (https://www.standardwebhooks.com/, as Svix and others send them).
//!
//! Three headers: `webhook-id` (the delivery id, the same on every retry, for the
//! receiver's deduplication), `webhook-timestamp` (unix seconds of this attempt) and
//! `webhook-signature: v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`. The key
//! is the base64 part of a `whsec_…` secret, or the secret's bytes as written otherwise.
//! A receiver recomputes the HMAC over the raw body, compares in constant time, and
//! refuses timestamps outside its tolerance (5 minutes is usual) and ids it has seen:
//! that is the replay protection.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

/// Shortest secret accepted (bytes of key material).
pub const MIN_SECRET_BYTES: usize = 24;

/// A signing key (never printed).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// The key of a configured secret: `whsec_<base64>` decodes to its bytes, anything
    /// else is used as written. `None` when too short or not valid base64 after `whsec_`.
    pub fn from_secret(secret: &str) -> Option<Self> {
        let s = secret.trim();
        let key = match s.strip_prefix("whsec_") {
            Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok()?,
            None => s.as_bytes().to_vec(),
        };
        (key.len() >= MIN_SECRET_BYTES).then_some(Self(key))
    }

    /// The `webhook-signature` value for `body` sent as delivery `id` at `timestamp`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let sig: [u8; 32] = mac.finalize().into_bytes().into();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(sig)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (its reference libraries test
    /// against the same values).
    #[test]
    fn matches_the_specification_example() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.signature(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn short_or_broken_secrets_are_refused() {
        assert!(SigningKey::from_secret("short").is_none());
        assert!(SigningKey::from_secret("whsec_!!!").is_none());
        assert!(SigningKey::from_secret("a-plain-secret-of-enough-bytes").is_some());
    }
}
