//! Tessera's keyring and cryptographic formats.
//!
//! - [`MasterKey`]: the root secret, kept in a 0600 file apart from the data or given
//!   by `TESSERA_MASTER_KEY`; every other key is derived from it for one purpose.
//! - [`aead`]: AES-256-GCM with a fresh random nonce per record and the record's
//!   identity as associated data, used for envelope encryption (KEK wraps DEKs).
//! - [`fingerprint`]: keyed, per-account card fingerprints.
//! - [`api_key`]: key formats and the keyed hashes they are stored as.
//! - [`random`]: ids and tokens from the OS CSPRNG.
//!
//! Secrets are zeroized on drop and never `Debug`-printed; comparisons of secrets
//! are constant-time ([`constant_time_eq`]).
#![forbid(unsafe_code)]

pub mod aead;
pub mod api_key;
pub mod fingerprint;
mod master_key;
pub mod random;
pub mod webhook;

pub use master_key::{MasterKey, MasterKeyError, SubKey};

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 of `data` under a purpose-bound key.
pub fn keyed_hash(key: &SubKey, data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.bytes())
        .expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}
