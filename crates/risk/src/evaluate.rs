//! Three-valued evaluation of a condition: true, false, or unknown when a value it
//! needs is missing (Kleene logic, as Radar evaluates rules since May 2024).

use crate::attribute::Attribute;
use crate::condition::{CompareOp, Condition, Operand, Set, Value};
use crate::signals::{Lists, Signals};

/// The result of evaluating a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

impl From<bool> for Truth {
    fn from(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

/// A value as read for one comparison.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Number(f64),
    Str(&'a str),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    fn of_attribute(attribute: Attribute, signals: &'a Signals) -> Option<Scalar<'a>> {
        match attribute {
            Attribute::Number(a) => signals.number(a).map(Scalar::Number),
            Attribute::String(a) => signals.string(a).map(Scalar::Str),
            Attribute::Bool(a) => signals.boolean(a).map(Scalar::Bool),
        }
    }

    fn of_value(value: &'a Value) -> Scalar<'a> {
        match value {
            Value::Number(n) => Scalar::Number(*n),
            Value::String(s) => Scalar::Str(s),
            Value::Bool(b) => Scalar::Bool(*b),
        }
    }

    fn of_operand(operand: &'a Operand, signals: &'a Signals) -> Option<Scalar<'a>> {
        match operand {
            Operand::Attribute(a) => Scalar::of_attribute(*a, signals),
            Operand::Literal(v) => Some(Scalar::of_value(v)),
        }
    }
}

/// `left op right` on present values. Operands of different types (which the parser
/// never lets through) and orderings of non-numbers are unknown.
fn compare(left: Scalar<'_>, op: CompareOp, right: Scalar<'_>) -> Truth {
    let equal = match (left, right) {
        (Scalar::Number(l), Scalar::Number(r)) => {
            return Truth::from(match op {
                CompareOp::Eq => l == r,
                CompareOp::Ne => l != r,
                CompareOp::Lt => l < r,
                CompareOp::Le => l <= r,
                CompareOp::Gt => l > r,
                CompareOp::Ge => l >= r,
            });
        }
        (Scalar::Str(l), Scalar::Str(r)) => l == r,
        (Scalar::Bool(l), Scalar::Bool(r)) => l == r,
        _ => return Truth::Unknown,
    };
    match op {
        CompareOp::Eq => Truth::from(equal),
        CompareOp::Ne => Truth::from(!equal),
        _ => Truth::Unknown,
    }
}

impl Condition {
    pub(crate) fn truth(&self, signals: &Signals, lists: &dyn Lists) -> Truth {
        match self {
            Condition::Not(c) => c.truth(signals, lists).not(),
            Condition::And(cs) => {
                let mut result = Truth::True;
                for c in cs {
                    match c.truth(signals, lists) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                result
            }
            Condition::Or(cs) => {
                let mut result = Truth::False;
                for c in cs {
                    match c.truth(signals, lists) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                result
            }
            Condition::Compare { left, op, right } => {
                match (
                    Scalar::of_operand(left, signals),
                    Scalar::of_operand(right, signals),
                ) {
                    (Some(l), Some(r)) => compare(l, *op, r),
                    _ => Truth::Unknown,
                }
            }
            Condition::In {
                attribute,
                set,
                negated,
            } => {
                let Some(value) = Scalar::of_attribute(*attribute, signals) else {
                    return Truth::Unknown;
                };
                let found = match set {
                    Set::List(name) => match value {
                        Scalar::Str(s) => match lists.contains(name, s) {
                            Some(found) => Truth::from(found),
                            None => Truth::Unknown,
                        },
                        _ => Truth::Unknown,
                    },
                    Set::Values(values) => {
                        let mut found = Truth::False;
                        for v in values {
                            match compare(value, CompareOp::Eq, Scalar::of_value(v)) {
                                Truth::True => {
                                    found = Truth::True;
                                    break;
                                }
                                Truth::Unknown => found = Truth::Unknown,
                                Truth::False => {}
                            }
                        }
                        found
                    }
                };
                if *negated { found.not() } else { found }
            }
            Condition::Flag(a) => signals.boolean(*a).map_or(Truth::Unknown, Truth::from),
            Condition::IsMissing(a) => Truth::from(signals.is_missing(*a)),
        }
    }
}
