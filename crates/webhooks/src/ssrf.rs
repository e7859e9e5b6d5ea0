//! Which addresses a webhook may be delivered to.
//!
//! A merchant chooses the URL, so without a policy Tessera could be made to call its
//! own network: the cloud metadata service, a database, the vault. Every resolved
//! address is checked, and only a checked address is connected to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The policy: public unicast addresses only, plus loopback in test mode (so developers
/// can receive events on their own machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow 127.0.0.0/8 and ::1.
    pub allow_loopback: bool,
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [127, ..] => "loopback",
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => "private",
        [169, 254, ..] => "link-local (cloud metadata)",
        [100, 64..=127, ..] => "carrier-grade NAT",
        [0, ..] => "unspecified",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved or broadcast",
        [192, 0, 0, _] | [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => {
            "reserved for documentation"
        }
        [198, 18..=19, ..] => "benchmarking",
        _ => return None,
    })
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4_refusal(v4).map_or("IPv4-mapped", |_| "IPv4-mapped internal address"));
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        [0x64, 0xff9b, ..] => "NAT64 (embeds an IPv4 address)",
        [0x2002, ..] => "6to4 (embeds an IPv4 address)",
        [0x2001, 0xdb8, ..] => "reserved for documentation",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique-local",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

impl AddressPolicy {
    /// Why `ip` may not be connected to, if it may not.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_loopback && ip.is_loopback() {
            return None;
        }
        match ip {
            IpAddr::V4(v4) => v4_refusal(v4),
            IpAddr::V6(v6) => v6_refusal(v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: AddressPolicy, ip: &str) -> bool {
        policy.refusal(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        let live = AddressPolicy {
            allow_loopback: false,
        };
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(refused(live, ip), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(!refused(live, ip), "{ip} is public");
        }
    }

    #[test]
    fn test_mode_allows_loopback_and_nothing_else_private() {
        let test = AddressPolicy {
            allow_loopback: true,
        };
        assert!(!refused(test, "127.0.0.1"));
        assert!(!refused(test, "::1"));
        assert!(refused(test, "169.254.169.254"));
        assert!(refused(test, "10.0.0.1"));
        assert!(
            refused(test, "::ffff:127.0.0.1"),
            "mapped forms are not a way around the policy"
        );
    }
}
