//! Velocity counters: how many attempts (and declines) a card, an IP address, an
//! email address and a customer made in the past hour, day and week, and how many
//! distinct cards an IP address used and IP addresses a card came from.
//!
//! Time is always passed in (unix seconds), never read from a clock, so tests replay
//! any timeline. Counts cover *earlier* attempts only: ask for the counts before
//! recording the attempt being assessed.
//!
//! Attempt and decline totals are kept in one-minute buckets for the hourly window
//! and one-hour buckets for the daily and weekly windows, so a window's edge is exact
//! to its bucket: an attempt 61 minutes ago is out of the hourly window, one 59
//! minutes ago is in it. Distinct counts keep each card's (or address's) last time
//! seen, exact to the second. Memory is bounded by the week: anything older is
//! dropped.

use std::collections::{HashMap, VecDeque};

use crate::attribute::NumberAttribute;
use crate::signals::Signals;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// How often (in recorded attempts) tracks idle for a week are swept away.
const SWEEP_EVERY: u64 = 8192;

/// Who made an attempt: the keys it is counted under. Missing keys are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptKeys {
    /// The card's fingerprint.
    pub card: Option<String>,
    /// The shopper's IP address, as text.
    pub ip: Option<String>,
    /// The email address, lower-cased.
    pub email: Option<String>,
    /// The Customer's id.
    pub customer: Option<String>,
}

/// Attempts and declines in the three windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Attempts in the past hour, day and week.
    pub total: [u32; 3],
    /// Declined or blocked attempts in the past hour, day and week.
    pub declined: [u32; 3],
}

/// Every velocity count for one attempt (all zero for a key the attempt lacks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VelocityCounts {
    /// Per card fingerprint.
    pub card: WindowCounts,
    /// Per IP address.
    pub ip: WindowCounts,
    /// Per email address.
    pub email: WindowCounts,
    /// Per customer.
    pub customer: WindowCounts,
    /// Distinct cards used from the IP address in the past hour, day and week.
    pub cards_per_ip: [u32; 3],
    /// Distinct IP addresses the card was used from in the past hour, day and week.
    pub ips_per_card: [u32; 3],
}

impl VelocityCounts {
    /// Sets the velocity attributes in `signals`. Counts for a key the attempt lacks
    /// (no IP address, no customer…) are left missing, so rules on them do not match.
    pub fn apply(&self, keys: &AttemptKeys, signals: &mut Signals) {
        use NumberAttribute as N;
        let entities: [(bool, &WindowCounts, [N; 3], [N; 3]); 4] = [
            (
                keys.card.is_some(),
                &self.card,
                [
                    N::TotalChargesPerCardNumberHourly,
                    N::TotalChargesPerCardNumberDaily,
                    N::TotalChargesPerCardNumberWeekly,
                ],
                [
                    N::DeclinedChargesPerCardNumberHourly,
                    N::DeclinedChargesPerCardNumberDaily,
                    N::DeclinedChargesPerCardNumberWeekly,
                ],
            ),
            (
                keys.ip.is_some(),
                &self.ip,
                [
                    N::TotalChargesPerIpAddressHourly,
                    N::TotalChargesPerIpAddressDaily,
                    N::TotalChargesPerIpAddressWeekly,
                ],
                [
                    N::DeclinedChargesPerIpAddressHourly,
                    N::DeclinedChargesPerIpAddressDaily,
                    N::DeclinedChargesPerIpAddressWeekly,
                ],
            ),
            (
                keys.email.is_some(),
                &self.email,
                [
                    N::TotalChargesPerEmailHourly,
                    N::TotalChargesPerEmailDaily,
                    N::TotalChargesPerEmailWeekly,
                ],
                [
                    N::DeclinedChargesPerEmailHourly,
                    N::DeclinedChargesPerEmailDaily,
                    N::DeclinedChargesPerEmailWeekly,
                ],
            ),
            (
                keys.customer.is_some(),
                &self.customer,
                [
                    N::TotalChargesPerCustomerHourly,
                    N::TotalChargesPerCustomerDaily,
                    N::TotalChargesPerCustomerWeekly,
                ],
                [
                    N::DeclinedChargesPerCustomerHourly,
                    N::DeclinedChargesPerCustomerDaily,
                    N::DeclinedChargesPerCustomerWeekly,
                ],
            ),
        ];
        for (present, counts, totals, declines) in entities {
            if present {
                for w in 0..3 {
                    signals.set_number(totals[w], f64::from(counts.total[w]));
                    signals.set_number(declines[w], f64::from(counts.declined[w]));
                }
            }
        }
        if keys.ip.is_some() {
            let names = [
                N::CardCountForIpAddressHourly,
                N::CardCountForIpAddressDaily,
                N::CardCountForIpAddressWeekly,
            ];
            for (w, name) in names.into_iter().enumerate() {
                signals.set_number(name, f64::from(self.cards_per_ip[w]));
            }
        }
        if keys.card.is_some() {
            let names = [
                N::IpCountForCardNumberHourly,
                N::IpCountForCardNumberDaily,
                N::IpCountForCardNumberWeekly,
            ];
            for (w, name) in names.into_iter().enumerate() {
                signals.set_number(name, f64::from(self.ips_per_card[w]));
            }
        }
    }
}

/// Counts of one key (a card, an address…).
#[derive(Debug, Default)]
struct Track {
    /// (minute, attempts, declines), oldest first, the past hour.
    minutes: VecDeque<(i64, u32, u32)>,
    /// (hour, attempts, declines), oldest first, the past week.
    hours: VecDeque<(i64, u32, u32)>,
    /// The other side (cards for an address, addresses for a card) → last seen.
    others: HashMap<String, i64>,
    last_seen: i64,
}

fn bump(buckets: &mut VecDeque<(i64, u32, u32)>, bucket: i64, declined: bool, keep: i64) {
    match buckets.iter_mut().rev().find(|b| b.0 == bucket) {
        Some(b) => {
            b.1 = b.1.saturating_add(1);
            b.2 = b.2.saturating_add(u32::from(declined));
        }
        None => {
            let at = buckets.partition_point(|b| b.0 < bucket);
            buckets.insert(at, (bucket, 1, u32::from(declined)));
        }
    }
    let newest = buckets.back().map_or(bucket, |b| b.0);
    while buckets.front().is_some_and(|b| b.0 <= newest - keep) {
        buckets.pop_front();
    }
}

impl Track {
    fn record(&mut self, at: i64, declined: bool, other: Option<&str>) {
        bump(&mut self.minutes, at.div_euclid(MINUTE), declined, 60);
        bump(&mut self.hours, at.div_euclid(HOUR), declined, 24 * 7);
        if let Some(other) = other {
            let seen = self.others.entry(other.to_owned()).or_insert(at);
            *seen = (*seen).max(at);
        }
        self.last_seen = self.last_seen.max(at);
        if self.others.len() > 64 && self.others.len().is_power_of_two() {
            let horizon = self.last_seen - WEEK;
            self.others.retain(|_, seen| *seen > horizon);
        }
    }

    fn counts(&self, now: i64) -> WindowCounts {
        let sum = |buckets: &VecDeque<(i64, u32, u32)>, newest: i64, span: i64| {
            buckets
                .iter()
                .filter(|b| b.0 <= newest && b.0 > newest - span)
                .fold((0u32, 0u32), |(t, d), b| {
                    (t.saturating_add(b.1), d.saturating_add(b.2))
                })
        };
        let hour = sum(&self.minutes, now.div_euclid(MINUTE), 60);
        let day = sum(&self.hours, now.div_euclid(HOUR), 24);
        let week = sum(&self.hours, now.div_euclid(HOUR), 24 * 7);
        WindowCounts {
            total: [hour.0, day.0, week.0],
            declined: [hour.1, day.1, week.1],
        }
    }

    fn distinct(&self, now: i64) -> [u32; 3] {
        let within = |span: i64| {
            let n = self
                .others
                .values()
                .filter(|&&seen| seen <= now && seen > now - span)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        [within(HOUR), within(DAY), within(WEEK)]
    }
}

#[derive(Debug, Default)]
struct Scoped {
    card: HashMap<String, Track>,
    ip: HashMap<String, Track>,
    email: HashMap<String, Track>,
    customer: HashMap<String, Track>,
}

/// Velocity counters for every account (each account-and-mode scope is counted
/// apart). Not synchronised: wrap it in a lock to share it.
#[derive(Debug, Default)]
pub struct Velocity {
    scopes: HashMap<String, Scoped>,
    recorded: u64,
}

impl Velocity {
    /// Empty counters.
    pub fn new() -> Velocity {
        Velocity::default()
    }

    /// The counts of earlier attempts, as of `now`, for an attempt with `keys` in
    /// `scope`.
    pub fn counts(&self, scope: &str, keys: &AttemptKeys, now: i64) -> VelocityCounts {
        let Some(s) = self.scopes.get(scope) else {
            return VelocityCounts::default();
        };
        fn of<'m>(map: &'m HashMap<String, Track>, key: &Option<String>) -> Option<&'m Track> {
            key.as_ref().and_then(|k| map.get(k))
        }
        let card = of(&s.card, &keys.card);
        let ip = of(&s.ip, &keys.ip);
        VelocityCounts {
            card: card.map(|t| t.counts(now)).unwrap_or_default(),
            ip: ip.map(|t| t.counts(now)).unwrap_or_default(),
            email: of(&s.email, &keys.email)
                .map(|t| t.counts(now))
                .unwrap_or_default(),
            customer: of(&s.customer, &keys.customer)
                .map(|t| t.counts(now))
                .unwrap_or_default(),
            cards_per_ip: ip.map(|t| t.distinct(now)).unwrap_or_default(),
            ips_per_card: card.map(|t| t.distinct(now)).unwrap_or_default(),
        }
    }

    /// Records an attempt at `at`; `declined` when the issuer declined it or it was
    /// blocked.
    pub fn record(&mut self, scope: &str, keys: &AttemptKeys, at: i64, declined: bool) {
        let s = self.scopes.entry(scope.to_owned()).or_default();
        let track = |map: &mut HashMap<String, Track>, key: &Option<String>, other| {
            if let Some(k) = key {
                map.entry(k.clone())
                    .or_default()
                    .record(at, declined, other);
            }
        };
        track(&mut s.card, &keys.card, keys.ip.as_deref());
        track(&mut s.ip, &keys.ip, keys.card.as_deref());
        track(&mut s.email, &keys.email, None);
        track(&mut s.customer, &keys.customer, None);
        self.recorded += 1;
        if self.recorded.is_multiple_of(SWEEP_EVERY) {
            self.sweep(at);
        }
    }

    /// Drops every track idle for a week as of `now`.
    pub fn sweep(&mut self, now: i64) {
        let horizon = now - WEEK;
        for s in self.scopes.values_mut() {
            for map in [&mut s.card, &mut s.ip, &mut s.email, &mut s.customer] {
                map.retain(|_, t| t.last_seen > horizon);
            }
        }
        self.scopes.retain(|_, s| {
            !(s.card.is_empty() && s.ip.is_empty() && s.email.is_empty() && s.customer.is_empty())
        });
    }

    /// How many keys are tracked, over every scope (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.scopes
            .values()
            .map(|s| s.card.len() + s.ip.len() + s.email.len() + s.customer.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(card: &str, ip: &str) -> AttemptKeys {
        AttemptKeys {
            card: Some(card.into()),
            ip: Some(ip.into()),
            email: None,
            customer: None,
        }
    }

    const T0: i64 = 1_790_000_000;

    #[test]
    fn counts_only_earlier_attempts_in_each_window() {
        let mut v = Velocity::new();
        let k = keys("fp1", "127.0.0.1");
        assert_eq!(v.counts("a", &k, T0), VelocityCounts::default());
        v.record("a", &k, T0, false);
        v.record("a", &k, T0 + 10, true);
        let c = v.counts("a", &k, T0 + 20);
        assert_eq!(c.card.total, [2, 2, 2]);
        assert_eq!(c.card.declined, [1, 1, 1]);
        assert_eq!(c.ip.total, [2, 2, 2]);
        assert_eq!(c.cards_per_ip, [1, 1, 1]);
        assert_eq!(c.ips_per_card, [1, 1, 1]);
    }

    #[test]
    fn windows_slide_with_the_injected_clock() {
        let mut v = Velocity::new();
        let k = keys("fp1", "127.0.0.1");
        v.record("a", &k, T0, true);
        // 59 minutes later: in every window.
        assert_eq!(v.counts("a", &k, T0 + 59 * MINUTE).card.total, [1, 1, 1]);
        // 61 minutes later: out of the hour, in the day and week.
        assert_eq!(v.counts("a", &k, T0 + 61 * MINUTE).card.total, [0, 1, 1]);
        // 23 hours: still the day.
        assert_eq!(v.counts("a", &k, T0 + 23 * HOUR).card.declined, [0, 1, 1]);
        // 25 hours: only the week.
        assert_eq!(v.counts("a", &k, T0 + 25 * HOUR).card.total, [0, 0, 1]);
        // 8 days: gone.
        assert_eq!(v.counts("a", &k, T0 + 8 * DAY).card.total, [0, 0, 0]);
    }

    #[test]
    fn distinct_cards_per_ip_and_ips_per_card() {
        let mut v = Velocity::new();
        for i in 0..5 {
            v.record("a", &keys(&format!("fp{i}"), "10.0.0.1"), T0 + i, true);
        }
        v.record("a", &keys("fp0", "10.0.0.2"), T0 + 2 * HOUR, false);
        let from_first = v.counts("a", &keys("fpX", "10.0.0.1"), T0 + 10);
        assert_eq!(from_first.cards_per_ip, [5, 5, 5]);
        assert_eq!(from_first.ip.declined, [5, 5, 5]);
        let card0 = v.counts("a", &keys("fp0", "10.0.0.3"), T0 + 2 * HOUR + 1);
        assert_eq!(card0.ips_per_card, [1, 2, 2]);
        assert_eq!(card0.card.total, [1, 2, 2]);
    }

    #[test]
    fn scopes_are_counted_apart() {
        let mut v = Velocity::new();
        let k = keys("fp1", "127.0.0.1");
        v.record("acct_a/test", &k, T0, false);
        assert_eq!(
            v.counts("acct_b/test", &k, T0 + 1),
            VelocityCounts::default()
        );
        assert_eq!(v.counts("acct_a/test", &k, T0 + 1).card.total, [1, 1, 1]);
    }

    #[test]
    fn missing_keys_stay_missing_in_signals() {
        let mut v = Velocity::new();
        let k = AttemptKeys {
            card: Some("fp1".into()),
            ..AttemptKeys::default()
        };
        v.record("a", &k, T0, false);
        let mut signals = Signals::new();
        v.counts("a", &k, T0 + 1).apply(&k, &mut signals);
        assert_eq!(
            signals.number(NumberAttribute::TotalChargesPerCardNumberHourly),
            Some(1.0)
        );
        assert_eq!(
            signals.number(NumberAttribute::TotalChargesPerIpAddressHourly),
            None
        );
        assert_eq!(
            signals.number(NumberAttribute::IpCountForCardNumberDaily),
            Some(0.0)
        );
    }

    #[test]
    fn idle_tracks_are_swept_after_a_week() {
        let mut v = Velocity::new();
        v.record("a", &keys("fp1", "127.0.0.1"), T0, false);
        v.record("a", &keys("fp2", "127.0.0.2"), T0 + 6 * DAY, false);
        v.sweep(T0 + 7 * DAY + 1);
        assert_eq!(v.tracked(), 2);
    }

    #[test]
    fn out_of_order_attempts_land_in_their_buckets() {
        let mut v = Velocity::new();
        let k = keys("fp1", "127.0.0.1");
        v.record("a", &k, T0 + 2 * HOUR, false);
        v.record("a", &k, T0, false);
        assert_eq!(v.counts("a", &k, T0 + 2 * HOUR + 1).card.total, [1, 2, 2]);
    }
}
