//! Where each field of a YAML document is, by field path, so that validation errors found
//! after deserialisation can still point at a line and column, and so that a parse error
//! at a line and column can name the field it is in.
//!
//! The document is read with the parser serde-saphyr itself uses (granit-parser), so that
//! positions here and in its errors count lines and columns the same way.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_saphyr::granit_parser::{Event, Parser};

/// A position: 1-based line, 1-based column in characters.
type Position = (usize, usize);

/// Field path (`spec.nodes[1].address`) to the line and column of its value.
/// The document is indexed on the first lookup: a valid spec needs none, and indexing
/// (a second parse) was a tenth of a small bake.
#[derive(Debug, Default)]
pub struct Locator {
    text: String,
    index: OnceLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    /// Where each path's value starts (the first, should a path occur twice).
    starts: HashMap<String, Position>,
    /// Every value with where it starts and ends (exclusive), parents before children.
    spans: Vec<(String, Position, Position)>,
}

impl Locator {
    /// Indexes nothing yet. A document that does not parse is indexed up to its error
    /// (serde will have reported the error itself).
    pub fn new(text: &str) -> Self {
        Locator { text: text.to_string(), index: OnceLock::new() }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::of(&self.text))
    }

    /// The position of the value at `path`, or of the nearest enclosing field that exists.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let starts = &self.index().starts;
        let mut p = path;
        loop {
            if let Some(pos) = starts.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// The path of the innermost value that holds `line` and `column` (as [`find`](Self::find)
    /// gives them); empty for the document itself or a position outside every value.
    pub fn path_at(&self, line: usize, column: usize) -> String {
        let at = (line, column);
        let inside = |(_, start, end): &&(String, Position, Position)| *start <= at && (at < *end || at == *start);
        // Values nest and siblings do not overlap: the last one holding the position, in
        // document order, is the innermost.
        self.index().spans.iter().rfind(inside).map(|(path, ..)| path.clone()).unwrap_or_default()
    }
}

/// An open mapping or sequence while indexing.
struct Open {
    path: String,
    /// Its entry in [`Index::spans`], whose end is known once the collection closes.
    span: usize,
    /// For a mapping: whether the next node is a key, and the last key (None for a key
    /// that is itself a collection). For a sequence: None, and the next item's index.
    key: Option<(bool, Option<String>)>,
    next_item: usize,
}

impl Index {
    /// Indexes every node of `text`, up to the first error. Iterative, not recursive: a
    /// document nested thousands deep (which serde refuses) is indexed to name the place.
    fn of(text: &str) -> Index {
        let mut index = Index::default();
        let mut open: Vec<Open> = Vec::new();
        for next in Parser::new_from_str(text) {
            let Ok((event, span)) = next else { break };
            // Columns are reported 1-based, as editors do.
            let start = (span.start.line(), span.start.col() + 1);
            let end = (span.end.line(), span.end.col() + 1);
            let collection = match &event {
                Event::MappingStart(..) => Some(Some((true, None))),
                Event::SequenceStart(..) => Some(None),
                Event::Scalar(..) | Event::Alias(..) => None,
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(closed) = open.pop() {
                        index.spans[closed.span].2 = end;
                    }
                    filled(&mut open);
                    continue;
                }
                _ => continue,
            };
            let path = match open.last_mut() {
                None => String::new(),
                Some(Open { key: Some((at_key @ true, key)), .. }) => match &event {
                    // A key names its value; it is not a value itself.
                    Event::Scalar(text, ..) => {
                        *key = Some(text.to_string());
                        *at_key = false;
                        continue;
                    }
                    _ => {
                        *key = None;
                        String::from("\0")
                    }
                },
                Some(Open { key: Some((false, None)), .. }) => String::from("\0"),
                Some(Open { key: Some((false, Some(key))), path, .. }) => {
                    if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    }
                }
                Some(Open { key: None, path, next_item, .. }) => format!("{path}[{next_item}]"),
            };
            index.starts.entry(path.clone()).or_insert(start);
            index.spans.push((path.clone(), start, end));
            match collection {
                Some(key) => open.push(Open { path, span: index.spans.len() - 1, key, next_item: 0 }),
                None => filled(&mut open),
            }
        }
        index
    }
}

/// A node of the innermost open collection is complete: a mapping's key is followed by
/// its value, a value by the next key; a sequence moves to its next item.
fn filled(open: &mut [Open]) {
    match open.last_mut() {
        Some(Open { key: Some((at_key, _)), .. }) => *at_key = !*at_key,
        Some(Open { next_item, .. }) => *next_item += 1,
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_fields_and_list_items() {
        let text = "a: 1\nspec:\n  nodes:\n    - name: x\n      address: 10.0.0.1\n    - name: y\n";
        let l = Locator::new(text);
        assert_eq!(l.find("a"), Some((1, 4)));
        assert_eq!(l.find("spec.nodes[0].address"), Some((5, 16)));
        assert_eq!(l.find("spec.nodes[1].name"), Some((6, 13)));
        // A missing field falls back to its parent.
        assert_eq!(l.find("spec.nodes[1].address"), l.find("spec.nodes[1]"));
    }

    #[test]
    fn names_the_innermost_value_at_a_position() {
        let text = "a: 1\nspec:\n  nodes:\n    - name: x\n      address: 10.0.0.1\n    - name: y\nb: [1, {c: d}]\n";
        let l = Locator::new(text);
        assert_eq!(l.path_at(5, 16), "spec.nodes[0].address");
        // A key is inside the mapping that holds it.
        assert_eq!(l.path_at(5, 7), "spec.nodes[0]");
        assert_eq!(l.path_at(3, 3), "spec");
        assert_eq!(l.path_at(6, 7), "spec.nodes[1]");
        assert_eq!(l.path_at(7, 9), "b[1]");
        assert_eq!(l.path_at(7, 12), "b[1].c");
        assert_eq!(l.path_at(7, 1), "");
        assert_eq!(l.path_at(99, 1), "");
    }

    #[test]
    fn complex_keys_and_deep_nesting() {
        let l = Locator::new("? [a, b]\n: c\nd: e\n");
        assert_eq!(l.find("d"), Some((3, 4)));
        assert_eq!(l.path_at(3, 4), "d");
        // Indexing is not recursive: no stack to run out of.
        let deep = format!("a: {}", "[".repeat(200_000));
        assert_eq!(Locator::new(&deep).path_at(1, 4), "a");
    }
}
