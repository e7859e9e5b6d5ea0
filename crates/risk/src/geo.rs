//! IP address → country, from an offline database file the operator supplies.
//!
//! The file is CSV, one range per line: `first_address,last_address,country`, IPv4 or
//! IPv6, both ends inclusive, the country a two-letter ISO code (the layout of the
//! freely licensed "IP to Country Lite" databases). Blank lines and lines starting
//! with `#` are ignored. Tessera bundles a small test database
//! ([`IpCountries::bundled_test`]) that covers only loopback and documentation ranges,
//! so tests on 127.0.0.0/8 can play shoppers from several countries.

use std::net::IpAddr;

/// Tessera's test database: loopback and documentation address ranges only.
pub const BUNDLED_TEST_DATABASE: &str = include_str!("../data/ip-country-test.csv");

/// A parsed IP-to-country database.
#[derive(Debug, Clone, Default)]
pub struct IpCountries {
    /// (first, last, country) sorted by first; IPv4 as IPv4-mapped IPv6.
    ranges: Vec<(u128, u128, [u8; 2])>,
}

fn as_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl IpCountries {
    /// Parses a database; the error names the line and what is wrong with it.
    pub fn parse(text: &str) -> Result<IpCountries, String> {
        let mut ranges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| format!("line {}: {what}", n + 1);
            let mut fields = line.split(',').map(|f| f.trim().trim_matches('"'));
            let (Some(first), Some(last), Some(country)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected first_address,last_address,country"));
            };
            let first: IpAddr = first
                .parse()
                .map_err(|_| bad(&format!("{first:?} is not an IP address")))?;
            let last: IpAddr = last
                .parse()
                .map_err(|_| bad(&format!("{last:?} is not an IP address")))?;
            if first.is_ipv4() != last.is_ipv4() {
                return Err(bad("a range cannot mix IPv4 and IPv6"));
            }
            let (first, last) = (as_u128(first), as_u128(last));
            if first > last {
                return Err(bad("the first address is after the last"));
            }
            let code = country.as_bytes();
            if code.len() != 2 || !code.iter().all(u8::is_ascii_alphabetic) {
                return Err(bad(&format!(
                    "{country:?} is not a two-letter country code"
                )));
            }
            ranges.push((
                first,
                last,
                [code[0].to_ascii_uppercase(), code[1].to_ascii_uppercase()],
            ));
        }
        ranges.sort_unstable_by_key(|r| r.0);
        if let Some(w) = ranges.windows(2).find(|w| w[1].0 <= w[0].1) {
            return Err(format!(
                "ranges overlap at {}",
                std::net::Ipv6Addr::from(w[1].0).to_canonical()
            ));
        }
        Ok(IpCountries { ranges })
    }

    /// The bundled test database.
    pub fn bundled_test() -> IpCountries {
        IpCountries::parse(BUNDLED_TEST_DATABASE).unwrap_or_default()
    }

    /// The country of `ip`, if the database has it.
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        let ip = as_u128(ip.to_canonical());
        let at = self.ranges.partition_point(|r| r.0 <= ip);
        let (_, last, code) = self.ranges.get(at.checked_sub(1)?)?;
        (ip <= *last)
            .then(|| std::str::from_utf8(code).ok())
            .flatten()
    }

    /// How many ranges the database holds.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the database is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_bundled_database_places_loopback_shoppers() {
        let db = IpCountries::bundled_test();
        assert_eq!(db.country(ip("127.0.0.1")), Some("US"));
        assert_eq!(db.country(ip("127.0.1.9")), Some("GB"));
        assert_eq!(db.country(ip("127.0.2.200")), Some("DE"));
        assert_eq!(db.country(ip("::1")), Some("US"));
        assert_eq!(db.country(ip("::ffff:127.0.1.9")), Some("GB"));
        assert_eq!(db.country(ip("203.0.113.7")), Some("AU"));
        assert_eq!(db.country(ip("8.8.8.8")), None);
        assert_eq!(db.country(ip("127.255.0.1")), None);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = IpCountries::parse("# ok\n1.0.0.0,1.0.0.255,AU\n1.0.1.0,x,CN\n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
        assert!(
            IpCountries::parse("1.0.0.0,1.0.0.255,AUS")
                .unwrap_err()
                .contains("AUS")
        );
        assert!(
            IpCountries::parse("1.0.0.9,1.0.0.1,AU")
                .unwrap_err()
                .contains("after")
        );
        assert!(
            IpCountries::parse("1.0.0.0,::1,AU")
                .unwrap_err()
                .contains("mix")
        );
        assert!(
            IpCountries::parse("1.0.0.0,1.0.0.9,AU\n1.0.0.5,1.0.0.20,NZ")
                .unwrap_err()
                .contains("overlap")
        );
    }

    #[test]
    fn edges_are_inclusive() {
        let db = IpCountries::parse("10.0.0.0,10.0.0.255,fr\n2001:db8::,2001:db8::ff,NL").unwrap();
        assert_eq!(db.country(ip("10.0.0.0")), Some("FR"));
        assert_eq!(db.country(ip("10.0.0.255")), Some("FR"));
        assert_eq!(db.country(ip("10.0.1.0")), None);
        assert_eq!(db.country(ip("2001:db8::ff")), Some("NL"));
        assert_eq!(db.country(ip("2001:db8::100")), None);
    }
}
