//! Recursive descent over the grammar in the crate documentation. Types are checked as
//! each comparison is read, so that every error carries the position of the operand or
//! operator at fault.

use crate::attribute::{Attribute, ValueType};
use crate::condition::{CompareOp, Condition, Operand, Set, Value};
use crate::error::{ErrorKind, RuleError};
use crate::lexer::{Lexer, Token, TokenKind};
use crate::rule::Action;
use crate::{MAX_DEPTH, MAX_RULE_LEN};

/// Parses a whole rule into its action and condition.
pub(crate) fn parse(src: &str) -> Result<(Action, Condition), RuleError> {
    if src.len() > MAX_RULE_LEN {
        return Err(RuleError::new(
            ErrorKind::TooComplex,
            0,
            format!(
                "rule is {} bytes long; the limit is {MAX_RULE_LEN}",
                src.len()
            ),
        ));
    }
    let mut parser = Parser {
        lexer: Lexer::new(src),
        peeked: None,
    };
    let action = parser.action()?;
    let condition = parser.or(0)?;
    let rest = parser.next()?;
    match rest.kind {
        TokenKind::End => Ok((action, condition)),
        TokenKind::RParen => Err(RuleError::new(
            ErrorKind::TrailingInput,
            rest.start,
            "unmatched `)`",
        )),
        _ => Err(RuleError::new(
            ErrorKind::TrailingInput,
            rest.start,
            format!("unexpected {rest} after a complete condition (a missing AND or OR?)"),
        )),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
}

/// A token is the keyword `kw` (ASCII case-insensitive).
fn is_keyword(token: &Token<'_>, kw: &str) -> bool {
    matches!(token.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(kw))
}

/// `expected …, found …`, classed as a missing operand when what was found is the end
/// of the rule or an operator (so nothing stood where an operand must), and as an
/// unexpected token otherwise.
fn expected(token: &Token<'_>, what: &str) -> RuleError {
    let operator_like = match token.kind {
        TokenKind::End | TokenKind::Compare(_) | TokenKind::RParen | TokenKind::Comma => true,
        TokenKind::Word(_) => ["and", "or", "not", "in", "if"]
            .iter()
            .any(|kw| is_keyword(token, kw)),
        _ => false,
    };
    let kind = if operator_like {
        ErrorKind::MissingOperand
    } else {
        ErrorKind::UnexpectedToken
    };
    let mut message = format!("expected {what}, found {token}");
    if let TokenKind::Word(w) = token.kind
        && let Some(a) = Attribute::from_name(w)
    {
        message.push_str(&format!(" (attributes are written between colons: {a})"));
    }
    RuleError::new(kind, token.start, message)
}

/// How an operand is named in type errors: `:risk_score: (a number)`, `'high' (a string)`.
fn describe(operand: &Operand) -> String {
    format!("{operand} ({})", operand.value_type())
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Result<Token<'a>, RuleError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn peek(&mut self) -> Result<&Token<'a>, RuleError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    /// Consumes the next token if it is the keyword `kw`.
    fn eat_keyword(&mut self, kw: &str) -> Result<bool, RuleError> {
        let found = is_keyword(self.peek()?, kw);
        if found {
            self.next()?;
        }
        Ok(found)
    }

    /// `action "if"`.
    fn action(&mut self) -> Result<Action, RuleError> {
        let t = self.next()?;
        let unknown = |t: &Token<'_>| {
            let message = match t.kind {
                TokenKind::End => "empty rule: a rule is `ACTION if CONDITION`, with ACTION one \
                                   of Block, Review, Allow or Request 3DS"
                    .to_owned(),
                TokenKind::Word(_) => format!(
                    "unknown action {t}: a rule starts with Block, Review, Allow or Request 3DS"
                ),
                _ => format!("a rule starts with Block, Review, Allow or Request 3DS, found {t}"),
            };
            RuleError::new(ErrorKind::UnknownAction, t.start, message)
        };
        let action = match t.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("block") => Action::Block,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("review") => Action::Review,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("allow") => Action::Allow,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("request") => {
                let what = self.next()?;
                if is_keyword(&what, "3ds") {
                    Action::Request3ds
                } else if is_keyword(&what, "3d") {
                    let secure = self.next()?;
                    if !is_keyword(&secure, "secure") {
                        return Err(RuleError::new(
                            ErrorKind::UnknownAction,
                            secure.start,
                            format!("expected `Secure` after `Request 3D`, found {secure}"),
                        ));
                    }
                    Action::Request3ds
                } else {
                    return Err(RuleError::new(
                        ErrorKind::UnknownAction,
                        what.start,
                        format!("expected `3DS` or `3D Secure` after `Request`, found {what}"),
                    ));
                }
            }
            _ => return Err(unknown(&t)),
        };
        let t = self.next()?;
        if !is_keyword(&t, "if") {
            return Err(RuleError::new(
                ErrorKind::UnexpectedToken,
                t.start,
                format!("expected `if` after `{action}`, found {t}"),
            ));
        }
        Ok(action)
    }

    /// `and_expr { "OR" and_expr }`, flattened.
    fn or(&mut self, depth: usize) -> Result<Condition, RuleError> {
        let mut items = Vec::new();
        loop {
            match self.and(depth)? {
                Condition::Or(inner) => items.extend(inner),
                c => items.push(c),
            }
            if !self.eat_keyword("or")? {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Condition::Or(items)
        })
    }

    /// `not_expr { "AND" not_expr }`, flattened.
    fn and(&mut self, depth: usize) -> Result<Condition, RuleError> {
        let mut items = Vec::new();
        loop {
            match self.not(depth)? {
                Condition::And(inner) => items.extend(inner),
                c => items.push(c),
            }
            if !self.eat_keyword("and")? {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Condition::And(items)
        })
    }

    fn deeper(depth: usize, at: usize) -> Result<usize, RuleError> {
        if depth >= MAX_DEPTH {
            return Err(RuleError::new(
                ErrorKind::TooComplex,
                at,
                format!("parentheses and NOT nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(depth + 1)
    }

    /// `"NOT" not_expr | primary`.
    fn not(&mut self, depth: usize) -> Result<Condition, RuleError> {
        let t = self.next()?;
        if is_keyword(&t, "not") {
            let depth = Parser::deeper(depth, t.start)?;
            Ok(Condition::Not(Box::new(self.not(depth)?)))
        } else {
            self.primary(t, depth)
        }
    }

    /// `"(" condition ")" | "is_missing" "(" attribute ")" | predicate`, starting
    /// with the already-read token `t`.
    fn primary(&mut self, t: Token<'a>, depth: usize) -> Result<Condition, RuleError> {
        if t.kind == TokenKind::LParen {
            let inner = Parser::deeper(depth, t.start)?;
            let c = self.or(inner)?;
            let close = self.next()?;
            if close.kind != TokenKind::RParen {
                return Err(RuleError::new(
                    ErrorKind::UnexpectedToken,
                    close.start,
                    format!(
                        "expected `)` to close the `(` at {}, found {close}",
                        t.start
                    ),
                ));
            }
            return Ok(c);
        }
        if is_keyword(&t, "is_missing") {
            return self.is_missing();
        }
        match self.operand(&t)? {
            Some(left) => self.predicate(left, &t),
            None => Err(expected(&t, "a condition")),
        }
    }

    /// `"(" attribute ")"` after `is_missing`.
    fn is_missing(&mut self) -> Result<Condition, RuleError> {
        let open = self.next()?;
        if open.kind != TokenKind::LParen {
            return Err(expected(&open, "`(` after `is_missing`"));
        }
        let t = self.next()?;
        let attribute = match self.operand(&t)? {
            Some(Operand::Attribute(a)) => a,
            _ => return Err(expected(&t, "an attribute in `is_missing(…)`")),
        };
        let close = self.next()?;
        if close.kind != TokenKind::RParen {
            return Err(expected(&close, "`)` after the attribute of `is_missing`"));
        }
        Ok(Condition::IsMissing(attribute))
    }

    /// The operand `t` stands for, if it is one: an attribute (which must exist) or
    /// a literal.
    fn operand(&self, t: &Token<'a>) -> Result<Option<Operand>, RuleError> {
        Ok(Some(match &t.kind {
            TokenKind::Attribute(name) => match Attribute::from_name(name) {
                Some(a) => Operand::Attribute(a),
                None => {
                    return Err(RuleError::new(
                        ErrorKind::UnknownAttribute,
                        t.start,
                        format!("unknown attribute :{name}:"),
                    ));
                }
            },
            TokenKind::Number(n) => Operand::Literal(Value::Number(*n)),
            TokenKind::String(s) => Operand::Literal(Value::String(s.clone())),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => {
                Operand::Literal(Value::Bool(true))
            }
            TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => {
                Operand::Literal(Value::Bool(false))
            }
            _ => return Ok(None),
        }))
    }

    /// What follows a first operand: a comparison, `[NOT] IN set`, or nothing (a
    /// boolean attribute on its own).
    fn predicate(&mut self, left: Operand, left_token: &Token<'a>) -> Result<Condition, RuleError> {
        let t = self.peek()?;
        let (compare, is_in, is_not) = (
            match t.kind {
                TokenKind::Compare(op) => Some(op),
                _ => None,
            },
            is_keyword(t, "in"),
            is_keyword(t, "not"),
        );
        if let Some(op) = compare {
            let op_token = self.next()?;
            let right_token = self.next()?;
            let Some(right) = self.operand(&right_token)? else {
                return Err(expected(&right_token, &format!("a value after {op_token}")));
            };
            check_comparison(
                (&left, left_token.start),
                (op, op_token.start),
                (&right, right_token.start),
            )?;
            return Ok(Condition::Compare { left, op, right });
        }
        let negated = if is_in {
            false
        } else if is_not {
            self.next()?;
            if !is_keyword(self.peek()?, "in") {
                let after = self.next()?;
                return Err(RuleError::new(
                    ErrorKind::UnexpectedToken,
                    after.start,
                    format!("expected `IN` after `NOT`, found {after}"),
                ));
            }
            true
        } else {
            return match left {
                Operand::Attribute(Attribute::Bool(a)) => Ok(Condition::Flag(a)),
                Operand::Attribute(a) => {
                    let t = self.next()?;
                    let ends = matches!(t.kind, TokenKind::End | TokenKind::RParen)
                        || is_keyword(&t, "and")
                        || is_keyword(&t, "or");
                    if ends {
                        Err(RuleError::new(
                            ErrorKind::TypeMismatch,
                            left_token.start,
                            format!(
                                "{a} is {}, not a condition: compare it, e.g. {}",
                                a.value_type(),
                                match a.value_type() {
                                    ValueType::Number => format!("`{a} > 10`"),
                                    _ => format!("`{a} = 'value'`"),
                                }
                            ),
                        ))
                    } else {
                        Err(expected(&t, &format!("a comparison operator after {a}")))
                    }
                }
                Operand::Literal(_) => {
                    let t = self.next()?;
                    Err(expected(
                        &t,
                        &format!("a comparison operator after {left_token}"),
                    ))
                }
            };
        };
        let in_token = self.next()?;
        let Operand::Attribute(attribute) = left else {
            return Err(RuleError::new(
                ErrorKind::TypeMismatch,
                left_token.start,
                format!("`IN` needs an attribute on its left, found {left_token}"),
            ));
        };
        let set = self.set(attribute, &in_token)?;
        Ok(Condition::In {
            attribute,
            set,
            negated,
        })
    }

    /// `@list | "(" value { "," value } ")"` after `IN`, checked against the attribute.
    fn set(&mut self, attribute: Attribute, in_token: &Token<'a>) -> Result<Set, RuleError> {
        let t = self.next()?;
        match t.kind {
            TokenKind::List(name) => {
                if attribute.value_type() != ValueType::String {
                    return Err(RuleError::new(
                        ErrorKind::TypeMismatch,
                        t.start,
                        format!(
                            "lists hold strings, but {attribute} is {}",
                            attribute.value_type()
                        ),
                    ));
                }
                Ok(Set::List(name.to_owned()))
            }
            TokenKind::LParen => {
                let mut values = Vec::new();
                loop {
                    let vt = self.next()?;
                    let value = match self.operand(&vt)? {
                        Some(Operand::Literal(v)) => v,
                        Some(Operand::Attribute(_)) => {
                            return Err(RuleError::new(
                                ErrorKind::UnexpectedToken,
                                vt.start,
                                format!("a set after IN holds values, not attributes; found {vt}"),
                            ));
                        }
                        None => return Err(expected(&vt, "a value in the set")),
                    };
                    check_comparison(
                        (&Operand::Attribute(attribute), in_token.start),
                        (CompareOp::Eq, in_token.start),
                        (&Operand::Literal(value.clone()), vt.start),
                    )?;
                    values.push(value);
                    let sep = self.next()?;
                    match sep.kind {
                        TokenKind::Comma => {}
                        TokenKind::RParen => break,
                        _ => return Err(expected(&sep, "`,` or `)` in the set")),
                    }
                }
                Ok(Set::Values(values))
            }
            _ => Err(expected(
                &t,
                "a list (`@name`) or values in parentheses (`('a', 'b')`) after IN",
            )),
        }
    }
}

/// The static checks of one comparison; each part comes with its position.
fn check_comparison(
    (left, left_at): (&Operand, usize),
    (op, op_at): (CompareOp, usize),
    (right, right_at): (&Operand, usize),
) -> Result<(), RuleError> {
    let (attribute, literal, literal_at) = match (left, right) {
        (Operand::Literal(_), Operand::Literal(_)) => {
            return Err(RuleError::new(
                ErrorKind::TypeMismatch,
                left_at,
                "a comparison needs an attribute on at least one side",
            ));
        }
        (Operand::Attribute(a), Operand::Literal(v)) => (*a, Some(v), right_at),
        (Operand::Literal(v), Operand::Attribute(a)) => (*a, Some(v), left_at),
        (Operand::Attribute(a), Operand::Attribute(_)) => (*a, None, right_at),
    };
    if left.value_type() != right.value_type() {
        return Err(RuleError::new(
            ErrorKind::TypeMismatch,
            literal_at,
            format!("cannot compare {} with {}", describe(left), describe(right)),
        ));
    }
    if op.is_ordering() && left.value_type() != ValueType::Number {
        return Err(RuleError::new(
            ErrorKind::TypeMismatch,
            op_at,
            format!(
                "`{}` compares numbers, but {attribute} is {}",
                op.symbol(),
                attribute.value_type()
            ),
        ));
    }
    if let (Attribute::String(a), Some(Value::String(s))) = (attribute, literal)
        && let Err(allowed) = a.check_value(s)
    {
        return Err(RuleError::new(
            ErrorKind::InvalidValue,
            literal_at,
            format!(
                "{} is not a possible value of {a} (expected {allowed})",
                Value::String(s.clone())
            ),
        ));
    }
    Ok(())
}
