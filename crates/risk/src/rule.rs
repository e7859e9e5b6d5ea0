//! Rules, rule sets and the decision a rule set reaches for a payment.

use std::fmt;
use std::str::FromStr;

use crate::DEFAULT_RULES;
use crate::attribute::Attribute;
use crate::condition::{Condition, Set};
use crate::error::RuleError;
use crate::evaluate::Truth;
use crate::parser;
use crate::signals::{Lists, Signals};

/// What a rule does to a payment it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `Request 3DS` (or `Request 3D Secure`): ask the issuer to authenticate the
    /// cardholder with 3-D Secure.
    Request3ds,
    /// `Allow`: process the payment; no Block or Review rule is evaluated.
    Allow,
    /// `Block`: refuse the payment; no Review rule is evaluated.
    Block,
    /// `Review`: process the payment, then place it in review.
    Review,
}

impl Action {
    /// Every action, in the order their rules are evaluated.
    pub const EVALUATION_ORDER: [Action; 4] = [
        Action::Request3ds,
        Action::Allow,
        Action::Block,
        Action::Review,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Request3ds => "Request 3DS",
            Action::Allow => "Allow",
            Action::Block => "Block",
            Action::Review => "Review",
        })
    }
}

/// One parsed rule: `ACTION if CONDITION`.
///
/// ```
/// use tessera_risk::{Action, NumberAttribute, Rule, Signals};
/// use std::collections::HashMap;
///
/// let rule = Rule::parse("Block if :risk_score: > 75").unwrap();
/// assert_eq!(rule.action(), Action::Block);
/// let lists: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
/// let risky = Signals::new().with_number(NumberAttribute::RiskScore, 80.0);
/// assert!(rule.matches(&risky, &lists));
/// assert!(!rule.matches(&Signals::new(), &lists)); // missing score: no match
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    action: Action,
    condition: Condition,
    source: String,
}

impl Rule {
    /// Parses a rule written in Radar's syntax, e.g.
    /// `Review if :card_country: != :ip_country:`. Keywords are case-insensitive.
    ///
    /// # Errors
    ///
    /// A [`RuleError`] with the byte position of the first problem: unknown action or
    /// attribute, malformed token, missing operand, type mismatch, trailing text, or a
    /// rule over the [`MAX_RULE_LEN`](crate::MAX_RULE_LEN) / [`MAX_DEPTH`](crate::MAX_DEPTH) limits.
    pub fn parse(source: &str) -> Result<Rule, RuleError> {
        let (action, condition) = parser::parse(source)?;
        Ok(Rule {
            action,
            condition,
            source: source.to_owned(),
        })
    }

    /// The rule's action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The rule's condition.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// The text the rule was parsed from, unchanged.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the payment described by `signals` matches the rule: its condition is
    /// definitely true. A condition that is unknown because of a missing value (or an
    /// unknown list) does not match.
    pub fn matches(&self, signals: &Signals, lists: &dyn Lists) -> bool {
        self.condition.truth(signals, lists) == Truth::True
    }

    /// The names of the lists (`@name`, without the `@`) the rule uses, each once, in
    /// order of first use: check them when the rule is saved, since an unknown list
    /// makes the rule never match.
    pub fn lists(&self) -> Vec<&str> {
        let mut names = Vec::new();
        walk_lists(&self.condition, &mut |name, _| {
            if !names.contains(&name) {
                names.push(name);
            }
        });
        names
    }

    /// Each list the rule uses with the attribute whose value it looks up there
    /// (`:attribute: IN @name`), each pair once, in order of first use: all that the
    /// rule can ask a list, so a caller can read just those values of a large list.
    pub fn list_lookups(&self) -> Vec<(&str, Attribute)> {
        let mut lookups = Vec::new();
        walk_lists(&self.condition, &mut |name, attribute| {
            if !lookups.contains(&(name, attribute)) {
                lookups.push((name, attribute));
            }
        });
        lookups
    }
}

/// Calls `found` with each list lookup in the condition, in order; the parser bounds
/// the depth by [`MAX_DEPTH`](crate::MAX_DEPTH).
fn walk_lists<'c>(condition: &'c Condition, found: &mut impl FnMut(&'c str, Attribute)) {
    match condition {
        Condition::Not(c) => walk_lists(c, found),
        Condition::And(cs) | Condition::Or(cs) => {
            for c in cs {
                walk_lists(c, found);
            }
        }
        Condition::In {
            attribute,
            set: Set::List(name),
            ..
        } => found(name, *attribute),
        _ => {}
    }
}

/// The rule in canonical form (`Block if …` with only the parentheses precedence
/// needs), which parses back to an equal condition. The original text is
/// [`Rule::source`].
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} if {}", self.action, self.condition)
    }
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Rule, RuleError> {
        Rule::parse(s)
    }
}

/// The outcome of evaluating a [`RuleSet`] for one payment.
///
/// `action` and `rule` come from the first matching Allow, Block or Review rule (in
/// that order of classes); `request_3ds` and `request_3ds_rule` from the first matching
/// Request 3DS rule, which Radar evaluates before all the others without stopping
/// evaluation. See [`RuleSet::evaluate`] for how to act on both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// [`Action::Allow`], [`Action::Block`] or [`Action::Review`]; `None` when no such
    /// rule matched (the payment goes ahead). Never [`Action::Request3ds`].
    pub action: Option<Action>,
    /// The source text of the rule that decided `action`.
    pub rule: Option<String>,
    /// A Request 3DS rule matched: authenticate the cardholder with 3-D Secure.
    pub request_3ds: bool,
    /// The source text of the Request 3DS rule that matched.
    pub request_3ds_rule: Option<String>,
}

/// An account's rules, evaluated together in Radar's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// A rule set of these rules. Their order matters only within an action class:
    /// it decides which of several matching rules is reported.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// Radar's default rules, [`DEFAULT_BLOCK_RULE`](crate::DEFAULT_BLOCK_RULE) and
    /// [`DEFAULT_REVIEW_RULE`](crate::DEFAULT_REVIEW_RULE).
    ///
    /// Parsed once: every payment's screening adds them to the account's rules.
    pub fn radar_defaults() -> &'static RuleSet {
        static DEFAULTS: std::sync::LazyLock<RuleSet> = std::sync::LazyLock::new(|| {
            DEFAULT_RULES
                .iter()
                .map(|source| Rule::parse(source).expect("the default rules parse"))
                .collect()
        });
        &DEFAULTS
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Adds a rule at the end.
    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// Decides a payment, in Radar's order:
    ///
    /// 1. **Request 3DS** rules are evaluated first. The first match sets
    ///    `request_3ds` and evaluation *continues*: requesting authentication is not
    ///    a verdict on the payment.
    /// 2. **Allow** rules: the first match decides `Allow`; no Block or Review rule is
    ///    evaluated.
    /// 3. **Block** rules: the first match decides `Block`; no Review rule is
    ///    evaluated.
    /// 4. **Review** rules: the first match decides `Review`.
    ///
    /// With no match, `action` is `None` and the payment goes ahead.
    ///
    /// In Radar, 3-D Secure runs between step 1 and the others, so Allow, Block and
    /// Review rules see its result (`:is_3d_secure:`, `:is_3d_secure_authenticated:`).
    /// A caller that honours `request_3ds` should therefore authenticate first, then
    /// evaluate again with the updated signals and act on that second decision's
    /// `action` (ignoring its `request_3ds`). When `request_3ds` is false the first
    /// decision's `action` is final.
    pub fn evaluate(&self, signals: &Signals, lists: &dyn Lists) -> Decision {
        let first_match = |action: Action| {
            self.rules
                .iter()
                .filter(|r| r.action == action)
                .find(|r| r.matches(signals, lists))
        };
        let mut decision = Decision::default();
        if let Some(rule) = first_match(Action::Request3ds) {
            decision.request_3ds = true;
            decision.request_3ds_rule = Some(rule.source.clone());
        }
        for action in [Action::Allow, Action::Block, Action::Review] {
            if let Some(rule) = first_match(action) {
                decision.action = Some(action);
                decision.rule = Some(rule.source.clone());
                break;
            }
        }
        decision
    }
}

impl From<Vec<Rule>> for RuleSet {
    fn from(rules: Vec<Rule>) -> RuleSet {
        RuleSet::new(rules)
    }
}

impl FromIterator<Rule> for RuleSet {
    fn from_iter<I: IntoIterator<Item = Rule>>(iter: I) -> RuleSet {
        RuleSet::new(iter.into_iter().collect())
    }
}
