//! Where each node of a YAML (or JSON) file is written: JSON pointer → line
//! and column, so that every diagnostic can say `file:line:column`.
//!
//! Values are still read by `serde_norway` (see [`crate::load`]): it has
//! merge keys, YAML 1.1 scalars (`200:` is a number key) and the behaviour
//! every existing tree was written against. But it keeps no positions: only
//! its errors carry a location, its `Value` has no spans, and its event
//! parser (`unsafe-libyaml`) is private to it. So this side index comes from
//! a second, small, safe parser with markers on every event
//! (`saphyr-parser`; `yaml-rust2` has the same events but pulls in
//! `encoding_rs`, a much larger build dependency of every server build).
//! The index is only ever a hint: a node it lacks (a key brought in by a
//! merge key, a file the two parsers read differently) is located at its
//! nearest indexed ancestor, never mislocated elsewhere.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

use crate::refs::escape;

/// A line and a column, both counted from 1 (as editors and compilers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    fn at(span: &Span) -> Self {
        Position { line: span.start.line(), column: span.start.col() + 1 }
    }
}

/// JSON pointer (RFC 6901, as [`crate::refs::pointer`] writes it) → where the
/// node is written: for a mapping entry its key, for a sequence item the item.
#[derive(Debug, Clone, Default)]
pub struct Positions(HashMap<String, Position>);

impl Positions {
    /// Indexes the first document of `text`. A syntax error ends the index
    /// where it occurs (the loader reports the error itself).
    pub fn index(text: &str) -> Self {
        let mut indexer = Indexer::default();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            if !indexer.event(event, &span) {
                break;
            }
        }
        Positions(indexer.positions)
    }

    /// The position of the node at `pointer`, or of its nearest indexed
    /// ancestor (the document itself is at 1:1).
    pub fn find(&self, pointer: &str) -> Position {
        let mut prefix = pointer;
        loop {
            if let Some(position) = self.0.get(prefix) {
                return *position;
            }
            match prefix.rsplit_once('/') {
                Some((parent, _)) => prefix = parent,
                None => return Position { line: 1, column: 1 },
            }
        }
    }
}

/// One open collection while walking the events.
enum Frame {
    /// A mapping at `pointer`; `key` is the key whose value comes next, with
    /// where the key is written.
    Mapping {
        pointer: String,
        key: Option<(String, Position)>,
    },
    Sequence {
        pointer: String,
        next: usize,
    },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
    started: bool,
}

impl Indexer {
    /// Handles one event; `false` once the first document is done.
    fn event(&mut self, event: Event<'_>, span: &Span) -> bool {
        match event {
            Event::DocumentStart(_) if self.started => return false,
            Event::DocumentStart(_) => self.started = true,
            Event::Scalar(text, ..) => {
                if let Some(Frame::Mapping { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some((text.into_owned(), Position::at(span)));
                } else {
                    self.node(span);
                }
            }
            Event::Alias(_) => {
                self.node(span);
            }
            Event::MappingStart(..) => {
                let pointer = self.node(span);
                self.stack.push(Frame::Mapping { pointer, key: None });
            }
            Event::SequenceStart(..) => {
                let pointer = self.node(span);
                self.stack.push(Frame::Sequence { pointer, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
        true
    }

    /// Records a node (a value, never a key) and returns its pointer. A
    /// mapping used as a key (legal YAML, never in an API description) is
    /// indexed under a key no pointer can name.
    fn node(&mut self, span: &Span) -> String {
        let (pointer, position) = match self.stack.last_mut() {
            None => (String::new(), Position { line: 1, column: 1 }),
            Some(Frame::Sequence { pointer, next }) => {
                *next += 1;
                (format!("{pointer}/{}", *next - 1), Position::at(span))
            }
            Some(Frame::Mapping { pointer, key }) => match key.take() {
                Some((key, position)) => (format!("{pointer}/{}", escape(&key)), position),
                None => {
                    *key = Some(("\u{0}complex key".to_owned(), Position::at(span)));
                    (format!("{pointer}/\u{0}"), Position::at(span))
                }
            },
        };
        self.positions.entry(pointer.clone()).or_insert(position);
        pointer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_items_and_escapes() {
        let yaml = "paths:\n  /login:\n    post:\n      parameters:\n        - name: a\n        - {name: b}\n";
        let positions = Positions::index(yaml);
        let at = |pointer: &str| {
            let p = positions.find(pointer);
            (p.line, p.column)
        };
        assert_eq!(at(""), (1, 1));
        assert_eq!(at("/paths"), (1, 1));
        assert_eq!(at("/paths/~1login"), (2, 3));
        assert_eq!(at("/paths/~1login/post/parameters/0"), (5, 11));
        assert_eq!(at("/paths/~1login/post/parameters/0/name"), (5, 11));
        assert_eq!(at("/paths/~1login/post/parameters/1/name"), (6, 12));
        // Absent nodes are located at their nearest ancestor.
        assert_eq!(at("/paths/~1login/post/operationId"), (3, 5));
    }

    #[test]
    fn json_and_broken_yaml() {
        let positions = Positions::index("{\n  \"a\": [1,\n    {\"b\": 2}]\n}\n");
        assert_eq!(positions.find("/a/1/b"), Position { line: 3, column: 6 });
        let positions = Positions::index("a:\n  b: 1\nc: [\n");
        assert_eq!(positions.find("/a/b"), Position { line: 2, column: 3 });
    }
}
