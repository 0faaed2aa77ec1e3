//! OpenAPI 3.0 schemas of the merged document as JSON Schema (draft 7), for
//! the validator.
//!
//! The general translation (`nullable`, boolean exclusive bounds, OpenAPI-only
//! keywords) is shared with code generation in [`crate::json_schema`]. What
//! is specific to checking happens around it:
//! * before: keywords the normalizer kept as `x-<keyword>` (no 3.0
//!   equivalent, e.g. `patternProperties`) are restored;
//! * after: `#/components/schemas/X` refs point into one shared resource
//!   holding every component as a definition, so that every example's
//!   validator resolves them without copying the components.

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value, json};

use crate::normalize::KEPT_AS_EXTENSIONS;

/// Every schema of one document, ready to compile validators against:
/// refs to `#/components/schemas/*` resolve through one shared registry.
pub struct Schemas {
    registry: Registry<'static>,
}

impl Schemas {
    /// Loads the component schemas of an OpenAPI 3.0 document (as JSON).
    pub fn new(document: &Value) -> Result<Self, String> {
        let components = document.pointer("/components/schemas").and_then(Value::as_object);
        let registry = Registry::new()
            .draft(Draft::Draft7)
            .add(COMPONENTS_URI, components_resource(components))
            .and_then(|builder| builder.prepare())
            .map_err(|e| format!("the component schemas cannot be loaded for validation ({e})"))?;
        Ok(Schemas { registry })
    }

    /// A validator for one OpenAPI 3.0 schema of the document. Formats are
    /// not checked: the spec uses them as hints.
    pub fn compile(&self, schema: &Value) -> Result<Validator, String> {
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .with_registry(&self.registry)
            .should_validate_formats(false)
            .build(&convert(schema))
            .map_err(|e| format!("the schema cannot be compiled for validation ({e})"))
    }
}

/// The URI of the resource holding every component schema. `.invalid` can
/// never be fetched; nothing is fetched anyway.
pub(crate) const COMPONENTS_URI: &str = "https://specgen.invalid/components";

/// The shared resource: `{"definitions": {name: schema}}`.
pub(crate) fn components_resource(schemas: Option<&Map<String, Value>>) -> Value {
    let definitions: Map<String, Value> =
        schemas.into_iter().flatten().map(|(name, schema)| (name.clone(), convert(schema))).collect();
    json!({ "definitions": definitions })
}

/// Converts one OpenAPI 3.0 schema (and everything under it).
pub(crate) fn convert(schema: &Value) -> Value {
    let mut converted = crate::json_schema::from_openapi(&restore(schema));
    absolutize_refs(&mut converted);
    converted
}

/// Restores `x-<keyword>`s everywhere under `schema`.
fn restore(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let bare = key.strip_prefix("x-").filter(|k| KEPT_AS_EXTENSIONS.contains(k));
        let name = bare.unwrap_or(key).to_owned();
        let restored = match name.as_str() {
            "properties" | "patternProperties" | "dependentSchemas" => {
                Value::Object(value.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), restore(v))).collect())
            }
            "additionalProperties" | "items" | "not" | "propertyNames" | "contains" | "if" | "then" | "else" => {
                restore(value)
            }
            "allOf" | "anyOf" | "oneOf" => Value::Array(value.as_array().into_iter().flatten().map(restore).collect()),
            _ if key.starts_with("x-") && bare.is_none() => continue,
            _ => value.clone(),
        };
        out.insert(name, restored);
    }
    // `patternProperties` came with a copy in `additionalProperties` (for
    // code generation); for validation, only the patterns apply.
    if let Some(Value::Object(patterns)) = map.get("x-patternProperties") {
        let synthesized = match patterns.len() {
            1 => patterns.values().next().cloned(),
            _ => Some(json!({ "anyOf": patterns.values().cloned().collect::<Vec<_>>() })),
        };
        if synthesized.as_ref() == map.get("additionalProperties") {
            out.remove("additionalProperties");
        }
    }
    Value::Object(out)
}

/// `#/components/schemas/X` → the shared resource's `definitions/X`.
fn absolutize_refs(value: &mut Value) {
    absolutize_refs_under(None, value);
}

fn absolutize_refs_under(parent: Option<&str>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                *reference = format!("{COMPONENTS_URI}#/definitions/{name}");
            }
            for (key, child) in map.iter_mut() {
                if !crate::refs::holds_literal(parent, key) {
                    absolutize_refs_under(Some(key), child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|child| absolutize_refs_under(parent, child)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_refs_bounds_and_kept_keywords() {
        let schema = json!({
            "type": "object",
            "nullable": true,
            "x-patternProperties": {"^@": {"type": "string"}},
            "additionalProperties": {"type": "string"},
            "properties": {
                "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
                "e": {"$ref": "#/components/schemas/Error"},
                "k": {"type": "string", "enum": ["a"], "nullable": true}
            }
        });
        let converted = convert(&schema);
        assert_eq!(converted["type"], json!(["object", "null"]));
        assert_eq!(converted["patternProperties"], json!({"^@": {"type": "string"}}));
        assert!(converted.get("additionalProperties").is_none());
        assert_eq!(converted["properties"]["n"]["exclusiveMinimum"], json!(0));
        assert_eq!(converted["properties"]["e"]["$ref"], json!(format!("{COMPONENTS_URI}#/definitions/Error")));
        assert_eq!(converted["properties"]["k"]["enum"], json!(["a", null]));
    }
}
