//! AES-256-GCM sealing with a fresh random 96-bit nonce per record and the record's
//! identity as associated data, so a ciphertext moved to another record, account or
//! purpose fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::SubKey;

const NONCE_LEN: usize = 12;

/// The ciphertext is damaged, was made under another key, or belongs to another record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ciphertext failed authentication")
    }
}

impl std::error::Error for OpenError {}

/// Encrypts `plaintext` bound to `aad`. Output: nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &SubKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    crate::random::fill(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts what [`seal`] produced with the same key and `aad`.
pub fn open(key: &SubKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(OpenError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.bytes().into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| OpenError)
}

/// Wraps a data-encryption key under a key-encryption key.
pub fn wrap_key(kek: &SubKey, key_id: &str, dek: &SubKey) -> Vec<u8> {
    seal(kek, &wrap_aad(key_id), dek.bytes())
}

/// Unwraps a data-encryption key.
pub fn unwrap_key(kek: &SubKey, key_id: &str, wrapped: &[u8]) -> Result<SubKey, OpenError> {
    let mut plain = open(kek, &wrap_aad(key_id), wrapped)?;
    let bytes: Result<[u8; 32], _> = plain.as_slice().try_into();
    zeroize::Zeroize::zeroize(&mut plain);
    bytes.map(SubKey).map_err(|_| OpenError)
}

fn wrap_aad(key_id: &str) -> Vec<u8> {
    [b"tessera/dek/".as_slice(), key_id.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SubKey {
        SubKey([b; 32])
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let a = seal(&key(1), b"rec-1", b"secret");
        let b = seal(&key(1), b"rec-1", b"secret");
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(open(&key(1), b"rec-1", &a).unwrap(), b"secret");
    }

    #[test]
    fn moved_or_tampered_ciphertexts_fail() {
        let sealed = seal(&key(1), b"acct_a/pm_1", b"secret");
        assert_eq!(open(&key(1), b"acct_a/pm_2", &sealed), Err(OpenError));
        assert_eq!(open(&key(1), b"acct_b/pm_1", &sealed), Err(OpenError));
        assert_eq!(open(&key(2), b"acct_a/pm_1", &sealed), Err(OpenError));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key(1), b"acct_a/pm_1", &bad), Err(OpenError));
        assert_eq!(open(&key(1), b"acct_a/pm_1", &sealed[..10]), Err(OpenError));
    }

    #[test]
    fn keys_wrap_and_unwrap_under_their_id() {
        let wrapped = wrap_key(&key(9), "dek_1", &key(7));
        assert_eq!(unwrap_key(&key(9), "dek_1", &wrapped).unwrap().0, [7; 32]);
        assert!(unwrap_key(&key(9), "dek_2", &wrapped).is_err());
    }
}
