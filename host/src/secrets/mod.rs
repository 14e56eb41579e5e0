//! Secrets the server needs at run time (the HS256 development key), from AWS Secrets
//! Manager ([`aws`]), with rotation: the value is re-read on an interval and, after it
//! changes, the previous value stays accepted for a grace period so tokens signed just
//! before a rotation keep working. File and environment sources live with their user
//! (auth/dev.rs); they do not rotate.
//!
//! Secret bytes are never formatted: [`SecretBytes`] has a redacting `Debug` and no
//! `Display`, and errors name the secret id and key, never the value.

pub mod aws;

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Secret material; prints as `SecretBytes(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Arc<[u8]>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id:?} was not found")]
    NotFound { id: String },
    #[error("secret {id:?} could not be read: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("secret {id:?} is not a JSON object with a string {key:?}")]
    MissingKey { id: String, key: String },
}

struct State {
    current: SecretBytes,
    /// The value before the last rotation, and until when it is still accepted.
    previous: Option<(SecretBytes, Instant)>,
}

/// A secret that may rotate while the server runs.
pub struct RotatingSecret {
    state: ArcSwap<State>,
    grace: Duration,
}

impl RotatingSecret {
    pub fn new(initial: SecretBytes, grace: Duration) -> Self {
        Self {
            state: ArcSwap::from_pointee(State {
                current: initial,
                previous: None,
            }),
            grace,
        }
    }

    /// The value to sign with.
    pub fn current(&self) -> SecretBytes {
        self.state.load().current.clone()
    }

    /// The values to verify with: the current one, then the previous one while its grace
    /// period lasts.
    pub fn accepted(&self) -> Vec<SecretBytes> {
        let s = self.state.load();
        let mut v = vec![s.current.clone()];
        if let Some((prev, until)) = &s.previous
            && Instant::now() < *until
        {
            v.push(prev.clone());
        }
        v
    }

    /// Installs a freshly read value; a change starts the previous value's grace period.
    /// Returns whether the value changed.
    pub fn update(&self, fresh: SecretBytes) -> bool {
        let s = self.state.load();
        if s.current == fresh {
            return false;
        }
        self.state.store(Arc::new(State {
            current: fresh,
            previous: Some((s.current.clone(), Instant::now() + self.grace)),
        }));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_previous_for_the_grace_period() {
        let s = RotatingSecret::new(SecretBytes::new(b"one".to_vec()), Duration::from_millis(50));
        assert_eq!(s.accepted().len(), 1);
        assert!(!s.update(SecretBytes::new(b"one".to_vec())));
        assert!(s.update(SecretBytes::new(b"two".to_vec())));
        assert_eq!(s.current().expose(), b"two");
        let acc = s.accepted();
        assert_eq!(acc.len(), 2);
        assert_eq!(acc[1].expose(), b"one");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(s.accepted().len(), 1);
        assert_eq!(format!("{:?}", s.current()), "SecretBytes(<redacted>)");
    }
}
