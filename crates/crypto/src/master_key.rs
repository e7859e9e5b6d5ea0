//! The master key and the purpose-bound keys derived from it.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The root secret of a Tessera installation: 32 random bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

/// A 32-byte key derived from the master key for exactly one purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SubKey(pub(crate) [u8; 32]);

impl SubKey {
    /// The key bytes, for the keyed primitives in this crate.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a key from raw bytes (tests and key unwrapping).
    pub fn from_bytes(bytes: [u8; 32]) -> SubKey {
        SubKey(bytes)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKey(redacted)")
    }
}

/// Why the master key could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The environment value is not 32 bytes of base64 or hex.
    BadEncoding,
    /// The key file is unreadable, malformed or readable by others.
    File(String),
}

impl fmt::Display for MasterKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeyError::BadEncoding => f.write_str(
                "TESSERA_MASTER_KEY must be 32 bytes written as 64 hex digits or as base64",
            ),
            MasterKeyError::File(why) => write!(f, "master key file: {why}"),
        }
    }
}

impl std::error::Error for MasterKeyError {}

impl MasterKey {
    /// Parses a key given as 64 hex digits or standard base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, MasterKeyError> {
        let text = text.trim();
        let mut bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| MasterKeyError::BadEncoding)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| MasterKeyError::BadEncoding)?
        };
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::BadEncoding)?;
        bytes.zeroize();
        Ok(MasterKey(key))
    }

    /// Loads the key file, creating it with mode 0600 and a fresh key if it does not
    /// exist. Refuses a file that group or others can read.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match fs::read_to_string(path) {
            Ok(mut text) => {
                let mode = fs::metadata(path)
                    .map_err(|e| MasterKeyError::File(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    text.zeroize();
                    return Err(MasterKeyError::File(format!(
                        "{} is readable by group or others (mode {:o}); run chmod 600 on it",
                        path.display(),
                        mode & 0o777
                    )));
                }
                let key = MasterKey::parse(&text).map_err(|_| {
                    MasterKeyError::File(format!("{} does not hold a 32-byte key", path.display()))
                });
                text.zeroize();
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey(crate::random::bytes32());
                let mut encoded = hex::encode(key.0);
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| {
                        MasterKeyError::File(format!("cannot create {}: {e}", path.display()))
                    })?;
                let written = file
                    .write_all(encoded.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        MasterKeyError::File(format!("cannot write {}: {e}", path.display()))
                    });
                encoded.zeroize();
                written?;
                Ok(key)
            }
            Err(e) => Err(MasterKeyError::File(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Derives the key for one purpose (HMAC-SHA256 of a fixed label, as in HKDF-Expand
    /// with a single block).
    pub fn derive(&self, purpose: &str) -> SubKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"tessera/v1/");
        mac.update(purpose.as_bytes());
        mac.update(&[1]);
        SubKey(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x").0, b.derive("x").0);
        assert_ne!(a.derive("x").0, a.derive("y").0);
    }

    #[test]
    fn a_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn environment_keys_parse_from_hex_or_base64_only_at_32_bytes() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(format!("{:?}", MasterKey::parse(&"ab".repeat(32)).unwrap()).contains("redacted"));
    }
}
