//! Idempotency keys: the ones executing in this process, and a claim waiting to be
//! written with its request's first write.
//!
//! A request with a key looks the key up with a read ([`Tx::look_up_idempotency_key`]):
//! a stored answer is replayed, other parameters are refused. A key it may execute is
//! held in [`InFlight`] for as long as the request runs, so a second request with the
//! same key is told it is in flight. The embedded store has one gateway process, which
//! makes this the place where "in flight" is decided; the claim written to the store
//! covers a process that dies mid-request. It is written inside the request's first
//! write, not in a write of its own (a write costs a turn at the store's one write lock:
//! the two idempotency writes per request took a fifth of the gateway's throughput), and
//! so it is on disk no later than anything the request did.
//!
//! A gateway serves its store alone ([`Store::serve_alone`]). A claim it finds
//! unanswered while it holds the key itself was therefore left by a process that
//! stopped, and a retry takes it over at once: after a crash and a restart, the
//! client's retry carries the payment on instead of hearing "in flight" for a minute.
//!
//! [`Store::serve_alone`]: tessera_store::Store::serve_alone
//!
//! [`Tx::look_up_idempotency_key`]: tessera_store::Tx::look_up_idempotency_key

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use tessera_store::{KeyUse, Scope};

type Entry = (String, bool, String);

/// Idempotency keys whose requests are executing in this process.
#[derive(Default)]
pub(crate) struct InFlight {
    keys: Mutex<HashSet<Entry>>,
}

impl InFlight {
    fn keys(&self) -> MutexGuard<'_, HashSet<Entry>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `key` for a request until the returned guard is dropped; `None` if
    /// another request holds it.
    pub(crate) fn hold(&self, scope: &Scope, key: &str) -> Option<Held<'_>> {
        let entry = (scope.account.clone(), scope.livemode, key.to_owned());
        if !self.keys().insert(entry.clone()) {
            return None;
        }
        Some(Held { set: self, entry })
    }
}

/// A key held in flight (see [`InFlight::hold`]).
pub(crate) struct Held<'a> {
    set: &'a InFlight,
    entry: Entry,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.set.keys().remove(&self.entry);
    }
}

/// A request's claim on its key, written with the request's first write (or with its
/// answer, if it writes nothing else).
pub(crate) struct Claim {
    pub key: String,
    pub endpoint: String,
    pub request_hash: [u8; 32],
    pub started_at: i64,
    /// The object an earlier request with this key was working on when its process
    /// died (see [`tessera_store::IdempotencyClaim::Resume`]): this one carries on
    /// with it.
    pub resume_from: Option<String>,
    /// This process serves the store alone (see [`tessera_store::KeyUse::serving_alone`]):
    /// it holds the key in [`InFlight`] before it looks the key up, so an unanswered
    /// claim it finds was left by a process that stopped.
    pub serving_alone: bool,
}

impl Claim {
    pub(crate) fn key_use(&self) -> KeyUse<'_> {
        KeyUse {
            key: &self.key,
            endpoint: &self.endpoint,
            request_hash: &self.request_hash,
            at: self.started_at,
            serving_alone: self.serving_alone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_by_one_request_at_a_time_per_account() {
        let in_flight = InFlight::default();
        let scope = |a: &str| Scope {
            account: a.into(),
            livemode: false,
        };
        let held = in_flight.hold(&scope("acct_a"), "k1").expect("free");
        assert!(in_flight.hold(&scope("acct_a"), "k1").is_none());
        // Another account, another mode, another key: independent.
        let other = in_flight.hold(&scope("acct_b"), "k1").expect("free");
        let live = Scope {
            account: "acct_a".into(),
            livemode: true,
        };
        let _live = in_flight.hold(&live, "k1").expect("free");
        let _k2 = in_flight.hold(&scope("acct_a"), "k2").expect("free");
        drop(held);
        assert!(in_flight.hold(&scope("acct_a"), "k1").is_some());
        drop(other);
    }
}
