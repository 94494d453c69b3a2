//! How kubebake reads the YAML a user writes (the spec, OS profiles): one parser,
//! serde-saphyr, set to read as YAML 1.2's core schema does, and its errors turned into
//! [`Problem`]s that name the field, the line and the column.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, MergeKeyPolicy, NonFiniteFloatPolicy, SnippetMode};

use super::Locator;
use crate::error::Problem;

/// YAML 1.2's core schema, as serde_yaml 0.9 (which kubebake used before) read it, so that
/// a spec means what it meant:
/// - only `true` and `false` (any case) are booleans: `yes`, `on`, `y` are strings;
/// - a repeated key is refused, in a field's mapping as in a map of the user's own keys;
/// - `<<` is an ordinary key (merge keys are YAML 1.1), so a spec's fields refuse it;
/// - an unquoted `~`, `null` or nothing read into a text field is that text, and a number
///   with leading zeros (`0600`) or underscores (`1_000`) is a string where the type is
///   YAML's to choose, as YAML 1.2 has it;
/// - `.inf` and `.nan` are numbers where the type is YAML's to choose.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: DuplicateKeyPolicy::Error,
        merge_keys: MergeKeyPolicy::AsOrdinary,
        null_as_string: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// Reads one YAML document into `T`, as kubebake reads the spec.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// The error as a problem: serde's message, at its line and column, under the path of the
/// field it is in (which the parser's message does not name).
pub(crate) fn problem(e: &serde_saphyr::Error, locator: &Locator) -> Problem {
    let formatter = serde_saphyr::UserMessageFormatter.with_localizer(&Unlocated);
    let message = e.render_with_options(serde_saphyr::render_options! {
        formatter: &formatter,
        snippets: SnippetMode::Off,
    });
    let position = e.location().map(|l| (to_usize(l.line()), to_usize(l.column())));
    Problem {
        path: position.map(|(line, column)| locator.path_at(line, column)).unwrap_or_default(),
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
        message,
        file: None,
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// serde-saphyr's English, without the position it appends: a problem carries its own.
struct Unlocated;

impl serde_saphyr::Localizer for Unlocated {
    fn attach_location<'a>(&self, base: Cow<'a, str>, _: Location) -> Cow<'a, str> {
        base
    }

    fn alias_used_at(&self, _: Location) -> String {
        String::new()
    }

    fn alias_defined_at(&self, _: Location) -> String {
        String::new()
    }
}

/// A value the spec takes as text but that YAML may have typed: an unquoted `true` or `30`
/// is a boolean or a number, so that a field that must be a string can say so, and one
/// that takes any scalar can write it as YAML read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as YAML 1.2 reads it: decimal for an integer (`0x10` is 16), the shortest
    /// form that reads back for a float (`1e3` is `1000.0`), `.inf`, `-.inf` or `.nan`.
    Number(String),
    /// Text: quoted, or what reads as nothing else.
    String(String),
    /// A list or a mapping: not a scalar at all.
    Collection,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        Scalar::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.to_string()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.to_string()))
    }

    fn visit_i128<E>(self, n: i128) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.to_string()))
    }

    fn visit_u128<E>(self, n: u128) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.to_string()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Scalar, E> {
        Ok(Scalar::Number(float_text(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
        Ok(Scalar::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Scalar, E> {
        Ok(Scalar::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Collection)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Collection)
    }
}

/// A float as YAML writes it back: `.inf`, `-.inf`, `.nan`, or the shortest decimal that
/// reads back as the same float, with `.0` when it has no fraction and `e` without a sign
/// for a positive exponent (`1e20`), as serde_yaml 0.9 wrote it.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f < 0.0 { "-.inf".into() } else { ".inf".into() }
    } else {
        serde_json::Number::from_f64(f).map_or_else(String::new, |n| n.to_string().replace("e+", "e"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn scalar(text: &str) -> Scalar {
        let map: BTreeMap<String, Scalar> = from_str(&format!("v: {text}\n")).unwrap();
        map["v"].clone()
    }

    #[test]
    fn scalars_read_as_yaml_1_2_types_them() {
        let number = |s: &str| Scalar::Number(s.into());
        let string = |s: &str| Scalar::String(s.into());
        for (text, want) in [
            ("30", number("30")),
            ("0x10", number("16")),
            ("0o17", number("15")),
            ("-007", string("-007")),
            ("0600", string("0600")),
            ("1_000", string("1_000")),
            ("1e3", number("1000.0")),
            ("1e20", number("1e20")),
            ("1e-7", number("1e-7")),
            (".5", number("0.5")),
            (".inf", number(".inf")),
            ("-.inf", number("-.inf")),
            (".nan", number(".nan")),
            ("true", Scalar::Bool(true)),
            ("FALSE", Scalar::Bool(false)),
            ("yes", string("yes")),
            ("on", string("on")),
            ("'30'", string("30")),
            ("1:20", string("1:20")),
            ("~", Scalar::Null),
            ("", Scalar::Null),
            ("[1, 2]", Scalar::Collection),
            ("{a: b}", Scalar::Collection),
        ] {
            assert_eq!(scalar(text), want, "{text}");
        }
    }

    #[test]
    fn repeated_keys_and_merge_keys_are_refused() {
        assert!(from_str::<BTreeMap<String, Scalar>>("a: 1\na: 2\n").is_err());
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: Option<u32>,
        }
        assert!(from_str::<S>("<<: {a: 1}\n").is_err());
        assert!(from_str::<S>("a: 1\n").is_ok());
    }

    #[test]
    fn problems_name_the_field_line_and_column() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            flag: bool,
        }
        let text = "inner:\n  flag: yes\n";
        let p = problem(&from_str::<Outer>(text).unwrap_err(), &Locator::new(text));
        assert_eq!((p.path.as_str(), p.line, p.column), ("inner.flag", Some(2), Some(9)));
        assert!(!p.message.contains("line"), "{}", p.message);
        let text = "inner:\n  flag: true\n  other: 1\n";
        let p = problem(&from_str::<Outer>(text).unwrap_err(), &Locator::new(text));
        assert_eq!((p.path.as_str(), p.line, p.column), ("inner", Some(3), Some(3)));
        assert!(p.message.starts_with("unknown field `other`"), "{}", p.message);
    }
}
