//! The state shared by every conversion step: the tree, the diagnostics, the
//! registry of hoisted schemas; and [`Src`], a value together with where it
//! was read.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::registry::Registry;
use crate::Options;
use crate::diagnostics::{Diagnostic, Location, Rule, YamlPath};
use crate::load::{FileId, Tree};
use crate::refs::Target;

/// How many `$ref`s in a row are followed before giving up (a chain this
/// long is a cycle in practice).
const MAX_REF_CHAIN: usize = 64;

/// A source value and its location (file and YAML path).
#[derive(Debug, Clone)]
pub(crate) struct Src<'a> {
    pub tree: &'a Tree,
    pub file: FileId,
    pub path: YamlPath,
    pub value: &'a Value,
}

impl<'a> Src<'a> {
    pub fn location(&self) -> Location {
        self.tree.location(self.file, self.path.clone())
    }

    pub fn location_of(&self, key: &str) -> Location {
        self.location().child(key)
    }

    pub fn get(&self, key: &str) -> Option<Src<'a>> {
        let value = self.value.get(key)?;
        Some(Src { tree: self.tree, file: self.file, path: self.path.child(key), value })
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// The entries of an object, in document order (nothing for non-objects).
    pub fn entries(&self) -> Vec<(&'a str, Src<'a>)> {
        match self.value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (k.as_str(), Src { tree: self.tree, file: self.file, path: self.path.child(k.as_str()), value: v })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The items of an array (nothing for non-arrays).
    pub fn items(&self) -> Vec<Src<'a>> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Src { tree: self.tree, file: self.file, path: self.path.child(i), value: v })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The same location, another value (for synthetic objects built from
    /// the source, e.g. a 2.0 parameter's type fields).
    pub fn with_value<'b>(&self, value: &'b Value) -> Src<'b>
    where
        'a: 'b,
    {
        Src { tree: self.tree, file: self.file, path: self.path.clone(), value }
    }

    pub fn ref_string(&self) -> Option<&'a str> {
        self.value.get("$ref").and_then(Value::as_str)
    }
}

/// The normalizer's state.
pub(crate) struct Normalizer<'t> {
    pub tree: &'t Tree,
    pub options: &'t Options,
    pub diagnostics: Vec<Diagnostic>,
    pub registry: Registry,
}

impl<'t> Normalizer<'t> {
    pub fn new(tree: &'t Tree, options: &'t Options) -> Self {
        Normalizer { tree, options, diagnostics: Vec::new(), registry: Registry::default() }
    }

    pub fn error(&mut self, rule: Rule, location: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(rule, location, message));
    }

    pub fn warning(&mut self, rule: Rule, location: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(rule, location, message));
    }

    /// Applies the configured placeholders (`%CLIENT_MAJOR_VERSION%`).
    pub fn substitute(&self, text: &str) -> String {
        self.options.placeholders.iter().fold(text.to_owned(), |acc, (key, value)| acc.replace(key, value))
    }

    /// Resolves one `$ref` found in `src`, reporting a broken one as an
    /// error at the `$ref` key.
    pub fn resolve_ref(&mut self, src: &Src<'_>, reference: &str) -> Option<(Target, Src<'t>)> {
        match self.tree.resolve(src.file, reference) {
            Ok(resolved) => {
                if let Some(note) = resolved.note {
                    self.warning(Rule::RefThroughSymlink, src.location_of("$ref"), note);
                }
                let target =
                    Src { tree: self.tree, file: resolved.target.file, path: resolved.path, value: resolved.value };
                Some((resolved.target, target))
            }
            Err(message) => {
                self.error(Rule::UnresolvedRef, src.location_of("$ref"), message);
                None
            }
        }
    }

    /// Follows `$ref`s where OpenAPI wants the object itself (parameters,
    /// responses, request bodies, examples, headers, path items, security
    /// schemes, even where the standard allows no ref). Returns the target
    /// and the sibling keys written next to the ref (OpenAPI 3.1 lets a
    /// reference override `summary` and `description`), which the caller
    /// lays over its converted object. `None` after reporting a broken ref.
    pub fn deref<'a>(&mut self, src: Src<'a>) -> Option<(Src<'a>, Map<String, Value>)>
    where
        't: 'a,
    {
        let start = src.location_of("$ref");
        let mut current = src;
        let mut siblings = Map::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_REF_CHAIN {
            let Some(reference) = current.ref_string() else {
                return Some((current, siblings));
            };
            if let Value::Object(map) = current.value {
                for (key, value) in map {
                    if key != "$ref" && !siblings.contains_key(key) {
                        siblings.insert(key.clone(), value.clone());
                    }
                }
            }
            let (target, next) = self.resolve_ref(&current, reference)?;
            if !seen.insert(target) {
                self.error(
                    Rule::RefCycle,
                    current.location_of("$ref"),
                    format!("`{reference}` is part of a reference cycle"),
                );
                return None;
            }
            current = next;
        }
        self.error(Rule::RefCycle, start, "too many `$ref`s in a row");
        None
    }
}

/// Lays `siblings` (from [`Normalizer::deref`]) over a converted object.
pub(crate) fn overlay(value: &mut Value, siblings: Map<String, Value>, allowed: &[&str]) {
    if let Value::Object(map) = value {
        for (key, sibling) in siblings {
            if allowed.contains(&key.as_str()) {
                map.insert(key, sibling);
            }
        }
    }
}
