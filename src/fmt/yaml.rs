//! The YAML writer for every artifact kubebake renders: JSON-shaped values (from typed
//! structs) written the way Go's `sigs.k8s.io/yaml` writes them (keys sorted, sequences
//! flush with their key, double quotes, literal blocks for multi-line text), and quoting
//! every string a YAML 1.1 reader such as PyYAML (cloud-init) or go-yaml v2 would
//! otherwise take for something else: `yes`, `on`, `1:20`, `0600`, `~`, dates.
//!
//! A string with a character YAML does not allow in a document (C0 and C1 controls but
//! tab and newline, U+FFFE, U+FFFF), with a Unicode line break (NEL, LINE SEPARATOR,
//! PARAGRAPH SEPARATOR: YAML 1.1 readers, PyYAML and libyaml among them, end a line at
//! each, so inside a block scalar one would end the block and let the text after it become
//! structure) or with a byte-order mark is written double-quoted, every such character as
//! an escape, never raw and never in a literal block.

use serde::Serialize;
use serde_json::Value;

/// Serialises `value` (a typed struct) as YAML. Map keys come out sorted.
pub fn to_string(value: &impl Serialize) -> String {
    value_to_string(&serde_json::to_value(value).expect("artifacts serialise to JSON values"))
}

/// [`to_string`] of a value already in JSON form (passing it to `to_string` would copy the
/// whole tree once more: for a static pod, a third of writing its manifest).
pub fn value_to_string(json: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, json);
    out
}

/// [`to_string`] appended to `out`: a document behind a header line (`#cloud-config`)
/// goes straight into a buffer sized for it, not copied in after.
pub fn append(out: &mut String, value: &impl Serialize) {
    write_document(out, &serde_json::to_value(value).expect("artifacts serialise to JSON values"));
}

fn write_document(out: &mut String, json: &Value) {
    let out = &mut *out;
    match json {
        Value::Object(m) if m.is_empty() => out.push_str("{}\n"),
        Value::Array(a) if a.is_empty() => out.push_str("[]\n"),
        Value::Object(_) | Value::Array(_) => write_block(out, json, 0),
        scalar => {
            write_scalar(out, scalar, 0);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes a non-empty mapping or sequence starting at the current line position, which
/// is already indented to `indent`.
fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => {
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                write_string(out, k, indent, true);
                out.push(':');
                write_value_after_key(out, v, indent);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                out.push_str("- ");
                match v {
                    Value::Object(m) if !m.is_empty() => write_block(out, v, indent + 2),
                    Value::Array(a) if !a.is_empty() => write_block(out, v, indent + 2),
                    _ => {
                        write_scalar(out, v, indent + 2);
                        out.push('\n');
                    }
                }
            }
        }
        _ => unreachable!("only collections are blocks"),
    }
}

fn write_value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_block(out, v, indent + 2);
        }
        // Sequences sit flush with their key, as go-yaml writes them.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            pad(out, indent);
            write_block(out, v, indent);
        }
        _ => {
            out.push(' ');
            write_scalar(out, v, indent + 2);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, indent, false),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_string(out: &mut String, s: &str, indent: usize, is_key: bool) {
    if plain_is_safe(s) {
        out.push_str(s);
    } else if !is_key && literal_is_possible(s) {
        write_literal(out, s, indent);
    } else {
        write_double_quoted(out, s);
    }
}

/// `s` as one YAML scalar that stays on the line it starts on: plain where that reads back
/// as the same string, double-quoted otherwise, never a block. For YAML that a template
/// writes around it (`init-spec.yaml.tera`'s `yaml` filter).
pub fn scalar(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s, 0, true);
    out
}

/// `|` block for multi-line text: chomping indicator by trailing newlines, an indentation
/// indicator when the text starts with a blank (a reader would take a space for
/// indentation, and libyaml refuses a tab where it looks for the indentation).
fn write_literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with([' ', '\t']) {
        out.push('2');
    }
    let body = s.trim_end_matches('\n');
    match s.len() - body.len() {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let trailing = s.len() - body.len();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
    // Keep-chomping: the extra trailing newlines are part of the value.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Whether [`to_string`] writes `s` as a literal block, which reads back exactly.
pub fn is_literal_block(s: &str) -> bool {
    !plain_is_safe(s) && literal_is_possible(s)
}

/// A literal block keeps every character but those that must be escaped (tab and newline
/// aside), and cannot end a line with a blank. A bake asks this of every file it renders (a
/// control plane's user-data is ~50 KB of them), so ASCII text, nearly all of it, is
/// checked in passes the compiler vectorizes rather than a character at a time.
fn literal_is_possible(s: &str) -> bool {
    if !s.is_ascii() {
        return literal_is_possible_by_char(s);
    }
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'\n') || !bytes.contains(&b'\n') {
        return false;
    }
    let control = bytes.iter().fold(false, |acc, &b| acc | (b < 0x20 && b != b'\n' && b != b'\t') | (b == 0x7f));
    !control && !s.contains(" \n") && !s.contains("\t\n") && !s.ends_with([' ', '\t'])
}

/// [`literal_is_possible`] for any text, one character at a time.
fn literal_is_possible_by_char(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'\n') || !bytes.contains(&b'\n') {
        return false;
    }
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' {
            if blank(prev) {
                return false;
            }
        } else if (b < 0x20 && b != b'\t') || b == 0x7f {
            return false;
        }
        prev = b;
    }
    !blank(prev) && (s.is_ascii() || s.chars().all(|c| c == '\n' || c == '\t' || !must_be_escaped(c)))
}

/// A character that a YAML document may hold only as an escape in a double-quoted
/// scalar: one outside YAML's printable set, a Unicode line break or a byte-order mark.
fn must_be_escaped(c: char) -> bool {
    c.is_control() || crate::fmt::quote::is_unicode_line_break(c) || matches!(c, '\u{fffe}' | '\u{ffff}')
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if must_be_escaped(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` can be written unquoted and read back as the same string by YAML 1.1 and
/// 1.2 readers alike (the plain-scalar rules of libyaml, the emitter go-yaml and PyYAML
/// share, plus the resolvers of both YAML versions).
fn plain_is_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else { return false };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    let followed_by_space = |i: usize| bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t');
    if b"#,[]{}&*!|>'\"%@`".contains(&first) {
        return false;
    }
    if (first == b'-' || first == b'?' || first == b':') && followed_by_space(0) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let unsafe_inside = if s.is_ascii() { unsafe_ascii_inside(s) } else { unsafe_char_inside(s) };
    !unsafe_inside && !resolves_to_non_string(s)
}

/// [`unsafe_char_inside`] for ASCII, in a vectorized pass and two memchr searches: long
/// single-line values (base64 in kubeconfigs and user-data) are most of what is asked.
fn unsafe_ascii_inside(s: &str) -> bool {
    let bytes = s.as_bytes();
    let followed_by_space = |i: usize| bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t');
    bytes.iter().fold(false, |acc, &b| acc | (b < 0x20) | (b == 0x7f))
        || s.match_indices(':').any(|(i, _)| followed_by_space(i))
        || s.match_indices('#').any(|(i, _)| i > 0 && matches!(bytes[i - 1], b' ' | b'\t'))
}

/// A character inside `s` that a plain scalar cannot hold where it stands: `: `, ` #`, or
/// one that must be escaped.
fn unsafe_char_inside(s: &str) -> bool {
    let bytes = s.as_bytes();
    let followed_by_space = |i: usize| bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t');
    for (i, c) in s.char_indices() {
        match c {
            ':' if followed_by_space(i) => return true,
            '#' if i > 0 && matches!(bytes[i - 1], b' ' | b'\t') => return true,
            c if must_be_escaped(c) => {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// YAML 1.1 (PyYAML, go-yaml v2) and 1.2 core-schema resolution of a plain scalar.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "=", "<<", ".inf", ".Inf", ".INF", "-.inf",
        "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits_ = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c == '_' || c.is_digit(radix));
    if let Some(h) = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X")) {
        return digits_(h, 16);
    }
    if let Some(b) = unsigned.strip_prefix("0b").or_else(|| unsigned.strip_prefix("0B")) {
        return digits_(b, 2);
    }
    if let Some(o) = unsigned.strip_prefix("0o") {
        return digits_(o, 8);
    }
    // Integers (with YAML 1.1's underscores and leading-zero octals) and sexagesimals.
    if unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        let parts: Vec<&str> = unsigned.split(':').collect();
        if parts.len() > 1 {
            let (last, init) = parts.split_last().expect("non-empty");
            let last_int = last.split('.').next().unwrap_or_default();
            return init.iter().all(|p| digits_(p, 10)) && digits_(last_int, 10);
        }
        if digits_(unsigned, 10) {
            return true;
        }
    }
    if is_float(unsigned) {
        return true;
    }
    // Timestamps (YAML 1.1): 2001-12-14, 2001-12-14t21:59:43.10-05:00, …
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// `[0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?` with at least one digit (both YAML versions'
/// float forms, 1.1's underscores included).
fn is_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits_ok = |t: &str| t.chars().all(|c| c.is_ascii_digit() || c == '_');
    let has_digit = int.chars().chain(frac.unwrap_or("").chars()).any(|c| c.is_ascii_digit());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    has_digit && digits_ok(int) && frac.is_none_or(digits_ok) && exp_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ASCII passes decide as the character loops do, on strings made of the
    /// characters that matter (xorshift: no dependency, the same strings every run).
    #[test]
    fn ascii_fast_paths_agree_with_the_character_loops() {
        const ALPHABET: &[u8] = b"a0:# \t\n-.\x7f\x01'";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 9) as usize;
            let s: String =
                (0..len).map(|i| ALPHABET[((x >> (8 + 4 * i)) % ALPHABET.len() as u64) as usize] as char).collect();
            assert_eq!(literal_is_possible(&s), literal_is_possible_by_char(&s), "{s:?}");
            assert_eq!(unsafe_ascii_inside(&s), unsafe_char_inside(&s), "{s:?}");
        }
    }

    #[test]
    fn writes_like_go() {
        let v = json!({
            "b": [1, "x"],
            "a": {"k": "", "z": null, "e": {}, "l": []},
            "list": [{"name": "x", "value": "0"}, {"name": "w"}],
        });
        assert_eq!(
            to_string(&v),
            "a:\n  e: {}\n  k: \"\"\n  l: []\n  z: null\nb:\n- 1\n- x\nlist:\n- name: x\n  value: \"0\"\n- name: w\n"
        );
    }

    #[test]
    fn yaml_1_1_lookalikes_are_quoted() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "N",
            "~",
            "null",
            "1:20",
            "0600",
            "0x1F",
            "1_000",
            "1e3",
            ".5",
            "+1",
            "2001-12-14",
            "=",
            "<<",
            ".inf",
            "true",
            "- x",
            ": x",
            "a: b",
            "a #b",
            "#x",
            "'q",
            "\"q",
            "@x",
            "`x",
            "",
            " lead",
            "trail ",
            "%x",
            "!x",
            "&x",
            "*x",
            "|x",
            ">x",
            "[x",
            "{x",
            "---",
        ] {
            assert!(!plain_is_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "abc",
            "127.0.0.1",
            "/livez",
            "--flag=value",
            ":2112",
            "a:b",
            "a#b",
            "v1.33.3",
            "10.96.0.0/12",
            "sha256:abc",
            "1.2.3",
            "https://x:6443",
            "Node,RBAC",
            "--controllers=*,bootstrapsigner",
            "system:masters",
        ] {
            assert!(plain_is_safe(s), "{s:?} can be plain");
        }
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        assert_eq!(to_string(&json!({"s": "a\nb\n"})), "s: |\n  a\n  b\n");
        assert_eq!(to_string(&json!({"s": "a\n\nb"})), "s: |-\n  a\n\n  b\n");
        assert_eq!(to_string(&json!({"s": "a\n\n"})), "s: |+\n  a\n\n");
        assert_eq!(to_string(&json!([{"s": " x\ny\n"}])), "- s: |2\n     x\n    y\n");
    }

    /// A YAML 1.1 reader ends a line at U+0085, U+2028 and U+2029: raw in a literal block,
    /// one would end the block and make what follows structure.
    #[test]
    fn line_breaks_and_unprintables_are_escaped_in_double_quotes_never_in_a_block() {
        assert_eq!(to_string(&json!({"s": "a\nb\u{2028}c: d\n"})), "s: \"a\\nb\\u2028c: d\\n\"\n");
        for c in ['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{1}', '\u{7f}'] {
            let s = format!("x\n{c}y\n");
            assert!(!is_literal_block(&s), "{c:?}");
            let yaml = to_string(&json!({ &s: [&s] }));
            assert!(!yaml.contains(c), "{c:?} raw in {yaml}");
            assert!(!scalar(&s).contains(c));
        }
        // libyaml looks for the indentation where a tab stands: the indicator says it.
        assert_eq!(to_string(&json!({"s": "\ta\nb\n"})), "s: |2\n  \ta\n  b\n");
        assert_eq!(scalar("plain"), "plain");
        assert_eq!(scalar("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let v = json!({"x": ["yes", "1:20", "0600", "a\nb\n", "q\"uote\\", "tab\there", "é ü", "\u{1}"], "k: y": "z"});
        let back: Value = serde_saphyr::from_str(&to_string(&v)).unwrap();
        assert_eq!(back, v);
    }
}
