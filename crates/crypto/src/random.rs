//! Randomness from the operating system's CSPRNG.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `buf` from the OS CSPRNG. Failing to get randomness is not recoverable.
pub fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// A fresh 32-byte secret.
pub fn bytes32() -> [u8; 32] {
    let mut b = [0u8; 32];
    fill(&mut b);
    b
}

/// `len` uniformly random base62 characters (rejection sampling, no modulo bias).
pub fn base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf);
        for &b in &buf {
            // 248 = 4 * 62: bytes at or above it would bias the result.
            if b < 248 && out.len() < len {
                out.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

/// A new object id: `prefix` followed by 24 random base62 characters.
pub fn object_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    id.push_str(&base62(24));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_base62_and_distinct() {
        let a = object_id("pi_");
        let b = object_id("pi_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 27);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn base62_uses_the_whole_alphabet() {
        let s = base62(20_000);
        for c in BASE62 {
            assert!(s.as_bytes().contains(c));
        }
    }
}
