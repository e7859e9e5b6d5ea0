//! The risk engine: turns what is known about a payment attempt into [`Signals`]
//! (looking up the IP address's country, the email domain, the velocity counters),
//! scores them with the [`Model`], and remembers the attempt for the counters.

use std::net::IpAddr;
use std::sync::Mutex;

use crate::attribute::{BoolAttribute, NumberAttribute, StringAttribute};
use crate::email::DisposableDomains;
use crate::geo::IpCountries;
use crate::model::{self, Model};
use crate::signals::Signals;
use crate::velocity::{AttemptKeys, Velocity};

/// What the gateway knows about an attempt before it is authorized.
#[derive(Debug, Clone, Default)]
pub struct AttemptFacts<'a> {
    /// When, in unix seconds.
    pub at: i64,
    /// The amount in US dollars (major units), when it can be converted.
    pub amount_in_usd: Option<f64>,
    /// The card's fingerprint.
    pub card_fingerprint: Option<&'a str>,
    /// The issuing country.
    pub card_country: Option<&'a str>,
    /// `credit`, `debit`, `prepaid` or `unknown`.
    pub card_funding: Option<&'a str>,
    /// The card's brand.
    pub card_brand: Option<&'a str>,
    /// The billing address's country.
    pub billing_country: Option<&'a str>,
    /// The shopper's email address.
    pub email: Option<&'a str>,
    /// The shopper's IP address.
    pub ip: Option<IpAddr>,
    /// The Customer's id.
    pub customer: Option<&'a str>,
    /// When the Customer was created, in unix seconds.
    pub customer_created: Option<i64>,
    /// Whether 3-D Secure authenticated the cardholder for this attempt.
    pub three_d_secure: bool,
    /// The card network's risk score for the card, 0–100, when it gives one.
    pub network_risk_score: Option<u8>,
    /// The card network lists the card as used in fraud.
    pub known_fraud: bool,
}

/// The engine's view of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Every attribute a rule can read, `:risk_score:` and `:risk_level:` included.
    pub signals: Signals,
    /// What the attempt is counted under.
    pub keys: AttemptKeys,
    /// 0–100.
    pub score: u8,
    /// `normal`, `elevated` or `highest`.
    pub level: &'static str,
    /// The network lists the card as used in fraud: blocked whatever the rules say.
    pub known_fraud: bool,
}

/// The risk engine: model, reference data and velocity counters.
#[derive(Debug)]
pub struct Engine {
    model: Model,
    ip_countries: IpCountries,
    disposable: DisposableDomains,
    velocity: Mutex<Velocity>,
}

impl Engine {
    /// An engine with this model and reference data, and no history.
    pub fn new(model: Model, ip_countries: IpCountries, disposable: DisposableDomains) -> Engine {
        Engine {
            model,
            ip_countries,
            disposable,
            velocity: Mutex::new(Velocity::new()),
        }
    }

    /// The bundled model, test IP database and disposable-domain list.
    pub fn bundled() -> Engine {
        Engine::new(
            Model::bundled(),
            IpCountries::bundled_test(),
            DisposableDomains::bundled(),
        )
    }

    /// The model in use.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn velocity(&self) -> std::sync::MutexGuard<'_, Velocity> {
        // Counters are plain numbers; a panic elsewhere cannot leave them inconsistent.
        self.velocity.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Assesses an attempt in `scope` (an account and mode).
    pub fn assess(&self, scope: &str, facts: &AttemptFacts<'_>) -> Assessment {
        use NumberAttribute as N;
        use StringAttribute as S;
        let mut s = Signals::new();
        if let Some(usd) = facts.amount_in_usd {
            s.set_number(N::AmountInUsd, usd);
        }
        let seconds_of_day = facts.at.rem_euclid(86_400);
        s.set_number(N::HourOfDay, seconds_of_day as f64 / 3600.0);
        let strings = [
            (S::CardFingerprint, facts.card_fingerprint),
            (S::CardCountry, facts.card_country),
            (S::CardFunding, facts.card_funding),
            (S::CardBrand, facts.card_brand),
            (S::BillingAddressCountry, facts.billing_country),
        ];
        for (attribute, value) in strings {
            if let Some(v) = value {
                s.set_string(attribute, v);
            }
        }
        let email = facts.email.map(str::to_ascii_lowercase);
        if let Some(email) = &email {
            s.set_string(S::Email, email.as_str());
            if let Some((_, domain)) = email.rsplit_once('@') {
                s.set_string(S::EmailDomain, domain);
                s.set_bool(
                    BoolAttribute::IsDisposableEmail,
                    self.disposable.contains(domain),
                );
            }
        }
        if let Some(ip) = facts.ip {
            let ip = ip.to_canonical();
            s.set_string(S::IpAddress, ip.to_string());
            if let Some(country) = self.ip_countries.country(ip) {
                s.set_string(S::IpCountry, country);
            }
        }
        if let Some(created) = facts.customer_created {
            s.set_number(
                N::CustomerAgeInDays,
                (facts.at - created).max(0) as f64 / 86_400.0,
            );
        }
        s.set_bool(BoolAttribute::Is3dSecure, facts.three_d_secure);
        s.set_bool(BoolAttribute::Is3dSecureAuthenticated, facts.three_d_secure);
        if let Some(n) = facts.network_risk_score {
            s.set_number(N::NetworkRiskScore, f64::from(n));
        }
        let keys = AttemptKeys {
            card: facts.card_fingerprint.map(str::to_owned),
            ip: facts.ip.map(|ip| ip.to_canonical().to_string()),
            email,
            customer: facts.customer.map(str::to_owned),
        };
        self.velocity()
            .counts(scope, &keys, facts.at)
            .apply(&keys, &mut s);
        let score = self
            .model
            .score(&s)
            .max(facts.network_risk_score.unwrap_or(0).min(100));
        let score = if facts.known_fraud {
            score.max(model::HIGHEST_AT)
        } else {
            score
        };
        let level = model::level(score);
        s.set_number(N::RiskScore, f64::from(score));
        s.set_string(S::RiskLevel, level);
        Assessment {
            signals: s,
            keys,
            score,
            level,
            known_fraud: facts.known_fraud,
        }
    }

    /// Counts a decided attempt (`declined`: the issuer declined it or it was blocked).
    pub fn record(&self, scope: &str, keys: &AttemptKeys, at: i64, declined: bool) {
        self.velocity().record(scope, keys, at, declined);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000;

    fn facts(at: i64) -> AttemptFacts<'static> {
        AttemptFacts {
            at,
            amount_in_usd: Some(25.0),
            card_fingerprint: Some("fp"),
            card_country: Some("US"),
            card_funding: Some("credit"),
            email: Some("Shopper@Mailinator.com"),
            ip: Some("127.0.1.7".parse().unwrap()),
            ..AttemptFacts::default()
        }
    }

    #[test]
    fn signals_come_from_the_reference_data() {
        let e = Engine::bundled();
        let a = e.assess("acct/test", &facts(T0));
        let s = &a.signals;
        assert_eq!(s.string(StringAttribute::IpCountry), Some("GB"));
        assert_eq!(
            s.string(StringAttribute::EmailDomain),
            Some("mailinator.com")
        );
        assert_eq!(s.boolean(BoolAttribute::IsDisposableEmail), Some(true));
        assert_eq!(
            s.number(NumberAttribute::RiskScore),
            Some(f64::from(a.score))
        );
        assert_eq!(s.string(StringAttribute::RiskLevel), Some(a.level));
        assert_eq!(
            s.number(NumberAttribute::TotalChargesPerIpAddressHourly),
            Some(0.0)
        );
        assert_eq!(s.number(NumberAttribute::CustomerAgeInDays), None);
    }

    #[test]
    fn recorded_attempts_feed_the_next_assessment() {
        let e = Engine::bundled();
        let first = e.assess("acct/test", &facts(T0));
        e.record("acct/test", &first.keys, T0, true);
        let second = e.assess("acct/test", &facts(T0 + 5));
        let n = |a: NumberAttribute| second.signals.number(a);
        assert_eq!(
            n(NumberAttribute::TotalChargesPerCardNumberHourly),
            Some(1.0)
        );
        assert_eq!(
            n(NumberAttribute::DeclinedChargesPerIpAddressDaily),
            Some(1.0)
        );
        assert_eq!(n(NumberAttribute::TotalChargesPerEmailDaily), Some(1.0));
        assert_eq!(n(NumberAttribute::CardCountForIpAddressDaily), Some(1.0));
    }

    #[test]
    fn the_network_signal_raises_the_score() {
        let e = Engine::bundled();
        let elevated = e.assess(
            "a",
            &AttemptFacts {
                network_risk_score: Some(70),
                ..facts(T0)
            },
        );
        assert!(elevated.score >= 70);
        let fraud = e.assess(
            "a",
            &AttemptFacts {
                known_fraud: true,
                ..facts(T0)
            },
        );
        assert_eq!(fraud.level, "highest");
        assert!(fraud.known_fraud);
    }

    #[test]
    fn customer_age_is_in_days() {
        let e = Engine::bundled();
        let a = e.assess(
            "a",
            &AttemptFacts {
                customer: Some("cus_1"),
                customer_created: Some(T0 - 3 * 86_400),
                ..facts(T0)
            },
        );
        assert_eq!(
            a.signals.number(NumberAttribute::CustomerAgeInDays),
            Some(3.0)
        );
    }
}
