//! Tessera's payments core: money and currencies, object ids, card rules, the
//! PaymentIntent state machine, Stripe's error model, and the ports through which the
//! API reaches the vault and the processor.
//!
//! Nothing here performs I/O. Card numbers only ever pass through this crate as
//! zeroizing strings on their way to the vault (see [`ports::CardInput`]); the types
//! that can hold a parsed card number live in `tessera-vault` alone.
#![forbid(unsafe_code)]

pub mod card;
pub mod error;
pub mod ids;
pub mod money;
pub mod payment_intent;
pub mod ports;

pub use error::{ApiError, ErrorKind};
