//! Webhooks: every event is fanned out, in the transaction that records it, to a
//! durable delivery per subscribed endpoint ([`records`]); a worker ([`Worker`]) signs
//! and POSTs each one, retries failures with exponential backoff and jitter, and records
//! every attempt. Outbound connections go only to addresses the [`ssrf`] policy allows,
//! checked after resolution and connected to directly, so a name cannot be re-resolved
//! to an internal address between the check and the connection.
#![forbid(unsafe_code)]

pub mod attempt;
pub mod records;
pub mod ssrf;
mod worker;

pub use worker::{Worker, WorkerConfig};

/// The job action under which deliveries are scheduled.
pub const DELIVER: &str = "webhook.deliver";
