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
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    numbers: [Option<f64>; NUMBERS],
    strings: [Option<String>; STRINGS],
    bools: [Option<bool>; BOOLS],
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            numbers: [None; NUMBERS],
            strings: std::array::from_fn(|_| None),
            bools: [None; BOOLS],
        }
    }
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

impl Signals {
    /// The values that are present, as a JSON object from attribute name to value:
    /// what Tessera keeps of an attempt so rules can be replayed on it later.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for a in NumberAttribute::ALL {
            if let Some(v) = self.number(*a) {
                map.insert(a.name().to_owned(), serde_json::json!(v));
            }
        }
        for a in StringAttribute::ALL {
            if let Some(v) = self.string(*a) {
                map.insert(a.name().to_owned(), serde_json::json!(v));
            }
        }
        for a in BoolAttribute::ALL {
            if let Some(v) = self.boolean(*a) {
                map.insert(a.name().to_owned(), serde_json::json!(v));
            }
        }
        serde_json::Value::Object(map)
    }

    /// Signals from [`Signals::to_json`]'s output. Unknown names and values of the
    /// wrong type are skipped (a newer build may know more attributes).
    pub fn from_json(value: &serde_json::Value) -> Signals {
        let mut s = Signals::new();
        let Some(map) = value.as_object() else {
            return s;
        };
        for (name, v) in map {
            match (Attribute::from_name(name), v) {
                (Some(Attribute::Number(a)), v) if v.is_number() => {
                    s.set_number(a, v.as_f64().unwrap_or(f64::NAN));
                }
                (Some(Attribute::String(a)), serde_json::Value::String(v)) => {
                    s.set_string(a, v.as_str());
                }
                (Some(Attribute::Bool(a)), serde_json::Value::Bool(v)) => {
                    s.set_bool(a, *v);
                }
                _ => {}
            }
        }
        s
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_json() {
        let s = Signals::new()
            .with_number(NumberAttribute::AmountInUsd, 12.5)
            .with_string(StringAttribute::IpCountry, "GB")
            .with_bool(BoolAttribute::Is3dSecure, false);
        let json = s.to_json();
        assert_eq!(json["ip_country"], "GB");
        assert_eq!(Signals::from_json(&json), s);
        let with_unknown =
            serde_json::json!({"amount_in_usd": 3, "from_the_future": 1, "ip_country": 7});
        assert_eq!(
            Signals::from_json(&with_unknown),
            Signals::new().with_number(NumberAttribute::AmountInUsd, 3.0)
        );
    }
}
