//! Splits a rule's text into tokens, one at a time, so that the parser reports the
//! first problem in reading order.

use std::fmt;

use crate::condition::CompareOp;
use crate::error::{ErrorKind, RuleError};

/// A token and the byte range of the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind<'a>,
    pub(crate) start: usize,
    pub(crate) text: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind<'a> {
    /// A run of letters, digits and `_` that is not a number: a keyword (`Block`, `if`,
    /// `AND`, `3DS`, `true`, …) or a stray word.
    Word(&'a str),
    /// `:name:`, holding `name`.
    Attribute(&'a str),
    /// `@name`, holding `name`.
    List(&'a str),
    /// `'text'`, unescaped.
    String(String),
    /// A finite number.
    Number(f64),
    Compare(CompareOp),
    LParen,
    RParen,
    Comma,
    End,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TokenKind::End => f.write_str("end of rule"),
            _ => write!(f, "`{}`", self.text),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer { src, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek_byte(&self, at: usize) -> Option<u8> {
        self.bytes().get(at).copied()
    }

    /// Advances over bytes satisfying `pred` from `from`, returning the end.
    fn run_from(&self, from: usize, pred: impl Fn(u8) -> bool) -> usize {
        let mut end = from;
        while self.peek_byte(end).is_some_and(&pred) {
            end += 1;
        }
        end
    }

    fn token(&mut self, kind: TokenKind<'a>, start: usize, end: usize) -> Token<'a> {
        self.pos = end;
        Token {
            kind,
            start,
            text: &self.src[start..end],
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, RuleError> {
        let start = self.run_from(self.pos, |b| b.is_ascii_whitespace());
        self.pos = start;
        let Some(b) = self.peek_byte(start) else {
            return Ok(self.token(TokenKind::End, start, start));
        };
        match b {
            b'(' => Ok(self.token(TokenKind::LParen, start, start + 1)),
            b')' => Ok(self.token(TokenKind::RParen, start, start + 1)),
            b',' => Ok(self.token(TokenKind::Comma, start, start + 1)),
            b'=' if self.peek_byte(start + 1) == Some(b'=') => Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "`==` is not an operator; equality is written `=`",
            )),
            b'=' => Ok(self.token(TokenKind::Compare(CompareOp::Eq), start, start + 1)),
            b'!' if self.peek_byte(start + 1) == Some(b'=') => {
                Ok(self.token(TokenKind::Compare(CompareOp::Ne), start, start + 2))
            }
            b'!' => Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "`!` is not an operator; negation is written `NOT`, inequality `!=`",
            )),
            b'<' if self.peek_byte(start + 1) == Some(b'=') => {
                Ok(self.token(TokenKind::Compare(CompareOp::Le), start, start + 2))
            }
            b'<' if self.peek_byte(start + 1) == Some(b'>') => Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "`<>` is not an operator; inequality is written `!=`",
            )),
            b'<' => Ok(self.token(TokenKind::Compare(CompareOp::Lt), start, start + 1)),
            b'>' if self.peek_byte(start + 1) == Some(b'=') => {
                Ok(self.token(TokenKind::Compare(CompareOp::Ge), start, start + 2))
            }
            b'>' => Ok(self.token(TokenKind::Compare(CompareOp::Gt), start, start + 1)),
            b'\'' => self.string(start),
            b'"' => Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "strings are written in single quotes, e.g. 'elevated'",
            )),
            b':' => self.attribute(start),
            b'@' => self.list(start),
            b'-' if self
                .peek_byte(start + 1)
                .is_some_and(|b| b.is_ascii_digit()) =>
            {
                self.number_or_word(start, start + 1)
            }
            b if b.is_ascii_digit() => self.number_or_word(start, start),
            b if is_word_byte(b) => {
                let end = self.run_from(start, is_word_byte);
                Ok(self.token(TokenKind::Word(&self.src[start..end]), start, end))
            }
            _ => {
                let c = self.src[start..].chars().next().unwrap_or('?');
                Err(RuleError::new(
                    ErrorKind::InvalidToken,
                    start,
                    format!("unexpected character {c:?}"),
                ))
            }
        }
    }

    /// `'…'` with `\'` and `\\` as the only escapes.
    fn string(&mut self, start: usize) -> Result<Token<'a>, RuleError> {
        let mut value = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    let end = start + 1 + i + 1;
                    return Ok(self.token(TokenKind::String(value), start, end));
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        return Err(RuleError::new(
                            ErrorKind::InvalidToken,
                            start + 1 + i,
                            format!(
                                "unknown escape `\\{e}` in string (only \\' and \\\\ are escapes)"
                            ),
                        ));
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err(RuleError::new(
            ErrorKind::UnterminatedString,
            start,
            "unterminated string: no closing `'`",
        ))
    }

    /// `:name:`.
    fn attribute(&mut self, start: usize) -> Result<Token<'a>, RuleError> {
        let end = self.run_from(start + 1, is_word_byte);
        if end == start + 1 || self.peek_byte(end) != Some(b':') {
            return Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "an attribute is written `:name:` (letters, digits and `_` between colons)",
            ));
        }
        Ok(self.token(
            TokenKind::Attribute(&self.src[start + 1..end]),
            start,
            end + 1,
        ))
    }

    /// `@name`.
    fn list(&mut self, start: usize) -> Result<Token<'a>, RuleError> {
        let end = self.run_from(start + 1, is_word_byte);
        if end == start + 1 {
            return Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                "a list is written `@name` (letters, digits and `_`)",
            ));
        }
        Ok(self.token(TokenKind::List(&self.src[start + 1..end]), start, end))
    }

    /// `-?digits(.digits)?`; a run of letters and digits that starts with a digit but is
    /// not a number (`3DS`) is a word.
    fn number_or_word(&mut self, start: usize, digits: usize) -> Result<Token<'a>, RuleError> {
        let word_end = self.run_from(digits, is_word_byte);
        let int_end = self.run_from(digits, |b| b.is_ascii_digit());
        if word_end > int_end {
            if digits > start {
                return Err(RuleError::new(
                    ErrorKind::InvalidToken,
                    start,
                    format!("malformed number `{}`", &self.src[start..word_end]),
                ));
            }
            let word = &self.src[start..word_end];
            return Ok(self.token(TokenKind::Word(word), start, word_end));
        }
        let mut end = int_end;
        if self.peek_byte(end) == Some(b'.') {
            let frac_end = self.run_from(end + 1, |b| b.is_ascii_digit());
            let after = self.run_from(end + 1, is_word_byte);
            if frac_end == end + 1 || after > frac_end {
                let bad_end = self.run_from(end + 1, |b| is_word_byte(b) || b == b'.');
                return Err(RuleError::new(
                    ErrorKind::InvalidToken,
                    start,
                    format!("malformed number `{}`", &self.src[start..bad_end]),
                ));
            }
            end = frac_end;
        }
        if self.peek_byte(end) == Some(b'.') {
            return Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                format!(
                    "malformed number `{}`",
                    &self.src[start..self.run_from(end, |b| is_word_byte(b) || b == b'.')]
                ),
            ));
        }
        let text = &self.src[start..end];
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(self.token(TokenKind::Number(n), start, end)),
            _ => Err(RuleError::new(
                ErrorKind::InvalidToken,
                start,
                format!("number `{text}` is out of range"),
            )),
        }
    }
}
