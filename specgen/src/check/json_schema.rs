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

use serde_json::{Map, Value, json};

use crate::normalize::KEPT_AS_EXTENSIONS;

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
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                *reference = format!("{COMPONENTS_URI}#/definitions/{name}");
            }
            for (key, child) in map.iter_mut() {
                if key != "examples" && key != "enum" && key != "default" && key != "const" {
                    absolutize_refs(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(absolutize_refs),
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
