//! Keyed card fingerprints: the same card gives the same value within one account and
//! unrelated values across accounts, and the value cannot be reversed by enumerating
//! card numbers without the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::SubKey;

/// The 16-character fingerprint of `number` for `account`.
pub fn card_fingerprint(key: &SubKey, account: &str, number: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(account.as_bytes());
    mac.update(&[0]);
    mac.update(number.as_bytes());
    let digest = mac.finalize().into_bytes();
    // 16 base62 characters from the first 16 bytes (bias is irrelevant for an identifier).
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    digest[..16]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % 62] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_card_same_account_matches_other_account_does_not() {
        let key = SubKey([3; 32]);
        let a1 = card_fingerprint(&key, "acct_a", "4242424242424242");
        let a2 = card_fingerprint(&key, "acct_a", "4242424242424242");
        let b = card_fingerprint(&key, "acct_b", "4242424242424242");
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_eq!(a1.len(), 16);
        assert_ne!(
            a1,
            card_fingerprint(&SubKey([4; 32]), "acct_a", "4242424242424242")
        );
    }
}
