//! Stripe's error model: an error `type`, an HTTP status the SDKs map to exception
//! classes, a `code`, an optional `decline_code`, the `param` at fault and a message
//! that tells the developer what to fix. Messages never carry secrets or card data.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The `type` of an error on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was malformed, unauthorized or named something that does not exist.
    InvalidRequestError,
    /// The card was declined or its details are invalid (HTTP 402).
    CardError,
    /// An idempotency key was reused with other parameters.
    IdempotencyError,
    /// Tessera failed; the request may be retried.
    ApiError,
}

/// An error answered to an API caller, in Stripe's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// HTTP status: 400, 401, 402, 403, 404, 409, 413, 429 or 5xx.
    #[serde(skip)]
    pub status: u16,
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ErrorKind,
    /// A short machine-readable code, such as `card_declined` or `parameter_unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For card declines, the issuer's reason, such as `insufficient_funds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The request parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Where the code is documented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    /// The PaymentIntent the error concerns, as a full object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<Value>,
    /// The PaymentMethod the error concerns, as a full object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<Value>,
    /// The charge id of a declined attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
}

impl ApiError {
    fn new(status: u16, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            code: None,
            decline_code: None,
            message: message.into(),
            param: None,
            doc_url: None,
            payment_intent: None,
            payment_method: None,
            charge: None,
        }
    }

    /// 400: a parameter is missing or invalid.
    pub fn invalid_request(param: &str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(400, ErrorKind::InvalidRequestError, message);
        e.param = Some(param.to_owned());
        e
    }

    /// 400 without a particular parameter (a request the object's state does not allow).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, ErrorKind::InvalidRequestError, message)
    }

    /// 400: a required parameter is missing.
    pub fn missing(param: &str) -> ApiError {
        ApiError::invalid_request(param, format!("Missing required param: {param}."))
            .with_code("parameter_missing")
    }

    /// 400: a parameter this endpoint does not know.
    pub fn unknown_parameter(param: &str) -> ApiError {
        ApiError::invalid_request(param, format!("Received unknown parameter: {param}"))
            .with_code("parameter_unknown")
    }

    /// 404: no object with this id in the caller's account. The same answer whether
    /// the id exists in another account or not at all.
    pub fn no_such(object: &str, id: &str, param: &str) -> ApiError {
        let mut e = ApiError::new(
            404,
            ErrorKind::InvalidRequestError,
            format!("No such {object}: '{}'", printable_id(id)),
        );
        e.code = Some("resource_missing".into());
        e.param = Some(param.to_owned());
        e
    }

    /// 404 for a path that names no endpoint.
    pub fn unrecognized_url(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            ErrorKind::InvalidRequestError,
            format!("Unrecognized request URL ({method}: {path})."),
        )
    }

    /// 401: no key, or a key Tessera does not know or has revoked.
    pub fn authentication(message: impl Into<String>) -> ApiError {
        ApiError::new(401, ErrorKind::InvalidRequestError, message)
    }

    /// 403: the key is valid but may not make this call.
    pub fn permission(message: impl Into<String>) -> ApiError {
        ApiError::new(403, ErrorKind::InvalidRequestError, message)
    }

    /// 402: a card error with its code and, for declines, the decline code.
    pub fn card(code: &str, decline_code: Option<&str>, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(402, ErrorKind::CardError, message);
        e.code = Some(code.to_owned());
        e.decline_code = decline_code.map(str::to_owned);
        e
    }

    /// 400 `idempotency_error`: a key reused with different parameters or endpoint.
    pub fn idempotency(message: impl Into<String>) -> ApiError {
        ApiError::new(400, ErrorKind::IdempotencyError, message)
    }

    /// 409: a request with the same idempotency key is still being executed.
    pub fn idempotency_in_flight() -> ApiError {
        let mut e = ApiError::new(
            409,
            ErrorKind::InvalidRequestError,
            "There is currently another in-progress request using this Idempotency-Key. Retry after that request completes.",
        );
        e.code = Some("idempotency_key_in_use".into());
        e
    }

    /// 409: the PaymentIntent's payment is with the processor for another request,
    /// which decides first: being `doing` "authorized" (a confirmation or a 3-D Secure
    /// completion), "captured" or "canceled" (its authorization released).
    pub fn payment_in_progress(doing: &str) -> ApiError {
        ApiError::new(
            409,
            ErrorKind::InvalidRequestError,
            format!("This PaymentIntent's payment is being {doing} by another request. Retry after that request completes."),
        )
        .with_code("payment_intent_unexpected_state")
    }

    /// 409: the refund (stored by an earlier request with the same idempotency key) is
    /// with the processor for another request, which records its outcome.
    pub fn refund_in_progress() -> ApiError {
        ApiError::new(
            409,
            ErrorKind::InvalidRequestError,
            "This refund is being made by another request. Retry after that request completes.",
        )
    }

    /// 413: the body is larger than Tessera accepts.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            ErrorKind::InvalidRequestError,
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 429: too many requests.
    pub fn rate_limited() -> ApiError {
        let mut e = ApiError::new(
            429,
            ErrorKind::InvalidRequestError,
            "Too many requests hit the API too quickly. Retry after the time given in Retry-After.",
        );
        e.code = Some("rate_limit".into());
        e
    }

    /// 500: Tessera failed. The cause is logged with the request id, never shown.
    pub fn internal() -> ApiError {
        ApiError::new(
            500,
            ErrorKind::ApiError,
            "An error occurred inside Tessera while processing the request. It has been logged; retry with the same Idempotency-Key.",
        )
    }

    /// 400 `payment_intent_unexpected_state` and its relatives.
    pub fn unexpected_state(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::bad_request(message).with_code(code)
    }

    /// Sets the machine-readable code.
    pub fn with_code(mut self, code: &str) -> ApiError {
        self.code = Some(code.to_owned());
        self
    }

    /// Sets the parameter at fault.
    pub fn with_param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_owned());
        self
    }

    /// The JSON body `{"error": {...}}`. Errors with a code link to its documentation.
    pub fn to_body(&self) -> Value {
        let mut e = self.clone();
        if e.doc_url.is_none() {
            e.doc_url = e.code.as_deref().map(doc_url);
        }
        serde_json::json!({ "error": e })
    }
}

/// Where an error code is documented. Tessera's codes are Stripe's codes (that is the
/// point of wire compatibility), so the link is to Stripe's description of the code.
pub fn doc_url(code: &str) -> String {
    format!(
        "https://docs.stripe.com/error-codes/{}",
        code.replace('_', "-")
    )
}

/// Whether `s` holds a run of `len` or more ASCII digits, spaces and dashes between
/// digits not breaking the run (a card number would, however it is typed).
pub fn has_digit_run(s: &str, len: usize) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        run = match b {
            b'0'..=b'9' => run + 1,
            b' ' | b'-' => run,
            _ => 0,
        };
        if run >= len {
            return true;
        }
    }
    false
}

/// Ids are echoed in messages only when they look like ids, so that a caller who
/// pastes a card number or a key into an id position never sees it reflected.
fn printable_id(id: &str) -> String {
    let plausible = id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !id.starts_with("sk_")
        && !id.starts_with("rk_")
        && !id.starts_with("whsec_")
        && !has_digit_run(id, 12);
    if plausible {
        id.to_owned()
    } else {
        "(redacted)".to_owned()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}", self.message, self.kind)?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_errors_are_402_with_codes() {
        let e = ApiError::card(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        );
        assert_eq!(e.status, 402);
        let body = e.to_body();
        assert_eq!(body["error"]["type"], "card_error");
        assert_eq!(body["error"]["decline_code"], "insufficient_funds");
        assert!(body["error"].get("param").is_none());
    }

    #[test]
    fn ids_that_look_like_card_numbers_or_keys_are_not_echoed() {
        let e = ApiError::no_such("payment_intent", "4242424242424242", "id");
        assert!(!e.message.contains("4242424242424242"));
        let e = ApiError::no_such("payment_intent", "sk_test_abc", "id");
        assert!(!e.message.contains("sk_test_abc"));
        let e = ApiError::no_such("payment_intent", "pi_abc", "id");
        assert!(e.message.contains("pi_abc"));
        assert!(has_digit_run("4242 4242-4242 4242", 12));
        assert!(!has_digit_run("ch_1a2b3c4d5e6f7g8h9i0j", 12));
        // Random ids with many scattered digits are still echoed.
        let e = ApiError::no_such("charge", "ch_1a2b3c4d5e6f7g8h9i0j1k2l3", "id");
        assert!(e.message.contains("ch_1a2b3c4d5e6f7g8h9i0j1k2l3"));
    }
}
