//! The parsed form of a rule's condition. Its `Display` writes the condition back in
//! the rule language, fully parenthesised, so that it parses to the same tree.

use std::fmt;

use crate::attribute::{Attribute, BoolAttribute, ValueType};

/// A rule's condition: the part after `if`.
///
/// Built only by [`Rule::parse`](crate::Rule::parse), which guarantees that every
/// comparison's operands have the same type and that ordering operators compare
/// numbers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Condition {
    /// `NOT c`.
    Not(Box<Condition>),
    /// `c AND c AND …` (two or more operands).
    And(Vec<Condition>),
    /// `c OR c OR …` (two or more operands).
    Or(Vec<Condition>),
    /// `left op right`, e.g. `:risk_score: > 75` or `:card_country: != :ip_country:`.
    Compare {
        /// The left operand.
        left: Operand,
        /// The comparison.
        op: CompareOp,
        /// The right operand.
        right: Operand,
    },
    /// `:attribute: IN set` or, when `negated`, `:attribute: NOT IN set`.
    In {
        /// The attribute whose value is looked up.
        attribute: Attribute,
        /// Where it is looked up.
        set: Set,
        /// `NOT IN` rather than `IN`.
        negated: bool,
    },
    /// A boolean attribute on its own, e.g. `:is_disposable_email:`.
    Flag(BoolAttribute),
    /// `is_missing(:attribute:)`: true when the payment has no value for the attribute.
    IsMissing(Attribute),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// An attribute's value for the payment.
    Attribute(Attribute),
    /// A value written in the rule.
    Literal(Value),
}

impl Operand {
    /// The type of the operand's values.
    pub fn value_type(&self) -> ValueType {
        match self {
            Operand::Attribute(a) => a.value_type(),
            Operand::Literal(v) => v.value_type(),
        }
    }
}

/// A literal value written in a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number such as `75`, `-1` or `99.5` (always finite).
    Number(f64),
    /// A string such as `'elevated'`.
    String(String),
    /// `true` or `false`.
    Bool(bool),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Number(_) => ValueType::Number,
            Value::String(_) => ValueType::String,
            Value::Bool(_) => ValueType::Bool,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<` (numbers only)
    Lt,
    /// `<=` (numbers only)
    Le,
    /// `>` (numbers only)
    Gt,
    /// `>=` (numbers only)
    Ge,
}

impl CompareOp {
    /// The operator as written in rules.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether the operator orders its operands (and so needs numbers).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// What `IN` looks a value up in.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    /// A named list, `@name`, supplied at evaluation time through
    /// [`Lists`](crate::Lists).
    List(String),
    /// Values written in the rule, `('DE', 'FR')`: at least one, all of the
    /// attribute's type.
    Values(Vec<Value>),
}

/// How tightly an operator binds; a child is parenthesised only when it binds less
/// tightly than its parent needs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Binding {
    Or,
    And,
    Not,
}

impl Condition {
    fn write(&self, f: &mut fmt::Formatter<'_>, parent: Binding) -> fmt::Result {
        match self {
            Condition::Not(c) => {
                f.write_str("NOT ")?;
                c.write(f, Binding::Not)
            }
            Condition::And(cs) => write_joined(f, cs, " AND ", Binding::And, parent),
            Condition::Or(cs) => write_joined(f, cs, " OR ", Binding::Or, parent),
            Condition::Compare { left, op, right } => {
                write!(f, "{left} {} {right}", op.symbol())
            }
            Condition::In {
                attribute,
                set,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{attribute} {not}IN {set}")
            }
            Condition::Flag(a) => write!(f, "{a}"),
            Condition::IsMissing(a) => write!(f, "is_missing({a})"),
        }
    }
}

/// Writes the condition in the rule language with only the parentheses that
/// precedence needs (`NOT` > `AND` > `OR`); the text parses back to an equal condition.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, Binding::Or)
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    cs: &[Condition],
    sep: &str,
    this: Binding,
    parent: Binding,
) -> fmt::Result {
    let parens = parent > this;
    if parens {
        f.write_str("(")?;
    }
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        c.write(f, this)?;
    }
    if parens {
        f.write_str(")")?;
    }
    Ok(())
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Attribute(a) => write!(f, "{a}"),
            Operand::Literal(v) => write!(f, "{v}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `f64`'s Display never uses an exponent and round-trips exactly.
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => {
                f.write_str("'")?;
                for c in s.chars() {
                    if c == '\'' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("'")
            }
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Set::List(name) => write!(f, "@{name}"),
            Set::Values(values) => {
                f.write_str("(")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
        }
    }
}
