//! Screening one payment attempt: the risk engine's assessment (IP-country lookup,
//! disposable-domain check, velocity counters, the score model) followed by the
//! account's rules in Radar's order, on an engine already holding a busy history.
#![forbid(unsafe_code)]

use tessera_risk::{AttemptFacts, Engine, Rule, RuleSet};

fn main() {
    divan::main();
}

const NOW: i64 = 1_790_000_000;

/// An engine that has seen `history` earlier attempts from 500 cards and 200
/// addresses over the past day.
fn busy_engine(history: usize) -> Engine {
    let engine = Engine::bundled();
    for i in 0..history {
        let card = format!("fp{}", i % 500);
        let ip = format!("127.0.{}.{}", (i / 250) % 6, i % 200);
        let at = NOW - 86_000 + (i as i64 * 86_000 / history.max(1) as i64);
        let facts = AttemptFacts {
            at,
            card_fingerprint: Some(&card),
            ip: ip.parse().ok(),
            ..AttemptFacts::default()
        };
        let a = engine.assess("acct_bench/test", &facts);
        engine.record("acct_bench/test", &a.keys, at, i % 7 == 0);
    }
    engine
}

fn rules(count: usize) -> RuleSet {
    let texts = [
        "Block if :ip_country: != :card_country: AND :amount_in_usd: > 250",
        "Review if :total_charges_per_card_number_hourly: > 5",
        "Block if :card_count_for_ip_address_daily: >= 4",
        "Block if :is_disposable_email: AND :risk_score: > 50",
        "Request 3DS if :risk_level: = 'elevated'",
        "Allow if :card_fingerprint: IN ('fp1', 'fp2', 'fp3')",
        "Review if :declined_charges_per_ip_address_daily: > 2 OR :customer_age_in_days: < 1",
        "Block if :email_domain: IN ('mailinator.com', 'yopmail.com') AND NOT :is_3d_secure:",
    ];
    let mut set = RuleSet::new(
        texts
            .iter()
            .cycle()
            .take(count)
            .map(|t| Rule::parse(t).expect("a valid rule"))
            .collect(),
    );
    for d in RuleSet::radar_defaults().rules() {
        set.push(d.clone());
    }
    set
}

fn facts() -> AttemptFacts<'static> {
    AttemptFacts {
        at: NOW,
        amount_in_usd: Some(42.0),
        card_fingerprint: Some("fp42"),
        card_country: Some("US"),
        card_funding: Some("credit"),
        card_brand: Some("visa"),
        billing_country: Some("US"),
        email: Some("shopper@example.org"),
        ip: "127.0.1.42".parse().ok(),
        customer: Some("cus_bench"),
        customer_created: Some(NOW - 40 * 86_400),
        ..AttemptFacts::default()
    }
}

/// Assessment and rule evaluation for one attempt, with 10,000 earlier attempts in
/// the counters and 0, 8 or 32 account rules before Radar's two defaults.
#[divan::bench(args = [0, 8, 32])]
fn assess_and_evaluate(bencher: divan::Bencher, account_rules: usize) {
    let engine = busy_engine(10_000);
    let set = rules(account_rules);
    let lists = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    let facts = facts();
    bencher.bench_local(|| {
        let a = engine.assess("acct_bench/test", divan::black_box(&facts));
        set.evaluate(&a.signals, &lists)
    });
}

/// The score model alone.
#[divan::bench]
fn score_only(bencher: divan::Bencher) {
    let engine = busy_engine(0);
    let a = engine.assess("acct_bench/test", &facts());
    bencher.bench_local(|| engine.model().score(divan::black_box(&a.signals)));
}

/// Recording an attempt in the velocity counters.
#[divan::bench]
fn record(bencher: divan::Bencher) {
    let engine = busy_engine(10_000);
    let a = engine.assess("acct_bench/test", &facts());
    bencher.bench_local(|| engine.record("acct_bench/test", divan::black_box(&a.keys), NOW, false));
}
