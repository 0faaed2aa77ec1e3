//! OpenAPI 3.0 schemas as JSON Schema.
//!
//! An OpenAPI 3.0 schema is *almost* JSON Schema (draft 4/7): `nullable`
//! stands in for a `"null"` type, `exclusiveMinimum` is a boolean beside
//! `minimum`, and `example` is not a keyword. Both the example checker and
//! the type generator (typify, through schemars) want real JSON Schema, so
//! the translation lives here, once.

use serde_json::{Map, Value};

/// Translates one OpenAPI 3.0 schema (as JSON, refs left in place) into
/// JSON Schema. Refs keep their targets (`#/components/schemas/X`); the
/// caller decides how to resolve them.
pub fn from_openapi(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(translate_object(object)),
        other => other.clone(),
    }
}

fn translate_object(object: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let translated = match key.as_str() {
            // Keywords whose value is one schema.
            "items" | "additionalProperties" | "not" => from_openapi(value),
            // Keywords whose value is a list of schemas.
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(items) => Value::Array(items.iter().map(from_openapi).collect()),
                other => other.clone(),
            },
            // Keywords whose value maps names to schemas.
            "properties" | "patternProperties" => match value {
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(name, schema)| (name.clone(), from_openapi(schema))).collect())
                }
                other => other.clone(),
            },
            // OpenAPI-only keywords with no JSON Schema meaning.
            "nullable" | "example" | "discriminator" | "xml" | "externalDocs" => continue,
            // Booleans in 3.0, numbers in JSON Schema: handled below.
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }

    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if object.get(flag) == Some(&Value::Bool(true))
            && let Some(limit) = out.remove(bound)
        {
            out.insert(flag.to_owned(), limit);
        }
    }

    if object.get("nullable") == Some(&Value::Bool(true)) {
        allow_null(&mut out);
    }
    if let Some(example) = object.get("example") {
        out.entry("examples").or_insert_with(|| Value::Array(vec![example.clone()]));
    }
    out
}

/// `nullable: true` adds `"null"` to the allowed types (and to an `enum`,
/// which 3.0 lets hold null when nullable); a schema without a `type` (a
/// `$ref` or a composition) becomes "that, or null".
fn allow_null(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match schema.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            schema.insert("type".into(), Value::Array(vec![single.into(), "null".into()]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push("null".into());
            }
        }
        _ => {
            let inner = std::mem::take(schema);
            schema
                .insert("anyOf".into(), Value::Array(vec![Value::Object(inner), serde_json::json!({"type": "null"})]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_a_null_type() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string", "nullable": true}}});
        assert_eq!(
            from_openapi(&schema),
            json!({"type": "object", "properties": {"name": {"type": ["string", "null"]}}})
        );
    }

    #[test]
    fn nullable_enum_allows_null() {
        let schema = json!({"type": "string", "enum": ["a"], "nullable": true});
        assert_eq!(from_openapi(&schema), json!({"type": ["string", "null"], "enum": ["a", null]}));
    }

    #[test]
    fn nullable_ref_becomes_any_of() {
        let schema = json!({"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": true});
        assert_eq!(
            from_openapi(&schema),
            json!({"anyOf": [{"allOf": [{"$ref": "#/components/schemas/A"}]}, {"type": "null"}]})
        );
    }

    #[test]
    fn boolean_exclusive_bounds_become_numbers() {
        let schema = json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 9});
        assert_eq!(from_openapi(&schema), json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9}));
    }

    #[test]
    fn example_is_kept_as_examples() {
        let schema = json!({"type": "string", "example": "abc"});
        assert_eq!(from_openapi(&schema), json!({"type": "string", "examples": ["abc"]}));
    }
}
