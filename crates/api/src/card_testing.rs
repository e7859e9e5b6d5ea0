//! Card-testing defence.
//!
//! Card testers run stolen numbers through a shop's browser-facing calls (publishable
//! key) to find the live ones, which shows as a burst of declines. Tessera counts the
//! declines answered to publishable-key calls per client IP and per account over a
//! sliding window. An IP past its threshold is refused on publishable-key calls for a
//! while; while the account as a whole is under attack, the per-IP threshold drops, so
//! an attacker spreading over addresses is stopped sooner. Shoppers on other addresses
//! keep paying. Each detection is recorded as a `card_testing.detected` event.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Thresholds of the defence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CardTestingPolicy {
    /// The window declines are counted over.
    pub window: Duration,
    /// Declines from one IP within the window that block it.
    pub ip_declines: u32,
    /// Declines across an account within the window that mean it is under attack.
    pub account_declines: u32,
    /// The per-IP threshold while the account is under attack.
    pub ip_declines_under_attack: u32,
    /// How long a blocked IP stays blocked.
    pub block_for: Duration,
}

impl Default for CardTestingPolicy {
    fn default() -> Self {
        CardTestingPolicy {
            window: Duration::from_secs(600),
            ip_declines: 10,
            account_declines: 50,
            ip_declines_under_attack: 3,
            block_for: Duration::from_secs(3600),
        }
    }
}

/// A detection to report to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detection {
    pub ip: IpAddr,
    pub declines: u32,
    pub under_attack: bool,
    pub blocked_for: Duration,
}

#[derive(Default)]
struct State {
    ip_declines: HashMap<(String, IpAddr), VecDeque<Instant>>,
    account_declines: HashMap<String, VecDeque<Instant>>,
    blocked: HashMap<(String, IpAddr), Instant>,
}

/// Bounds memory: beyond this many tracked addresses, quiet ones are forgotten.
const TRACKED_MAX: usize = 100_000;

fn trim(window: &mut VecDeque<Instant>, since: Instant) {
    while window.front().is_some_and(|t| *t < since) {
        window.pop_front();
    }
}

/// The defence's state, per process.
pub(crate) struct CardTestingGuard {
    policy: CardTestingPolicy,
    state: Mutex<State>,
}

impl CardTestingGuard {
    pub(crate) fn new(policy: CardTestingPolicy) -> CardTestingGuard {
        CardTestingGuard {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether publishable-key calls from `ip` to `account` are refused now; if so, for
    /// how many more seconds.
    pub(crate) fn blocked(&self, account: &str, ip: IpAddr, now: Instant) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = state.blocked.get(&(account.to_owned(), ip))?;
        (*until > now).then(|| until.duration_since(now).as_secs().max(1))
    }

    /// Counts a decline answered to a publishable-key call; returns a detection when this
    /// decline blocks the address.
    pub(crate) fn record_decline(
        &self,
        account: &str,
        ip: IpAddr,
        now: Instant,
    ) -> Option<Detection> {
        let p = self.policy;
        let since = now.checked_sub(p.window).unwrap_or(now);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.ip_declines.len() > TRACKED_MAX {
            state
                .ip_declines
                .retain(|_, w| w.back().is_some_and(|t| *t >= since));
            state.blocked.retain(|_, until| *until > now);
        }
        let account_window = state
            .account_declines
            .entry(account.to_owned())
            .or_default();
        account_window.push_back(now);
        trim(account_window, since);
        let under_attack = account_window.len() as u32 >= p.account_declines;
        let key = (account.to_owned(), ip);
        let ip_window = state.ip_declines.entry(key.clone()).or_default();
        ip_window.push_back(now);
        trim(ip_window, since);
        let declines = ip_window.len() as u32;
        let threshold = if under_attack {
            p.ip_declines_under_attack
        } else {
            p.ip_declines
        };
        if declines < threshold || state.blocked.get(&key).is_some_and(|u| *u > now) {
            return None;
        }
        state.blocked.insert(key, now + p.block_for);
        Some(Detection {
            ip,
            declines,
            under_attack,
            blocked_for: p.block_for,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CardTestingPolicy {
        CardTestingPolicy {
            window: Duration::from_secs(60),
            ip_declines: 3,
            account_declines: 5,
            ip_declines_under_attack: 2,
            block_for: Duration::from_secs(30),
        }
    }

    #[test]
    fn an_address_is_blocked_at_its_threshold_and_released_later() {
        let guard = CardTestingGuard::new(policy());
        let t0 = Instant::now();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(guard.record_decline("acct", a, t0).is_none());
        assert!(guard.record_decline("acct", a, t0).is_none());
        let detection = guard
            .record_decline("acct", a, t0)
            .expect("third decline blocks");
        assert_eq!(detection.declines, 3);
        assert!(guard.blocked("acct", a, t0).is_some());
        assert!(
            guard.blocked("acct", b, t0).is_none(),
            "other addresses are not affected"
        );
        assert!(
            guard.blocked("other_acct", a, t0).is_none(),
            "other accounts are not affected"
        );
        assert!(
            guard.record_decline("acct", a, t0).is_none(),
            "reported once per block"
        );
        assert!(
            guard
                .blocked("acct", a, t0 + Duration::from_secs(31))
                .is_none()
        );
    }

    #[test]
    fn declines_outside_the_window_do_not_count() {
        let guard = CardTestingGuard::new(policy());
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        guard.record_decline("acct", a, t0);
        guard.record_decline("acct", a, t0);
        assert!(
            guard
                .record_decline("acct", a, t0 + Duration::from_secs(61))
                .is_none()
        );
    }

    #[test]
    fn an_account_under_attack_lowers_the_per_address_threshold() {
        let guard = CardTestingGuard::new(policy());
        let t0 = Instant::now();
        for i in 0..5u8 {
            let ip = IpAddr::from([192, 0, 2, i]);
            assert!(guard.record_decline("acct", ip, t0).is_none());
        }
        // The account has now seen 5 declines: a second decline from any address blocks it.
        let ip = IpAddr::from([192, 0, 2, 0]);
        let detection = guard
            .record_decline("acct", ip, t0)
            .expect("blocked at the lower threshold");
        assert!(detection.under_attack);
    }
}
