//! The one error of this crate: a rule that does not parse.

use std::fmt;

/// Why a rule was rejected, with the byte offset in the rule's text where the problem
/// was found.
///
/// Displayed as `at POSITION: MESSAGE`, for example
/// `at 9: unknown attribute :foo:`. The position is a byte offset into the text given
/// to [`Rule::parse`](crate::Rule::parse), always on a character boundary and at most
/// the text's length (a problem found at the end of the rule points just past its last
/// byte).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleError {
    kind: ErrorKind,
    position: usize,
    message: String,
}

/// The class of a [`RuleError`], for callers that react differently to each (the
/// message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The rule does not start with `Block`, `Review`, `Allow` or `Request 3DS`
    /// (or the rule is empty).
    UnknownAction,
    /// An attribute `:name:` that the engine does not know.
    UnknownAttribute,
    /// A string literal opened with `'` that is never closed.
    UnterminatedString,
    /// Text that is not a token of the language: a stray character, a malformed number,
    /// an unclosed `:attribute`, an `@` without a list name, an unknown escape.
    InvalidToken,
    /// An operator or keyword with nothing after it (or before it) where a condition
    /// or a value must be, e.g. `:risk_score: >` or `AND AND`.
    MissingOperand,
    /// A token that cannot stand where it is, e.g. a missing `if` or `)`.
    UnexpectedToken,
    /// Text left over after a complete rule, e.g. `Block if :is_3d_secure: 5`.
    TrailingInput,
    /// Operands whose types cannot meet: a string attribute with `>`, a number with a
    /// string literal, a number attribute used as a condition on its own.
    TypeMismatch,
    /// A literal of the right type but a value the attribute can never take, e.g.
    /// `:risk_level: = 'hgihest'` or `:card_country: = 'usa'`.
    InvalidValue,
    /// The rule is longer than [`MAX_RULE_LEN`](crate::MAX_RULE_LEN) bytes or nests
    /// parentheses and `NOT` deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    TooComplex,
}

impl RuleError {
    pub(crate) fn new(kind: ErrorKind, position: usize, message: impl Into<String>) -> RuleError {
        RuleError {
            kind,
            position,
            message: message.into(),
        }
    }

    /// The class of the problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The byte offset in the rule's text where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong, for people (without the position).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.position, self.message)
    }
}

impl std::error::Error for RuleError {}
