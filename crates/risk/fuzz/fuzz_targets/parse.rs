//! Feeds arbitrary bytes to `Rule::parse` and checks what must hold for every input:
//! no panic; an error points at a character boundary inside the input; a rule's
//! canonical form parses back to the same rule and evaluates the same.
#![no_main]

use std::collections::{HashMap, HashSet};

use libfuzzer_sys::fuzz_target;
use tessera_risk::{BoolAttribute, NumberAttribute, Rule, Signals, StringAttribute};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match Rule::parse(src) {
        Err(e) => {
            assert!(e.position() <= src.len());
            assert!(src.is_char_boundary(e.position()));
            assert_eq!(
                e.to_string(),
                format!("at {}: {}", e.position(), e.message())
            );
        }
        Ok(rule) => {
            let canonical = Rule::parse(&rule.to_string()).expect("canonical form parses");
            assert_eq!(canonical.action(), rule.action());
            assert_eq!(canonical.condition(), rule.condition());

            let mut lists: HashMap<String, HashSet<String>> = HashMap::new();
            for name in rule.lists() {
                lists.insert(name.to_owned(), ["US".to_owned()].into());
            }
            let full = Signals::new()
                .with_number(NumberAttribute::RiskScore, 75.0)
                .with_number(NumberAttribute::AmountInUsd, 500.0)
                .with_string(StringAttribute::RiskLevel, "elevated")
                .with_string(StringAttribute::CardCountry, "US")
                .with_string(StringAttribute::IpCountry, "FR")
                .with_bool(BoolAttribute::Is3dSecure, false);
            for signals in [Signals::new(), full] {
                assert_eq!(
                    rule.matches(&signals, &lists),
                    canonical.matches(&signals, &lists)
                );
            }
        }
    }
});
