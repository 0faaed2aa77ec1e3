//! Example values as spec editors really write them.
//!
//! * The 2015 Matrix spec writes examples as strings holding JSON
//!   (`example: |- {"type": "m.login.password"}`): such a string becomes the
//!   parsed value unless its schema asks for a string.
//! * Matrix examples embed other example files with `$ref` inside the value
//!   (`{"room_id": "!a:b", "$ref": "../../event-schemas/examples/m.room.member.yaml"}`).
//!   OpenAPI treats example values as literal data; the Matrix tooling merges
//!   the referenced file under the sibling keys, and so do we. When the file
//!   cannot be read (the corpus does not ship `event-schemas/examples`), the
//!   example is published without it, marked incomplete so that `check` does
//!   not report a contradiction that is only a missing file, and a warning
//!   says so.

use crate::diagnostics::Rule;
use serde_json::Value;

use super::{Normalizer, Src};
use crate::load::{FileId, parse_yaml};

/// How deep example `$ref`s may nest.
const MAX_DEPTH: usize = 16;

/// A converted example.
pub(crate) struct Example {
    pub value: Value,
    /// False when a `$ref` inside it could not be read.
    pub complete: bool,
}

/// Reads the example at `src`. `wants_string` says whether its schema is a
/// string (`None`: unknown or no schema).
pub(crate) fn example(cx: &mut Normalizer<'_>, src: &Src<'_>, wants_string: Option<bool>) -> Example {
    let mut value = src.value.clone();
    if let Value::String(text) = src.value
        && wants_string != Some(true)
        && let Some(decoded) = decode_json_string(cx, src, text)
    {
        value = decoded;
    }
    let mut complete = true;
    let mut problems = Vec::new();
    resolve_refs(cx, &mut value, src.file, "", 0, &mut complete, &mut problems);
    for problem in problems {
        cx.warning(Rule::UnresolvedRef, src.location(), problem);
    }
    Example { value, complete }
}

/// Parses a string that looks like a JSON object or array.
fn decode_json_string(cx: &mut Normalizer<'_>, src: &Src<'_>, text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Some(value),
        Err(json_error) => match parse_yaml(text) {
            // YAML flow syntax accepts what JSON does not (trailing commas
            // aside, unquoted keys): take it when it yields a structure.
            Ok(value @ (Value::Object(_) | Value::Array(_))) => Some(value),
            _ => {
                cx.warning(Rule::ExampleNotJson,
                    src.location(),
                    format!("example is a string that looks like JSON but does not parse ({json_error}); it is kept as a string"),
                );
                None
            }
        },
    }
}

/// Merges Matrix-style `$ref`s inside an example value.
fn resolve_refs(
    cx: &Normalizer<'_>,
    value: &mut Value,
    file: FileId,
    at: &str,
    depth: usize,
    complete: &mut bool,
    problems: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key != "$ref" {
                    let at = format!("{at}/{}", crate::refs::escape(key));
                    resolve_refs(cx, child, file, &at, depth, complete, problems);
                }
            }
            let Some(Value::String(reference)) = map.get("$ref").cloned() else {
                return;
            };
            map.shift_remove("$ref");
            let shown = if at.is_empty() { String::new() } else { format!(" at `{at}`") };
            if depth >= MAX_DEPTH {
                problems.push(format!("example `$ref` `{reference}`{shown} nests too deep (a cycle?); not followed"));
                *complete = false;
                return;
            }
            match cx.tree.resolve(file, &reference) {
                Ok(resolved) => {
                    let mut embedded = resolved.value.clone();
                    resolve_refs(cx, &mut embedded, resolved.target.file, at, depth + 1, complete, problems);
                    match embedded {
                        Value::Object(mut merged) => {
                            for (key, child) in std::mem::take(map) {
                                merged.insert(key, child);
                            }
                            *map = merged;
                        }
                        other if map.is_empty() => *value = other,
                        _ => {
                            problems.push(format!(
                                "example `$ref` `{reference}`{shown} is not an object and has sibling keys; not merged"
                            ));
                            *complete = false;
                        }
                    }
                }
                Err(message) => {
                    problems.push(format!(
                        "example `$ref`{shown}: {message}; the example is published without that part and not checked"
                    ));
                    *complete = false;
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                resolve_refs(cx, child, file, &format!("{at}/{i}"), depth, complete, problems);
            }
        }
        _ => {}
    }
}

/// Whether the schema at `schema` describes a string (following refs
/// silently; a broken ref is reported where the schema is converted).
pub(crate) fn schema_wants_string(cx: &Normalizer<'_>, schema: Option<&Src<'_>>) -> Option<bool> {
    let schema = schema?;
    let mut file = schema.file;
    let mut value = schema.value;
    for _ in 0..8 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let resolved = cx.tree.resolve(file, reference).ok()?;
        file = resolved.target.file;
        value = resolved.value;
    }
    match value.get("type") {
        Some(Value::String(t)) => Some(t == "string"),
        Some(Value::Array(types)) => Some(types.iter().all(|t| t == "string" || t == "null")),
        _ if value.get("properties").is_some() || value.get("items").is_some() => Some(false),
        _ => None,
    }
}
