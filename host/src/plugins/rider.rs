//! A host entry that rides on the first transaction a plugin call commits.
//!
//! The webhook outbox (service/webhooks) must hold an event exactly when the prompt write
//! that caused it committed. The write is the handler plugin's own transaction, so the host
//! hands the call a [`RiderSlot`]: the kv import adds the slot's entry to the first
//! `transact` (or `put`) of the call, and the backend commits both atomically
//! (`KvStore::transact_with`). A transaction that fails for certain (a conflict, an invalid
//! op) leaves the rider waiting for the plugin's retry; one whose outcome is unknown (a
//! timeout) marks it unknown, and it rides on nothing else, so it is never written twice.

use crate::storage::Rider;
use std::sync::Mutex;

/// What became of a rider by the end of its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiderOutcome {
    /// No transaction took it: the call committed nothing through `transact`/`put`.
    Waiting,
    /// Committed with one of the call's transactions.
    Committed,
    /// Sent with a transaction whose outcome is unknown: the entry may or may not exist.
    Unknown,
}

#[derive(Debug)]
enum Slot {
    Waiting(Rider),
    /// Taken by a transaction in flight.
    Riding,
    Committed,
    Unknown,
}

#[derive(Debug)]
pub struct RiderSlot(Mutex<Slot>);

impl RiderSlot {
    pub fn new(rider: Rider) -> Self {
        Self(Mutex::new(Slot::Waiting(rider)))
    }

    /// The rider, if it still waits for a transaction (then it is riding until
    /// [`RiderSlot::settle`]).
    pub(super) fn take(&self) -> Option<Rider> {
        let mut s = self.0.lock().ok()?;
        match std::mem::replace(&mut *s, Slot::Riding) {
            Slot::Waiting(r) => Some(r),
            other => {
                *s = other;
                None
            }
        }
    }

    /// Records how the transaction that took the rider ended: `Ok` committed it, a
    /// certain failure hands it back, any other failure leaves its fate unknown.
    pub(super) fn settle(&self, rider: Rider, result: Result<(), bool>) {
        if let Ok(mut s) = self.0.lock() {
            *s = match result {
                Ok(()) => Slot::Committed,
                Err(true) => Slot::Waiting(rider),
                Err(false) => Slot::Unknown,
            };
        }
    }

    pub fn outcome(&self) -> RiderOutcome {
        match self.0.lock().as_deref() {
            Ok(Slot::Committed) => RiderOutcome::Committed,
            Ok(Slot::Waiting(_)) => RiderOutcome::Waiting,
            _ => RiderOutcome::Unknown,
        }
    }
}
