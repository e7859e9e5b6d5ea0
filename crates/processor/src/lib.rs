//! Processor connectors. Today: the test-mode [`Simulator`], which answers like a card
//! network for every card in Tessera's test-card table (declines, issuer checks, risk,
//! 3-D Secure, refunds that stay pending or fail, disputes).
//!
//! A connector sees the card number only inside [`tessera_vault::Connector::authorize`],
//! where the vault lends it; capture, refund and void work from the opaque
//! `processor_data` string the authorization returned.
#![forbid(unsafe_code)]

mod simulator;
mod test_cards;

pub use simulator::Simulator;
