//! Webhook signatures, as Stripe's SDK verifiers expect them:
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` with
//! `v1 = hex(HMAC-SHA256(key = the whole "whsec_…" secret, "<t>.<raw body>"))`,
//! one `v1` per secret still valid (a rolled secret overlaps its successor).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A new endpoint signing secret: `whsec_` and 32 random base62 characters.
pub fn generate_secret() -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!("whsec_{}", crate::random::base62(32)))
}

/// Encrypts an endpoint's signing secret for storage, bound to the endpoint id.
pub fn seal_secret(key: &crate::SubKey, endpoint: &str, secret: &str) -> String {
    use base64::Engine;
    let sealed = crate::aead::seal(
        key,
        format!("tessera/whsec\0{endpoint}").as_bytes(),
        secret.as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

/// Decrypts what [`seal_secret`] stored.
pub fn open_secret(
    key: &crate::SubKey,
    endpoint: &str,
    sealed: &str,
) -> Option<zeroize::Zeroizing<String>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    let plain =
        crate::aead::open(key, format!("tessera/whsec\0{endpoint}").as_bytes(), &bytes).ok()?;
    String::from_utf8(plain).ok().map(zeroize::Zeroizing::new)
}

/// The `v1` signature of `payload` sent at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// The whole `Stripe-Signature` header value for every active secret.
pub fn header(secrets: &[&str], timestamp: i64, payload: &[u8]) -> String {
    let mut out = format!("t={timestamp}");
    for secret in secrets {
        out.push_str(",v1=");
        out.push_str(&signature(secret, timestamp, payload));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // Computed with Python's hmac module over the same key and message.
        assert_eq!(
            signature(
                "whsec_test_secret",
                1_700_000_000,
                br#"{"id":"evt_1","object":"event"}"#
            ),
            "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd"
        );
    }

    #[test]
    fn secrets_seal_to_their_endpoint() {
        let key = crate::SubKey::from_bytes([7; 32]);
        let secret = generate_secret();
        assert!(secret.starts_with("whsec_"));
        let sealed = seal_secret(&key, "we_1", &secret);
        assert!(!sealed.contains(&secret[6..]));
        assert_eq!(
            open_secret(&key, "we_1", &sealed).unwrap().as_str(),
            secret.as_str()
        );
        assert!(open_secret(&key, "we_2", &sealed).is_none());
    }

    #[test]
    fn one_v1_per_active_secret() {
        let h = header(&["whsec_a", "whsec_b"], 5, b"{}");
        assert!(h.starts_with("t=5,v1="));
        assert_eq!(h.matches(",v1=").count(), 2);
    }
}
