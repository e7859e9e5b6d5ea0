//! The test-card table: what the simulated network does for each number.

/// How the simulated issuer treats a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Authorizes.
    Approve,
    /// Declines with a code, a decline code and the shopper-facing message.
    Decline(&'static str, Option<&'static str>, &'static str),
    /// Attaches fine; every charge declines.
    ChargeFails,
    /// CVC check fails (declined `incorrect_cvc` only when the account blocks CVC failures).
    CvcFail,
    /// Postal code check fails.
    PostalFail,
    /// Line 1 and postal code checks fail.
    AddressFail,
    /// Line 1 check fails.
    Line1Fail,
    /// Address checks unavailable.
    AddressUnavailable,
    /// Always blocked as fraudulent.
    AlwaysBlock,
    /// Highest risk level (blocked by the default rules).
    RiskHighest,
    /// Elevated risk level (succeeds, opens a review).
    RiskElevated,
    /// 3-D Secure always required; off-session declines `authentication_required`.
    ThreeDsAlways,
    /// 3-D Secure required unless set up for off-session use.
    ThreeDsUnlessSetUp,
    /// 3-D Secure required; succeeds after the challenge.
    ThreeDsRequired,
    /// Challenge succeeds, then the issuer declines.
    ThreeDsThenDecline(&'static str, Option<&'static str>, &'static str),
    /// 3-D Secure supported but not required.
    ThreeDsSupported,
    /// Authenticated without a challenge.
    Frictionless,
    /// Refunds stay pending.
    RefundPending,
    /// Refunds fail after creation.
    RefundFails,
    /// The payment is disputed after it succeeds.
    Dispute,
}

const GENERIC: &str = "Your card was declined.";

/// Behaviour of a card number; cards not in the table are approved.
pub(crate) fn behaviour(number: &str) -> Behaviour {
    use Behaviour::*;
    match number {
        "4000000000000002" => Decline("card_declined", Some("generic_decline"), GENERIC),
        "4000000000009995" => Decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        "4000000000009987" => Decline("card_declined", Some("lost_card"), GENERIC),
        "4000000000009979" => Decline("card_declined", Some("stolen_card"), GENERIC),
        "4000000000006975" => Decline(
            "card_declined",
            Some("card_velocity_exceeded"),
            "Your card has exceeded its velocity limit.",
        ),
        "4000000000000069" => Decline("expired_card", None, "Your card has expired."),
        "4000000000000127" => Decline(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
        "4000000000000119" => Decline(
            "processing_error",
            None,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        "4000000000000341" => ChargeFails,
        "4000000000000101" => CvcFail,
        "4000000000000036" => PostalFail,
        "4000000000000010" => AddressFail,
        "4000000000000028" => Line1Fail,
        "4000000000000044" => AddressUnavailable,
        "4100000000000019" => AlwaysBlock,
        "4000000000004954" => RiskHighest,
        "4000000000009235" => RiskElevated,
        "4000002760003184" => ThreeDsAlways,
        "4000002500003155" => ThreeDsUnlessSetUp,
        "4000000000003220" | "4000000000003063" => ThreeDsRequired,
        "4000008260003178" => ThreeDsThenDecline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        "4000008400001629" => ThreeDsThenDecline("card_declined", Some("card_declined"), GENERIC),
        "4000000000003055" => ThreeDsSupported,
        "4000000032200000" => Frictionless,
        "4000000000007726" => RefundPending,
        "4000000000005126" => RefundFails,
        "4000000000000259" => Dispute,
        _ => Approve,
    }
}

/// Ready-made PaymentMethod aliases and their cards.
pub(crate) fn alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "pm_card_visa" => "4242424242424242",
        "pm_card_visa_debit" => "4000056655665556",
        "pm_card_mastercard" => "5555555555554444",
        "pm_card_amex" => "378282246310005",
        "pm_card_discover" => "6011111111111117",
        "pm_card_visa_chargeDeclined" => "4000000000000002",
        "pm_card_visa_chargeDeclinedInsufficientFunds" => "4000000000009995",
        "pm_card_visa_chargeDeclinedLostCard" => "4000000000009987",
        "pm_card_visa_chargeDeclinedStolenCard" => "4000000000009979",
        "pm_card_visa_chargeDeclinedExpiredCard" => "4000000000000069",
        "pm_card_visa_chargeDeclinedProcessingError" => "4000000000000119",
        "pm_card_chargeCustomerFail" => "4000000000000341",
        "pm_card_authenticationRequired" => "4000002760003184",
        "pm_card_authenticationRequiredOnSetup" => "4000002500003155",
        "pm_card_threeDSecure2Required" => "4000000000003220",
        "pm_card_threeDSecureRequired" => "4000000000003063",
        "pm_card_threeDSecureOptional" => "4000000000003055",
        "pm_card_radarBlock" => "4100000000000019",
        "pm_card_riskLevelHighest" => "4000000000004954",
        "pm_card_riskLevelElevated" => "4000000000009235",
        "pm_card_refundFail" => "4000000000005126",
        "pm_card_createDispute" => "4000000000000259",
        _ => return None,
    })
}
