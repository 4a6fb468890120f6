//! A strict JSON reader: one JSON text into an ordered tree that refuses duplicate keys and deep nesting.
//!
//! `serde_json::Value` is not usable for security checks: with duplicate keys it silently keeps the last one
//! (as Go does), so a checker built on it cannot notice that a document carries two values for one field.
//! This reader keeps every object's keys in document order and refuses a key that repeats. The lexing
//! (UTF-8, escapes, lone surrogates, number grammar) is serde_json's own, which refuses lone surrogate
//! escapes when it decodes a string; Go would silently replace them with U+FFFD.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Deepest accepted nesting of arrays and objects (the top-level value is level 1). A real manifest needs
/// about 5; the bound keeps recursion (ours and serde_json's) small whatever the input.
pub(crate) const MAX_DEPTH: usize = 64;

/// A JSON value with objects kept as ordered lists of unique keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A JSON number as serde_json classifies it: integers that fit in 64 bits stay exact, anything else
/// (fractions, exponents, `-0`, integers too large) is a float. Callers that need an integer accept only
/// the integer variants, so `2.0` or `2e0` is never mistaken for `2` (Go refuses those for an `int` too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Json {
    /// A short name of the value's type, for error messages (never the value itself).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Parses exactly one JSON value from `text`; only JSON whitespace may follow it.
///
/// The error message comes from serde_json (with line and column) or names the offending key; it never
/// contains the document.
pub(crate) fn parse(text: &str) -> Result<Json, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: 1 }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    // `end` refuses anything but whitespace after the value (`{}{}`, `{} x`).
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Carries the nesting level of the value about to be read; the visitor refuses containers past
/// [`MAX_DEPTH`] before reading their contents.
struct Seed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Seed {
    fn enter<E: de::Error>(&self) -> Result<Seed, E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "JSON nesting is deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Seed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(Number::U64(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(Number::I64(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(Number::F64(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let inner = self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed { depth: inner.depth })? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    // Note: if serde_json's `arbitrary_precision` feature were ever enabled in the build, numbers would
    // arrive here as one-entry maps; every numeric field would then fail its type check, so manifests
    // would be refused (fail closed) and the unit tests would catch it.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let inner = self.enter()?;
        let mut entries: Vec<(String, Json)> = Vec::new();
        // Linear duplicate detection: a body with many keys must not cost quadratic time.
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {} in a JSON object",
                    quote_key(&key)
                )));
            }
            let value = map.next_value_seed(Seed { depth: inner.depth })?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

/// A key as shown in error messages: quoted, escaped (no control characters reach a log) and cut short.
pub(crate) fn quote_key(key: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut shown: String = key.chars().take(MAX_CHARS).collect();
    if key.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    format!("\"{}\"", shown.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_number_kinds() {
        let v = parse(r#"{"b": 1, "a": [-2, 2.5, "x", true, null]}"#).unwrap();
        assert_eq!(
            v,
            Json::Object(vec![
                ("b".into(), Json::Number(Number::U64(1))),
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Number(Number::I64(-2)),
                        Json::Number(Number::F64(2.5)),
                        Json::String("x".into()),
                        Json::Bool(true),
                        Json::Null,
                    ])
                ),
            ])
        );
    }

    #[test]
    fn refuses_duplicate_keys_at_any_level() {
        assert!(
            parse(r#"{"a": 1, "a": 1}"#)
                .unwrap_err()
                .contains("duplicate key \"a\"")
        );
        assert!(parse(r#"[{"x": {"a": 1, "b": 2, "a": 3}}]"#).is_err());
        // Escapes are decoded before comparing, as Go does: `\u0061` is `a`.
        assert!(parse(r#"{"a": 1, "\u0061": 2}"#).is_err());
        // Keys that differ only in case are distinct JSON keys (struct-field folding is the caller's rule).
        assert!(parse(r#"{"a": 1, "A": 2}"#).is_ok());
    }

    #[test]
    fn refuses_lone_surrogates_but_accepts_pairs() {
        assert!(parse(r#"{"a": "\ud800"}"#).is_err());
        assert!(parse(r#"{"a": "\udc00x"}"#).is_err());
        assert!(parse(r#"{"\ud800": "a"}"#).is_err());
        assert!(parse(r#"{"a": "\ud800\u0041"}"#).is_err());
        assert_eq!(
            parse(r#""\ud83d\ude00""#).unwrap(),
            Json::String("\u{1F600}".into())
        );
    }

    #[test]
    fn refuses_trailing_data_but_allows_trailing_whitespace() {
        assert!(parse("{} \n\t\r").is_ok());
        assert!(parse("{}{}").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn bounds_depth_without_overflowing_the_stack() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("deeper than 64"), "{err}");
        // A huge bomb is refused early (no stack overflow, no quadratic work).
        assert!(parse(&"[".repeat(1_000_000)).is_err());
        let objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&objects).is_err());
    }

    #[test]
    fn quote_key_escapes_and_truncates() {
        assert_eq!(quote_key("a\nb"), "\"a\\nb\"");
        assert_eq!(quote_key(&"k".repeat(100)).chars().count(), 64 + 3);
    }
}
