//! The boundary where a card number leaves the vault: processor connectors.

use tessera_core::card::{Brand, NetworkRisk};
use tessera_core::ports::{Authorization, AuthorizationRequest};

use crate::{CardNumber, Cvc};

/// A decrypted card, lent to a connector for the length of one authorization.
pub struct ChargeableCard<'a> {
    /// The card number.
    pub number: &'a CardNumber,
    /// The CVC, while the vault still holds it.
    pub cvc: Option<&'a Cvc>,
    /// Expiry month.
    pub exp_month: u32,
    /// Expiry year.
    pub exp_year: u32,
    /// The network.
    pub brand: Brand,
}

/// A processor connector: sends card authorizations to a network or simulates one.
pub trait Connector: Send + Sync {
    /// Authorizes a payment with the card. `request.attempt` names the attempt, the
    /// same when an attempt cut off by a crash is made again: a connector sends it as
    /// the authorization's idempotency key, where its processor takes one.
    fn authorize(&self, card: &ChargeableCard<'_>, request: &AuthorizationRequest)
    -> Authorization;

    /// The number behind a ready-made test PaymentMethod alias (`pm_card_visa`), for
    /// connectors that have test cards.
    fn test_card_number(&self, alias: &str) -> Option<&'static str>;

    /// The network's fraud signal for a card being tokenized; none by default.
    fn network_risk(&self, number: &CardNumber) -> NetworkRisk {
        let _ = number;
        NetworkRisk::default()
    }
}
