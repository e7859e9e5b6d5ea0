//! Evaluation: comparisons, lists, precedence, missing values, and the order in which
//! a rule set's rules decide.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tessera_risk::{
    Action, Attribute, BoolAttribute as B, Decision, Lists, NumberAttribute as N, Rule, RuleSet,
    Signals, StringAttribute as S,
};

type Map = HashMap<String, HashSet<String>>;

fn no_lists() -> Map {
    Map::new()
}

fn lists() -> Map {
    let mut m = Map::new();
    m.insert(
        "disposable_domains".into(),
        ["mailinator.com", "10minutemail.com"]
            .map(String::from)
            .into(),
    );
    m.insert("trusted_cards".into(), ["fp_good"].map(String::from).into());
    m.insert("empty".into(), HashSet::new());
    m
}

fn matches(src: &str, signals: &Signals) -> bool {
    Rule::parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .matches(signals, &lists())
}

fn rules(sources: &[&str]) -> RuleSet {
    sources
        .iter()
        .map(|s| Rule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

#[test]
fn number_comparisons() {
    let s = Signals::new().with_number(N::RiskScore, 75.0);
    for (src, expected) in [
        ("Block if :risk_score: > 75", false),
        ("Block if :risk_score: >= 75", true),
        ("Block if :risk_score: < 75", false),
        ("Block if :risk_score: <= 75", true),
        ("Block if :risk_score: = 75", true),
        ("Block if :risk_score: = 75.0", true),
        ("Block if :risk_score: != 75", false),
        ("Block if :risk_score: > 74.5", true),
        ("Block if :risk_score: > -1", true),
        ("Block if 80 > :risk_score:", true),
        ("Block if :risk_score: IN (1, 75)", true),
        ("Block if :risk_score: NOT IN (1, 75)", false),
    ] {
        assert_eq!(matches(src, &s), expected, "{src}");
    }
}

#[test]
fn string_and_attribute_comparisons() {
    let s = Signals::new()
        .with_string(S::CardCountry, "US")
        .with_string(S::IpCountry, "FR")
        .with_string(S::RiskLevel, "elevated")
        .with_string(S::Email, "o'brien@example.com");
    assert!(matches("Review if :card_country: != :ip_country:", &s));
    assert!(!matches("Review if :card_country: = :ip_country:", &s));
    assert!(matches("Review if :card_country: = 'US'", &s));
    assert!(matches("Request 3DS if :risk_level: = 'elevated'", &s));
    assert!(!matches("Block if :risk_level: = 'highest'", &s));
    assert!(matches("Block if :card_country: IN ('DE', 'US')", &s));
    assert!(matches("Block if :ip_country: NOT IN ('DE', 'US')", &s));
    assert!(matches("Block if :email: = 'o\\'brien@example.com'", &s));
    // Exact, case-sensitive comparison.
    assert!(!matches("Block if :email: = 'O\\'BRIEN@example.com'", &s));

    let same = Signals::new()
        .with_string(S::CardCountry, "DE")
        .with_string(S::IpCountry, "DE");
    assert!(!matches("Review if :card_country: != :ip_country:", &same));
}

#[test]
fn booleans() {
    let on = Signals::new().with_bool(B::Is3dSecure, true);
    let off = Signals::new().with_bool(B::Is3dSecure, false);
    for (src, when_on, when_off) in [
        ("Block if :is_3d_secure:", true, false),
        ("Block if NOT :is_3d_secure:", false, true),
        ("Block if :is_3d_secure: = true", true, false),
        ("Block if :is_3d_secure: != true", false, true),
        ("Block if :is_3d_secure: = false", false, true),
    ] {
        assert_eq!(matches(src, &on), when_on, "{src} on");
        assert_eq!(matches(src, &off), when_off, "{src} off");
    }
}

#[test]
fn the_issue_examples() {
    let high_velocity = Signals::new()
        .with_number(N::TotalChargesPerCardNumberHourly, 6.0)
        .with_number(N::AmountInUsd, 150.0);
    let rule = "Block if :total_charges_per_card_number_hourly: > 5 AND :amount_in_usd: > 100";
    assert!(matches(rule, &high_velocity));
    assert!(!matches(
        rule,
        &high_velocity.clone().with_number(N::AmountInUsd, 99.0)
    ));

    let rule = "Block if NOT :is_3d_secure: AND :amount_in_usd: >= 500";
    let big = Signals::new().with_number(N::AmountInUsd, 500.0);
    assert!(matches(rule, &big.clone().with_bool(B::Is3dSecure, false)));
    assert!(!matches(rule, &big.clone().with_bool(B::Is3dSecure, true)));
    // 3-D Secure status unknown: not blocked.
    assert!(!matches(rule, &big));
}

#[test]
fn lists_in_and_not_in() {
    let disposable = Signals::new().with_string(S::EmailDomain, "mailinator.com");
    let normal = Signals::new().with_string(S::EmailDomain, "example.com");
    let rule = "Block if :email_domain: IN @disposable_domains";
    assert!(matches(rule, &disposable));
    assert!(!matches(rule, &normal));
    let rule = "Block if :email_domain: NOT IN @disposable_domains";
    assert!(!matches(rule, &disposable));
    assert!(matches(rule, &normal));
    let rule = "Block if NOT :email_domain: IN @disposable_domains";
    assert!(!matches(rule, &disposable));
    assert!(matches(rule, &normal));

    let trusted = Signals::new().with_string(S::CardFingerprint, "fp_good");
    assert!(matches(
        "Allow if :card_fingerprint: IN @trusted_cards",
        &trusted
    ));
    assert!(!matches("Allow if :card_fingerprint: IN @empty", &trusted));
    assert!(matches(
        "Allow if :card_fingerprint: NOT IN @empty",
        &trusted
    ));
}

#[test]
fn an_unknown_list_matches_neither_in_nor_not_in() {
    let s = Signals::new().with_string(S::EmailDomain, "example.com");
    assert!(!matches("Block if :email_domain: IN @no_such_list", &s));
    assert!(!matches("Block if :email_domain: NOT IN @no_such_list", &s));
    // …and with no lists at all.
    let rule = Rule::parse("Block if :email_domain: NOT IN @x").unwrap();
    assert!(!rule.matches(&s, &no_lists()));
}

#[test]
fn a_rule_names_each_list_it_looks_up_and_the_attribute_it_looks_up() {
    let rule = Rule::parse(
        "Block if (:email: IN @bad or :ip_address: IN @bad) and not (:email: IN @bad) \
         and :card_country: NOT IN @countries and :card_country: IN ('US')",
    )
    .unwrap();
    assert_eq!(rule.lists(), ["bad", "countries"]);
    assert_eq!(
        rule.list_lookups(),
        [
            ("bad", Attribute::String(S::Email)),
            ("bad", Attribute::String(S::IpAddress)),
            ("countries", Attribute::String(S::CardCountry)),
        ]
    );
    assert_eq!(
        Rule::parse("Block if :amount_in_usd: > 5")
            .unwrap()
            .list_lookups(),
        []
    );
}

#[test]
fn list_implementations() {
    let rule = Rule::parse("Block if :email_domain: IN @bad").unwrap();
    let s = Signals::new().with_string(S::EmailDomain, "evil.test");

    let btree: BTreeMap<String, BTreeSet<String>> =
        [("bad".to_owned(), ["evil.test".to_owned()].into())].into();
    assert!(rule.matches(&s, &btree));

    let borrowed: HashMap<&str, HashSet<&str>> = [("bad", ["evil.test"].into())].into();
    assert!(rule.matches(&s, &borrowed));

    /// Case-insensitive matching, written by a caller.
    struct Lowercase(Map);
    impl Lists for Lowercase {
        fn contains(&self, list: &str, item: &str) -> Option<bool> {
            self.0.contains(list, &item.to_ascii_lowercase())
        }
    }
    let mut m = Map::new();
    m.insert("bad".into(), ["evil.test".into()].into());
    let upper = Signals::new().with_string(S::EmailDomain, "EVIL.test");
    assert!(!rule.matches(&upper, &m));
    assert!(rule.matches(&upper, &Lowercase(m)));
}

#[test]
fn precedence_decides_the_result() {
    let (a, b, c) = (B::Is3dSecure, B::IsDisposableEmail, B::IsAnonymousIp);
    let signals = |x: bool, y: bool, z: bool| {
        Signals::new()
            .with_bool(a, x)
            .with_bool(b, y)
            .with_bool(c, z)
    };
    let or_and = "Block if :is_3d_secure: OR :is_disposable_email: AND :is_anonymous_ip:";
    let and_or = "Block if :is_3d_secure: AND :is_disposable_email: OR :is_anonymous_ip:";
    let not_and = "Block if NOT :is_3d_secure: AND :is_disposable_email:";
    let not_or = "Block if NOT :is_3d_secure: OR :is_disposable_email:";
    let grouped = "Block if (:is_3d_secure: OR :is_disposable_email:) AND :is_anonymous_ip:";
    let not_grouped = "Block if NOT (:is_3d_secure: AND :is_disposable_email:)";
    for x in [false, true] {
        for y in [false, true] {
            for z in [false, true] {
                let s = signals(x, y, z);
                assert_eq!(matches(or_and, &s), x || (y && z));
                assert_eq!(matches(and_or, &s), (x && y) || z);
                assert_eq!(matches(not_and, &s), !x && y);
                assert_eq!(matches(not_or, &s), !x || y);
                assert_eq!(matches(grouped, &s), (x || y) && z);
                assert_eq!(matches(not_grouped, &s), !(x && y));
            }
        }
    }
}

#[test]
fn a_comparison_with_a_missing_value_never_matches() {
    let empty = Signals::new();
    for src in [
        "Block if :risk_score: > 0",
        "Block if :risk_score: <= 0",
        "Block if :risk_score: != 5",
        "Block if :email_domain: != 'a.com'",
        "Block if :card_country: != :ip_country:",
        "Block if :is_3d_secure:",
        "Block if :is_3d_secure: = false",
        "Block if :email_domain: IN @disposable_domains",
        "Block if :email_domain: NOT IN @disposable_domains",
        "Block if :card_country: NOT IN ('US')",
        // Unknown propagates through NOT (Radar's current semantics).
        "Block if NOT :email_domain: = 'a.com'",
        "Block if NOT :is_3d_secure:",
        "Block if NOT NOT :is_3d_secure:",
        "Block if NOT (:risk_score: > 1 AND :amount_in_usd: > 1)",
    ] {
        assert!(!matches(src, &empty), "{src}");
    }
    // One side of a two-attribute comparison missing.
    let half = Signals::new().with_string(S::CardCountry, "US");
    assert!(!matches("Block if :card_country: != :ip_country:", &half));
    assert!(!matches("Block if :card_country: = :ip_country:", &half));
}

#[test]
fn unknown_propagates_like_kleene_logic() {
    // :risk_score: missing (unknown); :is_3d_secure: true.
    let s = Signals::new().with_bool(B::Is3dSecure, true);
    // true OR unknown = true; false OR unknown = unknown.
    assert!(matches("Block if :is_3d_secure: OR :risk_score: > 1", &s));
    assert!(!matches(
        "Block if NOT :is_3d_secure: OR :risk_score: > 1",
        &s
    ));
    // false AND unknown = false, so its negation matches; true AND unknown = unknown.
    assert!(matches(
        "Block if NOT (NOT :is_3d_secure: AND :risk_score: > 1)",
        &s
    ));
    assert!(!matches(
        "Block if NOT (:is_3d_secure: AND :risk_score: > 1)",
        &s
    ));
    assert!(!matches("Block if :is_3d_secure: AND :risk_score: > 1", &s));
}

#[test]
fn is_missing_handles_missing_values_explicitly() {
    let rule = "Block if is_missing(:email_domain:) OR NOT :email_domain: = 'a.com'";
    assert!(matches(rule, &Signals::new()));
    assert!(matches(
        rule,
        &Signals::new().with_string(S::EmailDomain, "b.com")
    ));
    assert!(!matches(
        rule,
        &Signals::new().with_string(S::EmailDomain, "a.com")
    ));
    assert!(!matches(
        "Block if NOT is_missing(:risk_score:)",
        &Signals::new()
    ));
}

#[test]
fn nan_and_empty_strings() {
    let nan = Signals::new().with_number(N::RiskScore, f64::NAN);
    assert!(nan.is_missing(N::RiskScore));
    assert!(!matches("Block if :risk_score: != 1", &nan));
    assert!(matches("Block if is_missing(:risk_score:)", &nan));

    let empty = Signals::new().with_string(S::Email, "");
    assert!(!empty.is_missing(S::Email));
    assert!(matches("Block if :email: = ''", &empty));
}

#[test]
fn signals_set_and_clear() {
    let mut s = Signals::new();
    s.set_number(N::AmountInUsd, 10.0)
        .set_string(S::CvcCheck, "fail")
        .set_bool(B::IsAnonymousIp, true);
    assert_eq!(s.number(N::AmountInUsd), Some(10.0));
    assert_eq!(s.string(S::CvcCheck), Some("fail"));
    assert_eq!(s.boolean(B::IsAnonymousIp), Some(true));
    s.clear(S::CvcCheck).clear(N::AmountInUsd);
    assert!(s.is_missing(S::CvcCheck));
    assert!(s.is_missing(N::AmountInUsd));
    assert!(!s.is_missing(B::IsAnonymousIp));
}

fn decide(rule_set: &RuleSet, signals: &Signals) -> Decision {
    rule_set.evaluate(signals, &lists())
}

#[test]
fn order_allow_beats_block_beats_review_whatever_the_rule_order() {
    let set = rules(&[
        "Review if :amount_in_usd: > 0",
        "Block if :amount_in_usd: > 1000",
        "Allow if :amount_in_usd: < 10",
        "Allow if :card_fingerprint: IN @trusted_cards",
    ]);
    let small = Signals::new().with_number(N::AmountInUsd, 5.0);
    assert_eq!(
        decide(&set, &small),
        Decision {
            action: Some(Action::Allow),
            rule: Some("Allow if :amount_in_usd: < 10".into()),
            request_3ds: false,
            request_3ds_rule: None,
        }
    );
    let big = Signals::new().with_number(N::AmountInUsd, 1500.0);
    let d = decide(&set, &big);
    assert_eq!(d.action, Some(Action::Block));
    assert_eq!(d.rule.as_deref(), Some("Block if :amount_in_usd: > 1000"));
    // A trusted card is allowed even over the block threshold.
    let trusted = big.clone().with_string(S::CardFingerprint, "fp_good");
    let d = decide(&set, &trusted);
    assert_eq!(d.action, Some(Action::Allow));
    assert_eq!(
        d.rule.as_deref(),
        Some("Allow if :card_fingerprint: IN @trusted_cards")
    );
    let medium = Signals::new().with_number(N::AmountInUsd, 50.0);
    let d = decide(&set, &medium);
    assert_eq!(d.action, Some(Action::Review));
    assert_eq!(d.rule.as_deref(), Some("Review if :amount_in_usd: > 0"));
    // Nothing matches: no action.
    assert_eq!(decide(&set, &Signals::new()), Decision::default());
}

#[test]
fn within_a_class_the_first_matching_rule_is_reported() {
    let set = rules(&[
        "Block if :risk_score: > 90",
        "Block if :risk_score: > 50",
        "Block if :amount_in_usd: > 1",
    ]);
    let s = Signals::new()
        .with_number(N::RiskScore, 95.0)
        .with_number(N::AmountInUsd, 5.0);
    assert_eq!(
        decide(&set, &s).rule.as_deref(),
        Some("Block if :risk_score: > 90")
    );
    let s = s.with_number(N::RiskScore, 60.0);
    assert_eq!(
        decide(&set, &s).rule.as_deref(),
        Some("Block if :risk_score: > 50")
    );
}

#[test]
fn request_3ds_is_reported_alongside_and_does_not_stop_evaluation() {
    let set = rules(&[
        "Block if :risk_level: = 'highest'",
        "Review if :risk_level: = 'elevated'",
        "Request 3DS if :risk_level: = 'elevated'",
        "Request 3D Secure if :amount_in_usd: > 1000",
        "Allow if :card_fingerprint: IN @trusted_cards",
    ]);
    let elevated = Signals::new().with_string(S::RiskLevel, "elevated");
    assert_eq!(
        decide(&set, &elevated),
        Decision {
            action: Some(Action::Review),
            rule: Some("Review if :risk_level: = 'elevated'".into()),
            request_3ds: true,
            request_3ds_rule: Some("Request 3DS if :risk_level: = 'elevated'".into()),
        }
    );
    // With an Allow match, 3DS is still requested (evaluated first), and Allow decides.
    let trusted_big = Signals::new()
        .with_number(N::AmountInUsd, 5000.0)
        .with_string(S::CardFingerprint, "fp_good");
    let d = decide(&set, &trusted_big);
    assert_eq!(d.action, Some(Action::Allow));
    assert!(d.request_3ds);
    assert_eq!(
        d.request_3ds_rule.as_deref(),
        Some("Request 3D Secure if :amount_in_usd: > 1000")
    );
    // 3DS alone: no verdict.
    let big = Signals::new().with_number(N::AmountInUsd, 5000.0);
    let d = decide(&set, &big);
    assert_eq!(d.action, None);
    assert_eq!(d.rule, None);
    assert!(d.request_3ds);
    // Block and 3DS together.
    let highest = big.with_string(S::RiskLevel, "highest");
    let d = decide(&set, &highest);
    assert_eq!(d.action, Some(Action::Block));
    assert!(d.request_3ds);
}

#[test]
fn radar_defaults() {
    let set = RuleSet::radar_defaults().clone();
    let level = |l: &str| Signals::new().with_string(S::RiskLevel, l);
    assert_eq!(decide(&set, &level("highest")).action, Some(Action::Block));
    assert_eq!(
        decide(&set, &level("highest")).rule.as_deref(),
        Some(tessera_risk::DEFAULT_BLOCK_RULE)
    );
    assert_eq!(
        decide(&set, &level("elevated")).action,
        Some(Action::Review)
    );
    assert_eq!(
        decide(&set, &level("elevated")).rule.as_deref(),
        Some(tessera_risk::DEFAULT_REVIEW_RULE)
    );
    assert_eq!(decide(&set, &level("normal")).action, None);
    assert_eq!(decide(&set, &Signals::new()).action, None);

    let mut with_allow = set.clone();
    with_allow.push(Rule::parse("Allow if :card_country: = 'US'").unwrap());
    let us_highest = level("highest").with_string(S::CardCountry, "US");
    assert_eq!(decide(&with_allow, &us_highest).action, Some(Action::Allow));
}

#[test]
fn evaluation_order_constant() {
    assert_eq!(
        Action::EVALUATION_ORDER,
        [
            Action::Request3ds,
            Action::Allow,
            Action::Block,
            Action::Review
        ]
    );
    assert_eq!(Action::Request3ds.to_string(), "Request 3DS");
}
