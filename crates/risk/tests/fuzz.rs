//! Property tests: no input panics the parser; errors point inside the input; every
//! rule the grammar generates parses and survives a round trip through `Display`; and
//! evaluation obeys three-valued logic.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use tessera_risk::{
    Attribute, BoolAttribute, Lists, NumberAttribute, Rule, Signals, StringAttribute,
};

/// Parses `src`, checking the invariants that hold for every input.
fn parse_checked(src: &str) -> Option<Rule> {
    match Rule::parse(src) {
        Ok(rule) => {
            assert_eq!(rule.source(), src);
            let canonical = rule.to_string();
            let again = Rule::parse(&canonical)
                .unwrap_or_else(|e| panic!("canonical {canonical:?} of {src:?} fails: {e}"));
            assert_eq!(again.action(), rule.action(), "{src:?}");
            assert_eq!(again.condition(), rule.condition(), "{src:?}");
            Some(rule)
        }
        Err(e) => {
            assert!(e.position() <= src.len(), "{src:?}: {e}");
            assert!(src.is_char_boundary(e.position()), "{src:?}: {e}");
            assert!(!e.message().is_empty());
            assert_eq!(
                e.to_string(),
                format!("at {}: {}", e.position(), e.message())
            );
            None
        }
    }
}

/// Every token the language knows, plus near misses.
const TOKENS: &[&str] = &[
    "Block",
    "Review",
    "Allow",
    "Request",
    "3DS",
    "3D",
    "Secure",
    "if",
    "IF",
    "AND",
    "and",
    "OR",
    "NOT",
    "IN",
    "not",
    "in",
    "is_missing",
    "true",
    "false",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!",
    "<>",
    ":risk_score:",
    ":risk_level:",
    ":amount_in_usd:",
    ":card_country:",
    ":ip_country:",
    ":email_domain:",
    ":is_3d_secure:",
    ":is_disposable_email:",
    ":total_charges_per_card_number_hourly:",
    ":unknown_attr:",
    ":",
    "::",
    ":risk_score",
    "@disposable_domains",
    "@trusted_cards",
    "@",
    "'elevated'",
    "'highest'",
    "'US'",
    "'us'",
    "'",
    "'unterminated",
    "'a\\'b'",
    "'\\n'",
    "\"x\"",
    "0",
    "75",
    "-1",
    "99.5",
    "1.",
    "1.2.3",
    "-",
    "--5",
    "1e9",
    "é",
    "€",
    ";",
    "\u{0}",
    " ",
    "\t",
    "\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(TOKENS), prop::bool::ANY), 0..24).prop_map(
        |parts| {
            let mut s = String::new();
            for (token, space) in parts {
                s.push_str(token);
                if space {
                    s.push(' ');
                }
            }
            s
        },
    )
}

/// A token soup that starts like a rule, so the parser gets past the action.
fn rule_shaped_soup() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["Block if ", "review IF ", "Request 3DS if ", "Allow if ("][..]),
        token_soup(),
    )
        .prop_map(|(head, tail)| format!("{head}{tail}"))
}

fn quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A leaf condition that is well typed.
fn leaf() -> impl Strategy<Value = String> {
    let number = prop::sample::select(NumberAttribute::ALL);
    let op = prop::sample::select(&["=", "!=", "<", "<=", ">", ">="][..]);
    let eq = prop::sample::select(&["=", "!="][..]);
    let country = prop::sample::select(&["US", "FR", "DE", "GB"][..]);
    let free_string = prop::sample::select(
        &[
            StringAttribute::Email,
            StringAttribute::EmailDomain,
            StringAttribute::CardFingerprint,
            StringAttribute::CardBrand,
            StringAttribute::IpAddress,
        ][..],
    );
    let flag = prop::sample::select(BoolAttribute::ALL);
    let list = prop::sample::select(&["a", "b", "disposable_domains"][..]);
    prop_oneof![
        (number.clone(), op.clone(), -1000.0..1000.0f64)
            .prop_map(|(a, op, n)| format!("{a} {op} {n}")),
        (number, op, 0u32..200).prop_map(|(a, op, n)| format!("{n} {op} {a}")),
        (eq.clone(), country.clone()).prop_map(|(op, c)| format!(":card_country: {op} '{c}'")),
        eq.clone()
            .prop_map(|op| format!(":card_country: {op} :ip_country:")),
        (free_string.clone(), eq.clone(), ".{0,8}")
            .prop_map(|(a, op, s)| format!("{a} {op} {}", quote(&s))),
        (free_string, prop::bool::ANY, list)
            .prop_map(|(a, not, l)| format!("{a} {}IN @{l}", if not { "NOT " } else { "" })),
        (prop::bool::ANY, prop::collection::vec(country, 1..4)).prop_map(|(not, cs)| {
            let values: Vec<String> = cs.iter().map(|c| format!("'{c}'")).collect();
            format!(
                ":ip_country: {}IN ({})",
                if not { "NOT " } else { "" },
                values.join(", ")
            )
        }),
        prop::sample::select(&["normal", "elevated", "highest"][..])
            .prop_map(|l| format!(":risk_level: = '{l}'")),
        flag.clone().prop_map(|a| a.to_string()),
        (flag, eq, prop::bool::ANY).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        prop::sample::select(NumberAttribute::ALL).prop_map(|a| format!("is_missing({a})")),
    ]
}

/// A well-typed condition built from the grammar's connectives.
fn condition() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("NOT {c}")),
            inner.clone().prop_map(|c| format!("({c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{a} OR {b}")),
        ]
    })
}

fn valid_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "Block",
                "Review",
                "Allow",
                "Request 3DS",
                "request 3d secure",
            ][..],
        ),
        condition(),
    )
        .prop_map(|(action, c)| format!("{action} if {c}"))
}

/// Lists that hold an item or not by a hash, and know every list name.
struct HashLists(u64);

impl Lists for HashLists {
    fn contains(&self, list: &str, item: &str) -> Option<bool> {
        let mut h = DefaultHasher::new();
        (self.0, list, item).hash(&mut h);
        Some(h.finish().is_multiple_of(2))
    }
}

/// Signals with each attribute present (from a small pool of values, so that
/// comparisons hit) or, unless `complete`, perhaps missing.
fn signals(complete: bool) -> impl Strategy<Value = Signals> {
    let n = NumberAttribute::ALL.len();
    let s = StringAttribute::ALL.len();
    let b = BoolAttribute::ALL.len();
    let present = move || {
        if complete {
            Just(true).boxed()
        } else {
            prop::bool::weighted(0.7).boxed()
        }
    };
    (
        prop::collection::vec(
            (present(), prop::sample::select(&[-1.0, 0.0, 5.0, 75.0][..])),
            n,
        ),
        prop::collection::vec(
            (
                present(),
                prop::sample::select(&["US", "FR", "elevated", "highest", "", "x"][..]),
            ),
            s,
        ),
        prop::collection::vec((present(), prop::bool::ANY), b),
    )
        .prop_map(|(numbers, strings, bools)| {
            let mut signals = Signals::new();
            for (a, (p, v)) in NumberAttribute::ALL.iter().zip(numbers) {
                if p {
                    signals.set_number(*a, v);
                }
            }
            for (a, (p, v)) in StringAttribute::ALL.iter().zip(strings) {
                if p {
                    signals.set_string(*a, v);
                }
            }
            for (a, (p, v)) in BoolAttribute::ALL.iter().zip(bools) {
                if p {
                    signals.set_bool(*a, v);
                }
            }
            signals
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(src in any::<String>()) {
        parse_checked(&src);
    }

    #[test]
    fn printable_strings_never_panic(src in "\\PC{0,120}") {
        parse_checked(&src);
    }

    #[test]
    fn rule_prefixed_strings_never_panic(tail in "[ -~]{0,80}") {
        parse_checked(&format!("Block if {tail}"));
    }

    #[test]
    fn token_soups_never_panic(src in token_soup()) {
        parse_checked(&src);
    }

    #[test]
    fn rule_shaped_token_soups_never_panic(src in rule_shaped_soup()) {
        parse_checked(&src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_generated_rule_parses_and_round_trips(src in valid_rule()) {
        prop_assert!(parse_checked(&src).is_some(), "{src:?} did not parse");
    }

    #[test]
    fn a_rule_and_its_negation_never_both_match(
        src in condition(),
        s in signals(false),
        seed in any::<u64>(),
    ) {
        let rule = Rule::parse(&format!("Block if {src}")).unwrap();
        let negated = Rule::parse(&format!("Block if NOT ({src})")).unwrap();
        let lists = HashLists(seed);
        prop_assert!(!(rule.matches(&s, &lists) && negated.matches(&s, &lists)));
    }

    #[test]
    fn with_every_value_present_exactly_one_of_a_rule_and_its_negation_matches(
        src in condition(),
        s in signals(true),
        seed in any::<u64>(),
    ) {
        let rule = Rule::parse(&format!("Block if {src}")).unwrap();
        let negated = Rule::parse(&format!("Block if NOT ({src})")).unwrap();
        let lists = HashLists(seed);
        prop_assert_ne!(rule.matches(&s, &lists), negated.matches(&s, &lists));
    }

    #[test]
    fn the_canonical_form_evaluates_the_same(
        src in valid_rule(),
        s in signals(false),
        seed in any::<u64>(),
    ) {
        let rule = Rule::parse(&src).unwrap();
        let canonical = Rule::parse(&rule.to_string()).unwrap();
        let lists = HashLists(seed);
        prop_assert_eq!(rule.matches(&s, &lists), canonical.matches(&s, &lists));
    }
}

#[test]
fn every_attribute_name_is_in_the_soup_alphabet_or_generated() {
    // Keeps the generators honest: attributes the soups name must exist.
    for t in TOKENS {
        if let Some(name) = t.strip_prefix(':').and_then(|t| t.strip_suffix(':'))
            && !name.is_empty()
            && name != "unknown_attr"
        {
            assert!(Attribute::from_name(name).is_some(), "{name}");
        }
    }
}
