//! The card-data environment.
//!
//! This crate is the only code in Tessera that can name a card number or a CVC
//! ([`CardNumber`], [`Cvc`]). Those types cannot be printed, serialised or cloned and
//! are zeroized on drop. The vault keeps card numbers in its own database, encrypted
//! with AES-256-GCM under a data-encryption key (DEK) that is itself wrapped by a
//! key-encryption key (KEK) held outside the database; each record's identity
//! (account and PaymentMethod) is bound as associated data. A CVC is stored
//! encrypted only until the first authorization attempt that reaches a decision, then
//! erased. A card number leaves the vault only towards a processor [`Connector`].
//!
//! The rest of Tessera uses the vault through `tessera_core::ports::CardVault`.
#![forbid(unsafe_code)]

mod card;
mod connector;
mod keys;
mod vault;

pub use card::{CardNumber, Cvc};
pub use connector::{ChargeableCard, Connector};
pub use vault::{Vault, VaultOpenError};
