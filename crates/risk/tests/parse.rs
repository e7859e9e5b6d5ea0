//! The parser accepts every construct of the grammar and builds the expected tree.

use tessera_risk::{
    Action, Attribute, BoolAttribute, CompareOp, Condition, NumberAttribute, Operand, Rule, Set,
    StringAttribute, Value,
};

fn parse(src: &str) -> Rule {
    Rule::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

/// The canonical form of the rule's condition (only the parentheses precedence needs).
fn canonical(src: &str) -> String {
    parse(src).condition().to_string()
}

fn num(a: NumberAttribute) -> Operand {
    Operand::Attribute(Attribute::Number(a))
}

fn string(a: StringAttribute) -> Operand {
    Operand::Attribute(Attribute::String(a))
}

#[test]
fn every_action_keyword_in_any_case() {
    for (src, action) in [
        ("Block if :is_3d_secure:", Action::Block),
        ("block if :is_3d_secure:", Action::Block),
        ("BLOCK IF :is_3d_secure:", Action::Block),
        ("Review if :is_3d_secure:", Action::Review),
        ("review If :is_3d_secure:", Action::Review),
        ("Allow if :is_3d_secure:", Action::Allow),
        ("ALLOW if :is_3d_secure:", Action::Allow),
        ("Request 3DS if :is_3d_secure:", Action::Request3ds),
        ("request 3ds if :is_3d_secure:", Action::Request3ds),
        ("Request 3D Secure if :is_3d_secure:", Action::Request3ds),
        ("REQUEST 3d secure IF :is_3d_secure:", Action::Request3ds),
    ] {
        assert_eq!(parse(src).action(), action, "{src}");
    }
}

#[test]
fn the_issue_examples() {
    assert_eq!(
        parse("Block if :risk_score: > 75").condition(),
        &Condition::Compare {
            left: num(NumberAttribute::RiskScore),
            op: CompareOp::Gt,
            right: Operand::Literal(Value::Number(75.0)),
        }
    );
    assert_eq!(
        parse("Review if :card_country: != :ip_country:").condition(),
        &Condition::Compare {
            left: string(StringAttribute::CardCountry),
            op: CompareOp::Ne,
            right: string(StringAttribute::IpCountry),
        }
    );
    assert_eq!(
        parse("Block if :email_domain: IN @disposable_domains").condition(),
        &Condition::In {
            attribute: Attribute::String(StringAttribute::EmailDomain),
            set: Set::List("disposable_domains".into()),
            negated: false,
        }
    );
    assert_eq!(
        parse("Allow if :card_fingerprint: IN @trusted_cards").condition(),
        &Condition::In {
            attribute: Attribute::String(StringAttribute::CardFingerprint),
            set: Set::List("trusted_cards".into()),
            negated: false,
        }
    );
    assert_eq!(
        parse("Block if :total_charges_per_card_number_hourly: > 5 AND :amount_in_usd: > 100")
            .condition(),
        &Condition::And(vec![
            Condition::Compare {
                left: num(NumberAttribute::TotalChargesPerCardNumberHourly),
                op: CompareOp::Gt,
                right: Operand::Literal(Value::Number(5.0)),
            },
            Condition::Compare {
                left: num(NumberAttribute::AmountInUsd),
                op: CompareOp::Gt,
                right: Operand::Literal(Value::Number(100.0)),
            },
        ])
    );
    let r = parse("Request 3DS if :risk_level: = 'elevated'");
    assert_eq!(r.action(), Action::Request3ds);
    assert_eq!(
        r.condition(),
        &Condition::Compare {
            left: string(StringAttribute::RiskLevel),
            op: CompareOp::Eq,
            right: Operand::Literal(Value::String("elevated".into())),
        }
    );
    assert_eq!(
        parse("Block if NOT :is_3d_secure: AND :amount_in_usd: >= 500").condition(),
        &Condition::And(vec![
            Condition::Not(Box::new(Condition::Flag(BoolAttribute::Is3dSecure))),
            Condition::Compare {
                left: num(NumberAttribute::AmountInUsd),
                op: CompareOp::Ge,
                right: Operand::Literal(Value::Number(500.0)),
            },
        ])
    );
}

#[test]
fn every_comparison_operator() {
    for (sym, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ] {
        for src in [
            format!("Block if :risk_score: {sym} 10"),
            format!("Block if :risk_score:{sym}10"),
        ] {
            assert_eq!(
                parse(&src).condition(),
                &Condition::Compare {
                    left: num(NumberAttribute::RiskScore),
                    op,
                    right: Operand::Literal(Value::Number(10.0)),
                },
                "{src}"
            );
        }
    }
}

#[test]
fn numbers() {
    for (text, value) in [
        ("0", 0.0),
        ("75", 75.0),
        ("99.5", 99.5),
        ("-3", -3.0),
        ("-0.25", -0.25),
        ("007", 7.0),
        ("1000000000000", 1e12),
    ] {
        let r = parse(&format!("Block if :amount_in_usd: >= {text}"));
        let Condition::Compare { right, .. } = r.condition() else {
            panic!("not a comparison")
        };
        assert_eq!(right, &Operand::Literal(Value::Number(value)), "{text}");
    }
}

#[test]
fn strings_and_escapes() {
    for (text, value) in [
        ("'gmail.com'", "gmail.com"),
        ("''", ""),
        ("'it\\'s'", "it's"),
        ("'back\\\\slash'", "back\\slash"),
        ("'spaces and AND OR'", "spaces and AND OR"),
        ("'ünïcødé'", "ünïcødé"),
    ] {
        let r = parse(&format!("Block if :email_domain: = {text}"));
        let Condition::Compare { right, .. } = r.condition() else {
            panic!("not a comparison")
        };
        assert_eq!(
            right,
            &Operand::Literal(Value::String(value.into())),
            "{text}"
        );
    }
}

#[test]
fn booleans() {
    assert_eq!(
        parse("Block if :is_disposable_email:").condition(),
        &Condition::Flag(BoolAttribute::IsDisposableEmail)
    );
    for (text, b) in [
        ("true", true),
        ("TRUE", true),
        ("false", false),
        ("False", false),
    ] {
        assert_eq!(
            parse(&format!("Block if :is_3d_secure: = {text}")).condition(),
            &Condition::Compare {
                left: Operand::Attribute(Attribute::Bool(BoolAttribute::Is3dSecure)),
                op: CompareOp::Eq,
                right: Operand::Literal(Value::Bool(b)),
            }
        );
    }
    parse("Block if :is_3d_secure: != :is_anonymous_ip:");
}

#[test]
fn literal_on_the_left() {
    assert_eq!(
        parse("Block if 75 < :risk_score:").condition(),
        &Condition::Compare {
            left: Operand::Literal(Value::Number(75.0)),
            op: CompareOp::Lt,
            right: num(NumberAttribute::RiskScore),
        }
    );
}

#[test]
fn every_attribute_is_readable_by_name() {
    for a in Attribute::all() {
        let src = match a {
            Attribute::Number(_) => format!("Block if {a} > 1"),
            Attribute::String(StringAttribute::RiskLevel) => format!("Block if {a} = 'highest'"),
            Attribute::String(StringAttribute::CardFunding) => format!("Block if {a} = 'prepaid'"),
            Attribute::String(
                StringAttribute::CvcCheck
                | StringAttribute::AddressLine1Check
                | StringAttribute::AddressZipCheck,
            ) => format!("Block if {a} = 'fail'"),
            Attribute::String(_) if a.name().ends_with("country") => format!("Block if {a} = 'US'"),
            Attribute::String(_) => format!("Block if {a} = 'x'"),
            Attribute::Bool(_) => format!("Block if {a}"),
        };
        parse(&src);
        assert_eq!(Attribute::from_name(a.name()), Some(a));
        assert_eq!(Attribute::from_name(&a.name().to_uppercase()), Some(a));
    }
    assert!(Attribute::all().count() >= 50);
}

#[test]
fn lists_and_not_in() {
    let in_list = |negated| Condition::In {
        attribute: Attribute::String(StringAttribute::EmailDomain),
        set: Set::List("blocked".into()),
        negated,
    };
    assert_eq!(
        parse("Block if :email_domain: in @blocked").condition(),
        &in_list(false)
    );
    assert_eq!(
        parse("Block if :email_domain: NOT IN @blocked").condition(),
        &in_list(true)
    );
    assert_eq!(
        parse("Block if :email_domain: not in @blocked").condition(),
        &in_list(true)
    );
    assert_eq!(
        parse("Block if NOT :email_domain: IN @blocked").condition(),
        &Condition::Not(Box::new(in_list(false)))
    );
    let r = parse("Block if :email: IN @a OR :ip_address: NOT IN @b OR :email_domain: IN @a");
    assert_eq!(r.lists(), vec!["a", "b"]);
}

#[test]
fn value_sets() {
    assert_eq!(
        parse("Block if :card_country: IN ('DE', 'FR','IT')").condition(),
        &Condition::In {
            attribute: Attribute::String(StringAttribute::CardCountry),
            set: Set::Values(vec![
                Value::String("DE".into()),
                Value::String("FR".into()),
                Value::String("IT".into()),
            ]),
            negated: false,
        }
    );
    assert_eq!(
        parse("Block if :risk_score: NOT IN (1, 2.5)").condition(),
        &Condition::In {
            attribute: Attribute::Number(NumberAttribute::RiskScore),
            set: Set::Values(vec![Value::Number(1.0), Value::Number(2.5)]),
            negated: true,
        }
    );
}

#[test]
fn is_missing() {
    assert_eq!(
        parse("Block if is_missing(:ip_country:)").condition(),
        &Condition::IsMissing(Attribute::String(StringAttribute::IpCountry))
    );
    assert_eq!(
        parse("Block if IS_MISSING ( :risk_score: ) AND :amount_in_usd: > 1").condition(),
        &Condition::And(vec![
            Condition::IsMissing(Attribute::Number(NumberAttribute::RiskScore)),
            Condition::Compare {
                left: num(NumberAttribute::AmountInUsd),
                op: CompareOp::Gt,
                right: Operand::Literal(Value::Number(1.0)),
            },
        ])
    );
}

#[test]
fn precedence_not_over_and_over_or() {
    let a = ":is_3d_secure:";
    let b = ":is_disposable_email:";
    let c = ":is_anonymous_ip:";
    // AND binds tighter than OR, on either side.
    assert_eq!(
        canonical(&format!("Block if {a} OR {b} AND {c}")),
        format!("{a} OR {b} AND {c}")
    );
    assert!(matches!(
        parse(&format!("Block if {a} OR {b} AND {c}")).condition(),
        Condition::Or(items) if matches!(&items[1], Condition::And(_))
    ));
    assert!(matches!(
        parse(&format!("Block if {a} AND {b} OR {c}")).condition(),
        Condition::Or(items) if matches!(&items[0], Condition::And(_))
    ));
    // NOT binds tighter than AND and OR.
    assert_eq!(
        parse(&format!("Block if NOT {a} AND {b}")).condition(),
        &Condition::And(vec![
            Condition::Not(Box::new(Condition::Flag(BoolAttribute::Is3dSecure))),
            Condition::Flag(BoolAttribute::IsDisposableEmail),
        ])
    );
    assert!(matches!(
        parse(&format!("Block if NOT {a} OR {b}")).condition(),
        Condition::Or(items) if matches!(&items[0], Condition::Not(_))
    ));
    // A comparison binds tighter than NOT.
    assert_eq!(
        parse("Block if NOT :risk_score: > 5").condition(),
        &Condition::Not(Box::new(Condition::Compare {
            left: num(NumberAttribute::RiskScore),
            op: CompareOp::Gt,
            right: Operand::Literal(Value::Number(5.0)),
        }))
    );
    // Parentheses override precedence.
    assert_eq!(
        canonical(&format!("Block if ({a} OR {b}) AND {c}")),
        format!("({a} OR {b}) AND {c}")
    );
    assert_eq!(
        canonical(&format!("Block if NOT ({a} AND {b})")),
        format!("NOT ({a} AND {b})")
    );
    assert_eq!(
        canonical(&format!("Block if NOT NOT {a}")),
        format!("NOT NOT {a}")
    );
    // Redundant parentheses and chains flatten.
    assert_eq!(
        canonical(&format!("Block if (({a})) OR ({b} OR {c})")),
        format!("{a} OR {b} OR {c}")
    );
    assert!(matches!(
        parse(&format!("Block if {a} AND ({b} AND {c})")).condition(),
        Condition::And(items) if items.len() == 3
    ));
}

#[test]
fn whitespace_is_free() {
    let a = parse("Block if :risk_score: > 75 AND :amount_in_usd: >= 1");
    let b = parse("  Block\tif\n:risk_score:>75   AND\r\n(:amount_in_usd:>=1)  ");
    assert_eq!(a.condition(), b.condition());
    assert_eq!(
        b.source(),
        "  Block\tif\n:risk_score:>75   AND\r\n(:amount_in_usd:>=1)  "
    );
}

#[test]
fn display_is_canonical_and_reparses() {
    for src in [
        "block if :risk_score: > 75",
        "Review if :card_country: != :ip_country:",
        "request 3d secure if :risk_level: = 'elevated' or :amount_in_usd: > 1000.5",
        "Block if NOT (:is_3d_secure: OR :email: = 'a\\'b') AND :email_domain: NOT IN @x",
        "Allow if :card_country: in ('US', 'CA') and not is_missing(:ip_country:)",
    ] {
        let rule = parse(src);
        let again = parse(&rule.to_string());
        assert_eq!(rule.action(), again.action(), "{src}");
        assert_eq!(rule.condition(), again.condition(), "{src}");
        assert_eq!(again.to_string(), rule.to_string());
    }
    assert_eq!(
        parse("request 3d secure if :risk_level: = 'elevated'").to_string(),
        "Request 3DS if :risk_level: = 'elevated'"
    );
    assert_eq!(
        parse("block if not :is_3d_secure: and :email_domain: not in @x").to_string(),
        "Block if NOT :is_3d_secure: AND :email_domain: NOT IN @x"
    );
}

#[test]
fn default_rules_parse() {
    for src in tessera_risk::DEFAULT_RULES {
        parse(src);
    }
    let defaults = tessera_risk::RuleSet::radar_defaults();
    assert_eq!(defaults.rules().len(), 2);
    assert_eq!(defaults.rules()[0].action(), Action::Block);
    assert_eq!(defaults.rules()[1].action(), Action::Review);
}

#[test]
fn from_str() {
    let r: Rule = "Block if :risk_score: > 1".parse().unwrap();
    assert_eq!(r.action(), Action::Block);
    assert!("Nope if :risk_score: > 1".parse::<Rule>().is_err());
}
