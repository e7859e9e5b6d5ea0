//! The test-mode network simulator.

use std::time::Duration;

use serde_json::json;
use tessera_core::card::{CardChecks, Check, NetworkRisk};
use tessera_core::ports::{
    Authorization, AuthorizationRequest, Decision, Processor, RefundDecision, ThreeDSecure,
    ThreeDSecureResult,
};
use tessera_vault::{CardNumber, ChargeableCard, Connector};

use crate::test_cards::{Behaviour, alias, behaviour};

/// Simulates a card network and issuers for test mode.
#[derive(Debug, Clone, Default)]
pub struct Simulator {
    latency: Duration,
}

impl Simulator {
    /// A simulator that takes `latency` to answer each authorization, capture, refund
    /// and release, as a processor a network away does (`Default`: at once).
    pub fn with_latency(latency: Duration) -> Simulator {
        Simulator { latency }
    }

    /// The network's round trip.
    fn answer_after_latency(&self) {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
    }
}

impl Connector for Simulator {
    fn authorize(
        &self,
        card: &ChargeableCard<'_>,
        request: &AuthorizationRequest,
    ) -> Authorization {
        use Behaviour::*;
        self.answer_after_latency();
        let behaviour = behaviour(card.number.digits());
        let mut checks = CardChecks {
            cvc_check: card.cvc.map(|_| Check::Pass),
            address_line1_check: request.has_address_line1.then_some(Check::Pass),
            address_postal_code_check: request.has_postal_code.then_some(Check::Pass),
        };
        let mut three_d_secure = None;
        let authenticated = request.three_d_secure == ThreeDSecure::Authenticated;
        let supports_3ds = card.brand != tessera_core::card::Brand::Amex;

        let needs_challenge = match behaviour {
            ThreeDsAlways => true,
            ThreeDsUnlessSetUp => !request.set_up_for_off_session,
            ThreeDsRequired | ThreeDsThenDecline(..) => true,
            _ => {
                request.three_d_secure == ThreeDSecure::Any
                    && supports_3ds
                    && behaviour != Frictionless
            }
        };

        let decision = if needs_challenge && !authenticated {
            if request.off_session {
                Decision::Declined {
                    code: "authentication_required",
                    decline_code: Some("authentication_required"),
                    message: "Your card was declined. This transaction requires authentication.",
                }
            } else {
                Decision::AuthenticationRequired
            }
        } else {
            if authenticated {
                three_d_secure = Some(ThreeDSecureResult::Authenticated);
            } else if behaviour == Frictionless {
                three_d_secure = Some(ThreeDSecureResult::Frictionless);
            }
            match behaviour {
                Decline(code, decline_code, message)
                | ThreeDsThenDecline(code, decline_code, message) => {
                    if code == "incorrect_cvc" {
                        checks.cvc_check = Some(Check::Fail);
                    }
                    Decision::Declined {
                        code,
                        decline_code,
                        message,
                    }
                }
                ChargeFails => Decision::Declined {
                    code: "card_declined",
                    decline_code: Some("generic_decline"),
                    message: "Your card was declined.",
                },
                CvcFail => {
                    checks.cvc_check = Some(Check::Fail);
                    if request.decline_on_cvc_failure {
                        Decision::Declined {
                            code: "incorrect_cvc",
                            decline_code: None,
                            message: "Your card's security code is incorrect.",
                        }
                    } else {
                        Decision::Approved
                    }
                }
                PostalFail => {
                    checks.address_postal_code_check = Some(Check::Fail);
                    Decision::Approved
                }
                AddressFail => {
                    checks.address_line1_check = Some(Check::Fail);
                    checks.address_postal_code_check = Some(Check::Fail);
                    Decision::Approved
                }
                Line1Fail => {
                    checks.address_line1_check = Some(Check::Fail);
                    Decision::Approved
                }
                AddressUnavailable => {
                    checks.address_line1_check = Some(Check::Unavailable);
                    checks.address_postal_code_check = Some(Check::Unavailable);
                    Decision::Approved
                }
                _ => Decision::Approved,
            }
        };
        // What the simulated processor keeps of the authorization: the attempt it was
        // made as, and how its refunds and disputes will go when that is not the usual
        // (a refund succeeds, no dispute). Kept short: it is stored with the charge,
        // whose row then still fits in one page of the store.
        let mut processor_data = json!({ "attempt": request.attempt });
        match behaviour {
            RefundPending => processor_data["refund"] = json!("pending"),
            RefundFails => processor_data["refund"] = json!("fails"),
            Dispute => processor_data["dispute"] = json!(true),
            _ => {}
        }
        let processor_data = processor_data.to_string();
        Authorization {
            decision,
            checks,
            three_d_secure,
            processor_data,
        }
    }

    fn test_card_number(&self, name: &str) -> Option<&'static str> {
        alias(name)
    }

    /// The risk test cards carry the simulated network's fraud signal; Tessera's risk
    /// engine turns it into the score, the level and the decision.
    fn network_risk(&self, number: &CardNumber) -> NetworkRisk {
        match behaviour(number.digits()) {
            Behaviour::AlwaysBlock => NetworkRisk {
                score: Some(95),
                known_fraud: true,
            },
            Behaviour::RiskHighest => NetworkRisk {
                score: Some(85),
                known_fraud: false,
            },
            Behaviour::RiskElevated => NetworkRisk {
                score: Some(70),
                known_fraud: false,
            },
            _ => NetworkRisk::default(),
        }
    }
}

fn data_field(processor_data: &str, field: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(processor_data)
        .ok()
        .and_then(|v| v.get(field).cloned())
        .unwrap_or_default()
}

impl Processor for Simulator {
    fn capture(&self, _operation: &str, _processor_data: &str, _amount: i64) -> bool {
        self.answer_after_latency();
        true
    }

    fn refund(&self, _operation: &str, processor_data: &str, _amount: i64) -> RefundDecision {
        self.answer_after_latency();
        match data_field(processor_data, "refund").as_str() {
            Some("pending") => RefundDecision::Pending,
            Some("fails") => RefundDecision::Failed,
            _ => RefundDecision::Succeeded,
        }
    }

    fn void(&self, _operation: &str, _processor_data: &str) {
        self.answer_after_latency();
    }

    fn will_dispute(&self, processor_data: &str) -> bool {
        data_field(processor_data, "dispute")
            .as_bool()
            .unwrap_or(false)
    }
}
