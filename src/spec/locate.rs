//! Where each field of a YAML document is, by field path, so that validation errors found
//! after deserialisation can still point at a line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Field path (`spec.nodes[1].address`) to the 1-based line and column of its value.
/// The document is indexed on the first lookup: a valid spec needs none, and indexing
/// (a second parse) was a tenth of a small bake.
#[derive(Debug, Default)]
pub struct Locator {
    text: String,
    positions: std::sync::OnceLock<HashMap<String, (usize, usize)>>,
}

impl Locator {
    /// A document that does not parse yields an empty index (serde will have reported the
    /// syntax error already).
    pub fn new(text: &str) -> Self {
        Locator { text: text.to_string(), positions: std::sync::OnceLock::new() }
    }

    fn positions(&self) -> &HashMap<String, (usize, usize)> {
        self.positions.get_or_init(|| {
            let mut collector = Collector::default();
            let mut parser = Parser::new_from_str(&self.text);
            let mut positions = HashMap::new();
            if parser.load(&mut collector, false).is_ok() {
                let mut pos = 0;
                Self::walk(&mut positions, &collector.events, &mut pos, String::new());
            }
            positions
        })
    }

    /// The position of the value at `path`, or of the nearest enclosing field that exists.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let positions = self.positions();
        let mut p = path;
        loop {
            if let Some(pos) = positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    fn walk(
        positions: &mut HashMap<String, (usize, usize)>,
        events: &[(Event, Marker)],
        pos: &mut usize,
        path: String,
    ) {
        let Some((event, marker)) = events.get(*pos) else {
            return;
        };
        *pos += 1;
        // Columns are reported 1-based, as editors and serde_yaml do.
        positions.entry(path.clone()).or_insert((marker.line(), marker.col() + 1));
        match event {
            Event::MappingStart(..) => {
                while let Some((ev, _)) = events.get(*pos) {
                    match ev {
                        Event::MappingEnd => {
                            *pos += 1;
                            return;
                        }
                        Event::Scalar(key, ..) => {
                            let key = key.clone();
                            *pos += 1;
                            let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                            Self::walk(positions, events, pos, child);
                        }
                        _ => {
                            // A complex key: skip it and its value.
                            Self::walk(positions, events, pos, String::from("\0"));
                            Self::walk(positions, events, pos, String::from("\0"));
                        }
                    }
                }
            }
            Event::SequenceStart(..) => {
                let mut i = 0;
                while let Some((ev, _)) = events.get(*pos) {
                    if matches!(ev, Event::SequenceEnd) {
                        *pos += 1;
                        return;
                    }
                    Self::walk(positions, events, pos, format!("{path}[{i}]"));
                    i += 1;
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct Collector {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
            ev => self.events.push((ev, mark)),
        }
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
}
