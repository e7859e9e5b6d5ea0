//! API key formats and their storage form.
//!
//! Keys are `sk_test_…`, `rk_test_…`, `pk_test_…` (and `_live_`) followed by 32 random
//! base62 characters (~190 bits). Tessera stores only an HMAC-SHA256 of the key under
//! a server-held key, so a copy of the database does not reveal usable keys, plus the
//! last four characters for people to recognise a key by.

use zeroize::Zeroizing;

use crate::SubKey;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Full access from a merchant's server (`sk_`).
    Secret,
    /// Per-resource access from a merchant's server (`rk_`).
    Restricted,
    /// Browser calls only (`pk_`).
    Publishable,
}

impl KeyKind {
    /// The prefix before the mode.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk",
            KeyKind::Restricted => "rk",
            KeyKind::Publishable => "pk",
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Restricted => "restricted",
            KeyKind::Publishable => "publishable",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<KeyKind> {
        match name {
            "secret" => Some(KeyKind::Secret),
            "restricted" => Some(KeyKind::Restricted),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// A freshly generated key: shown once, then only its hash is kept.
pub fn generate(kind: KeyKind, livemode: bool) -> Zeroizing<String> {
    let mode = if livemode { "live" } else { "test" };
    Zeroizing::new(format!(
        "{}_{mode}_{}",
        kind.prefix(),
        crate::random::base62(32)
    ))
}

/// The kind and mode a presented key claims by its prefix.
pub fn parse_prefix(key: &str) -> Option<(KeyKind, bool)> {
    let (kind, rest) = key.split_once('_')?;
    let kind = match kind {
        "sk" => KeyKind::Secret,
        "rk" => KeyKind::Restricted,
        "pk" => KeyKind::Publishable,
        _ => return None,
    };
    let livemode = if rest.starts_with("test_") {
        false
    } else if rest.starts_with("live_") {
        true
    } else {
        return None;
    };
    Some((kind, livemode))
}

/// The keyed hash a key is stored and looked up under.
pub fn hash(key_hash_key: &SubKey, key: &str) -> [u8; 32] {
    crate::keyed_hash(key_hash_key, key.as_bytes())
}

/// `sk_test_…abcd`: enough to recognise a key, never enough to use it.
pub fn redacted(key: &str) -> String {
    match parse_prefix(key) {
        Some((kind, live)) if key.len() > 12 => {
            let mode = if live { "live" } else { "test" };
            format!("{}_{mode}_****{}", kind.prefix(), &key[key.len() - 4..])
        }
        _ => "(an unrecognised key)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_carry_kind_and_mode() {
        let k = generate(KeyKind::Secret, false);
        assert!(k.starts_with("sk_test_"));
        assert_eq!(k.len(), 8 + 32);
        assert_eq!(parse_prefix(&k), Some((KeyKind::Secret, false)));
        assert_eq!(
            parse_prefix("pk_live_abc"),
            Some((KeyKind::Publishable, true))
        );
        assert_eq!(parse_prefix("xx_test_abc"), None);
    }

    #[test]
    fn hashes_are_keyed_and_redaction_keeps_four() {
        let k = generate(KeyKind::Secret, false);
        assert_ne!(hash(&SubKey([1; 32]), &k), hash(&SubKey([2; 32]), &k));
        let shown = redacted(&k);
        assert!(shown.ends_with(&k[k.len() - 4..]));
        assert!(!shown.contains(&k[8..20]));
    }
}
