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

/// Characters of an object id after its prefix.
const ID_LEN: usize = 24;

/// Of those, the leading ones that carry the time.
const ID_TIME_LEN: usize = 7;

/// A new object id: `prefix`, 7 base62 characters of the current time in milliseconds
/// (most significant first, so ids sort by creation time until the year 2081), then 17
/// random base62 characters (101 bits from the OS CSPRNG: unguessable, and distinct
/// without coordination).
///
/// The time comes first so that objects made close together sort together: a new
/// row lands on the last page of each index keyed by id instead of a random one, and
/// a commit writes a few shared pages to the log rather than one page per row.
pub fn object_id(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    object_id_at(prefix, millis)
}

/// Whether `id` has the shape of an id [`object_id`] makes with `prefix` (it may still
/// name nothing).
pub fn is_object_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == ID_LEN && rest.bytes().all(|c| c.is_ascii_alphanumeric()))
}

fn object_id_at(prefix: &str, millis: u64) -> String {
    let mut id = String::with_capacity(prefix.len() + ID_LEN);
    id.push_str(prefix);
    let mut time = [b'0'; ID_TIME_LEN];
    let mut rest = millis;
    for c in time.iter_mut().rev() {
        *c = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    id.extend(time.iter().map(|&c| c as char));
    id.push_str(&base62(ID_LEN - ID_TIME_LEN));
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
    fn ids_sort_by_creation_time() {
        let times = [
            0u64,
            61,
            62,
            1_700_000_000_000,
            1_700_000_000_001,
            3_000_000_000_000,
        ];
        let ids: Vec<String> = times.iter().map(|&t| object_id_at("ch_", t)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|id| id.len() == 27));
        // The random part differs between two ids made in the same millisecond.
        assert_ne!(object_id_at("ch_", 5)[10..], object_id_at("ch_", 5)[10..]);
    }

    #[test]
    fn ids_are_told_from_other_names() {
        let id = object_id("pm_");
        assert!(is_object_id("pm_", &id));
        assert!(!is_object_id("pi_", &id));
        assert!(!is_object_id("pm_", "pm_card_visa"));
        assert!(!is_object_id("pm_", &id[..id.len() - 1]));
        assert!(!is_object_id("pm_", &format!("{id}0")));
        assert!(!is_object_id("pm_", &format!("pm_{}-", &id[3..26])));
    }

    #[test]
    fn base62_uses_the_whole_alphabet() {
        let s = base62(20_000);
        for c in BASE62 {
            assert!(s.as_bytes().contains(c));
        }
    }
}
