//! Card rules that need no card data of their own: brand detection and the Luhn check
//! over digit strings, expiry and CVC-length validation with Stripe's error codes,
//! and the non-sensitive card facts the rest of Tessera may see.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A card network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Brand {
    /// Visa (4…).
    Visa,
    /// Mastercard (51–55, 2221–2720).
    Mastercard,
    /// American Express (34, 37).
    Amex,
    /// Discover (6011, 644–649, 65).
    Discover,
    /// Diners Club (300–305, 36, 38, 39).
    Diners,
    /// JCB (3528–3589).
    Jcb,
    /// UnionPay (62, 81).
    Unionpay,
    /// A number no known network issues.
    Unknown,
}

impl Brand {
    /// Detects the network from the leading digits.
    pub fn detect(digits: &str) -> Brand {
        let prefix =
            |n: usize| -> u32 { digits.get(..n).and_then(|p| p.parse().ok()).unwrap_or(0) };
        match () {
            _ if digits.starts_with('4') => Brand::Visa,
            _ if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => {
                Brand::Mastercard
            }
            _ if prefix(2) == 34 || prefix(2) == 37 => Brand::Amex,
            _ if prefix(4) == 6011 || (644..=649).contains(&prefix(3)) || prefix(2) == 65 => {
                Brand::Discover
            }
            _ if (3528..=3589).contains(&prefix(4)) => Brand::Jcb,
            _ if (300..=305).contains(&prefix(3)) || [36, 38, 39].contains(&prefix(2)) => {
                Brand::Diners
            }
            _ if prefix(2) == 62 || prefix(2) == 81 => Brand::Unionpay,
            _ => Brand::Unknown,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Diners => "diners",
            Brand::Jcb => "jcb",
            Brand::Unionpay => "unionpay",
            Brand::Unknown => "unknown",
        }
    }

    /// The CVC length the network uses.
    pub fn cvc_length(self) -> usize {
        if self == Brand::Amex { 4 } else { 3 }
    }

    /// The card-number lengths the network issues.
    pub fn valid_lengths(self) -> &'static [usize] {
        match self {
            Brand::Visa => &[13, 16, 19],
            Brand::Mastercard | Brand::Discover => &[16],
            Brand::Amex => &[15],
            Brand::Diners => &[14, 16, 19],
            Brand::Jcb | Brand::Unionpay => &[16, 17, 18, 19],
            Brand::Unknown => &[12, 13, 14, 15, 16, 17, 18, 19],
        }
    }
}

/// The Luhn (mod 10) check over an ASCII digit string. Non-digits fail.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// How a card is funded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    /// Credit card.
    Credit,
    /// Debit card.
    Debit,
    /// Prepaid card.
    Prepaid,
    /// Not known.
    Unknown,
}

/// The result of a CVC or address check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The issuer confirmed the value.
    Pass,
    /// The issuer rejected the value.
    Fail,
    /// The issuer could not check it.
    Unavailable,
    /// It was provided but not yet checked.
    Unchecked,
}

/// Checks the issuer performed, each `None` when the value was not provided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardChecks {
    /// CVC check.
    pub cvc_check: Option<Check>,
    /// Billing address line 1 check.
    pub address_line1_check: Option<Check>,
    /// Billing postal code check.
    pub address_postal_code_check: Option<Check>,
}

/// What the rest of Tessera may know about a tokenized card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFacts {
    /// The network.
    pub brand: Brand,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1–12.
    pub exp_month: u32,
    /// Four-digit expiry year.
    pub exp_year: u32,
    /// Funding type.
    pub funding: Funding,
    /// Two-letter issuing country.
    pub country: String,
    /// Keyed fingerprint: equal for the same number within one account only.
    pub fingerprint: String,
    /// Whether the card supports 3-D Secure.
    pub three_d_secure_supported: bool,
    /// What the card network says about the card's fraud risk.
    pub network_risk: NetworkRisk,
}

/// The card network's fraud signal for a card, given when the card is tokenized:
/// the network's own risk score, and whether the card is on its list of cards used
/// in fraud. Tessera's risk engine weighs it with its own signals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRisk {
    /// 0–100, when the network gives a score.
    pub score: Option<u8>,
    /// The network lists the card as used in fraud.
    pub known_fraud: bool,
}

/// Why card details were refused when a PaymentMethod was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRejection {
    /// Not a plausible card number (wrong length, not digits) or fails Luhn.
    IncorrectNumber,
    /// The month is not 1–12.
    InvalidExpiryMonth,
    /// The year is in the past or implausibly far ahead.
    InvalidExpiryYear,
    /// The CVC does not have the brand's length.
    InvalidCvc,
}

impl CardRejection {
    /// Stripe's 402 card error for the rejection.
    pub fn to_api_error(self) -> ApiError {
        let (code, param, message) = match self {
            CardRejection::IncorrectNumber => (
                "incorrect_number",
                "card[number]",
                "Your card number is incorrect.",
            ),
            CardRejection::InvalidExpiryMonth => (
                "invalid_expiry_month",
                "card[exp_month]",
                "Your card's expiration month is invalid.",
            ),
            CardRejection::InvalidExpiryYear => (
                "invalid_expiry_year",
                "card[exp_year]",
                "Your card's expiration year is invalid.",
            ),
            CardRejection::InvalidCvc => (
                "invalid_cvc",
                "card[cvc]",
                "Your card's security code is invalid.",
            ),
        };
        ApiError::card(code, None, message).with_param(param)
    }
}

/// Validates an expiry against today's year and month. Two-digit years are read as 20YY.
pub fn validate_expiry(
    month: u32,
    year: u32,
    today: (u32, u32),
) -> Result<(u32, u32), CardRejection> {
    if !(1..=12).contains(&month) {
        return Err(CardRejection::InvalidExpiryMonth);
    }
    let year = if year < 100 { 2000 + year } else { year };
    let (this_year, this_month) = today;
    if year < this_year || year > this_year + 50 {
        return Err(CardRejection::InvalidExpiryYear);
    }
    if year == this_year && month < this_month {
        return Err(CardRejection::InvalidExpiryMonth);
    }
    Ok((month, year))
}

/// Checks a CVC: digits only, of the brand's length.
pub fn validate_cvc(cvc: &str, brand: Brand) -> Result<(), CardRejection> {
    let ok = cvc.bytes().all(|b| b.is_ascii_digit())
        && (cvc.len() == brand.cvc_length()
            || (brand == Brand::Unknown && (3..=4).contains(&cvc.len())));
    if ok {
        Ok(())
    } else {
        Err(CardRejection::InvalidCvc)
    }
}

/// Removes the spaces and dashes people type inside card numbers; anything else is kept
/// so that the number fails validation.
pub fn normalize_number(input: &str) -> String {
    input.chars().filter(|c| *c != ' ' && *c != '-').collect()
}

/// Validates a normalized card number: digits, a length the brand issues, Luhn.
pub fn validate_number(digits: &str) -> Result<Brand, CardRejection> {
    if !(12..=19).contains(&digits.len()) || !luhn_valid(digits) {
        return Err(CardRejection::IncorrectNumber);
    }
    let brand = Brand::detect(digits);
    if !brand.valid_lengths().contains(&digits.len()) {
        return Err(CardRejection::IncorrectNumber);
    }
    Ok(brand)
}

/// Funding type and issuing country by BIN, from Tessera's small BIN table.
pub fn bin_facts(digits: &str) -> (Funding, &'static str) {
    const DEBIT: &[&str] = &["400005", "520082"];
    const PREPAID: &[&str] = &["510510"];
    let bin = digits.get(..6).unwrap_or("");
    if DEBIT.contains(&bin) {
        (Funding::Debit, "US")
    } else if PREPAID.contains(&bin) {
        (Funding::Prepaid, "US")
    } else {
        (Funding::Credit, "US")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check_digit(body: &str) -> String {
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|n| luhn_valid(n))
            .unwrap()
    }

    #[test]
    fn brands_of_the_networks() {
        let cases = [
            ("4242424242424242", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("2223003122003222", Brand::Mastercard),
            ("378282246310005", Brand::Amex),
            ("6011111111111117", Brand::Discover),
            ("3056930009020004", Brand::Diners),
            ("36227206271667", Brand::Diners),
            ("3566002020360505", Brand::Jcb),
            ("6200000000000005", Brand::Unionpay),
        ];
        for (number, brand) in cases {
            assert_eq!(validate_number(number), Ok(brand), "{number}");
        }
    }

    #[test]
    fn luhn_failures_and_bad_lengths_are_incorrect_numbers() {
        assert_eq!(
            validate_number("4242424242424241"),
            Err(CardRejection::IncorrectNumber)
        );
        assert_eq!(
            validate_number("42424242"),
            Err(CardRejection::IncorrectNumber)
        );
        assert_eq!(
            validate_number("4242x24242424242"),
            Err(CardRejection::IncorrectNumber)
        );
        // Luhn-valid but 17 digits is not a Mastercard length.
        assert_eq!(
            validate_number(&with_check_digit("55555555555544441")),
            Err(CardRejection::IncorrectNumber)
        );
    }

    #[test]
    fn expiry_rules() {
        let today = (2026, 11);
        assert_eq!(
            validate_expiry(13, 2030, today),
            Err(CardRejection::InvalidExpiryMonth)
        );
        assert_eq!(
            validate_expiry(0, 2030, today),
            Err(CardRejection::InvalidExpiryMonth)
        );
        assert_eq!(
            validate_expiry(12, 2025, today),
            Err(CardRejection::InvalidExpiryYear)
        );
        assert_eq!(
            validate_expiry(10, 2026, today),
            Err(CardRejection::InvalidExpiryMonth)
        );
        assert_eq!(validate_expiry(11, 2026, today), Ok((11, 2026)));
        assert_eq!(validate_expiry(1, 30, today), Ok((1, 2030)));
    }

    #[test]
    fn cvc_length_follows_brand() {
        assert!(validate_cvc("123", Brand::Visa).is_ok());
        assert_eq!(
            validate_cvc("1234", Brand::Visa),
            Err(CardRejection::InvalidCvc)
        );
        assert!(validate_cvc("1234", Brand::Amex).is_ok());
        assert_eq!(
            validate_cvc("12a", Brand::Visa),
            Err(CardRejection::InvalidCvc)
        );
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_passes_luhn(body in "[0-9]{11,18}") {
            let passing = (0..10).filter(|d| luhn_valid(&format!("{body}{d}"))).count();
            prop_assert_eq!(passing, 1);
        }

        #[test]
        fn a_single_digit_change_breaks_luhn(body in "[0-9]{15}", pos in 0usize..16, delta in 1u8..10) {
            let number = with_check_digit(&body);
            let mut bytes = number.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            prop_assert!(!luhn_valid(std::str::from_utf8(&bytes).unwrap()));
        }

        #[test]
        fn detection_never_panics(s in "\\PC{0,25}") {
            let _ = Brand::detect(&s);
            let _ = validate_number(&normalize_number(&s));
        }
    }
}

/// The (year, month) of a unix time in UTC, for expiry checks.
pub fn year_month_of(unix_seconds: i64) -> (u32, u32) {
    // Howard Hinnant's civil-from-days algorithm.
    let z = unix_seconds.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as u32, month as u32)
}

#[cfg(test)]
mod calendar_tests {
    #[test]
    fn year_month_of_known_instants() {
        assert_eq!(super::year_month_of(0), (1970, 1));
        assert_eq!(super::year_month_of(1_795_000_000), (2026, 11));
        assert_eq!(super::year_month_of(951_782_400), (2000, 2)); // 2000-02-29
    }
}
