//! Tessera's fraud rules, written in Stripe Radar's rule language.
//!
//! A merchant writes rules such as
//!
//! ```text
//! Block if :risk_score: > 75
//! Review if :card_country: != :ip_country:
//! Block if :email_domain: IN @disposable_domains
//! Allow if :card_fingerprint: IN @trusted_cards
//! Block if :total_charges_per_card_number_hourly: > 5 AND :amount_in_usd: > 100
//! Request 3DS if :risk_level: = 'elevated'
//! Block if NOT :is_3d_secure: AND :amount_in_usd: >= 500
//! ```
//!
//! [`Rule::parse`] turns one into a [`Rule`] (or a [`RuleError`] naming the problem and
//! its byte position); [`Rule::matches`] tests it against a payment's [`Signals`] and
//! the merchant's [`Lists`]; [`RuleSet::evaluate`] applies an account's rules in
//! Radar's order and returns a [`Decision`].
//!
//! # Grammar
//!
//! In EBNF. Keywords (`Block`, `if`, `AND`, `IN`, `true`, `is_missing`, …) and attribute
//! names are ASCII case-insensitive; list names are passed to [`Lists`] as written;
//! whitespace separates tokens and is otherwise ignored.
//!
//! ```text
//! rule        = action , "if" , condition ;
//! action      = "Block" | "Review" | "Allow"
//!             | "Request" , ( "3DS" | "3D" , "Secure" ) ;
//! condition   = and_cond , { "OR" , and_cond } ;
//! and_cond    = not_cond , { "AND" , not_cond } ;
//! not_cond    = "NOT" , not_cond | primary ;
//! primary     = "(" , condition , ")"
//!             | "is_missing" , "(" , attribute , ")"
//!             | operand , compare_op , operand
//!             | attribute , [ "NOT" ] , "IN" , set
//!             | attribute ;                      (* a boolean attribute alone *)
//! operand     = attribute | literal ;
//! compare_op  = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
//! set         = list | "(" , literal , { "," , literal } , ")" ;
//! literal     = number | string | "true" | "false" ;
//! attribute   = ":" , name , ":" ;
//! list        = "@" , name ;
//! name        = name_char , { name_char } ;
//! name_char   = letter | digit | "_" ;
//! number      = [ "-" ] , digit , { digit } , [ "." , digit , { digit } ] ;
//! string      = "'" , { char - ( "'" | "\" ) | "\'" | "\\" } , "'" ;
//! ```
//!
//! So `NOT` binds tighter than `AND`, which binds tighter than `OR`, and a comparison
//! binds tighter than all three: `NOT :a: = 1 OR :b: AND :c:` reads as
//! `(NOT (:a: = 1)) OR (:b: AND :c:)`. `:x: NOT IN @l` and `NOT :x: IN @l` mean the same.
//!
//! # Types
//!
//! Every attribute has a type ([`NumberAttribute`], [`StringAttribute`],
//! [`BoolAttribute`]); these are checked when the rule is parsed, and a violation is a
//! [`ErrorKind::TypeMismatch`] at the offending operand or operator:
//!
//! - both sides of a comparison have the same type, and at least one is an attribute
//!   (`:card_country: != :ip_country:` compares two attributes);
//! - `<`, `<=`, `>`, `>=` compare numbers only; strings and booleans take `=` and `!=`;
//! - `IN @list` needs a string attribute (lists hold strings); `IN (…)` needs values of
//!   the attribute's type;
//! - only a boolean attribute can stand alone as a condition.
//!
//! String literals compared with an attribute whose values are known are checked too
//! ([`ErrorKind::InvalidValue`]): `:risk_level:` is one of `normal`, `elevated`,
//! `highest`, `not_assessed`, `unknown`; `:card_funding:` one of `credit`, `debit`,
//! `prepaid`, `unknown`; `:cvc_check:` one of `pass`, `fail`, `unavailable`,
//! `unchecked`; the `*_country` attributes are two upper-case letters. Strings are
//! otherwise compared exactly, byte for byte.
//!
//! A rule is at most [`MAX_RULE_LEN`] bytes, and parentheses and `NOT` nest at most
//! [`MAX_DEPTH`] deep, so that parsing and evaluating any input takes bounded stack.
//!
//! # Missing values
//!
//! A payment may lack a value (no IP address, no 3-D Secure attempt). As Radar does
//! since May 2024, a comparison with a missing value — or an `IN` on a list the caller
//! does not have — is neither true nor false but *unknown*, and unknown propagates
//! (Kleene logic): `NOT unknown` is unknown; `AND` is false if any operand is false,
//! else unknown if any is; `OR` is true if any operand is true, else unknown if any is.
//! A rule matches only when its condition is true. So with `:email_domain:` missing,
//! neither `Block if :email_domain: != 'a.com'` nor
//! `Block if NOT :email_domain: = 'a.com'` matches. To act on a missing value, say so:
//! `Block if is_missing(:email_domain:) OR NOT :email_domain: = 'a.com'`.
//!
//! # Evaluation order
//!
//! [`RuleSet::evaluate`] follows Radar:
//!
//! 1. **Request 3DS** rules first. A match asks for 3-D Secure ([`Decision::request_3ds`])
//!    and evaluation goes on: it is not a verdict.
//! 2. **Allow** rules: a match allows the payment; Block and Review rules are not
//!    evaluated.
//! 3. **Block** rules: a match blocks it; Review rules are not evaluated.
//! 4. **Review** rules: a match sends it to review.
//!
//! Within a class the first matching rule, in the rule set's order, is the one reported
//! ([`Decision::rule`]). Since Radar runs 3-D Secure between steps 1 and 2, a caller
//! that honours `request_3ds` authenticates, then evaluates again with the updated
//! signals and acts on that decision's action. The defaults a new account starts with
//! are [`DEFAULT_BLOCK_RULE`] and [`DEFAULT_REVIEW_RULE`] ([`RuleSet::radar_defaults`]).
#![forbid(unsafe_code)]

mod attribute;
mod condition;
mod email;
mod engine;
mod error;
mod evaluate;
mod geo;
mod lexer;
pub mod model;
mod parser;
mod rule;
mod signals;
mod velocity;

pub use attribute::{Attribute, BoolAttribute, NumberAttribute, StringAttribute, ValueType};
pub use condition::{CompareOp, Condition, Operand, Set, Value};
pub use email::{BUNDLED_DISPOSABLE_DOMAINS, DisposableDomains};
pub use engine::{Assessment, AttemptFacts, Engine};
pub use error::{ErrorKind, RuleError};
pub use geo::{BUNDLED_TEST_DATABASE, IpCountries};
pub use model::Model;
pub use rule::{Action, Decision, Rule, RuleSet};
pub use signals::{Lists, Signals};
pub use velocity::{AttemptKeys, Velocity, VelocityCounts, WindowCounts};

/// Radar's default block rule: payments Radar rates at the highest risk.
pub const DEFAULT_BLOCK_RULE: &str = "Block if :risk_level: = 'highest'";

/// Radar's default review rule: payments Radar rates at elevated risk.
pub const DEFAULT_REVIEW_RULE: &str = "Review if :risk_level: = 'elevated'";

/// The default rules, block first.
pub const DEFAULT_RULES: [&str; 2] = [DEFAULT_BLOCK_RULE, DEFAULT_REVIEW_RULE];

/// The longest rule accepted, in bytes.
pub const MAX_RULE_LEN: usize = 8 * 1024;

/// How deep parentheses and `NOT` may nest in a rule.
pub const MAX_DEPTH: usize = 32;
