//! The ports through which the API reaches the card vault and the processor.
//!
//! The API crate depends on these traits, never on `tessera-vault`: card numbers cross
//! into the vault as [`CardInput`] (zeroizing strings, no `Debug`) and nothing sensitive
//! ever comes back. The vault hands the number to a processor connector for
//! authorization; capture, refund and void work from the opaque `processor_data`
//! the authorization returned.

use zeroize::Zeroizing;

use crate::card::{CardChecks, CardFacts, CardRejection};

/// Card details as a browser or a direct-API caller sent them, on their way to the vault.
pub struct CardInput {
    /// The card number as typed (spaces and dashes allowed).
    pub number: Zeroizing<String>,
    /// Expiry month.
    pub exp_month: u32,
    /// Expiry year (two or four digits).
    pub exp_year: u32,
    /// The CVC, if given.
    pub cvc: Option<Zeroizing<String>>,
}

/// 3-D Secure as the merchant asked for it and as the shopper has performed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreeDSecure {
    /// Authenticate only when the issuer requires it.
    Automatic,
    /// Authenticate whenever the card supports it (`request_three_d_secure=any`).
    Any,
    /// The shopper completed the challenge.
    Authenticated,
}

/// What the payments core asks the vault to authorize.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Amount in minor units.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// 3-D Secure wishes and state.
    pub three_d_secure: ThreeDSecure,
    /// The customer is not present (`off_session=true`).
    pub off_session: bool,
    /// The payment method was set up for later off-session use.
    pub set_up_for_off_session: bool,
    /// Whether a billing address line 1 was given (address checks run only then).
    pub has_address_line1: bool,
    /// Whether a billing postal code was given.
    pub has_postal_code: bool,
    /// The account declines payments whose CVC check fails.
    pub decline_on_cvc_failure: bool,
    /// Names this authorization attempt: `<PaymentIntent id>/<n>`, `n` counting the
    /// intent's attempts from 1 (a 3-D Secure challenge's completion is an attempt of
    /// its own). An attempt cut off by a crash and made again by the retry of its
    /// request carries the same name: a connector passes it to its processor as the
    /// authorization's idempotency key, so that the processor answers with the first
    /// authorization instead of making a second.
    pub attempt: String,
}

/// The processor's answer to an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Authorized.
    Approved,
    /// Declined by the issuer or the network.
    Declined {
        /// Stripe error code (`card_declined`, `expired_card`, …).
        code: &'static str,
        /// Issuer reason (`insufficient_funds`, …).
        decline_code: Option<&'static str>,
        /// The message shown to the shopper.
        message: &'static str,
    },
    /// Blocked before reaching the issuer because of its risk.
    Blocked,
    /// The shopper must complete a 3-D Secure challenge first.
    AuthenticationRequired,
}

/// The result of a 3-D Secure authentication on the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreeDSecureResult {
    /// Authenticated after a challenge.
    Authenticated,
    /// Authenticated without a challenge.
    Frictionless,
}

/// An authorization attempt's outcome.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// What the processor decided.
    pub decision: Decision,
    /// Issuer checks.
    pub checks: CardChecks,
    /// 3-D Secure performed on this attempt.
    pub three_d_secure: Option<ThreeDSecureResult>,
    /// Opaque connector data to hand back for capture, refund and void.
    pub processor_data: String,
}

/// Why the vault could not authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    /// No card is stored under this PaymentMethod for the account.
    NotFound,
    /// The vault failed (storage, keys); the cause is logged by the vault.
    Unavailable(String),
}

/// The card vault as the rest of Tessera sees it.
pub trait CardVault: Send + Sync {
    /// Validates and stores a card under `payment_method` for `account`, returning
    /// only the card facts.
    fn tokenize(
        &self,
        account: &str,
        payment_method: &str,
        card: CardInput,
    ) -> Result<CardFacts, TokenizeError>;

    /// Stores one of the simulator's ready-made test cards (`pm_card_visa`…) under a
    /// fresh `payment_method`; `None` when the alias names no test card.
    fn tokenize_test_card(
        &self,
        account: &str,
        payment_method: &str,
        alias: &str,
    ) -> Option<Result<CardFacts, TokenizeError>>;

    /// Authorizes a payment with the stored card. The CVC is erased after the first
    /// attempt that reaches a decision.
    fn authorize(
        &self,
        account: &str,
        payment_method: &str,
        request: &AuthorizationRequest,
    ) -> Result<Authorization, VaultError>;
}

/// Why tokenization failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizeError {
    /// The card details are invalid.
    Rejected(CardRejection),
    /// The vault failed.
    Unavailable(String),
}

/// How a refund went at the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDecision {
    /// Refunded.
    Succeeded,
    /// Accepted, will settle later.
    Pending,
    /// Accepted, then failed.
    Failed,
}

/// Processor operations that need no card data.
///
/// Each is named (`operation`), and a call made again after a crash cut off the first
/// is made under the same name: a connector gives it to its processor as the
/// operation's idempotency key, so the money moves once however often it is asked.
/// Tessera makes these calls outside its store's write lock, with the object fenced
/// against other changes while the processor answers.
pub trait Processor: Send + Sync {
    /// Captures `amount` of an authorization.
    fn capture(&self, operation: &str, processor_data: &str, amount: i64) -> bool;
    /// Refunds `amount` of a captured payment.
    fn refund(&self, operation: &str, processor_data: &str, amount: i64) -> RefundDecision;
    /// Releases an uncaptured authorization.
    fn void(&self, operation: &str, processor_data: &str);
    /// Whether the payment will be disputed after it succeeds (test cards).
    fn will_dispute(&self, processor_data: &str) -> bool;
}
