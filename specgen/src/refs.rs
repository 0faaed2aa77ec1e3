//! Resolving relative `$ref`s: `definitions/error.yaml`,
//! `../../event-schemas/schema/core-event-schema/event.yaml`,
//! `file.yaml#/components/schemas/X`, `#/definitions/X`.
//!
//! A ref names a file relative to the file that contains it, and optionally
//! a JSON pointer inside it. Remote refs (`https://...`) are not followed:
//! a build must not depend on the network.
//!
//! One fallback exists for trees that used symbolic links: the Matrix 2015
//! tree had `core-event-schema/core-event-schema -> .`, so a file inside
//! `core-event-schema/` wrote `core-event-schema/room_event.json` to mean its
//! sibling. When the ref does not exist as written but starts with the name of
//! the folder it is written in, the sibling is used and a warning says so.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diagnostics::{Location, Segment, YamlPath};
use crate::load::{FileId, Tree};

/// What a `$ref` points at: a file and a JSON pointer inside it (`""` for
/// the whole file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub file: FileId,
    pub pointer: String,
}

/// A resolved `$ref`.
#[derive(Debug, Clone)]
pub struct Resolved<'t> {
    pub target: Target,
    pub value: &'t Value,
    /// The YAML path of the target inside its file.
    pub path: YamlPath,
    /// Set when the ref only resolved through the symbolic-link fallback.
    pub note: Option<String>,
}

/// Splits a ref into its file part (empty for a local ref) and fragment.
fn split(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    }
}

/// Decodes `%XX` escapes (refs are URI references).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_remote(file: &str) -> bool {
    file.contains("://")
}

/// The candidate paths for the file part of a ref written in `dir`: as
/// written, then the symbolic-link fallback.
fn candidates(dir: &Path, file: &str) -> Vec<(PathBuf, bool)> {
    let file = percent_decode(file);
    let mut out = vec![(dir.join(&file), false)];
    let own_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if let (Some(own), Some((first, rest))) = (own_name, file.split_once('/'))
        && own == first
    {
        out.push((dir.join(rest), true));
    }
    out
}

/// The existing file a ref names, if any (used by the loader to read ref
/// targets ahead of normalization).
pub(crate) fn existing_target_file(dir: &Path, reference: &str) -> Option<PathBuf> {
    let (file, _) = split(reference);
    if file.is_empty() || is_remote(file) {
        return None;
    }
    let found = candidates(dir, file).into_iter().map(|(p, _)| p).find(|p| p.is_file());
    // A file name containing `#` (the 2015 tree has `m.room.message#m.text`).
    found.or_else(|| Some(dir.join(percent_decode(reference))).filter(|p| p.is_file()))
}

impl Tree {
    /// Resolves `reference`, written in file `from`, to a value. The error is
    /// a sentence for a diagnostic.
    pub fn resolve(&self, from: FileId, reference: &str) -> Result<Resolved<'_>, String> {
        let source = &self.files[from];
        let dir = source.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let (file_part, fragment) = split(reference);
        if is_remote(file_part) {
            return Err(format!("`{reference}` is a remote reference; only relative file references are supported"));
        }
        let (file, fragment, note) = if file_part.is_empty() {
            (from, fragment, None)
        } else {
            let mut hit = None;
            for (path, fallback) in candidates(&dir, file_part) {
                if let Some(id) = self.file_id(&path) {
                    let note = fallback.then(|| {
                        format!(
                            "`{reference}` does not exist relative to this file; using `{}` (the tree seems to rely on a symbolic link that is missing)",
                            self.files[id].display.display()
                        )
                    });
                    hit = Some((id, fragment, note));
                    break;
                }
            }
            // A file name containing `#` (the 2015 tree has `m.room.message#m.text`).
            if hit.is_none()
                && let Some(id) = self.file_id(&dir.join(percent_decode(reference)))
            {
                hit = Some((id, "", None));
            }
            match hit {
                Some(hit) => hit,
                None => {
                    let shown = self.display(&crate::load::clean(&dir.join(file_part)));
                    return Err(format!("cannot resolve `{reference}`: file {} not found", shown.display()));
                }
            }
        };
        let target_file = &self.files[file];
        let Some(document) = &target_file.value else {
            return Err(format!("cannot resolve `{reference}`: {} could not be parsed", target_file.display.display()));
        };
        let pointer = percent_decode(fragment);
        let (value, path) = follow_pointer(document, &pointer).ok_or_else(|| {
            format!("cannot resolve `{reference}`: {} has nothing at `#{pointer}`", target_file.display.display())
        })?;
        Ok(Resolved { target: Target { file, pointer }, value, path, note })
    }

    /// The location of a resolved target, for diagnostics.
    pub fn location(&self, file: FileId, path: YamlPath) -> Location {
        Location::new(self.files[file].display.clone(), path)
    }
}

/// Follows a JSON pointer, returning the value and its YAML path (with
/// array indexes as `[i]`).
pub fn follow_pointer<'v>(document: &'v Value, pointer: &str) -> Option<(&'v Value, YamlPath)> {
    let mut value = document;
    let mut path = YamlPath::root();
    for raw in pointer.split('/').filter(|s| !s.is_empty()) {
        let key = raw.replace("~1", "/").replace("~0", "~");
        match value {
            Value::Object(map) => {
                value = map.get(&key)?;
                path.0.push(Segment::Key(key));
            }
            Value::Array(items) => {
                let index: usize = key.parse().ok()?;
                value = items.get(index)?;
                path.0.push(Segment::Index(index));
            }
            _ => return None,
        }
    }
    Some((value, path))
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Builds a JSON pointer from segments.
pub fn pointer<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(&escape(segment.as_ref()));
    }
    out
}

/// Whether the value under `key` is literal data (an example, a default, an
/// enum's values), whose objects are never schemas and whose `$ref` keys
/// are never references. `parent` is the key of the object `key` sits in:
/// inside a map of names (`properties`, `definitions`, …) a key is a name,
/// so a property called `default` still holds a schema.
pub(crate) fn holds_literal(parent: Option<&str>, key: &str) -> bool {
    const NAME_MAPS: [&str; 6] =
        ["properties", "patternProperties", "definitions", "$defs", "schemas", "dependentSchemas"];
    const LITERALS: [&str; 6] = ["example", "examples", "default", "enum", "const", "x-example"];
    !parent.is_some_and(|parent| NAME_MAPS.contains(&parent)) && LITERALS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_named_like_a_keyword_is_still_a_schema() {
        assert!(holds_literal(None, "default"));
        assert!(holds_literal(Some("items"), "example"));
        assert!(!holds_literal(Some("properties"), "default"));
        assert!(!holds_literal(Some("properties"), "enum"));
        assert!(!holds_literal(None, "items"));
    }
    use serde_json::json;

    #[test]
    fn pointers_escape_and_follow() {
        let doc = json!({"paths": {"/login": {"post": {"parameters": [{"name": "a"}]}}}});
        let (value, path) = follow_pointer(&doc, "/paths/~1login/post/parameters/0").unwrap();
        assert_eq!(value["name"], "a");
        assert_eq!(path.to_string(), "/paths/~1login/post/parameters/0");
        assert_eq!(pointer(&["paths", "/login"]), "/paths/~1login");
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("m.room.message$m.text.yaml"), "m.room.message$m.text.yaml");
    }
}
