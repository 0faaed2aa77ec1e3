//! Mapping Swagger 2.0, OpenAPI 3.0 and OpenAPI 3.1 documents onto one
//! OpenAPI 3.0.3 document.
//!
//! The conversion works on `serde_json::Value`s, because `openapiv3` can
//! only read 3.0: each document is converted into *units* (operations and
//! component schemas) in 3.0 shape, and [`merge`] deserializes each unit into
//! `openapiv3` types and assembles the one document. Working unit by unit
//! means one bad construct costs one operation or schema, never the document.
//!
//! Refs are resolved here, where their kind is known: schemas reached by a
//! ref (and every `definitions`/`components.schemas` entry) are hoisted into
//! `components.schemas` under a readable name ([`registry`]); parameters,
//! responses, request bodies, examples and path items are inlined.
//!
//! While converting, every node written is mapped back to the file and YAML
//! path it came from ([`Provenance`]) so that `check` can name the source of
//! an example that contradicts its schema.

mod context;
mod examples;
mod merge;
mod names;
mod openapi3;
mod registry;
mod schema;
mod servers;
mod swagger2;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diagnostics::{Location, Rule, YamlPath};
use crate::load::Tree;
use crate::{Options, Spec};

pub(crate) use context::{Normalizer, Src};
pub(crate) use schema::KEPT_AS_EXTENSIONS;

/// Where the nodes of the merged document came from.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// JSON pointer in the merged document → source location. Operations,
    /// parameters, request bodies, responses, media types, every schema
    /// object and every example are recorded.
    pub locations: BTreeMap<String, Location>,
    /// Pointers of examples that refer (Matrix-style `$ref` inside the
    /// example value) to files that could not be read: they are published
    /// without the missing part and not checked.
    pub incomplete_examples: BTreeSet<String>,
}

impl Provenance {
    /// The source location of the node at `pointer`: the recorded location
    /// of its nearest recorded ancestor, extended by the remaining segments.
    pub fn locate(&self, pointer: &str) -> Option<Location> {
        let mut prefix = pointer;
        let mut rest: Vec<&str> = Vec::new();
        loop {
            if let Some(location) = self.locations.get(prefix) {
                let mut location = location.clone();
                for segment in rest.iter().rev() {
                    location = location.child(segment.replace("~1", "/").replace("~0", "~"));
                }
                return Some(location);
            }
            let (parent, last) = prefix.rsplit_once('/')?;
            rest.push(last);
            prefix = parent;
        }
    }
}

/// Provenance of one unit (an operation or a schema), keyed by pointer
/// segments relative to the unit's root; rebased when the unit is placed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prov {
    pub locations: Vec<(Vec<String>, Location)>,
    pub incomplete: Vec<Vec<String>>,
}

impl Prov {
    pub fn record(&mut self, at: &[String], location: Location) {
        self.locations.push((at.to_vec(), location));
    }

    /// Adds this unit's entries to the document's table under `base`.
    pub fn place(&self, base: &[String], into: &mut Provenance) {
        let join = |rel: &[String]| {
            let mut full = base.to_vec();
            full.extend_from_slice(rel);
            crate::refs::pointer(&full)
        };
        for (rel, location) in &self.locations {
            into.locations.entry(join(rel)).or_insert_with(|| location.clone());
        }
        for rel in &self.incomplete {
            into.incomplete_examples.insert(join(rel));
        }
    }
}

/// `base` extended by `more` segments.
pub(crate) fn at(base: &[String], more: &[&str]) -> Vec<String> {
    let mut out = base.to_vec();
    out.extend(more.iter().map(|s| (*s).to_owned()));
    out
}

/// One operation in 3.0 shape, before prefixes and merging.
#[derive(Debug, Clone)]
pub(crate) struct OperationUnit {
    /// Lower-case method.
    pub method: String,
    /// The path as the document writes it, without prefix.
    pub path: String,
    /// The prefixes this operation is served under (at least one; `""`
    /// when there is none).
    pub prefixes: Vec<String>,
    pub value: Value,
    pub source: Location,
    pub prov: Prov,
}

/// What one document contributes to the merged document.
#[derive(Debug, Default)]
pub(crate) struct DocumentParts {
    pub operations: Vec<OperationUnit>,
    /// Security schemes in 3.0 shape, with where they were written.
    pub security_schemes: Vec<(String, Value, Location)>,
    /// Top-level tag objects.
    pub tags: Vec<Value>,
}

/// Which format a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

fn format_of(cx: &mut Normalizer<'_>, doc: &Src<'_>) -> Option<Format> {
    let version =
        |key: &str| doc.value.get(key).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    if let Some(version) = version("swagger") {
        if version.starts_with('2') {
            return Some(Format::Swagger2);
        }
        cx.error(
            Rule::UnsupportedVersion,
            doc.location_of("swagger"),
            format!("unsupported Swagger version `{version}`; expected 2.0"),
        );
        return None;
    }
    let version = version("openapi").unwrap_or_default();
    if version.starts_with("3.0") {
        Some(Format::OpenApi30)
    } else if version.starts_with("3.1") {
        Some(Format::OpenApi31)
    } else {
        cx.error(
            Rule::UnsupportedVersion,
            doc.location_of("openapi"),
            format!("unsupported OpenAPI version `{version}`; expected 3.0 or 3.1"),
        );
        None
    }
}

/// Converts and merges every document of the tree.
pub fn normalize(tree: &Tree, options: &Options) -> Spec {
    let mut cx = Normalizer::new(tree, options);
    cx.diagnostics.extend(tree.diagnostics.iter().cloned());
    let mut parts = Vec::new();
    for &id in &tree.documents {
        let Some(value) = tree.files[id].value.as_ref() else {
            continue;
        };
        let doc = Src { file: id, path: YamlPath::root(), value, tree };
        let part = match format_of(&mut cx, &doc) {
            Some(Format::Swagger2) => swagger2::document(&mut cx, &doc),
            Some(format) => openapi3::document(&mut cx, &doc, format),
            None => continue,
        };
        parts.push((id, part));
    }
    merge::merge(cx, parts)
}
