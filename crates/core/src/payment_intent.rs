//! The PaymentIntent state machine.
//!
//! ```text
//! requires_payment_method ──attach──▶ requires_confirmation
//!        │  ▲                               │
//!        │  └──────── attempt failed ───────┤
//!        ▼                                  ▼
//!   (confirm) ──authentication needed──▶ requires_action ──▶ (confirm again)
//!        │
//!        ├─ authorized, automatic capture ─▶ succeeded
//!        └─ authorized, manual capture ────▶ requires_capture ──capture──▶ succeeded
//! any non-final state except processing ──cancel──▶ canceled
//! ```

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Where a PaymentIntent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    /// Waiting for a payment method, or the last attempt failed.
    RequiresPaymentMethod,
    /// Has a payment method; waiting for confirmation.
    RequiresConfirmation,
    /// The customer must authenticate (3-D Secure).
    RequiresAction,
    /// The payment is being processed.
    Processing,
    /// Authorized; waiting for capture.
    RequiresCapture,
    /// Canceled; final.
    Canceled,
    /// Paid; final.
    Succeeded,
}

/// What a caller asks of a PaymentIntent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Change amount, currency, payment method or other fields.
    Update,
    /// Attempt the payment.
    Confirm,
    /// Capture an authorized amount.
    Capture,
    /// Cancel it.
    Cancel,
}

/// What happened to a PaymentIntent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A payment method was set without confirming.
    PaymentMethodAttached,
    /// The payment needs the customer to authenticate.
    AuthenticationRequired,
    /// The issuer authorized the payment.
    Authorized {
        /// Whether the merchant captures later.
        manual_capture: bool,
    },
    /// The attempt was declined, blocked or failed authentication.
    AttemptFailed,
    /// The authorized amount was captured.
    Captured,
    /// The merchant canceled it.
    Canceled,
}

impl PaymentIntentStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentIntentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentIntentStatus::RequiresConfirmation => "requires_confirmation",
            PaymentIntentStatus::RequiresAction => "requires_action",
            PaymentIntentStatus::Processing => "processing",
            PaymentIntentStatus::RequiresCapture => "requires_capture",
            PaymentIntentStatus::Canceled => "canceled",
            PaymentIntentStatus::Succeeded => "succeeded",
        }
    }

    /// Whether nothing more can happen to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentIntentStatus::Succeeded | PaymentIntentStatus::Canceled
        )
    }

    /// Whether `action` is allowed now; otherwise Stripe's `payment_intent_unexpected_state`.
    pub fn allows(self, action: Action) -> Result<(), ApiError> {
        use PaymentIntentStatus::*;
        let allowed = match action {
            Action::Update | Action::Confirm => {
                matches!(
                    self,
                    RequiresPaymentMethod | RequiresConfirmation | RequiresAction
                )
            }
            Action::Capture => self == RequiresCapture,
            Action::Cancel => {
                matches!(
                    self,
                    RequiresPaymentMethod | RequiresConfirmation | RequiresAction | RequiresCapture
                )
            }
        };
        if allowed {
            return Ok(());
        }
        let verb = match action {
            Action::Update => "update",
            Action::Confirm => "confirm",
            Action::Capture => "capture",
            Action::Cancel => "cancel",
        };
        Err(ApiError::unexpected_state(
            "payment_intent_unexpected_state",
            format!(
                "You cannot {verb} this PaymentIntent because it has a status of {}.",
                self.as_str()
            ),
        ))
    }

    /// The status after `transition`, or the error that forbids it.
    pub fn apply(self, transition: Transition) -> Result<PaymentIntentStatus, ApiError> {
        use PaymentIntentStatus::*;
        let action = match transition {
            Transition::PaymentMethodAttached => Action::Update,
            Transition::AuthenticationRequired
            | Transition::Authorized { .. }
            | Transition::AttemptFailed => Action::Confirm,
            Transition::Captured => Action::Capture,
            Transition::Canceled => Action::Cancel,
        };
        self.allows(action)?;
        Ok(match transition {
            Transition::PaymentMethodAttached => RequiresConfirmation,
            Transition::AuthenticationRequired => RequiresAction,
            Transition::Authorized {
                manual_capture: true,
            } => RequiresCapture,
            Transition::Authorized {
                manual_capture: false,
            } => Succeeded,
            Transition::AttemptFailed => RequiresPaymentMethod,
            Transition::Captured => Succeeded,
            Transition::Canceled => Canceled,
        })
    }
}

/// When the merchant captures authorized funds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    /// Capture at authorization.
    Automatic,
    /// Capture at authorization, settled asynchronously.
    AutomaticAsync,
    /// The merchant captures later.
    Manual,
}

impl CaptureMethod {
    /// Parses the wire value.
    pub fn parse(value: &str) -> Option<CaptureMethod> {
        match value {
            "automatic" => Some(CaptureMethod::Automatic),
            "automatic_async" => Some(CaptureMethod::AutomaticAsync),
            "manual" => Some(CaptureMethod::Manual),
            _ => None,
        }
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMethod::Automatic => "automatic",
            CaptureMethod::AutomaticAsync => "automatic_async",
            CaptureMethod::Manual => "manual",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentIntentStatus::*;
    use proptest::prelude::*;

    fn transition() -> impl Strategy<Value = Transition> {
        prop_oneof![
            Just(Transition::PaymentMethodAttached),
            Just(Transition::AuthenticationRequired),
            any::<bool>().prop_map(|manual_capture| Transition::Authorized { manual_capture }),
            Just(Transition::AttemptFailed),
            Just(Transition::Captured),
            Just(Transition::Canceled),
        ]
    }

    #[test]
    fn the_manual_capture_path() {
        let s = RequiresPaymentMethod
            .apply(Transition::PaymentMethodAttached)
            .unwrap();
        let s = s.apply(Transition::AuthenticationRequired).unwrap();
        let s = s
            .apply(Transition::Authorized {
                manual_capture: true,
            })
            .unwrap();
        assert_eq!(s, RequiresCapture);
        assert_eq!(s.apply(Transition::Captured).unwrap(), Succeeded);
    }

    #[test]
    fn confirming_a_succeeded_intent_names_its_status() {
        let e = Succeeded.allows(Action::Confirm).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("payment_intent_unexpected_state"));
        assert!(e.message.contains("succeeded"));
    }

    proptest! {
        #[test]
        fn final_states_never_change(ts in proptest::collection::vec(transition(), 1..30)) {
            let mut status = RequiresPaymentMethod;
            for t in ts {
                let before = status;
                match status.apply(t) {
                    Ok(next) => {
                        prop_assert!(!before.is_final(), "{before:?} moved to {next:?}");
                        if next == Succeeded {
                            let allowed = matches!(t, Transition::Captured | Transition::Authorized { manual_capture: false });
                            prop_assert!(allowed, "{:?} reached succeeded", t);
                        }
                        if t == Transition::Captured {
                            prop_assert_eq!(before, RequiresCapture);
                        }
                        status = next;
                    }
                    Err(e) => prop_assert_eq!(e.status, 400),
                }
            }
        }

        #[test]
        fn a_failed_attempt_always_returns_to_requires_payment_method(ts in proptest::collection::vec(transition(), 0..10)) {
            let mut status = RequiresPaymentMethod;
            for t in ts {
                if let Ok(next) = status.apply(t) { status = next; }
            }
            if status.allows(Action::Confirm).is_ok() {
                prop_assert_eq!(status.apply(Transition::AttemptFailed).unwrap(), RequiresPaymentMethod);
            }
        }
    }
}
