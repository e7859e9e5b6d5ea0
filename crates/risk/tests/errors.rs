//! Bad rules are rejected with the class of problem, the byte position of the culprit,
//! and a message that names it.

use tessera_risk::{ErrorKind, MAX_DEPTH, MAX_RULE_LEN, Rule, RuleError};

fn error(src: &str) -> RuleError {
    match Rule::parse(src) {
        Ok(r) => panic!("{src:?} should not parse, got {r}"),
        Err(e) => {
            assert!(e.position() <= src.len(), "{src:?}: {e}");
            assert!(src.is_char_boundary(e.position()), "{src:?}: {e}");
            e
        }
    }
}

/// Asserts the kind and position, that the message mentions `needle`, and that
/// Display is `at POSITION: MESSAGE`.
fn check(src: &str, kind: ErrorKind, position: usize, needle: &str) {
    let e = error(src);
    assert_eq!((e.kind(), e.position()), (kind, position), "{src:?}: {e}");
    assert!(
        e.message().contains(needle),
        "{src:?}: {e} lacks {needle:?}"
    );
    assert_eq!(e.to_string(), format!("at {position}: {}", e.message()));
}

#[test]
fn display_shows_position_and_message() {
    let e = error("Block if :risk_score: > 5 AND :foo: = 1");
    assert_eq!(e.to_string(), "at 30: unknown attribute :foo:");
}

#[test]
fn unknown_attribute() {
    check(
        "Block if :foo: > 1",
        ErrorKind::UnknownAttribute,
        9,
        ":foo:",
    );
    check(
        "Review if :card_country: != :ip_contry:",
        ErrorKind::UnknownAttribute,
        28,
        ":ip_contry:",
    );
    check(
        "Block if is_missing(:nope:)",
        ErrorKind::UnknownAttribute,
        20,
        ":nope:",
    );
    // An attribute written without colons gets a hint.
    check(
        "Block if risk_score > 5",
        ErrorKind::UnexpectedToken,
        9,
        ":risk_score:",
    );
}

#[test]
fn unterminated_string() {
    check(
        "Block if :email_domain: = 'gmail.com",
        ErrorKind::UnterminatedString,
        26,
        "unterminated",
    );
    check(
        "Block if :email_domain: = 'it\\'",
        ErrorKind::UnterminatedString,
        26,
        "unterminated",
    );
    check(
        "Block if :email_domain: = 'x\\",
        ErrorKind::UnterminatedString,
        26,
        "unterminated",
    );
}

#[test]
fn missing_operand() {
    check(
        "Block if :risk_score: >",
        ErrorKind::MissingOperand,
        23,
        "end of rule",
    );
    check(
        "Block if :risk_score: > AND",
        ErrorKind::MissingOperand,
        24,
        "`AND`",
    );
    check("Block if", ErrorKind::MissingOperand, 8, "a condition");
    check(
        "Block if AND :is_3d_secure:",
        ErrorKind::MissingOperand,
        9,
        "`AND`",
    );
    check(
        "Block if :is_3d_secure: AND",
        ErrorKind::MissingOperand,
        27,
        "end of rule",
    );
    check(
        "Block if :is_3d_secure: OR OR :is_anonymous_ip:",
        ErrorKind::MissingOperand,
        27,
        "`OR`",
    );
    check("Block if NOT", ErrorKind::MissingOperand, 12, "a condition");
    check("Block if ()", ErrorKind::MissingOperand, 10, "`)`");
    check(
        "Block if :email: IN",
        ErrorKind::MissingOperand,
        19,
        "after IN",
    );
    check(
        "Block if :email: IN ()",
        ErrorKind::MissingOperand,
        21,
        "a value",
    );
    check("Block if = 5", ErrorKind::MissingOperand, 9, "`=`");
}

#[test]
fn unknown_action() {
    check(
        "Deny if :is_3d_secure:",
        ErrorKind::UnknownAction,
        0,
        "`Deny`",
    );
    check("", ErrorKind::UnknownAction, 0, "empty rule");
    check("   ", ErrorKind::UnknownAction, 3, "empty rule");
    check(
        ":risk_score: > 5",
        ErrorKind::UnknownAction,
        0,
        "`:risk_score:`",
    );
    check(
        "Request if :is_3d_secure:",
        ErrorKind::UnknownAction,
        8,
        "`3DS`",
    );
    check(
        "Request 3D if :is_3d_secure:",
        ErrorKind::UnknownAction,
        11,
        "`Secure`",
    );
    check(
        "Request 2FA if :is_3d_secure:",
        ErrorKind::UnknownAction,
        8,
        "`2FA`",
    );
}

#[test]
fn missing_if() {
    check(
        "Block :is_3d_secure:",
        ErrorKind::UnexpectedToken,
        6,
        "`if`",
    );
    check("Block", ErrorKind::UnexpectedToken, 5, "`if`");
    check(
        "Block when :is_3d_secure:",
        ErrorKind::UnexpectedToken,
        6,
        "`when`",
    );
}

#[test]
fn trailing_garbage() {
    check(
        "Block if :is_3d_secure: :is_anonymous_ip:",
        ErrorKind::TrailingInput,
        24,
        "`:is_anonymous_ip:`",
    );
    check(
        "Block if :risk_score: > 5 10",
        ErrorKind::TrailingInput,
        26,
        "`10`",
    );
    check(
        "Block if :is_3d_secure: )",
        ErrorKind::TrailingInput,
        24,
        "unmatched `)`",
    );
    check(
        "Block if :risk_score: > 5 garbage",
        ErrorKind::TrailingInput,
        26,
        "`garbage`",
    );
}

#[test]
fn unbalanced_parentheses() {
    check(
        "Block if (:is_3d_secure: AND :is_anonymous_ip:",
        ErrorKind::UnexpectedToken,
        46,
        "`(` at 9",
    );
    check(
        "Block if (:risk_score: > 1 :is_3d_secure:)",
        ErrorKind::UnexpectedToken,
        27,
        "`)`",
    );
}

#[test]
fn type_mismatch() {
    // A string attribute with an ordering operator: at the operator.
    check(
        "Block if :card_country: > 'US'",
        ErrorKind::TypeMismatch,
        24,
        "`>` compares numbers",
    );
    check(
        "Block if :card_country: < :ip_country:",
        ErrorKind::TypeMismatch,
        24,
        ":card_country: is a string",
    );
    // A number with a string literal: at the literal.
    check(
        "Block if :risk_score: = 'high'",
        ErrorKind::TypeMismatch,
        24,
        "cannot compare :risk_score: (a number) with 'high' (a string)",
    );
    check(
        "Block if 'x' = :risk_score:",
        ErrorKind::TypeMismatch,
        9,
        "'x' (a string)",
    );
    // Attributes of different types.
    check(
        "Block if :risk_score: = :card_country:",
        ErrorKind::TypeMismatch,
        24,
        "cannot compare",
    );
    check(
        "Block if :is_3d_secure: = 1",
        ErrorKind::TypeMismatch,
        26,
        "a boolean",
    );
    check(
        "Block if :is_3d_secure: > true",
        ErrorKind::TypeMismatch,
        24,
        "`>`",
    );
    // Lists hold strings.
    check(
        "Block if :risk_score: IN @scores",
        ErrorKind::TypeMismatch,
        25,
        "lists hold strings",
    );
    check(
        "Block if :is_3d_secure: IN @x",
        ErrorKind::TypeMismatch,
        27,
        "lists hold strings",
    );
    // Sets hold the attribute's type.
    check(
        "Block if :card_country: IN ('US', 3)",
        ErrorKind::TypeMismatch,
        34,
        "3 (a number)",
    );
    // A number or string attribute is not a condition.
    check(
        "Block if :risk_score:",
        ErrorKind::TypeMismatch,
        9,
        "is a number, not a condition",
    );
    check(
        "Block if :email: AND :is_3d_secure:",
        ErrorKind::TypeMismatch,
        9,
        "is a string, not a condition",
    );
    // No attribute at all.
    check(
        "Block if 1 = 1",
        ErrorKind::TypeMismatch,
        9,
        "at least one side",
    );
    check(
        "Block if 'a' IN @x",
        ErrorKind::TypeMismatch,
        9,
        "needs an attribute",
    );
}

#[test]
fn invalid_values() {
    check(
        "Block if :risk_level: = 'hgihest'",
        ErrorKind::InvalidValue,
        24,
        "normal, elevated, highest",
    );
    check(
        "Block if :card_country: = 'us'",
        ErrorKind::InvalidValue,
        26,
        "country code",
    );
    check(
        "Block if 'USA' != :ip_country:",
        ErrorKind::InvalidValue,
        9,
        "country code",
    );
    check(
        "Block if :cvc_check: IN ('pass', 'failed')",
        ErrorKind::InvalidValue,
        33,
        "unchecked",
    );
    check(
        "Block if :card_funding: = 'charge'",
        ErrorKind::InvalidValue,
        26,
        "prepaid",
    );
}

#[test]
fn invalid_tokens() {
    check(
        "Block if :risk_score: == 5",
        ErrorKind::InvalidToken,
        22,
        "`==`",
    );
    check(
        "Block if !:is_3d_secure:",
        ErrorKind::InvalidToken,
        9,
        "`NOT`",
    );
    check(
        "Block if :risk_score: <> 5",
        ErrorKind::InvalidToken,
        22,
        "`!=`",
    );
    check(
        "Block if :email: = \"a\"",
        ErrorKind::InvalidToken,
        19,
        "single quotes",
    );
    check(
        "Block if :risk_score > 5",
        ErrorKind::InvalidToken,
        9,
        "`:name:`",
    );
    check("Block if :: > 5", ErrorKind::InvalidToken, 9, "`:name:`");
    check(
        "Block if :email: IN @",
        ErrorKind::InvalidToken,
        20,
        "`@name`",
    );
    check(
        "Block if :risk_score: > 1.",
        ErrorKind::InvalidToken,
        24,
        "malformed number",
    );
    check(
        "Block if :risk_score: > 1.2.3",
        ErrorKind::InvalidToken,
        24,
        "malformed number",
    );
    check(
        "Block if :risk_score: > -5x",
        ErrorKind::InvalidToken,
        24,
        "malformed number",
    );
    check(
        "Block if :email: = 'a\\n'",
        ErrorKind::InvalidToken,
        21,
        "unknown escape",
    );
    check(
        "Block if :risk_score: > 5 ; drop",
        ErrorKind::InvalidToken,
        26,
        "';'",
    );
    check(
        "Block if :risk_score: > 5 €",
        ErrorKind::InvalidToken,
        26,
        "'€'",
    );
    let huge = format!("Block if :risk_score: > 1{}", "0".repeat(400));
    check(&huge, ErrorKind::InvalidToken, 24, "out of range");
}

#[test]
fn the_first_problem_in_reading_order_is_reported() {
    // The unknown action comes before the unterminated string.
    check(
        "Blok if :email: = 'x",
        ErrorKind::UnknownAction,
        0,
        "`Blok`",
    );
    // The unknown attribute comes before the bad character.
    check(
        "Block if :foo: = 1 $",
        ErrorKind::UnknownAttribute,
        9,
        ":foo:",
    );
}

#[test]
fn limits() {
    let long = format!("Block if {}:is_3d_secure:", " ".repeat(MAX_RULE_LEN));
    check(&long, ErrorKind::TooComplex, 0, "limit");

    let ok = format!(
        "Block if {}:is_3d_secure:{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    Rule::parse(&ok).unwrap();
    let deep = format!(
        "Block if {}:is_3d_secure:{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    check(&deep, ErrorKind::TooComplex, 9 + MAX_DEPTH, "deeper than");
    let nots = format!("Block if {}:is_3d_secure:", "NOT ".repeat(MAX_DEPTH + 1));
    check(
        &nots,
        ErrorKind::TooComplex,
        9 + 4 * MAX_DEPTH,
        "deeper than",
    );
    // Long flat chains are not nesting.
    let chain = format!(
        "Block if :is_3d_secure:{}",
        " AND :is_3d_secure:".repeat(400)
    );
    Rule::parse(&chain).unwrap();
}

#[test]
fn error_is_a_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(error("Block if :x: > 1"));
    assert_eq!(e.to_string(), "at 9: unknown attribute :x:");
}
