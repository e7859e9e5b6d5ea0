//! What a rule is evaluated against: the payment's attribute values ([`Signals`]) and
//! the merchant's named lists ([`Lists`]).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use crate::attribute::{Attribute, BoolAttribute, NumberAttribute, StringAttribute};

const NUMBERS: usize = NumberAttribute::ALL.len();
const STRINGS: usize = StringAttribute::ALL.len();
const BOOLS: usize = BoolAttribute::ALL.len();

/// The attribute values of one payment. Every attribute starts missing; a setter
/// takes only attributes of its own type, so a value can never have the wrong type.
///
/// A rule's comparison with a missing value is neither true nor false: see the crate
/// documentation for how that propagates (a rule matches only when its condition is
/// definitely true). A number that is NaN counts as missing. The empty string is a
/// value, not a missing one.
///
/// ```
/// use tessera_risk::{NumberAttribute, Signals, StringAttribute};
///
/// let signals = Signals::new()
///     .with_number(NumberAttribute::RiskScore, 82.0)
///     .with_string(StringAttribute::CardCountry, "US");
/// assert_eq!(signals.number(NumberAttribute::RiskScore), Some(82.0));
/// assert_eq!(signals.string(StringAttribute::IpCountry), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    numbers: [Option<f64>; NUMBERS],
    strings: [Option<String>; STRINGS],
    bools: [Option<bool>; BOOLS],
}

impl Signals {
    /// Signals with every attribute missing.
    pub fn new() -> Signals {
        Signals::default()
    }

    /// Sets a number attribute.
    pub fn set_number(&mut self, attribute: NumberAttribute, value: f64) -> &mut Signals {
        self.numbers[attribute.index()] = Some(value);
        self
    }

    /// Sets a string attribute.
    pub fn set_string(
        &mut self,
        attribute: StringAttribute,
        value: impl Into<String>,
    ) -> &mut Signals {
        self.strings[attribute.index()] = Some(value.into());
        self
    }

    /// Sets a boolean attribute.
    pub fn set_bool(&mut self, attribute: BoolAttribute, value: bool) -> &mut Signals {
        self.bools[attribute.index()] = Some(value);
        self
    }

    /// Makes an attribute missing again.
    pub fn clear(&mut self, attribute: impl Into<Attribute>) -> &mut Signals {
        match attribute.into() {
            Attribute::Number(a) => self.numbers[a.index()] = None,
            Attribute::String(a) => self.strings[a.index()] = None,
            Attribute::Bool(a) => self.bools[a.index()] = None,
        }
        self
    }

    /// These signals with a number attribute set.
    pub fn with_number(mut self, attribute: NumberAttribute, value: f64) -> Signals {
        self.set_number(attribute, value);
        self
    }

    /// These signals with a string attribute set.
    pub fn with_string(mut self, attribute: StringAttribute, value: impl Into<String>) -> Signals {
        self.set_string(attribute, value);
        self
    }

    /// These signals with a boolean attribute set.
    pub fn with_bool(mut self, attribute: BoolAttribute, value: bool) -> Signals {
        self.set_bool(attribute, value);
        self
    }

    /// A number attribute's value; `None` when missing or NaN.
    pub fn number(&self, attribute: NumberAttribute) -> Option<f64> {
        self.numbers[attribute.index()].filter(|n| !n.is_nan())
    }

    /// A string attribute's value; `None` when missing.
    pub fn string(&self, attribute: StringAttribute) -> Option<&str> {
        self.strings[attribute.index()].as_deref()
    }

    /// A boolean attribute's value; `None` when missing.
    pub fn boolean(&self, attribute: BoolAttribute) -> Option<bool> {
        self.bools[attribute.index()]
    }

    /// Whether the attribute has no value (what `is_missing(:attribute:)` tests).
    pub fn is_missing(&self, attribute: impl Into<Attribute>) -> bool {
        match attribute.into() {
            Attribute::Number(a) => self.number(a).is_none(),
            Attribute::String(a) => self.string(a).is_none(),
            Attribute::Bool(a) => self.boolean(a).is_none(),
        }
    }
}

/// The merchant's named lists, `@name` in rules (e.g. `@disposable_domains`,
/// `@trusted_cards`), supplied by the caller at evaluation time.
///
/// Implemented for maps from list name to set of items (`HashMap<String,
/// HashSet<String>>`, `BTreeMap<String, BTreeSet<String>>`, and the same with `&str`),
/// which match items exactly. Implement it yourself for other storage or for
/// normalised matching (e.g. case-insensitive email domains).
pub trait Lists {
    /// Whether the list called `list` holds `item`; `None` when there is no such list.
    /// An unknown list makes `IN` and `NOT IN` unknown, so a rule using it does not
    /// match (see [`Rule::lists`](crate::Rule::lists) to check names beforehand).
    fn contains(&self, list: &str, item: &str) -> Option<bool>;
}

impl<K, V, S1, S2> Lists for HashMap<K, HashSet<V, S2>, S1>
where
    K: Borrow<str> + Hash + Eq,
    V: Borrow<str> + Hash + Eq,
    S1: BuildHasher,
    S2: BuildHasher,
{
    fn contains(&self, list: &str, item: &str) -> Option<bool> {
        self.get(list).map(|set| set.contains(item))
    }
}

impl<K, V> Lists for BTreeMap<K, BTreeSet<V>>
where
    K: Borrow<str> + Ord,
    V: Borrow<str> + Ord,
{
    fn contains(&self, list: &str, item: &str) -> Option<bool> {
        self.get(list).map(|set| set.contains(item))
    }
}

impl<L: Lists + ?Sized> Lists for &L {
    fn contains(&self, list: &str, item: &str) -> Option<bool> {
        (**self).contains(list, item)
    }
}
