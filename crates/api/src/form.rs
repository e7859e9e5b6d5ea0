//! Stripe's request encoding: `application/x-www-form-urlencoded` with Rack-style
//! nesting (`card[exp_month]=12`, `expand[0]=a`, `expand[]=a`, percent-encoded
//! brackets), query and body merged. Handlers consume parameters by name; whatever
//! is left at the end is an unknown parameter and answered with a 400 naming it.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;
use tessera_core::ApiError;
use zeroize::Zeroize;

/// A decoded parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Param {
    /// A scalar (`amount=1000`). An empty string means "unset".
    Value(String),
    /// A nested hash (`card[number]=…`), or an indexed array (`expand[0]=…`).
    Map(BTreeMap<String, Param>),
    /// An array given with empty brackets (`expand[]=…`).
    List(Vec<Param>),
}

impl Param {
    fn zeroize(&mut self) {
        match self {
            Param::Value(v) => v.zeroize(),
            Param::Map(m) => m.values_mut().for_each(Param::zeroize),
            Param::List(items) => items.iter_mut().for_each(Param::zeroize),
        }
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        // Card numbers and CVCs pass through here on their way to the vault; whatever
        // was not taken out is wiped with the request.
        self.map.values_mut().for_each(Param::zeroize);
    }
}

/// The parameters of one request, consumed by name.
#[derive(Debug, Default)]
pub struct Params {
    map: BTreeMap<String, Param>,
    prefix: String,
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ApiError::bad_request(
                "The request contains a parameter that is not valid UTF-8 after percent-decoding.",
            )
        })
}

/// Splits `a[b][]` into `["a", "b", ""]`.
fn key_path(key: &str) -> Result<Vec<&str>, ApiError> {
    let invalid = || ApiError::invalid_request(key, format!("Invalid parameter name: {key}"));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(invalid());
    }
    let mut path = vec![head];
    while !rest.is_empty() {
        let close = rest.find(']').ok_or_else(invalid)?;
        if !rest.starts_with('[') {
            return Err(invalid());
        }
        path.push(&rest[1..close]);
        rest = &rest[close + 1..];
    }
    Ok(path)
}

fn insert(
    map: &mut BTreeMap<String, Param>,
    path: &[&str],
    value: String,
    full_key: &str,
) -> Result<(), ApiError> {
    let conflict = || {
        ApiError::invalid_request(
            full_key,
            format!(
                "Invalid parameter structure for {full_key}: a value and nested values were both given."
            ),
        )
    };
    let (first, rest) = path.split_first().expect("key paths are never empty");
    if rest.is_empty() {
        map.insert((*first).to_owned(), Param::Value(value));
        return Ok(());
    }
    let slot = map.entry((*first).to_owned()).or_insert_with(|| {
        if rest[0].is_empty() {
            Param::List(Vec::new())
        } else {
            Param::Map(BTreeMap::new())
        }
    });
    // `metadata=` followed by `metadata[a]=b`: the later nested value wins.
    if matches!(slot, Param::Value(v) if v.is_empty()) {
        *slot = if rest[0].is_empty() {
            Param::List(Vec::new())
        } else {
            Param::Map(BTreeMap::new())
        };
    }
    match (slot, rest[0].is_empty()) {
        (Param::List(items), true) => {
            if rest.len() == 1 {
                items.push(Param::Value(value));
            } else {
                let mut inner = BTreeMap::new();
                insert(&mut inner, &rest[1..], value, full_key)?;
                items.push(Param::Map(inner));
            }
            Ok(())
        }
        (Param::Map(inner), false) => insert(inner, rest, value, full_key),
        _ => Err(conflict()),
    }
}

/// Decodes a query string and a form body into one parameter set.
pub fn decode(query: &str, body: &[u8]) -> Result<Params, ApiError> {
    let mut map = BTreeMap::new();
    for source in [query.as_bytes(), body] {
        for pair in source.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let key = decode_component(k)?;
            let value = decode_component(v)?;
            let path = key_path(&key)?;
            insert(&mut map, &path, value, &key)?;
        }
    }
    Ok(Params {
        map,
        prefix: String::new(),
    })
}

impl Param {
    /// Items of an array, whether sent as `a[]=` or `a[0]=`; `None` if not an array.
    pub fn into_items(mut self) -> Option<Vec<Param>> {
        match &mut self {
            Param::List(items) => Some(std::mem::take(items)),
            Param::Map(m) => {
                let mut indexed = Vec::with_capacity(m.len());
                for (k, v) in std::mem::take(m) {
                    indexed.push((k.parse::<usize>().ok()?, v));
                }
                indexed.sort_by_key(|(i, _)| *i);
                Some(indexed.into_iter().map(|(_, v)| v).collect())
            }
            Param::Value(v) if v.is_empty() => Some(Vec::new()),
            Param::Value(_) => None,
        }
    }

    /// A canonical text of the value, for request fingerprints.
    pub fn canonical(&self, out: &mut String) {
        match self {
            Param::Value(v) => {
                out.push('"');
                out.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            }
            Param::Map(m) => {
                out.push('{');
                for (k, v) in m {
                    out.push_str(&k.replace('\\', "\\\\").replace('=', "\\="));
                    out.push('=');
                    v.canonical(out);
                    out.push(',');
                }
                out.push('}');
            }
            Param::List(items) => {
                out.push('[');
                for v in items {
                    v.canonical(out);
                    out.push(',');
                }
                out.push(']');
            }
        }
    }
}

/// How a request changes metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataChange {
    /// `metadata=`: remove every key.
    Clear,
    /// Set keys; a `None` value removes the key.
    Set(Vec<(String, Option<String>)>),
}

impl MetadataChange {
    /// Applies the change to a metadata object.
    pub fn apply(self, metadata: &mut serde_json::Map<String, serde_json::Value>) {
        match self {
            MetadataChange::Clear => metadata.clear(),
            MetadataChange::Set(pairs) => {
                for (k, v) in pairs {
                    match v {
                        Some(v) => {
                            metadata.insert(k, serde_json::Value::String(v));
                        }
                        None => {
                            metadata.remove(&k);
                        }
                    }
                }
            }
        }
    }
}

impl Params {
    /// Full wire name of a parameter here (`card[number]`).
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// Whether the parameter was sent.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Whether the parameter was sent as a hash (`created[gte]=…`).
    pub fn is_map(&self, key: &str) -> bool {
        matches!(self.map.get(key), Some(Param::Map(_)))
    }

    /// Names of the parameters not yet consumed.
    pub fn remaining(&self) -> impl Iterator<Item = String> + '_ {
        self.map.keys().map(|k| self.name(k))
    }

    /// Takes a raw parameter.
    pub fn take(&mut self, key: &str) -> Option<Param> {
        self.map.remove(key)
    }

    /// Takes a scalar, keeping an empty string as `Some("")`.
    pub fn raw_str(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Param::Value(mut v)) => Ok(Some(std::mem::take(&mut v))),
            Some(_) => Err(ApiError::invalid_request(
                &self.name(key),
                format!(
                    "Invalid string: {} must be a single value, not a hash or an array.",
                    self.name(key)
                ),
            )),
        }
    }

    /// Takes a scalar; an empty string means "unset" and gives `None`.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        Ok(self.raw_str(key)?.filter(|s| !s.is_empty()))
    }

    /// Takes a required scalar.
    pub fn required(&mut self, key: &str) -> Result<String, ApiError> {
        let name = self.name(key);
        self.string(key)?.ok_or_else(|| ApiError::missing(&name))
    }

    /// Takes an integer.
    pub fn int(&mut self, key: &str) -> Result<Option<i64>, ApiError> {
        let name = self.name(key);
        match self.string(key)? {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_request(
                    &name,
                    format!("Invalid integer: {name} must be a whole number."),
                )
                .with_code("parameter_invalid_integer")
            }),
        }
    }

    /// Takes a non-negative integer that fits in `u32`.
    pub fn small_uint(&mut self, key: &str) -> Result<Option<u32>, ApiError> {
        let name = self.name(key);
        match self.int(key)? {
            None => Ok(None),
            Some(v) => u32::try_from(v).map(Some).map_err(|_| {
                ApiError::invalid_request(
                    &name,
                    format!("Invalid integer: {name} must be a positive whole number."),
                )
                .with_code("parameter_invalid_integer")
            }),
        }
    }

    /// Takes a boolean (`true` / `false`).
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, ApiError> {
        let name = self.name(key);
        match self.string(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_request(
                &name,
                format!("Invalid boolean: {name} must be true or false."),
            )),
        }
    }

    /// Takes one of a fixed set of values.
    pub fn one_of(&mut self, key: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        let name = self.name(key);
        match self.string(key)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(ApiError::invalid_request(
                &name,
                format!(
                    "Invalid {name}: must be one of {}; got '{}'.",
                    allowed.join(", "),
                    printable(&v)
                ),
            )),
        }
    }

    /// Takes a nested hash. `key=` (empty) gives an empty hash.
    pub fn map(&mut self, key: &str) -> Result<Option<Params>, ApiError> {
        let name = self.name(key);
        match self.map.remove(key) {
            None => Ok(None),
            Some(Param::Map(mut m)) => Ok(Some(Params {
                map: std::mem::take(&mut m),
                prefix: name,
            })),
            Some(Param::Value(v)) if v.is_empty() => Ok(Some(Params {
                map: BTreeMap::new(),
                prefix: name,
            })),
            Some(_) => Err(ApiError::invalid_request(
                &name,
                format!("Invalid hash: {name} must be a hash of values."),
            )),
        }
    }

    /// Takes an array of scalars.
    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let name = self.name(key);
        let Some(p) = self.map.remove(key) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::invalid_request(
                &name,
                format!("Invalid array: {name} must be an array of strings."),
            )
        };
        let items = match p {
            Param::Value(v) if !v.is_empty() => vec![Param::Value(v)],
            other => other.into_items().ok_or_else(bad)?,
        };
        items
            .into_iter()
            .map(|mut i| match &mut i {
                Param::Value(v) => Ok(std::mem::take(v)),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Takes an array of hashes (`line_items[0][quantity]=2&line_items[1][quantity]=1`),
    /// in index order, each named by its place (`line_items[1]`) for errors. `key=`
    /// (empty) gives an empty array.
    pub fn maps(&mut self, key: &str) -> Result<Option<Vec<Params>>, ApiError> {
        let name = self.name(key);
        let Some(p) = self.map.remove(key) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::invalid_request(
                &name,
                format!("Invalid array: {name} must be an array of hashes ({name}[0][field]=…)."),
            )
        };
        let indexed: Vec<(String, Param)> = match p {
            // `a[0][x]=…`: keep the caller's indices in the names.
            Param::Map(mut m) => {
                let mut entries = Vec::with_capacity(m.len());
                for (k, v) in std::mem::take(&mut m) {
                    let i = k.parse::<usize>().map_err(|_| bad())?;
                    entries.push((i, v));
                }
                entries.sort_by_key(|(i, _)| *i);
                entries
                    .into_iter()
                    .map(|(i, v)| (i.to_string(), v))
                    .collect()
            }
            Param::List(mut items) => std::mem::take(&mut items)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            Param::Value(v) if v.is_empty() => Vec::new(),
            Param::Value(_) => return Err(bad()),
        };
        indexed
            .into_iter()
            .map(|(i, mut v)| match &mut v {
                Param::Map(m) => Ok(Params {
                    map: std::mem::take(m),
                    prefix: format!("{name}[{i}]"),
                }),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Takes `metadata`, enforcing Stripe's limits (50 keys, key ≤ 40, value ≤ 500).
    pub fn metadata(&mut self) -> Result<Option<MetadataChange>, ApiError> {
        let Some(mut m) = self.map("metadata")? else {
            return Ok(None);
        };
        if m.map.is_empty() {
            return Ok(Some(MetadataChange::Clear));
        }
        if m.map.len() > 50 {
            return Err(ApiError::invalid_request(
                &self.name("metadata"),
                "Invalid metadata: metadata can have at most 50 keys.",
            ));
        }
        let keys: Vec<String> = m.map.keys().cloned().collect();
        let mut pairs = Vec::with_capacity(keys.len());
        for k in keys {
            // `payment_intent_data[metadata][k]` when nested.
            let param = m.name(&k);
            if k.chars().count() > 40 {
                return Err(ApiError::invalid_request(
                    &param,
                    "Invalid metadata: keys can be at most 40 characters long.",
                ));
            }
            let v = m.raw_str(&k)?;
            if v.as_deref().is_some_and(|v| v.chars().count() > 500) {
                return Err(ApiError::invalid_request(
                    &param,
                    "Invalid metadata: values can be at most 500 characters long.",
                ));
            }
            pairs.push((k, v.filter(|v| !v.is_empty())));
        }
        Ok(Some(MetadataChange::Set(pairs)))
    }

    /// Fails with the first parameter nobody consumed.
    pub fn finish(&mut self) -> Result<(), ApiError> {
        match self.map.iter().next() {
            None => Ok(()),
            Some((k, Param::Map(inner))) if !inner.is_empty() => {
                // Name the innermost unknown key: `card[colour]`, not `card`.
                let first = inner.keys().next().expect("non-empty");
                Err(ApiError::unknown_parameter(&format!(
                    "{}[{first}]",
                    self.name(k)
                )))
            }
            Some((k, _)) => Err(ApiError::unknown_parameter(&self.name(k))),
        }
    }

    /// A canonical text of every parameter, for idempotency fingerprints.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.map {
            out.push_str(k);
            out.push('=');
            v.canonical(&mut out);
            out.push('&');
        }
        out
    }
}

/// Echoes a caller's value in an error only when it cannot be card data or a secret.
pub fn printable(value: &str) -> String {
    if value.len() > 64
        || tessera_core::error::has_digit_run(value, 12)
        || value.starts_with("sk_")
        || value.starts_with("rk_")
        || value.starts_with("whsec_")
    {
        "(redacted)".to_owned()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nesting_and_all_array_forms() {
        let mut p = decode(
            "expand%5B0%5D=customer&expand%5B1%5D=latest_charge",
            b"card[number]=4242+4242&card[exp_month]=12&items[]=a&items[]=b&idx[1]=y&idx[0]=x&idx[10]=z",
        )
        .unwrap();
        assert_eq!(
            p.strings("expand").unwrap().unwrap(),
            ["customer", "latest_charge"]
        );
        assert_eq!(p.strings("items").unwrap().unwrap(), ["a", "b"]);
        assert_eq!(p.strings("idx").unwrap().unwrap(), ["x", "y", "z"]);
        let mut card = p.map("card").unwrap().unwrap();
        assert_eq!(card.string("number").unwrap().unwrap(), "4242 4242");
        assert_eq!(card.small_uint("exp_month").unwrap(), Some(12));
        card.finish().unwrap();
        p.finish().unwrap();
    }

    #[test]
    fn arrays_of_hashes_keep_their_order_and_names() {
        let mut p = decode(
            "",
            b"items[1][price_data][currency]=eur&items[0][quantity]=2&items[10][quantity]=3&items[0][colour]=red",
        )
        .unwrap();
        let mut items = p.maps("items").unwrap().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].int("quantity").unwrap(), Some(2));
        assert_eq!(
            items[0].finish().unwrap_err().param.as_deref(),
            Some("items[0][colour]")
        );
        let mut price = items[1].map("price_data").unwrap().unwrap();
        assert_eq!(
            price.required("unit_amount").unwrap_err().param.as_deref(),
            Some("items[1][price_data][unit_amount]")
        );
        assert_eq!(items[2].int("quantity").unwrap(), Some(3));
        let bad = decode("", b"items[x][quantity]=1").unwrap().maps("items");
        assert_eq!(bad.unwrap_err().param.as_deref(), Some("items"));
        let scalar = decode("", b"items[0]=1").unwrap().maps("items");
        assert_eq!(scalar.unwrap_err().param.as_deref(), Some("items"));
        assert!(
            decode("", b"items=")
                .unwrap()
                .maps("items")
                .unwrap()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn empty_means_unset_and_metadata_can_be_cleared() {
        let mut p = decode("", b"description=&metadata=").unwrap();
        assert_eq!(p.string("description").unwrap(), None);
        assert_eq!(p.metadata().unwrap(), Some(MetadataChange::Clear));
        let mut p = decode("", b"metadata[a]=1&metadata[b]=").unwrap();
        assert_eq!(
            p.metadata().unwrap(),
            Some(MetadataChange::Set(vec![
                ("a".into(), Some("1".into())),
                ("b".into(), None)
            ]))
        );
    }

    #[test]
    fn metadata_limits_name_the_offender() {
        let long_key = format!("metadata[{}]=v", "k".repeat(41));
        assert_eq!(
            decode("", long_key.as_bytes())
                .unwrap()
                .metadata()
                .unwrap_err()
                .param
                .unwrap(),
            format!("metadata[{}]", "k".repeat(41))
        );
        let long_value = format!("metadata[k]={}", "v".repeat(501));
        assert_eq!(
            decode("", long_value.as_bytes())
                .unwrap()
                .metadata()
                .unwrap_err()
                .param
                .as_deref(),
            Some("metadata[k]")
        );
        let many: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]=v")).collect();
        assert!(
            decode("", many.join("&").as_bytes())
                .unwrap()
                .metadata()
                .is_err()
        );
        let fifty: Vec<String> = (0..50).map(|i| format!("metadata[k{i}]=v")).collect();
        assert!(
            decode("", fifty.join("&").as_bytes())
                .unwrap()
                .metadata()
                .is_ok()
        );
    }

    #[test]
    fn unknown_parameters_are_named_innermost() {
        let mut p = decode("", b"amount=1&card[colour]=red").unwrap();
        p.int("amount").unwrap();
        assert_eq!(
            p.finish().unwrap_err().param.as_deref(),
            Some("card[colour]")
        );
        let mut p = decode("", b"card[number]=1&card[colour]=red").unwrap();
        let mut card = p.map("card").unwrap().unwrap();
        card.string("number").unwrap();
        let e = card.finish().unwrap_err();
        assert_eq!(e.param.as_deref(), Some("card[colour]"));
        assert_eq!(e.code.as_deref(), Some("parameter_unknown"));
    }

    #[test]
    fn query_and_body_merge_and_bad_input_is_a_400() {
        let mut p = decode("limit=3", b"customer=cus_1").unwrap();
        assert_eq!(p.int("limit").unwrap(), Some(3));
        assert_eq!(p.string("customer").unwrap().as_deref(), Some("cus_1"));
        assert_eq!(decode("", b"a=%FF").unwrap_err().status, 400);
        assert_eq!(decode("", b"a=1&a[b]=2").unwrap_err().status, 400);
        assert_eq!(decode("", b"[x]=1").unwrap_err().status, 400);
        assert_eq!(decode("", b"a[b=1").unwrap_err().status, 400);
        let mut p = decode("", b"amount=ten").unwrap();
        assert_eq!(
            p.int("amount").unwrap_err().code.as_deref(),
            Some("parameter_invalid_integer")
        );
    }

    #[test]
    fn canonical_form_ignores_order_but_not_values() {
        let a = decode("", b"a=1&b[c]=2").unwrap().canonical();
        let b = decode("b[c]=2", b"a=1").unwrap().canonical();
        let c = decode("", b"a=1&b[c]=3").unwrap().canonical();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    proptest! {
        #[test]
        fn decoding_never_panics(q in "\\PC{0,60}", body in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(mut p) = decode(&q, &body) {
                let names: Vec<String> = p.map.keys().cloned().collect();
                for n in names {
                    let _ = p.strings(&n);
                }
            }
        }

        #[test]
        fn scalar_values_round_trip(value in "\\PC{0,40}") {
            let encoded: String = percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC).to_string();
            let mut p = decode("", format!("v={encoded}").as_bytes()).unwrap();
            prop_assert_eq!(p.raw_str("v").unwrap().unwrap(), value);
        }
    }
}
