//! ISO 4217 currencies and amounts in minor units.
//!
//! Amounts are always integers in the currency's smallest unit, as on Stripe's wire:
//! `1000` is $10.00 in `usd` and ¥1000 in `jpy`.

use crate::error::ApiError;

/// A supported ISO 4217 currency, lower-case as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
    minimum: i64,
}

/// Currencies with no minor unit: amounts are whole units.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies with three decimals.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Currencies with two decimals that Tessera accepts.
const TWO_DECIMAL: &[&str] = &[
    "usd", "eur", "gbp", "aud", "cad", "chf", "cny", "czk", "dkk", "hkd", "huf", "idr", "ils",
    "inr", "mxn", "myr", "nok", "nzd", "php", "pln", "ron", "sek", "sgd", "thb", "try", "twd",
    "zar", "brl", "aed", "sar",
];

/// The largest amount accepted in any currency (Stripe's limit: eight digits).
pub const MAX_AMOUNT: i64 = 99_999_999;

impl Currency {
    /// Looks up a currency by its code, case-insensitively.
    pub fn parse(code: &str) -> Option<Currency> {
        let lower = code.to_ascii_lowercase();
        let find = |list: &[&'static str]| list.iter().copied().find(|c| *c == lower);
        if let Some(code) = find(ZERO_DECIMAL) {
            return Some(Currency {
                code,
                exponent: 0,
                minimum: if code == "jpy" { 50 } else { 1 },
            });
        }
        if let Some(code) = find(THREE_DECIMAL) {
            return Some(Currency {
                code,
                exponent: 3,
                minimum: 500,
            });
        }
        find(TWO_DECIMAL).map(|code| Currency {
            code,
            exponent: 2,
            minimum: match code {
                "gbp" => 30,
                "usd" | "eur" | "aud" | "cad" | "chf" | "nzd" | "sgd" => 50,
                _ => 1,
            },
        })
    }

    /// The lower-case code, as sent on the wire.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimal places of the minor unit (0 for zero-decimal currencies).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Whether amounts are whole units (JPY, KRW…).
    pub fn is_zero_decimal(&self) -> bool {
        self.exponent == 0
    }

    /// Checks that `amount` (minor units) may be charged in this currency.
    pub fn validate_amount(&self, amount: i64, param: &str) -> Result<(), ApiError> {
        if amount < self.minimum {
            return Err(ApiError::invalid_request(
                param,
                format!(
                    "Amount must be at least {} {} (in the currency's smallest unit).",
                    self.minimum, self.code
                ),
            )
            .with_code("amount_too_small"));
        }
        if amount > MAX_AMOUNT {
            return Err(ApiError::invalid_request(
                param,
                format!("Amount must be no more than {MAX_AMOUNT} {}.", self.code),
            )
            .with_code("amount_too_large"));
        }
        Ok(())
    }

    /// Renders a minor-unit amount for people: `1050` usd → `10.50`, `500` jpy → `500`.
    pub fn display_amount(&self, amount: i64) -> String {
        if self.exponent == 0 {
            return amount.to_string();
        }
        let scale = 10_i64.pow(u32::from(self.exponent));
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / scale as u64,
            abs % scale as u64,
            width = usize::from(self.exponent)
        )
    }
}

/// Parses a currency parameter, with Stripe's error naming the parameter.
pub fn parse_currency(value: &str, param: &str) -> Result<Currency, ApiError> {
    Currency::parse(value).ok_or_else(|| {
        ApiError::invalid_request(
            param,
            format!(
                "Invalid currency: {}. Tessera supports ISO 4217 codes such as usd, eur, gbp, jpy.",
                value.to_ascii_lowercase()
            ),
        )
        .with_code("parameter_invalid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_decimal_currencies_have_no_minor_unit() {
        for code in ["jpy", "KRW", "vnd"] {
            let c = Currency::parse(code).unwrap();
            assert!(c.is_zero_decimal(), "{code}");
            assert_eq!(c.display_amount(1234), "1234");
        }
        assert_eq!(
            Currency::parse("usd").unwrap().display_amount(1050),
            "10.50"
        );
        assert_eq!(
            Currency::parse("kwd").unwrap().display_amount(1005),
            "1.005"
        );
        assert!(Currency::parse("xyz").is_none());
    }

    #[test]
    fn minimums_and_maximum_are_enforced_with_codes() {
        let usd = Currency::parse("usd").unwrap();
        assert_eq!(
            usd.validate_amount(49, "amount")
                .unwrap_err()
                .code
                .as_deref(),
            Some("amount_too_small")
        );
        assert!(usd.validate_amount(50, "amount").is_ok());
        assert_eq!(
            usd.validate_amount(MAX_AMOUNT + 1, "amount")
                .unwrap_err()
                .code
                .as_deref(),
            Some("amount_too_large")
        );
        let jpy = Currency::parse("jpy").unwrap();
        assert!(jpy.validate_amount(50, "amount").is_ok());
    }

    proptest! {
        #[test]
        fn display_amount_round_trips(amount in 0i64..MAX_AMOUNT, idx in 0usize..3) {
            let c = Currency::parse(["usd", "jpy", "kwd"][idx]).unwrap();
            let shown = c.display_amount(amount);
            let back: i64 = shown.replace('.', "").parse().unwrap();
            prop_assert_eq!(back, amount);
        }
    }
}
