//! Card numbers and CVCs: unprintable, unserialisable, zeroized on drop.

use std::fmt;

use tessera_core::card::{Brand, CardRejection, normalize_number, validate_cvc, validate_number};
use zeroize::Zeroizing;

/// A validated primary account number (digits only, Luhn-valid).
pub struct CardNumber {
    digits: Zeroizing<String>,
    brand: Brand,
}

impl CardNumber {
    /// Validates a number as typed (spaces and dashes are ignored).
    pub fn parse(input: &str) -> Result<CardNumber, CardRejection> {
        let digits = Zeroizing::new(normalize_number(input));
        let brand = validate_number(&digits)?;
        Ok(CardNumber { digits, brand })
    }

    /// The network that issued it.
    pub fn brand(&self) -> Brand {
        self.brand
    }

    /// The last four digits, which may be displayed.
    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// The full number, for a processor connector sending it to the network.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardNumber(redacted)")
    }
}

/// A card verification code.
pub struct Cvc(Zeroizing<String>);

impl Cvc {
    /// Validates a CVC for the card's brand.
    pub fn parse(input: &str, brand: Brand) -> Result<Cvc, CardRejection> {
        validate_cvc(input, brand)?;
        Ok(Cvc(Zeroizing::new(input.to_owned())))
    }

    /// The digits, for a processor connector.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_digits() {
        let n = CardNumber::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(format!("{n:?}"), "CardNumber(redacted)");
        assert_eq!(n.last4(), "4242");
        let c = Cvc::parse("123", Brand::Visa).unwrap();
        assert_eq!(format!("{c:?}"), "Cvc(redacted)");
    }
}
